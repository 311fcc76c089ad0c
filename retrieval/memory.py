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

Each entry has an owner: ``""`` when no single account vouches alone for it (a reviewer decided,
or two accounts agreed), else the one account. One owner's entries lend a document at most what
its heaviest entry does, however many it has; and a document whose boost comes from one owner
alone is *lone*: rankers keep it out of the top 3 it was not already in (``guard_top``).
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

SAME_QUESTION = 0.95
GUARDED = 3
"""A document one account alone vouched for cannot enter this many first places."""


@dataclass
class FeedbackMemory:
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    """One unit-length embedding per past question."""
    positives: list[list[str]] = field(default_factory=list)
    negatives: list[list[str]] = field(default_factory=list)
    terms: list[list[str]] = field(default_factory=list)
    """Each past question's stemmed terms, as the keyword index tokenizes them."""
    owners: list[str] = field(default_factory=list)
    """Per entry: ``""`` (trusted) or the one account that gave it; all trusted when empty."""
    weights: np.ndarray | None = None
    """Per entry: how much it lends (1 when None)."""
    questions: np.ndarray | None = None
    """Per entry: which judged question it came from (``skip`` leaves a whole question out)."""
    implicit: np.ndarray | None = None
    """Per entry: made from opened sources, scaled by ``implicit_weight``."""

    def __post_init__(self) -> None:
        n = len(self.positives)
        self.owners = list(self.owners) or [""] * n
        self.weights = np.ones(n, dtype=np.float32) if self.weights is None else np.asarray(self.weights, np.float32)
        self.questions = np.arange(n) if self.questions is None else np.asarray(self.questions, dtype=np.int64)
        self.implicit = np.zeros(n, dtype=bool) if self.implicit is None else np.asarray(self.implicit, dtype=bool)
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
        keep = np.flatnonzero(self.questions < count)
        return self.take(keep)

    def take(self, keep: np.ndarray) -> "FeedbackMemory":
        """The entries at ``keep``."""
        return FeedbackMemory(
            self.vectors[keep], [self.positives[i] for i in keep], [self.negatives[i] for i in keep],
            [self.terms[i] for i in keep] if self.terms else [], [self.owners[i] for i in keep],
            self.weights[keep], self.questions[keep], self.implicit[keep],
        )

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
        implicit_weight: float = 1.0,
    ) -> dict[str, float]:
        """Per document: + for confirmed (− for rejected, from ``reject_threshold`` on), ``strength`` at
        identical questions, 0 at the threshold.

        ``skip`` leaves one past question out, to measure the memory on the questions it holds.
        """
        return self.support(vector, terms, threshold=threshold, strength=strength, mix=mix,
                            reject_threshold=reject_threshold, skip=skip, implicit_weight=implicit_weight)[0]

    def support(
        self,
        vector: np.ndarray,
        terms: list[str],
        *,
        threshold: float,
        strength: float,
        mix: float = 1.0,
        reject_threshold: float = SAME_QUESTION,
        skip: int | None = None,
        implicit_weight: float = 1.0,
    ) -> tuple[dict[str, float], set[str]]:
        """``boosts`` and the lone documents: those whose positive boost one account alone gave."""
        if not len(self) or strength == 0:
            return {}, set()
        similarities = self.similarities(vector, terms, mix=mix)
        if skip is not None:
            similarities[self.questions == skip] = -1.0
        trusted: dict[str, float] = {}
        owned: dict[tuple[str, str], float] = {}
        for i in np.flatnonzero(similarities >= threshold):
            weight = strength * float(similarities[i] - threshold) / max(1.0 - threshold, 1e-6) * float(self.weights[i])
            weight *= implicit_weight if self.implicit[i] else 1.0
            if weight <= 0:
                continue
            rejected = self.negatives[i] if similarities[i] >= reject_threshold else ()
            owner = self.owners[i]
            for doc_id, sign in [(d, 1.0) for d in self.positives[i]] + [(d, -1.0) for d in rejected]:
                if not owner:
                    trusted[doc_id] = trusted.get(doc_id, 0.0) + sign * weight
                else:  # one owner lends what its heaviest entry does, however many it has
                    key = (doc_id, owner)
                    previous = owned.get(key, 0.0)
                    owned[key] = max(previous, weight) if sign > 0 else min(previous, -weight)
        boosts, backers = dict(trusted), {doc_id: {""} for doc_id, b in trusted.items() if b > 0}
        for (doc_id, owner), b in owned.items():
            boosts[doc_id] = boosts.get(doc_id, 0.0) + b
            if b > 0:
                backers.setdefault(doc_id, set()).add(owner)
        lone = {doc_id for doc_id, owners in backers.items() if len(owners) == 1 and "" not in owners}
        clipped = {doc_id: float(np.clip(b, -strength, strength)) for doc_id, b in boosts.items() if b}
        return clipped, lone & {doc_id for doc_id, b in clipped.items() if b > 0}
