"""The chain end to end, offline and against an OpenAI-compatible server on loopback."""

import time

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


OFFLINE = "The Nile flows north into the Mediterranean Sea [1]."


def test_a_trickling_model_is_cut_off_at_the_timeout_with_the_offline_answer(indexed) -> None:
    with OpenAIStub() as stub:
        stub.token_delay = 0.5  # each read comes well within the 1 s timeout; the whole answer would take 20 s
        stub.reply(" ".join(["word"] * 40))
        started = time.monotonic()
        events = list(components.chain(llm_settings(indexed, stub)).stream("Which sea does the Nile flow into?"))
        took = time.monotonic() - started
    result = events[-1]
    assert took < 10, f"the 1 s timeout let the model run for {took:.1f} s"
    assert result.answer == OFFLINE and result.answerer == "extractive"
    assert result.notice == "The language model did not answer (timed out), so this is the offline answer."
    assert Restart(result.notice) in events


def test_a_model_answering_200_with_html_gives_the_offline_answer_with_a_notice(indexed) -> None:
    with OpenAIStub() as stub:
        stub.garbage = "<html><body><h1>502 Bad Gateway</h1></body></html>"
        result = components.chain(llm_settings(indexed, stub)).run("Which sea does the Nile flow into?")
    assert result.answer == OFFLINE and result.answerer == "extractive"
    assert result.notice == ("The language model did not answer (its reply was not an answer), "
                             "so this is the offline answer.")


def test_the_streamed_openai_reply_carries_the_fallback_notice(indexed) -> None:
    import asyncio
    import json

    from app.answering import Recorded
    from app.openai_api import _chunks
    from app.rendering import notice

    with OpenAIStub() as stub:
        stub.fail_with = 500
        events = list(components.chain(llm_settings(indexed, stub)).stream("Which sea does the Nile flow into?"))
    result = events[-1]
    recorded = Recorded(result=result, answer_id="a1", thread_id=None)

    async def reply() -> str:
        body = [piece async for piece in _chunks(iter([*events[:-1], recorded]), "c1", 0)]
        deltas = [json.loads(p[6:])["choices"][0]["delta"] for p in body if p.startswith("data: {")]
        return "".join(d.get("content") or "" for d in deltas)

    text = asyncio.run(reply())
    assert notice("The language model did not answer (HTTP 500), so this is the offline answer.") in text
    assert text.index("did not answer") < text.index("Mediterranean")


def test_model_failing_mid_answer_restarts_with_the_offline_answer(indexed) -> None:
    chain = components.chain(indexed)

    class Breaks:
        name = "breaks"

        def stream(self, question, sources, *, vector=None, focus=None):
            yield "Partial "
            raise TimeoutError

    chain.answerer = Breaks()
    events = list(chain.stream("Which sea does the Nile flow into?"))
    restart = next(i for i, e in enumerate(events) if isinstance(e, Restart))
    assert events[restart - 1] == Token("Partial ")
    assert "".join(e.text for e in events[restart:] if isinstance(e, Token)) == events[-1].answer
    assert events[-1].notice.startswith("The language model did not answer (timed out)")


class GatedRanker:
    """Fusion that notes each question it scored; with a ``gate``, the first question it is asked
    about waits at the gate (after saying so through ``entered``) before it is ranked."""

    dense_weight = 0.6

    def __init__(self, version: str, gate=None) -> None:
        import threading

        self.version, self.gate, self.entered, self.scored = version, gate, threading.Event(), []

    def _wait(self) -> None:
        if self.gate is not None and not self.entered.is_set():
            self.entered.set()
            assert self.gate.wait(timeout=120)

    def expand(self, vector, terms) -> set[str]:
        self._wait()
        return set()

    def boosts(self, vector, terms) -> dict[str, float]:
        self._wait()
        return {}

    def score(self, candidates, matrix, *, boosts=None):
        from retrieval.ranking import fusion

        self.scored.append(candidates.query)
        return fusion(matrix, self.dense_weight)


def test_two_questions_at_once_record_the_ranker_that_ranked_each(indexed) -> None:
    """A new ranker is activated while one question is being ranked and another is asked: each
    answer records the version that actually ranked it (the chain is shared, its state is not)."""
    import threading

    from app import answering
    from feedback import accounts

    gate = threading.Event()
    old, new = GatedRanker("v1", gate), GatedRanker("v2")
    active = [old]
    db = components.database(indexed)
    user = accounts.add_user(db, identifier="ann", role="user", password="ann-password-1")
    chain = components.chain(indexed, rankers=lambda: active[0],
                             verified=components.chain(indexed).verified)
    recorded = {}

    def ask(question: str) -> None:
        *_, last = answering.answer(db, chain, question, user_id=user.id, groups=None)
        recorded[question] = last

    first, second = "Which sea does the Nile flow into?", "At what temperature is green tea steeped?"
    asking = threading.Thread(target=ask, args=(first,))
    asking.start()
    assert old.entered.wait(timeout=120)  # the first question is being ranked by v1 now
    active[0] = new  # v2 is activated
    ask(second)
    gate.set()
    asking.join(timeout=120)
    assert old.scored == [first] and new.scored == [second]
    assert recorded[first].result.ranker_version == "v1" and recorded[second].result.ranker_version == "v2"
    from feedback.models import Answer

    with db.read() as session:
        stored = {a.question: a.ranker_version for a in session.query(Answer).all()}
    assert stored == {first: "v1", second: "v2"}
