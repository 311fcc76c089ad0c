"""The learned ranker's parts: the feedback memory, and ranking with and without it."""

from pathlib import Path

import numpy as np
import pytest

from retrieval.ingest import ingest
from retrieval.memory import FeedbackMemory
from retrieval.ranking import FusionRanker, LearnedRanker
from retrieval.retriever import HybridRetriever


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_memory_boost_grows_with_similarity_and_stops_at_the_threshold() -> None:
    memory = FeedbackMemory(vectors=np.stack([unit(1, 0), unit(0, 1)]), positives=[["a"], ["b"]], negatives=[["c"], []])
    assert memory.boosts(unit(1, 0), [], threshold=0.8, strength=0.5) == pytest.approx({"a": 0.5, "c": -0.5})
    halfway = memory.boosts(unit(1, 0.4), [], threshold=0.8, strength=0.5)
    assert 0 < halfway["a"] < 0.5
    assert "c" not in halfway  # rejected documents count for the same question only
    assert memory.boosts(unit(1, 1), [], threshold=0.8, strength=0.5) == {}


def test_shared_terms_reach_a_question_that_only_the_cosine_would_miss() -> None:
    memory = FeedbackMemory(np.stack([unit(1, 0)]), [["a"]], [[]], terms=[["brca1", "mutat", "cancer"]])
    asked = unit(1, 1.2)  # cosine ≈ 0.64 with the past question
    assert memory.boosts(asked, ["brca1", "mutat", "cancer"], threshold=0.7, strength=1.0) == {}
    same_terms = memory.boosts(asked, ["brca1", "mutat", "cancer"], threshold=0.7, strength=1.0, mix=0.5)
    assert same_terms["a"] == pytest.approx((0.5 * 0.64 + 0.5 - 0.7) / 0.3, abs=0.01)
    assert memory.boosts(asked, ["tea", "brew"], threshold=0.7, strength=1.0, mix=0.5) == {}


@pytest.fixture
def index(open_index, corpus: Path):
    index = open_index()
    ingest(index, [corpus], chunk_size=2000, chunk_overlap=200, max_bytes=10**6)
    return index


def test_without_a_close_past_question_the_ranking_is_exactly_fusion(index, corpus: Path) -> None:
    past = index.embeddings.encode_questions(["what should I drink in the morning"])
    tea, river = str((corpus / "tea.txt").resolve()), str((corpus / "rivers.html").resolve())
    learned = LearnedRanker(
        "v1", memory=FeedbackMemory(past, [[tea]], [[river]]), threshold=0.8, strength=1.0, reject_threshold=0.8
    )
    for question in ("Which way does the Nile flow?", "XK-42b bearing", "how do volcanoes erupt"):
        assert HybridRetriever(index=index, ranker=learned).hits(question) == HybridRetriever(
            index=index, ranker=FusionRanker()
        ).hits(question)


def test_a_close_past_question_brings_its_confirmed_document_first(index, corpus: Path) -> None:
    river = str((corpus / "rivers.html").resolve())
    past = index.embeddings.encode_questions(["what should I drink in the morning"])
    learned = LearnedRanker("v1", memory=FeedbackMemory(past, [[river]], [[]]), threshold=0.8, strength=1.0)
    question = "What should I drink in the morning?"
    assert HybridRetriever(index=index, ranker=FusionRanker()).rank_documents(question, 1)[0][0] != river
    assert HybridRetriever(index=index, ranker=learned).rank_documents(question, 1)[0][0] == river


def test_rejections_reach_close_questions_only_as_far_as_asked() -> None:
    memory = FeedbackMemory(vectors=np.stack([unit(1, 0)]), positives=[["a"]], negatives=[["c"]])
    close = unit(1, 0.4)  # cosine ≈ 0.93 with the past question
    assert "c" not in memory.boosts(close, [], threshold=0.8, strength=1.0)
    pushed = memory.boosts(close, [], threshold=0.8, strength=1.0, reject_threshold=0.9)
    assert pushed["c"] == -pushed["a"] < 0
    assert "c" not in memory.boosts(unit(1, 0.6), [], threshold=0.8, strength=1.0, reject_threshold=0.9)  # ≈ 0.86


def test_a_document_rejected_on_a_close_question_moves_down(index, corpus: Path) -> None:
    question = "How hot should the water be for green tea?"
    fusion = [doc for doc, _ in HybridRetriever(index=index, ranker=FusionRanker()).rank_documents(question, 5)]
    past = index.embeddings.encode_questions(["What water temperature is right for green tea?"])
    assert float(past[0] @ index.embeddings.encode_questions([question])[0]) < 0.95
    rejected = LearnedRanker(
        "v1", memory=FeedbackMemory(past, [[]], [[fusion[0]]]), threshold=0.5, strength=4.0, reject_threshold=0.5
    )
    learned = [doc for doc, _ in HybridRetriever(index=index, ranker=rejected).rank_documents(question, 5)]
    assert learned[0] == fusion[1] and learned.index(fusion[0]) > 0
    same_question_only = LearnedRanker("v1", memory=FeedbackMemory(past, [[]], [[fusion[0]]]), threshold=0.5, strength=4.0)
    assert HybridRetriever(index=index, ranker=same_question_only).rank_documents(question, 5)[0][0] == fusion[0]


def test_a_past_question_is_embedded_exactly_as_when_it_is_asked(embeddings) -> None:
    """Otherwise the same question asked again would not count as the same question."""
    questions = ["Does green tea lower blood pressure?", "Which way does the Nile flow?", "How do volcanoes erupt?"]
    together = embeddings.encode_questions(questions)
    asked = embeddings.encode_questions([questions[1]])[0]
    assert np.array_equal(together[1], asked)


def test_lending_to_every_judged_question_at_once_gives_what_each_would_get_alone() -> None:
    """A retrain measures the memory on all its questions at once; each must get exactly the boosts it
    gets asked alone of the memory without its own entries."""
    chance = np.random.default_rng(7)
    vectors = chance.normal(size=(12, 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    questions = np.array([0, 0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9])  # two entries for questions 0 and 3
    memory = FeedbackMemory(
        vectors[questions], [[f"d{q % 4}", f"d{q % 3 + 4}"] for q in questions], [[f"d{(q + 1) % 4}"] for q in questions],
        [["gene", f"t{q % 2}"] for q in questions], ["", "ann", "ann", "bob", "", "cat", "ann", "bob", "", "cat", "ann", ""],
        chance.uniform(0.2, 1.0, size=12), questions, np.arange(12) % 5 == 4,
    )
    asked = vectors[[0, 2, 3, 4, 6, 7, 8, 9, 10, 11]]
    terms = [["gene", f"t{q % 2}"] for q in range(10)]
    for mix, threshold in ((1.0, -0.5), (0.5, 0.0), (1.0, 0.3)):
        settings = {"threshold": threshold, "strength": 2.0, "reject_threshold": threshold + 0.2, "implicit_weight": 0.5}
        together = memory.lend(memory.neighbours(asked, terms, mix=mix, floor=threshold), skip=np.arange(10), **settings)
        for q in range(10):
            alone = memory.take(np.flatnonzero(memory.questions != q)).boosts(asked[q], terms[q], mix=mix, **settings)
            assert together[q] == pytest.approx(alone) and together[q].lone == alone.lone
        assert any(together) and any(b.lone for b in together)  # the comparison covers lone documents too
