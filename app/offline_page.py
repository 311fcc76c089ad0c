"""Chainlit's page links fonts and KaTeX styles from CDNs; the chat works offline without them, so
every HTML page the server sends loses its ``<link>``s to other hosts (and the page asks nothing of them).

Pure ASGI, not Starlette's BaseHTTPMiddleware: that one turns a request the browser cut off before
the answer started into a "No response returned." traceback in the log.
"""

import gzip
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_REMOTE_LINK = re.compile(rb'<link[^>]+href="https://[^"]*"[^>]*>\s*')


class OfflinePage:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "HEAD":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def stripping(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and _is_html(message):
                start = message  # held back: the length changes
            elif start is None or message["type"] != "http.response.body":
                await send(message)
            else:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await _send_stripped(send, start, b"".join(chunks))

        await self.app(scope, receive, stripping)


def _is_html(start: Message) -> bool:
    return MutableHeaders(raw=start["headers"]).get("content-type", "").startswith("text/html")


async def _send_stripped(send: Send, start: Message, body: bytes) -> None:
    headers = MutableHeaders(raw=list(start["headers"]))
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
        del headers["content-encoding"]
    body = _REMOTE_LINK.sub(b"", body)
    headers["content-length"] = str(len(body))
    await send({**start, "headers": headers.raw})
    await send({"type": "http.response.body", "body": body})
