"""Ranking quality with pytrec_eval: nDCG@10, Recall@100, MRR@10; and TREC run files."""

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytrec_eval

Run = dict[str, list[str]]
"""Per query id, document ids best first."""


def scored(run: Run, depth: int | None = None) -> dict[str, dict[str, float]]:
    """Strictly decreasing scores from ranks, so the evaluator's tie-breaking cannot reorder them."""
    return {qid: {doc: float(len(docs) - i) for i, doc in enumerate(docs[:depth])} for qid, docs in run.items()}


def evaluate(run: Run, qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Means over the judged queries; a query missing from the run counts as zero."""
    judged = {qid: rels for qid, rels in qrels.items() if rels}
    full, top10 = scored(run), scored(run, 10)
    full, top10 = ({qid: ranking.get(qid, {}) for qid in judged} for ranking in (full, top10))
    deep = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10", "recall.100"}).evaluate(full)
    shallow = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"}).evaluate(top10)

    def mean(per_query: dict, measure: str) -> float:
        return float(np.mean([per_query.get(qid, {}).get(measure, 0.0) for qid in judged])) if judged else 0.0

    return {
        "ndcg@10": mean(deep, "ndcg_cut_10"),
        "recall@100": mean(deep, "recall_100"),
        "mrr@10": mean(shallow, "recip_rank"),
    }


def run_queries(
    rank: Callable[[str], list[str]], queries: dict[str, str], *, progress: Callable[[int], None] | None = None
) -> tuple[Run, list[float]]:
    """Rank every query; also the latency of each, in milliseconds."""
    run, latencies = {}, []
    for qid, text in queries.items():
        start = time.perf_counter()
        run[qid] = rank(text)
        latencies.append((time.perf_counter() - start) * 1000)
        if progress:
            progress(1)
    return run, latencies


def write_trec_run(run: Run, path: Path, *, tag: str = "groundloop", depth: int = 100) -> None:
    """``qid Q0 docid rank score tag``, top ``depth`` per query."""
    with path.open("w", encoding="utf-8") as out:
        for qid, docs in scored(run, depth).items():
            for rank, (doc, score) in enumerate(docs.items(), start=1):
                out.write(f"{qid} Q0 {doc} {rank} {score:.4f} {tag}\n")


def measure(
    rank: Callable[[str], list[str]],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, float], Run]:
    """Rank the queries and score the run: the metrics, ``queries``, and latency p50/p95 in ms."""
    run, latencies = run_queries(rank, queries, progress=progress)
    result = {
        **evaluate(run, {qid: qrels[qid] for qid in queries}),
        "queries": len(queries),
        "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies else 0.0,
        "latency_ms_p95": float(np.percentile(latencies, 95)) if latencies else 0.0,
    }
    return result, run
