"""``groundloop feedback``: who teaches the ranker, how often others disagree, and exclusion."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app import components
from app.cli import cli
from app.settings import Settings
from feedback import accounts, answer_log, opinions, reviews, stats
from retrieval.errors import GroundloopError

runner = CliRunner()


def run(data_dir: Path, *args: str) -> str:
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "feedback", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def answer(db, user, question: str):
    return answer_log.record_answer(
        db, question=question, standalone_question=question, answer="[1]", answerer="extractive", verdict="ok",
        reasons=[], timings_ms={}, user_id=user.id,
        citations=[{"n": n, "doc_id": f"doc-{n}", "chunk_id": f"doc-{n}#0", "title": "", "source": "", "score": 1.0,
                    "similarity": 0.5, "cited": True} for n in (1, 2)],
    )


def test_accounts_by_volume_and_disagreement_then_exclude_and_include(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = components.database(Settings(data_dir=data))
    ann, mal = accounts.add_user(db, identifier="ann"), accounts.add_user(db, identifier="mallory")
    rita = accounts.add_user(db, identifier="rita", role="reviewer")
    shared = answer(db, ann, "Where does the Nile flow?")
    opinions.record_source_mark(db, answer_id=shared.id, user_id=ann.id, rank=1, relevant=True)
    reviews.record_review(db, answer_id=shared.id, reviewer_id=rita.id, decision="approved", text=None,
                          doc_ids=["doc-1"])
    for n in range(3):  # mallory says the opposite, three times, and more besides
        mine = answer(db, mal, "Where does the Nile flow?")
        opinions.record_source_mark(db, answer_id=mine.id, user_id=mal.id, rank=1, relevant=False)
        opinions.record_thumb(db, answer_id=mine.id, user_id=mal.id, up=False)

    by_volume = run(data, "accounts")
    assert by_volume.index("mallory") < by_volume.index("ann") < by_volume.index("rita")
    [mallory] = [f for f in stats.account_figures(db) if f.identifier == "mallory"]
    assert (mallory.feedback, mallory.reviewer_disagreement, mallory.other_disagreement) == (6, 1.0, 1.0)
    by_disagreement = run(data, "accounts", "--by", "disagreement")
    assert by_disagreement.index("mallory") < by_disagreement.index("ann")

    assert "kept out of learning" in run(data, "exclude", "mallory")
    assert accounts.excluded_from_learning(db) == {mal.id}
    assert [f.excluded for f in stats.account_figures(db) if f.identifier == "mallory"] == [True]
    assert "counts in learning again" in run(data, "include", "mallory")
    assert accounts.excluded_from_learning(db) == set()

    with pytest.raises(GroundloopError, match="No user named 'nobody'"):
        runner.invoke(cli, ["--data-dir", str(data), "feedback", "exclude", "nobody"], catch_exceptions=False)
    with pytest.raises(GroundloopError, match="Unknown order 'size'"):
        runner.invoke(cli, ["--data-dir", str(data), "feedback", "accounts", "--by", "size"], catch_exceptions=False)
