"""Learning from feedback on BEIR SciFact, from people as they are: a clean team, a sparse and noisy
one, and one under attack; and the time to retrain on 10,000 feedback rows.

    python -m benchmarks.learning [--dataset ../shared/datasets/scifact] [--data-dir DIR] [--only clean,sparse,attack,rows]

Even claim ids give feedback, odd ones are measured (``groundloop simulate --split-by-parity train``),
spread over 40 simulated accounts; a simulated reviewer works through the review queue after each
round of the team ("rated / reviewed": of the 415 answers). "Unshared" odd claims are those none of
whose relevant abstracts is relevant to an even claim. Under attack, one more account targets 220 odd claims (see
docs/learning.md); "targeted" is their nDCG@10 asked by someone else, compared with the clean run.
"""

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from app import components
from app.cli import beir_collection, cli
from app.settings import Settings
from feedback import answer_log, opinions, registry
from feedback.simulation import simulated_team
from retrieval.beir import load_split
from retrieval.evaluation import evaluate
from retrieval.ranking import FusionRanker

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {
    "clean": ["--accounts", "40"],
    "sparse": ["--accounts", "40", "--rate", "0.3", "--noise", "0.1"],
    "attack": ["--accounts", "40", "--attack"],
}


def fresh(database: Path) -> Path:
    """``database``, removed if a reused --data-dir holds it: each run starts with no feedback."""
    for stale in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        stale.unlink(missing_ok=True)
    return database


def simulate(data_dir: Path, dataset: Path, options: list[str], database: Path) -> tuple[dict, dict[str, list[str]]]:
    run_file = fresh(database).with_suffix(".run")
    args = ["--data-dir", str(data_dir), "simulate", str(dataset), "--split-by-parity", "train", "--json",
            "--run-out", str(run_file), *options]
    done = CliRunner().invoke(cli, args, env={"GROUNDLOOP_DATABASE_URL": f"sqlite:///{database}"},
                              catch_exceptions=False)
    if done.exit_code != 0:
        raise SystemExit(done.output)
    run: dict[str, list[str]] = {}
    for line in run_file.read_text().splitlines():
        qid, _, doc, *_ = line.split()
        run.setdefault(qid, []).append(doc)
    return json.loads(done.stdout.strip().splitlines()[-1]), run


