"""Training data from the feedback tables: per question, a label for each document people judged.

Strong labels come only from source marks and reviewers' approved decisions; thumbs are weak
and apply to the sources the answer cited; a correction's named sources are weak until a
reviewer approves them. Each account has one vote per (question, document): its strongest,
latest one. So 500 identical thumbs-down from one account weigh what one does.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import select

from feedback import counting
from feedback.db import Database
from feedback.models import Answer, Citation, Feedback

STRONG, WEAK = 1.0, 0.3


@dataclass
class Judged:
    """A question and what people said about documents for it."""

    question: str
    at: datetime
    """When the latest judgement on it was given: the held-out slice is the most recent."""
    labels: dict[str, float] = field(default_factory=dict)
    """Per document: > 0 relevant, < 0 not; the size says how sure."""

    @property
    def positives(self) -> list[str]:
        return sorted(doc for doc, label in self.labels.items() if label > 0)

    @property
    def negatives(self) -> list[str]:
        return sorted(doc for doc, label in self.labels.items() if label < 0)


def question_key(question: str) -> str:
    """Questions that differ only in case, spacing or final punctuation are one question."""
    return re.sub(r"\s+", " ", question).strip().lower().rstrip("?.! ")


def judged_questions(db: Database) -> list[Judged]:
    """Every question with at least one judged document, oldest judgement first."""
    with db.read() as session:
        rows = session.exec(select(Feedback, Answer).join(Answer, Feedback.answer_id == Answer.id)).all()
        approved = counting.approved_reviews(session)  # the newest decision only: a rejection withdraws
        reviews = [(approved[answer.id], answer)
                   for answer in session.exec(select(Answer).where(Answer.id.in_(list(approved))))]
        cited = _cited_docs(session, {answer.id for feedback, answer in rows if feedback.kind == "thumb"})
    signals = [
        (answer.standalone_question, feedback.user_id, feedback.updated_at, _votes(feedback, cited.get(answer.id, [])))
        for feedback, answer in rows
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
    for (key, doc_id, _user), (vote, at) in votes.items():
        item = judged.setdefault(key, Judged(texts[key], at))
        item.labels[doc_id] = item.labels.get(doc_id, 0.0) + vote
        item.at = max(item.at, at)
    return sorted((j for j in judged.values() if any(j.labels.values())), key=lambda j: j.at)


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
