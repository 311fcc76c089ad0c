"""What the event stream publishes and how far it got: the events table is the outbox, read in id
order after a cursor kept in the database. No Redis here: ``app/event_stream.py`` publishes.

An entry carries the event's id, kind, time and ids, never text: of the event's data only the
fields named in ``DATA_FIELDS`` are passed on, and only when they hold short values, so a
correction, a comment, a document's text or title never leaves, whatever a writer logs.

Ids are taken when a row is inserted but seen when its transaction commits: on PostgreSQL event 7
may be visible while event 6 is still committing (or was rolled back, leaving a gap for good). An
entry is published only once every id below it is settled: after a gap, the publisher waits until
the event past the gap is older than ``HOLD``, by when any transaction that took a lower id has ended.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from feedback.db import Database
from feedback.models import Cursor, Event, now
from feedback.webhooks import SETTLED

HOLD = 2 * SETTLED
"""An event's time is set before its id is taken, in the same transaction; a lower id is taken before,
and committed within ``SETTLED``: once an event is this old, no id below it can still appear."""
DATA_FIELDS = frozenset({
    "answer_id", "citation_id", "doc_id", "doc_ids", "source",  # ids
    "role", "decision", "verdict", "value", "relevant", "rank", "groups",  # short, closed values
    "files", "chunks", "added", "changed", "updated", "unchanged", "removed", "failed",  # counts
})
"""The data fields an entry may carry; every other field of an event stays in the database."""
MAX_VALUE_CHARS = 300


@dataclass(frozen=True)
class Entry:
    event_id: int
    fields: dict[str, str]
    """As the stream holds them: id, kind, at, subject_type, subject_id, actor_id (when there is one),
    data (a JSON object of the ``DATA_FIELDS`` the event has)."""


def entry(event: Event) -> Entry:
    fields = {"id": str(event.id), "kind": event.action, "at": event.at.isoformat(),
              "subject_type": event.subject_type, "subject_id": event.subject_id}
    if event.actor_id is not None:
        fields["actor_id"] = event.actor_id
    data = {key: value for key, value in sorted(event.data.items()) if key in DATA_FIELDS and _short(value)}
    fields["data"] = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return Entry(event.id, fields)


def _short(value: object) -> bool:
    if isinstance(value, list):
        return all(isinstance(item, str) and len(item) <= MAX_VALUE_CHARS for item in value)
    if isinstance(value, str):
        return len(value) <= MAX_VALUE_CHARS
    return value is None or isinstance(value, (bool, int, float))


def pending(db: Database, name: str, *, limit: int, at: datetime | None = None) -> list[Entry]:
    """Up to ``limit`` events after the cursor ``name``, in id order, stopping short of any that a
    still-committing transaction could yet come before."""
    held_from = (at or now()) - HOLD
    with db.read() as session:
        last = position(session, name)
        events = session.exec(select(Event).where(Event.id > last).order_by(Event.id).limit(limit)).all()
    ready = []
    for event in events:
        if event.id != last + 1 and event.at > held_from:
            break
        ready.append(entry(event))
        last = event.id
    return ready


def position(session: Session, name: str) -> int:
    """The last event id the cursor ``name`` passed on; 0 before the first."""
    cursor = session.get(Cursor, name)
    return cursor.event_id if cursor is not None else 0


def advance(db: Database, name: str, event_id: int) -> None:
    """Moves the cursor ``name`` to ``event_id``, never back (another worker may have gone further)."""
    dialect = sqlite if db.is_sqlite else postgresql
    at = now()
    statement = dialect.insert(Cursor).values(name=name, event_id=event_id, updated_at=at)
    statement = statement.on_conflict_do_update(
        index_elements=[Cursor.name], set_={"event_id": event_id, "updated_at": at},
        where=Cursor.event_id < event_id,
    )
    with db.write() as session:
        session.execute(statement)


def cursor(db: Database, name: str) -> int:
    with db.read() as session:
        return position(session, name)
