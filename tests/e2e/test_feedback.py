"""Feedback in the chat, end to end: sign in, rate, comment, mark a source, correct an answer, and
find the thread again after a reload. And that nobody can do any of it to someone else's answers or
threads, through the HTTP routes and the websocket Chainlit exposes.
"""

import re
import time
import uuid

import httpx
import pytest
import socketio
from playwright.sync_api import Page, expect
from sqlmodel import select

from feedback.db import Database
from feedback.models import Citation, Element, Step, Thread
from tests import postgres
from tests.e2e.conftest import ASSISTANT, NILE_LENGTH
from tests.e2e.feedback_fixtures import (  # noqa: F401 (fixtures)
    Server,
    Socket,
    answer_of,
    feedback_db,
    feedback_rows,
    feedback_server,
    sign_in_page,
    signed_in,
    sockets,
    start_server,
    stop_server,
    user_id,
)

NILE_QUESTION = "Where does the Blue Nile meet the White Nile?"
NILE_MEETING = "The White Nile and the Blue Nile meet at Khartoum"
TEA_QUESTION = "How hot should the water be for green tea?"
COMMENT = "It should say which country Khartoum is in."
CORRECTION = "They meet at Khartoum, the capital of Sudan."
WRONG_PASSWORD = ("That user name and password do not match. Check both and try again; "
                  "an administrator can reset a forgotten password.")
DB_DOWN = "The feedback database cannot be reached right now; nothing was saved."


def refused(response: httpx.Response, status: int, detail: str) -> None:
    assert (response.status_code, response.json().get("detail")) == (status, detail), response.text


