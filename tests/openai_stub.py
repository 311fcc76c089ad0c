"""A tiny OpenAI-compatible chat-completions server for tests and benchmarks.

OpenAI, vLLM, Ollama and llama.cpp are not reachable from the test machines, so this
stands in for them over real HTTP on 127.0.0.1: the code under test runs its real
client (``openai`` SDK, ``langchain_openai``) unchanged, with nothing monkeypatched.

    with OpenAIStub() as stub:
        stub.reply("The sky is blue [1].")
        ChatOpenAI(base_url=stub.base_url, api_key="test", model="stub-model").invoke("Why?")
        assert stub.requests[0]["messages"][-1]["content"] == "Why?"

Run ``python -m tests.openai_stub --port 8089`` to point a manual groundloop session at it.
The ``openai`` SDK retries 5xx answers and timeouts twice by default; pass
``max_retries=0`` when testing ``fail_with`` or ``delay`` to keep tests fast.
"""

import argparse
import asyncio
import collections
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Route

DEFAULT_REPLY = "I have no canned reply."
MODEL = "stub-model"


def _count(text) -> int:
    """Whitespace words, a stand-in for tokens: usage only has to be plausible."""
    return len(str(text or "").split())


class OpenAIStub:
    """The server plus the knobs a test turns: canned replies, delay, forced failures."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.requests: list[dict] = []
        self.delay = 0.0
        self.token_delay = 0.0
        """Seconds between streamed pieces: a model that writes slowly, so a client can be seen streaming."""
        self.fail_with: int | None = None
        self.garbage: str | None = None
        """A body answered with HTTP 200 as text/html instead of a completion: a proxy's error page, say."""
        self._queue: collections.deque[str] = collections.deque()
        self._reply_fn: Callable[[dict], str] | None = None
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # quick restarts on a fixed port
        self._socket.bind((host, port))  # bound here, so the port is known and never raced for
        self.port = self._socket.getsockname()[1]
        self.base_url = f"http://{host}:{self.port}/v1"
        app = Starlette(routes=[
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
        ])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread: threading.Thread | None = None

    def reply(self, text: str) -> None:
        """Queue ``text`` as the answer to the next request; queued replies go out first-in first-out."""
        self._queue.append(text)

    def reply_with(self, fn: Callable[[dict], str] | None) -> None:
        """Answer every later request (once the queue is empty) with ``fn(request_json)``; None clears it."""
        self._reply_fn = fn

    async def _models(self, request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [
            {"id": MODEL, "object": "model", "created": 0, "owned_by": "groundloop-tests"}]})

    async def _chat(self, request: Request):
        body = await request.json()
        self.requests.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)  # before the headers, so also before the first chunk
        if self.fail_with is not None:
            return JSONResponse({"error": {"message": f"stub forced HTTP {self.fail_with}",
                                           "type": "stub_error", "param": None, "code": None}},
                                status_code=self.fail_with)
        if self.garbage is not None:
            return HTMLResponse(self.garbage)
        if self._queue:
            text = self._queue.popleft()
        else:
            text = self._reply_fn(body) if self._reply_fn else DEFAULT_REPLY
        prompt = sum(_count(m.get("content")) for m in body.get("messages", []))
        usage = {"prompt_tokens": prompt, "completion_tokens": _count(text),
                 "total_tokens": prompt + _count(text)}
        head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()),
                "model": body.get("model", MODEL), "system_fingerprint": None}
        if not body.get("stream"):
            message = {"role": "assistant", "content": text, "refusal": None}
            return JSONResponse({**head, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}]})
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict, finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            data = {**head, "object": "chat.completion.chunk", "choices": [choice]}
            return f"data: {json.dumps({**data, 'usage': None} if with_usage else data)}\n\n"

        async def events():
            yield chunk({"role": "assistant", "content": ""})
            for word in re.findall(r"\S+\s*|\s+", text):  # pieces join back to exactly ``text``
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                yield chunk({"content": word})
            yield chunk({}, "stop")
            if with_usage:  # as OpenAI does: one last chunk with no choices, only usage
                data = {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
                yield f"data: {json.dumps(data)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def start(self) -> "OpenAIStub":
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="openai-stub", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("OpenAI stub server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop without waiting for in-flight requests: a delayed one would otherwise hold shutdown."""
        self._server.should_exit = self._server.force_exit = True
        if self._thread:
            self._thread.join(timeout=5)
        self._socket.close()

    def __enter__(self) -> "OpenAIStub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve an OpenAI-compatible stub in the foreground.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args()
    with OpenAIStub(args.host, args.port) as stub:
        print(f"OpenAI stub at {stub.base_url} (model {MODEL!r}); Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
