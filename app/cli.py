"""The ``groundloop`` command: ingest, search and evaluate from the shell."""

import asyncio
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from retrieval.beir import load_split
from retrieval.errors import GroundloopError
from retrieval.evaluation import measure, write_trec_run
from retrieval.ingest import IngestReport, ingest

from app import components
from app.settings import Settings
from app.webhooks import Sender, webhook_client
from feedback import export, registry, service, webhooks
from feedback import keys as api_keys
from feedback.simulation import give_feedback
from feedback.models import ROLES

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
    result, run = _measure(retriever, beir.queries, beir.qrels)
    if run_out:
        write_trec_run(run, run_out)
    if as_json:
        print(json.dumps(result))
        return
    table = Table("metric", "value", title=f"{dataset.name} · {split}")
    for name, value in result.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)


def _measure(retriever, queries: dict[str, str], qrels: dict) -> tuple[dict, dict]:
    with _progress() as bar:
        task = bar.add_task("Ranking queries", total=len(queries))
        return measure(
            lambda q: [doc for doc, _ in retriever.rank_documents(q, 100)],
            queries,
            qrels,
            progress=lambda step: bar.advance(task, step),
        )


@cli.command()
def simulate(
    dataset: Annotated[Path, typer.Argument(help="A BEIR dataset folder.")],
    feedback_split: Annotated[str | None, typer.Option(help="Split whose queries get feedback.")] = None,
    eval_split: Annotated[str | None, typer.Option(help="Split measured before and after.")] = None,
    split_by_parity: Annotated[
        str | None, typer.Option(help="Use this split's even query ids for feedback and odd ones for evaluation.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    run_out: Annotated[Path | None, typer.Option("--run-out", help="Write the final ranking as a TREC run file.")] = None,
    limit: Annotated[int | None, typer.Option(help="Give feedback on the first N feedback queries only.")] = None,
) -> None:
    """The whole loop on a BEIR dataset: measure, answer and judge, retrain, measure again.

    A simulated user marks each cited source by the judgements and rates the answer; a simulated
    reviewer attaches the relevant documents when none was shown. All of it is written to the
    data folder's database, as people's feedback is: use a --data-dir of its own.
    """
    started = time.perf_counter()
    feedback_queries, eval_queries, qrels = _simulation_splits(dataset, feedback_split, eval_split, split_by_parity)
    if limit is not None:
        feedback_queries = dict(list(feedback_queries.items())[:limit])
    collection = beir_collection(dataset)
    _ingest([dataset / "corpus.jsonl"], collection)
    settings = state.settings.model_copy(update={"collection": collection})
    db, chain = components.database(settings), components.chain(settings)
    chain.retriever.ranker = chain.ranker()
    before, _ = _measure(chain.retriever, eval_queries, qrels)
    with _progress() as bar:
        task = bar.add_task("Answering and judging", total=len(feedback_queries))
        give_feedback(db, ask=lambda q: chain.run(q).to_dict(), queries=feedback_queries, qrels=qrels,
                      progress=lambda step: bar.advance(task, step))
    with err.status("Learning from feedback…"):
        report = registry.retrain(db, chain.retriever, settings.rankers_dir, active=chain.ranker())
    chain.retriever.ranker = chain.ranker()
    after, run = _measure(chain.retriever, eval_queries, qrels)
    if run_out:
        write_trec_run(run, run_out)
    summary = {"before": before, "after": after, "feedback_queries": len(feedback_queries),
               "seconds": round(time.perf_counter() - started, 1)}
    if as_json:
        print(json.dumps(summary))
        return
    table = Table("metric", "before", "after", title=f"{dataset.name}: {len(feedback_queries)} queries of feedback")
    for name in before:
        table.add_row(name, *(f"{r[name]:.4f}" if isinstance(r[name], float) else str(r[name]) for r in (before, after)))
    out.print(table)
    activated = "activated" if report.activated else "not activated"
    out.print(f"ranker {report.version} {activated} (held-out nDCG@10 {report.held_out_ndcg:.4f} vs "
              f"{report.active_ndcg:.4f}); {summary['seconds']} s", highlight=False)


def _simulation_splits(
    dataset: Path, feedback_split: str | None, eval_split: str | None, split_by_parity: str | None
) -> tuple[dict[str, str], dict[str, str], dict]:
    if split_by_parity:
        beir = load_split(dataset, split_by_parity)
        if not all(qid.isdigit() for qid in beir.queries):
            raise GroundloopError("--split-by-parity needs numeric query ids.")
        ordered = sorted(beir.queries, key=int)
        return ({q: beir.queries[q] for q in ordered if int(q) % 2 == 0},
                {q: beir.queries[q] for q in ordered if int(q) % 2 == 1}, beir.qrels)
    if not (feedback_split and eval_split):
        raise GroundloopError("Name --feedback-split and --eval-split, or use --split-by-parity SPLIT.")
    feedback, evaluation = load_split(dataset, feedback_split), load_split(dataset, eval_split)
    return feedback.queries, evaluation.queries, {**feedback.qrels, **evaluation.qrels}


@cli.command()
def ask(
    question: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")] = False,
) -> None:
    """Answer a question from the indexed documents with numbered citations, and check the answer."""
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
    workers: Annotated[int, typer.Option(
        min=1, help="Server processes; more than one needs a Chroma server (GROUNDLOOP_CHROMA_URL).")] = 1,
    public: Annotated[bool, typer.Option(
        "--public", help="Confirm a non-loopback --host: other machines may connect (needed in production).")] = False,
) -> None:
    """Run the chat page, the review pages and the API."""
    state.settings.refuse_unsafe_start(host=host, public=public)
    from app.server import run

    run(state.settings, host=host, port=port, workers=workers)


users = typer.Typer(help="The people who may sign in to the chat, and their roles.", no_args_is_help=True)
cli.add_typer(users, name="users")
ROLE_HELP = f"One of: {', '.join(ROLES)}."
_BAD_NAME = re.compile(r"[\s\x00-\x1f\x7f]")


@users.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The name they sign in with.")],
    role: Annotated[str, typer.Option(help=ROLE_HELP)] = "user",
    password_file: Annotated[Path | None, typer.Option(
        "--password-file", help="Read the password from this file's first line ('-' reads standard input). "
        "Without it, the password is asked for.")] = None,
    if_missing: Annotated[bool, typer.Option(
        "--if-missing", help="Do nothing, successfully, when the user already exists.")] = False,
) -> None:
    """Add a person who may sign in to the chat."""
    if not name or len(name) > 200 or _BAD_NAME.search(name):
        raise GroundloopError("A name must be 1 to 200 characters, without spaces or control characters.")
    if role not in ROLES:
        raise GroundloopError(f"Unknown role '{role}': use one of {', '.join(ROLES)}.")
    db = components.database(state.settings)
    if if_missing and service.get_user(db, identifier=name):
        out.print(f"{name} already exists; nothing changed.", highlight=False, markup=False)
        return
    password = _read_password(password_file) if password_file else typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise GroundloopError("The password is empty.")
    user = service.add_user(db, identifier=name, role=role, password=password)
    out.print(f"Added {user.identifier} ({user.role}).", highlight=False, markup=False)


