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
or two accounts agreed), else the one account. One owner lends a document at most what its
heaviest confirming entry does, less what its heaviest rejecting one takes, however many entries
it has; and a document whose boost comes from one owner alone is *lone*: rankers keep it out of
the top 3 it was not already in (``retrieval.ranking.guard_top``).
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

SAME_QUESTION = 0.95
GUARDED = 3
"""A document one account alone vouched for cannot enter this many first places."""


class Boosts(dict):
    """Per document, the memory's boost; ``lone``: those whose boost one account alone gave."""

    def __init__(self, given: dict[str, float] | None = None, *, lone: set[str] = frozenset()) -> None:
        super().__init__(given or {})
        self.lone = set(lone)


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
        self._judgements = _Judgements(self.positives, self.negatives, self.owners)

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

    def neighbours(self, vectors: np.ndarray, terms: list[list[str]], *, mix: float, floor: float) -> "Neighbours":
        """The entries at least ``floor`` similar to each question with these embeddings and terms."""
        asked, entries, similarities = [], [], []
        for row, (vector, words) in enumerate(zip(vectors, terms)):
            close = self.similarities(vector, words, mix=mix)
            near = np.flatnonzero(close >= floor)
            asked.append(np.full(len(near), row, dtype=np.int64))
            entries.append(near)
            similarities.append(close[near])
        if not asked:
            return Neighbours(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), 0)
        return Neighbours(np.concatenate(asked), np.concatenate(entries), np.concatenate(similarities), len(asked))

    def boosts(
        self,
        vector: np.ndarray,
        terms: list[str],
        *,
        threshold: float,
        strength: float,
        mix: float = 1.0,
        reject_threshold: float = SAME_QUESTION,
        implicit_weight: float = 1.0,
    ) -> Boosts:
        """``lend`` for one question with this embedding and these terms."""
        if not len(self) or strength == 0:
            return Boosts()
        near = self.neighbours(vector[None, :], [terms], mix=mix, floor=threshold)
        [given] = self.lend(near, threshold=threshold, strength=strength, reject_threshold=reject_threshold,
                            implicit_weight=implicit_weight)
        return given

    def lend(
        self,
        near: "Neighbours",
        *,
        threshold: float,
        strength: float,
        reject_threshold: float = SAME_QUESTION,
        implicit_weight: float = 1.0,
        skip: np.ndarray | None = None,
    ) -> list[Boosts]:
        """Per question of ``near``, per document: + for confirmed (− for rejected, from
        ``reject_threshold`` on), ``strength`` at identical questions, 0 at the threshold; and which
        of them one account alone lifted.

        Every boost the memory gives is worked out here, for one question asked or for every judged
        question at once while a retrain measures the memory; ``skip[k]``, the past question the
        ``k``-th leaves out (to measure the memory on the questions it holds).
        """
        if not len(self) or strength == 0 or not near.count:
            return [Boosts() for _ in range(near.count)]
        keep = near.similarities >= threshold
        if skip is not None:
            keep &= self.questions[near.entries] != skip[near.asked]
        asked, entries, similarities = near.asked[keep], near.entries[keep], near.similarities[keep]
        closeness = (similarities - threshold).astype(np.float64)
        lent = strength * closeness / max(1.0 - threshold, 1e-6) * self.weights[entries].astype(np.float64)
        lent = np.where(self.implicit[entries], lent * implicit_weight, lent)
        lending = lent > 0
        return self._judgements.lend(
            near.count, asked[lending], entries[lending], lent[lending],
            similarities[lending] >= reject_threshold, strength,
        )


@dataclass(frozen=True)
class Neighbours:
    """Past questions close to each of ``count`` questions: the ``asked[k]``-th question is
    ``similarities[k]`` similar to entry ``entries[k]``, in the order of ``asked``."""

    asked: np.ndarray
    entries: np.ndarray
    similarities: np.ndarray
    count: int


class _Judgements:
    """Each entry's confirmed and rejected documents and its owner, as arrays: what ``lend`` lends."""

    def __init__(self, positives: list[list[str]], negatives: list[list[str]], owners: list[str]) -> None:
        code: dict[str, int] = {}
        docs, signs, starts = [], [], [0]
        for confirmed, rejected in zip(positives, negatives):
            for doc_id, sign in [(d, 1.0) for d in confirmed] + [(d, -1.0) for d in rejected]:
                docs.append(code.setdefault(doc_id, len(code)))
                signs.append(sign)
            starts.append(len(docs))
        self.documents = list(code)
        self.docs = np.array(docs, dtype=np.int64)
        self.signs = np.array(signs, dtype=np.float64)
        self.starts = np.array(starts, dtype=np.int64)
        accounts = {"": 0}
        self.owners = np.array([accounts.setdefault(owner, len(accounts)) for owner in owners], dtype=np.int64)
        self.accounts = len(accounts)

    def lend(
        self, count: int, asked: np.ndarray, entries: np.ndarray, lent: np.ndarray, rejecting: np.ndarray,
        strength: float,
    ) -> list[Boosts]:
        """The boosts for ``count`` questions: the ``asked[k]``-th borrows ``lent[k]`` from entry
        ``entries[k]``, its rejections too where ``rejecting[k]``."""
        sizes = self.starts[entries + 1] - self.starts[entries]
        pair = np.repeat(np.arange(len(entries)), sizes)
        item = np.arange(len(pair)) - np.repeat(np.cumsum(sizes) - sizes, sizes) + self.starts[entries][pair]
        counted = (self.signs[item] > 0) | rejecting[pair]
        pair, item = pair[counted], item[counted]
        signed, owners = self.signs[item] * lent[pair], self.owners[entries][pair]
        key = asked[pair] * len(self.documents) + self.docs[item]  # one per question and document
        keys, at = np.unique(key, return_inverse=True)
        trusted = owners == 0
        total = np.bincount(at[trusted], weights=signed[trusted], minlength=len(keys)).astype(np.float64)
        lone = np.zeros(len(keys), dtype=bool)
        if not trusted.all():  # one owner lends its heaviest confirmation less its heaviest rejection
            own = ~trusted
            pairs, group = np.unique(at[own] * self.accounts + owners[own], return_inverse=True)
            confirmed, rejected = np.zeros(len(pairs)), np.zeros(len(pairs))
            up = signed[own] > 0
            np.maximum.at(confirmed, group[up], signed[own][up])
            np.maximum.at(rejected, group[~up], -signed[own][~up])
            net, of = confirmed - rejected, pairs // self.accounts
            backing = np.bincount(of, weights=net > 0, minlength=len(keys))
            lone = (total <= 0) & (backing == 1)
            total += np.bincount(of, weights=net, minlength=len(keys))
        given = np.flatnonzero(total)
        clipped = np.clip(total[given], -strength, strength)
        boosts = [Boosts() for _ in range(count)]
        for key_, boost, alone in zip(keys[given].tolist(), clipped.tolist(), lone[given].tolist()):
            question, doc_id = divmod(key_, len(self.documents))
            boosts[question][self.documents[doc_id]] = boost
            if alone and boost > 0:
                boosts[question].lone.add(self.documents[doc_id])
        return boosts
