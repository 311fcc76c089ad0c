"""``groundloop groups``, people's groups (``users add --groups``, ``users set-groups``, ``users list``),
``ingest --groups`` and files gone from a folder, as an operator types them."""

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from tests.e2e.conftest import _env

GROUNDLOOP = str(Path(sys.executable).parent / "groundloop")
runner = CliRunner()


def run(data: Path, *args: str):
    return runner.invoke(cli, ["--data-dir", str(data), *args])


def ok(data: Path, *args: str) -> str:
    result = run(data, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(data: Path, *args: str) -> str:
    result = run(data, *args)
    assert result.exit_code != 0 and result.exception is not None, result.output
    return str(result.exception)


def test_groups_are_added_listed_given_to_people_and_removed(tmp_path: Path) -> None:
    data, password = tmp_path / "data", tmp_path / "pw"
    password.write_text("a long password\n")
    assert "everyone" in ok(data, "groups", "list") and "all" in ok(data, "groups", "list")
    assert ok(data, "groups", "add", "hr") == "Added the group hr.\n"
    assert refused(data, "groups", "add", "hr") == "A group named 'hr' already exists."
    assert "is not a group name" in refused(data, "groups", "add", "Human Resources")
    assert "built in" in refused(data, "groups", "add", "everyone")

    assert refused(data, "users", "add", "ann", "--groups", "hr,finance", "--password-file", str(password)) == (
        "Unknown group 'finance': the groups are everyone, hr (add one with: groundloop groups add NAME).")
    assert "ann" not in ok(data, "users", "list")  # refused before anyone was added
    assert ok(data, "users", "add", "ann", "--groups", "hr", "--password-file", str(password)) == (
        "Added ann (user; groups: everyone, hr).\n")
    listed = ok(data, "users", "list")
    assert "everyone, hr" in listed
    assert [line for line in ok(data, "groups", "list").splitlines() if "hr" in line][0].split("│")[2].strip() == "1"

    assert ok(data, "users", "set-groups", "ann", "everyone") == "ann is now in: everyone.\n"
    assert "everyone, hr" not in ok(data, "users", "list")
    assert ok(data, "users", "set-groups", "ann", "hr") == "ann is now in: everyone, hr.\n"
    assert refused(data, "users", "set-groups", "nobody", "hr") == "No user named 'nobody'."
    assert ok(data, "groups", "remove", "hr") == "Removed the group hr; taken out of it: ann.\n"
    assert "everyone, hr" not in ok(data, "users", "list")
    assert refused(data, "groups", "remove", "hr").startswith("Unknown group 'hr'")


def test_documents_in_a_group_keep_it_until_they_move(tmp_path: Path, corpus: Path, embeddings) -> None:
    data = tmp_path / "data"
    ok(data, "groups", "add", "kitchen")
    assert "groups: kitchen." in ok(data, "ingest", str(corpus), "--groups", "kitchen")
    message = refused(data, "groups", "remove", "kitchen")
    assert message.startswith("4 document source(s) are still in the group 'kitchen'") and "ingest PATH --groups" in message
    moved = ok(data, "ingest", str(corpus))
    assert moved.count("groups changed") == 4 and "groups: everyone." in moved
    assert ok(data, "groups", "remove", "kitchen") == "Removed the group kitchen.\n"


def test_an_unknown_group_is_one_line_naming_the_known_ones(tmp_path: Path, corpus: Path) -> None:
    done = subprocess.run([GROUNDLOOP, "--data-dir", str(tmp_path / "data"), "ingest", str(corpus), "--groups", "hr"],
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr == ("error: Unknown group 'hr': the groups are everyone (add one with: groundloop groups add "
                           "NAME).\n")
    assert done.stdout == ""


def test_a_file_gone_from_the_folder_is_reported_removed(tmp_path: Path, corpus: Path, embeddings) -> None:
    data = tmp_path / "data"
    ok(data, "ingest", str(corpus))
    (corpus / "tea.txt").unlink()
    again = ok(data, "ingest", str(corpus))
    assert "1 removed (files no longer there)" in again
    assert f"removed {(corpus / 'tea.txt').resolve()}" in again
    found = ok(data, "search", "green tea steeped", "--json")
    assert "tea.txt" not in found


def test_eval_as_a_person_measures_the_corpus_they_may_see(tmp_path: Path, embeddings) -> None:
    from app.settings import Settings
    from tests.app.test_cli import beir_fixture

    data, password = tmp_path / "data", tmp_path / "pw"
    password.write_text("a long password\n")
    dataset = beir_fixture(tmp_path / "tiny")
    ok(data, "groups", "add", "lab")
    ok(data, "users", "add", "lee", "--groups", "lab", "--password-file", str(password))
    ok(data, "users", "add", "out", "--password-file", str(password))
    ok(data, "ingest", str(dataset / "corpus.jsonl"), "--groups", "lab")

    def ndcg(*extra: str) -> float:
        measured = ok(data, "eval", str(dataset), "--split", "test", "--json", "--collection", Settings().collection, *extra)
        return json.loads(measured)["ndcg@10"]

    everything = ndcg()
    assert everything > 0.9 and ndcg("--as", "lee") == everything
    assert ndcg("--as", "out") == 0.0
