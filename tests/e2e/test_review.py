"""Review, end to end: someone rates an answer down in the chat; a reviewer signs in, opens it from
the queue, marks a source, finds the right source with the search box, approves a corrected answer
and downloads the qrels; a later, closely worded question in the chat gets that answer, marked as
verified, with that source.
"""

import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from feedback import export
from feedback.db import Database
from feedback.models import Answer, Feedback, Review
from tests.e2e.conftest import ASSISTANT, GROUNDLOOP, _env, server_db
from tests.e2e.feedback_fixtures import PEOPLE, Server, answer_of, sign_in_page, start_server, stop_server, user_id

QUESTION = "What makes green tea bitter?"
LATER = "What makes green tea taste bitter?"
CORRECTED = "Water that is too hot scorches the leaves: steep green tea at about 80 degrees Celsius [1]."
TEA_SOURCE = "Boiling water scorches the leaves and makes the tea taste bitter."
REVIEWER = "dave"


@pytest.fixture(scope="module")
def review_server(e2e_dir: Path, data_dir: Path) -> Iterator[Server]:
    """A server of its own (its verified answers would change other tests' answers), with a reviewer; its
    queue holds only doubted answers, not weakly matched ones, so the one rated down is all that waits."""
    server = start_server("review", data_dir, e2e_dir, review_unsure_share="0")
    promoted = subprocess.run(
        [str(GROUNDLOOP), "--data-dir", str(server.data_dir), "users", "set-role", REVIEWER, "reviewer"],
        cwd=e2e_dir, env=_env(), capture_output=True, text=True, timeout=120,
    )
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    yield server
    stop_server(server)


def test_an_approved_correction_is_served_as_the_verified_answer(browser: Browser, review_server: Server) -> None:
    asker, reviewer, later_asker = (browser.new_context(viewport={"width": 1280, "height": 800}) for _ in range(3))
    with server_db(review_server) as review_db:
        try:
            rated = rate_down(asker.new_page(), review_server, review_db)
            review_in_the_browser(reviewer.new_page(), review_server, review_db, rated)
            later = sign_in_page(later_asker.new_page(), review_server, "bob")
            answer = later.ask(LATER)
            expect(answer).to_contain_text("Verified by a reviewer")
            expect(answer).to_contain_text(CORRECTED.removesuffix(" [1]."))
            expect(later.open_source(answer, 1)).to_contain_text(TEA_SOURCE)
            step_id = answer.locator("[id^='step-']").first.get_attribute("id").removeprefix("step-")
            served = answer_of(review_db, step_id)
            assert served is not None and served.answerer == "verified" and served.user_id == user_id(review_db, "bob")
        finally:
            for context in (asker, reviewer, later_asker):
                context.close()


def rate_down(page: Page, server: Server, db: Database) -> Answer:
    """Alice asks and rates the answer down, as in the chat."""
    chat = sign_in_page(page, server, "alice")
    answer = chat.ask(QUESTION)
    step_id = answer.locator("[id^='step-']").first.get_attribute("id").removeprefix("step-")
    answer = page.locator(ASSISTANT).filter(has=page.locator(f"#step-{step_id}"))
    down = answer.get_by_role("button", name="Not helpful", exact=True)
    down.click()  # shown once the answer is stored
    expect(down).to_have_attribute("aria-pressed", "true")
    answer.get_by_role("button", name="Add a comment").click()
    answer.get_by_label("Comment", exact=True).fill("It should say how hot the water may be.")
    answer.get_by_role("button", name="Save", exact=True).click()
    expect(answer.get_by_role("status")).to_have_text("Thanks — your comment is saved.")
    stored = answer_of(db, step_id)
    assert stored is not None and "Verified by a reviewer" not in answer.inner_text()
    return stored


def review_in_the_browser(page: Page, server: Server, db: Database, rated: Answer) -> None:
    """The reviewer asks for the queue signed out, signs in and is sent back; opens the answer, searches
    (with the keyboard), attaches, corrects, approves and sees it confirmed."""
    page.goto(server.url + "/review?reason=down")
    expect(page).to_have_url(server.url + "/chat/login")  # not a page of JSON
    page.get_by_label("User name").fill(REVIEWER)
    page.locator("#password").fill(PEOPLE[REVIEWER])
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(server.url + "/review?reason=down", timeout=30_000)  # and back
    expect(page.get_by_label("Reason")).to_have_value("down")  # the filter stays in the URL
    item = page.locator(f'tr.item[data-answer-id="{rated.id}"]')
    expect(item).to_contain_text("rated down")
    item.get_by_role("link", name=QUESTION).click()
    expect(page).to_have_url(f"{server.url}/review/answers/{rated.id}")
    expect(page.locator("#question")).to_have_text(QUESTION)

    shown = page.locator("#sources tr[data-rank='1']")
    shown.get_by_role("button", name="Relevant", exact=True).click()  # the page comes back with the mark
    expect(page.get_by_role("status")).to_have_text("Marked [1] as relevant.")
    expect(shown.locator(".mine")).to_have_text("relevant")
    expect(shown.get_by_role("button", name="Relevant", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(shown).to_contain_text("1 / 0")

    expect(page.locator("#shortcuts")).to_contain_text("/ search the index")
    page.locator("body").press("/")  # the shortcut to the search box
    expect(page.get_by_label("Search the index")).to_be_focused()
    page.keyboard.type("steeping temperature of green tea")
    page.keyboard.press("Enter")
    found = page.locator("#found li").filter(has_text="Brewing green tea")
    expect(found).to_contain_text(TEA_SOURCE)
    tea_doc = found.locator('input[name="doc_ids"]').get_attribute("value")
    expect(page.locator(f'#approve input[name="doc_ids"][value="{tea_doc}"]')).to_have_count(1)  # listed once
    for shown in page.locator('#approve fieldset > label > input[name="doc_ids"]').all():
        shown.uncheck()  # only the source found by search is attached
    found.locator('input[name="doc_ids"]').check()
    page.locator("#text").fill(CORRECTED)
    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(f"{server.url}/review?decided={rated.id}")  # nothing else waits: the queue
    expect(page.get_by_role("status")).to_have_text(
        f"Approved “{QUESTION}”: its answer is now served as the verified answer.")
    expect(page.locator(f'tr.item[data-answer-id="{rated.id}"]')).to_have_count(0)

    with db.read() as session:
        [review] = session.exec(select(Review).where(Review.answer_id == rated.id)).all()
        [mark] = session.exec(select(Feedback).where(Feedback.answer_id == rated.id,
                                                     Feedback.kind == "source_mark")).all()
    assert (review.decision, review.text, review.doc_ids) == ("approved", CORRECTED, [tea_doc])
    assert review.reviewer_id == mark.user_id == user_id(db, REVIEWER) and mark.value == 1

    page.locator("#export select[name=format]").select_option("qrels")
    with page.expect_download() as downloading:
        page.get_by_role("button", name="Download").click()
    download = downloading.value
    assert download.suggested_filename == "groundloop-qrels.zip"
    with zipfile.ZipFile(download.path()) as archive:
        tsv = archive.read("qrels/test.tsv").decode()
    assert f"{export.query_id(QUESTION)}\t{tea_doc}\t1" in tsv
