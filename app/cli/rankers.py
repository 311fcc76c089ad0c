"""Rankers learned from feedback: retrain, and groundloop rankers to list, activate and roll back
(``groundloop models`` is the older name of the same group)."""

import time
from typing import Annotated

import typer

from retrieval.errors import GroundloopError

from app.cli.shell import err, out, state

commands = typer.Typer()
group = typer.Typer(help="Rankers learned from feedback: list, activate, roll back.", no_args_is_help=True)


@commands.command()
def retrain(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Learn and measure, but save and activate nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Activate the new ranker even if it is not better.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep running; retrain when enough new feedback arrived.")] = False,
    collection: Annotated[str | None, typer.Option(help="The collection the feedback was given on.")] = None,
) -> None:
    """Learn a ranker from feedback; it serves only if it beats the active one on the newest 20%."""
    from app.runtime import Root
    from feedback import ranker_versions

    settings = state.settings.model_copy(update={"collection": collection}) if collection else state.settings
    root = Root(settings)
    db = root.database
    if not watch:
        _retrain_once(root, dry_run=dry_run, force=force)
        return
    pause = _pause(settings)
    err.print(f"Watching for {settings.retrain_after} new feedback events (Ctrl-C stops).")
    while True:
        if ranker_versions.feedback_events_since_last_ranker(db) >= settings.retrain_after:
            try:
                _retrain_once(root, dry_run=dry_run, force=force)
            except GroundloopError as error:
                err.print(f"[yellow]{error}[/]", highlight=False)
        pause(settings.retrain_poll_seconds)


def _pause(settings):
    """Between looks: woken by the event stream when there is one, else a plain sleep."""
    if not settings.events_redis_url:
        return time.sleep
    from app.event_stream import Waker

    return Waker(settings.events_redis_url).wait


def _retrain_once(root, *, dry_run: bool, force: bool) -> None:
    from feedback import registry

    active = root.rankers()
    with err.status("Learning from feedback…"):
        report = registry.retrain(root.database, root.retriever(), root.settings.rankers_dir, active=active,
                                  dry_run=dry_run, force=force, account_share=root.settings.learning_account_share)
    refused = f"not activated: {report.refusal}" if report.refusal else "not activated: not better"
    verdict = "activated" if report.activated else ("dry run: nothing saved" if dry_run else refused)
    out.print(
        f"{report.version}: held-out nDCG@10 {report.held_out_ndcg:.4f} vs {report.active_version} "
        f"{report.active_ndcg:.4f} on {report.counts['held_out']} newest of {report.counts['questions']} judged "
        f"questions; {verdict} ({report.seconds:.1f} s)",
        highlight=False,
    )


@group.command("list")
def rankers_list() -> None:
    """Every version with its held-out metrics, counts and status."""
    from rich.table import Table

    from feedback import ranker_versions

    table = Table("version", "status", "held-out nDCG@10", "vs active", "questions", "created", "activated")
    for row in ranker_versions.ranker_versions(state.root.database):
        table.add_row(
            row.version, row.status, f"{row.metrics.get('held_out_ndcg@10', 0):.4f}",
            f"{row.metrics.get('active_ndcg@10', 0):.4f} ({row.metrics.get('compared_with', '')})",
            str(row.counts.get("questions", "")), f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.activated_at:%Y-%m-%d %H:%M}" if row.activated_at else "",
        )
    out.print(table)


@group.command("activate")
def rankers_activate(version: Annotated[str, typer.Argument(help="A version from `groundloop rankers list`.")]) -> None:
    """Serve this version from the next question on (running servers too)."""
    from feedback import ranker_versions

    row = ranker_versions.activate_ranker(state.root.database, version=version)
    out.print(f"{row.version} is active.")


@group.command("rollback")
def rankers_rollback() -> None:
    """Serve the version that served before the active one (fusion when there was none)."""
    from feedback import ranker_versions

    previous = ranker_versions.rollback_ranker(state.root.database)
    out.print(f"{previous.version} is active." if previous else "No learned ranker is active: fusion serves.")
