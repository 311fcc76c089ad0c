"""/api/v1/documents: an admin's key with the admin scope lists, uploads, regroups and deletes documents,
each through the document service (so answers, the index and the events follow); everyone else gets
the exact 401/403 details, an unknown document 404, an oversized upload 413 and a file nothing could be
made of 422.

The routers are served in a small FastAPI app of their own (Chainlit mounts once per process)."""

import io
import urllib.parse

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from app import api, api_documents, runtime
from app.cli import cli
from feedback import accounts, keys
from feedback.models import Event
from feedback.writing import NotAllowed

GLACIERS = ("# Glaciers\n\nA valley glacier creeps downhill at about one metre a day, grinding the rock beneath it "
            "into fine flour that turns meltwater rivers milky.\n")
GLACIER_QUESTION = "How fast does a valley glacier creep downhill?"
NO_ADMIN_SCOPE = {"detail": "This key lacks the 'admin' scope."}
ONLY_ADMINS = {"detail": "Only admins manage documents."}
NO_DOCUMENT = {"detail": "No such document."}


@pytest.fixture
def client(db) -> TestClient:
    site = FastAPI()
    site.include_router(api.router)
    site.include_router(api_documents.router)
    return TestClient(site)


@pytest.fixture
def key(db):
    """``key(user, scopes, role)``: a new key for ``user`` (added with ``role`` when missing) as headers."""

    def make(user: str = "ada", scopes: str = "admin,ask", role: str = "admin") -> dict[str, str]:
        if accounts.get_user(db, identifier=user) is None:
            accounts.add_user(db, identifier=user, role=role)
        return {"Authorization": f"Bearer {keys.create_key(db, identifier=user, scopes=scopes)[1]}"}

    return make


def upload(client: TestClient, headers: dict, *files: tuple[str, bytes], groups: str | None = None):
    return client.post("/api/v1/documents", headers=headers, data={"groups": groups} if groups else {},
                       files=[("files", (name, io.BytesIO(content), "application/octet-stream"))
                              for name, content in files])


def listed(client: TestClient, headers: dict) -> dict[str, dict]:
    response = client.get("/api/v1/documents", headers=headers)
    assert response.status_code == 200, response.text
    return {d["path"]: d for d in response.json()["documents"]}


def cited_paths(client: TestClient, headers: dict, question: str) -> list[str]:
    response = client.post("/api/v1/ask", json={"question": question}, headers=headers)
    assert response.status_code == 200, response.text
    return [c["source"].rsplit("/", 1)[-1] for c in response.json()["citations"]]


def document_url(doc_id: str) -> str:
    return "/api/v1/documents/" + urllib.parse.quote(doc_id, safe="")


def events(db, action: str) -> list[Event]:
    with db.read() as session:
        return list(session.exec(select(Event).where(Event.action == action).order_by(Event.id)))


