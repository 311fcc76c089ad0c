"""Sources as people use them: groundloop sources add, sync, and the answers that follow the rows and files;
two workers syncing at once; a failing source retried with backoff and shown; the command's clear errors.
The source databases are a real SQLite file and a real PostgreSQL database."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

import app.server  # noqa: F401  (first: it points Chainlit at the project before chainlit.auth is imported)
from app import components, health, sync
from app.cli import main
from app.runtime import Root
from app.settings import Settings
from feedback import sources
from feedback.models import Event, now
from tests.app.test_lazy_imports import HEAVY, imported_by

GROUNDLOOP = str(Path(sys.executable).parent / "groundloop")
VPN = "Reinstall the VPN client from the company portal when the tunnel drops every hour."
VPN_LATER = "Since the January update, reset the VPN profile in the settings app when the tunnel drops."
PRINTER = "The third floor printer needs a new toner cartridge every Monday morning."


class Kb:
    """A ``tickets`` table in a real database, written as another system would write it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url)
        self.at = 0
        with self.engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE tickets (id INTEGER PRIMARY KEY, subject TEXT, body TEXT, "
                                       "resolution TEXT, updated INTEGER NOT NULL)"))

    def put(self, id: int, subject: str, body: str, resolution: str | None = None) -> None:
        self.at += 1
        with self.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM tickets WHERE id = :id"), {"id": id})
            connection.execute(sa.text("INSERT INTO tickets VALUES (:id, :subject, :body, :resolution, :at)"),
                               dict(id=id, subject=subject, body=body, resolution=resolution, at=self.at))

    def delete(self, id: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM tickets WHERE id = :id"), {"id": id})


@pytest.fixture(params=["sqlite", "postgres"])
def kb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kb]:
    if request.param == "sqlite":
        table = Kb(f"sqlite:///{tmp_path / 'kb.db'}")
        yield table
        table.engine.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    table = Kb(server.create_database("kb"))
    yield table
    table.engine.dispose()
    server.drop_database(table.url)


@pytest.fixture
def sqlite_kb(tmp_path: Path) -> Iterator[Kb]:
    table = Kb(f"sqlite:///{tmp_path / 'kb.db'}")
    yield table
    table.engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("GROUNDLOOP_DATABASE_URL", raising=False)
    monkeypatch.delenv("GROUNDLOOP_CHROMA_URL", raising=False)
    return tmp_path / "data"


def groundloop(data_dir: Path, *args: str, capsys: pytest.CaptureFixture, ok: bool = True) -> tuple[str, str]:
    """The command as a person runs it (``main``, with its error handling), in this process."""
    capsys.readouterr()
    argv = sys.argv
    sys.argv = ["groundloop", "--data-dir", str(data_dir), *args]
    try:
        main()
        code = 0
    except SystemExit as exit:
        code = exit.code or 0
    finally:
        sys.argv = argv
    output = capsys.readouterr()
    assert (code == 0) == ok, f"exit {code}\n{output.out}\n{output.err}"
    return output.out, output.err


def add_kb(data_dir: Path, kb: Kb, capsys, *extra: str, name: str = "kb", query: str = "SELECT * FROM tickets") -> str:
    out, _ = groundloop(data_dir, "sources", "add", name, "--sql", kb.url, "--query", query,
                        "--id-column", "id", "--text-columns", "body,resolution", "--title-column", "subject",
                        *extra, capsys=capsys)
    return out


def ask(data_dir: Path, question: str, capsys) -> dict:
    out, _ = groundloop(data_dir, "ask", question, "--json", capsys=capsys)
    return json.loads(out)


def cited(answer: dict) -> dict[str, str]:
    return {c["source"]: c["text"] for c in answer["citations"] if c["cited"]}


def events(settings: Settings, action: str) -> list[Event]:
    with components.database(settings).read() as session:
        return list(session.exec(select(Event).where(Event.action == action).order_by(Event.id)))


