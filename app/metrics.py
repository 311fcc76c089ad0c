"""Prometheus metrics at /metrics.

Two sources, chosen so that every worker answers a scrape with the same, whole-server figures:
- what lives in the database (answers by verdict, feedback by kind, the active ranker, retrain
  runs, webhook deliveries) is counted there at scrape time by ``DatabaseCollector``;
- what happens in a process (HTTP requests, their latency, chain stage latency) is counted in
  memory, and, when ``serve`` runs several workers, in prometheus_client's multiprocess files
  (``PROMETHEUS_MULTIPROC_DIR``, under the data folder), which a scrape of any worker adds up.
"""

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest,
                               multiprocess)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feedback import ranker_versions, stats, webhooks
from feedback.db import Database, DatabaseUnavailable

REQUESTS = Counter("groundloop_http_requests", "HTTP requests answered.", ["method", "route", "status"])
REQUEST_SECONDS = Histogram("groundloop_http_request_duration_seconds", "Time to answer an HTTP request.",
                            ["method", "route"])
STAGE_SECONDS = Histogram("groundloop_chain_stage_seconds", "Time spent per stage of the chat chain.", ["stage"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))


def observe_stage(stage: str, milliseconds: float) -> None:
    STAGE_SECONDS.labels(stage).observe(milliseconds / 1000)


def share_between_workers(folder: Path) -> dict[str, str]:
    """Empties ``folder`` for a new server run; the environment workers need to count in it together
    (set it before they start: prometheus_client reads it when first imported)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(folder)}


class RequestMetrics:
    """ASGI middleware: counts each HTTP request by method, route template and status, and times it
    (to the end of the body, so a streamed answer counts whole). Unknown paths share one route label."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = _route(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            REQUEST_SECONDS.labels(scope["method"], route).observe(time.perf_counter() - start)


def _route(scope: Scope) -> str:
    """The matched route's template (``/review/{answer_id}``), under the mount it was found in."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    mounted = scope.get("root_path", "")[len(scope.get("app_root_path", "")):]
    return mounted + path


class DatabaseCollector(Collector):
    """The feedback loop's figures, read from the database at each scrape (a few GROUP BY queries)."""

    def __init__(self, db: Callable[[], Database]) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("groundloop_process_databases_opened", "Feedback databases this process opened "
                                "(one: its composition root's).", value=Database.opened)
        up = GaugeMetricFamily("groundloop_database_up", "1 when the feedback database answered this scrape.")
        try:
            families = list(self._families(self.db()))
        except (DatabaseUnavailable, SQLAlchemyError):  # opening it (and migrating) may fail too
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, db: Database) -> Iterator[Metric]:
        answers = GaugeMetricFamily("groundloop_answers", "Answers stored, by the grounding check's verdict.",
                                    labels=["verdict"])
        for verdict, n in {"ok": 0, "flagged": 0, **stats.answers_by_verdict(db)}.items():
            answers.add_metric([verdict], n)
        yield answers
        feedback = GaugeMetricFamily("groundloop_feedback", "Current feedback, by kind.", labels=["kind"])
        for kind, n in stats.feedback_by_kind(db).items():
            feedback.add_metric([kind], n)
        yield feedback
        active = ranker_versions.active_ranker(db)
        ranker = GaugeMetricFamily("groundloop_active_ranker_info", "The ranker serving answers (fusion before any "
                                   "was trained).", labels=["version"])
        ranker.add_metric([active.version if active else "fusion"], 1)
        yield ranker
        if active and active.metrics.get("held_out_ndcg@10") is not None:
            yield GaugeMetricFamily("groundloop_active_ranker_held_out_ndcg_at_10",
                                    "The active ranker's nDCG@10 on held-out feedback when it was trained.",
                                    value=active.metrics["held_out_ndcg@10"])
        versions = stats.ranker_versions_by_status(db)
        yield CounterMetricFamily("groundloop_retrain_runs", "Retrain runs that produced a candidate ranker.",
                                  value=sum(versions.values()))
        by_status = GaugeMetricFamily("groundloop_ranker_versions", "Trained rankers, by status.", labels=["status"])
        for status, n in versions.items():
            by_status.add_metric([status], n)
        yield by_status
        deliveries = GaugeMetricFamily("groundloop_webhook_deliveries", "Webhook deliveries, by status.",
                                       labels=["status"])
        for status, n in {"pending": 0, "delivered": 0, "failed": 0, **webhooks.counts_by_status(db)}.items():
            deliveries.add_metric([status], n)
        yield deliveries


def exposition(db: Callable[[], Database], metrics_dir: Path | None) -> bytes:
    """The text a scrape gets: this process's metrics (or all workers', from ``metrics_dir``) and the database's."""
    registry = CollectorRegistry()
    if metrics_dir is not None:
        multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))
    else:
        registry.register(REGISTRY)
    registry.register(DatabaseCollector(db))
    return generate_latest(registry)


def router(db: Callable[[], Database], metrics_dir: Path | None) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/metrics")
    async def scrape() -> Response:
        return Response(await run_in_threadpool(exposition, db, metrics_dir), media_type=CONTENT_TYPE_LATEST)

    return routes
