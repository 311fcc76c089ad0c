"""Simulated people and a reviewer, judging answers by a benchmark's relevance judgements.

The loop goes through the product's own code: the chain answers (handed in as a function),
and every answer, mark, thumb, open and review is written by the feedback writers, as people's are.

Like a team, not like one tireless tester: the questions are spread over many accounts; only a
share of answers is rated (``rate``), some marks and thumbs are wrong (``noise``); sources are
opened following a position-based click model (people look at [1] far more often than at [5],
and open what looks relevant more often than what does not); once a round of the team has asked,
a reviewer works through the review queue (``feedback.review_queue``: flagged, rated down, or
weakly matched) and attaches the right sources to each answer in it. An attacker (``attack``)
does what one account did to a real deployment: appends a phrase that surfaces an unrelated
document to many claims, marks that document relevant and the right ones not, rates down and names it in a
correction; and on a few claims asked word for word marks a shown irrelevant source relevant.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from feedback import accounts, answer_log, opinions, review_queue, reviews
from feedback.db import Database
from feedback.names import UNSURE_SHARE
from feedback.results import AnswerResult

USER, REVIEWER, ATTACKER = "simulated-user", "simulated-reviewer", "simulated-attacker"
EXAMINED = (0.95, 0.7, 0.5, 0.35, 0.25)
"""The chance a person looks at the source shown as [1], [2], … (0.2 further down)."""
ATTRACTED = {True: 0.8, False: 0.1}
"""The chance a person who looks at a source opens it, when it is relevant and when it is not."""


@dataclass
class Tally:
    questions: int = 0
    marks: int = 0
    thumbs_up: int = 0
    reviews: int = 0
    opens: int = 0
    rated: int = 0


@dataclass
class Behaviour:
    """How the simulated people behave."""

    accounts: int = 1
    rate: float = 1.0
    """The share of answers rated (thumb and marks on cited sources)."""
    noise: float = 0.0
    """The share of marks and thumbs that say the opposite of the judgements."""
    opens: bool = False
    unsure_share: float = UNSURE_SHARE
    """The review queue's share of least-matched answers (``GROUNDLOOP_REVIEW_UNSURE_SHARE``)."""
    seed: int = 0


@dataclass
class Attack:
    """What the attacker did, and where its documents went."""

    document: str
    targeted: list[str] = field(default_factory=list)
    """Claims asked with the phrase appended."""
    planted: dict[str, str] = field(default_factory=dict)
    """Claims asked word for word, and the irrelevant document marked relevant on each."""
    feedback: int = 0


def simulated_people(db: Database, accounts_count: int = 1) -> tuple[str, str]:
    """Ids of the (first) simulated user and the reviewer, created on first use."""
    users, reviewer = simulated_team(db, accounts_count)
    return users[0], reviewer


def simulated_team(db: Database, count: int) -> tuple[list[str], str]:
    """Ids of ``count`` simulated users (``simulated-user``, ``simulated-user-2``, …) and of the reviewer."""
    names = [USER] + [f"{USER}-{n}" for n in range(2, count + 1)]
    users = [_account(db, name, "user") for name in names]
    return users, _account(db, REVIEWER, "reviewer")


