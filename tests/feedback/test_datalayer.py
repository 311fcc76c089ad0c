"""Chainlit's data layer over the feedback tables, on SQLite and on PostgreSQL: what a thread looks
like when it is resumed, and that nobody reads, rates or writes into another person's thread.

Chainlit calls the data layer in two ways: inside a chat session (its context names the person)
and from its HTTP routes (the app sets ``signed_in``). Both are exercised here.
"""

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any

import chainlit as cl
import pytest
from chainlit.context import init_http_context
from chainlit.types import Feedback as ChainlitFeedback
from chainlit.types import Pagination, ThreadFilter
from chainlit.utils import utc_now
from sqlmodel import select

from feedback import accounts, answer_log, opinions
from feedback.datalayer import GroundloopDataLayer, signed_in
from feedback.db import Database, DatabaseUnavailable
from feedback.models import Answer, Element, Event, Feedback, Step, Thread, User
from feedback.writing import NotAllowed, NotFound

UNREACHABLE = "postgresql+psycopg://groundloop@127.0.0.1:1/nothing"  # nothing listens on port 1


def run(coroutine: Coroutine, *, as_user: str | None = None) -> Any:
    """Run one call as Chainlit's HTTP routes do: ``as_user`` is who the request was signed in as."""

    async def signed_in_as() -> Any:
        signed_in.set(as_user)
        return await coroutine

    return asyncio.run(signed_in_as())


def in_chat(layer: GroundloopDataLayer, user: User, work) -> Any:
    """Run ``work(layer)`` inside a chat session of ``user``, as Chainlit writes history."""

    async def session() -> Any:
        init_http_context(user=await layer.get_user(user.identifier))
        return await work(layer)

    return asyncio.run(session())


def rows(db: Database, table, *where) -> list:
    with db.read() as session:
        return list(session.exec(select(table).where(*where)))


class Conversation:
    """One question and its answer, stored the way the chat stores them."""

    def __init__(self, db: Database, layer: GroundloopDataLayer, user: User, question: str = "How long is the Nile?"):
        self.thread = str(uuid.uuid4())
        self.question, self.run, self.reply = (str(uuid.uuid4()) for _ in range(3))
        self.sources = [str(uuid.uuid4()), str(uuid.uuid4())]

        async def chat(layer: GroundloopDataLayer) -> None:
            await layer.update_thread(self.thread, name=question, user_id=(await layer.get_user(user.identifier)).id)
            await layer.create_step(_step(self.question, self.thread, "user_message", user.identifier, question))
            await layer.create_step(_step(self.run, self.thread, "run", "on_message", "", parent=self.question))
            await layer.create_step(
                _step(self.reply, self.thread, "assistant_message", "groundloop", "About 6,650 km [1].",
                      parent=self.run)
            )
            for n, element_id in enumerate(self.sources, 1):
                await layer.create_element(cl.Text(
                    id=element_id, name=f"[{n}]", content=f"**Source {n}** 6,650 km & more", display="side",
                    thread_id=self.thread, for_id=self.reply,
                ))

        in_chat(layer, user, chat)
        self.answer = answer_log.record_answer(
            db, question=question, standalone_question=question, answer="About 6,650 km [1].", answerer="extractive",
            verdict="ok", reasons=[], timings_ms={}, user_id=user.id, thread_id=self.thread, step_id=self.reply,
            citations=[{"n": n, "doc_id": f"doc-{n}", "chunk_id": f"doc-{n}#0", "title": f"Doc {n}", "source": "x.md",
                        "score": 1.0, "similarity": 0.9, "cited": n == 1} for n in (1, 2)],
        )


def _step(step_id: str, thread_id: str, kind: str, name: str, output: str, parent: str | None = None) -> dict:
    return {"id": step_id, "threadId": thread_id, "parentId": parent, "type": kind, "name": name, "output": output,
            "input": "", "createdAt": utc_now(), "start": None, "end": None, "streaming": False,
            "isError": False, "waitForAnswer": False, "metadata": {}, "tags": None, "language": None}


@pytest.fixture
def layer(db: Database) -> GroundloopDataLayer:
    return GroundloopDataLayer(db)


@pytest.fixture
def talk(db: Database, layer: GroundloopDataLayer):
    def talk(user: User, question: str = "How long is the Nile?") -> Conversation:
        return Conversation(db, layer, user, question)

    return talk


