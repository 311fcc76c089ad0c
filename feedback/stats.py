"""Read-only figures about the feedback loop, for /metrics and the dashboard alike.

Counts come from the database, so every worker (and every restart) reports the same numbers.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import select

from feedback.accounts import excluded_from_learning
from feedback.db import Database
from feedback.models import Answer, Feedback, User
from feedback.models import RankerVersion as RankerRow
from feedback.training import judged_questions

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


@dataclass(frozen=True)
class AccountFigures:
    """How much one account said, and how often others who judged the same thing said otherwise."""

    identifier: str
    role: str
    feedback: int
    """Feedback rows of every kind (opens included)."""
    share: float
    """Of all feedback rows."""
    questions: int
    """Judged questions it voted on."""
    against_reviewers: int
    with_reviewers: int
    """Votes on a question and document a reviewer also judged: against, and compared in all."""
    against_others: int
    with_others: int
    """Votes on a question and document other accounts also judged: against their sum, and compared."""
    excluded: bool

    @property
    def reviewer_disagreement(self) -> float | None:
        return self.against_reviewers / self.with_reviewers if self.with_reviewers else None

    @property
    def other_disagreement(self) -> float | None:
        return self.against_others / self.with_others if self.with_others else None


def account_figures(db: Database, *, by: str = "volume") -> list[AccountFigures]:
    """Every account that gave feedback, by volume (most first) or by ``disagreement`` (with
    reviewers, then with other accounts; most first)."""
    if by not in ("volume", "disagreement"):
        raise ValueError(f"Unknown order '{by}': use volume or disagreement.")
    with db.read() as session:
        counts = dict(session.exec(select(Feedback.user_id, func.count()).group_by(Feedback.user_id)).all())
        users = {user.id: user for user in session.exec(select(User))}
    tallies: dict[str, list[int]] = {user_id: [0, 0, 0, 0, 0] for user_id in counts}
    for item in judged_questions(db, everyone=True):
        voted: set[str] = set()
        for votes in item.votes.values():
            reviewed = sum(v for a, v in votes.items() if a in item.reviewers)
            for account, vote in votes.items():
                tally = tallies.setdefault(account, [0, 0, 0, 0, 0])
                voted.add(account)
                if account in item.reviewers:
                    continue
                if reviewed:
                    tally[0] += vote * reviewed < 0
                    tally[1] += 1
                others = sum(v for a, v in votes.items() if a != account and a not in item.reviewers)
                if others:
                    tally[2] += vote * others < 0
                    tally[3] += 1
        for account in voted:
            tallies[account][4] += 1
    total = sum(counts.values()) or 1
    excluded = excluded_from_learning(db)
    figures = [
        AccountFigures(users[a].identifier if a in users else a, users[a].role if a in users else "",
                       counts.get(a, 0), counts.get(a, 0) / total, t[4], t[0], t[1], t[2], t[3], a in excluded)
        for a, t in tallies.items()
    ]
    if by == "volume":
        return sorted(figures, key=lambda f: (-f.feedback, f.identifier))
    return sorted(figures, key=lambda f: (-(f.reviewer_disagreement or 0), -(f.other_disagreement or 0),
                                          -f.feedback, f.identifier))


model_versions_by_status = ranker_versions_by_status  # the older name
