"""Events about things that live outside the feedback tables (documents, sources, syncs), written to the
same append-only events table that is the outbox of webhooks and the event stream. Payloads carry ids and
counts, never document text."""

from typing import Any

from feedback.db import Database
from feedback.models import Event


def record(db: Database, *, action: str, subject_type: str, subject_id: str, actor_id: str | None = None,
           **data: Any) -> None:
    """One event in its own transaction, e.g. ``record(db, action="document_removed", subject_type="documents",
    subject_id=doc_id, source=...)``."""
    with db.write() as session:
        session.add(Event(actor_id=actor_id, action=action, subject_type=subject_type, subject_id=str(subject_id),
                          data=data))
