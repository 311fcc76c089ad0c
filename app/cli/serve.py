"""Answering: one question in the shell (ask), or everyone's through the chat page and the API (serve)."""

import json
from typing import Annotated

import typer

from app.cli.shell import AS_HELP, RANKER_HELP, err, groups_of_person, out, state

commands = typer.Typer()


@commands.command()
def ask(
    question: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")] = False,
    ranker: Annotated[str, typer.Option("--ranker", help=RANKER_HELP)] = "active",
    person: Annotated[str | None, typer.Option("--as", help=AS_HELP)] = None,
) -> None:
    """Answer a question from the indexed documents with numbered citations, and check the answer."""
    groups = groups_of_person(person)
    result = state.root.chain.run(question, ranker=state.root.ranker(ranker), groups=groups)
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


@commands.command()
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