def test_answers_follow_rows_added_changed_and_deleted(data_dir: Path, kb: Kb, capsys, embeddings) -> None:
    kb.put(1, "VPN drops", VPN)
    add_kb(data_dir, kb, capsys, "--updated-column", "updated")

    first, _ = groundloop(data_dir, "sync", "kb", capsys=capsys)
    assert first.startswith("kb: 1 added, 0 updated, 0 unchanged, 0 removed, 0 failed")
    assert cited(ask(data_dir, "What do I do when the VPN tunnel drops?", capsys)) == {"sql:kb:1": VPN}

    kb.put(1, "VPN drops", VPN_LATER)
    kb.put(2, "Printer toner", PRINTER, "Order toner from facilities.")
    second, _ = groundloop(data_dir, "sync", capsys=capsys)
    assert second.startswith("kb: 1 added, 1 updated, 0 unchanged, 0 removed, 0 failed")
    vpn = ask(data_dir, "What do I do when the VPN tunnel drops?", capsys)
    assert "reset the VPN profile" in vpn["answer"] and "company portal" not in vpn["answer"]
    printer = ask(data_dir, "How often does the third floor printer need toner?", capsys)
    assert "sql:kb:2" in cited(printer) and "Order toner from facilities." in cited(printer)["sql:kb:2"]

    kb.delete(2)
    third, _ = groundloop(data_dir, "sync", "kb", capsys=capsys)
    assert third.startswith("kb: 0 added, 0 updated, 0 unchanged, 0 removed, 0 failed"), \
        "without --full, only rows updated since the last sync are read: a deleted row is not seen"
    full, _ = groundloop(data_dir, "sync", "kb", "--full", capsys=capsys)
    assert full.startswith("kb: 0 added, 0 updated, 1 unchanged, 1 removed, 0 failed")
    assert "sql:kb:2" not in {c["source"] for c in ask(data_dir, "printer toner", capsys)["citations"]}

    settings = Settings(data_dir=data_dir)
    assert [(e.subject_id, e.data["added"], e.data["updated"], e.data["removed"])
            for e in events(settings, "sync_finished")] == [("kb", 1, 0, 0), ("kb", 1, 1, 0), ("kb", 0, 0, 0),
                                                             ("kb", 0, 0, 1)]
    assert [e.subject_id for e in events(settings, "document_removed")] == ["sql:kb:2"]


def test_without_an_updated_column_rows_gone_leave_at_every_sync(data_dir: Path, sqlite_kb: Kb, capsys,
                                                                   embeddings) -> None:
    sqlite_kb.put(1, "VPN drops", VPN)
    sqlite_kb.put(2, "Printer toner", PRINTER)
    add_kb(data_dir, sqlite_kb, capsys)
    assert groundloop(data_dir, "sync", capsys=capsys)[0].startswith("kb: 2 added")
    sqlite_kb.delete(2)
    out, _ = groundloop(data_dir, "sync", capsys=capsys)
    assert out.startswith("kb: 0 added, 0 updated, 1 unchanged, 1 removed, 0 failed")


def test_a_folder_source_follows_new_changed_and_removed_files(data_dir: Path, tmp_path: Path, capsys,
                                                               embeddings) -> None:
    folder = tmp_path / "handbook"
    folder.mkdir()
    (folder / "leave.md").write_text("# Leave\n\nStaff get twenty-five days of paid leave per year.\n")
    (folder / "bikes.md").write_text("# Bikes\n\nBicycles are parked in the basement behind the blue door.\n")
    (folder / "draft.txt").write_text("TODO\n")
    groundloop(data_dir, "sources", "add", "handbook", "--path", str(folder), capsys=capsys)
    out, _ = groundloop(data_dir, "sync", "handbook", capsys=capsys)
    assert out.splitlines() == [
        out.splitlines()[0],
        f"  failed {(folder / 'draft.txt').resolve()}: near-empty (1 word; at least 3 needed)",
    ]
    assert out.startswith("handbook: 2 added, 0 updated, 0 unchanged, 0 removed, 1 failed")

    (folder / "bikes.md").unlink()
    (folder / "leave.md").write_text("# Leave\n\nStaff get thirty days of paid leave per year.\n")
    (folder / "parking.md").write_text("# Parking\n\nCars park on level two of the garage across the street.\n")
    out, _ = groundloop(data_dir, "sync", "handbook", capsys=capsys)
    assert out.startswith("handbook: 1 added, 1 updated, 0 unchanged, 1 removed, 1 failed")

    bikes = ask(data_dir, "Where are bicycles parked?", capsys)
    assert all("bikes.md" not in c["source"] for c in bikes["citations"])
    leave = ask(data_dir, "How many days of paid leave do staff get?", capsys)
    assert "thirty days" in leave["answer"] and "twenty-five" not in leave["answer"]

    (folder.rename(tmp_path / "unmounted"))
    out, _ = groundloop(data_dir, "sync", "handbook", capsys=capsys, ok=False)
    assert f"handbook: failed" in out and f"The folder {folder.resolve()} is not there." in out
    parking = ask(data_dir, "Where do cars park?", capsys)
    assert any(c["source"].endswith("parking.md") for c in parking["citations"]), "a folder gone removes nothing"


