"""The ``groundloop`` command: one module per command group, joined here under one root."""

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from retrieval.errors import GroundloopError

from app.cli import (documents, events, export, feedback_accounts, groups, index, keys, rankers, serve, simulate,
                     sources, users, webhooks)
from app.cli.index import beir_collection
from app.cli.shell import err, state

__all__ = ["beir_collection", "cli", "main"]

cli = typer.Typer(
    help="groundloop: answers from your documents, with citations.", no_args_is_help=True, pretty_exceptions_enable=False
)
# The order of these lines is the order of `groundloop --help`.
for commands in (index.commands, sources.commands, simulate.commands, serve.commands, rankers.commands, export.commands):
    cli.add_typer(commands)
cli.add_typer(users.group, name="users")
cli.add_typer(groups.group, name="groups")
cli.add_typer(keys.group, name="keys")
cli.add_typer(rankers.group, name="rankers")
cli.add_typer(rankers.group, name="models", help="The older name of `groundloop rankers`: the same commands.")
cli.add_typer(webhooks.group, name="webhooks")
cli.add_typer(events.group, name="events")
cli.add_typer(feedback_accounts.group, name="feedback")
cli.add_typer(documents.group, name="documents")
cli.add_typer(sources.group, name="sources")


@cli.callback()
def configure(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where the index and database live.")] = None,
) -> None:
    from app.file_modes import keep_data_private
    from app.settings import Settings

    state.settings = Settings(data_dir=data_dir) if data_dir else Settings()
    keep_data_private(state.settings.data_dir)


def main() -> None:
    try:
        cli()
    except GroundloopError as error:
        err.print(f"[red]error:[/] {error}", highlight=False)
        raise SystemExit(1) from None
    except Exception as error:
        from pydantic import ValidationError
        from sqlalchemy.exc import InterfaceError, OperationalError

        if isinstance(error, (OperationalError, InterfaceError)):  # raised before a session could say it shorter
            reason = str(error.orig or error).strip().splitlines()[0]
            err.print(f"[red]error:[/] The feedback database cannot be reached: {escape(reason)}", highlight=False)
            raise SystemExit(1) from None
        if not isinstance(error, ValidationError):
            raise
        # a setting with a value it cannot take
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        setting = name if name.isupper() else f"GROUNDLOOP_{name.upper()}"
        err.print(f"[red]error:[/] {escape(setting)}: {escape(first['msg'])}.", highlight=False)
        raise SystemExit(1) from None