def test_feedback_given_in_the_browser_is_stored_and_the_thread_resumes(
    page: Page, feedback_server: Server, feedback_db: Database
):
    chat = sign_in_page(page, feedback_server, "carol")
    answer = chat.ask(NILE_QUESTION)
    expect(answer).to_contain_text(NILE_MEETING)
    step_id = answer.locator("[id^='step-']").first.get_attribute("id").removeprefix("step-")
    answer = page.locator(ASSISTANT).filter(has=page.locator(f"#step-{step_id}"))  # stays put as messages follow
    expect(answer.get_by_role("button", name="Suggest a correction")).to_be_visible()  # offered once it is stored
    stored = answer_of(feedback_db, step_id)
    assert stored is not None and stored.user_id == user_id(feedback_db, "carol")
    with feedback_db.read() as session:
        thread = session.get(Thread, stored.thread_id)
        sources = {c.rank: c.doc_id for c in session.exec(select(Citation).where(Citation.answer_id == stored.id))}
    assert thread.user_id == stored.user_id and {1, 2} <= set(sources)
    shown = chat.answers.count()

    # A thumb down, saved on click; the comment comes later, and Escape on its form keeps the thumb.
    down = answer.get_by_role("button", name="Not helpful", exact=True)
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    _wait_for(lambda: [f.kind for f in feedback_rows(feedback_db, stored.id)] == ["thumb"], "the thumb, saved")
    answer.get_by_role("button", name="Add a comment").click()
    answer.get_by_label("Comment", exact=True).press("Escape")
    expect(answer.get_by_label("Comment", exact=True)).to_have_count(0)
    expect(down).to_have_attribute("aria-pressed", "true")
    answer.get_by_role("button", name="Add a comment").click()
    answer.get_by_label("Comment", exact=True).fill(COMMENT)
    answer.get_by_role("button", name="Save", exact=True).click()
    expect(answer.get_by_role("status")).to_have_text("Thanks — your comment is saved.")

    # A source marked not relevant in one click; a second click takes the mark back; then marked again.
    card = answer.get_by_role("group", name="Source [2]")
    expect(card).to_contain_text(".md")  # its path in the folder ingested, never the server's own
    expect(card).not_to_contain_text(str(feedback_server.data_dir.parent))
    not_relevant = card.get_by_role("button", name="Not relevant", exact=True)
    not_relevant.click()
    expect(not_relevant).to_have_attribute("aria-pressed", "true")
    expect(card.get_by_role("button", name="Relevant", exact=True)).to_have_attribute("aria-pressed", "false")
    _wait_for(lambda: "source_mark" in [f.kind for f in feedback_rows(feedback_db, stored.id)], "the mark, saved")
    not_relevant.click()
    expect(not_relevant).to_have_attribute("aria-pressed", "false")
    _wait_for(lambda: "source_mark" not in [f.kind for f in feedback_rows(feedback_db, stored.id)], "the mark, gone")
    not_relevant.click()
    expect(not_relevant).to_have_attribute("aria-pressed", "true")

    # A correction in a form: Cancel and Escape store nothing and leave the message box alone.
    correct = answer.get_by_role("button", name="Suggest a correction")
    correct.click()
    answer.get_by_label("Correction", exact=True).fill("never mind. What does the export command do?")
    answer.get_by_role("button", name="Cancel", exact=True).click()
    expect(answer.get_by_label("Correction", exact=True)).to_have_count(0)
    correct.click()
    answer.get_by_label("Correction", exact=True).fill("never mind")
    answer.get_by_label("Correction", exact=True).press("Escape")
    expect(answer.get_by_label("Correction", exact=True)).to_have_count(0)
    assert "correction" not in [f.kind for f in feedback_rows(feedback_db, stored.id)]
    correct.click()
    answer.get_by_label("Correction", exact=True).fill(CORRECTION)
    answer.get_by_role("checkbox", name=re.compile(r"^\[1\] ")).check()
    answer.get_by_role("button", name="Save", exact=True).click()
    expect(answer.get_by_role("status")).to_have_text("Thanks — your correction is saved. A reviewer will look at it.")
    expect(chat.input).to_be_editable()
    expect(chat.input).to_have_text("")
    expect(chat.answers).to_have_count(shown)  # none of it added a message to the chat

    carol = user_id(feedback_db, "carol")
    rows = [(f.kind, f.value, f.text, f.citation_id is not None, f.doc_ids, f.user_id == carol)
            for f in feedback_rows(feedback_db, stored.id)]
    assert rows == [
        ("thumb", -1, None, False, [], True),
        ("comment", None, COMMENT, False, [], True),
        ("source_mark", 0, None, True, [sources[2]], True),
        ("correction", None, CORRECTION, False, [sources[1]], True),
    ]
    with feedback_db.read() as session:
        mark = next(f for f in feedback_rows(feedback_db, stored.id) if f.kind == "source_mark")
        assert session.get(Citation, mark.citation_id).rank == 2

    # "Open" shows the whole source on its card, as text.
    first = answer.get_by_role("group", name="Source [1]")
    first.get_by_role("button", name="Open").click()
    expect(first).to_contain_text(NILE_MEETING)
    _wait_for(lambda: "source_open" in [f.kind for f in feedback_rows(feedback_db, stored.id)], "the opening, noted")

    # After a reload the thread is in the history; it resumes with its thumb, marks and sources, the panel shut.
    page.reload()
    expect(chat.input).to_be_editable(timeout=30_000)
    history = page.locator("#thread-history")
    expect(history).to_contain_text(NILE_QUESTION)
    history.get_by_text(NILE_QUESTION).first.click()
    expect(page).to_have_url(f"{feedback_server.url}/chat/thread/{stored.thread_id}")
    resumed = page.locator(ASSISTANT).filter(has=page.locator(f"#step-{step_id}"))
    expect(resumed).to_contain_text(NILE_MEETING)
    expect(resumed.get_by_role("button", name="Not helpful", exact=True)).to_have_attribute("aria-pressed", "true")
    resumed_card = resumed.get_by_role("group", name="Source [2]")
    expect(resumed_card.get_by_role("button", name="Not relevant", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(resumed.get_by_role("button", name="Suggest a correction")).to_be_visible()
    expect(chat.side_content).to_have_count(0)  # nobody clicked a source yet
    expect(chat.open_source(resumed, 1)).to_contain_text(NILE_MEETING)

    # The conversation goes on where it was: the follow-up is about the Nile, in the same thread.
    follow_up = chat.ask("How long is it?")
    expect(follow_up).to_contain_text(NILE_LENGTH)
    with feedback_db.read() as session:
        asked = session.exec(select(Step.output).where(Step.thread_id == stored.thread_id,
                                                       Step.type == "user_message")).all()
    assert asked == [NILE_QUESTION, "How long is it?"]  # the message box was never taken over


def _wait_for(found, what: str, timeout: float = 15) -> None:
    """The page says it is saved once the server answered; the test reads the database, so it waits too."""
    deadline = time.monotonic() + timeout
    while not found():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} in {timeout} s")
        time.sleep(0.05)


def test_sign_in_needs_the_right_password(feedback_server: Server, page: Page):
    response = httpx.post(f"{feedback_server.url}/chat/login", data={"username": "alice", "password": "wrong"})
    refused(response, 401, "credentialssignin")
    response = httpx.post(f"{feedback_server.url}/chat/login", data={"username": "mallory", "password": "x"})
    refused(response, 401, "credentialssignin")
    for path in ("/chat/user", f"/chat/project/thread/{uuid.uuid4()}"):
        assert httpx.get(feedback_server.url + path).status_code == 401
    page.goto(feedback_server.url + "/")
    expect(page).to_have_url(f"{feedback_server.url}/chat/login")
    for theme in ("light", "dark"):  # groundloop's own logo, served by this server
        logo = httpx.get(f"{feedback_server.url}/chat/logo", params={"theme": theme})
        assert logo.status_code == 200 and b'aria-label="groundloop"' in logo.content
    page.get_by_label("User name").fill("alice")
    page.locator("#password").fill("wrong")
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("alert")).to_have_text(WRONG_PASSWORD)
    page.wait_for_timeout(500)  # time for a raw notice to appear beside it
    expect(page.get_by_text("credentialssignin")).to_have_count(0)
    expect(page.get_by_text("Email address")).to_have_count(0)