@pytest.mark.parametrize("feedback_db", ["sqlite", "postgres"])
def test_two_workers_syncing_at_once_do_the_work_once(request, tmp_path: Path, sqlite_kb: Kb, feedback_db: str,
                                                      embeddings) -> None:
    url = request.getfixturevalue("postgres_server").create_database() if feedback_db == "postgres" else None
    settings = Settings(data_dir=tmp_path / "data", database_url=url, chroma_url=None)
    for n in range(1, 21):
        sqlite_kb.put(n, f"Ticket {n}", f"Ticket number {n} is about the printer on floor {n} and its paper tray.")
    add_source_directly(settings, sqlite_kb)
    workers = [Root(settings), Root(settings)]  # each its own database engines, as two processes have
    for root in workers:
        root.database
    at_once = threading.Barrier(len(workers), timeout=60)
    results: list[sync.Synced] = []

    def work(root: Root) -> None:
        at_once.wait()
        results.append(sync.sync(root, "kb"))

    threads = [threading.Thread(target=work, args=(root,)) for root in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), "a worker did not end"

    assert sorted(result.skipped for result in results) == [False, True]
    done = next(result for result in results if not result.skipped)
    assert done.counts.added == 20
    db = workers[0].database
    assert [(run.status, run.added) for run in sources.runs(db, name="kb")] == [("finished", 20)]
    assert len(events(settings, "document_added")) == 20
    assert len(events(settings, "sync_finished")) == 1


@pytest.mark.parametrize("feedback_db", ["sqlite", "postgres"])
def test_a_lock_whose_lease_ran_out_is_taken_over(request, tmp_path: Path, sqlite_kb: Kb, feedback_db: str) -> None:
    """A worker that died mid-sync does not hold its source for ever: its lease ends, another takes over."""
    url = request.getfixturevalue("postgres_server").create_database() if feedback_db == "postgres" else None
    settings = Settings(data_dir=tmp_path / "data", database_url=url)
    add_source_directly(settings, sqlite_kb)
    db = components.database(settings)
    alive = sources.claim(db, name="kb", holder="worker-1", lease_seconds=600)
    assert alive is not None
    assert sources.claim(db, name="kb", holder="worker-2", lease_seconds=600) is None
    assert sources.renew(db, name="kb", holder="worker-1", lease_seconds=0)  # worker-1's lease now ends at once
    taken = sources.claim(db, name="kb", holder="worker-2", lease_seconds=600)
    assert taken is not None and taken.holder == "worker-2"
    assert not sources.renew(db, name="kb", holder="worker-1", lease_seconds=600), "the old holder lost it"


