"""Many people writing at once lose nothing and see no error; a killed process keeps what it acknowledged."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import select

from benchmarks import feedback as workload
from feedback import accounts, answer_log, migrate, opinions
from feedback.db import Database
from feedback.models import Event, Feedback

ROOT = Path(__file__).resolve().parents[2]


def test_concurrent_sessions_write_every_row(db):
    """The benchmark's workload, smaller: 10 sessions × 20 writes of every kind, all at once."""
    result = workload.run(db, workload.prepare(db, 10), writes=20)

    assert result.errors == []
    assert (result.rows, result.events) == (200, 200)
    with db.read() as session:
        kinds = [f.kind for f in session.exec(select(Feedback))]
    assert {kind: kinds.count(kind) for kind in workload.KINDS} == dict.fromkeys(workload.KINDS, 50)


@pytest.mark.parametrize("kind", ["thumb", "source_mark"])
def test_concurrent_clicks_by_one_person_leave_one_current_signal(db, alice, make_answer, kind):
    """Two tabs, many clicks on each of ten answers: one current thumb (or mark) each, every click logged."""
    answers = [make_answer(alice).id for _ in range(10)]

    def click(db, session, n):
        who = {"answer_id": session.answer_ids[n], "user_id": session.user_id}
        if kind == "thumb":
            opinions.record_thumb(db, **who, up=n % 2 == 0)
        else:
            opinions.record_source_mark(db, **who, rank=1, relevant=n % 2 == 0)

    result = workload.run(db, [workload.Session(alice.id, answers)] * 8, writes=10, do=click)

    assert result.errors == []
    with db.read() as session:
        signals = list(session.exec(select(Feedback)))
        logged = list(session.exec(select(Event).where(Event.action == kind)))
    assert sorted(f.answer_id for f in signals) == sorted(answers)
    assert len(logged) == 80


CHILD = """
import sys
from feedback import opinions
from feedback.db import Database

db = Database(sys.argv[1])
for n in range(10_000):
    row = opinions.record_comment(db, answer_id=sys.argv[2], user_id=sys.argv[3], text=f"comment {n}")
    print(row.id, flush=True)
"""


def test_a_killed_writer_keeps_what_it_acknowledged(tmp_path):
    """SIGKILL right after an acknowledged write, in the middle of the next one: no row lost, no damage."""
    path = tmp_path / "feedback.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    user = accounts.add_user(db, identifier="alice")
    answer = answer_log.record_answer(
        db, question="q", standalone_question="q", answer="a", answerer="test", verdict="ok",
        reasons=[], timings_ms={}, citations=[], user_id=user.id,
    )
    db.dispose()

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"sqlite:///{path}", answer.id, user.id],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    acknowledged = [child.stdout.readline().strip() for _ in range(25)]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL, child.stderr.read()
    assert all(acknowledged), child.stderr.read()

    raw = create_engine(f"sqlite:///{path}")
    with raw.connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalars().all() == ["ok"]
        stored = set(connection.execute(text("SELECT id FROM feedback")).scalars())
    raw.dispose()
    assert set(acknowledged) <= stored


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, embeddings):
    """``groundloop serve`` (a real process) over two small documents, with five people and their keys."""
    from app import components
    from app.settings import Settings
    from feedback import keys
    from retrieval.ingest import ingest
    from tests.e2e.conftest import Server

    root = tmp_path_factory.mktemp("served")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "nile.md").write_text("# The Nile\n\nThe Nile flows north into the Mediterranean Sea.\n")
    (corpus / "tea.md").write_text("# Green tea\n\nGreen tea is steeped at about 80 degrees Celsius.\n")
    settings = Settings(data_dir=root / "data", chroma_url=None)
    ingest(components.open_index(settings), [corpus], chunk_size=2000, chunk_overlap=200, max_bytes=10**6)
    db = components.database(settings)
    people = {}
    for n in range(5):
        user = accounts.add_user(db, identifier=f"person{n}")
        people[user.id] = keys.create_key(db, identifier=user.identifier, scopes="ask,feedback")[1]
    db.dispose()
    server = Server("concurrency", settings.data_dir, root, api_key_requests_per_minute="100000",
                    api_user_requests_per_minute="100000").wait_ready()
    try:
        yield server, people
    finally:
        server.stop()


def _post(url: str, key: str, body: dict) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_concurrent_feedback_through_the_running_server_writes_every_row(served):
    """Five people at once, each answered twice and then clicking 20 times through the REST API of a
    real server: every request is acknowledged, every write is stored and logged once."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.e2e.conftest import server_db

    server, people = served
    api = server.url + "/api/v1"

    def person(user_id: str, key: str) -> list[int]:
        answers = []
        for question in ("Which sea does the Nile flow into?", "How hot is green tea steeped?"):
            status, body = _post(api + "/ask", key, {"question": question})
            assert status == 200, body
            answers.append(body["answer_id"])
        statuses = []
        for n in range(20):
            answer = answers[n % 2]
            body = ({"thumb": "up" if n % 4 < 2 else "down"} if n % 3 == 0 else
                    {"comment": f"comment {n}"} if n % 3 == 1 else {"sources": [{"n": 1, "relevant": n % 2 == 0}]})
            statuses.append(_post(f"{api}/answers/{answer}/feedback", key, body)[0])
        return statuses

    with ThreadPoolExecutor(max_workers=len(people)) as pool:
        results = list(pool.map(lambda item: person(*item), people.items()))
    assert results == [[200] * 20] * len(people)

    with server_db(server) as db, db.read() as session:
        rows = list(session.exec(select(Feedback)))
        logged = list(session.exec(select(Event).where(Event.action.in_(("thumb", "comment", "source_mark")))))
    assert len(logged) == 20 * len(people)
    per_person = {user_id: [f.kind for f in rows if f.user_id == user_id] for user_id in people}
    assert all(sorted(kinds) == ["comment"] * 7 + ["source_mark"] * 2 + ["thumb"] * 2 for kinds in per_person.values())


def test_the_running_server_opens_one_database(served):
    """Every part of the server (chat, data layer, API, review pages, metrics, health) shares the
    composition root's one database: its /metrics says how many this process opened."""
    import re
    import urllib.request

    server, people = served
    _post(server.url + "/api/v1/ask", next(iter(people.values())), {"question": "Where does the Nile flow?"})
    for path in ("/readyz", "/review", "/chat/", "/metrics"):
        try:
            urllib.request.urlopen(server.url + path, timeout=60).close()
        except OSError:
            pass  # the review page refuses without a sign-in; it has still been asked
    with urllib.request.urlopen(server.url + "/metrics", timeout=60) as response:
        text = response.read().decode()
    assert re.search(r"^groundloop_process_databases_opened (\S+)$", text, re.M).group(1) == "1.0"