@users.command("list")
def users_list() -> None:
    """List everyone who may sign in, with their role."""
    found = service.list_users(components.database(state.settings))
    if not found:
        out.print("No users yet: add one with [bold]groundloop users add NAME[/].")
        return
    table = Table("name", "role", "password", "exports", "added")
    for user in found:
        table.add_row(user.identifier, user.role, "set" if user.password_hash else "not set",
                      "opted out" if user.export_opt_out else "included", f"{user.created_at:%Y-%m-%d %H:%M}")
    out.print(table)


@users.command("set-role")
def users_set_role(
    name: Annotated[str, typer.Argument(help="Whose role to change.")],
    role: Annotated[str, typer.Argument(help=ROLE_HELP)],
) -> None:
    """Change what someone may do: user, reviewer or admin."""
    user = service.set_role(components.database(state.settings), identifier=name, role=role)
    out.print(f"{user.identifier} is now {user.role}.", highlight=False, markup=False)


@users.command("opt-out")
def users_opt_out(name: Annotated[str, typer.Argument(help="Who is to be left out of exports.")]) -> None:
    """Leave everything about someone out of every export: their answers, feedback and reviews."""
    user = service.set_export_opt_out(components.database(state.settings), identifier=name, opted_out=True)
    out.print(f"{user.identifier} is left out of exports.", highlight=False, markup=False)


