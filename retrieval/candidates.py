"""Gather the candidates for a query: dense top-N ∪ keyword top-N, each scored by both.

Both lists are filtered by the asker's groups before they meet, and so are the documents a ranker
asks for, so that nothing a person may not see ever becomes a candidate, whatever a ranker or the
feedback memory would add. The keyword index knows every chunk's groups (as of the revision the
question started with), so the keyword scores are masked before their top N is taken, and Chroma is
asked for the N nearest allowed chunks in the cheapest exact way (``visible_dense``).
"""

import math
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
    if allowed is not None and allowed.all():
        allowed = None  # every chunk may be seen: nothing to filter
    if allowed is not None:
        all_keyword = np.where(allowed, all_keyword, np.float32(0.0))
    dense_ids, dense_scores = visible_dense(index, keyword, vector, n, allowed, groups)

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


OVERFETCH_FROM = 0.5
"""When at least this share of the chunks may be seen, the nearest ones are fetched unfiltered, a few
more than needed, and the others dropped: Chroma's own filters cost more than that."""
LISTED_UP_TO = 20_000
"""Up to this many allowed chunks, Chroma is given their ids; beyond, their groups (a ``where``)."""


def visible_dense(
    index: HybridIndex,
    keyword: KeywordIndex,
    vector: np.ndarray,
    n: int,
    allowed: np.ndarray | None,
    groups: Collection[str] | None,
) -> tuple[list[str], np.ndarray]:
    """The ``n`` nearest chunks among the ``allowed`` rows of ``keyword`` (None: all), best first.

    Chroma's metadata filter over array values is slow when it lets many chunks through (on SciFact,
    ten times an unfiltered search when it lets all through): when most chunks may be seen, more are
    fetched unfiltered and the hidden ones dropped; when few may, Chroma searches among their ids;
    for very many, among their groups."""
    if allowed is None:
        return index.dense(vector, n)
    count = int(allowed.sum())
    if count == 0:
        return [], np.zeros(0, dtype=np.float32)
    share = count / len(allowed)
    if share >= OVERFETCH_FROM:
        ids, scores = index.dense(vector, math.ceil(n / share * 1.5) + 10)
        keep = [i for i, chunk_id in enumerate(ids) if chunk_id in keyword.row and allowed[keyword.row[chunk_id]]]
        if len(keep) >= min(n, count) or len(ids) < math.ceil(n / share * 1.5) + 10:
            keep = keep[:n]
            return [ids[i] for i in keep], scores[keep]
    if count <= LISTED_UP_TO:
        return index.dense(vector, n, within=[keyword.ids[row] for row in np.flatnonzero(allowed)])
    return index.dense(vector, n, groups=groups)


def _ranks(ids: list[str], ranked: list[str]) -> np.ndarray:
    place = {chunk_id: rank for rank, chunk_id in enumerate(ranked, start=1)}
    return np.array([place.get(chunk_id, len(ranked) + 1) for chunk_id in ids], dtype=np.float32)
