"""The people who may sign in, their roles, and whether they are exported: groundloop users."""

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from retrieval.errors import GroundloopError

from app.cli.shell import out, state
from feedback.names import ROLES

group = typer.Typer(help="The people who may sign in to the chat, and their roles.", no_args_is_help=True)
ROLE_HELP = f"One of: {', '.join(ROLES)}."
_BAD_NAME = re.compile(r"[\s\x00-\x1f\x7f]")


@group.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The name they sign in with.")],
    role: Annotated[str, typer.Option(help=ROLE_HELP)] = "user",
    password_file: Annotated[Path | None, typer.Option(
        "--password-file", help="Read the password from this file's first line ('-' reads standard input). "
        "Without it, the password is asked for.")] = None,
    if_missing: Annotated[bool, typer.Option(
        "--if-missing", help="Do nothing, successfully, when the user already exists.")] = False,
    groups: Annotated[str, typer.Option(
        "--groups", help="Comma-separated groups from `groundloop groups list` (everyone is in everyone).")] = "",
) -> None:
    """Add a person who may sign in to the chat."""
    if not name or len(name) > 200 or _BAD_NAME.search(name):
        raise GroundloopError("A name must be 1 to 200 characters, without spaces or control characters.")
    if role not in ROLES:
        raise GroundloopError(f"Unknown role '{role}': use one of {', '.join(ROLES)}.")
    from feedback import accounts, membership

    db = state.root.database
    if if_missing and accounts.get_user(db, identifier=name):
        out.print(f"{name} already exists; nothing changed.", highlight=False, markup=False)
        return
    if groups.strip():
        membership.check_known(db, groups)  # before the password is asked for
    password = _read_password(password_file) if password_file else typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise GroundloopError("The password is empty.")
    user = accounts.add_user(db, identifier=name, role=role, password=password)
    given = membership.set_user_groups(db, identifier=name, names=groups) if groups.strip() else ()
    in_groups = f"; groups: {_groups(given)}" if given else ""
    out.print(f"Added {user.identifier} ({user.role}{in_groups}).", highlight=False, markup=False)


@group.command("list")
def users_list() -> None:
    """List everyone who may sign in, with their role."""
    from feedback import accounts, membership

    found = accounts.list_users(state.root.database)
    if not found:
        out.print("No users yet: add one with [bold]groundloop users add NAME[/].")
        return
    from rich.table import Table

    groups = membership.groups_by_user(state.root.database)
    table = Table("name", "role", "groups", "password", "exports", "added")
    for user in found:
        table.add_row(user.identifier, user.role, _groups(groups.get(user.id, ())),
                      "set" if user.password_hash else "not set",
                      "opted out" if user.export_opt_out else "included", f"{user.created_at:%Y-%m-%d %H:%M}")
    out.print(table)


@group.command("set-role")
def users_set_role(
    name: Annotated[str, typer.Argument(help="Whose role to change.")],
    role: Annotated[str, typer.Argument(help=ROLE_HELP)],
) -> None:
    """Change what someone may do: user, reviewer or admin."""
    from feedback import accounts

    user = accounts.set_role(state.root.database, identifier=name, role=role)
    out.print(f"{user.identifier} is now {user.role}.", highlight=False, markup=False)


@group.command("set-groups")
def users_set_groups(
    name: Annotated[str, typer.Argument(help="Whose groups to set.")],
    groups: Annotated[str, typer.Argument(
        help="Comma-separated groups from `groundloop groups list`; 'everyone' alone takes them out of every other.")],
) -> None:
    """Put someone in exactly these groups: from their next question on, they see the documents of these
    groups and everyone's (their API keys too)."""
    from feedback import membership

    given = membership.set_user_groups(state.root.database, identifier=name, names=groups)
    out.print(f"{name} is now in: {_groups(given)}.", highlight=False, markup=False)


@group.command("sign-out")
def users_sign_out(name: Annotated[str, typer.Argument(help="Whose sessions to end.")]) -> None:
    """End every session of someone, in every browser: they must sign in again."""
    from feedback import sessions

    sessions.sign_out(state.root.database, identifier=name)
    out.print(f"{name} is signed out everywhere.", highlight=False, markup=False)


@group.command("opt-out")
def users_opt_out(name: Annotated[str, typer.Argument(help="Who is to be left out of exports.")]) -> None:
    """Leave everything about someone out of every export: their answers, feedback and reviews."""
    from feedback import accounts

    user = accounts.set_export_opt_out(state.root.database, identifier=name, opted_out=True)
    out.print(f"{user.identifier} is left out of exports.", highlight=False, markup=False)


@group.command("opt-in")
def users_opt_in(name: Annotated[str, typer.Argument(help="Who may be exported again.")]) -> None:
    """Include someone in exports again (the default)."""
    from feedback import accounts

    user = accounts.set_export_opt_out(state.root.database, identifier=name, opted_out=False)
    out.print(f"{user.identifier} is included in exports.", highlight=False, markup=False)


def _groups(names) -> str:
    return ", ".join(["everyone", *names])


def _read_password(path: Path) -> str:
    """The first line, without its line ending; the rest of the file is ignored."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise GroundloopError(f"Cannot read the password file {path}: {reason}.") from None
    return text.splitlines()[0] if text else ""
