"""Feedback and review events sent to other systems: groundloop webhooks."""

import typer

from retrieval.errors import GroundloopError

from app.cli.shell import out, state

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
    from app.webhooks import Sender, webhook_client
    from feedback import webhooks

    db = state.root.database

    async def deliver() -> int:
        async with webhook_client(settings) as http:
            return await Sender(settings, lambda: db).deliver_due(http)

    import asyncio

    delivered = asyncio.run(deliver())
    counts = webhooks.counts_by_status(db)
    out.print(f"{delivered} delivered now; in all {counts.get('delivered', 0)} delivered, "
              f"{counts.get('pending', 0)} pending, {counts.get('failed', 0)} failed.", highlight=False)


@group.command("retry-failed")
def webhooks_retry_failed() -> None:
    """Try again the deliveries given up on after their last attempt (say, once the target is fixed)."""
    from feedback import webhooks

    n = webhooks.requeue_failed(state.root.database)
    out.print(f"{n} failed deliveries will be tried again.", highlight=False)
