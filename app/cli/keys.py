"""API keys, which programs use on someone's behalf: groundloop keys."""

from typing import Annotated

import typer
from app.cli.shell import err, out, state
from feedback.names import SCOPES

group = typer.Typer(help="API keys: what programs use to ask and give feedback on someone's behalf.",
                    no_args_is_help=True)


@group.command("create")
def keys_create(
    user: Annotated[str, typer.Option("--user", help="Whose key: a name from `groundloop users list`.")],
    scopes: Annotated[str, typer.Option(help=f"Comma-separated, of: {', '.join(SCOPES)}.")] = "ask,feedback",
    name: Annotated[str, typer.Option(help="What the key is for, shown in `groundloop keys list`.")] = "",
) -> None:
    """Make a key and print it, once: only its hash is kept, so it cannot be shown again."""
    from feedback import keys as api_keys

    row, key = api_keys.create_key(state.root.database, identifier=user,
                                   scopes=scopes, name=name)
    print(key)
    err.print(f"Key {row.prefix} for {user} ({', '.join(row.scopes)}). Keep it now: it is not shown again.",
              highlight=False, markup=False)


@group.command("list")
def keys_list() -> None:
    """Every key with its user, scopes and when it was made, last used and revoked (never the key itself)."""
    from rich.table import Column, Table

    from feedback import keys as api_keys

    found = api_keys.list_keys(state.root.database)
    if not found:
        out.print("No API keys yet: make one with [bold]groundloop keys create --user NAME[/].")
        return
    table = Table(Column("prefix", no_wrap=True), "user", "name", "scopes", "created", "last used", "revoked")
    for key, user in found:
        table.add_row(key.prefix, user, key.name, ",".join(key.scopes), _minute(key.created_at),
                      _minute(key.last_used_at), _minute(key.revoked_at))
    out.print(table)


@group.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix from `groundloop keys list`.")]) -> None:
    """The key opens nothing from now on."""
    from feedback import keys as api_keys

    row = api_keys.revoke_key(state.root.database, prefix=prefix)
    out.print(f"Key {row.prefix} is revoked (since {_minute(row.revoked_at)} UTC).", highlight=False, markup=False)


def _minute(at) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else ""
