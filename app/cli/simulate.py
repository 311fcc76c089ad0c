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
    accounts: Annotated[int, typer.Option(min=1, help="Simulated people the questions are spread over.")] = 40,
    rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="The share of answers rated.")] = 1.0,
    noise: Annotated[float, typer.Option(min=0.0, max=1.0, help="The share of marks and thumbs that are wrong.")] = 0.0,
    opens: Annotated[bool, typer.Option("--opens/--no-opens", help="Open sources by a position-based click model.")] = True,
    with_attack: Annotated[bool, typer.Option("--attack", help="One more account attacks (see docs/learning.md).")] = False,
    attack_claims: Annotated[int, typer.Option(min=1, help="Claims the attacker appends its phrase to.")] = 200,
    seed: Annotated[int, typer.Option(help="Seeds who rates, the wrong marks and the opens.")] = 0,
) -> None:
    """The whole loop on a BEIR dataset: measure, answer and judge, retrain, measure again.

    The questions are spread over --accounts simulated people; a --rate share of answers is rated
    (each cited source marked by the judgements, a --noise share of marks wrong, and a thumb); sources
    are opened by a position-based click model; after each round of the team a simulated reviewer
    works through the review queue (flagged, rated down, or weakly matched: see
    GROUNDLOOP_REVIEW_UNSURE_SHARE) and attaches the relevant documents to each answer in it.
    --attack adds one account that pushes an unrelated document onto measured claims, then the
    plain gate decides. All of it is written to the data folder's
    database, as people's feedback is: use a --data-dir of its own.
    """
    from rich.table import Table

    from app.runtime import Root
    from feedback import registry
    from feedback.simulation import Behaviour, attack, give_feedback
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
    before, before_run = measure_with_progress(chain.retriever, eval_queries, qrels, ranker=chain.ranker())
    behaviour = Behaviour(accounts=accounts, rate=rate, noise=noise, opens=opens, seed=seed,
                          unsure_share=settings.review_unsure_share)
    with progress() as bar:
        task = bar.add_task("Answering and judging", total=len(feedback_queries))
        tally = give_feedback(db, ask=chain.run, queries=feedback_queries, qrels=qrels, behaviour=behaviour,
                              progress=lambda step: bar.advance(task, step))
    attacked = None
    if with_attack:
        targeted, word_for_word, document = _attack_plan(dataset, eval_queries, qrels, attack_claims)
        with progress() as bar:
            task = bar.add_task("Attacking", total=len(targeted) + len(word_for_word))
            attacked = attack(db, ask=chain.run, document=document, targeted=targeted, word_for_word=word_for_word,
                              qrels=qrels, progress=lambda step: bar.advance(task, step))
    with err.status("Learning from feedback…"):
        report = registry.retrain(db, chain.retriever, settings.rankers_dir, active=chain.ranker(),
                                  account_share=settings.learning_account_share)
    after, run = measure_with_progress(chain.retriever, eval_queries, qrels, ranker=chain.ranker())
    if run_out:
        write_trec_run(run, run_out)
    summary = {"before": before, "after": after, "feedback_queries": len(feedback_queries),
               "accounts": accounts, "rated": tally.rated, "opens": tally.opens, "reviews": tally.reviews,
               "ranker": {"version": report.version, "activated": report.activated, "refusal": report.refusal,
                          "held_out_ndcg@10": report.held_out_ndcg, "active_ndcg@10": report.active_ndcg},
               "seconds": round(time.perf_counter() - started, 1)}
    if attacked:
        summary["attack"] = _attack_summary(attacked, before_run, run, qrels)
    if as_json:
        print(json.dumps(summary))
        return
    table = Table("metric", "before", "after", title=f"{dataset.name}: {len(feedback_queries)} queries of feedback")
    for name in before:
        table.add_row(name, *(f"{r[name]:.4f}" if isinstance(r[name], float) else str(r[name]) for r in (before, after)))
    out.print(table)
    activated = "activated" if report.activated else f"not activated ({report.refusal or 'not better'})"
    out.print(f"ranker {report.version} {activated} (held-out nDCG@10 {report.held_out_ndcg:.4f} vs "
              f"{report.active_ndcg:.4f}); {summary['seconds']} s", highlight=False)
    if attacked:
        hit = summary["attack"]
        out.print(f"attack: nDCG@10 on the {hit['claims']} targeted claims {hit['ndcg_before']:.4f} → "
                  f"{hit['ndcg_after']:.4f}; the attacker's documents entered {hit['entered_top3']} top 3s",
                  highlight=False)


def _attack_plan(
    dataset: Path, eval_queries: dict[str, str], qrels: dict, claims: int
) -> tuple[dict[str, str], dict[str, str], tuple[str, str]]:
    """The measured claims the attacker targets (``claims`` with its phrase, a tenth as many word for
    word) and its document: the first one no query is about, its title as the phrase."""
    judged = {doc for rels in qrels.values() for doc in rels}
    document = None
    with (dataset / "corpus.jsonl").open() as corpus:
        for line in corpus:
            row = json.loads(line)
            if row["_id"] not in judged and len(row.get("title", "").split()) >= 4:
                document = (row["_id"], row["title"])
                break
    if document is None:
        raise GroundloopError("--attack needs a document in the corpus that no query is about, with a title.")
    ordered = list(eval_queries.items())
    targeted = dict(ordered[:min(claims, len(ordered) // 2)])
    word_for_word = dict(ordered[len(targeted):len(targeted) + max(1, len(targeted) // 10)])
    return targeted, word_for_word, document


def _attack_summary(attacked, before_run: dict, run: dict, qrels: dict) -> dict:
    """nDCG@10 of the targeted claims asked by someone else, before and after, and how many top 3s
    of theirs the attacker's documents entered."""
    from retrieval.evaluation import evaluate


    claims = attacked.targeted + list(attacked.planted)

    def top3(ranking: list[str], doc: str) -> bool:
        return doc in ranking[:3]

    pushed = {qid: attacked.document for qid in attacked.targeted} | attacked.planted
    entered = sum(top3(run.get(q, []), doc) and not top3(before_run.get(q, []), doc) for q, doc in pushed.items())
    return {
        "claims": len(claims),
        "feedback": attacked.feedback,
        "ndcg_before": evaluate({q: before_run.get(q, []) for q in claims}, {q: qrels[q] for q in claims})["ndcg@10"],
        "ndcg_after": evaluate({q: run.get(q, []) for q in claims}, {q: qrels[q] for q in claims})["ndcg@10"],
        "entered_top3": entered,
        "document": attacked.document,
        "qids": claims,
    }


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
