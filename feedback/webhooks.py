"""Delivery state of events sent to webhook targets: which are due, which arrived, which to retry when.

The append-only events table is the outbox: an event is written in the same transaction as the
feedback it describes, so nothing needs to be sent from inside that transaction. ``enqueue``
adds a delivery row per new event and target; ``claim`` hands due rows to one sender only (a
conditional UPDATE: on SQLite writers queue, on PostgreSQL the second UPDATE re-reads the row and
finds it no longer due), leased for ``lease_seconds`` so a sender that dies mid-way is retried.
No HTTP here: ``app/webhooks.py`` sends. Delivery bookkeeping writes no audit event: the rows
themselves are its record.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, literal, update
from sqlalchemy import Select
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from feedback.db import Database
from feedback.models import Event, UTCDateTime, WebhookDelivery, now

from feedback.names import FEEDBACK_ACTIONS  # noqa: F401  (re-exported)
SETTLED = timedelta(seconds=60)
"""Longer than any write transaction: an event id below one enqueued this long ago is already committed."""


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    target: str
    attempts: int
    """Including this one."""
    event: dict
    """The event as sent: id, action, at, actor_id, subject_type, subject_id, data."""


def enqueue(db: Database, *, targets: Iterable[str], actions: Iterable[str] = FEEDBACK_ACTIONS) -> int:
    """Delivery rows for every event of ``actions`` not yet queued for each target; how many were added.

    Safe to run from several workers at once: a row that another worker added is skipped. A read
    comes first, so a pass with nothing new takes no write lock."""
    actions, at = list(actions), now()
    with db.read() as session:
        news = {target: new for target in targets
                if session.execute((new := _new_events(session, target, actions, at)).limit(1)).first()}
    if not news:
        return 0
    dialect, when, added = (sqlite if db.is_sqlite else postgresql), literal(at, UTCDateTime), 0
    columns = ["event_id", "target", "status", "attempts", "next_attempt_at", "created_at"]
    with db.write() as session:
        for target, new in news.items():
            rows = new.with_only_columns(Event.id, literal(target), literal("pending"), literal(0), when, when)
            statement = (dialect.insert(WebhookDelivery).from_select(columns, rows).on_conflict_do_nothing()
                         .returning(WebhookDelivery.id))
            added += len(session.execute(statement).all())
    return added


def _new_events(session: Session, target: str, actions: list[str], at: datetime) -> Select:
    """The events of ``actions`` with no delivery row for ``target``, looked for only above the ids
    that were queued long enough ago (``SETTLED``) that none below them can still be committing."""
    settled = session.exec(select(func.max(WebhookDelivery.event_id)).where(
        WebhookDelivery.target == target, WebhookDelivery.created_at < at - SETTLED)).one()
    queued = select(WebhookDelivery.id).where(
        WebhookDelivery.event_id == Event.id, WebhookDelivery.target == target).exists()
    return sa_select(Event.id).where(Event.id > (settled or 0), Event.action.in_(actions), ~queued).order_by(Event.id)


def claim(db: Database, *, limit: int, lease_seconds: float) -> list[Claimed]:
    """Up to ``limit`` due deliveries, oldest first, now this caller's for ``lease_seconds``.
    The UPDATE repeats the read's condition: a row another worker took in between is left out."""
    at = now()
    due = (WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= at)
    with db.read() as session:
        ids = session.exec(select(WebhookDelivery.id).where(*due).order_by(WebhookDelivery.id).limit(limit)).all()
    if not ids:
        return []
    with db.write() as session:
        taken = session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(ids), *due)
            .values(next_attempt_at=at + timedelta(seconds=lease_seconds), attempts=WebhookDelivery.attempts + 1)
            .returning(WebhookDelivery.id, WebhookDelivery.event_id, WebhookDelivery.target, WebhookDelivery.attempts)
        ).all()
        events = {e.id: e for e in session.exec(select(Event).where(Event.id.in_([row[1] for row in taken])))}
    return [Claimed(delivery_id, target, attempts, _payload(events[event_id]))
            for delivery_id, event_id, target, attempts in sorted(taken)]


def _payload(event: Event) -> dict:
    return {"id": event.id, "action": event.action, "at": event.at.isoformat(), "actor_id": event.actor_id,
            "subject_type": event.subject_type, "subject_id": event.subject_id, "data": event.data}


def mark_delivered(db: Database, *, delivery_id: int) -> None:
    with db.write() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                     .values(status="delivered", delivered_at=now(), last_error=None))


def mark_failed(
    db: Database, *, delivery_id: int, attempts: int, error: str, max_attempts: int,
    backoff_seconds: float, max_backoff_seconds: float,
) -> datetime | None:
    """Retry later, each wait twice the last (capped), or give up after ``max_attempts``; when it is retried."""
    retry_at = None
    if attempts < max_attempts:
        retry_at = now() + timedelta(seconds=min(max_backoff_seconds, backoff_seconds * 2 ** (attempts - 1)))
    with db.write() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(
            status="pending" if retry_at else "failed", last_error=error[:500],
            **({"next_attempt_at": retry_at} if retry_at else {})))
    return retry_at


def requeue_failed(db: Database) -> int:
    """Deliveries given up on are due again from the first attempt (once the target is fixed); how many."""
    with db.write() as session:
        return len(session.execute(
            update(WebhookDelivery).where(WebhookDelivery.status == "failed")
            .values(status="pending", attempts=0, next_attempt_at=now()).returning(WebhookDelivery.id)
        ).all())


def deliveries(db: Database) -> list[WebhookDelivery]:
    """Every delivery row, oldest first (for the command line and tests)."""
    with db.read() as session:
        return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def counts_by_status(db: Database) -> dict[str, int]:
    with db.read() as session:
        return dict(session.exec(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)).all())
