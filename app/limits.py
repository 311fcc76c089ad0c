"""Rate limits: API requests per key and per person, and failed sign-ins per client address and per
name. Counted by the ``limits`` library over a moving minute, in this process's memory or, when
``rate_limit_storage`` names one, in Redis, which every worker and server then shares.
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.bad_input import read_body
from app.settings import Settings
from retrieval.errors import GroundloopError

SIGN_IN_PATH = "/chat/login"


class LimitExceeded(GroundloopError):
    """Too many requests; ``retry_after`` says in how many seconds one more will be let through."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Limit:
    item: RateLimitItemPerMinute
    namespace: str
    refusal: str
    """Said with a 429: ``{n}`` is the limit, ``{seconds}`` the wait."""


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage or "memory://"))
        self.key = _Limit(RateLimitItemPerMinute(settings.api_key_requests_per_minute), "key",
                          "Too many requests with this key: the limit is {n} a minute. Try again in {seconds} s.")
        self.user = _Limit(RateLimitItemPerMinute(settings.api_user_requests_per_minute), "user",
                           "Too many requests for this account: the limit is {n} a minute. Try again in {seconds} s.")
        self.address = _Limit(RateLimitItemPerMinute(settings.sign_in_failures_per_minute), "sign-in-address",
                              "Too many failed sign-ins from here: try again in {seconds} s.")
        self.name = _Limit(RateLimitItemPerMinute(settings.sign_in_failures_per_name), "sign-in-name",
                           "Too many failed sign-ins for this name: try again in {seconds} s.")

    def api_request(self, *, key_id: str, user_id: str) -> None:
        """Count one request; LimitExceeded when the key or its person has had their share this minute."""
        for limit, who in ((self.key, key_id), (self.user, user_id)):
            if not self.limiter.hit(limit.item, limit.namespace, who):
                raise self._exceeded(limit, who)

    def sign_in_allowed(self, *, address: str, name: str) -> None:
        """LimitExceeded when this address or this name has failed too often this minute."""
        for limit, who in ((self.address, address), (self.name, name.casefold())):
            if not self.limiter.test(limit.item, limit.namespace, who):
                raise self._exceeded(limit, who)

    def sign_in_failed(self, *, address: str, name: str) -> None:
        self.limiter.hit(self.address.item, self.address.namespace, address)
        self.limiter.hit(self.name.item, self.name.namespace, name.casefold())

    def _exceeded(self, limit: _Limit, who: str) -> LimitExceeded:
        reset = self.limiter.get_window_stats(limit.item, limit.namespace, who).reset_time
        seconds = max(1, math.ceil(reset - time.time()))
        return LimitExceeded(limit.refusal.format(n=limit.item.amount, seconds=seconds), seconds)


class SignInLimit:
    """ASGI middleware before Chainlit's sign-in form (POST /chat/login): an address or a name that
    failed too often this minute gets 429 with ``Retry-After`` before its password is checked; every
    refused sign-in counts against both. Successful sign-ins count for nothing."""

    def __init__(self, app: ASGIApp, limits: Callable[[], RateLimits]) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != SIGN_IN_PATH:
            await self.app(scope, receive, send)
            return
        messages, _ = await read_body(receive)
        try:
            name = await _signing_in_as(scope, list(messages))
        except BadSignInForm as error:
            await _refuse(send, error, status=400)
            return
        address = (scope.get("client") or ("unknown",))[0]  # a proxy's X-Forwarded-For only if trusted (app.server)
        limits = self.limits()
        try:
            await run_in_threadpool(limits.sign_in_allowed, address=address, name=name)
        except LimitExceeded as error:
            await _refuse(send, error)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        async def count_refusals(message: Message) -> None:
            """A refused sign-in is counted before its answer leaves, so the next attempt sees it."""
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                await run_in_threadpool(limits.sign_in_failed, address=address, name=name)
            await send(message)

        await self.app(scope, replay, count_refusals)


class BadSignInForm(GroundloopError):
    """The sign-in form cannot be read as one name and one password; refused before any check."""


async def _signing_in_as(scope: Scope, messages: list[Message]) -> str:
    """The name the password will be checked for, read as the sign-in route reads it (urlencoded or
    multipart alike). A field sent twice is refused: the limit would count one name, the check another."""
    async def replay() -> Message:
        return messages.pop(0) if messages else {"type": "http.request", "body": b"", "more_body": False}

    try:
        form = await Request(scope, replay).form()
    except Exception as error:  # python-multipart's and Starlette's parse errors have no common base
        raise BadSignInForm("The sign-in form could not be read.") from error
    try:
        fields = [field for field, _ in form.multi_items()]
        if len(fields) != len(set(fields)):
            raise BadSignInForm("Each field of the sign-in form may be sent only once.")
        name = form.get("username")
        return name if isinstance(name, str) else ""
    finally:
        await form.close()


async def _refuse(send: Send, error: GroundloopError, status: int = 429) -> None:
    body = json.dumps({"detail": str(error)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if isinstance(error, LimitExceeded):
        headers.append((b"retry-after", str(error.retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
