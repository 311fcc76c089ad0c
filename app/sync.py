"""Syncing sources: read a folder or an SQL query, index what changed through the document service (which
records each document's event), and record the run.

``sync`` does one source, as the only sync of it anywhere (the lock in ``feedback.sources``); a source
that fails is recorded as failing, tried again later with backoff, and the others go on. ``sync_due``
syncs the sources that are due; the server runs it in the background (``run_until``), every
``GROUNDLOOP_SYNC_INTERVAL`` for each source, and so does ``groundloop sync --watch`` (``watch``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from feedback import sources
from feedback.db import DatabaseUnavailable
from feedback.sources import Counts
from retrieval.errors import GroundloopError
from retrieval.groups import EVERYONE

if TYPE_CHECKING:
    from app.runtime import Root
    from feedback.models import Source, SyncRun
    from retrieval.ingest import IngestReport
    from retrieval.loaders import Failure

log = logging.getLogger(__name__)
LONGEST_TICK = 15.0
"""The longest a background loop waits before looking again for sources that are due."""


@dataclass(frozen=True)
class Synced:
    """What one sync of one source did; ``skipped`` when another sync of it was running."""

    name: str
    counts: Counts | None = None
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    skipped: bool = False


def sync(root: Root, name: str, *, full: bool = False, scheduled: bool = False) -> Synced:
    """Sync the source called ``name`` now (``scheduled``: only if still due). ``full`` reads every row of
    an SQL source, not only those updated since the last sync, and removes the rows gone."""
    db, settings = root.database, root.settings
    run = sources.claim(db, name=name, holder=holder(), lease_seconds=settings.sync_lease_seconds, full=full,
                        only_if_due=scheduled)
    if run is None:
        return Synced(name, skipped=True)
    started = time.monotonic()
    try:
        with _leased(root, run):
            source = sources.get_source(db, name)
            report, failures, mark = _read_and_index(root, source, full=full)
    except (Exception, KeyboardInterrupt) as error:
        reason = why(error)
        if not isinstance(error, GroundloopError | KeyboardInterrupt):
            log.exception("sync of %s failed", name)
        sources.fail(db, run=run, error=reason, retry_seconds=settings.sync_retry_seconds,
                     max_backoff_seconds=settings.sync_max_backoff_seconds)
        if isinstance(error, KeyboardInterrupt):
            raise
        return Synced(name, error=reason, seconds=time.monotonic() - started)
    counts = counted(report, failures)
    sources.finish(db, run=run, counts=counts, mark=mark, next_in_seconds=settings.sync_interval)
    return Synced(name, counts=counts, failures=failures, warnings=list(report.warnings),
                  seconds=time.monotonic() - started)


def remove(root: Root, name: str, *, keep_documents: bool = False) -> tuple[Source, int]:
    """The source gone, and (unless ``keep_documents``) its documents gone from the index, each with its
    event; how many documents left. No sync of it runs meanwhile; refused while one does."""
    from app import documents
    from retrieval.sql_source import prefix

    db, settings = root.database, root.settings
    me, removed = holder(), 0
    with sources.held(db, name=name, holder=me, lease_seconds=settings.sync_lease_seconds) as source:
        if not keep_documents and source.kind == "sql":
            removed = documents.ingest_records(root, [], scope=prefix(source.name), groups=[EVERYONE]).removed
        elif not keep_documents:
            for document in root.index.sources(prefix=str(Path(source.config["path"])) + os.sep):
                documents.delete(root, document, actor_id=None)
                removed += 1
        sources.remove_source(db, name=name, holder=me)
    return source, removed


def sync_due(root: Root, *, names: list[str] | None = None, stopped: Callable[[], bool] = lambda: False) -> list[Synced]:
    """Every source that is due (of ``names``, when given), one after another, until ``stopped()``; the
    sources another process syncs meanwhile are left to it."""
    done = []
    for name in sources.due(root.database):
        if stopped():
            break
        if names is None or name in names:
            result = sync(root, name, scheduled=True)
            if not result.skipped:
                done.append(result)
    return done


async def run_until(stop: asyncio.Event, root: Root) -> None:
    """The server's background loop: the due sources synced, then a look again a little later, until
    ``stop`` is set (a sync under way then ends first)."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(sync_due, root, stopped=stop.is_set)
        except DatabaseUnavailable:
            log.warning("sync: the database cannot be reached; trying again later")
        except Exception:  # the loop outlives any one bad pass
            log.exception("sync: a pass failed; trying again later")
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick(root.settings.sync_interval))


def watch(root: Root, *, names: list[str] | None, each: Callable[[Synced], None], stop: threading.Event) -> None:
    """``groundloop sync --watch``: the due sources synced, over and over, each result handed to ``each``."""
    while not stop.is_set():
        try:
            for result in sync_due(root, names=names, stopped=stop.is_set):
                each(result)
        except DatabaseUnavailable as error:
            log.warning("sync: %s", error)
        stop.wait(tick(root.settings.sync_interval))


def tick(interval: float) -> float:
    return max(0.2, min(interval, LONGEST_TICK))


def holder() -> str:
    """Who runs a sync: this machine and process, and this sync among the process's."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def why(error: BaseException) -> str:
    """A failure in one line: a user's error as it says; anything else by its kind (the log has the rest)."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, GroundloopError):
        return " ".join(str(error).split())
    return f"unexpected error ({type(error).__name__}); the server's log has the details"


def counted(report: IngestReport, failures: list[Failure]) -> Counts:
    outcomes = Counter(report.outcomes.values())
    return Counts(added=outcomes["added"], updated=outcomes["changed"], unchanged=outcomes["unchanged"],
                  removed=outcomes["removed"], failed=len(failures))


def _read_and_index(root: Root, source: Source, *, full: bool) -> tuple[IngestReport, list[Failure], dict | None]:
    """The report of indexing what the source holds now, every failure (rows and documents), the new mark."""
    from app import documents

    if source.kind == "folder":
        folder = Path(source.config["path"])
        if not folder.is_dir():  # a folder not mounted is not a folder emptied: nothing is removed
            raise GroundloopError(f"The folder {folder} is not there.")
        report = documents.ingest_paths(root, [folder], groups=source.groups)
        return report, list(report.failures), None

    from retrieval import sql_source

    spec = sql_source.SqlQuery(name=source.name, **{**source.config,
                                                    "text_columns": tuple(source.config["text_columns"])})
    since = source.mark if spec.updated_column and not full else None
    rows = sql_source.read(spec, since=since)
    report = documents.ingest_records(root, rows.documents, scope=None if since is not None else spec.prefix,
                                      groups=source.groups)
    return report, [*rows.failures, *report.failures], rows.mark if spec.updated_column else None


@contextmanager
def _leased(root: Root, run: SyncRun) -> Iterator[None]:
    """The lock's lease renewed every third of it while the block runs."""
    lease, done = root.settings.sync_lease_seconds, threading.Event()

    def renew() -> None:
        while not done.wait(lease / 3):
            try:
                if not sources.renew(root.database, name=run.source, holder=run.holder, lease_seconds=lease):
                    log.warning("sync of %s: its lock was lost (the lease ran out)", run.source)
                    return
            except DatabaseUnavailable:
                log.warning("sync of %s: could not renew its lock", run.source)

    renewing = threading.Thread(target=renew, name=f"lease-{run.source}", daemon=True)
    renewing.start()
    try:
        yield
    finally:
        done.set()
        renewing.join()
