"""The one way an event enters the append-only events table, the outbox of webhooks and of the event
stream: ``add`` within the transaction of the change it records (so the event exists exactly when the
change does), ``record`` and ``record_all`` as transactions of their own for changes that live outside
the feedback tables (the index's documents). Payloads carry ids and counts, never document text."""

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session

from feedback.db import Database
from feedback.models import Event


def add(session: Session, *, action: str, subject_type: str, subject_id: str, actor_id: str | None = None,
        data: dict[str, Any] | None = None) -> None:
    session.add(Event(actor_id=actor_id, action=action, subject_type=subject_type, subject_id=str(subject_id),
                      data=data or {}))


def record(db: Database, *, action: str, subject_type: str, subject_id: str, actor_id: str | None = None,
           **data: Any) -> None:
    """One event in its own transaction, e.g. ``record(db, action="document_removed", subject_type="documents",
    subject_id=doc_id, source=...)``."""
    record_all(db, [dict(action=action, subject_type=subject_type, subject_id=subject_id, actor_id=actor_id,
                         data=data)])


def record_all(db: Database, entries: Iterable[dict[str, Any]]) -> None:
    """Many events in one transaction (an ingest's documents); each entry holds ``add``'s keywords."""
    with db.write() as session:
        for entry in entries:
            add(session, **entry)
