"""Sources and their syncs: the only code that writes the sources and sync_runs tables.

One sync of a source runs at a time, across threads, workers and machines: ``claim`` takes the source's
lock with a conditional UPDATE (on SQLite writers queue; on PostgreSQL the second UPDATE re-reads the
row and finds it taken), for a lease the holder ``renew``s while it works, so a holder that dies lets
go by itself. ``finish`` and ``fail`` record the run, set when the source is next due (a failing one
sooner at first, then later and later) and let go. What a source reads, and how, is ``app/sync.py``'s.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, select

from feedback import events
from feedback.db import Database
from feedback.models import Source, SyncRun, now
from feedback.writing import NotFound
from retrieval.errors import GroundloopError

KINDS = ("folder", "sql")
SUBJECT = "sources"
_NAME = re.compile(r"[a-z0-9_-]{1,50}")


class SourceBusy(GroundloopError):
    """The source is being synced elsewhere just now."""


@dataclass(frozen=True)
class Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(added=self.added, updated=self.updated, unchanged=self.unchanged, removed=self.removed,
                    failed=self.failed)


def parse_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise GroundloopError(f"'{(name or '')[:60]}' is not a source name: use 1 to 50 lowercase letters, "
                              "digits, '-' or '_'.")
    return name


def add_source(db: Database, *, name: str, kind: str, config: dict, shown: str, groups: list[str],
               actor_id: str | None = None) -> Source:
    """A new source, due for its first sync at once. ``shown``: where it reads from, as it may be shown
    (never a password)."""
    name = parse_name(name)
    if kind not in KINDS:
        raise GroundloopError(f"A source is a folder or an SQL query, not '{kind}'.")
    with db.write() as session:
        if session.get(Source, name) is not None:
            raise GroundloopError(f"A source named '{name}' exists already: remove it first to change it.")
        source = Source(name=name, kind=kind, config=config, shown=shown[:2000], groups=list(groups))
        session.add(source)
        events.add(session, actor_id=actor_id, action="source_added", subject_type=SUBJECT, subject_id=name,
                   data={"kind": kind, "from": source.shown, "groups": list(groups)})
    return source


def remove_source(db: Database, *, name: str, holder: str | None = None, actor_id: str | None = None) -> Source:
    """The source and its runs are gone (its documents are the caller's to remove). Refused while a sync
    holds it, unless ``holder`` (the caller's own hold: ``held``) does."""
    with db.write() as session:
        source = session.get(Source, name)
        if source is None:
            raise _unknown(name)
        if source.lock_holder not in (None, holder) and source.lock_until is not None and source.lock_until > now():
            raise _busy(source)
        session.execute(delete(SyncRun).where(SyncRun.source == name))
        session.delete(source)
        events.add(session, actor_id=actor_id, action="source_removed", subject_type=SUBJECT, subject_id=name,
                   data={"kind": source.kind, "from": source.shown})
    return source


@contextmanager
def held(db: Database, *, name: str, holder: str, lease_seconds: float) -> Iterator[Source]:
    """The source, locked for ``holder`` while the block runs (no sync starts meanwhile); SourceBusy when a
    sync holds it now."""
    with db.write() as session:
        taken = _take(session, name=name, holder=holder, lease_seconds=lease_seconds)
        source = session.get(Source, name)
        if source is None:
            raise _unknown(name)
        if not taken:
            raise _busy(source)
    try:
        yield source
    finally:
        with db.write() as session:
            _release(session, name=name, holder=holder)


def get_source(db: Database, name: str) -> Source:
    with db.read() as session:
        source = session.get(Source, name)
    if source is None:
        raise _unknown(name)
    return source


def list_sources(db: Database) -> list[Source]:
    with db.read() as session:
        return list(session.exec(select(Source).order_by(Source.name)))


def state(source: Source, at: datetime | None = None) -> str:
    """The source's sync state in a few words, without the error (readiness shows it to anyone)."""
    at = at or now()
    if source.lock_until is not None and source.lock_until > at:
        return "syncing"
    if source.failures:
        syncs = "sync" if source.failures == 1 else "syncs in a row"
        return f"failing: {source.failures} {syncs} failed; next try at {source.due_at:%Y-%m-%d %H:%M:%S} UTC"
    return "ok" if source.synced_at is not None else "not synced yet"


def due(db: Database) -> list[str]:
    """Names of the sources due for a sync and not being synced, the longest due first."""
    at = now()
    with db.read() as session:
        return list(session.exec(select(Source.name).where(Source.due_at <= at, _unlocked(at))
                                 .order_by(Source.due_at, Source.name)))


def claim(db: Database, *, name: str, holder: str, lease_seconds: float, full: bool = False,
          only_if_due: bool = False) -> SyncRun | None:
    """The source's lock for ``holder`` and a run begun, or None when another holds it (or, with
    ``only_if_due``, when another sync made it not due any more). NotFound for no such source."""
    with db.write() as session:
        if not _take(session, name=name, holder=holder, lease_seconds=lease_seconds, only_if_due=only_if_due):
            if session.get(Source, name) is None:
                raise _unknown(name)
            return None
        run = SyncRun(source=name, holder=holder, full=full)
        session.add(run)
    return run


def renew(db: Database, *, name: str, holder: str, lease_seconds: float) -> bool:
    """Extends the holder's lease; False when it no longer holds the lock."""
    with db.write() as session:
        renewed = session.execute(update(Source).where(Source.name == name, Source.lock_holder == holder).values(
            lock_until=now() + timedelta(seconds=lease_seconds)))
        return bool(renewed.rowcount)


def finish(db: Database, *, run: SyncRun, counts: Counts, mark: dict | None, next_in_seconds: float) -> SyncRun:
    """The run worked: its counts, the source's new mark, next due in ``next_in_seconds``, the lock let go;
    and a ``sync_finished`` event with the counts."""
    at = now()
    values = dict(mark=mark, synced_at=at, failures=0, last_error=None, due_at=at + timedelta(seconds=next_in_seconds))
    return _end(db, run, at=at, status="finished", values=values, event={**counts.as_dict()}, **counts.as_dict())


def fail(db: Database, *, run: SyncRun, error: str, retry_seconds: float, max_backoff_seconds: float) -> SyncRun:
    """The run failed with ``error`` (one line): tried again after ``retry_seconds``, doubled for each
    failure in a row up to ``max_backoff_seconds``; the lock let go; a ``sync_failed`` event."""
    error = " ".join(error.split())[:500]
    at = now()
    with db.read() as session:
        source = session.get(Source, run.source)
        failures = (source.failures if source else 0) + 1
    wait = min(retry_seconds * 2 ** (failures - 1), max_backoff_seconds)
    values = dict(failures=failures, last_error=error, due_at=at + timedelta(seconds=wait))
    return _end(db, run, at=at, status="failed", values=values, event={"error": error, "failures": failures},
                error=error)


def runs(db: Database, *, name: str | None = None, limit: int = 20) -> list[SyncRun]:
    """The newest runs first (of one source, or of all)."""
    with db.read() as session:
        query = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)
        return list(session.exec(query.where(SyncRun.source == name) if name else query))


def last_runs(db: Database) -> dict[str, SyncRun]:
    """Each source's newest run."""
    with db.read() as session:
        newest = select(SyncRun.source, SyncRun.id).order_by(SyncRun.source, SyncRun.id.desc())
        ids: dict[str, int] = {}
        for source, run_id in session.execute(newest):
            ids.setdefault(source, run_id)
        found = session.exec(select(SyncRun).where(SyncRun.id.in_(list(ids.values())))) if ids else []
        return {run.source: run for run in found}


def _end(db: Database, run: SyncRun, *, at: datetime, status: str, values: dict[str, Any], event: dict[str, Any],
         **result: Any) -> SyncRun:
    """The run's end, the source's new state and the ``sync_<status>`` event (``event``: its data), at once."""
    with db.write() as session:
        session.execute(update(Source).where(Source.name == run.source).values(**values))
        _release(session, name=run.source, holder=run.holder)
        stored = session.get(SyncRun, run.id)
        if stored is None:  # the source was removed while it synced: its runs went with it
            stored = run
        stored.status, stored.finished_at = status, at
        for key, value in result.items():
            setattr(stored, key, value)
        if stored is not run:
            session.add(stored)
        events.add(session, action=f"sync_{status}", subject_type=SUBJECT, subject_id=run.source,
                   data={"run_id": run.id, "full": run.full, **event})
    return stored


def _take(session: Session, *, name: str, holder: str, lease_seconds: float, only_if_due: bool = False) -> bool:
    """The lock for ``holder`` if nobody holds it (and, ``only_if_due``, the source is due): whether it was taken."""
    at = now()
    conditions = [Source.name == name, _unlocked(at), *([Source.due_at <= at] if only_if_due else [])]
    taken = session.execute(update(Source).where(*conditions).values(
        lock_holder=holder, lock_until=at + timedelta(seconds=lease_seconds)))
    return bool(taken.rowcount)


def _release(session: Session, *, name: str, holder: str) -> None:
    session.execute(update(Source).where(Source.name == name, Source.lock_holder == holder).values(
        lock_holder=None, lock_until=None))


def _unlocked(at: datetime):
    return or_(Source.lock_until.is_(None), Source.lock_until < at)


def _busy(source: Source) -> SourceBusy:
    return SourceBusy(f"'{source.name}' is being synced just now (by {source.lock_holder}): try again when it ends.")


def _unknown(name: str) -> NotFound:
    return NotFound(f"No source named '{name}': see groundloop sources list.")