@users.command("opt-in")
def users_opt_in(name: Annotated[str, typer.Argument(help="Who may be exported again.")]) -> None:
    """Include someone in exports again (the default)."""
    user = service.set_export_opt_out(components.database(state.settings), identifier=name, opted_out=False)
    out.print(f"{user.identifier} is included in exports.", highlight=False, markup=False)


def _read_password(path: Path) -> str:
    """The first line, without its line ending; the rest of the file is ignored."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise GroundloopError(f"Cannot read the password file {path}: {reason}.") from None
    return text.splitlines()[0] if text else ""


keys = typer.Typer(help="API keys: what programs use to ask and give feedback on someone's behalf.",
                   no_args_is_help=True)
cli.add_typer(keys, name="keys")


@keys.command("create")
def keys_create(
    user: Annotated[str, typer.Option("--user", help="Whose key: a name from `groundloop users list`.")],
    scopes: Annotated[str, typer.Option(help=f"Comma-separated, of: {', '.join(api_keys.SCOPES)}.")] = "ask,feedback",
    name: Annotated[str, typer.Option(help="What the key is for, shown in `groundloop keys list`.")] = "",
) -> None:
    """Make a key and print it, once: only its hash is kept, so it cannot be shown again."""
    row, key = api_keys.create_key(components.database(state.settings), identifier=user,
                                   scopes=scopes, name=name)
    print(key)
    err.print(f"Key {row.prefix} for {user} ({', '.join(row.scopes)}). Keep it now: it is not shown again.",
              highlight=False, markup=False)


@keys.command("list")
def keys_list() -> None:
    """Every key with its user, scopes and when it was made, last used and revoked (never the key itself)."""
    found = api_keys.list_keys(components.database(state.settings))
    if not found:
        out.print("No API keys yet: make one with [bold]groundloop keys create --user NAME[/].")
        return
    table = Table(Column("prefix", no_wrap=True), "user", "name", "scopes", "created", "last used", "revoked")
    for key, user in found:
        table.add_row(key.prefix, user, key.name, ",".join(key.scopes), _minute(key.created_at),
                      _minute(key.last_used_at), _minute(key.revoked_at))
    out.print(table)


@keys.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix from `groundloop keys list`.")]) -> None:
    """The key opens nothing from now on."""
    row = api_keys.revoke_key(components.database(state.settings), prefix=prefix)
    out.print(f"Key {row.prefix} is revoked (since {_minute(row.revoked_at)} UTC).", highlight=False, markup=False)


def _minute(at) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else ""


@cli.command()
def retrain(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Learn and measure, but save and activate nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Activate the new ranker even if it is not better.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep running; retrain when enough new feedback arrived.")] = False,
    collection: Annotated[str | None, typer.Option(help="The collection the feedback was given on.")] = None,
) -> None:
    """Learn a ranker from feedback; it serves only if it beats the active one on the newest 20%."""
    settings = state.settings.model_copy(update={"collection": collection}) if collection else state.settings
    db = components.database(settings)
    if not watch:
        _retrain_once(settings, db, dry_run=dry_run, force=force)
        return
    err.print(f"Watching for {settings.retrain_after} new feedback events (Ctrl-C stops).")
    while True:
        if service.feedback_events_since_last_model(db) >= settings.retrain_after:
            try:
                _retrain_once(settings, db, dry_run=dry_run, force=force)
            except GroundloopError as error:
                err.print(f"[yellow]{error}[/]", highlight=False)
        time.sleep(settings.retrain_poll_seconds)


def _retrain_once(settings: Settings, db, *, dry_run: bool, force: bool) -> None:
    retriever = components.retriever(settings, components.open_index(settings))
    active = components.active_ranker(settings, db)()
    with err.status("Learning from feedback…"):
        report = registry.retrain(db, retriever, settings.rankers_dir, active=active, dry_run=dry_run, force=force)
    verdict = "activated" if report.activated else ("dry run: nothing saved" if dry_run else "not activated: not better")
    out.print(
        f"{report.version}: held-out nDCG@10 {report.held_out_ndcg:.4f} vs {report.active_version} "
        f"{report.active_ndcg:.4f} on {report.counts['held_out']} newest of {report.counts['questions']} judged "
        f"questions; {verdict} ({report.seconds:.1f} s)",
        highlight=False,
    )


models = typer.Typer(help="Rankers learned from feedback: list, activate, roll back.", no_args_is_help=True)
cli.add_typer(models, name="models")


@models.command("list")
def models_list() -> None:
    """Every version with its held-out metrics, counts and status."""
    table = Table("version", "status", "held-out nDCG@10", "vs active", "questions", "created", "activated")
    for row in service.model_versions(components.database(state.settings)):
        table.add_row(
            row.version, row.status, f"{row.metrics.get('held_out_ndcg@10', 0):.4f}",
            f"{row.metrics.get('active_ndcg@10', 0):.4f} ({row.metrics.get('compared_with', '')})",
            str(row.counts.get("questions", "")), f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.activated_at:%Y-%m-%d %H:%M}" if row.activated_at else "",
        )
    out.print(table)


@models.command("activate")
def models_activate(version: Annotated[str, typer.Argument(help="A version from `groundloop models list`.")]) -> None:
    """Serve this version from the next question on (running servers too)."""
    row = service.activate_model(components.database(state.settings), version=version)
    out.print(f"{row.version} is active.")


@models.command("rollback")
def models_rollback() -> None:
    """Serve the version that served before the active one (fusion when there was none)."""
    previous = service.rollback_model(components.database(state.settings))
    out.print(f"{previous.version} is active." if previous else "No learned ranker is active: fusion serves.")


hooks = typer.Typer(help="Feedback and review events sent to the webhook targets in the settings.",
                    no_args_is_help=True)
cli.add_typer(hooks, name="webhooks")


@hooks.command("deliver")
def webhooks_deliver() -> None:
    """Send what is due now (a running server does this by itself) and count the deliveries by status."""
    settings = state.settings
    if not settings.webhook_urls:
        raise GroundloopError("No webhook targets: set GROUNDLOOP_WEBHOOK_URLS.")
    if not settings.webhook_secret:
        raise GroundloopError("GROUNDLOOP_WEBHOOK_SECRET is not set: every delivery is signed with it.")
    db = components.database(settings)

    async def deliver() -> int:
        async with webhook_client(settings) as http:
            return await Sender(settings, lambda: db).deliver_due(http)

    delivered = asyncio.run(deliver())
    counts = webhooks.counts_by_status(db)
    out.print(f"{delivered} delivered now; in all {counts.get('delivered', 0)} delivered, "
              f"{counts.get('pending', 0)} pending, {counts.get('failed', 0)} failed.", highlight=False)


@hooks.command("retry-failed")
def webhooks_retry_failed() -> None:
    """Try again the deliveries given up on after their last attempt (say, once the target is fixed)."""
    n = webhooks.requeue_failed(components.database(state.settings))
    out.print(f"{n} failed deliveries will be tried again.", highlight=False)


@cli.command("export")
def export_command(
    kind: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(export.FORMATS)}.")] = "jsonl",
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

    approved = export.approved_only_for(kind, status)
    day = export.parse_since(since) if since else None
    if kind in ("parquet", "qrels") and out_path is None:
        raise GroundloopError(f"--format {kind} needs --out ({'a folder' if kind == 'qrels' else 'a file'}).")
    if corpus is not None and kind != "qrels":
        raise GroundloopError("--corpus goes with --format qrels only.")
    if corpus is not None and not corpus.is_file():
        raise GroundloopError(f"No corpus file at {corpus}.")
    db = components.database(state.settings)
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
    except ValidationError as error:  # a setting with a value it cannot take
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        setting = name if name.isupper() else f"GROUNDLOOP_{name.upper()}"
        err.print(f"[red]error:[/] {escape(setting)}: {escape(first['msg'])}.", highlight=False)
        raise SystemExit(1) from None