def test_a_failing_source_is_retried_with_backoff_shown_and_the_others_go_on(
        data_dir: Path, tmp_path: Path, sqlite_kb: Kb, capsys, embeddings, monkeypatch) -> None:
    monkeypatch.setenv("GROUNDLOOP_SYNC_RETRY_SECONDS", "60")
    folder = tmp_path / "handbook"
    folder.mkdir()
    (folder / "leave.md").write_text("# Leave\n\nStaff get twenty-five days of paid leave per year.\n")
    sqlite_kb.put(1, "VPN drops", VPN)
    add_kb(data_dir, sqlite_kb, capsys)
    groundloop(data_dir, "sources", "add", "handbook", "--path", str(folder), capsys=capsys)
    database_file = Path(sqlite_kb.url.removeprefix("sqlite:///"))
    database_file.rename(database_file.with_suffix(".moved"))
    root = Root(Settings(data_dir=data_dir))

    before = now()
    results = {result.name: result for result in sync.sync_due(root)}
    assert results["kb"].error == f"No SQLite database at {database_file}."
    assert results["handbook"].counts.added == 1, "the others go on"
    kb = sources.get_source(root.database, "kb")
    assert kb.failures == 1 and kb.last_error == f"No SQLite database at {database_file}."
    assert before + timedelta(seconds=60) <= kb.due_at <= now() + timedelta(seconds=60)
    assert sync.sync_due(root) == [], "neither is due again yet"

    out, err = groundloop(data_dir, "sync", "kb", capsys=capsys, ok=False)
    assert "kb: failed" in out and "1 of 1 sources failed to sync: kb." in err
    kb = sources.get_source(root.database, "kb")
    assert kb.failures == 2 and kb.due_at >= now() + timedelta(seconds=110), "the wait doubles"
    assert [e.data["failures"] for e in events(root.settings, "sync_failed")] == [1, 2]

    readyz = ready(root)
    assert readyz["status"] == "ready", "a failing source does not make the server unready"
    assert readyz["sources"]["handbook"] == "ok"
    assert readyz["sources"]["kb"].startswith("failing: 2 syncs in a row failed; next try at ")
    assert "SQLite" not in json.dumps(readyz), "the probe shows no error text"
    page = dashboard(root, monkeypatch)
    assert "failing: 2 syncs in a row failed" in page and f"No SQLite database at {database_file}" in page

    listed, _ = groundloop(data_dir, "sources", "list", capsys=capsys)
    assert "failing: 2" in listed

    database_file.with_suffix(".moved").rename(database_file)
    out, _ = groundloop(data_dir, "sync", "kb", capsys=capsys)
    assert out.startswith("kb: 1 added")
    assert ready(root)["sources"]["kb"] == "ok"
    assert sources.get_source(root.database, "kb").failures == 0


def test_the_servers_loop_syncs_sources_on_its_own(data_dir: Path, sqlite_kb: Kb, capsys, embeddings,
                                                    monkeypatch) -> None:
    monkeypatch.setenv("GROUNDLOOP_SYNC_INTERVAL", "0.2")
    sqlite_kb.put(1, "VPN drops", VPN)
    add_kb(data_dir, sqlite_kb, capsys, "--updated-column", "updated")
    root = Root(Settings(data_dir=data_dir))

    async def serve_until(condition) -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(sync.run_until(stop, root))
        deadline = time.monotonic() + 120
        while not condition():
            assert time.monotonic() < deadline, "the loop did not sync in time"
            await asyncio.sleep(0.05)
        stop.set()
        await loop

    asyncio.run(serve_until(lambda: sources.get_source(root.database, "kb").synced_at is not None))
    assert root.index.sources(prefix="sql:kb:") == ["sql:kb:1"]
    sqlite_kb.put(2, "Printer toner", PRINTER)
    asyncio.run(serve_until(lambda: "sql:kb:2" in root.index.sources(prefix="sql:kb:")))
    assert all(run.status == "finished" for run in sources.runs(root.database, name="kb"))


