"""An OpenAI-compatible endpoint, so any OpenAI client or chat front end can use groundloop as a model:
``POST /v1/chat/completions`` (streamed or not) and ``GET /v1/models``, with the same API keys.

The last user message is the question; the earlier user messages are the history it is read
against. The reply is Markdown, escaped as in the chat, since chat front ends render it: the answer
with its [n] citations, the check's warning when flagged, then the list of sources. Two fields of
our own ride along: ``sources`` (what [n] refers to, in full) and ``groundloop`` (the answer's id
for feedback through /api/v1, verdict, reasons). A streamed reply sends them with its last chunk.
Options such as ``temperature`` are accepted and ignored; any ``model`` name is answered by groundloop.
"""

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool

from app import answering, runtime
from app.answering import Recorded
from app.api import Source
from app.chain import Restart, Token
from app.deps import ApiKeyDep, refusal, scoped
from app.markdown import EscapingStream, escape
from app.questions import clean_question
from app.rendering import VERIFIED, flagged, notice, render, source_list
from feedback import membership
from retrieval.errors import GroundloopError

MODEL = "groundloop"
NO_QUESTION = "Send at least one message with role 'user' and some text."


class ContentPart(BaseModel):
    """One part of a message's content; only text parts are read."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(part.text for part in self.content if part.type == "text" and part.text)
        return self.content or ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = MODEL
    messages: list[Message] = Field(min_length=1, max_length=200)
    stream: bool = False


class Details(BaseModel):
    answer_id: str | None
    verdict: str
    reasons: list[str]
    verified: bool


class ReplyMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ReplyMessage
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = MODEL
    choices: list[Choice]
    sources: list[Source]
    groundloop: Details


class Model(BaseModel):
    id: str = MODEL
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "groundloop"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


AskCaller = scoped("ask")
router = APIRouter(prefix="/v1", tags=["openai"])


@router.get("/models", response_model=ModelList)
def models(_: ApiKeyDep) -> ModelList:
    return ModelList(data=[Model()])


@router.post("/chat/completions", response_model=ChatCompletion,
             responses={200: {"content": {"text/event-stream": {}}, "description": "With stream: chunks as SSE."}})
async def chat_completions(body: ChatRequest, caller: AskCaller):
    """Answer the last user message from the indexed documents, as an OpenAI chat model would."""
    questions = [m.text() for m in body.messages if m.role == "user" and m.text().strip()]
    if not questions:
        raise HTTPException(422, NO_QUESTION)
    question, history = questions[-1], questions[:-1]
    try:
        clean_question(question, max_chars=runtime.settings().max_question_chars)
        groups = await run_in_threadpool(membership.sees, runtime.database(), caller.user)
    except GroundloopError as error:
        raise refusal(error) from None
    events = answering.answer(runtime.database(), runtime.chain(), question, user_id=caller.user.id, groups=groups,
                              history=history)
    reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if body.stream:
        return StreamingResponse(_chunks(events, reply_id, created), media_type="text/event-stream")
    try:
        *_, recorded = await run_in_threadpool(list, events)
    except GroundloopError as error:
        raise refusal(error) from None
    content = "\n\n".join(part for part in (render(recorded.result), source_list(recorded.result)) if part)
    return ChatCompletion(id=reply_id, created=created, choices=[Choice(message=ReplyMessage(content=content))],
                          **_extra(recorded))


async def _chunks(events, reply_id: str, created: int) -> AsyncIterator[str]:
    """Server-sent events as OpenAI streams them: a role chunk, content pieces, a closing chunk with
    our own fields, then ``[DONE]``. An error once streaming began is sent as an ``error`` event."""

    def chunk(delta: dict, finish_reason: str | None = None, **extra) -> str:
        data = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    escaping = EscapingStream()
    try:
        async for event in iterate_in_threadpool(events):
            if isinstance(event, Token) and (piece := escaping.feed(event.text)):
                yield chunk({"content": piece})
            elif isinstance(event, Restart):  # what was sent cannot be taken back: say why another answer follows
                yield chunk({"content": escaping.flush() + f"\n\n{notice(event.notice)}\n\n"})
                escaping = EscapingStream()
            elif isinstance(event, Recorded):
                result = event.result
                tail = "\n\n".join(p for p in (VERIFIED if result.verified else "",
                                                flagged(result) if result.reasons else "", source_list(result)) if p)
                yield chunk({"content": escaping.flush() + (f"\n\n{tail}" if tail else "")})
                yield chunk({}, "stop", **_extra(event))
    except GroundloopError as error:
        yield f"data: {json.dumps({'error': {'message': str(error), 'type': 'groundloop_error'}})}\n\n"
        return
    yield "data: [DONE]\n\n"


def _extra(recorded: Recorded) -> dict:
    result = recorded.result
    return {
        "sources": [Source.of(c).model_dump() for c in result.citations],
        "groundloop": Details(answer_id=recorded.answer_id, verdict=result.verdict, reasons=result.reasons,
                              verified=result.verified).model_dump(),
    }
