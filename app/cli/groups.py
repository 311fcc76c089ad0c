"""Groups of people, which documents are given to: groundloop groups add|list|remove."""

from typing import Annotated

import typer

from retrieval.errors import GroundloopError

from app.cli.shell import out, state

group = typer.Typer(help="Groups of people; a document given to groups is seen only by their members.",
                    no_args_is_help=True)


@group.command("add")
def groups_add(name: Annotated[str, typer.Argument(help="1 to 50 lowercase letters, digits, '-' or '_'.")]) -> None:
    """Add a group, so that people (users set-groups) and documents (ingest --groups) can be given it."""
    from feedback import membership

    added = membership.add_group(state.root.database, name=name)
    out.print(f"Added the group {added.name}.", highlight=False, markup=False)


@group.command("list")
def groups_list() -> None:
    """Every group and how many people are in it (everyone is built in: every person is in it)."""
    from rich.table import Table

    from feedback import membership

    table = Table("group", "people")
    for name, count in membership.list_groups(state.root.database):
        table.add_row(name, "all" if count is None else str(count))
    out.print(table)


@group.command("remove")
def groups_remove(name: Annotated[str, typer.Argument(help="The group to remove.")]) -> None:
    """Remove a group no document is in any more; the people in it are taken out of it."""
    from feedback import membership
    from retrieval import groups as chunk_groups

    db = state.root.database
    checked = chunk_groups.parse([name])[0]
    if checked in membership.known(db) and checked != chunk_groups.EVERYONE:
        sources = state.root.index.sources_in_group(checked)
        if sources:
            shown = ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
            raise GroundloopError(
                f"{len(sources)} document source(s) are still in the group '{checked}' ({shown}): give them other "
                "groups first (groundloop ingest PATH --groups ...), or nobody but admins would see them.")
    members = membership.remove_group(db, name=name)
    taken = f"; taken out of it: {', '.join(members)}" if members else ""
    out.print(f"Removed the group {checked}{taken}.", highlight=False, markup=False)
