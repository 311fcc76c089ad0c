"""Learn a ranker from judged questions; every choice is made on the most recent feedback.

The fusion weight is chosen on every judged question; the memory's similarity, threshold,
strength and reach of rejections with leave-one-out over them; whether a scikit-learn reranker
beats fusion on each account's most recent 20% (by time), held out. Every choice departs from the
simpler or current one only when it is clearly better (a bootstrap over the questions) and leaves
questions about documents no other question confirmed (new topics) no worse. The chosen recipe is then refit on
all judged questions, so the memory holds everything people said; the held-out score of the
recipe is what the gate compares.

Accounts, not rows, are what counts (``feedback.influence``): the memory weighs reviewers and
agreement strongly and a lone account weakly and within its share; every choice and the held-out
judgement weigh each question by its account's capped share; no choice is made, allowed or vetoed
by one account's questions alone; and a candidate whose held-out gain disappears without one
account's questions is refused, with the reason.
"""

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytrec_eval
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from feedback.influence import TRUSTED, entries, question_owners, question_weights, vouched
from feedback.training import Judged
from retrieval.candidates import gather
from retrieval.evaluation import scored as ranked
from retrieval.features import Candidates, features
from retrieval.keyword import tokenize
from retrieval.memory import SAME_QUESTION, Boosts, FeedbackMemory, Neighbours
from retrieval.ranking import LearnedRanker, Ranker, first_documents, scored
from retrieval.retriever import HybridRetriever

HELD_OUT = 0.2
WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SIMILARITIES = tuple((1.0, t) for t in (0.7, 0.75, 0.8, 0.85, 0.9)) + tuple((0.5, t) for t in (0.5, 0.55, 0.6, 0.65, 0.7))
"""(mix, threshold) pairs for the memory's question similarity. By embedding cosine alone, questions
below 0.7 are mostly about different things. Half cosine, half shared terms tells them apart down to
0.5: from there on, 52 of 54 pairs of even SciFact claims share a relevant abstract; from 0.45 to
0.5, 6 of 16 do not."""
STRENGTHS = (0.5, 1.0, 2.0, 4.0, 8.0)
REJECT_THRESHOLDS = (SAME_QUESTION, 0.9, 0.85, 0.8)
"""How close a question must be for documents rejected on a past one to be pushed down for it."""
IMPLICIT_WEIGHTS = (0.0, 0.5, 1.0)
"""How much opened sources lend the memory; the first (not at all) stays unless another is clearly better."""
UNSEEN_TOLERANCE = 0.0
"""How much nDCG@10 a choice may cost judged questions about documents no other question confirmed."""
CONFIDENCE, RESAMPLES = 0.95, 1000
CUT = 10
"""Choices are judged by nDCG@10."""
MODELS: dict[str, Callable[[], object]] = {
    "logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000)),
    "boosting": lambda: HistGradientBoostingClassifier(max_iter=100, class_weight="balanced", random_state=0),
}


@dataclass
class Prepared:
    """A judged question with its candidates and features, gathered once for every configuration."""

    judged: Judged
    candidates: Candidates
    matrix: np.ndarray


@dataclass
class Outcome:
    ranker: LearnedRanker
    held_out_ndcg: float
    active_ndcg: float
    counts: dict[str, int]
    choices: dict[str, object] = field(default_factory=dict)
    refusal: str | None = None
    """Why the candidate may not serve although it scored higher: its gain comes from one account alone."""

    @property
    def better(self) -> bool:
        return self.held_out_ndcg > self.active_ndcg and self.refusal is None


