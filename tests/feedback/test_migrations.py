"""Alembic migrations: an empty database and one at the previous revision both end at the models' exact schema."""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from feedback import accounts, answer_log, migrate, opinions
from feedback.db import Database
from feedback.models import SQLModel

FEEDBACK_TABLES = {"users", "threads", "steps", "elements", "answers", "citations", "feedback", "events"}
REVISION_0001 = {
    "users": ["id", "identifier", "role", "password_hash", "export_opt_out", "created_at"],
    "threads": ["id", "user_id", "name", "tags", "meta", "created_at", "updated_at"],
    "steps": ["id", "thread_id", "parent_id", "type", "name", "input", "output", "data", "created_at"],
    "elements": ["id", "thread_id", "for_id", "type", "name", "content", "data", "created_at"],
}
ADDED_SINCE_0001 = {"users": {"session_version": 0}}
"""Columns later revisions added to 0001's tables, with the value old rows get."""
WHEN = datetime(2024, 5, 17, 9, 30, 15, 123456, tzinfo=UTC)
OLD_ROWS = {
    "users": [
        {"id": "u1", "identifier": "alice", "role": "admin", "password_hash": None, "export_opt_out": True,
         "created_at": WHEN},
        {"id": "u2", "identifier": "bob", "role": "user", "password_hash": None, "export_opt_out": False,
         "created_at": WHEN},
    ],
    "threads": [
        {"id": "t1", "user_id": "u1", "name": "Volcanoes", "tags": ["geo", "ünïcode"], "meta": {"n": 1, "x": [1, 2]},
         "created_at": WHEN, "updated_at": WHEN},
    ],
    "steps": [
        {"id": "s1", "thread_id": "t1", "parent_id": None, "type": "user_message", "name": "alice",
         "input": "", "output": "Why do volcanoes erupt?", "data": {}, "created_at": WHEN},
        {"id": "s2", "thread_id": "t1", "parent_id": "s1", "type": "assistant_message", "name": "groundloop",
         "input": "", "output": "Magma rises [1].", "data": {"language": "en"}, "created_at": WHEN},
    ],
    "elements": [
        {"id": "e1", "thread_id": "t1", "for_id": "s2", "type": "text", "name": "[1]", "content": "Magma…",
         "data": {"display": "side"}, "created_at": WHEN},
    ],
}


def columns(db: Database) -> dict[str, list[str]]:
    inspector = sa.inspect(db.engine)
    return {t: [c["name"] for c in inspector.get_columns(t)] for t in inspector.get_table_names()}


def schema(db: Database) -> dict:
    """Everything alembic could change: tables, columns with types and nullability, indexes."""
    inspector = sa.inspect(db.engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)),
        )
        for table in inspector.get_table_names()
    }


def differences(db: Database) -> list:
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)


def read_all(db: Database, table: str) -> list[dict]:
    with db.engine.connect() as connection:
        reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
        query = sa.select(reflected).order_by(*reflected.primary_key.columns)
        return [dict(row._mapping) for row in connection.execute(query)]


def same_rows(stored: list[dict], expected: list[dict]) -> bool:
    """Equal, reading naive timestamps (SQLite keeps no zone) as the UTC they were written in."""
    def aware(row: dict) -> dict:
        return {k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v for k, v in row.items()}

    return [aware(r) for r in stored] == expected


def test_an_empty_database_gets_exactly_the_models_schema(blank_db):
    assert migrate.current(blank_db) is None
    migrate.upgrade(blank_db)

    assert migrate.current(blank_db) == migrate.head()
    expected = {name: [c.name for c in table.columns] for name, table in SQLModel.metadata.tables.items()}
    assert FEEDBACK_TABLES <= set(expected)
    assert columns(blank_db) == {**expected, "alembic_version": ["version_num"]}
    assert differences(blank_db) == []
    indexes = {i["name"]: i["column_names"] for i in sa.inspect(blank_db.engine).get_indexes("feedback")}
    assert indexes["uq_feedback_thumb"] == ["answer_id", "user_id"]
    assert indexes["uq_feedback_source_mark"] == ["answer_id", "user_id", "citation_id"]


def test_rows_written_at_0001_survive_the_upgrade(blank_db):
    migrate.upgrade(blank_db, "0001")
    assert migrate.current(blank_db) == "0001"
    assert columns(blank_db) == {**REVISION_0001, "alembic_version": ["version_num"]}
    missing = {d[1].name for d in differences(blank_db) if d[0] == "add_table"}
    assert missing == set(SQLModel.metadata.tables) - set(REVISION_0001)
    with blank_db.engine.begin() as connection:
        metadata = sa.MetaData()
        for table, rows in OLD_ROWS.items():
            connection.execute(sa.Table(table, metadata, autoload_with=connection).insert(), rows)

    migrate.upgrade(blank_db)

    assert migrate.current(blank_db) == migrate.head()
    assert differences(blank_db) == []
    for table, rows in OLD_ROWS.items():
        added = ADDED_SINCE_0001.get(table, {})
        assert columns(blank_db)[table] == REVISION_0001[table] + list(added)
        assert same_rows(read_all(blank_db, table), [{**row, **added} for row in rows]), table
    answer = answer_log.record_answer(
        blank_db, question="q", standalone_question="q", answer="a", answerer="test", verdict="ok",
        reasons=[], timings_ms={}, citations=[], user_id="u1", thread_id="t1", step_id="s2",
    )
    opinions.record_thumb(blank_db, answer_id=answer.id, user_id="u1", up=True)
    assert [f.value for f in opinions.feedback_on(blank_db, answer_id=answer.id)] == [1]


def test_upgrading_again_changes_nothing(db, alice):
    before = schema(db)
    migrate.upgrade(db)
    migrate.upgrade(db, "head")

    assert schema(db) == before
    assert read_all(db, "alembic_version") == [{"version_num": migrate.head()}]
    assert [u.identifier for u in accounts.list_users(db)] == ["alice"]


def test_rankers_trained_before_0006_are_kept_under_their_one_name(blank_db):
    """0006 renames model_versions to ranker_versions: every row stays, and so do its audit events."""
    migrate.upgrade(blank_db, "0005")
    row = {"version": "v1", "path": "rankers/v1", "status": "active", "metrics": {"held_out_ndcg@10": 0.7},
           "counts": {"questions": 3}, "created_at": WHEN, "activated_at": WHEN}
    event = {"at": WHEN, "actor_id": None, "action": "model_activated", "subject_type": "model_versions",
             "subject_id": "1", "data": {}}
    with blank_db.engine.begin() as connection:
        metadata = sa.MetaData()
        connection.execute(sa.Table("model_versions", metadata, autoload_with=connection).insert(), [row])
        connection.execute(sa.Table("events", metadata, autoload_with=connection).insert(), [event])

    migrate.upgrade(blank_db)

    assert "model_versions" not in columns(blank_db) and differences(blank_db) == []
    assert same_rows(read_all(blank_db, "ranker_versions"), [{"id": 1, **row}])
    assert same_rows(read_all(blank_db, "events"), [{"id": 1, **event, "action": "ranker_activated",
                                                     "subject_type": "ranker_versions"}])
    from feedback import ranker_versions

    assert ranker_versions.active_ranker(blank_db).version == "v1"
    ranker_versions.record_ranker_version(blank_db, version="v2", path="rankers/v2", active=True, metrics={},
                                          counts={})
    assert [(r.id, r.version, r.status) for r in ranker_versions.ranker_versions(blank_db)] == [
        (1, "v1", "inactive"), (2, "v2", "active")]
