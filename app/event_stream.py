"""Publishes every recorded event to the Redis Stream ``groundloop:events``, read from the same
outbox as the webhooks (``feedback/event_stream.py`` says what an entry holds and what is due).

Each entry's stream id is ``<event id>-0``. Redis refuses an id at or below the stream's newest, so
an entry published twice (a worker that died before moving the cursor, two workers at once) is
refused rather than duplicated: entries are in the stream once each, in event order. The cursor in
the database moves only after Redis took (or had already taken) every entry up to it, so while
Redis is down events wait in the database, and a restart resumes where the cursor stands.
"""

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress

import redis

from feedback import event_stream
from feedback.db import Database, DatabaseUnavailable
from retrieval.errors import GroundloopError

log = logging.getLogger(__name__)
STREAM = "groundloop:events"
BATCH = 500
TIMEOUT_SECONDS = 5.0
ALREADY_THERE = "equal or smaller than the target stream top item"
"""Redis's refusal of an id at or below the stream's newest: this entry (or a later one) is there."""


class StreamUnavailable(GroundloopError):
    """Redis cannot be reached or refused the entries; they wait in the database."""


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS,
                                decode_responses=True)


def where(connection: redis.Redis) -> str:
    """Redis's address for messages, without the password the URL may hold."""
    kwargs = connection.connection_pool.connection_kwargs
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


class Publisher:
    """Passes on what is due, a batch at a time; any number of them may run at once."""

    def __init__(self, url: str, db: Callable[[], Database]) -> None:
        self.redis = client(url)
        self.db = db

    def publish_batch(self) -> int:
        """Publishes up to ``BATCH`` due entries in one MULTI (a refusal such as out of memory or a
        read-only replica rejects the whole batch, so no entry is ever added after one that was not)
        and moves the cursor past them; how many were due."""
        db = self.db()
        entries = event_stream.pending(db, STREAM, limit=BATCH)
        if not entries:
            return 0
        pipe = self.redis.pipeline(transaction=True)
        for entry in entries:
            pipe.xadd(STREAM, entry.fields, id=f"{entry.event_id}-0")
        try:
            results = pipe.execute(raise_on_error=False)
        except redis.RedisError as error:
            raise StreamUnavailable(f"Redis at {where(self.redis)} did not take the events ({_reason(error)}); "
                                    "they wait in the database.") from error
        last = None
        for entry, result in zip(entries, results, strict=True):
            if isinstance(result, Exception) and ALREADY_THERE not in str(result):
                break
            last = entry.event_id
        if last is not None:
            event_stream.advance(db, STREAM, last)
        if last != entries[-1].event_id:
            problem = next(r for r in results if isinstance(r, Exception) and ALREADY_THERE not in str(r))
            raise StreamUnavailable(f"Redis at {where(self.redis)} refused an event ({_reason(problem)}); "
                                    "it waits in the database.")
        return len(entries)

    def publish_due(self) -> int:
        """Every due entry, a batch at a time; how many."""
        published = 0
        while count := self.publish_batch():
            published += count
            if count < BATCH:
                break
        return published

    def close(self) -> None:
        self.redis.close()


def _reason(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


async def run_until(stop: asyncio.Event, url: str, db: Callable[[], Database], poll_seconds: float) -> None:
    """The server's background loop: publishes what is due every ``poll_seconds`` until ``stop`` is set.
    While Redis or the database is down it says so once, then once more when publishing resumes."""
    publisher = Publisher(url, db)
    down = None
    try:
        while not stop.is_set():
            try:
                while not stop.is_set() and await asyncio.to_thread(publisher.publish_batch) == BATCH:
                    pass
                if down:
                    log.warning("event stream: publishing again")
                down = None
            except (StreamUnavailable, DatabaseUnavailable) as error:
                if str(error) != down:
                    log.warning("event stream: %s", error)
                down = str(error)
            except Exception:  # the loop outlives any one bad pass; what is unpublished stays due
                log.exception("event stream: a publishing pass failed; trying again later")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_seconds)
    finally:
        publisher.close()
