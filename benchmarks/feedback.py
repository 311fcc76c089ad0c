"""Feedback writes under concurrency: sessions writing at once through the writers, on SQLite and PostgreSQL.

    python -m benchmarks.feedback [--sessions 50] [--writes 20] [--database sqlite --database postgres]

Each session is a signed-in person with answers of their own; each write is a thumb, a comment, a
source mark or a correction, and each adds one feedback row. The table reports the rows found
afterwards (which must be sessions × writes), the errors that would have reached a person, the write
rate (target: 500/s on SQLite) and how long a person waited for a write. PostgreSQL is a private
server started from Debian's binaries, with fsync on.
"""

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlmodel import func, select

from feedback import accounts, answer_log, migrate, opinions
from feedback.db import Database
from feedback.models import Event, Feedback
from tests import postgres

ANSWERS_PER_SESSION = 5
SOURCES_PER_ANSWER = 3
KINDS = ("thumb", "comment", "source_mark", "correction")
MAX_WRITES = ANSWERS_PER_SESSION * len(KINDS)
SQLITE_TARGET = 500  # writes/s; on PostgreSQL the target is only that every row is there


@dataclass
class Session:
    user_id: str
    answer_ids: list[str]


@dataclass
class Run:
    rows: int
    events: int
    seconds: float
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def writes_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def prepare(db: Database, sessions: int) -> list[Session]:
    """People with answers of their own to give feedback on (not timed)."""
    prepared = []
    for s in range(sessions):
        user = accounts.add_user(db, identifier=f"person-{s}")
        answers = [_answer(db, user.id, f"question {s}.{a}").id for a in range(ANSWERS_PER_SESSION)]
        prepared.append(Session(user.id, answers))
    return prepared


def write(db: Database, session: Session, n: int) -> None:
    """The n-th write of a session: each kind in turn, cycling over the session's answers, each a new row."""
    answer_id = session.answer_ids[n % ANSWERS_PER_SESSION]
    kind = KINDS[(n // ANSWERS_PER_SESSION) % len(KINDS)]
    rank = 1 + n % SOURCES_PER_ANSWER
    who = {"answer_id": answer_id, "user_id": session.user_id}
    if kind == "thumb":
        opinions.record_thumb(db, **who, up=n % 2 == 0)
    elif kind == "comment":
        opinions.record_comment(db, **who, text=f"comment {n}")
    elif kind == "source_mark":
        opinions.record_source_mark(db, **who, rank=rank, relevant=n % 2 == 0)
    else:
        opinions.record_correction(db, **who, text=f"correction {n}", ranks=[rank])


def run(db: Database, sessions: list[Session], writes: int, *, do: Callable = write) -> Run:
    """All sessions at once, one thread each; a write that raises counts as an error a person would see."""
    if writes > MAX_WRITES:
        raise ValueError(f"At most {MAX_WRITES} writes per session: past that, a thumb replaces one, adding no row.")
    start = threading.Barrier(len(sessions) + 1)
    errors: list[str] = []
    latencies: list[float] = []

    def one_session(session: Session) -> None:
        start.wait()
        for n in range(writes):
            began = time.perf_counter()
            try:
                do(db, session, n)
            except Exception as error:  # noqa: BLE001 - counted and reported, as a person would see it
                errors.append(f"{type(error).__name__}: {error}")
            latencies.append((time.perf_counter() - began) * 1000)

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        futures = [pool.submit(one_session, s) for s in sessions]
        start.wait()
        began = time.perf_counter()
        for future in futures:
            future.result()
        seconds = time.perf_counter() - began
    with db.read() as session:
        rows = session.exec(select(func.count()).select_from(Feedback)).one()
        events = session.exec(select(func.count()).select_from(Event).where(Event.action.in_(KINDS))).one()
    return Run(rows=rows, events=events, seconds=seconds, errors=errors, latencies_ms=latencies)


def _answer(db: Database, user_id: str, question: str):
    return answer_log.record_answer(
        db, question=question, standalone_question=question, answer="An answer [1].", answerer="bench",
        verdict="ok", reasons=[], timings_ms={"total": 1.0}, user_id=user_id,
        citations=[
            {"n": n, "doc_id": f"doc-{n}", "chunk_id": f"doc-{n}#0", "title": f"Doc {n}", "source": f"doc-{n}.md",
             "score": 1.0 / n, "similarity": 0.5, "cited": n == 1}
            for n in range(1, SOURCES_PER_ANSWER + 1)
        ],
    )


def measure(url: str, sessions: int, writes: int) -> Run:
    db = Database(url)
    try:
        migrate.upgrade(db)
        return run(db, prepare(db, sessions), writes)
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--writes", type=int, default=20, help="Feedback writes per session.")
    parser.add_argument("--database", action="append", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    if not 0 < args.writes <= MAX_WRITES:
        parser.error(f"--writes: 1 to {MAX_WRITES} (past that, a new thumb replaces an old one and adds no row)")
    console = Console()
    expected = args.sessions * args.writes
    table = Table("database", "rows", "errors", "events", "s", "writes/s", "p50 ms", "p95 ms",
                  title=f"Feedback: {args.sessions} sessions × {args.writes} writes = {expected} rows expected")
    failures, verdicts = [], []
    for name in args.database or ["sqlite", "postgres"]:
        if name == "sqlite":
            with tempfile.TemporaryDirectory(prefix="groundloop-bench-") as folder:
                result = measure(f"sqlite:///{Path(folder) / 'feedback.db'}", args.sessions, args.writes)
        else:
            server = postgres.start(durable=True)
            try:
                result = measure(server.create_database("bench"), args.sessions, args.writes)
            finally:
                server.stop()
        met = result.rows == expected and not result.errors
        met = met and (name != "sqlite" or result.writes_per_second >= SQLITE_TARGET)
        table.add_row(name, str(result.rows), str(len(result.errors)), str(result.events),
                      f"{result.seconds:.2f}", f"{result.writes_per_second:.0f}",
                      f"{np.percentile(result.latencies_ms, 50):.1f}", f"{np.percentile(result.latencies_ms, 95):.1f}")
        verdicts.append(f"{name}: target {'met' if met else '[red]missed[/red]'}")
        failures += [f"{name}: {e}" for e in result.errors[:5]]
    console.print(table)
    console.print(f"{'; '.join(verdicts)} (every row, no error; SQLite ≥ {SQLITE_TARGET} writes/s)")
    for failure in failures:
        console.print(f"[red]{failure}")


if __name__ == "__main__":
    main()
