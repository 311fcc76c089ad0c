"""Feedback memory: past questions and the documents people confirmed or rejected for them.

A new question close to a past one (similarity over a threshold) lends that question's
confirmed documents a boost growing with the similarity. Rejected documents are penalised only
for questions closer still (similarity ≥ ``reject_threshold``, by default the same question
asked again): "not relevant here" says less about a neighbouring question than "relevant here"
does. A question with no close past question gets nothing, so it is ranked exactly as without
the memory.

Similarity mixes the cosine of the question embeddings with the share of stemmed terms the two
questions have in common: on SciFact, claims that share a relevant abstract also share their
rare terms (gene and drug names), while claims that only sound alike share few.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

SAME_QUESTION = 0.95


@dataclass
class FeedbackMemory:
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    """One unit-length embedding per past question."""
    positives: list[list[str]] = field(default_factory=list)
    negatives: list[list[str]] = field(default_factory=list)
    terms: list[list[str]] = field(default_factory=list)
    """Each past question's stemmed terms, as the keyword index tokenizes them."""

    def __post_init__(self) -> None:
        self._vocabulary: dict[str, int] = {}
        rows, columns = [], []
        for row, terms in enumerate(self.terms):
            for term in set(terms):
                rows.append(row)
                columns.append(self._vocabulary.setdefault(term, len(self._vocabulary)))
        self._has_term = csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(len(self), len(self._vocabulary))
        )
        self._term_counts = np.asarray(self._has_term.sum(axis=1), dtype=np.float32).ravel()

    def __len__(self) -> int:
        return len(self.positives)

    def first(self, count: int) -> "FeedbackMemory":
        """The memory of the first ``count`` questions only."""
        return FeedbackMemory(self.vectors[:count], self.positives[:count], self.negatives[:count], self.terms[:count])

    def similarities(self, vector: np.ndarray, terms: list[str], *, mix: float) -> np.ndarray:
        """``mix`` × cosine + (1 − ``mix``) × Jaccard overlap of the terms, for each past question."""
        cosine = self.vectors @ vector
        if mix >= 1.0:
            return cosine
        asked = set(terms)
        indicator = np.zeros(len(self._vocabulary), dtype=np.float32)
        indicator[[self._vocabulary[term] for term in asked if term in self._vocabulary]] = 1.0
        shared = self._has_term @ indicator
        overlap = shared / np.maximum(self._term_counts + len(asked) - shared, 1.0)
        return mix * cosine + (1.0 - mix) * overlap

    def boosts(
        self,
        vector: np.ndarray,
        terms: list[str],
        *,
        threshold: float,
        strength: float,
        mix: float = 1.0,
        reject_threshold: float = SAME_QUESTION,
        skip: int | None = None,
    ) -> dict[str, float]:
        """Per document: + for confirmed (− for rejected, from ``reject_threshold`` on), ``strength`` at
        identical questions, 0 at the threshold.

        ``skip`` leaves one past question out, to measure the memory on the questions it holds.
        """
        if not len(self) or strength == 0:
            return {}
        similarities = self.similarities(vector, terms, mix=mix)
        if skip is not None:
            similarities[skip] = -1.0
        boosts: dict[str, float] = {}
        for i in np.flatnonzero(similarities >= threshold):
            weight = strength * float(similarities[i] - threshold) / max(1.0 - threshold, 1e-6)
            for doc_id in self.positives[i]:
                boosts[doc_id] = boosts.get(doc_id, 0.0) + weight
            for doc_id in self.negatives[i] if similarities[i] >= reject_threshold else ():
                boosts[doc_id] = boosts.get(doc_id, 0.0) - weight
        return {doc_id: float(np.clip(b, -strength, strength)) for doc_id, b in boosts.items() if b}
