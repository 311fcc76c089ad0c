"""The review queue: unreviewed answers with a reason for a reviewer to look, most uncertain first.

An answer is queued when the check flagged it, someone rated it down, commented or corrected it;
or when retrieval matched it less well than most (*unsure*: its best source's similarity is among
the lowest ``unsure_share`` of all answers'), whatever its thumbs say. Most answers are never
rated, and one person's thumb up is one account's word, which learning does not spread to others
on its own; a reviewer's decision on the least-matched answers is where a look teaches most: on
SciFact, the least-matched 30% of answers hold half of those that showed no relevant source.
"""

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import false, func, or_
from sqlmodel import select

from feedback.db import Database
from feedback.models import Answer, Citation, Feedback, Review
from feedback.names import UNSURE_SHARE
from feedback.visibility import Viewer

REASONS = ("flagged", "down", "comment", "correction", "unsure")


@dataclass(frozen=True)
class Queued:
    answer: Answer
    downs: int
    comments: int
    corrections: int
    best_similarity: float
    unsure: bool = False
    """Retrieval matched it among the least well."""

    @property
    def reasons(self) -> list[str]:
        given = {"flagged": self.answer.verdict == "flagged", "down": self.downs > 0,
                 "comment": self.comments > 0, "correction": self.corrections > 0, "unsure": self.unsure}
        return [reason for reason in REASONS if given[reason]]

    @property
    def priority(self) -> float:
        """Most uncertain first: the check's doubt, people's doubt, and how weakly retrieval matched."""
        return (2.0 * (self.answer.verdict == "flagged") + self.downs + (self.corrections > 0)
                + 0.5 * (self.comments > 0) + 0.5 * self.unsure + (1.0 - self.best_similarity))


def queue(
    db: Database, *, since: date | None = None, viewer: Viewer | None = None, unsure_share: float = UNSURE_SHARE
) -> list[Queued]:
    """Unreviewed answers with at least one reason to look at them, most uncertain first; only those
    ``viewer`` may see, when given. ``unsure_share``: the share of least-matched answers that count
    as unsure (0: none)."""

    def count(*where) -> Any:
        return (select(func.count()).select_from(Feedback)
                .where(Feedback.answer_id == Answer.id, *where).correlate(Answer).scalar_subquery())

    downs = count(Feedback.kind == "thumb", Feedback.value == -1)
    comments = count(Feedback.kind == "comment")
    corrections = count(Feedback.kind == "correction")
    best = (select(func.max(Citation.similarity)).where(Citation.answer_id == Answer.id)
            .correlate(Answer).scalar_subquery())
    reviewed = select(Review.id).where(Review.answer_id == Answer.id).correlate(Answer).exists()
    after = [Answer.created_at >= datetime.combine(since, datetime.min.time(), UTC)] if since is not None else []
    cutoff = _unsure_below(db, unsure_share, after)
    unsure = func.coalesce(best, 0.0) <= cutoff if cutoff is not None else false()
    query = select(Answer, downs, comments, corrections, best, unsure).where(
        ~reviewed, or_(Answer.verdict == "flagged", downs > 0, comments > 0, corrections > 0, unsure), *after
    )
    with db.read() as session:
        rows = session.exec(query).all()
    items = [Queued(a, d, c, k, float(b or 0.0), bool(u)) for a, d, c, k, b, u in rows]
    if viewer is not None and viewer.groups is not None:
        seen = viewer.answers(db, [item.answer.id for item in items])
        items = [item for item in items if item.answer.id in seen]
    items.sort(key=lambda item: item.answer.created_at, reverse=True)  # among equals, newest first
    items.sort(key=lambda item: item.priority, reverse=True)
    return items


def _unsure_below(db: Database, share: float, after: list) -> float | None:
    """The best-source similarity at or below which an answer is among the ``share`` least matched
    (of the answers ``after`` selects); None when no answer counts as unsure. Worked out in the
    database: the answers' best similarities are never loaded."""
    if share <= 0:
        return None
    best = (select(func.coalesce(func.max(Citation.similarity), 0.0).label("best"))
            .select_from(Answer).outerjoin(Citation, Citation.answer_id == Answer.id).where(*after)
            .group_by(Answer.id).subquery())
    with db.read() as session:
        answers = session.exec(select(func.count()).select_from(best)).one()
        if not answers:
            return None
        at = math.floor(share * (answers - 1))  # as numpy's quantile(..., method="lower")
        return float(session.exec(select(best.c.best).order_by(best.c.best).offset(at).limit(1)).one())
