"""The whole learning loop on a BEIR dataset, with simulated people: simulate."""

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from retrieval.beir import load_split
from retrieval.errors import GroundloopError

from app.cli.index import beir_collection, ingest_with_progress, measure_with_progress
from app.cli.shell import err, out, progress, state

commands = typer.Typer()


@commands.command()
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
    from rich.table import Table

    from app.runtime import Root
    from feedback import registry
    from feedback.simulation import give_feedback
    from retrieval.evaluation import write_trec_run

    started = time.perf_counter()
    feedback_queries, eval_queries, qrels = _simulation_splits(dataset, feedback_split, eval_split, split_by_parity)
    if limit is not None:
        feedback_queries = dict(list(feedback_queries.items())[:limit])
    collection = beir_collection(dataset)
    ingest_with_progress([dataset / "corpus.jsonl"], collection)
    settings = state.settings.model_copy(update={"collection": collection})
    root = Root(settings)
    db, chain = root.database, root.chain
    before, _ = measure_with_progress(chain.retriever, eval_queries, qrels, ranker=chain.ranker())
    with progress() as bar:
        task = bar.add_task("Answering and judging", total=len(feedback_queries))
        give_feedback(db, ask=chain.run, queries=feedback_queries, qrels=qrels,
                      progress=lambda step: bar.advance(task, step))
    with err.status("Learning from feedback…"):
        report = registry.retrain(db, chain.retriever, settings.rankers_dir, active=chain.ranker())
    after, run = measure_with_progress(chain.retriever, eval_queries, qrels, ranker=chain.ranker())
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
