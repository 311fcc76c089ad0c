"""Learn a ranker from judged questions; every choice is made on the most recent feedback.

The most recent 20% of judged questions (by time) are held out. On them are chosen: the
fusion weight, the memory's threshold and strength, and whether a scikit-learn reranker
beats fusion. The chosen recipe is then refit on all judged questions, so the memory holds
everything people said; the held-out score of the recipe is what the gate compares.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from feedback.training import Judged
from retrieval.candidates import gather
from retrieval.evaluation import evaluate
from retrieval.features import Candidates, features
from retrieval.memory import FeedbackMemory
from retrieval.ranking import LearnedRanker, Ranker, scored
from retrieval.retriever import HybridRetriever

HELD_OUT = 0.2
WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
THRESHOLDS = (0.7, 0.75, 0.8, 0.85, 0.9)
"""Below 0.7 all-MiniLM-L6-v2 mostly pairs questions about different things (measured on SciFact claims)."""
STRENGTHS = (0.5, 1.0, 2.0, 4.0)
UNSEEN_TOLERANCE = 0.0
"""How much nDCG@10 the memory may cost held-out questions about documents nobody confirmed."""
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
    vectors = retriever.index.embeddings.encode([j.question for j in judged]) if judged else np.zeros((0, 384))
    return FeedbackMemory(vectors.astype(np.float32), [j.positives for j in judged], [j.negatives for j in judged])


def prepare(
    retriever: HybridRetriever, judged: list[Judged], *, also: Callable[[Judged, np.ndarray], set[str]]
) -> list[Prepared]:
    """Gather each question's candidates, plus the documents ``also`` names, and their features."""
    keyword = retriever.index.keyword()
    vectors = retriever.index.embeddings.encode([j.question for j in judged]) if judged else []
    prepared = []
    for item, vector in zip(judged, vectors):
        found = gather(retriever.index, keyword, item.question, vector, retriever.candidates, also=also(item, vector))
        prepared.append(Prepared(item, found, features(found, keyword)))
    return prepared


def ndcg(ranker_for: Callable[[int], Ranker], prepared: list[Prepared]) -> float:
    """nDCG@10 over the prepared questions (the i-th ranked by ``ranker_for(i)``), documents by best chunk."""
    run, qrels = {}, {}
    for i, item in enumerate(prepared):
        if not item.judged.positives:
            continue
        kept, scores = scored(ranker_for(i), item.candidates, item.matrix)
        ranking = list(dict.fromkeys(kept.doc_ids[j] for j in np.argsort(-scores, kind="stable")))
        run[str(i)], qrels[str(i)] = ranking[:100], {doc: 1 for doc in item.judged.positives}
    return evaluate(run, qrels)["ndcg@10"] if qrels else 0.0


def learn(retriever: HybridRetriever, judged: list[Judged], *, version: str, active: Ranker) -> Outcome:
    """Choose and fit a ranker on ``judged`` (oldest first); measure it and ``active`` on the newest 20%."""
    train, held_out = split(judged)
    memory = memory_of(retriever, judged)
    reach = min(THRESHOLDS)

    def worth_gathering(item: Judged, vector: np.ndarray) -> set[str]:
        return set(item.labels) | set(memory.boosts(vector, threshold=reach, strength=1.0)) | active.expand(vector)

    prepared = prepare(retriever, judged, also=worth_gathering)
    weight = max(WEIGHTS, key=lambda w: ndcg(lambda _: LearnedRanker(version, w), prepared))
    threshold, strength = _memory_settings(version, weight, memory, prepared)

    checks, older = prepared[len(train):], memory.first(len(train))
    best_model, best = "fusion", ndcg(lambda _: LearnedRanker(version, weight, None, older, threshold, strength), checks)
    examples = _examples(prepared[: len(train)])
    for name, make in MODELS.items() if examples else ():
        model = make().fit(*examples)
        score = ndcg(lambda _: LearnedRanker(version, weight, model, older, threshold, strength), checks)
        if score > best:
            best_model, best = name, score
    final_model = MODELS[best_model]().fit(*_examples(prepared)) if best_model != "fusion" else None
    return Outcome(
        ranker=LearnedRanker(version, weight, final_model, memory, threshold, strength),
        held_out_ndcg=best,
        active_ndcg=ndcg(lambda _: active, checks),
        counts={"questions": len(judged), "train": len(train), "held_out": len(held_out)},
        choices={"dense_weight": weight, "threshold": threshold, "strength": strength, "model": best_model},
    )


def _memory_settings(
    version: str, weight: float, memory: FeedbackMemory, prepared: list[Prepared]
) -> tuple[float, float]:
    """Threshold and strength, measured on every judged question with the memory of all the others.

    The best on all of them, among the settings that leave questions about documents no other
    question confirmed no worse than without the memory: the memory must not hurt new topics.
    """
    confirmations: dict[str, int] = {}
    for item in prepared:
        for doc in item.judged.positives:
            confirmations[doc] = confirmations.get(doc, 0) + 1
    unseen = [i for i, item in enumerate(prepared) if all(confirmations[d] == 1 for d in item.judged.positives)]

    def measured(settings: tuple[float, float], on: list[int]) -> float:
        chosen = [prepared[i] for i in on]
        return ndcg(lambda j: LearnedRanker(version, weight, None, memory, *settings, skip=on[j]), chosen)

    floor = measured((1.0, 0.0), unseen) - UNSEEN_TOLERANCE
    everyone = list(range(len(prepared)))
    options = [(1.0, 0.0)] + [s for s in itertools.product(THRESHOLDS, STRENGTHS) if measured(s, unseen) >= floor]
    return max(options, key=lambda settings: measured(settings, everyone))


def _examples(prepared: list[Prepared]) -> tuple[np.ndarray, np.ndarray] | None:
    """Candidate rows labelled by their document: judged relevant 1; judged not, or unjudged, 0."""
    rows, labels = [], []
    for item in prepared:
        rows.append(item.matrix)
        labels += [int(item.judged.labels.get(doc_id, 0.0) > 0) for doc_id in item.candidates.doc_ids]
    if not rows or len(set(labels)) < 2:
        return None
    return np.vstack(rows), np.array(labels)
