"""Every storage test runs twice: on a real SQLite file and on a fresh database in a real PostgreSQL."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from feedback import accounts, answer_log, migrate
from feedback.db import Database
from feedback.models import Answer, User


@pytest.fixture(params=["sqlite", "postgres"])
def blank_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with no tables yet."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'feedback.db'}")
        yield db
        db.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database("test")
    db = Database(url)
    yield db
    db.dispose()
    server.drop_database(url)


@pytest.fixture
def db(blank_db: Database) -> Database:
    """A database at the newest revision."""
    migrate.upgrade(blank_db)
    return blank_db


@pytest.fixture
def alice(db: Database) -> User:
    return accounts.add_user(db, identifier="alice")


@pytest.fixture
def bob(db: Database) -> User:
    return accounts.add_user(db, identifier="bob")


@pytest.fixture
def make_answer(db: Database) -> Callable[..., Answer]:
    """Record an answer that showed ``sources`` sources, [1] citing doc-1 and so on."""

    def make(user: User | None, sources: int = 3, question: str = "Why is the sky blue?") -> Answer:
        return answer_log.record_answer(
            db, question=question, standalone_question=question, answer="Rayleigh scattering [1].",
            answerer="extractive", verdict="ok", reasons=[], timings_ms={"total": 12.5},
            user_id=user.id if user else None,
            citations=[
                {"n": n, "doc_id": f"doc-{n}", "chunk_id": f"doc-{n}#0", "title": f"Doc {n}",
                 "source": f"docs/doc-{n}.md", "score": 1.0 / n, "similarity": 0.9 - n / 10, "cited": n == 1}
                for n in range(1, sources + 1)
            ],
        )

    return make
