"""Training labels from the tables: strong and weak signals, and one capped vote per account."""

from feedback import accounts, opinions, reviews
from feedback.training import STRONG, WEAK, judged_questions


def test_marks_are_strong_thumbs_weak_and_reviews_strong(db, alice, bob, make_answer) -> None:
    reviewer = accounts.add_user(db, identifier="rita", role="reviewer")
    marked = make_answer(alice, question="Why is the sky blue?")
    opinions.record_source_mark(db, answer_id=marked.id, user_id=alice.id, rank=2, relevant=False)
    opinions.record_thumb(db, answer_id=marked.id, user_id=alice.id, up=True)  # [1] cites doc-1
    thumbed = make_answer(bob, question="why is the sky blue")  # the same question, differently typed
    opinions.record_thumb(db, answer_id=thumbed.id, user_id=bob.id, up=False)
    reviews.record_review(db, answer_id=thumbed.id, reviewer_id=reviewer.id, decision="approved", text=None,
                          doc_ids=["doc-9"])

    [judged] = judged_questions(db)
    assert judged.question == "Why is the sky blue?"
    assert judged.labels == {"doc-2": -STRONG, "doc-1": WEAK - WEAK, "doc-9": STRONG}
    assert judged.positives == ["doc-9"] and judged.negatives == ["doc-2"]


def test_one_account_has_one_vote_however_often_it_clicks(db, alice, bob, make_answer) -> None:
    once = make_answer(alice, question="What is the boiling point of water?")
    opinions.record_thumb(db, answer_id=once.id, user_id=alice.id, up=False)
    single = judged_questions(db)[0].labels

    for _ in range(499):
        again = make_answer(alice, question="What is the boiling point of water?")
        opinions.record_thumb(db, answer_id=again.id, user_id=alice.id, up=False)
    assert judged_questions(db)[0].labels == single == {"doc-1": -WEAK}

    other = make_answer(bob, question="What is the boiling point of water?")
    opinions.record_thumb(db, answer_id=other.id, user_id=bob.id, up=False)
    assert judged_questions(db)[0].labels == {"doc-1": -2 * WEAK}


def test_a_strong_mark_outweighs_the_same_accounts_thumbs(db, alice, make_answer) -> None:
    answer = make_answer(alice)
    opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=1, relevant=True)
    for _ in range(20):
        opinions.record_thumb(db, answer_id=make_answer(alice).id, user_id=alice.id, up=False)
    assert judged_questions(db)[0].labels == {"doc-1": STRONG}
