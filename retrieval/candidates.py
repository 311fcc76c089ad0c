"""Gather the candidates for a query: dense top-N ∪ keyword top-N, each scored by both.

Both lists are filtered by the asker's groups before they meet (Chroma's ``where``, a mask over
the keyword scores), and so are the documents a ranker asks for, so that nothing a person may not
see ever becomes a candidate, whatever a ranker or the feedback memory would add.
"""

from collections.abc import Collection

import numpy as np

from retrieval.features import Candidates
from retrieval.index import HybridIndex
from retrieval.keyword import KeywordIndex


def gather(
    index: HybridIndex,
    keyword: KeywordIndex,
    query: str,
    vector: np.ndarray,
    terms: list[str],
    n: int,
    *,
    also: set[str] = frozenset(),
    groups: Collection[str] | None = None,
) -> Candidates:
    """Both scores for every candidate, so fusion never has to guess a missing one.

    ``terms`` are the query's, from ``tokenize``. ``also`` names documents whose chunks join the candidates whatever their scores; they come
    last, after the ``base`` candidates that the two searches found. ``groups``: the asker's (None: every document).
    """
    all_keyword = keyword.scores(terms)
    allowed = keyword.allowed(groups)
    if allowed is not None:
        all_keyword = np.where(allowed, all_keyword, np.float32(0.0))
    dense_ids, dense_scores = index.dense(vector, n, groups=groups)

    top = np.argpartition(-all_keyword, n - 1)[:n] if len(all_keyword) > n else np.arange(len(all_keyword))
    best = top[np.argsort(-all_keyword[top], kind="stable")]
    keyword_ids = [keyword.ids[row] for row in best if all_keyword[row] > 0]
    in_dense = set(dense_ids)
    extra_ids = [chunk_id for chunk_id in keyword_ids if chunk_id not in in_dense]
    found = in_dense.union(extra_ids)
    wanted = [
        keyword.ids[row] for doc_id in sorted(also) for row in keyword.rows_of(doc_id) if allowed is None or allowed[row]
    ]
    base = len(dense_ids) + len(extra_ids)
    extra_ids += [chunk_id for chunk_id in dict.fromkeys(wanted) if chunk_id not in found]
    extra_scores = index.vectors(extra_ids) @ vector if extra_ids else np.zeros(0, dtype=np.float32)

    ids = dense_ids + extra_ids
    dense = np.concatenate([dense_scores, extra_scores]).astype(np.float32)
    # A chunk added since the keyword index was read is left for the next query, which sees it.
    known = [i for i, chunk_id in enumerate(ids) if chunk_id in keyword.row]
    base = sum(1 for i in known if i < base)
    ids = [ids[i] for i in known]
    rows = np.array([keyword.row[chunk_id] for chunk_id in ids], dtype=np.int64)
    return Candidates(
        query=query,
        vector=vector,
        terms=terms,
        ids=ids,
        doc_ids=[keyword.doc_ids[row] for row in rows],
        rows=rows,
        base=base,
        dense=dense[known],
        keyword=all_keyword[rows] if len(rows) else np.zeros(0, dtype=np.float32),
        dense_rank=_ranks(ids, dense_ids),
        keyword_rank=_ranks(ids, keyword_ids),
    )


def _ranks(ids: list[str], ranked: list[str]) -> np.ndarray:
    place = {chunk_id: rank for rank, chunk_id in enumerate(ranked, start=1)}
    return np.array([place.get(chunk_id, len(ranked) + 1) for chunk_id in ids], dtype=np.float32)
