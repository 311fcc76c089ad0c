"""Sources the index is kept in step with: groundloop sources add|list|remove, and groundloop sync."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from retrieval.errors import GroundloopError

from app.cli.shell import err, out, state

if TYPE_CHECKING:
    from app.sync import Synced

commands = typer.Typer()
group = typer.Typer(help="Folders and SQL queries the index is kept in step with (groundloop sync).",
                    no_args_is_help=True)
SQL_ONLY = ("--query", "--id-column", "--text-columns", "--title-column", "--updated-column")


@group.command("add")
def sources_add(
    name: Annotated[str, typer.Argument(help="1 to 50 lowercase letters, digits, '-' or '_'.")],
    path: Annotated[Path | None, typer.Option("--path", help="A folder: its files, and files added, changed or "
                                              "removed later.")] = None,
    sql: Annotated[str | None, typer.Option("--sql", help="A database's SQLAlchemy URL, e.g. "
                                            "postgresql+psycopg://kb@db.example/kb or sqlite:///kb.db.")] = None,
    query: Annotated[str | None, typer.Option("--query", help="One SELECT: a document per row.")] = None,
    id_column: Annotated[str | None, typer.Option("--id-column", help="The column that names a row for good.")] = None,
    text_columns: Annotated[str | None, typer.Option("--text-columns", help="Columns whose text is the "
                                                     "document's, comma-separated: body,resolution.")] = None,
    title_column: Annotated[str | None, typer.Option("--title-column", help="The column of the title.")] = None,
    updated_column: Annotated[str | None, typer.Option(
        "--updated-column", help="A column that grows when a row changes (a time or a number): each sync then "
        "reads only the rows changed since the last, and rows deleted leave on `sync --full`.")] = None,
    groups: Annotated[list[str] | None, typer.Option(
        "--groups", help="Who may see its documents, comma-separated (default: everyone).")] = None,
) -> None:
    """Add a folder (--path DIR) or an SQL query (--sql URL --query … --id-column … --text-columns …)."""
    from app import documents
    from feedback import sources

    root = state.root
    sources.parse_name(name)
    names = documents.known(root, [g for given in groups or ["everyone"] for g in given.split(",")])
    if (path is None) == (sql is None):
        raise GroundloopError("Give a folder (--path DIR) or an SQL query (--sql URL --query …), one of the two.")
    given = dict(zip(SQL_ONLY, (query, id_column, text_columns, title_column, updated_column), strict=True))
    if path is not None:
        extra = [option for option, value in given.items() if value is not None]
        if extra:
            raise GroundloopError(f"{_listed(extra)} {'is' if len(extra) == 1 else 'are'} only for an SQL source "
                                  "(--sql), not a folder.")
        folder = path.expanduser().resolve()
        if not folder.is_dir():
            raise GroundloopError(f"No folder at {folder}.")
        kind, config, shown = "folder", {"path": str(folder)}, str(folder)
    else:
        kind, config, shown = "sql", *_checked_query(name, sql, given)
    source = sources.add_source(root.database, name=name, kind=kind, config=config, shown=shown, groups=list(names))
    interval = root.settings.sync_interval
    every = f"a server syncs it every {interval:g} s" if interval else "set GROUNDLOOP_SYNC_INTERVAL for a server to sync it"
    out.print(f"Added {escape(source.name)}: {escape(source.shown)}, seen by {', '.join(source.groups)}. "
              f"`groundloop sync {escape(source.name)}` indexes it now; {every}.", highlight=False)


def _checked_query(name: str, url: str, given: dict[str, str | None]) -> tuple[dict, str]:
    """The SQL source's stored configuration, once its query ran for no rows; and its URL as shown."""
    from retrieval import sql_source

    missing = [option for option in SQL_ONLY[:3] if not given[option]]
    if missing:
        raise GroundloopError(f"An SQL source needs {_listed(missing)} too.")
    columns = tuple(column.strip() for column in given["--text-columns"].split(",") if column.strip())
    if not columns:
        raise GroundloopError("Name at least one text column: --text-columns body,resolution.")
    spec = sql_source.check(sql_source.SqlQuery(
        name=name, url=url, query=given["--query"], id_column=given["--id-column"], text_columns=columns,
        title_column=given["--title-column"], updated_column=given["--updated-column"]))
    config = {"url": spec.url, "query": spec.query, "id_column": spec.id_column, "text_columns": list(spec.text_columns),
              "title_column": spec.title_column, "updated_column": spec.updated_column}
    return config, sql_source.masked(spec.url)


