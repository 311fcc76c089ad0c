"""Bad input gets a short 4xx that echoes little of it, never a 500.

- ``StrictJson``: a JSON body must be JSON as RFC 8259 has it: no ``NaN`` or ``Infinity``, no lone
  surrogate (``\\ud800``), valid UTF-8. Else 422 before any route sees it (Python's parser accepts
  all three, and the database, or FastAPI's own error answer, then fails on them).
- ``short_validation_error``: what FastAPI says of a body it refuses, without the input it would
  write back (a 1 MB field made a 1 MB answer) and cut short.
"""

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_ERRORS = 10
MAX_CHARS = 200
_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


class NotStrictJson(ValueError):
    pass


class StrictJson:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in _WITH_BODY
                or not Headers(scope=scope).get("content-type", "").startswith("application/json")):
            await self.app(scope, receive, send)
            return
        messages, body = await read_body(receive)
        try:
            check(body)
        except NotStrictJson as error:
            content = json.dumps({"detail": f"The body is not valid JSON: {error}"}).encode()
            await send({"type": "http.response.start", "status": 422, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]})
            await send({"type": "http.response.body", "body": content})
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def check(body: bytes) -> None:
    """NotStrictJson, saying why, when ``body`` is JSON only to Python's lenient parser. A body that
    is no JSON at all is left to the route, which says so itself."""
    if not body.strip():
        return
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NotStrictJson("it is not UTF-8.") from None

    def refuse_constant(name: str) -> Any:
        raise NotStrictJson(f"{name} is not a number JSON allows.")

    try:
        value = json.loads(text, parse_constant=refuse_constant)
    except ValueError as error:
        if isinstance(error, NotStrictJson):
            raise
        return
    _no_lone_surrogates(value)


def _no_lone_surrogates(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise NotStrictJson("it holds a lone surrogate (\\ud800–\\udfff), which is no character.") from None


async def short_validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
    """422 with where and what, for at most MAX_ERRORS errors, and none of the input."""
    detail = [{"loc": [_short(part) if isinstance(part, str) else part for part in found.get("loc", ())],
               "msg": _short(str(found.get("msg", "")))} for found in error.errors()[:MAX_ERRORS]]
    return JSONResponse({"detail": detail}, status_code=422)


def _short(text: str) -> str:
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "…"


async def read_body(receive: Receive) -> tuple[list[Message], bytes]:
    """The whole request body, and the messages it came in, to hand on unchanged to the app behind."""
    messages, chunks = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return messages, b"".join(chunks)
