"""Per-candidate features: the one function that serving and the retraining job share."""

from dataclasses import dataclass

import numpy as np

from retrieval.keyword import KeywordIndex

FEATURES = (
    "dense",
    "keyword",
    "dense_norm",
    "keyword_norm",
    "dense_rank",
    "keyword_rank",
    "chunk_words",
    "query_words",
    "query_overlap",
    "title_overlap",
)


@dataclass
class Candidates:
    """The union of the dense and keyword top-N for one query, with their raw signals.

    ``dense`` and ``keyword`` hold every candidate's score in both lists (computed even where a
    candidate came from only one); ranks are 1-based, and N+1 where it was not in that top-N.
    ``rows`` index the keyword index, which knows each chunk's document, title and length.
    The first ``base`` candidates are those the searches found; any after them were added for
    a reason of the ranker's, and are scaled against the base ones, so they change no base score.
    """

    query: str
    vector: np.ndarray
    terms: list[str]
    ids: list[str]
    doc_ids: list[str]
    rows: np.ndarray
    base: int
    dense: np.ndarray
    keyword: np.ndarray
    dense_rank: np.ndarray
    keyword_rank: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, keep: list[int]) -> "Candidates":
        """The candidates at ``keep`` (base ones first, as here)."""
        pick = np.asarray(keep, dtype=np.int64)
        return Candidates(
            query=self.query,
            vector=self.vector,
            terms=self.terms,
            ids=[self.ids[i] for i in keep],
            doc_ids=[self.doc_ids[i] for i in keep],
            rows=self.rows[pick],
            base=sum(1 for i in keep if i < self.base),
            dense=self.dense[pick],
            keyword=self.keyword[pick],
            dense_rank=self.dense_rank[pick],
            keyword_rank=self.keyword_rank[pick],
        )


def min_max(values: np.ndarray, base: int | None = None) -> np.ndarray:
    """Scale to [0, 1] by the first ``base`` values' range (all by default), clipping the rest; no range → 0."""
    reference = values[:base] if base else values
    if len(reference) == 0:
        return np.zeros_like(values)
    low, span = reference.min(), reference.max() - reference.min()
    return np.clip((values - low) / span, 0.0, 1.0) if span > 0 else np.zeros_like(values)


def features(candidates: Candidates, keyword: KeywordIndex) -> np.ndarray:
    """A (candidates × FEATURES) matrix; columns in the order of ``FEATURES``."""
    terms = set(candidates.terms)
    rows = candidates.rows.tolist()
    containing = [keyword.containing(term) for term in terms]
    query_overlap = [sum(row in found for found in containing) / max(len(terms), 1) for row in rows]
    title_overlap = [len(terms.intersection(keyword.title_terms[row])) / max(len(terms), 1) for row in rows]
    columns = [
        candidates.dense,
        candidates.keyword,
        min_max(candidates.dense, candidates.base),
        min_max(candidates.keyword, candidates.base),
        candidates.dense_rank,
        candidates.keyword_rank,
        keyword.words[candidates.rows] if rows else [],
        np.full(len(candidates), len(candidates.query.split())),
        query_overlap,
        title_overlap,
    ]
    return np.column_stack([np.asarray(column, dtype=np.float32) for column in columns]).reshape(-1, len(FEATURES))
