"""One server: our own routes beside the Chainlit chat, mounted at /chat."""

import asyncio
import os
import secrets
import shutil
import time
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Chainlit reads these when first imported: its config lives in the project, and a stray
# .env in the current folder is not loaded behind the settings' back.
os.environ["CHAINLIT_APP_ROOT"] = str(ROOT)
os.environ["CHAINLIT_ENV_FILE"] = ".env.chainlit-unused"

import uvicorn  # noqa: E402
from chainlit.utils import mount_chainlit  # noqa: E402
from fastapi import Depends, FastAPI, HTTPException, Request  # noqa: E402
from fastapi.exception_handlers import http_exception_handler  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.middleware.cors import CORSMiddleware  # noqa: E402
from fastapi.responses import JSONResponse, RedirectResponse  # noqa: E402
from fastapi_offline import FastAPIOffline  # noqa: E402

from feedback.datalayer import signed_in  # noqa: E402, I001  (first: it makes chainlit safe to import skops after)
from app import api, components, dashboard, health, metrics, openai_api, review, runtime, webhooks  # noqa: E402
from app.limits import SignInLimit  # noqa: E402
from app.bad_input import StrictJson, short_validation_error  # noqa: E402
from app.offline_page import OfflinePage  # noqa: E402
from app.security import SameOrigin, SecurityHeaders, Sessions, keep_data_private  # noqa: E402
from app.settings import Settings  # noqa: E402
from feedback.db import DatabaseUnavailable  # noqa: E402
from feedback.writing import NotAllowed, NotFound  # noqa: E402
from retrieval.errors import GroundloopError  # noqa: E402

WORKER_HEALTHCHECK_SECONDS = 120


