"""The chat chain: offline answer latency on the demo corpus, and the grounding check's catch rates.

    python -m benchmarks.chat [--dataset ../shared/datasets/scifact] [--claims 200] [--data-dir DIR] [--latency-only]

The grounding part runs the chain against the OpenAI-compatible stub server on 127.0.0.1, which
answers (a) the extractive answer, (b) the same with one citation renumbered to a source that was
not shown, (c) the same with one sentence replaced by a sentence about another claim.
"""

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from app import components
from app.answerers import NOTHING_FOUND
from app.chain import ChainResult, Token
from app.grounding import claims
from app.settings import Settings
from retrieval.beir import load_split
from retrieval.ingest import ingest
from tests.openai_stub import OpenAIStub

ROOT = Path(__file__).resolve().parents[1]
DEMO_QUESTIONS = [
    "How do I ingest a folder?",
    "What happens when a file changes?",
    "Which file formats can be ingested?",
    "How is the keyword index kept up to date?",
    "Where is the data folder?",
    "How do I use a Chroma server?",
    "What does groundloop eval print?",
    "How are chunks identified?",
    "What happens to files that cannot be read?",
    "How are the two searches combined?",
]


def latency(settings: Settings, console: Console) -> None:
    ingest(components.open_index(settings), [ROOT / "docs"], chunk_size=settings.chunk_size,
           chunk_overlap=settings.chunk_overlap, max_bytes=10**8)
    chain = components.chain(settings)
    chain.run(DEMO_QUESTIONS[0])  # warm-up
    first, complete = [], []
    for _ in range(3):
        for question in DEMO_QUESTIONS:
            start = time.perf_counter()
            for event in chain.stream(question):
                if isinstance(event, Token) and len(first) == len(complete):
                    first.append((time.perf_counter() - start) * 1000)
                if isinstance(event, ChainResult):
                    complete.append((time.perf_counter() - start) * 1000)
    table = Table("offline answerer, demo corpus", "p50 ms", "p95 ms", "target p50", title="Chat latency")
    table.add_row("first streamed token", f"{np.percentile(first, 50):.0f}", f"{np.percentile(first, 95):.0f}", "≤ 50")
    table.add_row("complete answer", f"{np.percentile(complete, 50):.0f}", f"{np.percentile(complete, 95):.0f}", "≤ 100")
    console.print(table)


def grounding(settings: Settings, dataset: Path, count: int, console: Console) -> None:
    beir = load_split(dataset, "train")
    settings = settings.model_copy(update={"collection": "bench-scifact"})
    ingest(components.open_index(settings), [beir.corpus], chunk_size=settings.chunk_size,
           chunk_overlap=settings.chunk_overlap, max_bytes=10**9)
    offline = components.chain(settings)
    questions = [beir.queries[qid] for qid in sorted(beir.queries, key=int)[:count]]
    sources = [offline.retriever.invoke(q) for q in questions]
    answers = [offline.fallback.answer(q, shown) for q, shown in zip(questions, sources)]
    shown_docs = [{s.metadata["doc_id"] for s in shown} for shown in sources]
    flagged = {"a": 0, "b": 0, "c": 0}
    with OpenAIStub() as stub:
        chain = components.chain(settings.model_copy(update={"llm_base_url": stub.base_url, "llm_model": "stub"}))
        for i, (question, answer) in enumerate(zip(questions, answers)):
            # Unrelated: from a claim none of whose sources was shown for this one.
            other = next(
                answers[j]
                for j in [*range(i + 1, len(answers)), *range(i)]
                if answers[j] != NOTHING_FOUND and not shown_docs[j] & shown_docs[i]
            )
            variants = {"a": answer, "b": _renumbered(answer, settings.top_k), "c": _replaced(answer, other)}
            for name, text in variants.items():
                stub.reply(text)
                flagged[name] += chain.run(question).verdict == "flagged"
    table = Table("stub model answers", "flagged", "target", title=f"Grounding check, {count} SciFact claims")
    table.add_row("(a) the extractive answer", f"{flagged['a'] / count:.1%}", "≤ 10%")
    table.add_row("(b) one citation renumbered to an unshown source", f"{flagged['b'] / count:.1%}", "100%")
    table.add_row("(c) one sentence replaced by an unrelated one", f"{flagged['c'] / count:.1%}", "≥ 90%")
    console.print(table)


def _renumbered(answer: str, shown: int) -> str:
    return re.sub(r"\[\d+\]", f"[{shown + 2}]", answer, count=1) if "[" in answer else f"{answer} [{shown + 2}]"


def _replaced(answer: str, other: str) -> str:
    """The answer's last sentence swapped for the first sentence of an unrelated answer, citation kept."""
    mine, theirs = claims(answer), claims(other)
    if not mine or not theirs:
        return other
    number = mine[-1][1][0] if mine[-1][1] else 1
    unrelated = re.sub(r"\s*\[\d+\]", "", theirs[0][0]).rstrip(".") + f" [{number}]."
    return " ".join([sentence for sentence, _ in mine[:-1]] + [unrelated])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "scifact")
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, help="Reuse an index here (default: a fresh temporary one).")
    parser.add_argument("--latency-only", action="store_true", help="Skip the grounding part (it ingests SciFact).")
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir or Path(tempfile.mkdtemp(prefix="groundloop-bench-")))
    console = Console()
    latency(settings, console)
    if not args.latency_only:
        grounding(settings, args.dataset, args.claims, console)


if __name__ == "__main__":
    main()
