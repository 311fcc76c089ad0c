"""One server: our own routes beside the Chainlit chat, mounted at /chat."""

import asyncio
import gzip
import os
import re
import shutil
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Chainlit reads these when first imported: its config lives in the project, and a stray
# .env in the current folder is not loaded behind the settings' back.
os.environ["CHAINLIT_APP_ROOT"] = str(ROOT)
os.environ["CHAINLIT_ENV_FILE"] = ".env.chainlit-unused"

import uvicorn  # noqa: E402
from chainlit.utils import mount_chainlit  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import RedirectResponse, Response  # noqa: E402

from app import runtime  # noqa: E402
from app.settings import Settings  # noqa: E402

_REMOTE_LINK = re.compile(rb'<link[^>]+href="https://[^"]*"[^>]*>\s*')


def create_app(settings: Settings) -> FastAPI:
    runtime.configure(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await asyncio.to_thread(lambda: runtime.chain().warm_up())  # the first question need not wait
        yield
        shutil.rmtree(ROOT / ".files", ignore_errors=True)  # Chainlit's own shutdown, which a mount skips

    app = FastAPI(title="groundloop", lifespan=lifespan)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/chat/")

    @app.middleware("http")
    async def offline_page(request: Request, call_next):
        """Chainlit's page links fonts and KaTeX styles from CDNs; the chat works offline without them."""
        response = await call_next(request)
        if not response.headers.get("content-type", "").startswith("text/html"):
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])
        if response.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        body = _REMOTE_LINK.sub(b"", body)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        return Response(body, status_code=response.status_code, headers=headers)

    mount_chainlit(app=app, target=str(ROOT / "app" / "chat.py"), path="/chat")
    return app


def run(settings: Settings, *, host: str, port: int) -> None:
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