def test_users_are_those_added_with_their_role(db, layer, alice):
    accounts.set_role(db, identifier="alice", role="reviewer")
    user = run(layer.get_user("alice"))
    assert (user.id, user.identifier, user.metadata) == (alice.id, "alice", {"role": "reviewer"})
    assert run(layer.get_user("mallory")) is None
    assert run(layer.create_user(cl.User(identifier="mallory"))) is None  # sign-in never creates people
    assert [u.identifier for u in accounts.list_users(db)] == ["alice"]


def test_a_resumed_thread_has_its_messages_sources_and_thumb(db, layer, alice, talk):
    chat = talk(alice)
    thumb_id = run(layer.upsert_feedback(ChainlitFeedback(forId=chat.run, value=0, comment=" Too vague. ")),
                   as_user="alice")

    thread = run(layer.get_thread(chat.thread))
    assert (thread["name"], thread["userId"], thread["userIdentifier"]) == ("How long is the Nile?", alice.id, "alice")
    assert run(layer.get_thread_author(chat.thread)) == "alice"
    assert [(s["id"], s["type"], s["parentId"]) for s in thread["steps"]] == [
        (chat.question, "user_message", None), (chat.run, "run", chat.question),
        (chat.reply, "assistant_message", chat.run),
    ]
    shown = {"id": thumb_id, "value": 0, "comment": "Too vague."}
    feedback = {s["id"]: s["feedback"] for s in thread["steps"]}
    # Chainlit's buttons rate the run that holds the answer; the answer's own message carries it too.
    assert feedback == {chat.question: None, chat.run: {"forId": chat.run, **shown},
                        chat.reply: {"forId": chat.reply, **shown}}
    reply = thread["steps"][2]
    assert reply["output"] == "About 6,650 km [1]." and reply["streaming"] is False and reply["createdAt"].endswith("Z")

    sources = sorted(thread["elements"], key=lambda e: e["name"])
    assert [(e["id"], e["name"], e["forId"], e["display"]) for e in sources] == [
        (chat.sources[0], "[1]", chat.reply, "side"), (chat.sources[1], "[2]", chat.reply, "side")]
    # The browser fetches the text from the element's URL; Chainlit's own file link dies with the session.
    assert sources[0]["url"] == "data:text/plain;charset=utf-8,%2A%2ASource%201%2A%2A%206%2C650%20km%20%26%20more"
    assert run(layer.get_element(chat.thread, chat.sources[1]))["name"] == "[2]"
    assert run(layer.get_element(str(uuid.uuid4()), chat.sources[1])) is None


def test_thumbs_and_comments_reach_the_answer(db, layer, alice, talk):
    chat = talk(alice)
    down = run(layer.upsert_feedback(ChainlitFeedback(forId=chat.run, value=0, comment="Wrong river.")),
               as_user="alice")
    # The dialog sends the comment on show again when only the thumb changes: it is not stored twice.
    up = run(layer.upsert_feedback(ChainlitFeedback(forId=chat.run, value=1, comment="Wrong river.", id=down)),
             as_user="alice")
    again = run(layer.upsert_feedback(ChainlitFeedback(forId=chat.reply, value=1)), as_user="alice")  # by message id

    assert down == up == again
    kinds = sorted((f.kind, f.value, f.text) for f in opinions.feedback_on(db, answer_id=chat.answer.id))
    assert kinds == [("comment", None, "Wrong river."), ("thumb", 1, None)]
    shown = run(layer.get_thread(chat.thread))["steps"][1]["feedback"]
    assert (shown["value"], shown["comment"]) == (1, None)  # the comment went with the earlier thumb

    assert run(layer.delete_feedback(up), as_user="alice") is True
    assert [f.kind for f in opinions.feedback_on(db, answer_id=chat.answer.id)] == ["comment"]
    assert run(layer.get_thread(chat.thread))["steps"][1]["feedback"] is None


def test_only_answers_can_be_rated_and_only_when_signed_in(layer, alice, talk):
    chat = talk(alice)
    with pytest.raises(NotFound, match="Only answers can be rated."):
        run(layer.upsert_feedback(ChainlitFeedback(forId=chat.question, value=1)), as_user="alice")
    with pytest.raises(NotFound, match="Only answers can be rated."):
        run(layer.upsert_feedback(ChainlitFeedback(forId=str(uuid.uuid4()), value=1)), as_user="alice")
    with pytest.raises(NotAllowed, match="Sign in first."):
        run(layer.upsert_feedback(ChainlitFeedback(forId=chat.run, value=1)))
    with pytest.raises(NotAllowed, match="Sign in first."):
        run(layer.upsert_feedback(ChainlitFeedback(forId=chat.run, value=1)), as_user="mallory")


