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
