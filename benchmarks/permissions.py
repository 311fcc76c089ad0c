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

The askers of each row group are measured in turn, query by query, so that a busy machine slows
them alike. The target: the filtered p50 at most 20% above the unfiltered one.
"""

import json
import os
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
from retrieval.evaluation import evaluate
from retrieval.ingest import ingest

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
    args = scifact_arguments(__doc__.splitlines()[0]).parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="groundloop-bench-"))
    settings = Settings(data_dir=data_dir)
    console = Console(width=170)  # a table wider than a log file's default 80 columns

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

    def measure(state: str, askers: dict[str, tuple | None], queries: dict[str, str]) -> dict[str, float]:
        """Every asker's ranking of every query, taken in turn query by query (the order rotating), so that
        a busy machine slows them alike; their p50 latencies."""
        runs = {name: {} for name in askers}
        latencies = {name: [] for name in askers}
        names = list(askers)
        for i, (qid, text) in enumerate(queries.items()):
            for name in names[i % len(names):] + names[: i % len(names)]:
                started = time.perf_counter()
                runs[name][qid] = [d for d, _ in retriever.rank_documents(text, 100, groups=askers[name])]
                latencies[name].append((time.perf_counter() - started) * 1000)
        p50s = {}
        for name in names:
            metrics = evaluate(runs[name], {q: beir.qrels[q] for q in queries})
            p50s[name] = float(np.percentile(latencies[name], 50))
            table.add_row(name, state, str(len(queries)), f"{metrics['ndcg@10']:.4f}", f"{metrics['recall@100']:.4f}",
                          f"{p50s[name]:.1f}", f"{np.percentile(latencies[name], 95):.1f}", load())
        return p50s

    everyone = measure("all everyone's", {"every document (admin; as before groups)": None,
                                          "a person in everyone only": ("everyone",)}, beir.queries)
    for n in range(PARTS):
        index.set_groups(str((folder / f"part-{n}.jsonl").resolve()), [f"group-{n}"])
    mine = ("everyone", "group-0")
    split = measure("10 groups", {"every document (admin)": None, "a person in group-0 (a tenth)": mine,
                                  "a person in group-0 to group-4 (half)": ("everyone", *(f"group-{n}" for n in range(5)))},
                    beir.queries)
    own = {q: text for q, text in beir.queries.items() if all(parts.get(d) == 0 for d in beir.qrels[q])}
    measure("10 groups, group-0's queries", {"every document (admin)": None, "a person in group-0": mine}, own)
    console.print(table)
    console.print(
        f"p50, filtered against every document: a person in everyone only "
        f"{everyone['a person in everyone only'] / everyone['every document (admin; as before groups)']:.2f}×; "
        f"a person in one of ten groups {split['a person in group-0 (a tenth)'] / split['every document (admin)']:.2f}× "
        "(target ≤ 1.20)")
    for n in range(PARTS):  # leave the reusable index everyone's again
        index.set_groups(str((folder / f"part-{n}.jsonl").resolve()), ["everyone"])


if __name__ == "__main__":
    main()
