"""Read-only figures about the feedback loop, for /metrics and the dashboard alike.

Counts come from the database, so every worker (and every restart) reports the same numbers.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import select

from feedback.db import Database
from feedback.models import Answer, Feedback
from feedback.models import RankerVersion as RankerRow

FEEDBACK_KINDS = ("thumb_up", "thumb_down", "comment", "source_relevant", "source_not_relevant", "correction")


def _kind(kind: str, value: int | None) -> str:
    """A feedback row's kind as people see it: the thumb's direction, the mark's answer."""
    if kind == "thumb":
        return "thumb_up" if (value or 0) > 0 else "thumb_down"
    if kind == "source_mark":
        return "source_relevant" if value else "source_not_relevant"
    return kind


def feedback_by_kind(db: Database) -> dict[str, int]:
    """Current feedback rows per kind (a replaced thumb counts once, as it is now)."""
    with db.read() as session:
        rows = session.exec(select(Feedback.kind, Feedback.value, func.count()).group_by(Feedback.kind, Feedback.value))
        counts = Counter()
        for kind, value, n in rows:
            counts[_kind(kind, value)] += n
    return {kind: counts.get(kind, 0) for kind in FEEDBACK_KINDS}


def answers_by_verdict(db: Database) -> dict[str, int]:
    with db.read() as session:
        return dict(session.exec(select(Answer.verdict, func.count()).group_by(Answer.verdict)).all())


def ranker_versions_by_status(db: Database) -> dict[str, int]:
    """One row per retrain run that produced a candidate, whatever became of it."""
    with db.read() as session:
        return dict(session.exec(select(RankerRow.status, func.count()).group_by(RankerRow.status)).all())


@dataclass(frozen=True)
class RankerVersion:
    version: str
    status: str
    created_at: datetime
    held_out_ndcg: float | None
    """nDCG@10 on the held-out feedback when it was trained."""


def ranker_versions(db: Database) -> list[RankerVersion]:
    """Every trained ranker, oldest first."""
    with db.read() as session:
        rows = session.exec(select(RankerRow).order_by(RankerRow.id)).all()
    return [RankerVersion(row.version, row.status, row.created_at, row.metrics.get("held_out_ndcg@10")) for row in rows]


@dataclass(frozen=True)
class Day:
    day: date
    feedback: dict[str, int]
    """Feedback given that day, per kind (``FEEDBACK_KINDS``)."""
    answers: int
    flagged: int

    @property
    def thumbs_up_share(self) -> float | None:
        thumbs = self.feedback["thumb_up"] + self.feedback["thumb_down"]
        return self.feedback["thumb_up"] / thumbs if thumbs else None

    @property
    def flagged_share(self) -> float | None:
        return self.flagged / self.answers if self.answers else None


def daily(db: Database, *, days: int, today: date | None = None) -> list[Day]:
    """The last ``days`` days (UTC), oldest first, each with its feedback and answers (days without any too)."""
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), UTC)
    with db.read() as session:
        feedback = session.exec(select(Feedback.created_at, Feedback.kind, Feedback.value)
                                .where(Feedback.created_at >= since)).all()
        answers = session.exec(select(Answer.created_at, Answer.verdict).where(Answer.created_at >= since)).all()
    given = Counter((at.date(), _kind(kind, value)) for at, kind, value in feedback)
    answered = Counter(at.date() for at, _ in answers)
    flagged = Counter(at.date() for at, verdict in answers if verdict == "flagged")
    return [
        Day(day, {kind: given[day, kind] for kind in FEEDBACK_KINDS}, answered[day], flagged[day])
        for day in (first + timedelta(days=n) for n in range(days))
    ]


model_versions_by_status = ranker_versions_by_status  # the older name
