"""The ``groundloop`` command: ingest, search and evaluate from the shell."""

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from retrieval.beir import load_split
from retrieval.errors import GroundloopError
from retrieval.evaluation import evaluate, run_queries, write_trec_run
from retrieval.ingest import IngestReport, ingest

from app import components
from app.settings import Settings

cli = typer.Typer(
    help="groundloop: answers from your documents, with citations.", no_args_is_help=True, pretty_exceptions_enable=False
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class State:
    settings: Settings


state = State()


@cli.callback()
def configure(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where the index and database live.")] = None,
) -> None:
    state.settings = Settings(data_dir=data_dir) if data_dir else Settings()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )


def _ingest(paths: list[Path], collection: str | None) -> IngestReport:
    settings = state.settings
    index = components.open_index(settings, collection)
    with _progress() as bar:
        task = bar.add_task("Indexing chunks", total=None)
        return ingest(
            index,
            paths,
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            max_bytes=int(settings.max_file_mb * 1e6),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


@cli.command("ingest")
def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders, or a BEIR corpus.jsonl.")],
    collection: Annotated[str | None, typer.Option(help="Collection to ingest into.")] = None,
) -> None:
    """Index documents; unchanged chunks are skipped, changed files replace their old chunks."""
    report = _ingest(paths, collection)
    changes = report.changes
    out.print(
        f"{report.files} files, {report.chunks} chunks: "
        f"[green]{changes.added} added[/], {changes.skipped} skipped (unchanged), "
        f"{changes.replaced} replaced (old chunks of changed files removed)."
    )
    for failure in report.failures:
        out.print(f"[yellow]failed[/] {failure.path}: {failure.reason}", highlight=False)


@cli.command()
def search(
    question: str,
    k: Annotated[int, typer.Option("-k", help="How many chunks to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the chunks that best match a question."""
    settings = state.settings
    documents = components.retriever(settings, components.open_index(settings), k=k).invoke(question)
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


@cli.command("eval")
def eval_command(
    dataset: Annotated[Path, typer.Argument(help="A BEIR dataset folder.")],
    split: Annotated[str, typer.Option(help="Which qrels/<split>.tsv to evaluate.")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    run_out: Annotated[Path | None, typer.Option("--run-out", help="Write the ranking as a TREC run file.")] = None,
) -> None:
    """Index a BEIR dataset's corpus (once) and measure retrieval on one split."""
    beir = load_split(dataset, split)
    collection = beir_collection(dataset)
    _ingest([beir.corpus], collection)
    settings = state.settings
    retriever = components.retriever(settings, components.open_index(settings, collection))
    with _progress() as bar:
        task = bar.add_task("Ranking queries", total=len(beir.queries))
        run, latencies = run_queries(
            lambda q: [doc for doc, _ in retriever.rank_documents(q, 100)],
            beir.queries,
            progress=lambda step: bar.advance(task, step),
        )
    result = {
        **evaluate(run, beir.qrels),
        "queries": len(beir.queries),
        "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies else 0.0,
        "latency_ms_p95": float(np.percentile(latencies, 95)) if latencies else 0.0,
    }
    if run_out:
        write_trec_run(run, run_out)
    if as_json:
        print(json.dumps(result))
        return
    table = Table("metric", "value", title=f"{dataset.name} · {split}")
    for name, value in result.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)


@cli.command()
def ask(
    question: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")] = False,
) -> None:
    """Answer a question from the indexed documents, citing them as [n], and check the answer."""
    result = components.chain(state.settings).run(question)
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    if result.notice:
        err.print(f"[yellow]{result.notice}[/]", highlight=False)
    out.print(result.answer, markup=False, highlight=False)
    for citation in result.citations:
        out.print(f"  [{citation.n}] {citation.title} · {citation.source}", markup=False, highlight=False, style="dim")
    if result.reasons:
        out.print("[yellow]Flagged for review:[/] " + "; ".join(result.reasons), highlight=False)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the chat page and the HTTP routes."""
    from app.server import run

    run(state.settings, host=host, port=port)


def beir_collection(dataset: Path) -> str:
    """A collection of the dataset's own, named after its folder and unique to its path."""
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", dataset.resolve().name).strip("-_")[:40] or "dataset"
    return f"beir-{slug}-{hashlib.sha256(str(dataset.resolve()).encode()).hexdigest()[:8]}"


def main() -> None:
    try:
        cli()
    except GroundloopError as error:
        err.print(f"[red]error:[/] {error}", highlight=False)
        raise SystemExit(1) from None
