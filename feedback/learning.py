"""Learn a ranker from judged questions; every choice is made on the most recent feedback.

The fusion weight is chosen on every judged question; the memory's similarity, threshold,
strength and reach of rejections with leave-one-out over them; whether a scikit-learn reranker
beats fusion on the most recent 20% (by time), held out. Every choice departs from the simpler or current
one only when it is clearly better (a bootstrap over the questions) and leaves questions about
documents no other question confirmed (new topics) no worse. The chosen recipe is then refit on
all judged questions, so the memory holds everything people said; the held-out score of the
recipe is what the gate compares.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytrec_eval
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from feedback.training import Judged
from retrieval.candidates import gather
from retrieval.evaluation import scored as ranked
from retrieval.features import Candidates, features
from retrieval.keyword import tokenize
from retrieval.memory import SAME_QUESTION, FeedbackMemory
from retrieval.ranking import LearnedRanker, Ranker, scored
from retrieval.retriever import HybridRetriever

HELD_OUT = 0.2
WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SIMILARITIES = tuple((1.0, t) for t in (0.7, 0.75, 0.8, 0.85, 0.9)) + tuple((0.5, t) for t in (0.5, 0.55, 0.6, 0.65, 0.7))
"""(mix, threshold) pairs for the memory's question similarity. By embedding cosine alone, questions
below 0.7 are mostly about different things. Half cosine, half shared terms tells them apart down to
0.5: from there on, 52 of 54 pairs of even SciFact claims share a relevant abstract; from 0.45 to
0.5, 6 of 16 do not."""
STRENGTHS = (0.5, 1.0, 2.0, 4.0)
REJECT_THRESHOLDS = (SAME_QUESTION, 0.9, 0.85, 0.8)
"""How close a question must be for documents rejected on a past one to be pushed down for it."""
UNSEEN_TOLERANCE = 0.0
"""How much nDCG@10 a choice may cost judged questions about documents no other question confirmed."""
CONFIDENCE, RESAMPLES = 0.95, 1000
MODELS: dict[str, Callable[[], object]] = {
    "logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000)),
    "boosting": lambda: HistGradientBoostingClassifier(max_iter=100, class_weight="balanced"),
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

    @property
    def better(self) -> bool:
        return self.held_out_ndcg > self.active_ndcg


def split(judged: list[Judged]) -> tuple[list[Judged], list[Judged]]:
    """Oldest 80% to learn from, most recent 20% to decide on (at least one of each when possible)."""
    cut = len(judged) - max(1, round(len(judged) * HELD_OUT)) if len(judged) > 1 else len(judged)
    return judged[:cut], judged[cut:]


def memory_of(retriever: HybridRetriever, judged: list[Judged]) -> FeedbackMemory:
    questions = [j.question for j in judged]
    return FeedbackMemory(
        retriever.index.embeddings.encode_questions(questions), [j.positives for j in judged],
        [j.negatives for j in judged], tokenize(questions),
    )


def prepare(
    retriever: HybridRetriever,
    judged: list[Judged],
    memory: FeedbackMemory,
    *,
    also: Callable[[Judged, np.ndarray, list[str]], set[str]],
) -> list[Prepared]:
    """Gather each question's candidates, plus the documents ``also`` names, and their features;
    ``memory`` holds the questions' embeddings and terms (``memory_of(retriever, judged)``)."""
    keyword = retriever.index.keyword()
    prepared = []
    for item, vector, terms in zip(judged, memory.vectors, memory.terms):
        wanted = also(item, vector, terms)
        found = gather(retriever.index, keyword, item.question, vector, terms, retriever.candidates, also=wanted)
        prepared.append(Prepared(item, found, features(found, keyword)))
    return prepared


def ndcgs(ranker_for: Callable[[int], Ranker], prepared: list[Prepared]) -> np.ndarray:
    """nDCG@10 of each prepared question (the i-th ranked by ``ranker_for(i)``), documents by best chunk;
    NaN for a question nobody confirmed a document for."""
    run, qrels = {}, {}
    for i, item in enumerate(prepared):
        if not item.judged.positives:
            continue
        kept, scores = scored(ranker_for(i), item.candidates, item.matrix)
        ranking = list(dict.fromkeys(kept.doc_ids[j] for j in np.argsort(-scores, kind="stable")))
        run[str(i)], qrels[str(i)] = ranking[:100], {doc: 1 for doc in item.judged.positives}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(ranked(run)) if qrels else {}
    return np.array([per_query[str(i)]["ndcg_cut_10"] if str(i) in per_query else np.nan for i in range(len(prepared))])


def ndcg(ranker_for: Callable[[int], Ranker], prepared: list[Prepared]) -> float:
    scores = ndcgs(ranker_for, prepared)
    return float(np.nanmean(scores)) if not np.isnan(scores).all() else 0.0


