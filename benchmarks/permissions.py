"""Retrieval filtered by groups on BEIR SciFact: quality and latency unchanged when every document is
everyone's, and the latency of a person who sees a tenth of the corpus.

    python -m benchmarks.permissions [--dataset ../shared/datasets/scifact] [--data-dir DIR] [--split train]

The corpus is cut into ten files (document i to file i mod 10, in a folder of the data directory) and
ingested for everyone. Rows, each with the load average when it was measured:

- every document (``groups`` None): an admin, and the unfiltered search from before groups;
- a person in no group but ``everyone``: both candidate lists filtered, every document allowed;
- after each file is given a group of its own (``HybridIndex.set_groups``, no re-embedding): a person
  in one of them, over all queries (p50 and p95) and, for quality, over the queries whose relevant
  documents are all in their group — the corpus they may see.

The target: the filtered p50 at most 20% above the unfiltered one.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from app import components
from app.settings import Settings
from retrieval.beir import load_split
from retrieval.evaluation import evaluate, run_queries
from retrieval.ingest import ingest

ROOT = Path(__file__).resolve().parents[1]
PARTS = 10


def split_corpus(corpus: Path, folder: Path) -> dict[str, int]:
    """Ten ``part-N.jsonl`` files; per document id, its part."""
    folder.mkdir(parents=True, exist_ok=True)
    outs = [(folder / f"part-{n}.jsonl").open("w", encoding="utf-8") for n in range(PARTS)]
    parts = {}
    with corpus.open(encoding="utf-8") as lines:
        for i, line in enumerate(line for line in lines if line.strip()):
            outs[i % PARTS].write(line if line.endswith("\n") else line + "\n")
            parts[str(json.loads(line).get("_id"))] = i % PARTS
    for out in outs:
        out.close()
    return parts


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "scifact")
    parser.add_argument("--split", default="train")
    parser.add_argument("--data-dir", type=Path, help="Reuse an index here (default: a fresh temporary one).")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="groundloop-bench-"))
    settings = Settings(data_dir=data_dir)
    console = Console()

    beir = load_split(args.dataset, args.split)
    folder = data_dir / "scifact-in-ten-parts"
    parts = split_corpus(beir.corpus, folder)
    index = components.open_index(settings, "bench-permissions")
    started = time.perf_counter()
    report = ingest(index, [folder], chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
                    max_bytes=10**9)  # everyone's (and everyone's again, when reused)
    console.print(f"ingest: {report.chunks} chunks, {report.changes.added} embedded, "
                  f"{len(report.regrouped)} regrouped, in {time.perf_counter() - started:.1f} s")
    retriever = components.retriever(settings, index)
    retriever.rank_documents("warm up", 100)

    table = Table("asker", "index", "queries", "nDCG@10", "Recall@100", "p50 ms", "p95 ms", "load average",
                  title=f"SciFact {args.split}: retrieval filtered by groups (hybrid fusion)")

    def measure(asker: str, state: str, groups, queries: dict[str, str]) -> float:
        run, latencies = run_queries(lambda q: [d for d, _ in retriever.rank_documents(q, 100, groups=groups)], queries)
        metrics = evaluate(run, {q: beir.qrels[q] for q in queries})
        p50 = float(np.percentile(latencies, 50))
        table.add_row(asker, state, str(len(queries)), f"{metrics['ndcg@10']:.4f}", f"{metrics['recall@100']:.4f}",
                      f"{p50:.1f}", f"{np.percentile(latencies, 95):.1f}", load())
        return p50

    unfiltered = measure("every document (admin; as before groups)", "all everyone", None, beir.queries)
    measure("a person in everyone only", "all everyone", ("everyone",), beir.queries)

    for n in range(PARTS):
        index.set_groups(str((folder / f"part-{n}.jsonl").resolve()), [f"group-{n}"])
    mine = ("everyone", "group-0")
    own = {q: text for q, text in beir.queries.items() if all(parts.get(d) == 0 for d in beir.qrels[q])}
    measure("every document (admin)", "10 groups", None, beir.queries)
    split = measure("a person in group-0 (a tenth)", "10 groups", mine, beir.queries)
    measure("a person in group-0, own queries", "10 groups", mine, own)
    measure("every document, the same queries", "10 groups", None, own)
    console.print(table)
    console.print(f"p50 of a person in one of ten groups against every document before groups: "
                  f"{split / unfiltered:.2f}× (target ≤ 1.20)")
    for n in range(PARTS):  # leave the reusable index everyone's again
        index.set_groups(str((folder / f"part-{n}.jsonl").resolve()), ["everyone"])


if __name__ == "__main__":
    main()
