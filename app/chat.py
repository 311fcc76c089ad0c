"""Chainlit handlers: sign-in, the streamed answer with its sources, and what people say about it.

Under each answer one custom element (``public/elements/AnswerFeedback.jsx``) shows the sources as
cards and takes the person's thumb, comment, source marks and correction in place: each is an action
that this module answers with a small dict (``{"ok": true, …}`` or ``{"ok": false, "error": …}``)
and never with a chat message. The [n] in the answer still open the source beside the chat.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import chainlit as cl
from chainlit.config import config as chainlit_config
from chainlit.types import ThreadDict

from app import answering, runtime
from app.chain import Citation, ChainResult, Restart, Token
from app.markdown import EscapingStream, escape, safe_markdown
from app.rendering import render
from app.starters import starter_questions
from feedback import accounts, answer_log, chat_history, membership, opinions, policy, sessions
from feedback.datalayer import GroundloopDataLayer
from feedback.db import Database, DatabaseUnavailable
from feedback.models import Answer
from feedback.writing import NotAllowed, NotFound
from retrieval.errors import GroundloopError
from retrieval.groups import member
from retrieval.text import shorten

log = logging.getLogger(__name__)
FAILED = "Something went wrong while answering. Please try again; if it keeps happening, tell an administrator."
NOT_SAVED = "This answer could not be saved, so it cannot be rated, marked or corrected. {error}"
SOMETHING_WRONG = "Something went wrong; nothing was saved. If it keeps happening, tell an administrator."
ELEMENT = "AnswerFeedback"  # public/elements/AnswerFeedback.jsx
THUMB, COMMENT, MARK, OPEN, CORRECT = "thumb", "comment", "source_mark", "source_open", "correction"
PREVIEW_CHARS = 160  # of a source's first lines, on its card
ECHO_CHARS = 200  # of a question too long to answer, shown where it was asked


def database() -> Database:
    """The process's one feedback database, owned by the root the server installed."""
    return runtime.database()


@cl.data_layer
def data_layer() -> GroundloopDataLayer:
    return GroundloopDataLayer(database())


@cl.password_auth_callback
async def sign_in(username: str, password: str) -> cl.User | None:
    """People added with `groundloop users add`; their role rides along in the user's metadata."""
    try:
        user = await asyncio.to_thread(accounts.authenticate, database(), identifier=username, password=password)
    except GroundloopError as error:
        log.error("sign-in failed: %s", error)  # Chainlit's page only says "Unable to sign in"
        return None
    if user is None:
        return None
    return cl.User(identifier=user.identifier, metadata={"role": user.role, sessions.TOKEN_KEY: user.session_version})


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    """A few first questions, made from the titles of the largest indexed documents the person may see."""
    try:
        groups = await asyncio.to_thread(_groups_of, user)
        made = await asyncio.to_thread(starter_questions, runtime.index(), groups=groups)
    except Exception as error:  # an empty or unreachable index: the chat still opens, without suggestions
        log.warning("no starter questions: %s", error)
        return []
    return [cl.Starter(label=label, message=question) for label, question in made]


def _groups_of(user: cl.User | None):
    """What the signed-in person may see (``membership.sees``); nobody signed in sees no document's title."""
    row = accounts.get_user(database(), identifier=user.identifier) if user is not None else None
    if row is None:
        raise NotAllowed("Sign in to see suggestions.")
    return membership.sees(database(), row)


def answered_by() -> str:
    """The line under the message box: what answers here, so nobody mistakes quotes for a model's words."""
    settings = runtime.settings()
    if settings.llm_base_url and settings.llm_model:
        return (f"Answers are written by the model {settings.llm_model} from your documents, with their "
                "sources; check them before relying on them.")
    return "Answers are quoted from your documents by groundloop's offline answerer, with their sources."


def _with_our_footer(load: Callable[..., dict]) -> Callable[..., dict]:
    """Chainlit's translations are files; the footer's text depends on the settings, so it is set here."""

    def load_translation(self, language: str) -> dict:
        translation = load(self, language)
        translation.setdefault("chat", {})["watermark"] = answered_by()
        return translation

    load_translation.groundloop = True
    return load_translation


