"""One server: our own routes beside the Chainlit chat, mounted at /chat."""

import asyncio
import os
import shutil
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi_offline import FastAPIOffline

from app import (api, api_documents, dashboard, event_stream, health, metrics, openai_api, review, review_documents,
                 runtime, sync, webhooks)
from app.bad_input import StrictJson, short_validation_error
from app.components import auth_secret
from app.file_modes import keep_data_private
from app.limits import SignInLimit
from app.offline_page import OfflinePage
from app.runtime import Root
from app.security import SameOrigin, SecurityHeaders, Sessions
from app.settings import Settings
from app.http_errors import status_of
from retrieval.errors import GroundloopError

__all__ = ["auth_secret", "create_app", "from_environment", "run"]
ROOT = Path(__file__).resolve().parents[1]
WORKER_HEALTHCHECK_SECONDS = 120
ONE_THREAD_EACH = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""With several workers, each computes on one thread (torch, and NumPy's BLAS): the workers are the
parallelism, and threads of one spinning while another worker waits for a core only cost time.
Set before the workers start, since the libraries read them when first loaded; a value already set wins."""


def create_app(settings: Settings) -> FastAPI:
    """The server's composition root is built here, once, and every router, the chat's handlers and
    the data layer are handed its parts."""
    settings.refuse_unsafe_start()
    keep_data_private(settings.data_dir)
    root = runtime.install(Root(settings))
    _prepare_chainlit(root)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await asyncio.to_thread(lambda: root.database)  # a database that cannot be opened stops the start
        await asyncio.to_thread(lambda: root.chain.warm_up())  # the first question need not wait
        stop = asyncio.Event()
        sending = (asyncio.create_task(webhooks.run_until(stop, settings, lambda: root.database))
                   if settings.webhook_urls else None)
        publishing = (asyncio.create_task(event_stream.run_until(
            stop, settings.events_redis_url, lambda: root.database, settings.events_poll_seconds))
            if settings.events_redis_url else None)
        syncing = asyncio.create_task(sync.run_until(stop, root)) if settings.sync_interval else None
        yield
        stop.set()
        for task in (sending, publishing, syncing):
            if task:
                await task
        _remove_session_files()

    app = FastAPIOffline(title="groundloop", lifespan=lifespan)  # /docs and /redoc with their scripts served here
    app.state.root = root

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/chat/")

    def database():
        return root.database

    app.add_middleware(OfflinePage)
    app.include_router(dashboard.router(database, root.auth_secret))
    app.include_router(review.router(database, root.auth_secret,
                                     _search(root), lambda doc_ids: root.index.groups_of(doc_ids),
                                     unsure_share=settings.review_unsure_share))
    app.include_router(review_documents.router(lambda: root, root.auth_secret))
    app.include_router(api.router)
    app.include_router(api_documents.router)
    app.include_router(openai_api.router)
    app.add_middleware(SignInLimit, limits=lambda: root.limits)
    app.include_router(metrics.router(database, settings.metrics_dir))
    app.include_router(health.router(database, lambda: root.index, root.embeddings))
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type"])
    app.add_middleware(StrictJson)
    app.add_exception_handler(RequestValidationError, short_validation_error)
    app.add_middleware(SecurityHeaders, production=settings.env == "production")
    app.add_middleware(Sessions, database=database, secret=root.auth_secret)
    app.add_middleware(SameOrigin, allowed=settings.cors_origins)
    app.add_middleware(metrics.RequestMetrics)  # last added runs first: it sees every request
    _mount_chat(app)
    return app


def _search(root: Root):
    """The review page's search box: the served index, ranked by the ranker that serves now."""

    def search(query: str, k: int, *, groups=None):
        return root.chain.retriever.model_copy(update={"k": k}).documents(query, ranker=root.rankers(), groups=groups)

    return search


def _prepare_chainlit(root: Root) -> None:
    """Chainlit reads its configuration from the environment, once, when first imported: its config
    lives in the project, a stray .env in the current folder is not loaded behind the settings' back,
    and sign-in tokens are signed with the root's secret. Then the data layer's fix to Chainlit's
    package attributes is applied, before anything (skops) scans the imported modules."""
    os.environ["CHAINLIT_APP_ROOT"] = str(ROOT)
    os.environ["CHAINLIT_ENV_FILE"] = ".env.chainlit-unused"
    os.environ["CHAINLIT_AUTH_SECRET"] = root.auth_secret()
    from feedback.datalayer import lazy_attributes_as_pep_562

    lazy_attributes_as_pep_562()


def _mount_chat(app: FastAPI) -> None:
    from chainlit.utils import mount_chainlit

    mount_chainlit(app=app, target=str(ROOT / "app" / "chat.py"), path="/chat")
    _without_chainlits_path_check()
    _tell_the_data_layer_who_is_signed_in()
    _errors_as_short_messages()


def _remove_session_files() -> None:
    """What Chainlit's own shutdown does, which a mount skips: remove the files of this process's
    chat sessions. Only those: other servers started from the same folder share ``.files``."""
    from chainlit.session import ws_sessions_id

    for session in list(ws_sessions_id.values()):
        shutil.rmtree(session.files_dir, ignore_errors=True)


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

    from feedback.datalayer import signed_in

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
        return JSONResponse({"detail": str(error)}, status_code=status_of(error, bad_input=400))

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
    os.environ.update({name: os.environ.get(name, "1") for name in ONE_THREAD_EACH})
    # A worker answers uvicorn's health checks only once it has imported the app (torch, Chainlit…),
    # which on a busy machine takes longer than uvicorn's 5 s: it would be killed and started again, forever.
    uvicorn.run("app.server:from_environment", factory=True, host=host, port=port, workers=workers,
                log_level="warning", timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS, **_proxies(settings))


def _proxies(settings: Settings) -> dict:
    """X-Forwarded-For and -Proto are believed only from the proxies named in the settings; by
    default from no one (uvicorn's own default believes any loopback client)."""
    return {"proxy_headers": bool(settings.trusted_proxies),
            "forwarded_allow_ips": ",".join(settings.trusted_proxies) or "127.0.0.1"}