def test_sync_watch_runs_until_interrupted(data_dir: Path, sqlite_kb: Kb, capsys, embeddings) -> None:
    sqlite_kb.put(1, "VPN drops", VPN)
    add_kb(data_dir, sqlite_kb, capsys)
    env = {**os.environ, "GROUNDLOOP_SYNC_INTERVAL": "1"}
    watching = subprocess.Popen([GROUNDLOOP, "--data-dir", str(data_dir), "sync", "--watch"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = components.database(Settings(data_dir=data_dir))
    try:
        deadline = time.monotonic() + 180
        while not [run for run in sources.runs(db, name="kb") if run.status == "finished"]:
            assert watching.poll() is None and time.monotonic() < deadline, watching.stderr.read() if watching.poll() else "too slow"
            time.sleep(0.1)
    finally:
        watching.send_signal(signal.SIGINT)
        out, err = watching.communicate(timeout=120)
    assert watching.returncode == 0, err
    assert "kb: 1 added, 0 updated, 0 unchanged, 0 removed, 0 failed" in out
    assert "Syncing every source every 1 s (Ctrl-C stops)." in err and "Stopped." in err


def test_removing_a_source_takes_its_documents_out(data_dir: Path, sqlite_kb: Kb, capsys, embeddings) -> None:
    sqlite_kb.put(1, "VPN drops", VPN)
    sqlite_kb.put(2, "Printer toner", PRINTER)
    add_kb(data_dir, sqlite_kb, capsys)
    add_kb(data_dir, sqlite_kb, capsys, name="kept",
           query="SELECT id, subject, 'Archived copy: ' || body AS body, resolution, updated FROM tickets")
    out, _ = groundloop(data_dir, "sync", capsys=capsys)
    assert "kept: 2 added" in out and "kb: 2 added" in out
    out, _ = groundloop(data_dir, "sources", "remove", "kb", capsys=capsys)
    assert out.strip() == "Removed kb; 2 of its documents left the index."
    out, _ = groundloop(data_dir, "sources", "remove", "kept", "--keep-documents", capsys=capsys)
    assert out.strip() == "Removed kept; its documents stay in the index."
    root = Root(Settings(data_dir=data_dir))
    assert root.index.sources(prefix="sql:") == ["sql:kept:1", "sql:kept:2"]
    assert sources.list_sources(root.database) == []
    assert [e.subject_id for e in events(root.settings, "source_removed")] == ["kb", "kept"]


def test_a_source_syncing_now_cannot_be_removed(data_dir: Path, sqlite_kb: Kb, capsys) -> None:
    add_kb(data_dir, sqlite_kb, capsys)
    db = components.database(Settings(data_dir=data_dir))
    sources.claim(db, name="kb", holder="host:1:abc", lease_seconds=600)
    _, err = groundloop(data_dir, "sources", "remove", "kb", capsys=capsys, ok=False)
    assert err.strip() == "error: 'kb' is being synced just now (by host:1:abc): try again when it ends."


def test_passwords_are_never_shown(data_dir: Path, postgres_server, capsys) -> None:
    url = postgres_server.create_database("kb")
    table = Kb(url)
    table.put(1, "VPN drops", VPN)
    with_password = sa.engine.make_url(url).set(password="s3cret-pw").render_as_string(hide_password=False)
    groundloop(data_dir, "sources", "add", "kb", "--sql", with_password, "--query", "SELECT * FROM tickets",
               "--id-column", "id", "--text-columns", "body", capsys=capsys)  # the test server trusts any password
    listed, _ = groundloop(data_dir, "sources", "list", capsys=capsys)
    assert "***" in listed
    settings = Settings(data_dir=data_dir)
    added = events(settings, "source_added")
    assert "***" in added[0].data["from"]
    table.engine.dispose()
    postgres_server.drop_database(url)
    out, _ = groundloop(data_dir, "sync", "kb", capsys=capsys, ok=False)
    assert "***" in out
    for shown in (listed, out, json.dumps([e.data for e in events(settings, "sync_failed") + added])):
        assert "s3cret" not in shown


@pytest.mark.parametrize("args, message", [
    (["sync", "nope"], "No source named 'nope': see groundloop sources list."),
    (["sources", "remove", "nope"], "No source named 'nope': see groundloop sources list."),
    (["sources", "add", "Tickets", "--path", "."], "'Tickets' is not a source name: use 1 to 50 lowercase letters, "
                                                    "digits, '-' or '_'."),
    (["sources", "add", "kb"], "Give a folder (--path DIR) or an SQL query (--sql URL --query …), one of the two."),
    (["sources", "add", "kb", "--path", "{tmp}/nowhere"], "No folder at {tmp}/nowhere."),
    (["sources", "add", "kb", "--path", "{tmp}", "--query", "SELECT 1"],
     "--query is only for an SQL source (--sql), not a folder."),
    (["sources", "add", "kb", "--sql", "not a url", "--query", "SELECT 1", "--id-column", "id", "--text-columns", "b"],
     "The SQL URL cannot be read: use dialect+driver://user@host/database, e.g. postgresql+psycopg://kb@db.example/kb "
     "or sqlite:///kb.db."),
    (["sources", "add", "kb", "--sql", "{kb}", "--query", "SELECT * FROM tickets"],
     "An SQL source needs --id-column and --text-columns too."),
    (["sources", "add", "kb", "--sql", "{kb}", "--query", "DELETE FROM tickets", "--id-column", "id",
      "--text-columns", "body"], "Only a SELECT query can be a source; this one begins with DELETE."),
    (["sources", "add", "kb", "--sql", "{kb}", "--query", "SELECT * FROM ticket", "--id-column", "id",
      "--text-columns", "body"], "The query failed: no such table: ticket"),
    (["sources", "add", "kb", "--sql", "{kb}", "--query", "SELECT * FROM tickets", "--id-column", "ticket_id",
      "--text-columns", "body,summary"],
     "The query has no column 'ticket_id', 'summary'; its columns are: id, subject, body, resolution, updated."),
    (["sources", "add", "kb", "--path", "{tmp}", "--groups", "hr"],
     "Unknown group 'hr': the groups are everyone (add one with: groundloop groups add NAME)."),
    (["sources", "add", "kb", "--path", "{tmp}", "--groups", "Sales Team"],
     "'Sales Team' is not a group name: use 1 to 50 lowercase letters, digits, '-' or '_'."),
])
def test_clear_errors(data_dir: Path, tmp_path: Path, sqlite_kb: Kb, capsys, args: list[str], message: str) -> None:
    filled = [arg.format(tmp=tmp_path, kb=sqlite_kb.url) for arg in args]
    _, err = groundloop(data_dir, *filled, capsys=capsys, ok=False)
    assert err.strip() == f"error: {message.format(tmp=tmp_path)}"


def test_a_sources_documents_are_seen_by_its_groups(data_dir: Path, sqlite_kb: Kb, capsys, embeddings) -> None:
    sqlite_kb.put(1, "VPN drops", VPN)
    groundloop(data_dir, "groups", "add", "support", capsys=capsys)
    add_kb(data_dir, sqlite_kb, capsys, "--groups", "support")
    groundloop(data_dir, "sync", capsys=capsys)
    listed, _ = groundloop(data_dir, "sources", "list", capsys=capsys)
    assert "support" in listed
    root = Root(Settings(data_dir=data_dir))
    from app import documents

    assert [(d.source, d.groups) for d in documents.catalog(root)] == [("sql:kb:1", ("support",))]
    assert [e.data["groups"] for e in events(root.settings, "document_added")] == [["support"]]


def test_a_name_is_taken_once(data_dir: Path, tmp_path: Path, capsys) -> None:
    groundloop(data_dir, "sources", "add", "docs", "--path", str(tmp_path), capsys=capsys)
    _, err = groundloop(data_dir, "sources", "add", "docs", "--path", str(tmp_path), capsys=capsys, ok=False)
    assert err.strip() == "error: A source named 'docs' exists already: remove it first to change it."


@pytest.mark.parametrize("args", [["sources", "list"], ["sync", "--help"], ["sources", "add", "--help"]])
def test_source_commands_that_read_the_database_import_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    assert imported_by(args, tmp_path / "data") & set(HEAVY) == set()


def add_source_directly(settings: Settings, kb: Kb) -> None:
    sources.add_source(components.database(settings), name="kb", kind="sql", shown=kb.url, groups=["everyone"],
                       config={"url": kb.url, "query": "SELECT * FROM tickets", "id_column": "id",
                               "text_columns": ["body"], "title_column": "subject", "updated_column": None})


def ready(root: Root) -> dict:
    site = FastAPI()
    site.include_router(health.router(lambda: root.database, lambda: root.index, root.embeddings))
    return TestClient(site).get("/readyz").json()


def dashboard(root: Root, monkeypatch: pytest.MonkeyPatch) -> str:
    """The dashboard as a reviewer sees it."""
    from chainlit.auth import create_jwt
    from chainlit.user import User as ChainlitUser

    from app import dashboard as pages
    from feedback import accounts

    secret = "test-secret-" + "x" * 40
    accounts.add_user(root.database, identifier="rita", role="reviewer")
    site = FastAPI()
    site.include_router(pages.router(lambda: root.database, lambda: secret))
    client = TestClient(site)
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", secret)
    client.cookies.set("access_token", create_jwt(ChainlitUser(identifier="rita", metadata={})))
    response = client.get("/review/dashboard")
    assert response.status_code == 200
    return response.text