_Config = type(chainlit_config)
if not getattr(_Config.load_translation, "groundloop", False):
    _Config.load_translation = _with_our_footer(_Config.load_translation)


@cl.on_chat_start
async def start() -> None:
    cl.user_session.set("history", [])


@cl.on_chat_resume
async def resume(thread: ThreadDict) -> None:
    """Follow-ups are condensed against the thread's earlier questions; each answer's cards show again
    what the person said about it (read from the tables, not from what the page last stored)."""
    _close_sources_once_shown(cl.context.emitter)
    try:
        answers = await asyncio.to_thread(chat_history.answers_in_thread, database(), thread_id=thread["id"])
        user_id = _signed_in_id()
        said = await asyncio.to_thread(opinions.my_feedback, database(), answer_ids=[a.id for a in answers],
                                       user_id=user_id)
    except GroundloopError as error:
        log.warning("resuming thread %s without its answers: %s", thread["id"], error)
        answers, said = [], {}
    cl.user_session.set("history", [a.standalone_question for a in answers])
    by_step = {a.step_id: a for a in answers if a.step_id}
    for element in thread.get("elements") or []:  # Chainlit sends the thread to the page after this hook
        answer = by_step.get(element.get("forId"))
        if element.get("type") == "custom" and element.get("name") == ELEMENT and answer is not None:
            element["props"] = {**(element.get("props") or {}), **_said(said.get(answer.id))}


async def _asked_in(thread_id: str) -> list[str]:
    """The thread's earlier questions as understood, read from the stored answers (never from what the
    page stored: the history is kept out of thread metadata, which Chainlit sends to the browser)."""
    try:
        answers = await asyncio.to_thread(chat_history.answers_in_thread, database(), thread_id=thread_id)
    except GroundloopError as error:
        log.warning("answering in thread %s without its earlier questions: %s", thread_id, error)
        return []
    return [a.standalone_question for a in answers]


def _close_sources_once_shown(emitter: Any) -> None:
    """Chainlit sends the resumed thread after this hook, and the page then opens every source beside
    the chat; this session's emitter closes them right after, as nobody clicked one yet."""
    send_thread = emitter.resume_thread

    async def resume_thread(thread: ThreadDict) -> None:
        await send_thread(thread)
        await emitter.emit("set_sidebar_elements", {"elements": [], "key": None})

    emitter.resume_thread = resume_thread


@cl.on_message
async def answer(message: cl.Message) -> None:
    history: list[str] | None = cl.user_session.get("history")
    if history is None:  # a resumed thread's first message can come before on_chat_resume has read it back
        history = await _asked_in(cl.context.session.thread_id)
    question = message.content
    if len(question) > runtime.settings().max_question_chars:  # refused below; shown only by its start
        message.content = shorten(question, ECHO_CHARS)
        await message.update()
    reply, escaping, result = cl.Message(content=""), EscapingStream(), None
    try:
        groups = await _asker_groups()
        async for event in _in_thread(runtime.chain().stream(question, history, groups=groups)):
            if isinstance(event, Token):
                await reply.stream_token(escaping.feed(event.text))
            elif isinstance(event, Restart):
                escaping = EscapingStream()
                reply.content = ""
            elif isinstance(event, ChainResult):
                result = event
    except GroundloopError as error:
        await cl.Message(content=escape(str(error))).send()
        return
    except Exception:
        log.exception("answering failed")
        await cl.Message(content=FAILED).send()
        return
    reply.content = render(result)
    reply.elements = [_source(citation) for citation in result.citations]
    await reply.send()
    await cl.ElementSidebar.set_elements([])  # Chainlit 2.12 opens every source at once; [n] opens one
    history.append(result.standalone_question)
    cl.user_session.set("history", history)
    saved = await _remember(reply, result)
    await cl.CustomElement(name=ELEMENT, props=_props(reply.id, result, saved=saved), display="inline").send(
        for_id=reply.id)


