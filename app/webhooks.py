"""Sends feedback and review events to the webhook targets in the settings: an HTTP POST of the
event as JSON, signed with HMAC-SHA256 of the body (``X-Groundloop-Signature: sha256=<hex>``),
retried with backoff until the target answers 2xx. The delivery state lives in the database
(``feedback/webhooks.py``), so every worker may run the loop and a restart loses nothing.
"""

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from contextlib import suppress

import httpx

from app.settings import Settings
from feedback import webhooks
from feedback.db import Database, DatabaseUnavailable

log = logging.getLogger(__name__)
BATCH = 50


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: what a receiver recomputes from the raw body to trust it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Sender:
    """One delivery pass: queue new events, claim the due ones, post them, record how each went."""

    def __init__(self, settings: Settings, db: Callable[[], Database]) -> None:
        self.settings = settings
        self.db = db

    async def deliver_due(self, client: httpx.AsyncClient, stop: asyncio.Event | None = None) -> int:
        """Posts the deliveries that are due, a batch at a time until none is (or ``stop`` is set);
        how many arrived."""
        settings, db = self.settings, self.db()
        await asyncio.to_thread(webhooks.enqueue, db, targets=settings.webhook_urls, actions=settings.webhook_events)
        delivered = 0
        while not (stop and stop.is_set()) and (claimed := await asyncio.to_thread(
            webhooks.claim, db, limit=BATCH, lease_seconds=settings.webhook_timeout * 4 + 30
        )):
            results = await asyncio.gather(*(self._post(client, item) for item in claimed))
            for item, error in zip(claimed, results, strict=True):
                if error is None:
                    delivered += 1
                    await asyncio.to_thread(webhooks.mark_delivered, db, delivery_id=item.delivery_id)
                else:
                    await asyncio.to_thread(
                        webhooks.mark_failed, db, delivery_id=item.delivery_id, attempts=item.attempts, error=error,
                        max_attempts=settings.webhook_max_attempts, backoff_seconds=settings.webhook_backoff_seconds,
                        max_backoff_seconds=settings.webhook_max_backoff_seconds,
                    )
        return delivered

    async def _post(self, client: httpx.AsyncClient, item: webhooks.Claimed) -> str | None:
        """None when the target took it; else why not, in a few words."""
        body = json.dumps(item.event, separators=(",", ":")).encode()
        headers = {
            "content-type": "application/json",
            "user-agent": "groundloop-webhooks",
            "x-groundloop-event": item.event["action"],
            "x-groundloop-delivery": str(item.event["id"]),
            "x-groundloop-signature": signature(self.settings.webhook_secret.get_secret_value(), body),
        }
        try:
            response = await client.post(item.target, content=body, headers=headers)
        except httpx.TimeoutException:
            return "timed out"
        except httpx.HTTPError as error:
            return f"could not connect ({type(error).__name__})"
        return None if response.is_success else f"HTTP {response.status_code}"


def webhook_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=settings.webhook_timeout, follow_redirects=False)


async def run_until(stop: asyncio.Event, settings: Settings, db: Callable[[], Database]) -> None:
    """The server's background loop: a pass every ``webhook_poll_seconds`` until ``stop`` is set.
    A pass under way when it is set ends first, so no delivery is left claimed but unsent."""
    sender = Sender(settings, db)
    async with webhook_client(settings) as http:
        while not stop.is_set():
            try:
                await sender.deliver_due(http, stop)
            except DatabaseUnavailable:
                log.warning("webhooks: the database cannot be reached; trying again later")
            except Exception:  # the loop outlives any one bad pass; what is undelivered stays due
                log.exception("webhooks: a delivery pass failed; trying again later")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.webhook_poll_seconds)
