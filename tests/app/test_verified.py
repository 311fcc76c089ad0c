"""A reviewer's approved correction is served again, marked, for the same question."""

import pytest

from app import components
from app.chain import ChainResult, Token
from app.rendering import render
from feedback import accounts, answer_log, reviews
from feedback.verified import VerifiedAnswers, verified_answers

CORRECTED = "The Nile flows north and empties into the Mediterranean Sea through its delta."


def record(db, result: ChainResult):
    return answer_log.record_answer(
        db, question=result.question, standalone_question=result.standalone_question, answer=result.answer,
        answerer=result.answerer, verdict=result.verdict, reasons=result.reasons, timings_ms=result.timings_ms,
        citations=result.to_dict()["citations"],
    )


@pytest.fixture
def approved(indexed):
    """The chain over the test corpus, and a Nile answer a reviewer approved with a correction."""
    chain = components.chain(indexed)
    db = components.database(indexed)
    first = chain.run("Which sea does the Nile flow into?")
    answer = record(db, first)
    reviewer = accounts.add_user(db, identifier="rita", role="reviewer")
    rivers = first.citations[0].doc_id
    reviews.record_review(db, answer_id=answer.id, reviewer_id=reviewer.id, decision="approved", text=CORRECTED,
                          doc_ids=[rivers])
    return chain, db, answer, reviewer, rivers


def test_a_closely_worded_question_gets_the_verified_answer(approved) -> None:
    chain, _, _, _, rivers = approved
    events = list(chain.stream("Into which sea does the Nile flow?"))
    result = events[-1]
    assert result.verified and result.answerer == "verified"
    assert result.answer == CORRECTED and result.verdict == "ok" and result.reasons == []
    assert [c.doc_id for c in result.citations] == [rivers]
    assert result.citations[0].title == "Rivers" and "Mediterranean" in result.citations[0].text
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert len(tokens) > 3 and "".join(tokens) == CORRECTED
    assert render(result).startswith("**Verified by a reviewer**")


def test_a_different_question_is_answered_as_usual(approved) -> None:
    chain = approved[0]
    result = chain.run("At what temperature is green tea steeped?")
    assert not result.verified and result.answerer == "extractive"
    assert "Verified by a reviewer" not in render(result)


def test_a_later_rejection_withdraws_the_verified_answer(approved) -> None:
    chain, db, answer, reviewer, _ = approved
    assert chain.run("Into which sea does the Nile flow?").verified
    reviews.record_review(db, answer_id=answer.id, reviewer_id=reviewer.id, decision="rejected", text=None, doc_ids=[])
    assert verified_answers(db) == []
    result = chain.run("Into which sea does the Nile flow?")
    assert not result.verified and result.answerer == "extractive"


def test_approval_without_text_verifies_nothing(indexed) -> None:
    db = components.database(indexed)
    answer = record(db, components.chain(indexed).run("Which sea does the Nile flow into?"))
    reviewer = accounts.add_user(db, identifier="rita", role="admin")
    reviews.record_review(db, answer_id=answer.id, reviewer_id=reviewer.id, decision="approved", text="  ", doc_ids=[])
    assert verified_answers(db) == []


class CountingEncoder:
    def __init__(self, embeddings) -> None:
        self.embeddings, self.batches = embeddings, []

    def encode_questions(self, questions):
        self.batches.append(list(questions))
        return self.embeddings.encode_questions(questions)


def test_the_lookup_embeds_the_questions_again_only_when_reviews_change(approved, embeddings) -> None:
    _, db, answer, reviewer, _ = approved
    encoder = CountingEncoder(embeddings)
    lookup = VerifiedAnswers(db, encoder, threshold=0.9)
    assert lookup.find("Into which sea does the Nile flow?").verified.answer == CORRECTED
    assert lookup.find("Which sea does the Nile flow into?") is not None
    assert len(encoder.batches) == 3  # the verified questions once, then each asked question
    assert lookup.find("How is green tea brewed?") is None
    reviews.record_review(db, answer_id=answer.id, reviewer_id=reviewer.id, decision="rejected", text=None, doc_ids=[])
    assert lookup.find("Into which sea does the Nile flow?") is None


class AwayDatabase:
    def read(self):
        from feedback.db import DatabaseUnavailable

        raise DatabaseUnavailable("The feedback database cannot be reached right now; nothing was saved.")


def test_an_unreachable_database_means_no_verified_answer_not_a_failure(embeddings) -> None:
    assert VerifiedAnswers(AwayDatabase(), embeddings, threshold=0.9).find("Where does the Nile flow?") is None


def test_sources_no_longer_indexed_are_left_out_and_each_document_shown_once(indexed) -> None:
    chain, db = components.chain(indexed), components.database(indexed)
    first = chain.run("Which sea does the Nile flow into?")
    tea = chain.run("At what temperature is green tea steeped?").citations[0].doc_id
    reviewer = accounts.add_user(db, identifier="rita", role="reviewer")
    rivers = first.citations[0].doc_id
    reviews.record_review(db, answer_id=record(db, first).id, reviewer_id=reviewer.id, decision="approved",
                          text=CORRECTED, doc_ids=[rivers, "deleted-doc", rivers, tea])
    result = chain.run("Into which sea does the Nile flow?")
    assert result.verified and [(c.n, c.doc_id) for c in result.citations] == [(1, rivers), (2, tea)]
    assert all(c.cited for c in result.citations)