async def _asker_groups() -> tuple[str, ...] | None:
    """What the person may see, read at every question so that a change of groups counts at once. While the
    database cannot be reached, the chat goes on answering from the groups read at this session's last
    question, or from everyone's documents alone: never from more than the person was last allowed."""
    try:
        groups = await asyncio.to_thread(membership.sees, database(), _signed_in_id(to="ask"))
    except DatabaseUnavailable:
        return cl.user_session.get("groups", member(()))
    cl.user_session.set("groups", groups)
    return groups


async def _remember(reply: cl.Message, result: ChainResult) -> bool:
    """Store the answer exactly as shown; say so when it could not be (it then cannot be rated)."""
    session = cl.context.session
    try:
        user_id = _signed_in_id()
        await asyncio.to_thread(_record, thread_id=session.thread_id, user_id=user_id, step_id=reply.id, result=result)
        return True
    except GroundloopError as error:
        await _say(NOT_SAVED.format(error=error))
    except Exception:
        log.exception("saving the answer failed")
        await _say(NOT_SAVED.format(error="If it keeps happening, tell an administrator."))
    return False


def _record(*, thread_id: str, user_id: str, step_id: str, result: ChainResult) -> Answer:
    db = database()
    answering.start_thread(db, thread_id=thread_id, user_id=user_id)  # Chainlit may not have written it yet
    return answering.record(db, result, user_id=user_id, thread_id=thread_id, step_id=step_id)


def _props(step_id: str, result: ChainResult, *, saved: bool) -> dict:
    """What the cards under an answer show: its sources, and (empty at first) what the person said."""
    return {
        "step_id": step_id,
        "saved": saved,
        "sources": [
            {"n": c.n, "title": c.title or "Untitled", "path": c.path, "preview": _preview(c.text),
             "text": safe_markdown(c.text)}
            for c in result.citations
        ],
        **_said(None),
    }


def _said(said: dict | None) -> dict:
    said = said or {"thumb": 0, "marks": {}}
    return {"thumb": said["thumb"], "marks": {str(rank): relevant for rank, relevant in said["marks"].items()}}


def _preview(text: str) -> str:
    """The first lines of a source as plain words: no heading marks, no fences."""
    lines = [line.strip().lstrip("#>").strip() for line in text.splitlines()]
    words = " ".join(line for line in lines if line and not line.startswith(("```", "~~~")))
    return shorten(words, PREVIEW_CHARS)


# What people say about an answer, from its cards. Each answers the page, never the chat.

Work = Callable[[Answer, str, dict], Awaitable[dict]]


def _feedback_action(name: str) -> Callable[[Work], Work]:
    """Register ``work`` for the action ``name``: it gets the answer (checked to be the signed-in
    person's), their id and the payload, and returns what the page is told; refusals become
    ``{"ok": false, "error": …}``."""

    def register(work: Work) -> Work:
        async def callback(action: cl.Action) -> dict:
            try:
                payload = action.payload if isinstance(action.payload, dict) else {}
                user_id = _signed_in_id()
                answer = await _own_answer(payload.get("step_id"), user_id)
                return {"ok": True, **await work(answer, user_id, payload)}
            except GroundloopError as error:
                return {"ok": False, "error": str(error)}
            except Exception:
                log.exception("feedback action %s failed", name)
                return {"ok": False, "error": SOMETHING_WRONG}

        cl.action_callback(name)(callback)
        return work

    return register


@_feedback_action(THUMB)
async def thumb(answer: Answer, user_id: str, payload: dict) -> dict:
    """1 up, -1 down, 0 takes the thumb back."""
    value = payload.get("value")
    if value not in (1, -1, 0) or isinstance(value, bool):
        raise GroundloopError("A thumb is up (1), down (-1) or taken back (0).")
    if value:
        await asyncio.to_thread(opinions.record_thumb, database(), answer_id=answer.id, user_id=user_id, up=value == 1)
    else:
        await asyncio.to_thread(_take_back_thumb, answer.id, user_id)
    return {"thumb": value}


def _take_back_thumb(answer_id: str, user_id: str) -> None:
    mine = opinions.my_feedback(database(), answer_ids=[answer_id], user_id=user_id)[answer_id]
    if mine["thumb"]:
        thumb_id = next(f.id for f in opinions.feedback_on(database(), answer_id=answer_id)
                        if f.kind == "thumb" and f.user_id == user_id)
        opinions.delete_thumb(database(), feedback_id=thumb_id, user_id=user_id)


