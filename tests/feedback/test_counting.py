"""One definition of what counts: an approval withdrawn by a later rejection stops serving,
training and exporting at once, because all three read the newest decision through ``counting``."""

from feedback import accounts, export, opinions, reviews
from feedback.training import judged_questions
from feedback.verified import VerifiedAnswers

QUESTION = "Why is the sky blue?"


def test_a_withdrawn_approval_stops_serving_training_and_exporting(db, alice, make_answer, embeddings) -> None:
    rita = accounts.add_user(db, identifier="rita", role="reviewer")
    answer = make_answer(alice, question=QUESTION)
    opinions.record_correction(db, answer_id=answer.id, user_id=alice.id, text="Scattering of short waves.")
    verified = VerifiedAnswers(db, embeddings, threshold=0.9)
    reviews.record_review(db, answer_id=answer.id, reviewer_id=rita.id, decision="approved",
                          text="Rayleigh scattering of sunlight.", doc_ids=["doc-9"])

    assert verified.find(QUESTION) is not None  # served
    assert judged_questions(db)[0].labels.get("doc-9") == 1.0  # trained on
    assert [r["messages"][-1]["content"] for r in export.rows(db, kind="chat-jsonl", system="s", approved_only=True)] \
        == ["Rayleigh scattering of sunlight."]  # exported
    assert "doc-9" in export.qrels(db).scores.get(export.query_id(QUESTION), {})

    reviews.record_review(db, answer_id=answer.id, reviewer_id=rita.id, decision="rejected", text=None, doc_ids=[])

    assert verified.find(QUESTION) is None
    assert all("doc-9" not in judged.labels for judged in judged_questions(db))
    assert export.rows(db, kind="chat-jsonl", system="s", approved_only=True) == []
    assert export.rows(db, kind="preference-jsonl", system="s", approved_only=False) == []
    assert "doc-9" not in export.qrels(db).scores.get(export.query_id(QUESTION), {})


def test_the_newest_decision_counts_even_when_its_reviewer_opted_out_of_exports(db, alice, make_answer) -> None:
    """Opting out hides a reviewer's rows from exports; it does not bring back what they withdrew."""
    rita = accounts.add_user(db, identifier="rita", role="reviewer")
    otto = accounts.add_user(db, identifier="otto", role="reviewer")
    answer = make_answer(alice, question=QUESTION)
    reviews.record_review(db, answer_id=answer.id, reviewer_id=rita.id, decision="approved",
                          text="Rayleigh scattering of sunlight.", doc_ids=["doc-9"])
    reviews.record_review(db, answer_id=answer.id, reviewer_id=otto.id, decision="rejected", text=None, doc_ids=[])
    accounts.set_export_opt_out(db, identifier="otto", opted_out=True)

    assert export.rows(db, kind="chat-jsonl", system="s", approved_only=True) == []
    assert all("doc-9" not in judged.labels for judged in judged_questions(db))