def clearly_better(scores: np.ndarray, than: np.ndarray) -> bool:
    """Higher on average in at least ``CONFIDENCE`` of bootstrap resamples of the questions: a choice
    that wins on a few questions by luck keeps the simpler one."""
    gains = (scores - than)[~np.isnan(than)]
    if not len(gains) or gains.mean() <= 0:
        return False
    resamples = np.random.default_rng(0).integers(0, len(gains), (RESAMPLES, len(gains)))
    return float(np.mean(gains[resamples].mean(axis=1) > 0)) >= CONFIDENCE


def choose(options: list, scores_of: Callable[[object], np.ndarray], unseen: np.ndarray) -> object:
    """The best on average of the first of ``options`` (the simpler or current one) and those clearly
    better than it that leave the ``unseen`` questions (new topics) no worse on average."""
    scores = [scores_of(option) for option in options]
    base = scores[0]
    new_topics = ~np.isnan(base) & unseen

    def fair(score: np.ndarray) -> bool:
        return not new_topics.any() or score[new_topics].mean() >= base[new_topics].mean() - UNSEEN_TOLERANCE

    allowed = [0] + [i for i in range(1, len(options)) if fair(scores[i]) and clearly_better(scores[i], base)]
    return options[max(allowed, key=lambda i: np.nanmean(scores[i]))]


def learn(retriever: HybridRetriever, judged: list[Judged], *, version: str, active: Ranker) -> Outcome:
    """Choose and fit a ranker on ``judged`` (oldest first); measure it and ``active`` on the newest 20%."""
    train, held_out = split(judged)
    memory = memory_of(retriever, judged)
    loosest = {mix: min(t for m, t in SIMILARITIES if m == mix) for mix, _ in SIMILARITIES}

    def worth_gathering(item: Judged, vector: np.ndarray, terms: list[str]) -> set[str]:
        reached = {doc for mix, threshold in loosest.items()
                   for doc in memory.boosts(vector, terms, threshold=threshold, strength=1.0, mix=mix)}
        return set(item.labels) | reached | active.expand(vector, terms)

    prepared = prepare(retriever, judged, memory, also=worth_gathering)
    unseen = _unseen(prepared)
    weights = [active.dense_weight] + [w for w in WEIGHTS if w != active.dense_weight]
    weight = choose(weights, lambda w: ndcgs(lambda _: LearnedRanker(version, w), prepared), unseen)
    settings = _memory_settings(version, weight, memory, prepared, unseen)

    checks, older = prepared[len(train):], memory.first(len(train))
    examples = _examples(prepared[: len(train)])
    checked: dict[str, np.ndarray] = {}

    def on_checks(name: str) -> np.ndarray:
        model = MODELS[name]().fit(*examples) if name != "fusion" else None
        checked[name] = ndcgs(lambda _: LearnedRanker(version, weight, model, older, **settings), checks)
        return checked[name]

    best_model = choose(["fusion", *MODELS] if examples else ["fusion"], on_checks, unseen[len(train):])
    final_model = MODELS[best_model]().fit(*_examples(prepared)) if best_model != "fusion" else None
    return Outcome(
        ranker=LearnedRanker(version, weight, final_model, memory, **settings),
        held_out_ndcg=float(np.nanmean(checked[best_model])) if checks else 0.0,
        active_ndcg=ndcg(lambda _: active, checks),
        counts={"questions": len(judged), "train": len(train), "held_out": len(held_out)},
        choices={"dense_weight": weight, **settings, "model": best_model},
    )


def _unseen(prepared: list[Prepared]) -> np.ndarray:
    """Questions about documents no other question confirmed: how new topics fare."""
    confirmations: dict[str, int] = {}
    for item in prepared:
        for doc in item.judged.positives:
            confirmations[doc] = confirmations.get(doc, 0) + 1
    return np.array([all(confirmations[d] == 1 for d in item.judged.positives) for item in prepared], dtype=bool)


def _memory_settings(
    version: str, weight: float, memory: FeedbackMemory, prepared: list[Prepared], unseen: np.ndarray
) -> dict[str, float]:
    """Similarity, threshold and strength, then the reach of rejections, each measured on every judged
    question with the memory of all the others."""

    def scores_of(settings: dict[str, float]) -> np.ndarray:
        return ndcgs(lambda i: LearnedRanker(version, weight, None, memory, **settings, skip=i), prepared)

    none = {"mix": 1.0, "threshold": 1.0, "strength": 0.0}
    options = [{"mix": m, "threshold": t, "strength": s} for (m, t), s in itertools.product(SIMILARITIES, STRENGTHS)]
    reach = choose([none, *options], scores_of, unseen)
    return choose([{**reach, "reject_threshold": reject} for reject in REJECT_THRESHOLDS], scores_of, unseen)


def _examples(prepared: list[Prepared]) -> tuple[np.ndarray, np.ndarray] | None:
    """Candidate rows labelled by their document: judged relevant 1; judged not, or unjudged, 0."""
    rows, labels = [], []
    for item in prepared:
        rows.append(item.matrix)
        labels += [int(item.judged.labels.get(doc_id, 0.0) > 0) for doc_id in item.candidates.doc_ids]
    if not rows or len(set(labels)) < 2:
        return None
    return np.vstack(rows), np.array(labels)
