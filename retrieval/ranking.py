"""Rankers turn candidate features into scores.

Without a trained model: a convex fusion of dense and keyword scores. A learned ranker adds
what feedback taught: its own fusion weight or a scikit-learn model over the features, and
the feedback memory's boosts for documents confirmed on close past questions.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from retrieval.features import FEATURES, Candidates
from retrieval.memory import SAME_QUESTION, FeedbackMemory


@runtime_checkable
class Ranker(Protocol):
    version: str
    dense_weight: float

    def expand(self, vector: np.ndarray, terms: list[str]) -> set[str]:
        """Documents that must be candidates for a question with this embedding and these terms."""

    def score(self, candidates: Candidates, matrix: np.ndarray) -> np.ndarray:
        """One score per candidate row of ``matrix``; higher is better."""


def boosts_of(ranker: Ranker, vector: np.ndarray, terms: list[str]) -> dict[str, float] | None:
    """What the ranker adds per document for this question, worked out once per question (None for
    a ranker that adds nothing of the kind)."""
    boosts = getattr(ranker, "boosts", None)
    return boosts(vector, terms) if boosts is not None else None


def wanted_by(ranker: Ranker, vector: np.ndarray, terms: list[str], boosts: dict[str, float] | None) -> set[str]:
    """The documents that must be candidates: those with a positive boost."""
    if boosts is None:
        return ranker.expand(vector, terms)
    return {doc_id for doc_id, boost in boosts.items() if boost > 0}


def scored(
    ranker: Ranker, candidates: Candidates, matrix: np.ndarray, *, boosts: dict[str, float] | None = None
) -> tuple[Candidates, np.ndarray]:
    """The searched candidates and those the ranker asked for, with the ranker's scores.

    Serving and training both rank through here: candidates gathered for more documents than
    this ranker wants are ranked exactly as if gathered for those alone. ``boosts``, from
    ``boosts_of`` when the caller already worked them out for the question, are not worked out again.
    """
    if boosts is None:
        boosts = boosts_of(ranker, candidates.vector, candidates.terms)
    wanted = wanted_by(ranker, candidates.vector, candidates.terms, boosts)
    keep = [i for i in range(len(candidates)) if i < candidates.base or candidates.doc_ids[i] in wanted]
    kept = candidates.take(keep)
    if boosts is None:
        return kept, ranker.score(kept, matrix[keep])
    return kept, ranker.score(kept, matrix[keep], boosts=boosts)


def fusion(matrix: np.ndarray, dense_weight: float) -> np.ndarray:
    """``w`` × min-max dense + (1 − ``w``) × min-max BM25, per query."""
    dense, keyword = matrix[:, FEATURES.index("dense_norm")], matrix[:, FEATURES.index("keyword_norm")]
    return dense_weight * dense + (1.0 - dense_weight) * keyword


@dataclass(frozen=True)
class FusionRanker:
    dense_weight: float = 0.6
    version: str = "fusion"

    def expand(self, vector: np.ndarray, terms: list[str]) -> set[str]:
        return set()

    def boosts(self, vector: np.ndarray, terms: list[str]) -> dict[str, float]:
        return {}

    def score(self, candidates: Candidates, matrix: np.ndarray, *, boosts: dict[str, float] | None = None) -> np.ndarray:
        return fusion(matrix, self.dense_weight)


@dataclass
class LearnedRanker:
    """Fusion (or ``model``'s probability of relevance) plus the memory's boosts."""

    version: str
    dense_weight: float = 0.6
    model: Any = None
    """A fitted scikit-learn classifier over ``FEATURES``, or None for fusion."""
    memory: FeedbackMemory = field(default_factory=FeedbackMemory)
    threshold: float = 1.0
    strength: float = 0.0
    reject_threshold: float = SAME_QUESTION
    mix: float = 1.0
    """The share of embedding cosine in the memory's question similarity; the rest is shared terms."""
    skip: int | None = None
    """A past question the memory leaves out: set only while measuring the memory on its own questions."""

    def boosts(self, vector: np.ndarray, terms: list[str]) -> dict[str, float]:
        """The memory's boost per document for a question with this embedding and these terms."""
        return self.memory.boosts(
            vector, terms, threshold=self.threshold, strength=self.strength, mix=self.mix,
            reject_threshold=self.reject_threshold, skip=self.skip,
        )

    def expand(self, vector: np.ndarray, terms: list[str]) -> set[str]:
        return {doc_id for doc_id, boost in self.boosts(vector, terms).items() if boost > 0}

    def score(self, candidates: Candidates, matrix: np.ndarray, *, boosts: dict[str, float] | None = None) -> np.ndarray:
        """``boosts``, when the caller has them for this question, are used as they are."""
        if not len(matrix):
            return np.zeros(0, dtype=np.float32)
        base = self.model.predict_proba(matrix)[:, 1] if self.model is not None else fusion(matrix, self.dense_weight)
        if boosts is None:
            boosts = self.boosts(candidates.vector, candidates.terms)
        if not boosts:
            return base
        return base + np.array([boosts.get(doc_id, 0.0) for doc_id in candidates.doc_ids], dtype=np.float32)