def test_an_admin_uploads_a_document_that_answers_find_then_deletes_it(client, key, db, indexed):
    headers = key()
    before = listed(client, headers)
    assert {"volcanoes.md", "tea.txt", "rivers.html", "parts.csv"} <= set(before)
    assert before["volcanoes.md"]["title"] == "Volcanoes" and before["volcanoes.md"]["groups"] == ["everyone"]
    assert before["volcanoes.md"]["chunks"] >= 1 and before["volcanoes.md"]["ingested_at"]

    response = upload(client, headers, ("glaciers.md", GLACIERS.encode()))
    assert response.status_code == 200, response.text
    (kept,) = response.json()["files"]
    assert kept["name"] == "glaciers.md" and kept["outcome"] == "added" and kept["chunks"] == 1
    assert listed(client, headers)["glaciers.md"]["title"] == "Glaciers"
    assert (indexed.data_dir / "uploads" / "glaciers.md").read_text() == GLACIERS
    assert "glaciers.md" in cited_paths(client, headers, GLACIER_QUESTION)
    (added,) = events(db, "document_added")
    assert added.subject_type == "documents" and added.data["path"] == "glaciers.md"
    assert added.data["chunks"] == 1 and added.data["groups"] == ["everyone"]

    response = client.delete(document_url(kept["doc_id"]), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "glaciers.md" and response.json()["chunks"] == 1
    assert "glaciers.md" not in listed(client, headers)
    assert "glaciers.md" not in cited_paths(client, headers, GLACIER_QUESTION)
    assert not (indexed.data_dir / "uploads" / "glaciers.md").exists()
    (removed,) = events(db, "document_removed")
    assert removed.data["doc_id"] == kept["doc_id"] and removed.data["path"] == "glaciers.md"
    for event in (added, removed):  # ids, paths, groups and counts: never the text or the title
        assert "Glaciers" not in str(event.data) and "valley glacier" not in str(event.data)


def test_uploading_the_same_name_again_changes_that_document_or_nothing(client, key, db):
    headers = key()
    upload(client, headers, ("glaciers.md", GLACIERS.encode()))
    same = upload(client, headers, ("glaciers.md", GLACIERS.encode())).json()["files"][0]
    assert same["outcome"] == "unchanged"
    other = GLACIERS.replace("one metre", "two metres")
    changed = upload(client, headers, ("glaciers.md", other.encode())).json()["files"][0]
    assert changed["outcome"] == "changed" and changed["doc_id"] == same["doc_id"]
    assert [e.action for e in events(db, "document_changed")] == ["document_changed"]
    assert len(listed(client, headers)) == 5


def test_each_file_gets_its_own_outcome_and_a_failed_one_is_not_kept(client, key, indexed):
    headers = key()
    response = upload(client, headers, ("glaciers.md", GLACIERS.encode()), ("blob.md", b"\x00\x01binary"),
                      ("tool.exe", b"MZ\x90\x00"))
    assert response.status_code == 200, response.text
    outcomes = {f["name"]: (f["outcome"], f["reason"]) for f in response.json()["files"]}
    assert outcomes == {"glaciers.md": ("added", None), "blob.md": ("failed", "binary content, not text"),
                        "tool.exe": ("failed", "unsupported file type '.exe'")}  # as groundloop ingest says them
    assert sorted(p.name for p in (indexed.data_dir / "uploads").iterdir()) == ["glaciers.md"]


def test_a_failed_upload_puts_back_the_file_it_would_have_replaced(client, key, indexed):
    headers = key()
    upload(client, headers, ("glaciers.md", GLACIERS.encode()))
    response = upload(client, headers, ("glaciers.md", b"\x00 not text any more"))
    assert (response.status_code, response.json()) == (422, {"detail": "glaciers.md: binary content, not text."})
    assert (indexed.data_dir / "uploads" / "glaciers.md").read_text() == GLACIERS
    assert sorted(p.name for p in (indexed.data_dir / "uploads").iterdir()) == ["glaciers.md"]
    assert "glaciers.md" in cited_paths(client, headers, GLACIER_QUESTION)


def test_a_file_of_a_type_groundloop_cannot_read_is_refused(client, key, indexed):
    response = upload(client, key(), ("tool.exe", b"MZ\x90\x00"))
    assert (response.status_code, response.json()) == (422, {"detail": "tool.exe: unsupported file type '.exe'."})
    assert not any((indexed.data_dir / "uploads").iterdir())


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(client, key, configure, indexed):
    configure(max_file_mb=0.001)
    response = upload(client, key(), ("glaciers.md", GLACIERS.encode() * 500))  # past the room for the form too
    assert (response.status_code, response.json()) == (
        413, {"detail": "The upload is larger than the limit of 0.001 MB: send fewer or smaller files."})
    assert not (indexed.data_dir / "uploads").exists()


def test_an_upload_without_files_or_with_a_bad_group_is_refused(client, key):
    headers = key()
    response = client.post("/api/v1/documents", headers=headers, data={"groups": "everyone"})
    assert (response.status_code, response.json()) == (
        422, {"detail": "Attach at least one file, as the form field 'files'."})
    response = upload(client, headers, ("glaciers.md", GLACIERS.encode()), groups="HR!")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("'HR!' is not a group name")


def test_file_names_are_made_safe_and_stay_in_the_uploads_folder(client, key, indexed):
    response = upload(client, key(), ("../../../etc/evil name<script>.md", GLACIERS.encode()),
                      ("..\\..\\.hidden.md", GLACIERS.replace("Glaciers", "Ice").encode()))
    names = [f["name"] for f in response.json()["files"]]
    assert names == ["evil-name-script-.md", "hidden.md"]
    assert sorted(p.name for p in (indexed.data_dir / "uploads").iterdir()) == sorted(names)


def test_an_admin_changes_a_documents_groups(client, key, db, indexed):
    headers = key()
    assert CliRunner().invoke(cli, ["--data-dir", str(indexed.data_dir), "groups", "add", "hr"]).exit_code == 0
    volcanoes = listed(client, headers)["volcanoes.md"]
    response = client.patch(document_url(volcanoes["doc_id"]), json={"groups": ["hr"]}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["groups"] == ["hr"]
    assert listed(client, headers)["volcanoes.md"]["groups"] == ["hr"]
    (changed,) = events(db, "document_groups_changed")
    assert changed.data["groups"] == ["hr"] and changed.data["was"] == ["everyone"]

    response = client.patch(document_url(volcanoes["doc_id"]), json={"groups": ["finance"]}, headers=headers)
    assert response.status_code == 422 and "finance" in response.json()["detail"]
    assert listed(client, headers)["volcanoes.md"]["groups"] == ["hr"]


def test_an_unknown_document_is_not_found(client, key):
    headers = key()
    for response in (client.patch(document_url("/no/such/file.md"), json={"groups": ["everyone"]}, headers=headers),
                     client.delete(document_url("/no/such/file.md"), headers=headers),
                     client.delete("/api/v1/documents/nothing", headers=headers)):
        assert (response.status_code, response.json()) == (404, NO_DOCUMENT)


def test_only_an_admins_key_with_the_admin_scope_manages_documents(client, key, db):
    reader = key("alice", scopes="ask", role="user")
    admin_without_scope = key("ada", scopes="ask")
    for headers in (reader, admin_without_scope):
        for response in (client.get("/api/v1/documents", headers=headers),
                         upload(client, headers, ("glaciers.md", GLACIERS.encode())),
                         client.delete(document_url("/x.md"), headers=headers)):
            assert (response.status_code, response.json()) == (403, NO_ADMIN_SCOPE)
    assert client.get("/api/v1/documents").status_code == 401

    with pytest.raises(NotAllowed, match="Only an admin's key may have the 'admin' scope."):
        keys.create_key(db, identifier="alice", scopes="admin")
    with_scope = key("ada")
    accounts.set_role(db, identifier="ada", role="reviewer")  # a key does not outlive its person's role
    response = client.get("/api/v1/documents", headers=with_scope)
    assert (response.status_code, response.json()) == (403, ONLY_ADMINS)
    assert not events(db, "document_added")
