"""``groundloop users``: who may sign in to the chat, with which role."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from app import components
from app.cli import cli
from app.settings import Settings
from feedback import accounts, answer_log
from feedback.models import Event
from retrieval.errors import GroundloopError

GROUNDLOOP = str(Path(sys.executable).parent / "groundloop")
runner = CliRunner()


def users(data_dir: Path, *args: str, input: str | None = None):
    return runner.invoke(cli, ["--data-dir", str(data_dir), "users", *args], input=input)


def ok(data_dir: Path, *args: str, input: str | None = None) -> str:
    result = users(data_dir, *args, input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def signs_in(data_dir: Path, name: str, password: str) -> str | None:
    """The role of the person who signs in with these details; None when they cannot."""
    user = accounts.authenticate(components.database(Settings(data_dir=data_dir)), identifier=name, password=password)
    return user.role if user else None


def test_add_with_a_password_file_list_and_change_the_role(tmp_path: Path):
    data = tmp_path / "data"
    (tmp_path / "pw").write_text("correct horse\nignored second line\n")
    added = ok(data, "add", "ann", "--role", "reviewer", "--password-file", str(tmp_path / "pw"))
    assert added == "Added ann (reviewer).\n"
    assert ok(data, "add", "bo", "--password-file", str(tmp_path / "pw")) == "Added bo (user).\n"

    listed = ok(data, "list")
    assert "ann" in listed and "reviewer" in listed and "bo" in listed and "set" in listed
    assert listed.index("ann") < listed.index("bo")
    assert signs_in(data, "ann", "correct horse") == "reviewer"
    assert signs_in(data, "ann", "correct horse\n") is None
    assert signs_in(data, "ann", "wrong") is None

    assert ok(data, "set-role", "bo", "admin") == "bo is now admin.\n"
    assert signs_in(data, "bo", "correct horse") == "admin"


def test_add_asks_for_the_password_twice_without_a_file(tmp_path: Path):
    data = tmp_path / "data"
    result = users(data, "add", "cy", input="s3cret\ns3cret\n")
    assert result.exit_code == 0, result.output
    assert "Added cy (user)." in result.stdout
    assert "s3cret" not in result.output  # not echoed
    assert signs_in(data, "cy", "s3cret") == "user"


def test_add_if_missing_is_idempotent_and_reads_standard_input(tmp_path: Path):
    """What `make demo` runs: the demo user is created once, and later runs change nothing."""
    data = tmp_path / "data"
    assert ok(data, "add", "demo", "--role", "admin", "--password-file", "-", "--if-missing", input="demo") == (
        "Added demo (admin).\n")
    assert ok(data, "add", "demo", "--role", "user", "--password-file", "-", "--if-missing", input="other") == (
        "demo already exists; nothing changed.\n")
    assert signs_in(data, "demo", "demo") == "admin"


def test_opt_out_leaves_someone_out_of_exports_until_they_opt_in(tmp_path: Path):
    data = tmp_path / "data"
    ok(data, "add", "ann", "--password-file", "-", input="pw")
    db = components.database(Settings(data_dir=data))
    ann = accounts.get_user(db, identifier="ann")
    answer_log.record_answer(db, question="Ann asks?", standalone_question="Ann asks?", answer="An answer.",
                          answerer="extractive", verdict="ok", reasons=[], timings_ms={}, citations=[], user_id=ann.id)

    def exported() -> list[str]:
        shown = runner.invoke(cli, ["--data-dir", str(data), "export", "--format", "jsonl"])
        return [json.loads(line)["question"] for line in shown.stdout.splitlines()]

    assert exported() == ["Ann asks?"]
    assert ok(data, "opt-out", "ann") == "ann is left out of exports.\n"
    assert exported() == [] and "opted out" in ok(data, "list")
    assert ok(data, "opt-in", "ann") == "ann is included in exports.\n"
    assert exported() == ["Ann asks?"] and "included" in ok(data, "list")
    with db.read() as session:
        logged = session.exec(select(Event.action).where(Event.subject_id == ann.id).order_by(Event.id)).all()
    assert logged == ["user_added", "export_opt_out", "export_opt_in"]


BAD_ROLE = "Unknown role 'boss': use one of user, reviewer, admin."


@pytest.mark.parametrize(("args", "message"), [
    (["add", "has space", "--password-file", "-"],
     "A name must be 1 to 200 characters, without spaces or control characters."),
    (["add", "x" * 201, "--password-file", "-"], "A name must be 1 to 200 characters"),
    (["add", "dee", "--role", "boss", "--password-file", "-"], BAD_ROLE),
    (["add", "dee", "--password-file", "/no/such/file"],
     "Cannot read the password file /no/such/file: No such file or directory."),
    (["set-role", "nobody", "admin"], "No user named 'nobody'."),
    (["set-role", "ann", "boss"], BAD_ROLE),
    (["opt-out", "nobody"], "No user named 'nobody'."),
    (["opt-in", "nobody"], "No user named 'nobody'."),
])
def test_bad_input_is_refused_with_a_short_message_and_changes_nothing(tmp_path: Path, args: list[str], message: str):
    data = tmp_path / "data"
    ok(data, "add", "ann", "--password-file", "-", input="pw")
    result = users(data, *args, input="pw")
    assert result.exit_code != 0
    assert isinstance(result.exception, GroundloopError) and message in str(result.exception)
    assert [(u.identifier, u.role) for u in accounts.list_users(components.database(Settings(data_dir=data)))] == [
        ("ann", "user")]


def test_an_empty_password_or_an_existing_name_is_refused(tmp_path: Path):
    data = tmp_path / "data"
    (tmp_path / "empty").write_text("")
    (tmp_path / "blank-line").write_text("\nsecond\n")
    for empty in ("empty", "blank-line"):
        result = users(data, "add", "eve", "--password-file", str(tmp_path / empty))
        assert str(result.exception) == "The password is empty."
    ok(data, "add", "eve", "--password-file", "-", input="pw")
    result = users(data, "add", "eve", "--password-file", "-", input="other")
    assert str(result.exception) == "A user named 'eve' already exists."
    assert signs_in(data, "eve", "pw") == "user"


def test_the_command_prints_errors_without_a_traceback(tmp_path: Path):
    assert "No users yet: add one with groundloop users add NAME" in ok(tmp_path / "data", "list")
    failed = subprocess.run([GROUNDLOOP, "--data-dir", str(tmp_path / "data"), "users", "set-role", "zed", "admin"],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert failed.stderr.strip() == "error: No user named 'zed'."
    assert "Traceback" not in failed.stderr
