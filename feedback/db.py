"""The feedback database: SQLite by default (WAL, busy timeout, one writer at a time), or PostgreSQL."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, create_engine

from retrieval.errors import GroundloopError


BUSY_SECONDS = 30
"""How long a write waits for another writer's lock on SQLite, unless told otherwise."""


class DatabaseUnavailable(GroundloopError):
    """The database cannot be reached; nothing was written."""


class Database:
    """``read()`` and ``write()`` sessions; on SQLite, writes begin IMMEDIATE on an engine of their own,
    so concurrent writers queue on the busy timeout instead of failing with "database is locked".
    """

    opened = 0
    """How many were made in this process: a server makes one (its ``/metrics`` says so)."""

    def __init__(self, url: str) -> None:
        Database.opened += 1
        self.url = url
        self.wait: float | None = None
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(url, begin="BEGIN")
            # One writer connection per process: its threads queue in the pool rather than spin in
            # SQLite's busy handler; BEGIN IMMEDIATE and the busy timeout order separate processes.
            self.writer = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1, max_overflow=0, pool_timeout=30)
        else:
            self.engine = self.writer = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _unavailable_as_error(), Session(self.engine) as session:
            yield session

    @contextmanager
    def write(self, *, wait: float | None = None) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises. ``wait``: on
        SQLite, the seconds to wait for a lock another process holds (else BUSY_SECONDS), for a
        write that someone is waiting on and that may rather fail fast."""
        wait = wait if wait is not None else self.wait
        writer = self.writer.execution_options(busy_ms=int(wait * 1000)) if wait and self.is_sqlite else self.writer
        with _unavailable_as_error(), Session(writer, expire_on_commit=False) as session:
            yield session
            session.commit()

    def impatient(self, wait: float) -> "Database":
        """The same database (same engines and pools) whose writes wait at most ``wait`` seconds
        for another process's lock: for a write that a person is waiting on."""
        copy = object.__new__(Database)
        copy.__dict__.update(self.__dict__, wait=wait)
        return copy

    def dispose(self) -> None:
        self.engine.dispose()
        self.writer.dispose()


@contextmanager
def _unavailable_as_error() -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError, PoolTimeout) as error:
        raise DatabaseUnavailable("The feedback database cannot be reached right now; nothing was saved.") from error


def _sqlite_engine(url: str, *, begin: str, **pool: Any) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)

    @event.listens_for(engine, "connect")
    def on_connect(connection, _record) -> None:
        connection.isolation_level = None  # pysqlite must not begin on its own: see on_begin
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        busy_ms = connection.get_execution_options().get("busy_ms", BUSY_SECONDS * 1000)
        connection.exec_driver_sql(f"PRAGMA busy_timeout={int(busy_ms)}")
        connection.exec_driver_sql(begin)

    return engine
