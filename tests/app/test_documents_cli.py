"""``groundloop ingest`` and ``groundloop documents list|set-groups|delete`` go through the document service:
what they change is what the documents page lists, and each change leaves its event."""

import json
import subprocess
import sys
from pathlib import Path

from sqlmodel import select
from typer.testing import CliRunner

from app import components
from app.cli import cli
from app.settings import Settings
from feedback.models import Event

GROUNDLOOP = str(Path(sys.executable).parent / "groundloop")
runner = CliRunner()


def invoke(data_dir: Path, *args: str):
    result = runner.invoke(cli, ["--data-dir", str(data_dir), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def document_events(data_dir: Path) -> list[tuple[str, str]]:
    db = components.database(Settings(data_dir=data_dir))
    try:
        with db.read() as session:
            rows = session.exec(select(Event).where(Event.subject_type == "documents").order_by(Event.id)).all()
        return [(row.action, row.data["path"]) for row in rows]
    finally:
        db.dispose()


def listed(data_dir: Path) -> dict[str, dict]:
    return {d["path"]: d for d in json.loads(invoke(data_dir, "documents", "list", "--json").stdout)}


def test_each_ingest_leaves_an_event_per_document_it_changed(tmp_path: Path, corpus: Path, embeddings) -> None:
    data = tmp_path / "data"
    invoke(data, "ingest", str(corpus))
    assert sorted(document_events(data)) == [("document_added", name) for name in
                                             ("parts.csv", "rivers.html", "tea.txt", "volcanoes.md")]
    invoke(data, "ingest", str(corpus))  # nothing changed: no event
    (corpus / "tea.txt").write_text("Black tea is steeped in boiling water for four minutes.\n")
    (corpus / "parts.csv").unlink()
    invoke(data, "ingest", str(corpus))
    assert sorted(document_events(data)[4:]) == [("document_changed", "tea.txt"), ("document_removed", "parts.csv")]


def test_documents_are_listed_regrouped_and_deleted(tmp_path: Path, corpus: Path, embeddings) -> None:
    data = tmp_path / "data"
    invoke(data, "ingest", str(corpus))
    documents = listed(data)
    assert set(documents) == {"parts.csv", "rivers.html", "tea.txt", "volcanoes.md"}
    tea = documents["tea.txt"]
    assert (tea["title"], tea["groups"], tea["chunks"]) == ("tea", ["everyone"], 1) and tea["ingested_at"]
    table = invoke(data, "documents", "list").stdout
    assert "volcanoes.md" in table and "Volcanoes" in table

    invoke(data, "groups", "add", "hr")
    said = invoke(data, "documents", "set-groups", tea["doc_id"], "hr,everyone").stdout
    assert said.strip() == "tea.txt is now seen by: everyone, hr."
    assert listed(data)["tea.txt"]["groups"] == ["everyone", "hr"]

    said = invoke(data, "documents", "delete", tea["source"]).stdout
    assert said.strip() == "Deleted tea.txt (1 chunk)."
    assert "tea.txt" not in listed(data) and corpus.joinpath("tea.txt").exists()  # a file ingested from elsewhere stays
    hits = json.loads(invoke(data, "search", "green tea temperature", "--json").stdout)
    assert all("80 degrees" not in hit["text"] for hit in hits)
    assert document_events(data)[-2:] == [("document_groups_changed", "tea.txt"), ("document_removed", "tea.txt")]


def test_an_unknown_document_or_group_is_a_one_line_error(tmp_path: Path, corpus: Path, embeddings) -> None:
    data = tmp_path / "data"
    subprocess.run([GROUNDLOOP, "--data-dir", str(data), "ingest", str(corpus)], capture_output=True, check=True)
    for args, message in [(["delete", "/no/such.md"], "error: No such document."),
                          (["set-groups", str(corpus / "tea.txt"), "finance"], "error: Unknown group 'finance'")]:
        done = subprocess.run([GROUNDLOOP, "--data-dir", str(data), "documents", *args], capture_output=True, text=True)
        assert done.returncode == 1 and done.stderr.startswith(message), done.stderr
        assert "Traceback" not in done.stderr
