"""The event stream end to end, against a real redis-server the tests start and stop: feedback given
through the API while Redis is down arrives once it is back, every event once, in order, with no
text; ``groundloop events tail`` and a consumer group read the same; a publisher that died between
adding entries and moving its cursor adds nothing twice when it starts again."""

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import app.server
from app import components
from app.cli import cli
from app.event_stream import STREAM, Publisher, StreamUnavailable
from feedback import accounts, answer_log, event_stream as cursors, events, keys, opinions
from feedback.models import Event
from retrieval.errors import GroundloopError
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60
QUESTION = "At what temperature is green tea steeped?"
COMMENT = "SECRET-COMMENT: far too hot"
CORRECTION = "SECRET-CORRECTION: green tea wants water at about 80 degrees [1]."


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder).start()
    yield server
    server.stop()


def with_stream(settings, server: RedisServer):
    return settings.model_copy(update={"events_redis_url": server.url, "events_poll_seconds": 0.1})


def recorded(db) -> list[Event]:
    with db.read() as session:
        return list(session.query(Event).order_by(Event.id))


def entries(server: RedisServer) -> list[tuple[str, dict]]:
    return server.client().xrange(STREAM)


def wait_for_stream(server: RedisServer, db) -> list[tuple[str, dict]]:
    """The stream once it holds an entry for every event recorded so far."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        wanted = f"{recorded(db)[-1].id}-0"
        try:
            held = entries(server)
        except redis.ConnectionError:
            held = []
        if held and held[-1][0] == wanted:
            return held
        if time.monotonic() > deadline:
            pytest.fail(f"the stream did not reach event {wanted}: it holds {[i for i, _ in held]}")
        time.sleep(0.05)


def tail(settings, server: RedisServer, *args: str) -> list[str]:
    result = CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "events", "tail", *args],
                                env={"GROUNDLOOP_EVENTS_REDIS_URL": server.url}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def publish(settings, server: RedisServer) -> str:
    result = CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "events", "publish"],
                                env={"GROUNDLOOP_EVENTS_REDIS_URL": server.url}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def groundloop(settings, *args: str, **env: str) -> tuple[subprocess.Popen, queue.Queue]:
    """The command running in a process of its own, and the lines it prints (both outputs) as they come."""
    probe = "import sys; sys.argv = ['groundloop', *sys.argv[1:]]; from app.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", probe, "--data-dir", str(settings.data_dir), *args], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    return process, lines


def test_feedback_given_while_redis_is_down_arrives_in_order_once_it_is_back(indexed, redis_server):
    settings = with_stream(indexed, redis_server)
    db = components.database(settings)
    accounts.add_user(db, identifier="alice")
    headers = {"Authorization": f"Bearer {keys.create_key(db, identifier='alice', scopes='ask,feedback')[1]}"}
    with TestClient(app.server.create_app(settings)) as client:
        asked = client.post("/api/v1/ask", json={"question": QUESTION}, headers=headers)
        assert asked.status_code == 200, asked.text
        answer_id = asked.json()["answer_id"]
        assert client.post(f"/api/v1/answers/{answer_id}/feedback", json={"thumb": "up"},
                           headers=headers).status_code == 200
        wait_for_stream(redis_server, db)

        redis_server.stop()
        given = client.post(f"/api/v1/answers/{answer_id}/feedback", headers=headers, json={
            "thumb": "down", "comment": COMMENT, "sources": [{"n": 1, "relevant": True}],
            "correction": {"text": CORRECTION, "sources": [1]}})
        assert given.status_code == 200, given.text  # Redis being down refuses no one's feedback
        before = cursors.cursor(db, STREAM)
        with pytest.raises(StreamUnavailable, match=f"Redis at 127.0.0.1:{redis_server.port} did not take the events"):
            Publisher(settings.events_redis_url, lambda: db).publish_batch()
        assert before < recorded(db)[-1].id and cursors.cursor(db, STREAM) == before  # they wait in the database

        redis_server.start()
        held = wait_for_stream(redis_server, db)

    events_ = recorded(db)
    assert [stream_id for stream_id, _ in held] == [f"{e.id}-0" for e in events_]
    assert [fields["kind"] for _, fields in held] == [e.action for e in events_]
    kinds = [fields["kind"] for _, fields in held]
    assert kinds.count("thumb") == 2 and {"answered", "comment", "source_mark", "correction"} <= set(kinds)
    correction = next(fields for _, fields in held if fields["kind"] == "correction")
    cited = asked.json()["citations"][0]["doc_id"]
    assert json.loads(correction["data"]) == {"answer_id": answer_id, "doc_ids": [cited]}
    everything = json.dumps(held)
    for text in ("SECRET", QUESTION, asked.json()["answer"], "Celsius"):  # no question, answer or document text
        assert text not in everything

    lines = tail(settings, redis_server, "--from", "1")
    assert [line.split()[0] for line in lines] == [str(e.id) for e in events_]
    assert [line.split()[2] for line in lines] == [e.action for e in events_]
    assert tail(settings, redis_server, "-n", "2") == lines[-2:]
    as_json = [json.loads(line) for line in tail(settings, redis_server, "--json", "--from", str(events_[-1].id))]
    assert as_json == [{"stream_id": held[-1][0], **held[-1][1], "data": json.loads(held[-1][1]["data"])}]

    consumer = redis_server.client()
    consumer.xgroup_create(STREAM, "auditors", id="0")
    read = []
    while batch := consumer.xreadgroup("auditors", "auditor-1", {STREAM: ">"}, count=3):
        [(_, page)] = batch
        read += page
        consumer.xack(STREAM, "auditors", *[stream_id for stream_id, _ in page])
    assert read == held
    assert consumer.xpending(STREAM, "auditors")["pending"] == 0


def test_a_publisher_started_again_resumes_from_its_cursor_and_adds_nothing_twice(settings, redis_server,
                                                                                   monkeypatch):
    db = components.database(settings)
    alice = accounts.add_user(db, identifier="alice")
    answer = answer_log.record_answer(
        db, question=QUESTION, standalone_question=QUESTION, answer="About 80 degrees [1].", answerer="extractive",
        verdict="ok", reasons=[], timings_ms={}, user_id=alice.id, citations=[])
    opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=True)
    first_pass = len(recorded(db))
    assert publish(settings, redis_server) == (
        f"{first_pass} events published; {STREAM} holds every event up to {recorded(db)[-1].id}.")

    events.record(db, action="document_removed", subject_type="documents", subject_id="doc-1", source="handbook")
    events.record(db, action="sync_finished", subject_type="sources", subject_id="handbook", removed=1)

    def dies_before_moving_the_cursor(*_, **__):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:  # the worker is killed after Redis took the entries
        patched.setattr(cursors, "advance", dies_before_moving_the_cursor)
        with pytest.raises(KeyboardInterrupt):
            Publisher(redis_server.url, lambda: db).publish_batch()
    assert len(entries(redis_server)) == first_pass + 2 and cursors.cursor(db, STREAM) < recorded(db)[-1].id
    opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=False)

    newest = recorded(db)[-1].id
    assert publish(settings, redis_server) == f"3 events published; {STREAM} holds every event up to {newest}."
    assert publish(settings, redis_server) == f"0 events published; {STREAM} holds every event up to {newest}."
    assert [stream_id for stream_id, _ in entries(redis_server)] == [f"{e.id}-0" for e in recorded(db)]


def test_tail_follow_prints_entries_as_they_are_published(settings, redis_server):
    db = components.database(settings)
    events.record(db, action="sync_finished", subject_type="sources", subject_id="handbook", added=2)
    publisher = Publisher(redis_server.url, lambda: db)
    publisher.publish_due()
    follower, lines = groundloop(settings, "events", "tail", "--follow", GROUNDLOOP_EVENTS_REDIS_URL=redis_server.url)
    try:
        assert lines.get(timeout=WAIT_SECONDS).split()[2:4] == ["sync_finished", "sources:handbook"]
        events.record(db, action="sync_failed", subject_type="sources", subject_id="tickets")
        publisher.publish_due()
        line = lines.get(timeout=WAIT_SECONDS)
        assert line.split()[0] == str(recorded(db)[-1].id) and line.split()[2:4] == ["sync_failed", "sources:tickets"]
    finally:
        follower.terminate()
        follower.wait(timeout=30)
        publisher.close()


def test_the_commands_say_in_one_line_what_is_missing(settings, redis_server):
    command = ["--data-dir", str(settings.data_dir), "events", "tail"]
    with pytest.raises(GroundloopError, match=r"^No event stream: set GROUNDLOOP_EVENTS_REDIS_URL"):
        CliRunner().invoke(cli, command, catch_exceptions=False)
    with pytest.raises(GroundloopError, match=r"^--from takes an event id such as 120"):
        CliRunner().invoke(cli, [*command, "--from", "yesterday"],
                           env={"GROUNDLOOP_EVENTS_REDIS_URL": redis_server.url}, catch_exceptions=False)
    redis_server.stop()
    with pytest.raises(GroundloopError, match=rf"^Redis at 127.0.0.1:{redis_server.port} cannot be read: "):
        CliRunner().invoke(cli, command, env={"GROUNDLOOP_EVENTS_REDIS_URL": redis_server.url}, catch_exceptions=False)



def test_a_stream_that_holds_another_databases_events_stops_publishing_and_says_why(settings, redis_server):
    other = components.database(settings.model_copy(update={"data_dir": settings.data_dir.parent / "other"}))
    events.record(other, action="sync_finished", subject_type="sources", subject_id="elsewhere")
    events.record(other, action="sync_finished", subject_type="sources", subject_id="elsewhere")
    Publisher(redis_server.url, lambda: other).publish_due()
    db = components.database(settings)
    events.record(db, action="document_added", subject_type="documents", subject_id="doc-1")

    with pytest.raises(StreamUnavailable, match=rf"^{STREAM} at 127.0.0.1:{redis_server.port} holds other events "
                       r"than this database's \(entry 1-0 is not its event\)"):
        Publisher(redis_server.url, lambda: db).publish_batch()
    assert cursors.cursor(db, STREAM) == 0
    assert [fields["subject_id"] for _, fields in entries(redis_server)] == ["elsewhere", "elsewhere"]

    redis_server.client().delete(STREAM)  # what the message advises
    assert publish(settings, redis_server) == f"1 events published; {STREAM} holds every event up to 1."


def test_entries_trimmed_away_before_the_cursor_moved_count_as_published(settings, redis_server, monkeypatch):
    db = components.database(settings)
    for source in ("a", "b", "c"):
        events.record(db, action="sync_finished", subject_type="sources", subject_id=source)
    with monkeypatch.context() as patched:
        patched.setattr(cursors, "advance", lambda *_, **__: None)  # the cursor did not move
        Publisher(redis_server.url, lambda: db).publish_due()
    redis_server.client().xtrim(STREAM, minid="3-0", approximate=False)  # a reader's cleanup

    assert publish(settings, redis_server) == f"3 events published; {STREAM} holds every event up to 3."
    assert [stream_id for stream_id, _ in entries(redis_server)] == ["3-0"]


def test_a_stream_url_must_name_a_redis(settings):
    with pytest.raises(ValueError, match="must start with redis://, rediss:// or unix://"):
        type(settings)(events_redis_url="127.0.0.1:6379")


def test_retrain_watch_wakes_when_feedback_reaches_the_stream(settings, redis_server):
    """With a poll of an hour, only the stream can make the watcher look again within a minute."""
    db = components.database(settings)
    alice = accounts.add_user(db, identifier="alice")
    answer = answer_log.record_answer(
        db, question=QUESTION, standalone_question=QUESTION, answer="About 80 degrees [1].", answerer="extractive",
        verdict="ok", reasons=[], timings_ms={}, user_id=alice.id, citations=[])
    watcher, lines = groundloop(settings, "retrain", "--watch", GROUNDLOOP_EVENTS_REDIS_URL=redis_server.url,
                                GROUNDLOOP_RETRAIN_AFTER="1", GROUNDLOOP_RETRAIN_POLL_SECONDS="3600")
    publisher = Publisher(redis_server.url, lambda: db)
    try:
        assert lines.get(timeout=WAIT_SECONDS).startswith("Watching for 1 new feedback events")
        waiting_on_the_stream(redis_server)
        opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=True)
        publisher.publish_due()
        looked_again = lines.get(timeout=WAIT_SECONDS)
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
        publisher.close()
    assert looked_again.startswith("Not enough feedback to learn from yet"), looked_again  # it retrained


def waiting_on_the_stream(server: RedisServer) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not any(c.get("cmd") == "xread" for c in server.client().client_list()):
        if time.monotonic() > deadline:
            pytest.fail("no one waits on the stream")
        time.sleep(0.05)
