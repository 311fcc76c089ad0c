"""The chain end to end, offline and against an OpenAI-compatible server on loopback."""

import pytest

from app import components
from app.answerers import NOTHING_FOUND
from app.chain import ChainResult, Restart, Token
from app.questions import BadQuestion
from retrieval.errors import EmptyQuery
from tests.openai_stub import OpenAIStub


def test_offline_answer_quotes_and_cites_the_right_source(indexed) -> None:
    result = components.chain(indexed).run("Which sea does the Nile flow into?")
    assert result.answer == "The Nile flows north into the Mediterranean Sea [1]."
    assert result.citations[0].title == "Rivers" and result.citations[0].cited
    assert result.verdict == "ok" and result.reasons == []
    assert result.answerer == "extractive"
    assert set(result.timings_ms) == {"condense", "retrieve", "answer", "check", "total"}


def test_offline_answer_streams_before_the_result(indexed) -> None:
    events = list(components.chain(indexed).stream("At what temperature is green tea steeped?"))
    tokens = [event.text for event in events if isinstance(event, Token)]
    assert len(tokens) > 3 and isinstance(events[-1], ChainResult)
    assert "".join(tokens) == events[-1].answer


def test_a_follow_up_is_answered_about_the_same_subject(indexed) -> None:
    chain = components.chain(indexed)
    first = chain.run("Tell me about the Nile river")
    follow_up = chain.run("Which way does it flow?", [first.standalone_question])
    assert "Nile" in follow_up.standalone_question
    assert "flows north" in follow_up.answer


def test_nothing_relevant_is_said_plainly_and_flagged(indexed) -> None:
    result = components.chain(indexed).run("What is the airspeed velocity of an unladen swallow?")
    assert result.answer == NOTHING_FOUND
    assert result.verdict == "flagged" and "the answer cites no source" in result.reasons


@pytest.mark.parametrize(
    ("question", "error", "message"),
    [
        ("   \n", EmptyQuery, "The question is empty"),
        ("x" * 100_000, BadQuestion, "The question is too long (100,000 characters; the limit is 4,000)."),
        ("\ufffd\x00\x01" * 300, BadQuestion, "That does not look like a question: it contains binary data."),
    ],
)
def test_bad_questions_are_refused_with_a_clear_message(indexed, question, error, message) -> None:
    chain = components.chain(indexed)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        chain.run(question)
    assert chain.run("Which sea does the Nile flow into?").verdict == "ok"


def llm_settings(settings, stub: OpenAIStub, **extra):
    return settings.model_copy(
        update={"llm_base_url": stub.base_url, "llm_model": "stub-model", "llm_timeout": 1.0, **extra}
    )


def test_model_answer_is_streamed_and_checked(indexed) -> None:
    with OpenAIStub() as stub:
        stub.reply("The Nile flows north into the Mediterranean Sea [1].")
        events = list(components.chain(llm_settings(indexed, stub)).stream("Where does the Nile flow?"))
    result = events[-1]
    assert result.answerer == "openai:stub-model" and result.verdict == "ok"
    assert len([e for e in events if isinstance(e, Token)]) > 1
    request = stub.requests[0]["messages"]
    assert request[0]["role"] == "system" and "Mediterranean" not in request[0]["content"]
    assert request[1]["role"] == "user" and '<source n="1" title="Rivers">' in request[1]["content"]


def test_fabricated_citation_and_unsupported_sentence_are_flagged(indexed) -> None:
    with OpenAIStub() as stub:
        stub.reply("The Nile flows north into the Mediterranean Sea [7].")
        stub.reply("The Nile flows north [1]. Penguins are excellent long-distance swimmers in cold water [1].")
        chain = components.chain(llm_settings(indexed, stub))
        fabricated, unsupported = chain.run("Where does the Nile flow?"), chain.run("Where does the Nile flow?")
    assert fabricated.verdict == "flagged"
    assert any(reason.startswith("cites [7], but [1]–[") for reason in fabricated.reasons)
    assert unsupported.verdict == "flagged"
    assert unsupported.reasons == [
        "sentence 2 is not supported by [1]: “Penguins are excellent long-distance swimmers in cold water.”"
    ]


@pytest.mark.parametrize("failure", ["timeout", "status", "down"])
def test_model_failure_falls_back_to_the_offline_answer_with_a_notice(indexed, failure) -> None:
    with OpenAIStub() as stub:
        if failure == "timeout":
            stub.delay = 3.0
        elif failure == "status":
            stub.fail_with = 500
        settings = llm_settings(indexed, stub)
        if failure == "down":
            stub.stop()
        result = components.chain(settings).run("Which sea does the Nile flow into?")
    assert result.answer == "The Nile flows north into the Mediterranean Sea [1]."
    assert result.answerer == "extractive"
    expected = {"timeout": "timed out", "status": "HTTP 500", "down": "could not connect"}[failure]
    assert result.notice == f"The language model did not answer ({expected}), so this is the offline answer."


def test_model_failing_mid_answer_restarts_with_the_offline_answer(indexed) -> None:
    chain = components.chain(indexed)

    class Breaks:
        name = "breaks"

        def stream(self, question, sources, **_):
            yield "Partial "
            raise TimeoutError

    chain.answerer = Breaks()
    events = list(chain.stream("Which sea does the Nile flow into?"))
    restart = next(i for i, e in enumerate(events) if isinstance(e, Restart))
    assert events[restart - 1] == Token("Partial ")
    assert "".join(e.text for e in events[restart:] if isinstance(e, Token)) == events[-1].answer
    assert events[-1].notice.startswith("The language model did not answer (timed out)")