def test_the_sign_in_secret_is_made_once_and_kept_private(feedback_server: Server, tmp_path):
    from app.server import auth_secret
    from app.settings import Settings

    made = feedback_server.data_dir / "auth_secret"
    assert made.stat().st_mode & 0o777 == 0o600 and len(made.read_text()) >= 64  # made by the server's first start
    first = auth_secret(Settings(data_dir=tmp_path / "data"))
    assert auth_secret(Settings(data_dir=tmp_path / "data")) == first  # kept: sign-ins survive a restart
    assert (tmp_path / "data" / "auth_secret").stat().st_mode & 0o777 == 0o600
    configured = "c" * 64
    assert auth_secret(Settings(data_dir=tmp_path / "other", auth_secret=configured)) == configured
    assert not (tmp_path / "other" / "auth_secret").exists()


def test_nobody_rates_comments_on_or_deletes_feedback_on_someone_elses_answer(
    feedback_server: Server, feedback_db: Database, sockets
):
    alice, bob = signed_in(feedback_server, "alice"), signed_in(feedback_server, "bob")
    reply = sockets(feedback_server, alice).ask(NILE_QUESTION)
    answer = answer_of(feedback_db, reply.message_id)
    rated = alice.put("/chat/feedback", json={
        "feedback": {"forId": reply.run_id, "value": 1, "comment": "Clear."}, "sessionId": "a"})
    assert rated.status_code == 200, rated.text
    thumb_id = rated.json()["feedbackId"]
    before = [(f.id, f.kind, f.value, f.text) for f in feedback_rows(feedback_db, answer.id)]
    assert [row[1:] for row in before] == [("thumb", 1, None), ("comment", None, "Clear.")]

    # Chainlit's PUT /feedback answered every refusal with 500; now with the refusal's own status.
    for for_id in (reply.run_id, reply.message_id):
        for feedback in ({"value": 0}, {"value": 0, "comment": "Wrong."}, {"value": 1, "id": thumb_id}):
            response = bob.put("/chat/feedback", json={"feedback": {"forId": for_id, **feedback}, "sessionId": "b"})
            refused(response, 403, "That answer was given to someone else.")
    refused(bob.request("DELETE", "/chat/feedback", json={"feedbackId": thumb_id}), 403,
            "That answer was given to someone else.")
    anonymous = httpx.Client(base_url=feedback_server.url)
    assert anonymous.put("/chat/feedback", json={"feedback": {"forId": reply.run_id, "value": 0},
                                                 "sessionId": "x"}).status_code == 401
    assert anonymous.request("DELETE", "/chat/feedback", json={"feedbackId": thumb_id}).status_code == 401

    assert [(f.id, f.kind, f.value, f.text) for f in feedback_rows(feedback_db, answer.id)] == before

    # Alice herself takes her thumb back.
    assert alice.request("DELETE", "/chat/feedback", json={"feedbackId": thumb_id}).status_code == 200
    assert [f.kind for f in feedback_rows(feedback_db, answer.id)] == ["comment"]


