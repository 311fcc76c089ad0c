"""The feedback tables. Timestamps are timezone-aware UTC; ids are strings (Chainlit's uuids)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, TypeDecorator, text
from sqlmodel import Field, SQLModel

from feedback.names import ROLES  # noqa: F401  (re-exported)


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on every database: SQLite keeps no zone, so it is put back on reading."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(**kwargs: Any) -> Any:
    return Field(default_factory=now, sa_column=Column(UTCDateTime, nullable=False, **kwargs))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: str = Field(default_factory=new_id, primary_key=True)
    identifier: str = Field(unique=True, index=True, max_length=200)
    role: str = Field(default="user", max_length=20)
    password_hash: str | None = Field(default=None, max_length=300)
    export_opt_out: bool = False
    created_at: datetime = _when()
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Sign-in tokens carry the version they were issued under; a bump ends all of them (feedback.sessions)."""


class Group(SQLModel, table=True):
    """A group of people that documents can be given to (``everyone`` is built in, never stored)."""

    __tablename__ = "groups"
    name: str = Field(primary_key=True, max_length=50)
    created_at: datetime = _when()


class GroupMember(SQLModel, table=True):
    """A person in a group."""

    __tablename__ = "group_members"
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    group_name: str = Field(foreign_key="groups.name", ondelete="CASCADE", primary_key=True, max_length=50)


class Thread(SQLModel, table=True):
    """A chat conversation, as Chainlit stores it."""

    __tablename__ = "threads"
    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str | None = Field(default=None, foreign_key="users.id", ondelete="CASCADE", index=True)
    name: str | None = Field(default=None, max_length=500)
    tags: list[str] = _json(list)
    meta: dict = _json(dict)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Step(SQLModel, table=True):
    """A message or step of a thread; ``data`` keeps the rest of Chainlit's step as it sent it."""

    __tablename__ = "steps"
    id: str = Field(default_factory=new_id, primary_key=True)
    thread_id: str = Field(foreign_key="threads.id", ondelete="CASCADE", index=True)
    parent_id: str | None = None
    type: str = Field(max_length=50)
    name: str = Field(default="", max_length=500)
    input: str = ""
    output: str = ""
    data: dict = _json(dict)
    created_at: datetime = _when()


class Element(SQLModel, table=True):
    """A file or text attached to a step (the sources shown with an answer)."""

    __tablename__ = "elements"
    id: str = Field(default_factory=new_id, primary_key=True)
    thread_id: str | None = Field(default=None, foreign_key="threads.id", ondelete="CASCADE", index=True)
    for_id: str | None = Field(default=None, index=True)
    type: str = Field(max_length=50)
    name: str = Field(max_length=500)
    content: str | None = None
    data: dict = _json(dict)
    created_at: datetime = _when()


class Answer(SQLModel, table=True):
    __tablename__ = "answers"
    id: str = Field(default_factory=new_id, primary_key=True)
    step_id: str | None = Field(default=None, unique=True, max_length=100)
    thread_id: str | None = Field(default=None, foreign_key="threads.id", ondelete="CASCADE", index=True)
    user_id: str | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL", index=True)
    question: str
    standalone_question: str
    answer: str
    answerer: str = Field(max_length=200)
    ranker_version: str = Field(default="fusion", max_length=100)
    verdict: str = Field(max_length=20)
    reasons: list[str] = _json(list)
    timings_ms: dict = _json(dict)
    created_at: datetime = _when(index=True)


class Citation(SQLModel, table=True):
    """A source exactly as it was shown with an answer."""

    __tablename__ = "citations"
    id: str = Field(default_factory=new_id, primary_key=True)
    answer_id: str = Field(foreign_key="answers.id", ondelete="CASCADE", index=True)
    rank: int
    doc_id: str
    chunk_id: str = Field(max_length=100)
    title: str = ""
    source: str = ""
    score: float
    similarity: float
    cited: bool
    groups: list[str] = Field(
        default_factory=lambda: ["everyone"],
        sa_column=Column(JSON, nullable=False, server_default=text("'[\"everyone\"]'")),
    )
    """The groups that could see the source when it was shown: what counts once it is no longer indexed."""


class Feedback(SQLModel, table=True):
    """One signal from one person about one answer.

    A person has at most one current thumb per answer and one current mark per shown source:
    a new one replaces it (the partial unique indexes below); comments and corrections add up.
    """

    __tablename__ = "feedback"
    __table_args__ = (
        Index(
            "uq_feedback_thumb",
            "answer_id",
            "user_id",
            unique=True,
            sqlite_where=text("kind = 'thumb'"),
            postgresql_where=text("kind = 'thumb'"),
        ),
        Index(
            "uq_feedback_source_mark",
            "answer_id",
            "user_id",
            "citation_id",
            unique=True,
            sqlite_where=text("kind = 'source_mark'"),
            postgresql_where=text("kind = 'source_mark'"),
        ),
    )
    id: str = Field(default_factory=new_id, primary_key=True)
    answer_id: str = Field(foreign_key="answers.id", ondelete="CASCADE", index=True)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    kind: str = Field(max_length=20)
    value: int | None = None
    text: str | None = None
    citation_id: str | None = Field(default=None, foreign_key="citations.id", ondelete="CASCADE")
    doc_ids: list[str] = _json(list)
    created_at: datetime = _when(index=True)
    updated_at: datetime = _when()