@_feedback_action(COMMENT)
async def comment(answer: Answer, user_id: str, payload: dict) -> dict:
    text = policy.clean_comment(_typed(payload.get("text")))
    await asyncio.to_thread(opinions.record_comment, database(), answer_id=answer.id, user_id=user_id, text=text)
    return {}


@_feedback_action(MARK)
async def mark_source(answer: Answer, user_id: str, payload: dict) -> dict:
    """``relevant`` true or false marks the source shown as [rank]; null takes the mark back."""
    rank, relevant = _rank(payload.get("rank")), payload.get("relevant")
    if relevant not in (True, False, None):
        raise GroundloopError("A source is relevant, not relevant, or unmarked.")
    if relevant is None:
        await asyncio.to_thread(opinions.clear_source_mark, database(), answer_id=answer.id, user_id=user_id, rank=rank)
    else:
        await asyncio.to_thread(opinions.record_source_mark, database(), answer_id=answer.id, user_id=user_id,
                                rank=rank, relevant=relevant)
    return {"rank": rank, "relevant": relevant}


@_feedback_action(OPEN)
async def open_source(answer: Answer, user_id: str, payload: dict) -> dict:
    rank = _rank(payload.get("rank"))
    await asyncio.to_thread(opinions.record_source_open, database(), answer_id=answer.id, user_id=user_id, rank=rank)
    return {"rank": rank}


@_feedback_action(CORRECT)
async def suggest_correction(answer: Answer, user_id: str, payload: dict) -> dict:
    """The corrected text, and the numbers of the sources that support it (maybe none)."""
    text = policy.clean_correction(_typed(payload.get("text")))
    ranks = payload.get("ranks") or []
    if not isinstance(ranks, list):
        raise GroundloopError("The sources are given by their numbers.")
    ranks = sorted({_rank(rank) for rank in ranks})
    await asyncio.to_thread(opinions.record_correction, database(), answer_id=answer.id, user_id=user_id,
                            text=text, ranks=ranks)
    return {"ranks": ranks}


async def _own_answer(step_id: Any, user_id: str) -> Answer:
    """The answer shown as message ``step_id``, if the signed-in person may give feedback on it."""
    if not isinstance(step_id, str) or not step_id:
        raise NotFound("That answer was not saved, so there is nothing to mark or correct.")
    return await asyncio.to_thread(feedback_on_step, database(), step_id=step_id, user_id=user_id)


def feedback_on_step(db: Database, *, step_id: str, user_id: str) -> Answer:
    """The answer shown as message ``step_id``, when ``user_id`` may give feedback on it (the rule is
    ``feedback.policy``'s, as for the API and the data layer)."""
    answer = answer_log.answer_for_step(db, step_id=step_id)
    if answer is None:
        raise NotFound("That answer was not saved, so there is nothing to mark or correct.")
    return opinions.check_feedback(db, answer_id=answer.id, user_id=user_id)


def _rank(rank: Any) -> int:
    if type(rank) is not int or not 1 <= rank <= 10_000:
        raise NotFound("The answer has no such source.")
    return rank


def _typed(text: Any) -> str:
    return text if isinstance(text, str) else ""


def _signed_in_id(*, to: str = "give feedback") -> str:
    user_id = getattr(cl.context.session.user, "id", None)
    if not user_id:
        raise NotAllowed(f"Sign in again to {to}: your sign-in could not be checked.")
    return user_id


async def _say(text: str) -> None:
    await cl.Message(content=escape(text)).send()


def _source(citation: Citation) -> cl.Text:
    """The source beside the chat, opened by the answer's [n]: its title, path and whole text."""
    body = f"**{escape(citation.title)}**  \n{escape(citation.path)}\n\n{safe_markdown(citation.text)}"
    return cl.Text(name=f"[{citation.n}]", content=body, display="side")


async def _in_thread(events: Iterator) -> AsyncIterator:
    """Run the blocking chain off the event loop, one event at a time."""
    done = object()
    while (event := await asyncio.to_thread(next, events, done)) is not done:
        yield event
