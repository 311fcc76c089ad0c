"""The chat page answers each person from the documents of their groups only (the chat row of the leak
matrix in ``tests/app/test_permissions.py``): Olive, outside ``hr``, never sees the HR document in an
answer, its sources, its cards or the suggested first questions; Hank, in ``hr``, does; and once Olive is put in ``hr`` her very next
question sees it, without signing in again."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import GROUNDLOOP, Chat, Server, _env
from tests.groups_world import groups_world

PASSWORD = "a-long-enough-password"
PAY = "How much does a volcano team lead earn a year?"
MARKERS = ("zephyrine", "91,000", "salaries-zq7")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embeddings) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("chat-permissions")
    settings, db = groups_world(root, password=PASSWORD, embeddings=embeddings, public={
        "volcano-team.md": "# The volcano team\n\nThe volcano team leads field trips to Etna every spring; "
                           "a team lead plans the year.\n"}, hr={
        "salaries-zq7.md": "# Zephyrine salary bands\n\nThe zephyrine band pays 91,000 euros a year to volcano "
                           "team leads.\n"}, people=[("hank", "user", "hr"), ("olive", "user", "")])
    db.dispose()
    started = Server("chat-permissions", settings.data_dir, root).wait_ready()
    try:
        yield started
    finally:
        started.stop()


def signed_in(browser: Browser, server: Server, name: str) -> Chat:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    chat = Chat(page, server)
    page.goto(server.url + "/")
    page.locator("#email").fill(name)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(chat.input).to_be_editable(timeout=30_000)
    return chat


def everything_shown(chat: Chat) -> str:
    """The answers with their source cards, and every source's text as the page holds it."""
    return chat.page.locator("body").inner_text().lower() + chat.page.content().lower()


def test_the_chat_answers_each_person_from_their_groups_only(browser: Browser, server: Server) -> None:
    olive = signed_in(browser, server, "olive")
    expect(olive.page.locator("#starters button")).to_have_text(["The volcano team"])  # titles she may see only
    answer = olive.ask(PAY)
    expect(answer).to_contain_text("volcano team")
    assert [m for m in MARKERS if m in everything_shown(olive)] == []

    hank = signed_in(browser, server, "hank")
    expect(hank.page.locator("#starters button")).to_have_count(2)
    hank.ask(PAY)
    assert "zephyrine" in everything_shown(hank)

    joined = subprocess.run([str(GROUNDLOOP), "--data-dir", str(server.data_dir), "users", "set-groups", "olive", "hr"],
                            env=_env(), cwd=Path(server.data_dir).parent, capture_output=True, text=True, timeout=120)
    assert joined.returncode == 0, joined.stdout + joined.stderr
    olive.ask(PAY + " In euros, please.")
    assert "zephyrine" in everything_shown(olive)
