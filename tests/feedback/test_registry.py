"""Retrain behind the gate, roll back, and a running process picking up the active version."""

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from app import components
from feedback import accounts, answer_log, opinions, ranker_versions, registry
from feedback.db import Database
from feedback.registry import ActiveRanker
from retrieval import ranker_files
from retrieval.errors import GroundloopError
from retrieval.memory import FeedbackMemory
from retrieval.ranking import FusionRanker, LearnedRanker

QUESTIONS = [
    ("What makes basaltic lava runny?", "volcanoes.md"),
    ("How hot should water be for green tea?", "tea.txt"),
    ("Where does the Nile end?", "rivers.html"),
    ("What is part XK-42b?", "parts.csv"),
    ("Why does lava flow far from the vent?", "volcanoes.md"),
    ("How long is green tea steeped?", "tea.txt"),
]


@pytest.fixture
def setup(indexed_settings):
    """Settings over the indexed test corpus, with each question answered and its sources marked."""
    settings, corpus = indexed_settings
    db = components.database(settings)
    user = accounts.add_user(db, identifier="ann")
    chain = components.chain(settings)
    for question, right in QUESTIONS:
        result = asdict(chain.run(question))
        answer = answer_log.record_answer(db, **{k: result[k] for k in (
            "question", "standalone_question", "answer", "answerer", "verdict", "reasons", "timings_ms",
            "citations", "ranker_version")}, user_id=user.id)
        for citation in result["citations"]:
            relevant = citation["doc_id"] == str((corpus / right).resolve())
            opinions.record_source_mark(db, answer_id=answer.id, user_id=user.id, rank=citation["n"], relevant=relevant)
    return settings, db, chain.retriever


@pytest.fixture
def indexed_settings(settings, corpus: Path, embeddings):
    from retrieval.ingest import ingest

    ingest(components.open_index(settings), [corpus], chunk_size=2000, chunk_overlap=200, max_bytes=10**6)
    return settings, corpus


def oracle(db: Database, retriever) -> LearnedRanker:
    """A ranker that already remembers every judged question: nothing learned can beat it."""
    from feedback.training import judged_questions

    judged = judged_questions(db)
    vectors = retriever.index.embeddings.encode_questions([j.question for j in judged])
    memory = FeedbackMemory(vectors, [j.positives for j in judged], [j.negatives for j in judged])
    return LearnedRanker("oracle", memory=memory, threshold=0.95, strength=10.0)


def test_the_gate_refuses_a_candidate_that_is_not_better(setup) -> None:
    settings, db, retriever = setup
    report = registry.retrain(db, retriever, settings.rankers_dir, active=oracle(db, retriever))
    assert not report.activated and report.held_out_ndcg <= report.active_ndcg
    assert [(v.version, v.status) for v in ranker_versions.model_versions(db)] == [("v1", "rejected")]
    assert ranker_versions.active_model(db) is None


def test_a_better_candidate_serves_and_rollback_restores_the_previous_one(setup) -> None:
    settings, db, retriever = setup
    first = registry.retrain(db, retriever, settings.rankers_dir, active=FusionRanker(), force=True)
    second = registry.retrain(db, retriever, settings.rankers_dir, active=FusionRanker(), force=True)
    assert first.activated and second.activated
    assert ranker_versions.active_model(db).version == "v2"
    assert ranker_versions.rollback_model(db).version == "v1"
    assert ranker_versions.active_model(db).version == "v1"
    assert ranker_versions.rollback_model(db) is None  # fusion again
    with pytest.raises(GroundloopError, match="fusion already serves"):
        ranker_versions.rollback_model(db)


def test_dry_run_writes_nothing(setup) -> None:
    settings, db, retriever = setup
    report = registry.retrain(db, retriever, settings.rankers_dir, active=FusionRanker(), dry_run=True)
    assert report.dry_run and not report.activated
    assert ranker_versions.model_versions(db) == [] and not settings.rankers_dir.exists()


def test_another_process_activating_a_version_is_served_next_question(setup) -> None:
    settings, db, retriever = setup
    serving = ActiveRanker(db, FusionRanker())
    assert serving().version == "fusion"
    registry.retrain(db, retriever, settings.rankers_dir, active=FusionRanker(), force=True)
    elsewhere = Database(settings.feedback_url)  # another process's connection to the same database
    ranker_versions.activate_model(elsewhere, version="v1")
    assert serving().version == "v1"
    chain = components.chain(settings)
    assert chain.run("What makes basaltic lava runny?").ranker_version == "v1"


def test_a_half_written_ranker_never_serves(setup) -> None:
    settings, db, retriever = setup
    registry.retrain(db, retriever, settings.rankers_dir, active=FusionRanker(), force=True)
    partial = settings.rankers_dir / "v2.partial"  # what a crash during the next save leaves behind
    partial.mkdir()
    (partial / "ranker.json").write_text("{")
    assert ActiveRanker(db, FusionRanker())().version == "v1"
    assert ranker_files.load(settings.rankers_dir / "v1").version == "v1"