class Event(SQLModel, table=True):
    """Append-only audit log: who did what to what, when."""

    __tablename__ = "events"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(index=True)
    actor_id: str | None = Field(default=None, max_length=100)
    action: str = Field(max_length=50)
    subject_type: str = Field(max_length=50)
    subject_id: str = Field(max_length=100)
    data: dict = _json(dict)


class Review(SQLModel, table=True):
    """A reviewer's decision on an answer; an approved one names the right answer and sources."""

    __tablename__ = "reviews"
    id: str = Field(default_factory=new_id, primary_key=True)
    answer_id: str = Field(foreign_key="answers.id", ondelete="CASCADE", index=True)
    reviewer_id: str = Field(foreign_key="users.id", ondelete="CASCADE")
    decision: str = Field(max_length=20)
    """``approved`` (the correction, maybe edited, is right), ``rejected``."""
    text: str | None = None
    doc_ids: list[str] = _json(list)
    created_at: datetime = _when(index=True)


class RankerVersion(SQLModel, table=True):
    """A ranker learned from feedback: its files, how it measured, and whether it serves."""

    __tablename__ = "ranker_versions"
    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(unique=True, max_length=50)
    path: str
    status: str = Field(max_length=20)
    """``active`` (serving; at most one), ``inactive`` (served before), ``rolled_back``, ``rejected`` (lost the gate)."""
    metrics: dict = _json(dict)
    counts: dict = _json(dict)
    created_at: datetime = _when()
    activated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


ModelVersion = RankerVersion
"""The older name (a ranker was once called a model here)."""


class Stamp(SQLModel, table=True):
    """How often a kind of state (``rankers``, ``reviews``) changed: bumped by the writer that changes it."""

    __tablename__ = "stamps"
    name: str = Field(primary_key=True, max_length=50)
    value: int


class ApiKey(SQLModel, table=True):
    """A key a program uses for the API on someone's behalf. Only a hash of the secret is kept;
    ``prefix`` is the public part of the key, shown in listings and used to find it."""

    __tablename__ = "api_keys"
    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=200)
    prefix: str = Field(unique=True, index=True, max_length=20)
    secret_hash: str = Field(max_length=64)
    scopes: list[str] = _json(list)
    created_at: datetime = _when()
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class WebhookDelivery(SQLModel, table=True):
    """One event on its way to one webhook target; the events table is the outbox it reads from."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("uq_webhook_deliveries_event_target", "event_id", "target", unique=True),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="events.id", ondelete="CASCADE")
    target: str = Field(max_length=2000)
    status: str = Field(default="pending", max_length=20)
    """``pending`` (sent at ``next_attempt_at``), ``delivered``, ``failed`` (gave up after the last attempt)."""
    attempts: int = 0
    next_attempt_at: datetime = _when()
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _when()
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class Cursor(SQLModel, table=True):
    """How far one reader of the events table (the outbox) has passed its events on, e.g. to the
    Redis Stream: the last event id handed over for good, moved only after the handover succeeded."""

    __tablename__ = "cursors"
    name: str = Field(primary_key=True, max_length=100)
    event_id: int
    updated_at: datetime = _when()


class Source(SQLModel, table=True):
    """A folder or an SQL query that syncs keep the index in step with (``groundloop sources``).

    The columns after ``created_at`` are the sync's state: when it is next due, how many syncs in a row
    failed and why the last did, and the lock that lets one sync of a source run at a time anywhere: a
    holder and a lease (a holder that dies lets go when its lease ends)."""

    __tablename__ = "sources"
    name: str = Field(primary_key=True, max_length=50)
    kind: str = Field(max_length=10)
    """``folder`` or ``sql``."""
    config: dict = _json(dict)
    """folder: ``path``; sql: ``url``, ``query``, ``id_column``, ``text_columns``, ``title_column``, ``updated_column``."""
    shown: str = Field(max_length=2000)
    """Where it reads from as it may be shown: the folder, or the SQL URL with its password masked."""
    groups: list[str] = _json(list)
    mark: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """The highest updated value an SQL source has read (``retrieval.sql_source.mark_of``)."""
    created_at: datetime = _when()
    due_at: datetime = _when(index=True)
    synced_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    """When the last sync that worked ended."""
    failures: int = 0
    """Syncs in a row that failed; 0 once one works."""
    last_error: str | None = Field(default=None, max_length=500)
    lock_holder: str | None = Field(default=None, max_length=100)
    lock_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class SyncRun(SQLModel, table=True):
    """One sync of one source: who ran it, when, and what it did to the index."""

    __tablename__ = "sync_runs"
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(foreign_key="sources.name", ondelete="CASCADE", index=True, max_length=50)
    holder: str = Field(max_length=100)
    full: bool = False
    status: str = Field(default="running", max_length=20)
    """``running``, ``finished`` or ``failed``."""
    started_at: datetime = _when()
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    error: str | None = Field(default=None, max_length=500)
