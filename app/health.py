"""Readiness at /readyz: the parts a question needs — the database, Chroma, the embedding model.

200 with each part's state when all answer; else 503 naming what failed, in a few words (no
internals: the probe is unauthenticated). Each source's sync state is shown beside them: a failing
source does not make the server unready (it answers from what was synced before), but says so here.
/healthz (in the server) only says the process is up.
"""

import logging
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from feedback.db import Database
from retrieval.embeddings import MiniLMEmbeddings
from retrieval.index import HybridIndex

log = logging.getLogger(__name__)


def router(db: Callable[[], Database], index: Callable[[], HybridIndex], embeddings: MiniLMEmbeddings) -> APIRouter:
    """Each part is checked on its own, so that one down does not hide the state of the others."""
    routes = APIRouter(include_in_schema=False)

    @routes.get("/readyz")
    async def readyz() -> JSONResponse:
        parts = await run_in_threadpool(readiness, db, index, embeddings)
        ready = all(state == "ok" for state in parts.values())
        synced = await run_in_threadpool(source_states, db) if parts["database"] == "ok" else {}
        return JSONResponse({"status": "ready" if ready else "not ready", "parts": parts,
                             **({"sources": synced} if synced else {})}, status_code=200 if ready else 503)

    return routes


def readiness(
    db: Callable[[], Database], index: Callable[[], HybridIndex], embeddings: MiniLMEmbeddings
) -> dict[str, str]:
    def database() -> None:
        with db().read() as session:
            session.execute(text("SELECT 1"))

    def chroma() -> None:
        opened = index()
        opened.client.heartbeat()
        opened.count()

    def model() -> None:
        embeddings.encode(["ready?"], threads=1)

    checks = {"database": (database, "cannot be reached"), "chroma": (chroma, "cannot be reached"),
              "model": (model, "cannot embed")}
    parts = {}
    for name, (check, failure) in checks.items():
        try:
            check()
            parts[name] = "ok"
        except Exception:  # any failure means not ready; the probe says which part, the log says why
            log.warning("readyz: %s %s", name, failure, exc_info=True)
            parts[name] = failure
    return parts


def source_states(db: Callable[[], Database]) -> dict[str, str]:
    """Each source's sync state ("ok", "failing: …"), without its error; none when they cannot be read."""
    from feedback import sources

    try:
        return {source.name: sources.state(source) for source in sources.list_sources(db())}
    except Exception:  # the probe answers all the same
        log.warning("readyz: the sources cannot be read", exc_info=True)
        return {}
