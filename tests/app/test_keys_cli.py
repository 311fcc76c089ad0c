"""``groundloop keys``: a key is printed once and kept only as a hash; list shows no secret; revoke."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app import components
from app.cli import cli
from app.settings import Settings
from feedback import accounts, keys
from feedback.keys import RevokedKey
from retrieval.errors import GroundloopError

runner = CliRunner(env={"COLUMNS": "200"})  # a table row on one line


def run(data_dir: Path, *args: str):
    return runner.invoke(cli, ["--data-dir", str(data_dir), "keys", *args])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    accounts.add_user(components.database(Settings(data_dir=data)), identifier="ann")
    return data


def test_create_prints_the_key_once_and_keeps_only_its_hash(data):
    made = run(data, "create", "--user", "ann", "--scopes", "export,ask", "--name", "nightly export")
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert made.stdout == key + "\n" and key.startswith("gl_")  # only the key on stdout, for scripts
    db = components.database(Settings(data_dir=data))
    (row, user), = keys.list_keys(db)
    assert f"Key {row.prefix} for ann (ask, export)" in made.stderr and "not shown again" in made.stderr
    assert row.scopes == ["ask", "export"] and row.name == "nightly export" and user == "ann"
    assert key.split("_", 2)[2] not in row.secret_hash and len(row.secret_hash) == 64
    assert keys.check_key(db, key=key).user.identifier == "ann"

    listed = run(data, "list")
    assert listed.exit_code == 0
    assert row.prefix in listed.stdout and "ask,export" in listed.stdout and "nightly export" in listed.stdout
    assert key not in listed.stdout and key.split("_", 2)[2][:8] not in listed.stdout


def test_revoke_stops_the_key_and_list_says_when(data):
    key = run(data, "create", "--user", "ann").stdout.strip()
    db = components.database(Settings(data_dir=data))
    (row, _), = keys.list_keys(db)

    revoked = run(data, "revoke", row.prefix)
    assert revoked.exit_code == 0 and revoked.stdout.startswith(f"Key {row.prefix} is revoked (since ")
    with pytest.raises(RevokedKey):
        keys.check_key(db, key=key)
    (row, _), = keys.list_keys(db)
    assert f"{row.revoked_at:%Y-%m-%d %H:%M}" in run(data, "list").stdout
    assert run(data, "revoke", f"gl_{row.prefix}").exit_code == 0  # again, by the shown form: changes nothing
    assert keys.list_keys(db)[0][0].revoked_at == row.revoked_at


@pytest.mark.parametrize(("args", "message"), [
    (["create", "--user", "nobody"], "No user named 'nobody'."),
    (["create", "--user", "ann", "--scopes", "ask,owner"], "Unknown scope 'owner': use ask, feedback, export, admin."),
    (["create", "--user", "ann", "--scopes", ","], "Name at least one scope: ask, feedback, export, admin."),
    (["create", "--user", "ann", "--scopes", "ask,admin"], "Only an admin's key may have the 'admin' scope."),
    (["revoke", "0123456789ab"], "No API key '0123456789ab': see groundloop keys list."),
])
def test_mistakes_get_a_short_message_and_change_nothing(data, args, message):
    result = run(data, *args)
    assert result.exit_code != 0
    assert isinstance(result.exception, GroundloopError) and str(result.exception) == message
    assert keys.list_keys(components.database(Settings(data_dir=data))) == []


def test_list_without_keys_says_how_to_make_one(data):
    assert "No API keys yet" in run(data, "list").stdout
