import math
from pathlib import Path

import pytest

from retrieval.beir import load_split, read_qrels
from retrieval.evaluation import evaluate, scored, write_trec_run


def test_metrics_match_the_textbook_formulas() -> None:
    run = {"q1": ["a", "b", "c"], "q2": ["x", "y"], "q3": []}
    qrels = {"q1": {"b": 1}, "q2": {"x": 2, "z": 1}, "q3": {"m": 1}}
    ideal_q2 = 2 + 1 / math.log2(3)  # trec_eval's linear gains: grade 2 at rank 1, grade 1 at rank 2
    expected_ndcg = ((1 / math.log2(3)) + (2 / ideal_q2) + 0) / 3
    metrics = evaluate(run, qrels)
    assert metrics["ndcg@10"] == pytest.approx(expected_ndcg)
    assert metrics["mrr@10"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert metrics["recall@100"] == pytest.approx((1 + 1 / 2 + 0) / 3)


def test_mrr_counts_only_the_first_ten() -> None:
    run = {"q": [f"d{i}" for i in range(20)]}
    assert evaluate(run, {"q": {"d10": 1}})["mrr@10"] == 0.0
    assert evaluate(run, {"q": {"d9": 1}})["mrr@10"] == pytest.approx(0.1)


def test_scores_strictly_decrease_so_ties_cannot_reorder() -> None:
    scores = list(scored({"q": ["z", "a", "m"]})["q"].values())
    assert all(earlier > later for earlier, later in zip(scores, scores[1:]))
    # pytrec_eval breaks score ties by document id; "z" first must stay first.
    assert evaluate({"q": ["z", "a"]}, {"q": {"z": 1}})["mrr@10"] == 1.0


def test_trec_run_file_lists_top_100(tmp_path: Path) -> None:
    path = tmp_path / "run.txt"
    write_trec_run({"q1": [f"d{i}" for i in range(150)]}, path)
    lines = path.read_text().splitlines()
    assert len(lines) == 100
    assert lines[0].split() == ["q1", "Q0", "d0", "1", "150.0000", "groundloop"]


def test_qrels_with_or_without_header(tmp_path: Path) -> None:
    path = tmp_path / "test.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t0\n2\td3\t2\n")
    assert read_qrels(path) == {"1": {"d1": 1, "d2": 0}, "2": {"d3": 2}}


def test_a_folder_that_is_not_beir_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="corpus.jsonl is missing"):
        load_split(tmp_path, "test")
