"""Feedback memory: past questions and the documents people confirmed or rejected for them.

A new question close to a past one (cosine over a threshold) lends that question's confirmed
documents a boost growing with the similarity. Rejected documents are penalised only for
questions closer still (cosine ≥ ``reject_threshold``, by default the same question asked
again): "not relevant here" says less about a neighbouring question than "relevant here" does.
A question with no close past question gets nothing, so it is ranked exactly as without the memory.
"""

from dataclasses import dataclass, field

import numpy as np

SAME_QUESTION = 0.95


@dataclass
class FeedbackMemory:
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    """One unit-length embedding per past question."""
    positives: list[list[str]] = field(default_factory=list)
    negatives: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positives)

    def first(self, count: int) -> "FeedbackMemory":
        """The memory of the first ``count`` questions only."""
        return FeedbackMemory(self.vectors[:count], self.positives[:count], self.negatives[:count])

    def boosts(
        self,
        vector: np.ndarray,
        *,
        threshold: float,
        strength: float,
        reject_threshold: float = SAME_QUESTION,
        skip: int | None = None,
    ) -> dict[str, float]:
        """Per document: + for confirmed (− for rejected, from ``reject_threshold`` on), ``strength`` at
        identical questions, 0 at the threshold.

        ``skip`` leaves one past question out, to measure the memory on the questions it holds.
        """
        if not len(self) or strength == 0:
            return {}
        similarities = self.vectors @ vector
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
