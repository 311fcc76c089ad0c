"""Reviewers' decisions on answers, and their judgements of the sources shown."""

from sqlmodel import Session

from feedback import policy, stamps
from feedback.db import Database
from feedback.models import Answer, Feedback, Review, User
from feedback.writing import NotFound, _log, _mark
from retrieval.errors import GroundloopError


def record_review(
    db: Database, *, answer_id: str, reviewer_id: str, decision: str, text: str | None, doc_ids: list[str]
) -> Review:
    """A reviewer's decision on an answer: ``approved`` (with the right answer and sources) or ``rejected``."""
    if decision not in ("approved", "rejected"):
        raise GroundloopError(f"Unknown decision '{decision}': use approved or rejected.")
    with db.write() as session:
        _reviewable(session, answer_id, reviewer_id)
        review = Review(answer_id=answer_id, reviewer_id=reviewer_id, decision=decision, text=text, doc_ids=doc_ids)
        session.add(review)
        stamps.bump(session, stamps.REVIEWS)
        session.flush()
        _log(session, actor_id=reviewer_id, action="review", subject=review, answer_id=answer_id, decision=decision)
        return review


def record_reviewer_mark(db: Database, *, answer_id: str, reviewer_id: str, rank: int, relevant: bool) -> Feedback:
    """A reviewer's judgement of the source shown as [rank], on anyone's answer.

    Stored as the reviewer's own source mark (their new mark replaces their old one), so training
    counts it as a strong label and qrels as a vote, like any source mark; the event says a reviewer gave it.
    """
    with db.write() as session:
        _reviewable(session, answer_id, reviewer_id)
        return _mark(session, answer_id=answer_id, user_id=reviewer_id, rank=rank, relevant=relevant, by_reviewer=True)


def _reviewable(session: Session, answer_id: str, reviewer_id: str) -> Answer:
    """The answer, when ``reviewer_id`` may review it; locked for the transaction as in ``opinions._answer``."""
    answer = session.get(Answer, answer_id, with_for_update={"key_share": True})
    if answer is None:
        raise NotFound("No such answer.")
    policy.check_may_review(session.get(User, reviewer_id))
    return answer
