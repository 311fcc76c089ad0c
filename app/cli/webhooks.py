"""Feedback and review events sent to other systems: groundloop webhooks."""

import asyncio

import typer

from retrieval.errors import GroundloopError

from app import components
from app.cli.shell import out, state
from app.webhooks import Sender, webhook_client
from feedback import webhooks

group = typer.Typer(help="Feedback and review events sent to the webhook targets in the settings.",
                    no_args_is_help=True)


@group.command("deliver")
def webhooks_deliver() -> None:
    """Send what is due now (a running server does this by itself) and count the deliveries by status."""
    settings = state.settings
    if not settings.webhook_urls:
        raise GroundloopError("No webhook targets: set GROUNDLOOP_WEBHOOK_URLS.")
    if not settings.webhook_secret:
        raise GroundloopError("GROUNDLOOP_WEBHOOK_SECRET is not set: every delivery is signed with it.")
    db = components.database(settings)

    async def deliver() -> int:
        async with webhook_client(settings) as http:
            return await Sender(settings, lambda: db).deliver_due(http)

    delivered = asyncio.run(deliver())
    counts = webhooks.counts_by_status(db)
    out.print(f"{delivered} delivered now; in all {counts.get('delivered', 0)} delivered, "
              f"{counts.get('pending', 0)} pending, {counts.get('failed', 0)} failed.", highlight=False)


@group.command("retry-failed")
def webhooks_retry_failed() -> None:
    """Try again the deliveries given up on after their last attempt (say, once the target is fixed)."""
    n = webhooks.requeue_failed(components.database(state.settings))
    out.print(f"{n} failed deliveries will be tried again.", highlight=False)