def split(owners: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Of the questions (oldest first) each account owns, the oldest 80% to learn from and the most
    recent 20% to decide on: one account asking last cannot fill the held-out slice. At least one
    question is held out when there are two."""
    held: list[int] = []
    for account in dict.fromkeys(owners):
        own = [i for i, owner in enumerate(owners) if owner == account]
        held += own[len(own) - round(len(own) * HELD_OUT):]
    if not held and len(owners) > 1:
        held = [len(owners) - 1]
    held_out = np.zeros(len(owners), dtype=bool)
    held_out[held] = True
    return np.flatnonzero(~held_out), np.flatnonzero(held_out)


@dataclass
class Encoded:
    """Each judged question's embedding and terms, computed once."""

    vectors: np.ndarray
    terms: list[list[str]]


def encode(retriever: HybridRetriever, judged: list[Judged]) -> Encoded:
    questions = [j.question for j in judged]
    return Encoded(retriever.index.embeddings.encode_questions(questions), tokenize(questions))


def memory_of(encoded: Encoded, judged: list[Judged], *, account_share: float = 1.0) -> FeedbackMemory:
    """The memory of ``judged``: one entry per question and owner, weighed by ``feedback.influence``."""
    made = entries(judged, account_share=account_share)
    rows = np.array([e.question for e in made], dtype=np.int64)
    return FeedbackMemory(
        encoded.vectors[rows] if len(made) else encoded.vectors[:0], [e.positives for e in made],
        [e.negatives for e in made], [encoded.terms[i] for i in rows], [e.owner for e in made],
        np.array([e.weight for e in made], dtype=np.float32), rows, np.array([e.implicit for e in made], dtype=bool),
    )


def prepare(
    retriever: HybridRetriever, judged: list[Judged], encoded: Encoded, *, also: list[set[str]]
) -> list[Prepared]:
    """Gather each question's candidates, plus the documents ``also`` names for it, and their features."""
    keyword = retriever.index.keyword()
    prepared = []
    for item, vector, terms, wanted in zip(judged, encoded.vectors, encoded.terms, also):
        found = gather(retriever.index, keyword, item.question, vector, terms, retriever.candidates, also=wanted)
        prepared.append(Prepared(item, found, features(found, keyword)))
    return prepared


def ndcgs(ranker: Ranker, prepared: list[Prepared], boosts: list[Boosts] | None = None) -> np.ndarray:
    """nDCG@10 of each prepared question ranked by ``ranker`` (the i-th with ``boosts[i]`` when they were
    worked out for all questions at once), documents by best chunk; NaN for a question nobody confirmed
    a document for."""
    run, qrels = {}, {}
    for i, item in enumerate(prepared):
        if not item.judged.positives:
            continue
        kept, scores = scored(ranker, item.candidates, item.matrix, boosts=boosts[i] if boosts else None)
        run[str(i)] = list(first_documents(scores, kept.doc_ids, CUT))  # nDCG@10 looks no further
        qrels[str(i)] = {doc: 1 for doc in item.judged.positives}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut.{CUT}"}).evaluate(ranked(run)) if qrels else {}
    found = {int(i): measured[f"ndcg_cut_{CUT}"] for i, measured in per_query.items()}
    return np.array([found.get(i, np.nan) for i in range(len(prepared))])


def mean(scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The ``weights``-weighted mean of the scores that are not NaN (0 when there are none)."""
    known = ~np.isnan(scores)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=float)
    if not known.any() or weights[known].sum() <= 0:
        return 0.0
    return float(np.average(scores[known], weights=weights[known]))


def clearly_better(
    scores: np.ndarray, than: np.ndarray, weights: np.ndarray | None = None, owners: list[str] | None = None
) -> bool:
    """Higher on average in at least ``CONFIDENCE`` of bootstrap resamples of the questions (drawn in
    proportion to their ``weights``): a choice that wins on a few questions by luck keeps the simpler one.
    The questions of the account among ``owners`` that gains most are left out first: a choice that one
    account's questions make clearly better is not."""
    known = ~np.isnan(than)
    gains = (scores - than)[known]
    p = np.ones(len(gains)) if weights is None else np.asarray(weights, dtype=float)[known]
    counted = ~_heaviest(scores - than, weights, owners, known)[known]
    if not counted.any() or p[counted].sum() <= 0 or np.average(gains[counted], weights=p[counted]) <= 0:
        return False
    resamples = _resamples(len(gains), (p / p.sum()).tobytes())
    drawn = counted[resamples]
    means = np.where(drawn, gains[resamples], 0.0).sum(axis=1) / np.maximum(drawn.sum(axis=1), 1)
    return float(np.mean(means > 0)) >= CONFIDENCE


def _heaviest(
    change: np.ndarray, weights: np.ndarray | None, owners: list[str] | None, among: np.ndarray
) -> np.ndarray:
    """The questions of the account (among ``owners``) whose questions ``among`` add most to
    ``change``, weighted: none when no account adds anything."""
    codes, count = _accounts(owners or [TRUSTED] * len(change))
    counted = among & (codes >= 0)
    w = np.ones(len(change)) if weights is None else np.asarray(weights, dtype=float)
    added = np.bincount(codes[counted], weights=(w * change)[counted], minlength=count)
    if not count or added.max() <= 0:
        return np.zeros(len(change), dtype=bool)
    return codes == int(np.argmax(added))


def _accounts(owners: list[str]) -> tuple[np.ndarray, int]:
    """A number per question for the account that owns it (-1 for ``TRUSTED``), and how many accounts."""
    numbers: dict[str, int] = {}
    codes = [-1 if owner == TRUSTED else numbers.setdefault(owner, len(numbers)) for owner in owners]
    return np.array(codes, dtype=np.int64), len(numbers)


@functools.lru_cache(maxsize=1)
def _resamples(count: int, p: bytes) -> np.ndarray:
    """``RESAMPLES`` draws of ``count`` questions, in proportion to ``p`` (float64 bytes): every option
    of one choice is compared with the simpler one on the same draws, made once."""
    return np.random.default_rng(0).choice(count, (RESAMPLES, count), p=np.frombuffer(p))


def choose(
    options: list, scores_of: Callable[[object], np.ndarray], unseen: np.ndarray, weights: np.ndarray | None = None,
    owners: list[str] | None = None,
) -> object:
    """The best on average of the first of ``options`` (the simpler or current one) and those clearly
    better than it that leave the ``unseen`` questions (new topics) no worse on average; each question
    counts by its ``weights`` (its account's share), and no one of the ``owners`` of the questions
    decides between two options alone."""
    scores = [scores_of(option) for option in options]
    base = scores[0]
    new_topics = ~np.isnan(base) & unseen
    w = np.ones(len(base)) if weights is None else np.asarray(weights, dtype=float)

    def fair(score: np.ndarray) -> bool:
        counted = new_topics & ~_heaviest(base - score, w, owners, new_topics)  # one account does not veto
        return not counted.any() or mean(score[counted], w[counted]) >= mean(base[counted], w[counted]) - UNSEEN_TOLERANCE

    allowed = [0] + [
        i for i in range(1, len(options)) if fair(scores[i]) and clearly_better(scores[i], base, w, owners)
    ]
    return options[_best(allowed, scores, w, owners)]


def _best(allowed: list[int], scores: list[np.ndarray], weights: np.ndarray, owners: list[str] | None) -> int:
    """The allowed option best on average with any one account's questions left out (its worst such
    average): an option that wins only on one account's questions does not win; ties go to the first."""
    return max(allowed, key=lambda i: without_any_one(scores[i], weights, owners))


def without_any_one(scores: np.ndarray, weights: np.ndarray, owners: list[str] | None) -> float:
    """The lowest of the weighted means of ``scores`` (NaN left out) with one account's questions left
    out, over the accounts among ``owners``; the plain mean when there are none."""
    known = ~np.isnan(scores)
    if owners is None or not known.any():
        return mean(scores, weights)
    codes, count = _accounts(owners)
    counted = known & (codes >= 0)
    w = np.where(known, weights, 0.0)
    weighted = w * np.where(known, scores, 0.0)
    own = np.bincount(codes[counted], weights=weighted[counted], minlength=count)
    own_weight = np.bincount(codes[counted], weights=w[counted], minlength=count)
    rest = w.sum() - own_weight
    means = [(weighted.sum() - own[a]) / rest[a] for a in range(count) if rest[a] > 1e-12 and own_weight[a] > 0]
    return min(means) if means else mean(scores, weights)


def lone_gain(candidate: np.ndarray, active: np.ndarray, owners: list[str], weights: np.ndarray) -> str | None:
    """The account whose held-out questions alone make ``candidate`` better than ``active``: without
    them (leave one account out) it is not; None when no one account carries the gain."""
    if mean(candidate, weights) <= mean(active, weights):
        return None
    for account in sorted(set(owners) - {TRUSTED}):
        others = np.array([owner != account for owner in owners])
        if (~np.isnan(candidate[others])).any() and mean(candidate[others], weights[others]) <= mean(active[others], weights[others]):
            return account
        if not (~np.isnan(candidate[others])).any():
            return account
    return None


def learn(
    retriever: HybridRetriever, judged: list[Judged], *, version: str, active: Ranker, account_share: float = 1.0,
    names: Callable[[str], str] = str,
) -> Outcome:
    """Choose and fit a ranker on ``judged`` (oldest first); measure it and ``active`` on each account's
    newest 20%.

    ``account_share`` caps any one account's share of the memory and of every judgement; ``names``
    turns an account id into the name a refusal shows."""
    encoded = encode(retriever, judged)
    memory = memory_of(encoded, judged, account_share=account_share)
    owners, trusted = question_owners(judged), vouched(judged)
    weights = question_weights(owners, account_share=account_share, trusted=trusted)
    train, held_out = split(owners)
    loosest = {mix: min(t for m, t in SIMILARITIES if m == mix) for mix, _ in SIMILARITIES}
    near = {mix: memory.neighbours(encoded.vectors, encoded.terms, mix=mix, floor=floor)
            for mix, floor in loosest.items()}
    reached = [memory.lend(near[mix], threshold=floor, strength=1.0) for mix, floor in loosest.items()]
    worth_gathering = [
        set(item.labels).union(*(boosts[i] for boosts in reached)) | active.expand(vector, terms)
        for i, (item, vector, terms) in enumerate(zip(judged, encoded.vectors, encoded.terms))
    ]
    prepared = prepare(retriever, judged, encoded, also=worth_gathering)
    unseen = _unseen(prepared)
    dense_weights = [active.dense_weight] + [w for w in WEIGHTS if w != active.dense_weight]
    weight = choose(dense_weights, lambda w: ndcgs(LearnedRanker(version, w), prepared), unseen, weights, owners)
    settings = _memory_settings(version, weight, memory, near, prepared, unseen, weights, owners)

    checks, held_owners = [prepared[i] for i in held_out], [owners[i] for i in held_out]
    older = memory.take(np.flatnonzero(~np.isin(memory.questions, held_out)))
    held_weights = question_weights(held_owners, account_share=account_share, trusted=[trusted[i] for i in held_out])
    examples = _examples(prepared, train, memory)
    checked: dict[str, np.ndarray] = {}

    def on_checks(name: str) -> np.ndarray:
        ranker = LearnedRanker(version, weight, _fit(name, examples), older, **settings)
        checked[name] = ndcgs(ranker, checks)
        return checked[name]

    with threadpool_limits(limits=1):  # threads waiting for a busy core spin: one is faster on a shared machine
        models = ["fusion", *MODELS] if examples else ["fusion"]
        best_model = choose(models, on_checks, unseen[held_out], held_weights, held_owners)
        final_model = _fit(best_model, _examples(prepared, np.arange(len(prepared)), memory))
    active_scores = ndcgs(active, checks)
    alone = lone_gain(checked[best_model], active_scores, held_owners, held_weights) if checks else None
    return Outcome(
        ranker=LearnedRanker(version, weight, final_model, memory, **settings),
        held_out_ndcg=mean(checked[best_model], held_weights) if checks else 0.0,
        active_ndcg=mean(active_scores, held_weights),
        counts={"questions": len(judged), "train": len(train), "held_out": len(held_out),
                "accounts": len(set(owners) - {TRUSTED}), "memory_entries": len(memory)},
        choices={"dense_weight": weight, **settings, "model": best_model},
        refusal=f"its gain comes from one account alone ({names(alone)})" if alone else None,
    )


def _fit(name: str, examples: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> object:
    if name == "fusion" or examples is None:
        return None
    rows, labels, weights = examples
    model = MODELS[name]()
    if hasattr(model, "steps"):
        return model.fit(rows, labels, **{f"{model.steps[-1][0]}__sample_weight": weights})
    return model.fit(rows, labels, sample_weight=weights)


def _unseen(prepared: list[Prepared]) -> np.ndarray:
    """Questions about documents no other question confirmed: how new topics fare."""
    confirmations: dict[str, int] = {}
    for item in prepared:
        for doc in item.judged.positives:
            confirmations[doc] = confirmations.get(doc, 0) + 1
    return np.array([all(confirmations[d] == 1 for d in item.judged.positives) for item in prepared], dtype=bool)


def _memory_settings(
    version: str, weight: float, memory: FeedbackMemory, near: dict[float, Neighbours], prepared: list[Prepared],
    unseen: np.ndarray, weights: np.ndarray, owners: list[str],
) -> dict[str, float]:
    """Similarity, threshold, strength and how much opened sources lend, then the reach of rejections,
    each measured on every judged question with the memory of all the others."""
    itself = np.arange(len(prepared))  # each judged question leaves its own entries out

    def scores_of(settings: dict[str, float]) -> np.ndarray:
        ranker = LearnedRanker(version, weight, None, memory, **settings)
        return ndcgs(ranker, prepared, ranker.lend(near[ranker.mix], skip=itself))

    none = {"mix": 1.0, "threshold": 1.0, "strength": 0.0, "implicit_weight": 0.0}
    opened = IMPLICIT_WEIGHTS if memory.implicit.any() else IMPLICIT_WEIGHTS[:1]
    options = [{"mix": m, "threshold": t, "strength": s, "implicit_weight": w}
               for (m, t), s, w in itertools.product(SIMILARITIES, STRENGTHS, opened)]
    reach = choose([none, *options], scores_of, unseen, weights, owners)
    return choose([{**reach, "reject_threshold": reject} for reject in REJECT_THRESHOLDS], scores_of, unseen, weights,
                  owners)


def _examples(
    prepared: list[Prepared], questions: np.ndarray, memory: FeedbackMemory
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Candidate rows of the ``questions`` labelled by their document: judged relevant 1; judged not, or
    unjudged, 0; each question's rows weigh what its heaviest explicit memory entry does (its account's
    share)."""
    heaviest: dict[int, float] = {}
    for question, entry_weight, implicit in zip(memory.questions, memory.weights, memory.implicit):
        if not implicit:
            heaviest[int(question)] = max(heaviest.get(int(question), 0.0), float(entry_weight))
    rows, labels, weights = [], [], []
    for i in questions.tolist():
        item = prepared[i]
        if not item.judged.labels:
            continue
        rows.append(item.matrix)
        labels += [int(item.judged.labels.get(doc_id, 0.0) > 0) for doc_id in item.candidates.doc_ids]
        weights += [heaviest.get(i, 0.0)] * len(item.candidates)
    if not rows or len(set(labels)) < 2 or not any(weights):
        return None
    return np.vstack(rows), np.array(labels), np.array(weights)
