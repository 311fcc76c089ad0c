"""What the server does so that a hostile page, in a browser signed in to groundloop, can do nothing
in that person's name; each a pure ASGI middleware (see ``app.offline_page`` for why not Starlette's).

- ``SameOrigin``: a socket handshake, or any request that changes state, whose ``Origin`` is neither
  the server's own nor one of ``GROUNDLOOP_CORS_ORIGINS`` gets 403 (the sign-in form included).
- ``Sessions``: a sign-in token is honoured only while its person's session version is current
  (``feedback.sessions``): signing out, a new role or password, or the person's removal ends it.
- ``SecurityHeaders``: every response says ``nosniff``, a referrer policy and no framing; every HTML
  page gets a Content-Security-Policy naming the hashes of its own inline scripts; sign-in cookies
  are ``Secure`` in production or over HTTPS.
"""

import base64
import hashlib
import json
import logging
import re
from collections.abc import Callable

import jwt
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feedback import sessions
from feedback.db import Database, DatabaseUnavailable

log = logging.getLogger(__name__)
SOCKET_PATH = "/chat/ws/socket.io"
LOGOUT_PATH = "/chat/logout"
AUTH_COOKIE = "access_token"  # Chainlit's, and its chunks access_token_0, _1, …
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CROSS_ORIGIN_REFUSED = "Cross-origin request refused."

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
CHAT_PAGES = "/chat"
"""Chainlit's app: its custom elements (the answer's source cards, ``public/elements/*.jsx``) are files
of this server that Chainlit's page compiles in the browser, which needs ``'unsafe-eval'`` there."""
# connect-src allows data: because a resumed thread hands its sources to the page as data: URLs (feedback.datalayer).
_CSP = ("default-src 'self'; script-src 'self'{evaluates}{hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' blob:; connect-src 'self' data:; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
_ALWAYS = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin", "x-frame-options": "DENY"}


def own_origin(scope: Scope) -> str:
    """The origin a page of this server has, as the browser names it."""
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    return f"{scheme}://{Headers(scope=scope).get('host', '')}".lower()


class SameOrigin:
    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.allowed = {origin.rstrip("/").lower() for origin in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self._checked(scope) and not self._allowed(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})  # before accept: uvicorn answers 403
            else:
                await _send_json(send, 403, {"detail": CROSS_ORIGIN_REFUSED})
            return
        await self.app(scope, receive, send)

    def _checked(self, scope: Scope) -> bool:
        return (scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS
                or scope["path"].startswith(SOCKET_PATH))

    def _allowed(self, scope: Scope) -> bool:
        """No Origin (not a browser, or a same-origin GET) passes; "null" and any other site do not."""
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            referer = headers.get("referer")
            if not referer:
                return True
            origin = "/".join(referer.split("/")[:3])
        origin = origin.rstrip("/").lower()
        return origin == own_origin(scope) or origin in self.allowed


class Sessions:
    def __init__(self, app: ASGIApp, database: Callable[[], Database], secret: Callable[[], str]) -> None:
        self.app, self.database, self.secret = app, database, secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        claims, from_cookie = self._token_claims(scope)
        if claims is None:
            await self.app(scope, receive, send)
            return
        identifier = str(claims.get("identifier", ""))
        version = (claims.get("metadata") or {}).get(sessions.TOKEN_KEY)
        try:
            valid = await run_in_threadpool(sessions.is_current, self.database(), identifier=identifier,
                                            version=version)
        except DatabaseUnavailable:
            # As Chainlit does: while the database is down the signature alone is trusted, so the
            # chat goes on answering; everything else a session opens needs the database anyway.
            log.warning("the session of %s could not be checked: the database is down", identifier)
            valid = True
        if not valid:
            scope = {**scope, "headers": _without_token(scope["headers"])}
            if scope["type"] == "http" and from_cookie:
                send = _forgetting_cookie(send)
        elif scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == LOGOUT_PATH:
            try:
                await run_in_threadpool(sessions.sign_out, self.database(), identifier=identifier)
            except DatabaseUnavailable:
                log.warning("%s logged out while the database is down: only the cookie is removed", identifier)
        await self.app(scope, receive, send)

    def _token_claims(self, scope: Scope) -> tuple[dict | None, bool]:
        """The claims of a sign-in token of ours sent with the request (cookie, or a bearer header
        that is not an API key), and whether it came in the cookie."""
        headers = Headers(scope=scope)
        token, from_cookie = _cookie_token(headers.get("cookie", "")), True
        if not token:
            authorization = headers.get("authorization", "")
            token, from_cookie = (authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""), False
        if not token or token.count(".") != 2:
            return None, False
        try:
            return jwt.decode(token, self.secret(), algorithms=["HS256"]), from_cookie
        except jwt.PyJWTError:
            return None, False


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app, self.production = app, production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = self.production or scope.get("scheme") == "https"
        start: Message | None = None
        chunks: list[bytes] = []

        async def guarded(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message["headers"]))
                for name, value in _ALWAYS.items():
                    headers.setdefault(name, value)
                if secure:
                    _secure_cookies(headers)
                message = {**message, "headers": headers.raw}
                if headers.get("content-type", "").startswith("text/html") and "content-encoding" not in headers:
                    start = message  # held back until the body shows which inline scripts it runs
                    return
            elif start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                headers = MutableHeaders(raw=start["headers"])
                headers["content-security-policy"] = content_security_policy(
                    body, evaluates=scope["path"].startswith(CHAT_PAGES))
                await send({**start, "headers": headers.raw})
                message = {"type": "http.response.body", "body": body}
            await send(message)

        await self.app(scope, receive, guarded)


