"""A dependency that goes away while the server runs: one line saying so, the right status on the
API, and the server recovers by itself when it is back. On the real server (a subprocess)."""

import contextlib

import httpx
import pytest

from app import components
from app.settings import Settings
from feedback import accounts, keys
from retrieval.index import UNREACHABLE
from retrieval.ingest import ingest
from tests.app.conftest import LIVE_CORPUS
from tests.conftest import free_port, start_chroma
from tests.e2e.feedback_fixtures import Socket, signed_in

QUESTION = {"question": "How long is the Nile?"}


@pytest.fixture
def chroma_that_goes_away(tmp_path, embeddings):
    """A Chroma server of this test's own over an ingested corpus, a groundloop server on it, a key."""
    from tests.e2e.conftest import Server

    port, folder = free_port(), tmp_path / "chroma"
    folder.mkdir()
    chroma = start_chroma(folder, port)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in LIVE_CORPUS.items():
        (corpus / name).write_text(text)
    settings = Settings(data_dir=tmp_path / "data", chroma_url=f"http://127.0.0.1:{port}")
    ingest(components.open_index(settings), [corpus], chunk_size=2000, chunk_overlap=200, max_bytes=10**6)
    db = components.database(settings)
    accounts.add_user(db, identifier="alice", password="alice-pw")
    key = keys.create_key(db, identifier="alice", scopes="ask")[1]
    db.dispose()
    server = Server("chroma-down", settings.data_dir, tmp_path, chroma_url=settings.chroma_url).wait_ready()
    state = {"chroma": chroma}

    def stop() -> None:
        state["chroma"].terminate()
        state["chroma"].wait(timeout=30)

    def start() -> None:
        state["chroma"] = start_chroma(folder, port)

    try:
        yield server, {"Authorization": f"Bearer {key}"}, stop, start
    finally:
        server.stop()
        if state["chroma"].poll() is None:
            stop()


def test_a_chroma_server_that_is_down_is_one_line_and_a_503_and_recovery_is_by_itself(chroma_that_goes_away):
    """Item 12: the API and the chat said a bare 500 / "Something went wrong"."""
    server, key, stop, start = chroma_that_goes_away
    assert httpx.post(server.url + "/api/v1/ask", json=QUESTION, headers=key, timeout=60).status_code == 200
    chat = Socket(server, signed_in(server, "alice", "alice-pw"))
    try:
        stop()
        down = httpx.post(server.url + "/api/v1/ask", json=QUESTION, headers=key, timeout=60)
        assert (down.status_code, down.json()) == (503, {"detail": UNREACHABLE})
        said = chat.ask("How long is the Nile?", saved=False)
        assert said.text.replace("\\", "") == UNREACHABLE

        start()
        again = httpx.post(server.url + "/api/v1/ask", json=QUESTION, headers=key, timeout=60)
        assert again.status_code == 200 and "6,650" in again.json()["answer"]
        assert chat.ask("How long is the Nile?").text
    finally:
        chat.close()


@contextlib.contextmanager
def database_locked(live_server):
    """Another process's write lock on the live server's SQLite database, as ``sqlite3`` holding
    ``BEGIN IMMEDIATE`` would: readers go on (WAL), writers wait."""
    import sqlite3

    locker = sqlite3.connect(live_server.data_dir / "groundloop.sqlite", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        locker.execute("ROLLBACK")
        locker.close()


def test_a_locked_database_still_answers_with_a_notice_and_feedback_gets_a_503(live_server):
    """Item 11: a question waited 60 s for the lock and was then refused; feedback was a 500."""
    from app.answering import NOT_SAVED
    from feedback.db import DatabaseUnavailable

    key = {"Authorization": f"Bearer {live_server.keys['all']}"}
    earlier = httpx.post(live_server.url + "/api/v1/ask", json=QUESTION, headers=key, timeout=60).json()["answer_id"]
    with database_locked(live_server):
        answered = httpx.post(live_server.url + "/api/v1/ask", json={**QUESTION, "thread_id": "locked-1"},
                              headers=key, timeout=20)  # the old code waited 60 s
        assert answered.status_code == 200, answered.text
        body = answered.json()
        assert "6,650" in body["answer"] and body["answer_id"] is None and NOT_SAVED in body["notice"]
        refused = httpx.post(f"{live_server.url}/api/v1/answers/{earlier}/feedback", json={"thumb": "up"},
                             headers=key, timeout=60)
        assert (refused.status_code, refused.json()) == (503, {"detail": str(DatabaseUnavailable(
            "The feedback database cannot be reached right now; nothing was saved."))})
    saved = httpx.post(live_server.url + "/api/v1/ask", json=QUESTION, headers=key, timeout=60).json()
    assert saved["answer_id"] and not saved["notice"]


def test_every_command_with_the_database_down_prints_one_line(tmp_path):
    """Item 11: ``groundloop models list`` printed a traceback."""
    import subprocess

    from tests.e2e.conftest import GROUNDLOOP, _env

    for command in (["models", "list"], ["users", "list"], ["keys", "list"], ["export", "--format", "jsonl"]):
        done = subprocess.run([str(GROUNDLOOP), "--data-dir", str(tmp_path / "data"), *command], cwd=tmp_path,
                              env=_env(database_url="postgresql+psycopg://u:p@127.0.0.1:1/x"),
                              capture_output=True, text=True, timeout=120)
        lines = (done.stdout + done.stderr).strip().splitlines()
        assert done.returncode == 1 and len(lines) == 1, (command, lines[-3:])
        assert lines[0].startswith("error: The feedback database cannot be reached"), lines
