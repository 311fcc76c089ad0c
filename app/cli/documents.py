"""The indexed documents, as the documents page shows them: groundloop documents list|set-groups|delete."""

import json
from typing import Annotated

import typer

from app.cli.shell import out, state

group = typer.Typer(help="The indexed documents: list them, change who may find one, delete one.",
                    no_args_is_help=True)
DOCUMENT_HELP = "The document's id or its source, as `groundloop documents list --json` shows them."


@group.command("list")
def documents_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every indexed document: title, path, groups, chunks and when it was last ingested."""
    from rich.table import Table

    from app import documents

    found = documents.catalog(state.root)
    if as_json:
        print(json.dumps([{"doc_id": d.doc_id, "source": d.source, "title": d.title, "path": d.path,
                           "groups": list(d.groups), "chunks": d.chunks,
                           "ingested_at": d.ingested_at.isoformat() if d.ingested_at else None} for d in found],
                         ensure_ascii=False, indent=2))
        return
    if not found:
        out.print("Nothing is indexed yet: run [bold]groundloop ingest PATH[/] first.")
        return
    table = Table("path", "title", "groups", "chunks", "ingested (UTC)")
    for d in found:
        table.add_row(d.path, d.title, ",".join(d.groups), str(d.chunks),
                      f"{d.ingested_at:%Y-%m-%d %H:%M}" if d.ingested_at else "")
    out.print(table, markup=False, highlight=False)


@group.command("set-groups")
def documents_set_groups(
    document: Annotated[str, typer.Argument(help=DOCUMENT_HELP)],
    groups: Annotated[str, typer.Argument(help="Comma-separated group names; everyone for all.")],
) -> None:
    """From now on only people in these groups find the document."""
    from app import documents

    changed = documents.set_groups(state.root, document, groups.split(","), actor_id=None)
    out.print(f"{changed.path} is now seen by: {', '.join(changed.groups)}.", highlight=False, markup=False)


@group.command("delete")
def documents_delete(document: Annotated[str, typer.Argument(help=DOCUMENT_HELP)]) -> None:
    """Remove the document from the index: its chunks, keyword rows and sentence vectors."""
    from app import documents

    gone = documents.delete(state.root, document, actor_id=None)
    out.print(f"Deleted {gone.path} ({gone.chunks} chunk{'' if gone.chunks == 1 else 's'}).", highlight=False,
              markup=False)