def content_security_policy(page: bytes, *, evaluates: bool = False) -> str:
    """The policy for ``page``: scripts from this server, and its own inline scripts by hash only; on
    the chat's pages (``evaluates``) the server's own scripts may also compile code."""
    hashes = sorted({"'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
                     for script in _INLINE_SCRIPT.findall(page)})
    return _CSP.format(evaluates=" 'unsafe-eval'" if evaluates else "", hashes="".join(" " + h for h in hashes))


def _cookie_token(cookie_header: str) -> str:
    cookies = cookie_parser(cookie_header)
    if token := cookies.get(AUTH_COOKIE):
        return token
    chunks, i = [], 0
    while f"{AUTH_COOKIE}_{i}" in cookies:
        chunks.append(cookies[f"{AUTH_COOKIE}_{i}"])
        i += 1
    return "".join(chunks)


def _without_token(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The request's headers with the void token taken out: below, the request is signed out."""
    kept = []
    for name, value in raw:
        if name == b"authorization" and value[:7].lower() == b"bearer " and value.count(b".") == 2:
            continue
        if name == b"cookie":
            parts = [part for part in value.decode("latin-1").split(";")
                     if not part.strip().startswith(AUTH_COOKIE)]
            if not parts:
                continue
            value = ";".join(parts).encode("latin-1")
        kept.append((name, value))
    return kept


def _forgetting_cookie(send: Send) -> Send:
    async def forgetting(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(raw=list(message["headers"]))
            if not any(value.startswith(AUTH_COOKIE + "=") for value in headers.getlist("set-cookie")):
                headers.append("set-cookie", f"{AUTH_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=lax")
            message = {**message, "headers": headers.raw}
        await send(message)

    return forgetting


def _secure_cookies(headers: MutableHeaders) -> None:
    cookies = headers.getlist("set-cookie")
    if not cookies:
        return
    del headers["set-cookie"]
    for cookie in cookies:
        attributes = {part.strip().lower() for part in cookie.split(";")}
        headers.append("set-cookie", cookie if "secure" in attributes else cookie + "; Secure")


async def _send_json(send: Send, status: int, content: dict) -> None:
    body = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