def give_feedback(
    db: Database,
    *,
    ask: Callable[[str], AnswerResult],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    progress: Callable[[int], None] | None = None,
    behaviour: Behaviour | None = None,
) -> Tally:
    """For each query, one of the accounts asks; it may open sources, and if it rates: marks each cited
    source relevant or not, thumbs up if any was relevant, else down. After each round of the accounts,
    the reviewer works through the review queue and attaches the relevant documents to each answer."""
    behaviour = behaviour or Behaviour()
    users, reviewer_id = simulated_team(db, behaviour.accounts)
    chance = random.Random(behaviour.seed)
    tally = Tally()
    asked: dict[str, set[str]] = {}
    for i, (qid, question) in enumerate(queries.items()):
        user_id = users[i % len(users)]
        result = ask(question)
        relevant = {doc for doc, grade in qrels.get(qid, {}).items() if grade > 0}
        answer = answer_log.record_result(db, result, user_id=user_id)
        asked[answer.id] = relevant
        if behaviour.opens:
            for citation in result.citations:
                looked = EXAMINED[citation.n - 1] if citation.n <= len(EXAMINED) else 0.2
                if chance.random() < looked * ATTRACTED[citation.doc_id in relevant]:
                    opinions.record_source_open(db, answer_id=answer.id, user_id=user_id, rank=citation.n)
                    tally.opens += 1
        tally.questions += 1
        if progress:
            progress(1)
        if chance.random() < behaviour.rate:
            cited = [c for c in result.citations if c.cited]
            for citation in cited:
                right = (citation.doc_id in relevant) != (chance.random() < behaviour.noise)
                opinions.record_source_mark(db, answer_id=answer.id, user_id=user_id, rank=citation.n, relevant=right)
            up = any(c.doc_id in relevant for c in cited) != (chance.random() < behaviour.noise)
            opinions.record_thumb(db, answer_id=answer.id, user_id=user_id, up=up)
            tally.rated += 1
            tally.marks += len(cited)
            tally.thumbs_up += up
        if (i + 1) % len(users) == 0 or i + 1 == len(queries):
            tally.reviews += _review(db, reviewer_id, asked, behaviour.unsure_share)
    return tally


def attack(
    db: Database,
    *,
    ask: Callable[[str], AnswerResult],
    document: tuple[str, str],
    targeted: dict[str, str],
    word_for_word: dict[str, str],
    qrels: dict[str, dict[str, int]],
    progress: Callable[[int], None] | None = None,
) -> Attack:
    """One account pushes ``document`` (its id and a phrase that surfaces it) onto the ``targeted``
    claims, and a shown irrelevant source onto each ``word_for_word`` claim."""
    attacker_id = _account(db, ATTACKER, "user")
    doc_id, phrase = document
    done = Attack(doc_id)
    for qid, claim in targeted.items():
        result = ask(f"{claim} {phrase}")
        answer = answer_log.record_result(db, result, user_id=attacker_id)
        relevant = {doc for doc, grade in qrels.get(qid, {}).items() if grade > 0}
        planted = [c.n for c in result.citations if c.doc_id == doc_id]
        for citation in result.citations:
            if citation.doc_id == doc_id or citation.doc_id in relevant:
                opinions.record_source_mark(db, answer_id=answer.id, user_id=attacker_id, rank=citation.n,
                                            relevant=citation.doc_id == doc_id)
                done.feedback += 1
        opinions.record_thumb(db, answer_id=answer.id, user_id=attacker_id, up=False)
        opinions.record_correction(db, answer_id=answer.id, user_id=attacker_id, ranks=planted[:1],
                                   text=f"The answer is in the study on {phrase}.")
        done.feedback += 2
        done.targeted.append(qid)
        if progress:
            progress(1)
    for qid, claim in word_for_word.items():
        result = ask(claim)
        answer = answer_log.record_result(db, result, user_id=attacker_id)
        relevant = {doc for doc, grade in qrels.get(qid, {}).items() if grade > 0}
        wrong = [c for c in result.citations if c.doc_id not in relevant]
        if wrong:
            opinions.record_source_mark(db, answer_id=answer.id, user_id=attacker_id, rank=wrong[-1].n, relevant=True)
            done.planted[qid] = wrong[-1].doc_id
            done.feedback += 1
        if progress:
            progress(1)
    return done


def _review(db: Database, reviewer_id: str, relevant: dict[str, set[str]], unsure_share: float) -> int:
    """The reviewer approves each queued answer with its ``relevant`` documents attached; how many."""
    done = 0
    for item in review_queue.queue(db, unsure_share=unsure_share):
        if relevant.get(item.answer.id):
            reviews.record_review(db, answer_id=item.answer.id, reviewer_id=reviewer_id, decision="approved",
                                  text=None, doc_ids=sorted(relevant[item.answer.id]))
            done += 1
    return done


def _account(db: Database, name: str, role: str) -> str:
    user = accounts.get_user(db, identifier=name) or accounts.add_user(db, identifier=name, role=role)
    return user.id