@group.command("list")
def sources_list() -> None:
    """Every source: where it reads from, who may see it, its last sync and its state."""
    from rich.table import Table

    from feedback import sources

    db = state.root.database
    found = sources.list_sources(db)
    if not found:
        out.print("No sources yet: add one with groundloop sources add NAME --path DIR (or --sql URL …).")
        return
    last = sources.last_runs(db)
    table = Table()
    for column in ("name", "kind", "from", "groups", "last sync", "state"):
        table.add_column(column, overflow="fold")  # a URL or a path is shown whole, never cut short
    for source in found:
        run = last.get(source.name)
        table.add_row(escape(source.name), source.kind, escape(source.shown), ", ".join(source.groups),
                      escape(_run_summary(run)) if run else "", escape(sources.state(source)))
    out.print(table)


@group.command("remove")
def sources_remove(
    name: str,
    keep_documents: Annotated[bool, typer.Option(
        "--keep-documents", help="Stop syncing, but leave its documents in the index.")] = False,
) -> None:
    """Stop syncing a source and take its documents out of the index."""
    from app import sync

    source, removed = sync.remove(state.root, name, keep_documents=keep_documents)
    kept = "its documents stay in the index" if keep_documents else f"{removed} of its documents left the index"
    out.print(f"Removed {escape(source.name)}; {kept}.", highlight=False)


@commands.command("sync")
def sync_command(
    name: Annotated[str | None, typer.Argument(help="One source (default: every source).")] = None,
    full: Annotated[bool, typer.Option("--full", help="Read every row of an SQL source, not only those updated "
                                       "since the last sync, and remove the rows gone.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep running: sync each source every "
                                        "GROUNDLOOP_SYNC_INTERVAL seconds (Ctrl-C stops).")] = False,
) -> None:
    """Bring the index in step with the sources: what was added, changed and removed since the last sync."""
    from app import sync
    from feedback import sources

    root = state.root
    if watch:
        _watch(root, name, full=full)
        return
    names = [name] if name else [source.name for source in sources.list_sources(root.database)]
    if not names:
        out.print("No sources yet: add one with groundloop sources add NAME --path DIR (or --sql URL …).")
        return
    failed = []
    for each in names:
        with err.status(f"Syncing {escape(each)}…"):
            result = sync.sync(root, each, full=full)
        show(result)
        if result.error:
            failed.append(each)
    if failed:
        raise GroundloopError(f"{len(failed)} of {len(names)} sources failed to sync: {', '.join(failed)}.")


def _watch(root, name: str | None, *, full: bool) -> None:
    import threading

    from app import sync
    from feedback import sources

    interval = root.settings.sync_interval
    if not interval:
        raise GroundloopError("GROUNDLOOP_SYNC_INTERVAL is 0: set it to the seconds between syncs of a source.")
    if full:
        raise GroundloopError("--watch reads what changed; run groundloop sync --full on its own.")
    if name:
        sources.get_source(root.database, name)
    err.print(f"Syncing {name or 'every source'} every {interval:g} s (Ctrl-C stops).", highlight=False)
    try:
        sync.watch(root, names=[name] if name else None, each=show, stop=threading.Event())
    except KeyboardInterrupt:
        err.print("Stopped.")


def show(result: Synced) -> None:
    """One line for the sync, then a line per document kept out or warned about."""
    name = escape(result.name)
    if result.skipped:
        out.print(f"{name}: skipped, another sync of it is running.", highlight=False)
        return
    if result.error:
        out.print(f"[red]{name}: failed[/] ({result.seconds:.1f} s): {escape(result.error)}", highlight=False)
        return
    counts = result.counts
    out.print(f"{name}: [green]{counts.added} added[/], {counts.updated} updated, {counts.unchanged} unchanged, "
              f"{counts.removed} removed, {counts.failed} failed ({result.seconds:.1f} s).", highlight=False)
    for failure in result.failures:
        out.print(f"  [yellow]failed[/] {escape(failure.path)}: {escape(failure.reason)}", highlight=False)
    for warning in result.warnings:
        out.print(f"  [yellow]warning[/] {escape(warning.path)}: {escape(warning.reason)}", highlight=False)


def _listed(options: list[str]) -> str:
    return " and ".join([", ".join(options[:-1]), options[-1]] if len(options) > 1 else options)


def _run_summary(run) -> str:
    when = f"{(run.finished_at or run.started_at):%Y-%m-%d %H:%M}"
    if run.status == "running":
        return f"{when}: running"
    if run.status == "failed":
        return f"{when}: failed: {run.error}"
    return (f"{when}: {run.added} added, {run.updated} updated, {run.unchanged} unchanged, {run.removed} removed, "
            f"{run.failed} failed")
