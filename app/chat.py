"""Chainlit handlers: the streamed answer, its sources as [n] elements, and the check's warning."""

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import chainlit as cl

from app import runtime
from app.chain import Citation, ChainResult, Restart, Token
from app.markdown import EscapingStream, escape
from retrieval.errors import GroundloopError

log = logging.getLogger(__name__)
FAILED = "Something went wrong while answering. Please try again; if it keeps happening, tell an administrator."


@cl.on_chat_start
async def start() -> None:
    cl.user_session.set("history", [])


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
    reply.content = _render(result)
    reply.elements = [_source(citation) for citation in result.citations]
    await reply.send()
    await cl.ElementSidebar.set_elements([])  # Chainlit 2.12 opens every source at once; [n] opens one
    history.append(result.standalone_question)
    cl.user_session.set("history", history)


def _render(result: ChainResult) -> str:
    parts = []
    if result.notice:
        parts.append(f"ℹ️ *{escape(result.notice)}*")
    parts.append(escape(result.answer))
    if result.reasons:
        parts.append("⚠️ **Flagged for review:** " + escape("; ".join(result.reasons)))
    return "\n\n".join(parts)


def _source(citation: Citation) -> cl.Text:
    body = f"**{escape(citation.title)}**  \n{escape(citation.source)}\n\n{escape(citation.text)}"
    return cl.Text(name=f"[{citation.n}]", content=body, display="side")


async def _in_thread(events: Iterator) -> AsyncIterator:
    """Run the blocking chain off the event loop, one event at a time."""
    done = object()
    while (event := await asyncio.to_thread(next, events, done)) is not done:
        yield event
