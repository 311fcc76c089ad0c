"""The review queue's weakly matched answers, on SQLite and PostgreSQL: the cutoff is worked out in
the database, over the answers in the window."""

from datetime import UTC, datetime, timedelta

from feedback import accounts, answer_log, opinions, review_queue, reviews


def answer(db, user, question: str, similarity: float | None):
    citations = [] if similarity is None else [
        {"n": 1, "doc_id": "doc-1", "chunk_id": "doc-1#0", "title": "Doc 1", "source": "docs/doc-1.md", "score": 1.0,
         "similarity": similarity, "cited": True}]
    return answer_log.record_answer(
        db, question=question, standalone_question=question, answer="An answer [1].", answerer="extractive",
        verdict="ok", reasons=[], timings_ms={}, user_id=user.id, citations=citations,
    )


def test_the_least_matched_share_is_unsure_whatever_the_thumbs_until_reviewed(db, alice) -> None:
    rita = accounts.add_user(db, identifier="rita", role="reviewer")
    nothing = answer(db, alice, "Nothing found?", None)  # no source at all: the least matched of all
    weak = answer(db, alice, "Weak?", 0.2)
    liked = answer(db, alice, "Weak but liked?", 0.3)
    opinions.record_thumb(db, answer_id=liked.id, user_id=alice.id, up=True)
    reviewed = answer(db, alice, "Weak but reviewed?", 0.25)
    reviews.record_review(db, answer_id=reviewed.id, reviewer_id=rita.id, decision="approved", text=None, doc_ids=[])
    for i in range(6):
        answer(db, alice, f"Well matched {i}?", 0.8 + i / 100)

    queued = review_queue.queue(db, unsure_share=0.4)  # the four least matched of ten
    assert [item.answer.id for item in queued] == [nothing.id, weak.id, liked.id]
    assert all(item.reasons == ["unsure"] for item in queued)
    assert review_queue.queue(db, unsure_share=0.0) == []
    assert len(review_queue.queue(db, unsure_share=1.0)) == 9  # every answer not yet reviewed
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    assert review_queue.queue(db, unsure_share=1.0, since=tomorrow) == []