def test_nobody_marks_or_corrects_someone_elses_answer(feedback_server: Server, feedback_db: Database, sockets):
    alice, bob = signed_in(feedback_server, "alice"), signed_in(feedback_server, "bob")
    reply = sockets(feedback_server, alice).ask(NILE_QUESTION)
    bobs = sockets(feedback_server, bob)
    bobs.ask(TEA_QUESTION)  # Bob's own session, with an answer of his own
    before = len(bobs.messages())
    for name, payload in (("source_mark", {"rank": 1, "relevant": False}), ("source_mark", {"rank": 1, "relevant": None}),
                          ("correction", {"text": CORRECTION, "ranks": [1]}), ("thumb", {"value": -1}),
                          ("comment", {"text": COMMENT}), ("source_open", {"rank": 1})):
        said = bobs.act(bob, name, {"step_id": reply.message_id, **payload})
        assert said == {"ok": False, "error": "That answer was given to someone else."}, (name, said)
    assert len(bobs.messages()) == before  # refused on the card, not in the chat
    # Nor through Alice's session: Chainlit checks whose session it is.
    response = bob.post("/chat/project/action", json={"sessionId": "not-bobs", "action": {
        "name": "source_mark", "payload": {"step_id": reply.message_id, "rank": 1, "relevant": False},
        "label": "", "id": str(uuid.uuid4())}})
    assert response.status_code >= 400
    assert feedback_rows(feedback_db, answer_of(feedback_db, reply.message_id).id) == []


def test_feedback_from_the_cards_is_checked(feedback_server: Server, feedback_db: Database, sockets):
    alice = signed_in(feedback_server, "alice")
    socket = sockets(feedback_server, alice)
    reply = socket.ask(NILE_QUESTION)
    answer_id = answer_of(feedback_db, reply.message_id).id
    step = {"step_id": reply.message_id}
    assert socket.act(alice, "correction", {**step, "text": CORRECTION, "ranks": [9]}) == {
        "ok": False, "error": "The answer has no source [9]."}
    assert socket.act(alice, "correction", {**step, "text": "  ", "ranks": []}) == {
        "ok": False, "error": "The correction is empty."}
    assert socket.act(alice, "correction", {**step, "text": "x" * 10_001})["error"].startswith("The correction is too long")
    assert socket.act(alice, "source_mark", {**step, "rank": "1", "relevant": True})["ok"] is False
    assert socket.act(alice, "thumb", {**step, "value": 5})["ok"] is False
    assert socket.act(alice, "thumb", {"step_id": "no-such-step", "value": 1})["ok"] is False
    assert feedback_rows(feedback_db, answer_id) == []
    assert socket.act(alice, "thumb", {**step, "value": 1}) == {"ok": True, "thumb": 1}
    assert socket.act(alice, "thumb", {**step, "value": 0}) == {"ok": True, "thumb": 0}
    assert socket.act(alice, "source_mark", {**step, "rank": 1, "relevant": None}) == {
        "ok": True, "rank": 1, "relevant": None}  # nothing to take back is no error
    assert feedback_rows(feedback_db, answer_id) == []


