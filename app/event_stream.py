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
import time
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
    return kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


class Publisher:
    """Passes on what is due, a batch at a time; any number of them may run at once."""

    def __init__(self, url: str, db: Callable[[], Database]) -> None:
        self.redis = client(url)
        self.db = db

    def publish_batch(self) -> int:
        """Publishes up to ``BATCH`` due entries and moves the cursor past those Redis took; how many were due."""
        db = self.db()
        entries = event_stream.pending(db, STREAM, limit=BATCH)
        if not entries:
            return 0
        results = self._add(entries)
        last, problem = None, None
        for entry, result in zip(entries, results, strict=True):
            if isinstance(result, Exception) and not _already_there(result):
                problem = result
                break
            last = entry.event_id
        if last is not None:
            event_stream.advance(db, STREAM, last)
        if problem is not None:
            raise StreamUnavailable(f"Redis at {where(self.redis)} refused event {entry.event_id} "
                                    f"({_reason(problem)}); it waits in the database.")
        return len(entries)

    def _add(self, entries: list[event_stream.Entry]) -> list:
        """Redis's answer to each XADD, sent in one MULTI: a refusal of the command itself (out of
        memory, a read-only replica) rejects the whole batch, so no entry is added after one that was not."""
        pipe = self.redis.pipeline(transaction=True)
        for entry in entries:
            pipe.xadd(STREAM, entry.fields, id=f"{entry.event_id}-0")
        try:
            results = pipe.execute(raise_on_error=False)
            refused = [entry for entry, result in zip(entries, results, strict=True) if _already_there(result)]
            if refused:
                self._check_ours(refused)
        except redis.RedisError as error:
            raise StreamUnavailable(f"Redis at {where(self.redis)} did not take the events ({_reason(error)}); "
                                    "they wait in the database.") from error
        return results

    def _check_ours(self, refused: list[event_stream.Entry]) -> None:
        """An entry Redis refused as already there must be this very event, or older than the stream's
        first entry (trimmed). A stream that another groundloop database publishes to (or one kept from
        before this database was started afresh) has other events under these ids: this one's would be
        lost without a word, so publishing stops and says why."""
        ids = [f"{entry.event_id}-0" for entry in refused]
        held = dict(self.redis.xrange(STREAM, min=ids[0], max=ids[-1]))
        first = self.redis.xrange(STREAM, count=1)
        trimmed_below = _number(first[0][0]) if first else float("inf")
        for stream_id, entry in zip(ids, refused, strict=True):
            there = held.get(stream_id)
            if there is None:
                ours = entry.event_id < trimmed_below
            else:
                ours = (there.get("at"), there.get("kind")) == (entry.fields["at"], entry.fields["kind"])
            if not ours:
                raise StreamUnavailable(
                    f"{STREAM} at {where(self.redis)} holds other events than this database's (entry {stream_id} "
                    "is not its event): another groundloop database publishes there, or this one was started "
                    "afresh. Give each database a Redis (or a Redis database number) of its own, or delete the "
                    "stream; the events wait in the database.")

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


class Waker:
    """A pause that ends early when a new entry reaches the stream: what lets ``retrain --watch``
    react to feedback at once instead of at its next poll. Entries published after it was made
    count, even while no one waits; while Redis is down it is a plain pause."""

    def __init__(self, url: str) -> None:
        self.redis = client(url)
        try:
            newest = self.redis.xrevrange(STREAM, count=1)
            self.last = newest[0][0] if newest else "0-0"
        except redis.RedisError:
            self.last = "$"

    def wait(self, seconds: float) -> None:
        """Blocks in turns shorter than the socket's timeout, so a Redis that stops answering is noticed."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = self.redis.xread({STREAM: self.last}, block=max(1, int(min(left, TIMEOUT_SECONDS / 2) * 1000)),
                                         count=BATCH)
            except redis.RedisError:
                time.sleep(max(0.0, deadline - time.monotonic()))
                return
            if reply:
                self.last = reply[0][1][-1][0]
                return


def _number(stream_id: str) -> int:
    return int(stream_id.split("-")[0])


def _already_there(result: object) -> bool:
    return isinstance(result, redis.ResponseError) and ALREADY_THERE in str(result)


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
