"""What counts, defined once and read alike by serving (verified answers), training and every export.

- A review decision counts while it is the answer's newest: a later rejection withdraws an
  approval at once, and everything that reads approvals reads them through ``approved_reviews``.
- A person's thumb and source marks count as they stand now: each is one row, replaced when they
  change their mind (the writers keep it so); ``current_marks`` keeps a person's newest mark per
  question and document when the same question was asked more than once.
"""

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, select

from feedback.models import Review


def newest_reviews(session: Session, answer_ids: Iterable[str] | None = None) -> dict[str, Review]:
    """Each reviewed answer's newest review (ties broken by id, as everywhere), whoever gave it."""
    query = select(Review).order_by(Review.created_at, Review.id)
    if answer_ids is not None:
        query = query.where(Review.answer_id.in_(list(answer_ids)))
    newest: dict[str, Review] = {}
    for review in session.exec(query):
        newest[review.answer_id] = review  # later rows replace earlier ones
    return newest


def is_approved(review: Review | None) -> bool:
    return review is not None and review.decision == "approved"


def approved_reviews(session: Session, answer_ids: Iterable[str] | None = None) -> dict[str, Review]:
    """The answers whose newest review approves them, with that review."""
    return {answer_id: r for answer_id, r in newest_reviews(session, answer_ids).items() if is_approved(r)}


def current_marks(marks: Iterable[tuple[str, str, str, datetime, object]]) -> dict[tuple[str, str, str], object]:
    """``(question, doc_id, person, at, vote)`` → the newest vote per question, document and person."""
    newest: dict[tuple[str, str, str], tuple[datetime, object]] = {}
    for question, doc_id, person, at, vote in marks:
        previous = newest.get((question, doc_id, person))
        if previous is None or at >= previous[0]:
            newest[(question, doc_id, person)] = (at, vote)
    return {key: vote for key, (_, vote) in newest.items()}
