"""Training data from the feedback tables: per question, a label for each document people judged.

Strong labels come only from source marks and reviewers' approved decisions; thumbs are weak
and apply to the sources the answer cited; a correction's named sources are weak until a
reviewer approves them. Each account has one vote per (question, document): its strongest,
latest one. So 500 identical thumbs-down from one account weigh what one does.

Each vote keeps its account (``Judged.votes``), so ``feedback.influence`` can weigh reviewers and
agreement strongly and a lone account weakly; accounts excluded from learning give no votes.
Opening a source is kept apart (``Judged.opened``): a weak hint, not a judgement.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import select

from feedback import counting
from feedback.db import Database
from feedback.accounts import excluded_from_learning
from feedback.models import Answer, Citation, Feedback, User

STRONG, WEAK = 1.0, 0.3
OPENED = 0.3
"""An opened source's hint at rank 1; lower ranks weigh more (``opened_weight``): fewer people look there."""


@dataclass
class Judged:
    """A question and what people said about documents for it."""

    question: str
    at: datetime
    """When the latest judgement on it was given: the held-out slice is the most recent."""
    labels: dict[str, float] = field(default_factory=dict)
    """Per document: > 0 relevant, < 0 not; the size says how sure."""
    votes: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per document, per account: that account's one vote (its sum is ``labels``)."""
    opened: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per document, per account: the position-aware weight of that account opening it."""
    reviewers: set[str] = field(default_factory=set)
    """The accounts among the voters that are reviewers or admins."""

    @property
    def positives(self) -> list[str]:
        return sorted(doc for doc, label in self.labels.items() if label > 0)

    @property
    def negatives(self) -> list[str]:
        return sorted(doc for doc, label in self.labels.items() if label < 0)


def question_key(question: str) -> str:
    """Questions that differ only in case, spacing or final punctuation are one question."""
    return re.sub(r"\s+", " ", question).strip().lower().rstrip("?.! ")


def opened_weight(rank: int) -> float:
    """An open at ``rank`` as a hint: people look at [1] nearly always and at [5] far less, so an
    open down the list says more (inverse propensity of a position-based examination model)."""
    return OPENED * min(max(rank, 1), 10) ** 0.5


def judged_questions(db: Database, *, everyone: bool = False) -> list[Judged]:
    """Every question with at least one judged document, oldest judgement first; accounts excluded
    from learning give no votes unless ``everyone`` (to show what they said)."""
    excluded = set() if everyone else excluded_from_learning(db)
    with db.read() as session:
        reviewers = set(session.exec(select(User.id).where(User.role.in_(("reviewer", "admin")))).all())
        rows = session.exec(select(Feedback, Answer).join(Answer, Feedback.answer_id == Answer.id)).all()
        approved = counting.approved_reviews(session)  # the newest decision only: a rejection withdraws
        reviews = [(approved[answer.id], answer)
                   for answer in session.exec(select(Answer).where(Answer.id.in_(list(approved))))]
        cited = _cited_docs(session, {answer.id for feedback, answer in rows if feedback.kind == "thumb"})
        ranks = _open_ranks(session, [feedback for feedback, _ in rows if feedback.kind == "source_open"])
    rows = [(feedback, answer) for feedback, answer in rows if feedback.user_id not in excluded]
    reviews = [(review, answer) for review, answer in reviews if review.reviewer_id not in excluded]
    signals = [
        (answer.standalone_question, feedback.user_id, feedback.updated_at, _votes(feedback, cited.get(answer.id, [])))
        for feedback, answer in rows if feedback.kind != "source_open"
    ] + [
        (answer.standalone_question, review.reviewer_id, review.created_at, [(d, STRONG) for d in review.doc_ids])
        for review, answer in reviews
    ]
    votes: dict[tuple[str, str, str], tuple[float, datetime]] = {}
    texts: dict[str, str] = {}
    for question, user_id, at, given in sorted(signals, key=lambda signal: signal[2]):
        key = question_key(question)
        texts.setdefault(key, question)
        for doc_id, vote in given:
            previous = votes.get((key, doc_id, user_id))
            if previous is None or abs(vote) >= abs(previous[0]):  # strongest wins; among equals, latest
                votes[(key, doc_id, user_id)] = (vote, at)
    judged: dict[str, Judged] = {}
    for (key, doc_id, user), (vote, at) in votes.items():
        item = judged.setdefault(key, Judged(texts[key], at))
        item.votes.setdefault(doc_id, {})[user] = vote
        item.reviewers |= {user} & reviewers
        item.at = max(item.at, at)
    for item in judged.values():
        for doc_id, given in item.votes.items():
            reviewed = [vote for user, vote in given.items() if user in item.reviewers]
            item.labels[doc_id] = sum(reviewed) if reviewed else sum(given.values())  # a reviewer's word decides
    for feedback, answer in rows:
        if feedback.kind != "source_open" or not feedback.doc_ids:
            continue
        key = question_key(answer.standalone_question)
        item = judged.setdefault(key, Judged(texts.setdefault(key, answer.standalone_question), feedback.updated_at))
        item.at = max(item.at, feedback.updated_at)
        weight = opened_weight(ranks.get(feedback.citation_id, 1))
        opened = item.opened.setdefault(feedback.doc_ids[0], {})
        opened[feedback.user_id] = max(opened.get(feedback.user_id, 0.0), weight)
    return sorted((j for j in judged.values() if j.votes or j.opened), key=lambda j: j.at)


def _votes(feedback: Feedback, cited: list[str]) -> list[tuple[str, float]]:
    if feedback.kind == "source_mark":
        return [(doc_id, STRONG if feedback.value else -STRONG) for doc_id in feedback.doc_ids]
    if feedback.kind == "thumb":
        return [(doc_id, WEAK if feedback.value > 0 else -WEAK) for doc_id in cited]
    if feedback.kind == "correction":
        return [(doc_id, WEAK) for doc_id in feedback.doc_ids]
    return []


def _cited_docs(session, answer_ids: set[str]) -> dict[str, list[str]]:
    cited: dict[str, list[str]] = {}
    if answer_ids:
        query = select(Citation).where(Citation.answer_id.in_(answer_ids), Citation.cited)
        for citation in session.exec(query):
            cited.setdefault(citation.answer_id, []).append(citation.doc_id)
    return cited


def _open_ranks(session, opens: list[Feedback]) -> dict[str, int]:
    ids = {feedback.citation_id for feedback in opens if feedback.citation_id}
    if not ids:
        return {}
    return {c.id: c.rank for c in session.exec(select(Citation).where(Citation.id.in_(ids)))}
