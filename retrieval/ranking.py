"""Rankers turn candidate features into scores. Without a trained model: convex fusion."""

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from retrieval.features import FEATURES, Candidates


@runtime_checkable
class Ranker(Protocol):
    version: str

    def score(self, candidates: Candidates, matrix: np.ndarray) -> np.ndarray:
        """One score per candidate row of ``matrix``; higher is better."""


@dataclass(frozen=True)
class FusionRanker:
    """``w`` × min-max dense + (1 − ``w``) × min-max BM25, per query."""

    dense_weight: float = 0.6
    version: str = "fusion"

    def score(self, candidates: Candidates, matrix: np.ndarray) -> np.ndarray:
        dense, keyword = matrix[:, FEATURES.index("dense_norm")], matrix[:, FEATURES.index("keyword_norm")]
        return self.dense_weight * dense + (1.0 - self.dense_weight) * keyword
