"""The grounding check: is every sentence of an answer supported by the sources it cites?

A failed check does not hide the answer; it flags it, with reasons a reviewer can read.
"""

import re
from dataclasses import dataclass, field

import numpy as np
from langchain_core.documents import Document

from app.answerers import HOW_TO, PassageSource, source_chunks
from retrieval.embeddings import MiniLMEmbeddings
from retrieval.keyword import tokenize
from retrieval.sentences import OnTheFly, Passage
from retrieval.text import code_blocks, sentences, shorten

CITATION = re.compile(r"\[(\d+)\]")
_CITATIONS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\d+\])+)")
_CITED_STOP = re.compile(r"(?<=\][.!?])\s+")
"""Where a cited sentence ends ("… [1]. `x` …"), whatever the next one starts with."""
_MIN_CLAIM_WORDS = 5
QUOTED_CHARS = 80  # of a sentence quoted in a reason


@dataclass(frozen=True)
class Verdict:
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "flagged" if self.reasons else "ok"


def claims(answer: str) -> list[tuple[str, list[int]]]:
    """Sentences of an answer with the source numbers each cites ("… lot. [1]" counts as "… lot [1].").
    A citation and its full stop end a sentence even when the next one starts with code or in lower case."""
    answer = _CITATIONS_AFTER_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", answer)
    return [
        (part, [int(n) for n in CITATION.findall(part)])
        for sentence in sentences(answer)
        for part in _CITED_STOP.split(sentence)
        if part.strip()
    ]


@dataclass
class GroundingCheck:
    """Sentence vectors of the sources come from ``vectors`` (the index's store), or are embedded on the fly
    when no store is given. Of the answer, only sentences that are not verbatim source sentences are embedded."""

    embeddings: MiniLMEmbeddings
    support_similarity: float = 0.6
    support_overlap: float = 0.6
    min_retrieval_similarity: float = 0.3
    min_question_similarity: float = 0.3
    vectors: PassageSource | None = None
    _on_the_fly: OnTheFly = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._on_the_fly = OnTheFly(lambda texts: self.embeddings.encode(texts, threads=1))

    def check(
        self, answer: str, sources: list[Document], *, question: str | None = None, vector: np.ndarray | None = None
    ) -> Verdict:
        """With the ``question`` (or its unit vector), also whether the answer addresses it."""
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
        passages = (self.vectors or self._on_the_fly).passages(source_chunks(sources)) if sources else []
        texts = [_without_citations(text) for text, _ in parts]
        vectors = self._claim_vectors(texts, passages)
        reasons += self._unsupported(parts, texts, vectors, sources, passages, require_citations=bool(cited))
        reasons += _unquoted_code(answer, sources)
        if (question is not None or vector is not None) and cited and not unknown:
            reasons += self._off_the_question(answer, question, vector, vectors, passages)
        return Verdict(reasons)

    def _claim_vectors(self, texts: list[str], passages: list[Passage]) -> list[np.ndarray | None]:
        """A sentence quoted from a source takes that sentence's stored vector; the others are embedded, together."""
        stored = {_key(text): vector for p in passages for text, vector in zip(p.sentences, p.sentence_vectors)}
        vectors = [stored.get(_key(text)) for text in texts]
        fresh = [i for i, (text, vector) in enumerate(zip(texts, vectors)) if vector is None and text.split()]
        if fresh:
            for i, vector in zip(fresh, self.embeddings.encode([texts[i] for i in fresh], threads=1)):
                vectors[i] = vector
        return vectors

    def _unsupported(
        self, parts: list[tuple[str, list[int]]], texts: list[str], vectors: list[np.ndarray | None],
        sources: list[Document], passages: list[Passage], *, require_citations: bool
    ) -> list[str]:
        """A sentence is supported when one cited source says nearly the same, or shares most of its words."""
        reasons = []
        for number, ((_, numbers), text, vector) in enumerate(zip(parts, texts, vectors), start=1):
            if len(text.split()) < _MIN_CLAIM_WORDS:
                continue
            cites = [n for n in numbers if 1 <= n <= len(sources)]
            if not cites and require_citations:
                reasons.append(f"sentence {number} cites no source: “{shorten(text, QUOTED_CHARS)}”")
            elif cites and not any(
                self._supports(text, vector, sources[n - 1].page_content, passages[n - 1].sentence_vectors) for n in cites
            ):
                named = " ".join(f"[{n}]" for n in cites)
                reasons.append(f"sentence {number} is not supported by {named}: “{shorten(text, QUOTED_CHARS)}”")
        return reasons

    def _supports(self, claim: str, vector: np.ndarray, source: str, source_vectors: np.ndarray) -> bool:
        if len(source_vectors) and float((source_vectors @ vector).max()) >= self.support_similarity:
            return True
        terms = set(tokenize([claim])[0])
        return bool(terms) and len(terms & set(tokenize([source])[0])) / len(terms) >= self.support_overlap

    def _off_the_question(
        self, answer: str, question: str | None, vector: np.ndarray | None,
        vectors: list[np.ndarray | None], passages: list[Passage],
    ) -> list[str]:
        """An answer whose every sentence is true but none answers only circles the question: its closest
        sentence must be near the question, and a how-to question wants the instruction a source gives."""
        asked = vector if vector is not None else self.embeddings.encode_questions([question])[0]
        closest = max((float(vector @ asked) for vector in vectors if vector is not None), default=0.0)
        reasons = []
        if closest < self.min_question_similarity:
            reasons.append(f"the answer does not address the question (its closest sentence is {closest:.2f} similar to it)")
        if question and HOW_TO.search(question) and "`" not in answer and any(p.instructions for p in passages):
            reasons.append("the question asks how to do something, but the answer gives none of the sources' commands or code")
        return reasons


def _key(sentence: str) -> str:
    """A sentence as quoted in an answer and as found in its source compare equal."""
    return " ".join(_without_citations(sentence.lstrip("# ")).rstrip(".!?").lower().split())


def _unquoted_code(answer: str, sources: list[Document]) -> list[str]:
    """Code an answer shows as copied from its sources must be there, verbatim."""
    shown = [block for source in sources for block in code_blocks(source.page_content)]
    return [
        f"quotes code that no shown source contains: “{shorten(block, QUOTED_CHARS)}”"
        for block in code_blocks(answer)
        if not any(block in source for source in shown)
    ]


def _without_citations(sentence: str) -> str:
    return re.sub(r"\s+([.!?,;:])", r"\1", CITATION.sub("", sentence)).strip()
