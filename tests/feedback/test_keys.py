"""API keys in the database (SQLite and PostgreSQL): the check, the once-a-minute last-used note,
events for every write, the cascade when a user goes, and migration 0004 keeping older rows."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlmodel import select

from feedback import accounts, keys, migrate
from feedback.keys import InvalidKey, RevokedKey
from feedback.models import ApiKey, Event, User
from tests.feedback.test_migrations import columns, differences

API_KEYS_COLUMNS = ["id", "user_id", "name", "prefix", "secret_hash", "scopes", "created_at", "last_used_at",
                    "revoked_at"]


def actions(db) -> list[str]:
    with db.read() as session:
        return [e.action for e in session.exec(select(Event).where(Event.subject_type == "api_keys").order_by(Event.id))]


def test_a_key_opens_only_as_it_was_given(db, alice):
    row, key = keys.create_key(db, identifier="alice", scopes=["feedback", "ask"], name="bot")
    assert row.scopes == ["ask", "feedback"]
    holder = keys.check_key(db, key=key)
    assert (holder.key.id, holder.user.identifier) == (row.id, "alice")

    other_row, other = keys.create_key(db, identifier="alice", scopes="ask")
    forged = f"gl_{row.prefix}_{other.split('_', 2)[2]}"  # a real secret under another key's prefix
    for wrong in [forged, key + "x", key.upper(), "", "gl_", "gl_zz_zz", f"gl_{row.prefix}_"]:
        with pytest.raises(InvalidKey, match="^This API key is not valid.$"):
            keys.check_key(db, key=wrong)
    keys.revoke_key(db, prefix=row.prefix)
    with pytest.raises(RevokedKey, match="^This API key was revoked.$"):
        keys.check_key(db, key=key)
    assert keys.check_key(db, key=other).key.id == other_row.id
    assert actions(db) == ["api_key_created", "api_key_created", "api_key_revoked"]


def test_last_use_is_noted_at_most_once_a_minute(db, alice):
    row, _ = keys.create_key(db, identifier="alice", scopes="ask")
    first = row.created_at + timedelta(seconds=5)
    assert keys.touch_key(db, key_id=row.id, at=first)
    assert not keys.touch_key(db, key_id=row.id, at=first + timedelta(seconds=59))
    assert keys.touch_key(db, key_id=row.id, at=first + timedelta(seconds=61))
    (stored, _), = keys.list_keys(db)
    assert stored.last_used_at == first + timedelta(seconds=61)
    assert not keys.needs_touch(stored, first + timedelta(seconds=100))
    assert actions(db) == ["api_key_created", "api_key_used", "api_key_used"]


def test_a_users_keys_go_with_them(db, alice, bob):
    keys.create_key(db, identifier="alice", scopes="ask")
    keys.create_key(db, identifier="bob", scopes="ask")
    with db.write() as session:
        session.delete(session.get(User, alice.id))
    assert [user for _, user in keys.list_keys(db)] == ["bob"]


def test_rows_written_at_0003_survive_0004(blank_db):
    migrate.upgrade(blank_db, "0003")
    assert "api_keys" not in columns(blank_db)
    with blank_db.write() as session:  # as 0003's users table holds her: today's model has later columns
        session.execute(
            sa.text("INSERT INTO users (id, identifier, role, password_hash, export_opt_out, created_at) "
                    "VALUES ('carol-id', 'carol', 'reviewer', :hash, false, :at)"),
            {"hash": PasswordHasher().hash("pw"), "at": datetime.now(UTC)},
        )

    migrate.upgrade(blank_db)

    assert migrate.current(blank_db) == migrate.head()
    assert columns(blank_db)["api_keys"] == API_KEYS_COLUMNS
    assert differences(blank_db) == []
    indexes = {i["name"]: (i["column_names"], bool(i["unique"])) for i in sa.inspect(blank_db.engine).get_indexes("api_keys")}
    assert indexes == {"ix_api_keys_prefix": (["prefix"], True), "ix_api_keys_user_id": (["user_id"], False)}
    assert accounts.authenticate(blank_db, identifier="carol", password="pw").role == "reviewer"
    row, key = keys.create_key(blank_db, identifier="carol", scopes="export")
    assert keys.check_key(blank_db, key=key).key.id == row.id
    with blank_db.read() as session:
        assert session.get(ApiKey, row.id).scopes == ["export"]
