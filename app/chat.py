"""Chainlit handlers: sign-in, the streamed answer with its sources as [n] elements and the check's
warning, and what people say about an answer. Thumbs and comments are Chainlit's own buttons (they
reach the tables through the data layer); marking a source and suggesting a correction are actions
on the answer, which ask their questions in the chat.
"""

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator

import chainlit as cl
from chainlit.types import ThreadDict

from app import answering, runtime
from app.chain import Citation, ChainResult, Restart, Token
from app.markdown import EscapingStream, escape
from app.rendering import render
from feedback import accounts, answer_log, chat_history, opinions, policy, sessions
from feedback.datalayer import GroundloopDataLayer
from feedback.db import Database
from feedback.models import Answer
from feedback.models import Citation as ShownSource
from feedback.writing import NotAllowed, NotFound
from retrieval.errors import GroundloopError
from retrieval.text import shorten

log = logging.getLogger(__name__)
FAILED = "Something went wrong while answering. Please try again; if it keeps happening, tell an administrator."
NOT_SAVED = "This answer could not be saved, so it cannot be rated, marked or corrected. {error}"
MARK, CORRECT = "mark_source", "suggest_correction"
ASK_SECONDS = 300  # how long a question the chat asks (which source? what should it say?) waits
TRIES = 3  # bad replies to such a question before the chat gives up asking
TITLE_CHARS = 40  # of a source's title on a button


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


@cl.on_chat_start
async def start() -> None:
    cl.user_session.set("history", [])


@cl.on_chat_resume
async def resume(thread: ThreadDict) -> None:
    """Follow-ups are condensed against the thread's earlier questions; its answers get their
    actions back (Chainlit does not store actions)."""
    shown = {step["id"] for step in thread.get("steps", [])}
    try:
        answers = await asyncio.to_thread(chat_history.answers_in_thread, database(), thread_id=thread["id"])
        sources = {a.id: await asyncio.to_thread(answer_log.citations_of, database(), answer_id=a.id) for a in answers}
    except GroundloopError as error:
        log.warning("resuming thread %s without its answers: %s", thread["id"], error)
        answers, sources = [], {}
    cl.user_session.set("history", [a.standalone_question for a in answers])
    for answer in answers:
        if answer.step_id in shown:
            for action in _actions(answer.step_id, with_sources=bool(sources[answer.id])):
                await action.send(for_id=answer.step_id)


@cl.on_message
async def answer(message: cl.Message) -> None:
    history: list[str] = cl.user_session.get("history") or []
    reply, escaping, result = cl.Message(content=""), EscapingStream(), None
    try:
        async for event in _in_thread(runtime.chain().stream(message.content, history)):
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
    await _remember(reply, result)


async def _remember(reply: cl.Message, result: ChainResult) -> None:
    """Store the answer exactly as shown, then offer the actions that give feedback on it."""
    session = cl.context.session
    try:
        user_id = _signed_in_id()
        await asyncio.to_thread(_record, thread_id=session.thread_id, user_id=user_id, step_id=reply.id, result=result)
    except GroundloopError as error:
        await _say(NOT_SAVED.format(error=error))
        return
    except Exception:
        log.exception("saving the answer failed")
        await _say(NOT_SAVED.format(error="If it keeps happening, tell an administrator."))
        return
    for action in _actions(reply.id, with_sources=bool(result.citations)):
        await action.send(for_id=reply.id)


def _record(*, thread_id: str, user_id: str, step_id: str, result: ChainResult) -> Answer:
    db = database()
    answering.start_thread(db, thread_id=thread_id, user_id=user_id)  # Chainlit may not have written it yet
    return answering.record(db, result, user_id=user_id, thread_id=thread_id, step_id=step_id)


def _actions(step_id: str, *, with_sources: bool) -> list[cl.Action]:
    payload = {"step_id": step_id}
    actions = [cl.Action(name=CORRECT, payload=payload, label="Suggest a correction", icon="pencil",
                         tooltip="Say what the answer should have said, and which sources show it")]
    if with_sources:
        actions.insert(0, cl.Action(name=MARK, payload=payload, label="Mark a source", icon="list-checks",
                                    tooltip="Say whether one of the sources was relevant to the question"))
    return actions


@cl.action_callback(MARK)
async def mark_source(action: cl.Action) -> None:
    await _reply_to(_mark_source(action))


@cl.action_callback(CORRECT)
async def suggest_correction(action: cl.Action) -> None:
    await _reply_to(_suggest_correction(action))


async def _reply_to(work) -> None:
    """Say how it went in one short message. Chainlit marks the page busy again after every question
    it asks (which disables the buttons), so the action says it is done."""
    try:
        await _say(await work)
    except GroundloopError as error:
        await _say(str(error))
    except Exception:
        log.exception("feedback action failed")
        await _say("Something went wrong; nothing was saved. If it keeps happening, tell an administrator.")
    finally:
        await cl.context.emitter.task_end()


