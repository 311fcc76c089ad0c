"""The documents page at /review/documents: admins only, same-origin posts, the listing shown as text,
uploads answered per file (JSON for the page's script, the page itself without it), new groups, and a
delete that asks first.

The router is served in a small FastAPI app of its own (Chainlit mounts once per process); the browser
test (tests/e2e/test_documents.py) drives the real server."""

import io
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import app.server  # noqa: F401  (first: it points Chainlit at the project before chainlit.auth is imported)
from app import review, review_documents
from app.cli import cli
from app.runtime import Root
from chainlit.auth import create_jwt
from chainlit.user import User as ChainlitUser
from feedback import accounts

SECRET = "test-secret-" + "x" * 40
ORIGIN = {"origin": "http://testserver"}
JSON = {**ORIGIN, "accept": "application/json"}
HOSTILE = "# <img src=x onerror=alert(1)> Pumps\n\nThe pump in hall B is serviced every spring by the night crew.\n"
GLACIERS = "# Glaciers\n\nA valley glacier creeps downhill at about one metre a day.\n"


@pytest.fixture
def root(indexed):
    root = Root(indexed)
    for name, role in [("alice", "user"), ("rita", "reviewer"), ("ada", "admin")]:
        accounts.add_user(root.database, identifier=name, role=role, password="pw")
    yield root
    root.close()


@pytest.fixture
def client(root, monkeypatch):
    """A client of the documents page and the review desk; ``client.sign_in(name)`` sets Chainlit's cookie."""
    site = FastAPI()
    site.include_router(review_documents.router(lambda: root, lambda: SECRET))
    site.include_router(review.router(lambda: root.database, lambda: SECRET, lambda q, k: []))
    client = TestClient(site)
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", SECRET)
    client.sign_in = lambda name: client.cookies.set(
        "access_token", create_jwt(ChainlitUser(identifier=name, metadata={})))
    return client


def rows(html: str) -> dict[str, str]:
    """The listing's rows by path: each row's HTML."""
    return dict(re.findall(r'<tr class="document" data-doc-id="[^"]*" data-path="([^"]+)">(.*?)</tr>', html, re.S))


def doc_id_of(html: str, path: str) -> str:
    import html as entities

    return entities.unescape(re.search(rf'data-doc-id="([^"]*)" data-path="{re.escape(path)}"', html).group(1))


def upload(client, *files: tuple[str, bytes], groups=("everyone",), headers=JSON):
    return client.post("/review/documents/upload", headers=headers, data={"groups": list(groups)},
                       files=[("files", (name, io.BytesIO(content))) for name, content in files])


def test_only_admins_enter(client) -> None:
    assert (client.get("/review/documents").status_code, client.get("/review/documents").json()) == (
        401, {"detail": "Sign in first."})
    for name, detail in [("alice", "Reviewers only."), ("rita", "Only admins manage documents.")]:
        client.sign_in(name)
        for response in (client.get("/review/documents"), upload(client, ("g.md", GLACIERS.encode())),
                         client.get("/review/documents/delete", params={"doc_id": "x"}),
                         client.post("/review/documents/delete", data={"doc_id": "x"}, headers=ORIGIN)):
            assert (response.status_code, response.json()) == (403, {"detail": detail})
    client.sign_in("ada")
    assert client.get("/review/documents").status_code == 200


def test_the_desk_links_the_page_for_admins_only(client) -> None:
    client.sign_in("rita")
    assert 'href="/review/documents"' not in client.get("/review").text
    client.sign_in("ada")
    assert 'href="/review/documents"' in client.get("/review").text


def test_the_listing_shows_every_document_with_its_groups_chunks_and_time(client, root) -> None:
    client.sign_in("ada")
    html = client.get("/review/documents").text
    shown = rows(html)
    assert set(shown) == {"parts.csv", "rivers.html", "tea.txt", "volcanoes.md"}
    assert ">Volcanoes<" in shown["volcanoes.md"] and '<span class="reason group">everyone</span>' in shown["volcanoes.md"]
    assert re.search(r'class="num chunks">1<', shown["volcanoes.md"])
    assert re.search(r'class="when">\d{4}-\d\d-\d\d \d\d:\d\d<', shown["volcanoes.md"])
    assert str(root.settings.data_dir.parent) not in re.sub(r'data-doc-id="[^"]*"|doc_id=[^"]*"|value="[^"]*"', "",
                                                           html)  # no server path shown, only in form values
    assert "4 documents · 4 chunks" in html


def test_a_documents_title_is_shown_as_text(client, root, tmp_path) -> None:
    hostile = tmp_path / "pumps.md"
    hostile.write_text(HOSTILE)
    from app import documents

    documents.ingest_paths(root, [hostile])
    client.sign_in("ada")
    row = rows(client.get("/review/documents").text)["pumps.md"]
    assert "&lt;img src=x onerror=alert(1)&gt; Pumps" in row and "<img" not in row


