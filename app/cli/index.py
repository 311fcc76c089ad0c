"""Index documents, search them and measure retrieval on a BEIR dataset: ingest, search, eval."""

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from retrieval.errors import GroundloopError

from app.cli.shell import AS_HELP, RANKER_HELP, groups_of_person, out, progress, state

commands = typer.Typer()


def ingest_with_progress(paths: list[Path], collection: str | None, groups: tuple[str, ...] = ("everyone",)):
    """An ``IngestReport``, with a bar on standard error while the chunks go in."""
    from app import documents

    with progress() as bar:
        task = bar.add_task("Indexing chunks", total=None)
        return documents.ingest_paths(
            state.root, paths, collection=collection,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            groups=groups,
        )


@commands.command("ingest")
def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders, or a BEIR corpus.jsonl.")],
    collection: Annotated[str | None, typer.Option(help="Collection to ingest into.")] = None,
    groups: Annotated[str, typer.Option(
        "--groups", help="Comma-separated groups that may see these documents (`groundloop groups list`).")] = "everyone",
) -> None:
    """Index files, folders or a BEIR corpus for groups of people.

    Unchanged chunks are skipped, changed files replace their old chunks, new groups replace the old ones, and
    files gone from a folder ingested again leave the index."""
    from feedback import membership

    given = membership.check_known(state.root.database, groups)
    report = ingest_with_progress(paths, collection, given)
    changes = report.changes
    out.print(
        f"{report.files} files, {report.chunks} chunks: "
        f"[green]{changes.added} added[/], {changes.skipped} skipped (unchanged), "
        f"{changes.replaced} replaced (old chunks of changed files removed), "
        f"{report.removed} removed (files no longer there); groups: {', '.join(given)}."
    )
    for source in report.regrouped:
        out.print(f"[cyan]groups changed[/] {escape(source)}", highlight=False)
    for source, outcome in report.outcomes.items():
        if outcome == "removed":
            out.print(f"[cyan]removed[/] {escape(source)}", highlight=False)
    for failure in report.failures:
        out.print(f"[yellow]failed[/] {failure.path}: {failure.reason}", highlight=False)
    for warning in report.warnings:
        out.print(f"[yellow]warning[/] {escape(warning.path)}: {escape(warning.reason)}", highlight=False)
    named = [str(path) for path in paths]
    failed = [f.path for f in report.failures if f.path in named]
    if failed or (report.failures and not report.files):
        failed = failed or [f.path for f in report.failures]
        raise GroundloopError(f"{len(failed)} of the named paths failed: {', '.join(failed)}.")


@commands.command()
def search(
    question: str,
    k: Annotated[int, typer.Option("-k", help="How many chunks to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ranker: Annotated[str, typer.Option("--ranker", help=RANKER_HELP)] = "active",
    person: Annotated[str | None, typer.Option("--as", help=AS_HELP)] = None,
) -> None:
    """Show the chunks that best match a question, ranked as the chat ranks them."""
    groups = groups_of_person(person)
    documents = state.root.retriever(k=k).documents(question, ranker=state.root.ranker(ranker), groups=groups)
    if as_json:
        print(json.dumps([{"text": d.page_content, **d.metadata} for d in documents], ensure_ascii=False, indent=2))
        return
    if not documents:
        out.print("Nothing is indexed yet: run [bold]groundloop ingest PATH[/] first.")
    for document in documents:
        meta = document.metadata
        out.print(f"[bold][{meta['rank']}] {meta['title']}[/]  score {meta['score']:.3f}", highlight=False)
        out.print(f"    {meta['source']}", style="dim", highlight=False)
        out.print("    " + document.page_content[:300].replace("\n", " "), highlight=False, markup=False)


@commands.command("eval")
def eval_command(
    dataset: Annotated[Path, typer.Argument(help="A BEIR dataset folder.")],
    split: Annotated[str, typer.Option(help="Which qrels/<split>.tsv to evaluate.")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    run_out: Annotated[Path | None, typer.Option("--run-out", help="Write the ranking as a TREC run file.")] = None,
    collection: Annotated[str | None, typer.Option(
        help="Measure this already indexed collection (the served one included) instead of indexing the "
        "dataset's corpus into a collection of its own.")] = None,
    ranker: Annotated[str, typer.Option("--ranker", help=RANKER_HELP)] = "active",
    person: Annotated[str | None, typer.Option("--as", help=AS_HELP)] = None,
) -> None:
    """Index a BEIR dataset's corpus (once) and measure retrieval on one split; or measure an indexed collection."""
    from rich.table import Table

    from retrieval.beir import load_split
    from retrieval.evaluation import write_trec_run

    from retrieval.errors import GroundloopError

    groups = groups_of_person(person)
    beir = load_split(dataset, split)
    if collection is None:
        collection = beir_collection(dataset)
        ingest_with_progress([beir.corpus], collection)
    retriever = state.root.retriever(collection=collection)
    if not retriever.index.count():
        raise GroundloopError(f"The collection '{collection}' holds nothing: ingest into it first.")
    result, run = measure_with_progress(retriever, beir.queries, beir.qrels, ranker=state.root.ranker(ranker),
                                        groups=groups)
    if run_out:
        write_trec_run(run, run_out)
    if as_json:
        print(json.dumps(result))
        return
    table = Table("metric", "value", title=f"{dataset.name} · {split}")
    for name, value in result.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)


def measure_with_progress(
    retriever, queries: dict[str, str], qrels: dict, *, ranker=None, groups=None
) -> tuple[dict, dict]:
    """``ranker``: what ranks every query (the retriever's own when None); ``groups``: the asker's (None: every document)."""
    from retrieval.evaluation import measure

    with progress() as bar:
        task = bar.add_task("Ranking queries", total=len(queries))
        return measure(
            lambda q: [doc for doc, _ in retriever.rank_documents(q, 100, ranker=ranker, groups=groups)],
            queries,
            qrels,
            progress=lambda step: bar.advance(task, step),
        )


def beir_collection(dataset: Path) -> str:
    """A collection of the dataset's own, named after its folder and unique to its path."""
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", dataset.resolve().name).strip("-_")[:40] or "dataset"
    return f"beir-{slug}-{hashlib.sha256(str(dataset.resolve()).encode()).hexdigest()[:8]}"
