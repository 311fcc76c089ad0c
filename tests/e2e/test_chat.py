"""What a user sees in the chat: streamed answers, their sources, follow-ups, hostile documents,
bad questions and a model that does not answer in time."""

import re
import time

from playwright.sync_api import Locator, expect

from tests.e2e.conftest import (
    EMPTY_MESSAGE,
    EVIL_HOST,
    EVIL_PHRASE,
    LLM_DELAY,
    NILE_LENGTH,
    Chat,
    foreign,
)

NILE_QUESTION = "Where does the Blue Nile meet the White Nile?"
NILE_MEETING = "The White Nile and the Blue Nile meet at Khartoum, the capital of Sudan"
EVIL_QUESTION = f"How often must the {EVIL_PHRASE} be recalibrated?"
SCRIPT_TEXT = "<script>window.__pwned=1</script>"
IMG_TEXT = f'<img src="http://{EVIL_HOST}/pixel.png" onerror="window.__pwned=1">'
JS_LINK_TEXT = "[click](javascript:window.__pwned=1)"


def content(answer: Locator) -> Locator:
    """The message text itself, without the avatar and the copy button."""
    return answer.locator(".message-content")


def words(answer: Locator) -> Locator:
    """The answer's own words, without the source cards under it (which quote every source)."""
    return answer.locator(".message-content .prose").first


def test_answer_streams_and_its_citation_opens_the_source(chat: Chat):
    chat.record_answer_texts()
    answer = chat.ask(NILE_QUESTION)

    final = content(answer).inner_text().strip()
    assert NILE_MEETING in final
    shown = [text.strip() for text in chat.answer_texts()]
    partial = [text for text in shown if text and text != final and len(text) < len(final)]
    assert partial, f"the answer appeared all at once, never in part: {shown}"
    assert final.startswith(partial[0][:20]), f"a partial text that is not the start of the answer: {partial[0]!r}"

    links = answer.locator("a.element-link")
    expect(links.first).to_have_text("[1]")
    expect(chat.side_content).to_have_count(0)  # closed until a citation is clicked
    source = chat.open_source(answer, 1)
    expect(source).to_contain_text("The Nile")
    expect(source).to_contain_text(NILE_MEETING)
    expect(source).not_to_contain_text("Mount Etna")  # that one source, not all of them


def test_follow_up_question_is_answered_about_the_same_subject(chat: Chat):
    first = chat.ask(NILE_QUESTION)
    expect(words(first)).not_to_contain_text(NILE_LENGTH)  # so the follow-up has something new to find

    # Alone, "How long is it?" is not confidently about anything (the railway has a length too):
    # only the conversation makes it a question about the Nile.
    follow_up = chat.ask("How long is it?")
    expect(follow_up).to_contain_text(NILE_LENGTH)
    expect(words(follow_up)).not_to_contain_text("9,289")
    expect(follow_up).not_to_contain_text("Flagged for review")
    source = chat.open_source(follow_up, 1)
    expect(source).to_contain_text("The Nile")
    expect(source).to_contain_text(NILE_LENGTH)


def test_hostile_document_is_shown_as_text_and_loads_nothing(chat: Chat, requests_seen: list[str]):
    page = chat.page
    loaded = len(requests_seen)  # the page itself is loaded; from here on it is the answer and its source
    answer = chat.ask(EVIL_QUESTION)
    expect(answer).to_contain_text("recalibrated every quarter")
    source = chat.open_source(answer, 1)
    expect(source).to_contain_text("Zorblax maintenance notes")
    page.wait_for_timeout(1000)  # time for an injected image to fail and its onerror to run

    assert page.evaluate("typeof window.__pwned") == "undefined"
    for shown in (content(answer), source):
        visible = shown.inner_text().replace("\u2060", "")  # word joiners keep URLs from autolinking
        assert SCRIPT_TEXT in visible and IMG_TEXT in visible and JS_LINK_TEXT in visible  # as text
        expect(shown.locator("img, script, iframe, object, embed")).to_have_count(0)
    expect(page.locator(f'img[src*="{EVIL_HOST}"], script[src*="{EVIL_HOST}"]')).to_have_count(0)
    assert page.evaluate("[...document.scripts].filter(s => s.text.includes('__pwned')).length") == 0
    expect(page.locator('a[href^="javascript:" i]')).to_have_count(0)

    assert not [url for url in requests_seen if EVIL_HOST in url], requests_seen
    elsewhere = foreign(requests_seen[loaded:])
    assert not elsewhere, f"the answer or its source made the page ask other hosts for: {elsewhere}"