def test_an_upload_from_the_pages_script_gets_each_files_outcome_as_json(client, root) -> None:
    client.sign_in("ada")
    response = upload(client, ("glaciers.md", GLACIERS.encode()), ("tool.exe", b"MZ"))
    assert response.status_code == 200, response.text
    assert [(f["name"], f["outcome"], f["reason"], f["chunks"]) for f in response.json()["files"]] == [
        ("glaciers.md", "added", None, 1), ("tool.exe", "failed", "unsupported file type '.exe'", 0)]
    assert "glaciers.md" in rows(client.get("/review/documents").text)


def test_an_upload_without_the_script_shows_the_page_with_each_outcome(client) -> None:
    client.sign_in("ada")
    response = upload(client, ("glaciers.md", GLACIERS.encode()), ("blob.md", b"\x00\x01"), headers=ORIGIN)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    results = dict(re.findall(r'<li class="upload-result (\w+)" data-name="([^"]+)"', response.text))
    assert results == {"added": "glaciers.md", "failed": "blob.md"}
    assert "binary content, not text" in response.text and "glaciers.md" in rows(response.text)


def test_an_upload_over_the_limit_is_refused_with_the_reason(client, root) -> None:
    root.settings.max_file_mb = 0.0001
    client.sign_in("ada")
    response = upload(client, ("glaciers.md", GLACIERS.encode() * 2000))
    assert (response.status_code, response.json()) == (
        413, {"detail": "The upload is larger than the limit of 0.0001 MB: send fewer or smaller files."})


def test_a_post_from_elsewhere_is_refused(client, root) -> None:
    client.sign_in("ada")
    doc_id = doc_id_of(client.get("/review/documents").text, "tea.txt")
    for headers in ({}, {"origin": "http://evil.example"}):
        for response in (upload(client, ("glaciers.md", GLACIERS.encode()), headers=headers),
                         client.post("/review/documents/delete", data={"doc_id": doc_id}, headers=headers),
                         client.post("/review/documents/groups", data={"doc_id": doc_id, "groups": "everyone"},
                                     headers=headers)):
            assert (response.status_code, response.json()) == (403, {"detail": "Cross-site form refused."})
    assert set(rows(client.get("/review/documents").text)) == {"parts.csv", "rivers.html", "tea.txt", "volcanoes.md"}


def test_changing_groups_is_confirmed_and_an_unknown_group_refused(client, root) -> None:
    assert CliRunner().invoke(cli, ["--data-dir", str(root.settings.data_dir), "groups", "add", "hr"]).exit_code == 0
    client.sign_in("ada")
    html = client.get("/review/documents").text
    assert 'name="groups" value="hr"' in html  # a known group is offered
    doc_id = doc_id_of(html, "tea.txt")
    response = client.post("/review/documents/groups", data={"doc_id": doc_id, "groups": ["hr", "everyone"]},
                           headers=ORIGIN)
    assert response.status_code == 200  # after the 303
    assert "tea.txt is now seen by: everyone, hr." in response.text
    assert rows(response.text)["tea.txt"].count('class="reason group"') == 2
    refused = client.post("/review/documents/groups", data={"doc_id": doc_id, "groups": "finance"}, headers=ORIGIN)
    assert refused.status_code == 400 and "finance" in refused.json()["detail"]
    none = client.post("/review/documents/groups", data={"doc_id": doc_id}, headers=ORIGIN)
    assert (none.status_code, none.json()) == (400, {"detail": "Name at least one group (everyone, when all may see it)."})


def test_a_delete_is_confirmed_first_then_done(client, root) -> None:
    client.sign_in("ada")
    doc_id = doc_id_of(client.get("/review/documents").text, "volcanoes.md")
    confirm = client.get("/review/documents/delete", params={"doc_id": doc_id})
    assert confirm.status_code == 200 and "Delete a document?" in confirm.text
    assert "Volcanoes" in confirm.text and "Its 1 chunk will leave the index" in confirm.text
    assert 'id="confirm-delete"' in confirm.text and 'href="/review/documents">Cancel' in confirm.text
    assert "volcanoes.md" in rows(client.get("/review/documents").text)  # asking deleted nothing

    done = client.post("/review/documents/delete", data={"doc_id": doc_id}, headers=ORIGIN)
    assert done.status_code == 200 and "Deleted volcanoes.md (1 chunk)." in done.text
    assert "volcanoes.md" not in rows(done.text)
    again = client.post("/review/documents/delete", data={"doc_id": doc_id}, headers=ORIGIN)
    assert (again.status_code, again.json()) == (404, {"detail": "No such document."})
    assert client.get("/review/documents/delete", params={"doc_id": doc_id}).status_code == 404