def create_app(settings: Settings) -> FastAPI:
    settings.refuse_unsafe_start()
    keep_data_private(settings.data_dir)
    runtime.configure(settings)
    os.environ["CHAINLIT_AUTH_SECRET"] = auth_secret(settings)  # Chainlit signs sign-in tokens with it
    db = cache(lambda: components.database(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await asyncio.to_thread(_migrate, settings)  # a database that cannot be opened stops the start
        await asyncio.to_thread(lambda: runtime.chain().warm_up())  # the first question need not wait
        stop = asyncio.Event()
        sending = asyncio.create_task(webhooks.run_until(stop, settings, db)) if settings.webhook_urls else None
        yield
        stop.set()
        if sending:
            await sending
        _remove_session_files()

    app = FastAPIOffline(title="groundloop", lifespan=lifespan)  # /docs and /redoc with their scripts served here

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/chat/")

    app.add_middleware(OfflinePage)
    app.include_router(dashboard.router(db, lambda: auth_secret(settings)))
    app.include_router(review.router(lambda: components.database(settings), lambda: auth_secret(settings),
                                     lambda query, k: runtime.chain().retriever.model_copy(update={"k": k}).invoke(query)))
    app.include_router(api.router)
    app.include_router(openai_api.router)
    app.add_middleware(SignInLimit, limits=runtime.limits)
    app.include_router(metrics.router(db, settings.metrics_dir))
    app.include_router(health.router(db, runtime.index, components.embeddings(settings)))
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type"])
    app.add_middleware(StrictJson)
    app.add_exception_handler(RequestValidationError, short_validation_error)
    app.add_middleware(SecurityHeaders, production=settings.env == "production")
    app.add_middleware(Sessions, database=db, secret=lambda: auth_secret(settings))
    app.add_middleware(SameOrigin, allowed=settings.cors_origins)
    app.add_middleware(metrics.RequestMetrics)  # last added runs first: it sees every request
    mount_chainlit(app=app, target=str(ROOT / "app" / "chat.py"), path="/chat")
    _without_chainlits_path_check()
    _tell_the_data_layer_who_is_signed_in()
    _errors_as_short_messages()
    return app


def auth_secret(settings: Settings) -> str:
    """The configured secret; else the one in the data folder, made there (readable by its owner
    only) on the first start. Every worker sharing the folder signs with the same secret."""
    if settings.auth_secret:
        return settings.auth_secret.get_secret_value()
    path = settings.data_dir / "auth_secret"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            secret = secrets.token_urlsafe(48)
            file.write(secret)
            return secret
    except FileExistsError:
        for _ in range(50):  # another worker may be writing it just now
            if secret := path.read_text().strip():
                return secret
            time.sleep(0.1)
        raise GroundloopError(f"{path} is empty: delete it, and a new secret is made on the next start.") from None


def _remove_session_files() -> None:
    """What Chainlit's own shutdown does, which a mount skips: remove the files of this process's
    chat sessions. Only those: other servers started from the same folder share ``.files``."""
    from chainlit.session import ws_sessions_id

    for session in list(ws_sessions_id.values()):
        shutil.rmtree(session.files_dir, ignore_errors=True)


def _migrate(settings: Settings) -> None:
    components.database(settings).dispose()


def _without_chainlits_path_check() -> None:
    """Chainlit's mount adds a middleware that refuses paths outside /chat, which its mount never
    hands it anyway. It is a BaseHTTPMiddleware, which turns a download the browser cut off (a
    script of the page, a source's file) into a "No response returned." traceback in the log."""
    from chainlit.server import app as chainlit_app

    chainlit_app.user_middleware = [m for m in chainlit_app.user_middleware if m.cls.__name__ != "ChainlitMiddleware"]


def _tell_the_data_layer_who_is_signed_in() -> None:
    """Chainlit's feedback routes check the sign-in but do not hand the person to the data layer,
    which must check that they own the answer. Chainlit's own dependency, which all its routes use,
    here also notes whom it found, for the rest of the request."""
    from chainlit.auth import get_current_user, reuseable_oauth
    from chainlit.server import app as chainlit_app

    async def current_user(token: str | None = Depends(reuseable_oauth)):
        user = await get_current_user(token)
        signed_in.set(user.identifier if user else None)
        return user

    chainlit_app.dependency_overrides[get_current_user] = current_user


def _errors_as_short_messages() -> None:
    """A refusal or an unreachable database reaches the page as its short message, not a stack trace.
    (Chainlit's PUT /feedback turns every error into a 500 whose detail is the message.)"""
    from chainlit.server import app as chainlit_app

    async def short_message(_: Request, error: GroundloopError) -> JSONResponse:
        status = (403 if isinstance(error, NotAllowed) else 404 if isinstance(error, NotFound)
                  else 503 if isinstance(error, DatabaseUnavailable) else 400)
        return JSONResponse({"detail": str(error)}, status_code=status)

    async def chainlits_500(request: Request, error: HTTPException):
        """Chainlit's PUT /feedback wraps a refusal from the data layer in a 500: unwrapped here."""
        if error.status_code == 500 and isinstance(error.__cause__, GroundloopError):
            return await short_message(request, error.__cause__)
        return await http_exception_handler(request, error)

    chainlit_app.add_exception_handler(GroundloopError, short_message)
    chainlit_app.add_exception_handler(HTTPException, chainlits_500)
    chainlit_app.add_exception_handler(RequestValidationError, short_validation_error)


def from_environment() -> FastAPI:
    """The app each of uvicorn's workers builds: they import this module afresh, so their settings
    come from GROUNDLOOP_* variables and .env, as ``run`` left them."""
    return create_app(Settings())


def run(settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", **_proxies(settings))
        return
    if not settings.chroma_url:
        raise GroundloopError(
            "Several workers cannot share a local Chroma folder (Chroma's PersistentClient is not process-safe): "
            f"start a Chroma server, e.g. chroma run --path {settings.chroma_path}, and set GROUNDLOOP_CHROMA_URL."
        )
    os.environ["GROUNDLOOP_DATA_DIR"] = str(settings.data_dir.resolve())  # --data-dir reaches the workers
    os.environ.update(metrics.share_between_workers(settings.data_dir.resolve() / "metrics"))  # one /metrics for all
    # A worker answers uvicorn's health checks only once it has imported the app (torch, Chainlit…),
    # which on a busy machine takes longer than uvicorn's 5 s: it would be killed and started again, forever.
    uvicorn.run("app.server:from_environment", factory=True, host=host, port=port, workers=workers,
                log_level="warning", timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS, **_proxies(settings))


def _proxies(settings: Settings) -> dict:
    """X-Forwarded-For and -Proto are believed only from the proxies named in the settings; by
    default from no one (uvicorn's own default believes any loopback client)."""
    return {"proxy_headers": bool(settings.trusted_proxies),
            "forwarded_allow_ips": ",".join(settings.trusted_proxies) or "127.0.0.1"}