def test_chat_page_asks_nothing_of_other_hosts(chat: Chat, requests_seen: list[str]):
    chat.ask(NILE_QUESTION)
    elsewhere = foreign(requests_seen)
    assert not elsewhere, f"the page asked other hosts for: {elsewhere}"


def test_urls_in_documents_do_not_become_links(chat: Chat):
    answer = chat.ask(EVIL_QUESTION)
    source = chat.open_source(answer, 1)
    expect(source).to_contain_text("Zorblax maintenance notes")
    expect(chat.page.locator(f'a[href*="{EVIL_HOST}"]')).to_have_count(0, timeout=1000)


def test_bad_questions_get_a_short_message_and_the_chat_goes_on(chat: Chat):
    # Whitespace only: the page does not let it be sent.
    chat.input.fill("  \n\t  ")
    expect(chat.submit).to_be_disabled()
    chat.input.press("Enter")
    chat.page.wait_for_timeout(500)
    expect(chat.questions).to_have_count(0)
    expect(chat.answers).to_have_count(0)

    # Invisible characters get past the page; the server says the question is empty.
    empty = chat.ask("\u200b \u200b")
    expect(content(empty)).to_have_text(EMPTY_MESSAGE)

    long = chat.ask("Nile " * 20_000)  # 100 kB, as if pasted
    expect(content(long)).to_have_text("The question is too long (100,000 characters; the limit is 4,000).")
    expect(chat.questions.nth(1)).to_have_text(re.compile(r"^\s*(Nile ){39}Nile…\s*$"))  # its first 200 characters

    junk = chat.ask("\ufffd\x01\x02" * 300)
    expect(content(junk)).to_have_text("That does not look like a question: it contains binary data.")

    for message in (empty, long, junk):
        expect(message.locator("a.element-link")).to_have_count(0)

    answer = chat.ask(NILE_QUESTION)
    expect(answer).to_contain_text(NILE_MEETING)
    expect(answer.locator("a.element-link").first).to_have_text("[1]")
    expect(chat.answers).to_have_count(4)


def test_slow_model_still_gets_an_offline_answer_with_a_notice(slow_chat: Chat, slow_llm):
    asked = len(slow_llm.requests)
    started = time.monotonic()
    answer = slow_chat.ask(NILE_QUESTION, timeout=LLM_DELAY / 2)  # the server's first answer also loads the model
    took = time.monotonic() - started

    expect(answer).to_contain_text("The language model did not answer (timed out), so this is the offline answer.")
    expect(answer).to_contain_text(NILE_MEETING)
    expect(answer.locator("a.element-link").first).to_have_text("[1]")
    assert took < LLM_DELAY / 2, f"the answer took {took:.1f} s"
    assert len(slow_llm.requests) > asked and slow_llm.requests[-1]["model"] == "stub-model"  # it did ask the model
    expect(slow_chat.page.get_by_text("Answers are written by the model stub-model from your documents")).to_be_visible()


def test_the_first_screen_is_groundloops_own(chat: Chat):
    page = chat.page
    expect(page).to_have_title("groundloop")
    starters = page.locator("#starters button")
    expect(starters).to_have_count(4)  # from the titles of the indexed documents
    assert set(starters.all_inner_texts()) <= {"The Nile", "Brewing green tea", "Mount Etna",
                                                "The Trans-Siberian Railway", "Zorblax maintenance notes"}
    starters.filter(has_text="Mount Etna").click()
    answer = chat.answers.first
    chat.settle(answer)
    footer = "Answers are quoted from your documents by groundloop's offline answerer, with their sources."
    expect(page.get_by_text(footer)).to_be_visible()
    expect(page.get_by_text("LLMs can make mistakes")).to_have_count(0)
    expect(answer).to_contain_text("Mount Etna is an active stratovolcano")
    card = answer.get_by_role("group", name="Source [1]")
    expect(card).to_contain_text("etna.md")  # the path in the folder ingested
    expect(card.get_by_role("button", name="Relevant", exact=True)).to_have_attribute("aria-pressed", "false")
