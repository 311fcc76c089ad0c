"""BEIR datasets: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``."""

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import GroundloopError


@dataclass(frozen=True)
class BeirSplit:
    corpus: Path
    queries: dict[str, str]
    """Only the queries judged in the split."""
    qrels: dict[str, dict[str, int]]


def load_split(folder: Path, split: str) -> BeirSplit:
    corpus, queries_file, qrels_file = folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"
    for required in (corpus, queries_file, qrels_file):
        if not required.is_file():
            raise GroundloopError(f"Not a BEIR dataset: {required} is missing.")
    qrels = read_qrels(qrels_file)
    queries = {}
    with queries_file.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                if str(record["_id"]) in qrels:
                    queries[str(record["_id"])] = record["text"]
    return BeirSplit(corpus=corpus, queries=queries, qrels={q: qrels[q] for q in queries})


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id <TAB> corpus-id <TAB> score``, with or without the header line."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or row[0] == "query-id" or not row[2].strip().lstrip("-").isdigit():
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels
