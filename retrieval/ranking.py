"""Rankers turn candidate features into scores.

Without a trained model: a convex fusion of dense and keyword scores. A learned ranker adds
what feedback taught: its own fusion weight or a scikit-learn model over the features, and
the feedback memory's boosts for documents confirmed on close past questions.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from retrieval.features import FEATURES, Candidates
from retrieval.memory import GUARDED, SAME_QUESTION, Boosts, FeedbackMemory, Neighbours


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
    added = [i for i in range(candidates.base, len(candidates)) if candidates.doc_ids[i] in wanted]
    if len(added) < len(candidates) - candidates.base:
        keep = list(range(candidates.base)) + added
        candidates, matrix = candidates.take(keep), matrix[keep]
    if boosts is None:
        return candidates, ranker.score(candidates, matrix)
    return candidates, ranker.score(candidates, matrix, boosts=boosts)


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
    implicit_weight: float = 1.0
    """How much the memory's entries made from opened sources lend (0: opens are not used)."""

    def boosts(self, vector: np.ndarray, terms: list[str]) -> Boosts:
        """The memory's boost per document for a question with this embedding and these terms, and the
        documents one account alone vouched for."""
        return self.memory.boosts(
            vector, terms, threshold=self.threshold, strength=self.strength, mix=self.mix,
            reject_threshold=self.reject_threshold, implicit_weight=self.implicit_weight,
        )

    def lend(self, near: Neighbours, *, skip: np.ndarray | None = None) -> list[Boosts]:
        """``boosts`` for many questions at once, from their ``near`` entries (measuring the memory:
        ``skip[k]``, the past question the ``k``-th leaves out)."""
        return self.memory.lend(near, threshold=self.threshold, strength=self.strength,
                                reject_threshold=self.reject_threshold, implicit_weight=self.implicit_weight, skip=skip)

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
        scores = base + np.array([boosts.get(doc_id, 0.0) for doc_id in candidates.doc_ids], dtype=np.float32)
        lone = getattr(boosts, "lone", set())
        return guard_top(scores, base, candidates.doc_ids, boosts, lone) if lone else scores


def guard_top(
    scores: np.ndarray, base: np.ndarray, doc_ids: list[str], boosts: dict[str, float], lone: set[str]
) -> np.ndarray:
    """``scores`` with every ``lone`` document kept out of the first ``GUARDED`` documents unless it
    is there without its lone boost: one account alone cannot put a document in front of others."""
    lifted = [i for i, doc_id in enumerate(doc_ids) if doc_id in lone]
    without = scores.copy()
    without[lifted] -= np.array([boosts[doc_ids[i]] for i in lifted], dtype=np.float32)
    first = set(first_documents(without, doc_ids, GUARDED))
    held = [i for i in lifted if doc_ids[i] not in first]
    guarded = scores.astype(np.float32)
    if held:
        limit = min(score for doc_id, score in first_documents(scores, doc_ids).items() if doc_id in first)
        guarded[held] = np.minimum(guarded[held], np.nextafter(np.float32(limit), np.float32(-np.inf)))
    return guarded


def first_documents(scores: np.ndarray, doc_ids: list[str], count: int | None = None) -> dict[str, float]:
    """The first ``count`` documents (all when None), each ranked by its best chunk, with that chunk's score."""
    best: dict[str, float] = {}
    for i in np.argsort(-scores, kind="stable").tolist():
        best.setdefault(doc_ids[i], float(scores[i]))
        if len(best) == count:
            break
    return best