def test_too_little_feedback_is_a_clear_error(settings, embeddings) -> None:
    db = components.database(settings)
    retriever = components.retriever(settings, components.open_index(settings))
    with pytest.raises(GroundloopError, match="Not enough feedback to learn from yet: 0 judged questions"):
        registry.retrain(db, retriever, settings.rankers_dir, active=FusionRanker())


def test_saved_ranker_round_trips(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.random.default_rng(0).random((20, 10)), [0, 1] * 10)
    memory = FeedbackMemory(np.eye(3, dtype=np.float32), [["a"], [], ["b"]], [[], ["c"], []], [["x"], ["y", "z"], []])
    ranker_files.save(LearnedRanker("v7", 0.4, model, memory, 0.7, 1.5, mix=0.5), tmp_path / "v7")
    loaded = ranker_files.load(tmp_path / "v7")
    assert (loaded.version, loaded.dense_weight, loaded.threshold, loaded.strength, loaded.mix) == ("v7", 0.4, 0.7, 1.5, 0.5)
    assert loaded.memory.positives == [["a"], [], ["b"]] and loaded.memory.negatives == [[], ["c"], []]
    assert loaded.memory.terms == [["x"], ["y", "z"], []]
    probe = np.ones((1, 10))
    assert np.allclose(loaded.model.predict_proba(probe), model.predict_proba(probe))
    assert not list(tmp_path.glob("*.pkl")) and (tmp_path / "v7" / "model.skops").is_file()


CRASH = """
import os, signal, sys
from pathlib import Path

import numpy as np

from app.runtime import Root
from app.settings import Settings
from feedback import ranker_versions, registry
from retrieval import ranker_files

point = sys.argv[2]


def die(*_, **__):
    os.kill(os.getpid(), signal.SIGKILL)


def after(function):
    def run(*args, **kwargs):
        function(*args, **kwargs)
        die()
    return run


if point == "before saving":
    ranker_files.save = die
elif point == "mid-save":  # the memory written aside, the rest not
    np.savez = after(np.savez)
elif point == "before the rename":
    Path.rename = die
elif point == "before the commit":  # activated inside the transaction, not committed
    ranker_versions._activate = after(ranker_versions._activate)
elif point == "after the commit":
    ranker_versions.record_ranker_version = after(ranker_versions.record_ranker_version)
root = Root(Settings(data_dir=Path(sys.argv[1]), chroma_url=None))
registry.retrain(root.database, root.retriever(), root.settings.rankers_dir, active=root.rankers(), force=True)
"""
CRASH_POINTS = ("before saving", "mid-save", "before the rename", "before the commit", "after the commit")


def test_a_retrain_killed_at_any_moment_leaves_a_loadable_ranker_serving(setup) -> None:
    """A retrain killed (SIGKILL) at each point where a crash could leave half a ranker: whatever is
    active always loads. Each point is reached deterministically, in a process of its own."""
    import os
    import signal
    import subprocess
    import sys

    settings, db, retriever = setup
    registry.retrain(db, retriever, settings.rankers_dir, active=FusionRanker(), force=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUNDLOOP_")}
    for point in CRASH_POINTS:
        child = subprocess.run([sys.executable, "-c", CRASH, str(settings.data_dir), point], env=env,
                               capture_output=True, text=True, timeout=600)
        assert child.returncode == -signal.SIGKILL, (point, child.stderr)
        active = ranker_versions.active_model(db)
        assert active is not None
        assert ranker_files.load(Path(active.path)).version == active.version
        assert ActiveRanker(db, FusionRanker())().version == active.version
    versions = [(v.version, v.status) for v in ranker_versions.model_versions(db)]
    assert versions[-1][1] == "active" and len(versions) >= 2  # the crash after the commit kept its ranker


def test_retrain_watch_retrains_once_enough_new_feedback_arrived(setup) -> None:
    import os
    import subprocess
    import sys
    import time

    settings, db, _ = setup
    groundloop = str(Path(sys.executable).parent / "groundloop")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUNDLOOP_")}
    env |= {"GROUNDLOOP_RETRAIN_AFTER": "10", "GROUNDLOOP_RETRAIN_POLL_SECONDS": "0.5"}  # setup gave 24 marks
    watcher = subprocess.Popen([groundloop, "--data-dir", str(settings.data_dir), "retrain", "--watch", "--force"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not ranker_versions.model_versions(db) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert [v.version for v in ranker_versions.model_versions(db)] == ["v1"]
        time.sleep(2)  # no new feedback since v1: no second run
        assert len(ranker_versions.model_versions(db)) == 1
    finally:
        watcher.kill()
        watcher.wait()
