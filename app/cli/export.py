"""Answers with their sources, feedback and reviews, as files for training and evaluation: export."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from retrieval.errors import GroundloopError

from app.cli.shell import err, state
from feedback.names import FORMATS

commands = typer.Typer()


@commands.command("export")
def export_command(
    kind: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")] = "jsonl",
    since: Annotated[str | None, typer.Option(help="Only answers given on or after this day (YYYY-MM-DD, UTC).")] = None,
    status: Annotated[str | None, typer.Option(
        help="approved: only answers whose newest review approved them; all. "
        "Default: approved for chat-jsonl and preference-jsonl, all for the rest.")] = None,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="The file to write; for qrels, a folder. Without it, text formats go to standard output.")] = None,
    corpus: Annotated[Path | None, typer.Option(
        help="qrels only: the corpus.jsonl to copy into the folder, so `groundloop eval FOLDER` can run.")] = None,
) -> None:
    """Export answers with their sources, feedback and reviews; people who opted out are left out."""
    from app import prompts
    from feedback import export

    approved = export.approved_only_for(kind, status)
    day = export.parse_since(since) if since else None
    if kind in ("parquet", "qrels") and out_path is None:
        raise GroundloopError(f"--format {kind} needs --out ({'a folder' if kind == 'qrels' else 'a file'}).")
    if corpus is not None and kind != "qrels":
        raise GroundloopError("--corpus goes with --format qrels only.")
    if corpus is not None and not corpus.is_file():
        raise GroundloopError(f"No corpus file at {corpus}.")
    db = state.root.database
    if kind == "qrels":
        _export_qrels(export.qrels(db, since=day, approved_only=approved), out_path, corpus)
        return
    rows = export.rows(db, kind=kind, system=prompts.load("answer_system"), since=day, approved_only=approved)
    if kind == "parquet":
        written = _writing(out_path, lambda: export.write_parquet(rows, out_path))
    else:
        write = export.write_csv if kind == "csv" else export.write_jsonl
        if out_path is None:
            write(rows, sys.stdout)
            return
        written = _writing(out_path, lambda: _write_text(out_path, write, rows))
    err.print(f"{written} rows written to {out_path}.", highlight=False, markup=False)


def _write_text(path: Path, write, rows: list[dict]) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        return write(rows, handle)


def _writing(path: Path, write):
    """Run ``write`` with the folder ``path`` goes in made; a failure to write is the user's to fix, not a trace."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return write()
    except OSError as error:
        raise GroundloopError(f"Cannot write {error.filename or path}: {error.strerror or error}.") from None


def _export_qrels(result, folder: Path, corpus: Path | None) -> None:
    from feedback import export

    if folder.exists() and not folder.is_dir():
        raise GroundloopError(f"{folder} is a file: --format qrels writes a folder.")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / export.JUDGEMENTS).is_file():
        raise GroundloopError(f"{folder} already holds other files: export qrels into a new or earlier export's folder.")
    checked = corpus or (folder / "corpus.jsonl" if (folder / "corpus.jsonl").is_file() else None)
    try:
        missing = export.missing_documents(result, checked) if checked else set()
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise GroundloopError(f"Cannot read the corpus {checked}: {error}.") from None
    _writing(folder, lambda: export.write_beir(result, folder, corpus=corpus))
    pairs = sum(len(docs) for docs in result.scores.values())
    err.print(f"{len(result.queries)} queries, {pairs} judged documents written to {folder}.", highlight=False,
              markup=False)
    if missing:
        err.print(f"Warning: {len(missing)} judged documents are not in {checked} (e.g. {sorted(missing)[0]}): "
                  "pass the corpus.jsonl that was indexed for the chat.", style="yellow", highlight=False, markup=False)
    if checked is None:
        err.print(f"No corpus.jsonl in {folder}: add one (--corpus) before running groundloop eval on it.",
                  highlight=False, markup=False)