def retrain_time(settings: Settings, dataset: Path, rows: int) -> tuple[int, float]:
    """Write ``rows`` feedback rows (marks on the top five sources of SciFact claims and a thumb, from 40
    accounts in turn) and time one retrain."""
    beir = load_split(dataset, "train")
    settings = settings.model_copy(update={"collection": beir_collection(dataset),
                                           "database_url": f"sqlite:///{fresh(settings.data_dir / 'rows.sqlite')}"})
    db, retriever = components.database(settings), components.retriever(settings, components.open_index(settings))
    team, _ = simulated_team(db, 40)
    written, queries = 0, list(beir.queries.items())
    for asked in itertools.count():
        if written >= rows:
            break
        qid, text = queries[asked % len(queries)]
        user_id = team[asked % len(team)]
        shown = retriever.invoke(text)
        answer = answer_log.record_answer(
            db, question=text, standalone_question=text, answer="", answerer="benchmark", verdict="ok", reasons=[],
            timings_ms={}, user_id=user_id,
            citations=[{"n": d.metadata["rank"], "doc_id": d.metadata["doc_id"], "chunk_id": d.metadata["chunk_id"],
                        "title": d.metadata["title"], "source": d.metadata["source"], "score": d.metadata["score"],
                        "similarity": d.metadata["similarity"], "cited": True} for d in shown],
        )
        for d in shown:
            opinions.record_source_mark(db, answer_id=answer.id, user_id=user_id, rank=d.metadata["rank"],
                                       relevant=beir.qrels[qid].get(d.metadata["doc_id"], 0) > 0)
        opinions.record_thumb(db, answer_id=answer.id, user_id=user_id, up=True)
        written += len(shown) + 1
    started = time.perf_counter()
    registry.retrain(db, retriever, settings.data_dir / "rows-rankers", active=FusionRanker(), dry_run=True)
    return written, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "scifact")
    parser.add_argument("--data-dir", type=Path, help="Reuse an index here (default: a fresh temporary one).")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--only", default="clean,sparse,attack,rows", help="Which of clean,sparse,attack,rows to run.")
    args = parser.parse_args()
    only = set(args.only.split(","))
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="groundloop-bench-"))
    console = Console(width=200)
    beir = load_split(args.dataset, "train")
    even_docs = {d for q, rels in beir.qrels.items() if int(q) % 2 == 0 for d, g in rels.items() if g > 0}
    odd = [q for q in beir.queries if int(q) % 2 == 1]
    unshared = [q for q in odd if not even_docs.intersection(d for d, g in beir.qrels[q].items() if g > 0)]

    def on(run: dict, queries: list[str]) -> float:
        return evaluate({q: run.get(q, []) for q in queries}, {q: beir.qrels[q] for q in queries})["ndcg@10"]

    table = Table("people", "rated / reviewed", "odd nDCG@10 before", "after", "of clean gain", "unshared Δ",
                  "ranker", "targeted: clean → attacked", "attacker in others' top 3", "seconds",
                  title=f"Learning from 40 simulated accounts on SciFact ({len(odd)} odd claims, {len(unshared)} unshared)")
    before_run, runs, summaries = None, {}, {}
    for name in [n for n in SCENARIOS if n in only]:
        summary, run = simulate(data_dir, args.dataset, SCENARIOS[name], data_dir / f"feedback-{name}.sqlite")
        summaries[name], runs[name] = summary, run
        if before_run is None:
            fusion = components.retriever(Settings(data_dir=data_dir),
                                          components.open_index(Settings(data_dir=data_dir), beir_collection(args.dataset)))
            before_run = {q: [d for d, _ in fusion.rank_documents(beir.queries[q], 100)] for q in odd}
        gain = summary["after"]["ndcg@10"] - summary["before"]["ndcg@10"]
        clean_gain = summaries["clean"]["after"]["ndcg@10"] - summaries["clean"]["before"]["ndcg@10"] if "clean" in summaries else None
        ranker = summary["ranker"]
        attack = summary.get("attack")
        targeted = ""
        if attack and "clean" in runs:
            targeted = f"{on(runs['clean'], attack['qids']):.4f} → {on(run, attack['qids']):.4f}"
        elif attack:
            targeted = f"{attack['ndcg_before']:.4f} → {attack['ndcg_after']:.4f} (before feedback)"
        table.add_row(
            name, f"{summary['rated']} / {summary['reviews']}",
            f"{summary['before']['ndcg@10']:.4f}", f"{summary['after']['ndcg@10']:.4f}",
            f"{gain / clean_gain:.0%}" if clean_gain else "", f"{on(run, unshared) - on(before_run, unshared):+.4f}",
            "activated" if ranker["activated"] else f"refused: {ranker['refusal'] or 'not better'}",
            targeted, f"{attack['entered_top3']} of {attack['claims']}" if attack else "", f"{summary['seconds']:.0f}",
        )
        console.print(json.dumps({"scenario": name, **{k: v for k, v in summary.items() if k != "attack"},
                                  **({"attack": {k: v for k, v in attack.items() if k != "qids"}} if attack else {})}))
    console.print(table)
    if "rows" in only:
        rows, seconds = retrain_time(Settings(data_dir=data_dir), args.dataset, args.rows)
        console.print(f"retrain on {rows:,} feedback rows: {seconds:.1f} s (target ≤ 60 s)")
    console.print("targets: clean after ≥ 0.86; unshared Δ ≥ −0.005; sparse ≥ 70% of the clean gain; under attack the "
                  "targeted claims lose ≤ 0.02 against clean, no top 3 entered, and no ranker activated on the attacker's gain")


if __name__ == "__main__":
    main()
