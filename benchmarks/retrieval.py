"""Retrieval on BEIR SciFact: keyword alone, dense alone and hybrid; ingest speed; latency; memory.

    python -m benchmarks.retrieval [--dataset ../shared/datasets/scifact] [--data-dir DIR]

Settings come from ``GROUNDLOOP_*`` variables as for the app (chunk size, int8, dense weight).
"""

import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from app import components
from benchmarks import scifact_arguments
from app.settings import Settings
from retrieval.beir import load_split
from retrieval.evaluation import evaluate, run_queries
from retrieval.ingest import ingest
from retrieval.ranking import FusionRanker



def main() -> None:
    args = scifact_arguments(__doc__.splitlines()[0]).parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="groundloop-bench-"))
    settings = Settings(data_dir=data_dir)
    console = Console()

    beir = load_split(args.dataset, args.split)
    index = components.open_index(settings, "bench-scifact")
    started = time.perf_counter()
    report = ingest(
        index, [beir.corpus], chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap, max_bytes=10**9
    )
    ingest_seconds = time.perf_counter() - started
    documents = sum(1 for line in beir.corpus.open() if line.strip())

    retriever = components.retriever(settings, index)
    odd = {qid: text for qid, text in beir.queries.items() if int(qid) % 2 == 1}
    table = Table("ranking", "queries", "nDCG@10", "Recall@100", "MRR@10", "p50 ms", "p95 ms", title="SciFact retrieval")
    for name, weight in (("keyword", 0.0), ("dense", 1.0), ("hybrid", settings.dense_weight)):
        retriever.ranker = FusionRanker(dense_weight=weight)
        run, latencies = run_queries(lambda q: [d for d, _ in retriever.rank_documents(q, 100)], beir.queries)
        for label, queries in (("all", beir.queries), ("odd ids", odd)):
            metrics = evaluate({q: run[q] for q in queries}, {q: beir.qrels[q] for q in queries})
            table.add_row(
                f"{name} (w={weight:.2f})",
                f"{label} {len(queries)}",
                *(f"{metrics[m]:.4f}" for m in ("ndcg@10", "recall@100", "mrr@10")),
                f"{np.percentile(latencies, 50):.1f}",
                f"{np.percentile(latencies, 95):.1f}",
            )
    console.print(table)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(
        f"ingest: {documents} documents → {report.chunks} chunks ({report.changes.added} embedded) "
        f"in {ingest_seconds:.1f} s = {documents / ingest_seconds:.1f} docs/s; "
        f"chunk_size {settings.chunk_size}, int8 {settings.embedding_int8}; peak memory {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