def test_nobody_lists_reads_changes_or_resumes_someone_elses_thread(
    feedback_server: Server, feedback_db: Database, sockets
):
    alice, bob = signed_in(feedback_server, "alice"), signed_in(feedback_server, "bob")
    reply = sockets(feedback_server, alice).ask(NILE_QUESTION)
    thread_id = reply.thread_id
    sockets(feedback_server, bob).ask(TEA_QUESTION)
    with feedback_db.read() as session:
        element_id = session.exec(select(Element.id).where(Element.thread_id == thread_id)).first()

    def listed(client: httpx.Client, **filters) -> set[str]:
        response = client.post("/chat/project/threads", json={"pagination": {"first": 100}, "filter": filters})
        assert response.status_code == 200, response.text
        return {thread["id"] for thread in response.json()["data"]}

    assert thread_id in listed(alice)
    assert thread_id not in listed(bob) and listed(bob)  # Bob sees his own threads, only them
    assert thread_id not in listed(bob, userId=user_id(feedback_db, "alice"))  # asking for Alice's changes nothing
    assert thread_id not in listed(bob, search="Blue Nile")

    refused(bob.get(f"/chat/project/thread/{thread_id}"), 401, "Unauthorized")
    refused(bob.get(f"/chat/project/thread/{thread_id}/element/{element_id}"), 401, "Unauthorized")
    refused(bob.put("/chat/project/thread", json={"threadId": thread_id, "name": "Mine now"}), 401, "Unauthorized")
    refused(bob.put("/chat/project/thread/share", json={"threadId": thread_id, "isShared": True}), 401, "Unauthorized")
    refused(bob.request("DELETE", "/chat/project/thread", json={"threadId": thread_id}), 401, "Unauthorized")
    refused(bob.get(f"/chat/project/share/{thread_id}"), 404, "Thread not found")
    assert httpx.post(f"{feedback_server.url}/chat/project/threads",
                      json={"pagination": {"first": 5}, "filter": {}}).status_code == 401

    with pytest.raises(socketio.exceptions.ConnectionError):
        sockets(feedback_server, bob, thread_id=thread_id)  # Chainlit refuses the websocket

    # Even when Alice shares it, the thread stays hers: groundloop keeps no public link.
    assert alice.put("/chat/project/thread/share", json={"threadId": thread_id, "isShared": True}).status_code == 200
    refused(bob.get(f"/chat/project/share/{thread_id}"), 404, "Thread not found")

    with feedback_db.read() as session:
        thread = session.get(Thread, thread_id)
        assert (thread.name, thread.user_id) == (NILE_QUESTION, user_id(feedback_db, "alice"))
        assert "is_shared" not in thread.meta

    # Alice reads and resumes her own thread.
    got = alice.get(f"/chat/project/thread/{thread_id}")
    assert got.status_code == 200 and got.json()["userIdentifier"] == "alice"
    resumed = sockets(feedback_server, alice, thread_id=thread_id)
    thread = resumed.wait_for(lambda: resumed.seen("resume_thread"), "resume_thread")[0]
    assert reply.message_id in {step["id"] for step in thread["steps"]}
    follow_up = resumed.ask("How long is it?")
    assert follow_up.thread_id == thread_id and NILE_LENGTH in follow_up.text.replace("\\", "")


@pytest.fixture(scope="module")
def database_down(e2e_dir, data_dir):
    """A server whose feedback lives in PostgreSQL, which stops after Dave has had one answer saved."""
    try:
        pg = postgres.start()
    except postgres.PostgresMissing as error:
        pytest.skip(str(error))
    server = socket = None
    try:
        server = start_server("db-down", data_dir, e2e_dir, database_url=pg.create_database("e2e"))
        dave = signed_in(server, "dave")
        socket = Socket(server, dave)
        first = socket.ask(NILE_QUESTION)
        assert NILE_MEETING in first.text.replace("\\", "")
        pg.stop()  # the database goes away while people are chatting
        yield server, dave, socket, first
    finally:
        if socket is not None:
            socket.close()
        if server is not None:
            stop_server(server)
        pg.stop()


def test_a_database_that_is_down_gets_a_short_message_and_the_chat_goes_on(database_down):
    server, dave, socket, first = database_down
    reply = socket.ask(TEA_QUESTION, saved=False)
    socket.wait_for(lambda: any(DB_DOWN in m for m in socket.messages()[-2:]), "a message that the database is down")
    assert reply.message_id not in socket.rateable()  # nothing to rate: not stored

    refused(dave.put("/chat/feedback", json={"feedback": {"forId": first.run_id, "value": 0}, "sessionId": "d"}),
            503, DB_DOWN)
    refused(dave.post("/chat/project/threads", json={"pagination": {"first": 5}, "filter": {}}), 503, DB_DOWN)
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    again = socket.ask("How long is the Nile?", saved=False)
    assert again.text  # the server still answers every message


def test_a_database_that_is_down_still_lets_the_chat_answer(database_down):
    _, _, socket, _ = database_down
    reply = socket.ask(TEA_QUESTION, saved=False)
    assert "80 degrees Celsius" in reply.text.replace("\\", "")
    not_saved = "This answer could not be saved, so it cannot be rated, marked or corrected. " + DB_DOWN
    socket.wait_for(lambda: not_saved in socket.messages(), "a message that the answer was not saved")
