"""What the event stream is handed from the outbox: every event after the cursor, in id order, with
ids and never text; none past an id that a transaction still holds; the cursor never moves back."""

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from feedback import events, migrate, opinions
from feedback.db import Database
from feedback.event_stream import HOLD, advance, cursor, pending
from feedback.models import Event, now

STREAM = "groundloop:events"


def ids(entries) -> list[int]:
    return [entry.event_id for entry in entries]


def event_ids(db: Database) -> list[int]:
    with db.read() as session:
        return sorted(e.id for e in session.query(Event))


def test_entries_carry_ids_and_short_values_never_text(db, alice, make_answer):
    answer = make_answer(alice)
    opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=False, comment="The tea was SECRET-COMMENT")
    opinions.record_correction(db, answer_id=answer.id, user_id=alice.id, text="SECRET-CORRECTION at 80 degrees [1].",
                               ranks=[1])
    events.record(db, action="document_added", subject_type="documents", subject_id="doc-7", actor_id=alice.id,
                  source="handbook", title="SECRET-TITLE", text="SECRET-TEXT of the document", groups=["hr"],
                  chunks=3, doc_id="x" * 5000)

    entries = pending(db, STREAM, limit=100)

    assert ids(entries) == event_ids(db)
    assert "SECRET" not in json.dumps([e.fields for e in entries])
    thumb = next(e.fields for e in entries if e.fields["kind"] == "thumb")
    assert thumb["actor_id"] == alice.id and json.loads(thumb["data"]) == {"answer_id": answer.id, "value": -1}
    added = entries[-1].fields
    assert {k: v for k, v in added.items() if k != "at"} == {
        "id": str(entries[-1].event_id), "kind": "document_added", "subject_type": "documents", "subject_id": "doc-7",
        "actor_id": alice.id, "data": '{"chunks":3,"groups":["hr"],"source":"handbook"}'}
    assert now() - timedelta(minutes=1) < datetime.fromisoformat(added["at"]) <= now()


def test_only_what_follows_the_cursor_is_due_and_the_cursor_never_moves_back(db):
    for n in range(5):
        events.record(db, action="sync_finished", subject_type="sources", subject_id=f"s{n}", added=n)
    first, *_, last = event_ids(db)
    assert cursor(db, STREAM) == 0

    advance(db, STREAM, first + 2)
    assert ids(pending(db, STREAM, limit=100)) == list(range(first + 3, last + 1))
    assert ids(pending(db, STREAM, limit=1)) == [first + 3]

    advance(db, STREAM, first)  # a slower worker finishing an older batch
    assert cursor(db, STREAM) == first + 2
    advance(db, STREAM, last)
    assert pending(db, STREAM, limit=100) == [] and cursor(db, "another reader") == 0


def test_past_a_gap_in_the_ids_nothing_is_due_until_the_gap_is_settled(db):
    events.record(db, action="sync_finished", subject_type="sources", subject_id="s1")
    [first] = event_ids(db)
    with db.write() as session:  # as a PostgreSQL transaction that took first + 1 and rolled back leaves it
        session.add(Event(id=first + 2, action="sync_failed", subject_type="sources", subject_id="s2"))

    assert ids(pending(db, STREAM, limit=100)) == [first]
    assert ids(pending(db, STREAM, limit=100, at=now() + HOLD + timedelta(seconds=1))) == [first, first + 2]


@pytest.fixture
def postgres_db(postgres_server) -> Iterator[Database]:
    url = postgres_server.create_database("stream")
    db = Database(url)
    migrate.upgrade(db)
    yield db
    db.dispose()
    postgres_server.drop_database(url)


def test_an_event_committed_after_a_later_one_is_published_before_it(postgres_db):
    """On PostgreSQL a transaction that took a lower id may commit after one that took a higher id:
    the later event waits for it, so the stream never skips an event or puts it out of order."""
    db = postgres_db
    events.record(db, action="sync_finished", subject_type="sources", subject_id="s1")
    inserted, commit = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with db.write() as session:
            session.add(Event(action="document_removed", subject_type="documents", subject_id="doc-1"))
            session.flush()
            inserted.set()
            commit.wait(30)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert inserted.wait(30)
    events.record(db, action="document_added", subject_type="documents", subject_id="doc-2")
    try:
        assert [e.fields["kind"] for e in pending(db, STREAM, limit=100)] == ["sync_finished"]
    finally:
        commit.set()
        writer.join(30)
    assert [e.fields["kind"] for e in pending(db, STREAM, limit=100)] == [
        "sync_finished", "document_removed", "document_added"]
