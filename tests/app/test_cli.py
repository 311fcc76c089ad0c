"""The ``groundloop`` command as users run it: in-process for speed, as a process for error output."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli

GROUNDLOOP = str(Path(sys.executable).parent / "groundloop")
runner = CliRunner()


def invoke(data_dir: Path, *args: str, env: dict | None = None):
    result = runner.invoke(cli, ["--data-dir", str(data_dir), *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_ingest_reports_counts_and_failures(tmp_path: Path, corpus: Path, embeddings) -> None:
    (corpus / "junk.txt").write_bytes(b"\x00\x00binary")
    first = invoke(tmp_path / "data", "ingest", str(corpus))
    assert "5 files, 4 chunks: 4 added, 0 skipped (unchanged), 0 replaced" in first.stdout
    assert f"failed {corpus / 'junk.txt'}: binary content, not text" in first.stdout
    second = invoke(tmp_path / "data", "ingest", str(corpus))
    assert "0 added, 4 skipped (unchanged)" in second.stdout


def test_search_json_lists_ranked_chunks(tmp_path: Path, corpus: Path, embeddings) -> None:
    invoke(tmp_path / "data", "ingest", str(corpus))
    hits = json.loads(invoke(tmp_path / "data", "search", "temperature for green tea", "-k", "2", "--json").stdout)
    assert [hit["rank"] for hit in hits] == [1, 2]
    assert hits[0]["title"] == "tea" and "80 degrees" in hits[0]["text"]


def beir_fixture(folder: Path) -> Path:
    """Five documents, three judged test queries and one judged only in train."""
    docs = {
        "d1": ("Penguins", "Emperor penguins breed during the Antarctic winter."),
        "d2": ("Copper", "Copper conducts electricity and heat very well."),
        "d3": ("Wiring", "Household wiring is usually made of copper conductors."),
        "d4": ("Bread", "Sourdough bread rises because of wild yeast."),
        "d5": ("Tides", "Tides are caused by the gravitational pull of the moon."),
    }
    folder.mkdir()
    with (folder / "corpus.jsonl").open("w") as out:
        for doc_id, (title, text) in docs.items():
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    queries = {"q1": "when do emperor penguins breed", "q2": "what metal is used in electrical wiring",
               "q3": "why does sourdough rise", "q4": "what causes tides"}
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items()))
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\nq2\td2\t1\nq3\td4\t1\n")
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq4\td5\t1\n")
    return folder


def test_eval_on_a_tiny_beir_dataset(tmp_path: Path, embeddings) -> None:
    dataset = beir_fixture(tmp_path / "tiny")
    run_file = tmp_path / "run.txt"
    result = json.loads(
        invoke(tmp_path / "data", "eval", str(dataset), "--split", "test", "--json", "--run-out", str(run_file)).stdout
    )
    assert result["queries"] == 3
    assert {"ndcg@10", "recall@100", "mrr@10", "latency_ms_p50", "latency_ms_p95"} <= set(result)

    ranking: dict[str, list[str]] = {}
    for line in run_file.read_text().splitlines():
        qid, _, doc, rank, _, _ = line.split()
        ranking.setdefault(qid, []).append(doc)
    assert ranking["q1"][0] == "d1" and ranking["q3"][0] == "d4"
    assert sorted(ranking["q2"]) == ["d1", "d2", "d3", "d4", "d5"]

    def dcg(gains: list[int]) -> float:
        return sum(g / math.log2(i + 2) for i, g in enumerate(gains))  # trec_eval's linear gain

    grades = {"d3": 2, "d2": 1}
    q2 = dcg([grades.get(d, 0) for d in ranking["q2"]]) / dcg([2, 1])
    assert result["ndcg@10"] == pytest.approx((1 + q2 + 1) / 3)
    assert result["recall@100"] == 1.0

    again = invoke(tmp_path / "data", "eval", str(dataset), "--split", "test", "--json")
    assert json.loads(again.stdout)["ndcg@10"] == result["ndcg@10"]


def test_empty_query_is_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run([GROUNDLOOP, "--data-dir", str(tmp_path), "search", "   "], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: The question is empty: type a few words to search for."


def test_chroma_server_down_is_one_line_naming_the_url(tmp_path: Path) -> None:
    done = subprocess.run(
        [GROUNDLOOP, "--data-dir", str(tmp_path), "search", "anything"],
        capture_output=True,
        text=True,
        env={"GROUNDLOOP_CHROMA_URL": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "error: Cannot reach the Chroma server at http://127.0.0.1:9."


def test_ask_json_prints_the_result_object(tmp_path: Path, corpus: Path, embeddings) -> None:
    invoke(tmp_path / "data", "ingest", str(corpus))
    result = json.loads(invoke(tmp_path / "data", "ask", "Which sea does the Nile flow into?", "--json").stdout)
    assert result["answer"] == "The Nile flows north into the Mediterranean Sea [1]."
    assert result["citations"][0]["doc_id"] == str((corpus / "rivers.html").resolve())
    assert result["verdict"] == "ok" and result["reasons"] == []
    assert result["timings_ms"]["total"] > 0


def test_ask_prints_the_answer_its_sources_and_any_flag(tmp_path: Path, corpus: Path, embeddings) -> None:
    invoke(tmp_path / "data", "ingest", str(corpus))
    shown = invoke(tmp_path / "data", "ask", "What is the airspeed of an unladen swallow?").stdout
    assert shown.startswith("I could not find anything in the indexed documents that answers this.\n")
    assert "  [1] " in shown
    assert "Flagged for review: " in shown and "the answer cites no source" in shown


def test_too_long_question_is_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run([GROUNDLOOP, "--data-dir", str(tmp_path), "ask", "x" * 5000], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: The question is too long (5,000 characters; the limit is 4,000)."


def test_search_ranks_with_the_ranker_that_serves_and_compares_with_fusion(tmp_path: Path, corpus: Path,
                                                                          embeddings) -> None:
    """Before, search ignored the active ranker, so nobody could see what a retrain changed."""
    from app import components
    from app.settings import Settings
    from feedback import ranker_versions
    from retrieval import ranker_files
    from retrieval.memory import FeedbackMemory
    from retrieval.ranking import LearnedRanker

    data = tmp_path / "data"
    invoke(data, "ingest", str(corpus))
    question = "What should I drink in the morning?"
    river = str((corpus / "rivers.html").resolve())
    learned = LearnedRanker("v1", memory=FeedbackMemory(embeddings.encode_questions([question]), [[river]], [[]]),
                            threshold=0.8, strength=1.0)
    ranker_files.save(learned, data / "rankers" / "v1")
    db = components.database(Settings(data_dir=data))
    ranker_versions.record_ranker_version(db, version="v1", path=str(data / "rankers" / "v1"), active=False,
                                          metrics={}, counts={})

    def top(*extra: str) -> str:
        return json.loads(invoke(data, "search", question, "-k", "1", "--json", *extra).stdout)[0]["doc_id"]

    fusion = top("--ranker", "fusion")
    assert fusion != river and top() == fusion  # nothing learned serves yet
    assert top("--ranker", "v1") == river  # a version can be tried before it serves
    ranker_versions.activate_ranker(db, version="v1")
    assert top() == top("--ranker", "active") == river and top("--ranker", "fusion") == fusion
    refused = runner.invoke(cli, ["--data-dir", str(data), "search", question, "--ranker", "v7"])
    assert refused.exit_code == 1


def test_eval_measures_an_indexed_collection_without_indexing_again(tmp_path: Path, embeddings) -> None:
    dataset = beir_fixture(tmp_path / "tiny")
    data = tmp_path / "data"
    invoke(data, "ingest", str(dataset / "corpus.jsonl"))  # the served collection
    measured = json.loads(invoke(data, "eval", str(dataset), "--collection", "docs", "--json").stdout)
    from app import components
    from app.settings import Settings

    client = components.open_index(Settings(data_dir=data, chroma_url=None)).client
    assert [c.name for c in client.list_collections()] == ["docs"]  # no collection of the dataset's own was made
    assert measured["queries"] == 3 and measured["recall@100"] == 1.0
    indexed = json.loads(invoke(tmp_path / "other", "eval", str(dataset), "--json").stdout)
    assert measured["ndcg@10"] == pytest.approx(indexed["ndcg@10"])
    empty = runner.invoke(cli, ["--data-dir", str(data), "eval", str(dataset), "--collection", "nothing"])
    assert empty.exit_code == 1 and "holds nothing" in str(empty.exception or empty.output)


def test_ingest_fails_when_a_named_path_fails_and_says_why_for_each_link(tmp_path: Path, corpus: Path,
                                                                        embeddings) -> None:
    """Issue 13 item 13: every named path failing exited 0; links that lead nowhere or loop were
    skipped without a word; the PDF library's warnings were printed raw."""
    (corpus / "gone.md").symlink_to(corpus / "missing.md")
    (corpus / "loop.md").symlink_to(corpus / "loop.md")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    missing = tmp_path / "nothing-here.md"
    result = runner.invoke(cli, ["--data-dir", str(tmp_path / "data"), "ingest", str(corpus), str(missing)])
    assert result.exit_code == 1, result.output
    assert f"failed {corpus / 'gone.md'}: a broken symbolic link (to {corpus / 'missing.md'}, which does not exist)" \
        in result.stdout
    assert f"failed {corpus / 'loop.md'}: a symbolic link that loops back on itself" in result.stdout
    assert f"failed {missing}: no such file or folder" in result.stdout
    assert "4 chunks" in result.stdout  # the good files are ingested all the same
    pdf = [line for line in result.stdout.splitlines() if "broken.pdf" in line]
    assert len(pdf) == 1 and pdf[0].startswith(("failed", "warning")), result.stdout
    assert "1 of the named paths failed" in str(result.exception)

    done = subprocess.run([GROUNDLOOP, "--data-dir", str(tmp_path / "data"), "ingest", str(missing)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"error: 1 of the named paths failed: {missing}." in done.stderr.replace("\n", "")