def test_nobody_rates_comments_on_or_deletes_feedback_on_someone_elses_answer(db, layer, alice, bob, talk):
    chat = talk(alice)
    thumb = run(layer.upsert_feedback(ChainlitFeedback(forId=chat.run, value=1, comment="Good.")), as_user="alice")
    before = sorted((f.id, f.kind, f.value, f.text) for f in opinions.feedback_on(db, answer_id=chat.answer.id))

    for for_id in (chat.run, chat.reply):
        with pytest.raises(NotAllowed, match="That answer was given to someone else."):
            run(layer.upsert_feedback(ChainlitFeedback(forId=for_id, value=0, comment="Bad.", id=thumb)), as_user="bob")
    with pytest.raises(NotAllowed, match="That answer was given to someone else."):
        run(layer.delete_feedback(thumb), as_user="bob")
    with pytest.raises(NotFound, match="No such rating."):
        run(layer.delete_feedback(str(uuid.uuid4())), as_user="bob")

    after = sorted((f.id, f.kind, f.value, f.text) for f in opinions.feedback_on(db, answer_id=chat.answer.id))
    assert after == before
    assert not rows(db, Feedback, Feedback.user_id == bob.id)


def test_the_thread_list_is_the_persons_own_newest_first(db, layer, alice, bob, talk):
    nile, tea, etna = talk(alice, "How long is the Nile?"), talk(alice, "How hot for green tea?"), talk(bob, "Etna?")
    run(layer.upsert_feedback(ChainlitFeedback(forId=nile.run, value=0)), as_user="alice")
    run(layer.upsert_feedback(ChainlitFeedback(forId=tea.run, value=1)), as_user="alice")

    def listed(first: int = 20, cursor: str | None = None, **filters) -> tuple[list[str], bool]:
        page = run(layer.list_threads(Pagination(first=first, cursor=cursor), ThreadFilter(userId=alice.id, **filters)))
        return [t["id"] for t in page.data], page.pageInfo.hasNextPage

    assert listed() == ([tea.thread, nile.thread], False)
    assert listed(first=1) == ([tea.thread], True)
    assert listed(first=1, cursor=tea.thread) == ([nile.thread], False)
    assert listed(search="green TEA") == ([tea.thread], False)
    assert listed(search="6,650 km") == ([tea.thread, nile.thread], False)  # found in the answers
    assert listed(search="100%") == ([], False)
    assert listed(feedback=0) == ([nile.thread], False)
    assert listed(feedback=1) == ([tea.thread], False)
    bobs = run(layer.list_threads(Pagination(first=20), ThreadFilter(userId=bob.id)))
    assert [t["id"] for t in bobs.data] == [etna.thread] and bobs.data[0]["userIdentifier"] == "bob"
    with pytest.raises(NotAllowed):
        run(layer.list_threads(Pagination(first=20), ThreadFilter()))


def test_a_pasted_100_kb_first_question_names_its_thread_briefly(db, layer, alice):
    """Chainlit names a thread by its first message and copies the question into the run step; the
    thread list shows the start of it, and only the question's own message keeps it whole."""
    question = "Why is the Nile\n" + "so very " * 12_500  # 100 kB, as if pasted
    thread, asked, answering = (str(uuid.uuid4()) for _ in range(3))

    async def chat(layer: GroundloopDataLayer) -> None:
        await layer.update_thread(thread, name=question, user_id=(await layer.get_user(alice.identifier)).id)
        await layer.create_step(_step(asked, thread, "user_message", "alice", question))
        await layer.create_step({**_step(answering, thread, "run", "on_message", "", parent=asked), "input": question})

    in_chat(layer, alice, chat)
    listed = run(layer.list_threads(Pagination(first=20), ThreadFilter(userId=alice.id))).data

    assert [t["name"] for t in listed] == ["Why is the Nile" + " so very" * 8 + "…"]
    steps = {s["id"]: s for s in run(layer.get_thread(thread), as_user="alice")["steps"]}
    assert steps[asked]["output"] == question
    assert steps[answering]["input"] == question[:79].rstrip() + "…"


