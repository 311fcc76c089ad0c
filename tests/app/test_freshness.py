"""The active ranker and the verified answers are kept in memory and read again only when they
changed (their change stamp moved), not loaded for every question."""

from sqlalchemy import event

from app import answering
from app.runtime import Root
from feedback import accounts, ranker_versions, reviews
from retrieval import ranker_files
from retrieval.memory import FeedbackMemory
from retrieval.ranking import LearnedRanker

QUESTIONS = ("Which sea does the Nile flow into?", "At what temperature is green tea steeped?",
             "How do volcanoes erupt?")


def test_the_ranker_and_verified_answers_are_read_again_only_when_they_changed(indexed) -> None:
    root = Root(indexed)
    db, chain = root.database, root.chain
    ann = accounts.add_user(db, identifier="ann")
    rita = accounts.add_user(db, identifier="rita", role="reviewer")
    first = answering.record(db, chain.run(QUESTIONS[0]), user_id=ann.id)  # the first question reads everything
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql))

    def reads(table: str) -> int:
        return sum(1 for sql in statements if f"FROM {table}" in sql)

    for question in QUESTIONS:
        chain.run(question)
    assert reads("reviews") == reads("ranker_versions") == 0

    reviews.record_review(db, answer_id=first.id, reviewer_id=rita.id, decision="approved",
                          text="Into the Mediterranean Sea.", doc_ids=[])
    served = chain.run(QUESTIONS[0])
    assert served.verified and served.answer == "Into the Mediterranean Sea."
    assert reads("reviews") == 1
    for question in QUESTIONS:
        chain.run(question)
    assert reads("reviews") == 1 and reads("ranker_versions") == 0

    learned = LearnedRanker("v1", memory=FeedbackMemory(root.embeddings.encode_questions(["tea"]), [["x"]], [[]]))
    ranker_files.save(learned, indexed.rankers_dir / "v1")
    ranker_versions.record_ranker_version(db, version="v1", path=str(indexed.rankers_dir / "v1"), active=True,
                                          metrics={}, counts={})
    assert chain.run(QUESTIONS[1]).ranker_version == "v1"  # another process's activation serves at once
    assert reads("ranker_versions") == 1
    for question in QUESTIONS[1:]:
        assert chain.run(question).ranker_version == "v1"
    assert reads("ranker_versions") == 1
    ranker_versions.rollback_ranker(db)
    assert chain.run(QUESTIONS[1]).ranker_version == "fusion"