async def _mark_source(action: cl.Action) -> str:
    """Which source, then relevant or not: two short questions with buttons."""
    answer, sources = await _own_answer(action)
    if not sources:
        raise NotFound("This answer showed no sources.")
    picked = await _choose("Which source do you want to mark?", [
        cl.Action(name="source", payload={"rank": s.rank}, label=f"[{s.rank}] {shorten(s.title, TITLE_CHARS)}") for s in sources
    ])
    if picked is None:
        return "Nothing was marked: no source was chosen in time."
    rank = picked.get("rank")
    if type(rank) is not int or rank not in {s.rank for s in sources}:
        raise NotFound("The answer has no such source.")
    verdict = await _choose(f"Was [{rank}] relevant to the question?", [
        cl.Action(name="relevant", payload={"relevant": True}, label="Relevant"),
        cl.Action(name="not_relevant", payload={"relevant": False}, label="Not relevant"),
    ])
    if verdict is None:
        return f"Nothing was marked: no choice for [{rank}] came in time."
    relevant = verdict.get("relevant") is True
    await asyncio.to_thread(opinions.record_source_mark, database(), answer_id=answer.id, user_id=_signed_in_id(),
                            rank=rank, relevant=relevant)
    return f"Thanks — marked [{rank}] as {'relevant' if relevant else 'not relevant'}."


async def _suggest_correction(action: cl.Action) -> str:
    """The corrected text, then (optionally) the numbers of the sources that support it."""
    answer, sources = await _own_answer(action)
    text = await _ask("What should the answer say? Type the corrected answer.", policy.clean_correction)
    if text is None:
        return "Nothing was saved: no correction came in time."
    ranks = []
    if sources:
        shown = [s.rank for s in sources]
        ranks = await _ask(
            f"Which sources support it? Type their numbers, such as {_example(shown)}, or \"none\".",
            lambda reply: _ranks(reply, shown),
        ) or []
    await asyncio.to_thread(opinions.record_correction, database(), answer_id=answer.id, user_id=_signed_in_id(),
                            text=text, ranks=ranks)
    named = f", with {'sources' if len(ranks) > 1 else 'source'} {' '.join(f'[{r}]' for r in ranks)}" if ranks else ""
    return f"Thanks — your correction is saved{named}."


async def _own_answer(action: cl.Action) -> tuple[Answer, list[ShownSource]]:
    """The answer the action was offered on, if the signed-in person was given it; and its sources."""
    user_id = _signed_in_id()
    step_id = action.payload.get("step_id") if isinstance(action.payload, dict) else None
    answer = await asyncio.to_thread(feedback_on_step, database(), step_id=str(step_id), user_id=user_id)
    return answer, await asyncio.to_thread(answer_log.citations_of, database(), answer_id=answer.id)


def feedback_on_step(db: Database, *, step_id: str, user_id: str) -> Answer:
    """The answer shown as message ``step_id``, when ``user_id`` may give feedback on it (the rule is
    ``feedback.policy``'s, as for the API and the data layer)."""
    answer = answer_log.answer_for_step(db, step_id=step_id)
    if answer is None:
        raise NotFound("That answer was not saved, so there is nothing to mark or correct.")
    return opinions.check_feedback(db, answer_id=answer.id, user_id=user_id)


async def _choose(question: str, options: list[cl.Action]) -> dict | None:
    """The payload of the button pressed; None when none was pressed in time."""
    picked = await cl.AskActionMessage(content=question, actions=options, timeout=ASK_SECONDS).send()
    return picked["payload"] if picked and isinstance(picked.get("payload"), dict) else None


async def _ask(question: str, parse):
    """Ask until ``parse`` accepts the reply (it raises GroundloopError saying what is wrong);
    None when no reply comes in time, or after too many replies it could not use."""
    for _ in range(TRIES):
        reply = await cl.AskUserMessage(content=question, timeout=ASK_SECONDS).send()
        if reply is None:
            return None
        try:
            return parse(reply.get("output") or "")
        except GroundloopError as error:
            await _say(str(error))
    return None


_NONE = {"none", "no", "-", "0"}
_NUMBER = re.compile(r"\[?(\d{1,4})\]?")


def _ranks(text: str, shown: list[int]) -> list[int]:
    """"2, 3", "[2] [3]", "2 and 3" or "none"; every number must be one of the ``shown`` sources."""
    words = [w for w in re.split(r"[\s,;]+|\band\b", text.strip().lower()) if w]
    if not words or (len(words) == 1 and words[0] in _NONE):
        return []
    matches = [_NUMBER.fullmatch(w) for w in words]
    if not all(matches):
        raise GroundloopError(f"Type the numbers of the sources, such as {_example(shown)}, or \"none\".")
    ranks = sorted({int(m.group(1)) for m in matches})
    missing = [r for r in ranks if r not in shown]
    if missing:
        which = " ".join(f"[{r}]" for r in missing)
        raise GroundloopError(
            f"There is no source {which}: this answer shows [{shown[0]}] to [{shown[-1]}]. "
            "Type the numbers again, or \"none\"."
        )
    return ranks


def _example(shown: list[int]) -> str:
    return ", ".join(str(r) for r in shown[1:3]) if len(shown) > 2 else str(shown[0])


def _signed_in_id() -> str:
    user_id = getattr(cl.context.session.user, "id", None)
    if not user_id:
        raise NotAllowed("Sign in again to give feedback: your sign-in could not be checked.")
    return user_id


async def _say(text: str) -> None:
    await cl.Message(content=escape(text)).send()


def _source(citation: Citation) -> cl.Text:
    body = f"**{escape(citation.title)}**  \n{escape(citation.source)}\n\n{escape(citation.text)}"
    return cl.Text(name=f"[{citation.n}]", content=body, display="side")


async def _in_thread(events: Iterator) -> AsyncIterator:
    """Run the blocking chain off the event loop, one event at a time."""
    done = object()
    while (event := await asyncio.to_thread(next, events, done)) is not done:
        yield event