def test_nobody_writes_into_someone_elses_thread(db, layer, alice, bob, talk):
    chat = talk(alice)
    bobs_id = run(layer.get_user("bob")).id

    async def intrude(layer: GroundloopDataLayer) -> None:
        await layer.create_step(_step(str(uuid.uuid4()), chat.thread, "assistant_message", "bob", "Pwned."))
        await layer.update_step(_step(chat.reply, chat.thread, "assistant_message", "bob", "Pwned."))
        await layer.delete_step(chat.reply)
        await layer.create_element(cl.Text(name="[9]", content="Pwned.", thread_id=chat.thread, for_id=chat.reply))
        with pytest.raises(NotAllowed):
            await layer.delete_element(chat.sources[0])

    in_chat(layer, bob, intrude)  # Chainlit's background writes are refused, and logged
    for attempt in (
        layer.update_thread(chat.thread, name="Pwned."),
        layer.update_thread(chat.thread, user_id=bobs_id),
        layer.delete_thread(chat.thread),
    ):
        with pytest.raises(NotAllowed):
            run(attempt, as_user="bob")
    with pytest.raises(NotAllowed, match="cannot be given to someone else"):
        run(layer.update_thread(chat.thread, user_id=bobs_id), as_user="alice")

    thread = run(layer.get_thread(chat.thread))
    assert (thread["name"], thread["userIdentifier"]) == ("How long is the Nile?", "alice")
    assert [s["output"] for s in thread["steps"]][-1] == "About 6,650 km [1]."
    assert sorted(e["name"] for e in thread["elements"]) == ["[1]", "[2]"]
    assert not rows(db, Event, Event.actor_id == bob.id)


def test_a_thread_cannot_be_made_public(layer, alice, talk):
    chat = talk(alice)
    run(layer.update_thread(chat.thread, metadata={"is_shared": True, "shared_at": "now", "chat_profile": "x"}),
        as_user="alice")
    assert run(layer.get_thread(chat.thread))["metadata"] == {"chat_profile": "x"}


def test_the_question_history_is_neither_stored_in_a_thread_nor_read_back(db, layer, alice, talk):
    """Chainlit stores the chat's user session (with its question history) as thread metadata,
    and sends that metadata to the page."""
    chat = talk(alice)
    run(layer.update_thread(chat.thread, metadata={"history": ["Where is my invoice?"], "chat_profile": "x"}),
        as_user="alice")
    assert run(layer.get_thread(chat.thread))["metadata"] == {"chat_profile": "x"}
    from feedback import chat_history

    chat_history.save_thread(db, thread_id=chat.thread, user_id=alice.id,
                             meta={"history": ["Stored before the fix"], "chat_profile": "x"})
    assert "history" not in run(layer.get_thread(chat.thread))["metadata"]


def test_the_owner_deletes_a_thread_with_its_history(db, layer, alice, talk):
    chat, kept = talk(alice), talk(alice, "Another question?")
    run(layer.upsert_feedback(ChainlitFeedback(forId=chat.run, value=0, comment="No.")), as_user="alice")
    run(layer.delete_thread(chat.thread), as_user="alice")

    assert run(layer.get_thread(chat.thread)) is None and run(layer.get_thread_author(chat.thread)) == ""
    for table in (Step, Element, Answer):
        assert not rows(db, table, table.thread_id == chat.thread)
    assert not rows(db, Feedback, Feedback.answer_id == chat.answer.id)
    assert len(run(layer.get_thread(kept.thread))["steps"]) == 3
    with pytest.raises(NotFound, match="No such conversation."):
        run(layer.delete_thread(chat.thread), as_user="alice")


def test_history_writes_log_who_did_them(db, alice, talk):
    chat = talk(alice)
    actions = [(e.actor_id, e.action, e.subject_id) for e in rows(db, Event, Event.actor_id == alice.id)]
    assert actions == [
        (alice.id, "thread_created", chat.thread), (alice.id, "step_saved", chat.question),
        (alice.id, "step_saved", chat.run), (alice.id, "step_saved", chat.reply),
        (alice.id, "element_saved", chat.sources[0]), (alice.id, "element_saved", chat.sources[1]),
        (alice.id, "answered", chat.answer.id),
    ]
    assert rows(db, Thread)[0].user_id == alice.id


def test_a_database_that_is_down_gives_a_short_message():
    layer = GroundloopDataLayer(Database(UNREACHABLE))
    message = "The feedback database cannot be reached right now; nothing was saved."
    with pytest.raises(DatabaseUnavailable, match=message):
        run(layer.get_user("alice"))
    with pytest.raises(DatabaseUnavailable, match=message):
        run(layer.upsert_feedback(ChainlitFeedback(forId="x", value=1)), as_user="alice")
    with pytest.raises(DatabaseUnavailable, match=message):
        run(layer.list_threads(Pagination(first=5), ThreadFilter(userId="x")))

    async def chat(layer: GroundloopDataLayer) -> None:
        await layer.create_step(_step(str(uuid.uuid4()), str(uuid.uuid4()), "user_message", "alice", "Hi"))

    async def session() -> None:
        init_http_context(user=cl.User(identifier="alice"))
        await chat(layer)  # Chainlit's background write: logged, never raised into the chat

    asyncio.run(session())
