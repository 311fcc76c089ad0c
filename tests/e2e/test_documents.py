"""The documents page in the browser: an admin uploads a file (with a progress bar and an outcome per file),
the chat then answers from it (a file over the size limit, or of a type groundloop cannot read, is
refused with the reason groundloop ingest gives); the admin gives it to a group, and a person outside that group no longer
finds it; the admin deletes it (after a confirmation page) and the chat no longer finds it at all.
"""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import GROUNDLOOP, _env
from tests.e2e.feedback_fixtures import Server, sign_in_page, start_server, stop_server

ADMIN = "carol"
OUTSIDER = "bob"
GLACIERS = """# Glaciers

A valley glacier creeps downhill at about one metre a day, grinding the rock beneath it into fine flour.
That rock flour turns the meltwater rivers below a glacier milky turquoise.
"""
QUESTION = "How fast does a valley glacier creep downhill?"
FOUND = "one metre a day"
LIMIT_MB = 0.1


@pytest.fixture(scope="module")
def documents_server(e2e_dir: Path, data_dir: Path) -> Iterator[Server]:
    """A server of its own (its documents change), with an admin and a group ``hr`` nobody is in."""
    server = start_server("documents", data_dir, e2e_dir, max_file_mb=str(LIMIT_MB))
    for args in (["users", "set-role", ADMIN, "admin"], ["groups", "add", "hr"]):
        done = subprocess.run([str(GROUNDLOOP), "--data-dir", str(server.data_dir), *args],
                              cwd=e2e_dir, env=_env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    yield server
    stop_server(server)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "glaciers.md").write_text(GLACIERS)
    (tmp_path / "tool.exe").write_bytes(b"MZ\x90\x00")
    (tmp_path / "big.txt").write_text("A long line of words about nothing in particular.\n" * 6000)  # 0.3 MB
    return {path.name: path for path in tmp_path.iterdir()}


def row(page: Page, path: str):
    return page.locator(f'tr.document[data-path="{path}"]')


def answer_text(browser: Browser, server: Server, name: str) -> str:
    """What ``name`` is answered in a chat of their own."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        return sign_in_page(context.new_page(), server, name).ask(QUESTION).inner_text()
    finally:
        context.close()


def test_an_admin_uploads_regroups_and_deletes_a_document(browser: Browser, documents_server: Server,
                                                           files: dict[str, Path], e2e_dir: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        sign_in_page(page, documents_server, ADMIN)
        page.goto(documents_server.url + "/review/documents")
        expect(page.get_by_role("heading", name="Documents")).to_be_visible()
        expect(row(page, "nile.md")).to_contain_text("The Nile")
        expect(row(page, "glaciers.md")).to_have_count(0)

        # Upload: a bar and an outcome for each file, and the listing read again.
        page.locator("#files").set_input_files([files["glaciers.md"], files["tool.exe"], files["big.txt"]])
        page.get_by_role("button", name="Upload").click()
        added = page.locator('.upload-result[data-name="glaciers.md"]')
        refused = page.locator('.upload-result[data-name="tool.exe"]')
        expect(added).to_have_class("upload-result added")
        expect(added).to_contain_text("added, 1 chunk")
        expect(added.locator("progress")).to_have_attribute("value", "1")
        expect(refused).to_contain_text("failed: unsupported file type '.exe'")  # as groundloop ingest says it
        expect(page.locator('.upload-result[data-name="big.txt"]')).to_contain_text(
            "failed: too large (0.3 MB; the limit is 0.1 MB)")
        expect(row(page, "glaciers.md")).to_contain_text("Glaciers")
        expect(row(page, "glaciers.md").locator(".group")).to_have_text(["everyone"])
        page.screenshot(path=str(e2e_dir / "documents.png"), full_page=True)  # docs/images/documents.png
        assert FOUND in answer_text(browser, documents_server, OUTSIDER)

        # Groups: only hr may find it now, and bob is not in hr.
        glaciers = row(page, "glaciers.md")
        glaciers.get_by_text("Change").click()
        glaciers.get_by_label("hr").check()
        glaciers.get_by_label("everyone").uncheck()
        glaciers.get_by_role("button", name="Save groups").click()
        expect(page.get_by_role("status")).to_have_text("glaciers.md is now seen by: hr.")
        expect(row(page, "glaciers.md").locator(".group")).to_have_text(["hr"])
        assert FOUND not in answer_text(browser, documents_server, OUTSIDER)

        # Delete: a confirmation first, then gone from the listing and from every answer.
        row(page, "glaciers.md").get_by_role("link", name="Delete").click()
        expect(page.get_by_role("heading", name="Delete a document?")).to_be_visible()
        expect(page.locator("#doomed")).to_contain_text("glaciers.md")
        page.get_by_role("button", name="Delete").click()
        expect(page.get_by_role("status")).to_have_text("Deleted glaciers.md (1 chunk).")
        expect(row(page, "glaciers.md")).to_have_count(0)
        expect(row(page, "nile.md")).to_have_count(1)
        page.goto(documents_server.url + "/review/documents")
        expect(row(page, "glaciers.md")).to_have_count(0)
        assert not (documents_server.data_dir / "uploads" / "glaciers.md").exists()
        assert FOUND not in answer_text(browser, documents_server, ADMIN)
    finally:
        context.close()


def test_a_person_who_is_not_an_admin_is_refused(browser: Browser, documents_server: Server) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in_page(page, documents_server, OUTSIDER)
        response = page.goto(documents_server.url + "/review/documents")
        assert response.status == 403
        expect(page.locator("body")).to_contain_text("Reviewers only.")
    finally:
        context.close()

