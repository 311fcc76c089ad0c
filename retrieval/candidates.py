"""Gather the candidates for a query: dense top-N ∪ keyword top-N, each scored by both."""

import numpy as np

from retrieval.features import Candidates
from retrieval.index import HybridIndex
from retrieval.keyword import tokenize


def gather(index: HybridIndex, query: str, n: int) -> Candidates:
    """Both scores for every candidate, so fusion never has to guess a missing one."""
    vector = index.embeddings.encode([query], threads=1)[0]
    keyword = index.keyword()
    all_keyword = keyword.scores(tokenize([query])[0])
    dense_chunks, dense_scores = index.dense(vector, n)

    best = np.argsort(-all_keyword, kind="stable")[:n] if len(all_keyword) else np.zeros(0, dtype=int)
    keyword_ids = [keyword.ids[row] for row in best if all_keyword[row] > 0]
    dense_ids = [chunk.id for chunk in dense_chunks]
    extra_chunks, extra_vectors = index.fetch([i for i in keyword_ids if i not in set(dense_ids)])

    chunks = dense_chunks + extra_chunks
    ids = [chunk.id for chunk in chunks]
    dense = np.concatenate([dense_scores, extra_vectors @ vector if len(extra_chunks) else np.zeros(0)])
    rows = [keyword.row.get(chunk_id) for chunk_id in ids]
    return Candidates(
        query=query,
        ids=ids,
        texts=[chunk.text for chunk in chunks],
        metadatas=[chunk.metadata for chunk in chunks],
        dense=dense.astype(np.float32),
        keyword=np.array([all_keyword[row] if row is not None else 0.0 for row in rows], dtype=np.float32),
        dense_rank=_ranks(ids, dense_ids),
        keyword_rank=_ranks(ids, keyword_ids),
    )


def _ranks(ids: list[str], ranked: list[str]) -> np.ndarray:
    place = {chunk_id: rank for rank, chunk_id in enumerate(ranked, start=1)}
    return np.array([place.get(chunk_id, len(ranked) + 1) for chunk_id in ids], dtype=np.float32)
