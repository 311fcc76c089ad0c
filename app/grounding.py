"""The grounding check: is every sentence of an answer supported by the sources it cites?

A failed check does not hide the answer; it flags it, with reasons a reviewer can read.
"""

import re
from dataclasses import dataclass, field

import numpy as np
from langchain_core.documents import Document

from retrieval.embeddings import MiniLMEmbeddings
from retrieval.keyword import tokenize
from retrieval.text import sentences, shorten

CITATION = re.compile(r"\[(\d+)\]")
_CITATIONS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\d+\])+)")
_MIN_CLAIM_WORDS = 5
QUOTED_CHARS = 80  # of a sentence quoted in a reason


@dataclass(frozen=True)
class Verdict:
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "flagged" if self.reasons else "ok"


def claims(answer: str) -> list[tuple[str, list[int]]]:
    """Sentences of an answer with the source numbers each cites ("… lot. [1]" counts as "… lot [1].")."""
    answer = _CITATIONS_AFTER_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", answer)
    return [(sentence, [int(n) for n in CITATION.findall(sentence)]) for sentence in sentences(answer)]


@dataclass
class GroundingCheck:
    embeddings: MiniLMEmbeddings
    support_similarity: float = 0.6
    support_overlap: float = 0.6
    min_retrieval_similarity: float = 0.3

    def check(self, answer: str, sources: list[Document]) -> Verdict:
        reasons = []
        if not sources or max(s.metadata.get("similarity", 0.0) for s in sources) < self.min_retrieval_similarity:
            best = max((s.metadata.get("similarity", 0.0) for s in sources), default=0.0)
            reasons.append(f"retrieval is not confident (best match {best:.2f})")
        parts = claims(answer)
        cited = sorted({n for _, numbers in parts for n in numbers})
        unknown = [n for n in cited if not 1 <= n <= len(sources)]
        if unknown:
            shown = f"[1]–[{len(sources)}]" if sources else "no sources"
            reasons.append(f"cites {', '.join(f'[{n}]' for n in unknown)}, but {shown} were shown")
        if not cited:
            reasons.append("the answer cites no source")
        reasons += self._unsupported(parts, sources, require_citations=bool(cited))
        return Verdict(reasons)

    def _unsupported(
        self, parts: list[tuple[str, list[int]]], sources: list[Document], *, require_citations: bool
    ) -> list[str]:
        """A sentence is supported when one cited source says nearly the same, or shares most of its words."""
        checked = [
            (i, _without_citations(text), [n for n in numbers if 1 <= n <= len(sources)])
            for i, (text, numbers) in enumerate(parts, start=1)
            if len(_without_citations(text).split()) >= _MIN_CLAIM_WORDS
        ]
        if not checked:
            return []
        source_sentences = [sentences(source.page_content) for source in sources]
        vectors = self.embeddings.encode(
            [text for _, text, _ in checked] + [s for group in source_sentences for s in group], threads=1
        )
        claim_vectors, offset, source_vectors = vectors[: len(checked)], len(checked), []
        for group in source_sentences:
            source_vectors.append(vectors[offset : offset + len(group)])
            offset += len(group)
        reasons = []
        for (number, text, cites), vector in zip(checked, claim_vectors):
            if not cites and require_citations:
                reasons.append(f"sentence {number} cites no source: “{shorten(text, QUOTED_CHARS)}”")
            elif cites and not any(self._supports(text, vector, sources[n - 1].page_content, source_vectors[n - 1]) for n in cites):
                named = " ".join(f"[{n}]" for n in cites)
                reasons.append(f"sentence {number} is not supported by {named}: “{shorten(text, QUOTED_CHARS)}”")
        return reasons

    def _supports(self, claim: str, vector: np.ndarray, source: str, source_vectors: np.ndarray) -> bool:
        if len(source_vectors) and float((source_vectors @ vector).max()) >= self.support_similarity:
            return True
        terms = set(tokenize([claim])[0])
        return bool(terms) and len(terms & set(tokenize([source])[0])) / len(terms) >= self.support_overlap


def _without_citations(sentence: str) -> str:
    return re.sub(r"\s+([.!?,;:])", r"\1", CITATION.sub("", sentence)).strip()
