"""The stub must speak the protocol real clients parse, or tests built on it prove nothing."""

import time

import openai
import pytest
from langchain_openai import ChatOpenAI

from tests.openai_stub import DEFAULT_REPLY, OpenAIStub

QUESTION = [{"role": "user", "content": "What colour is the sky?"}]


@pytest.fixture
def stub():
    """A fresh server per test: it starts in milliseconds and no knob leaks between tests."""
    with OpenAIStub() as server:
        yield server


def client(stub: OpenAIStub, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.base_url, api_key="test", max_retries=0, **options)


def test_non_streaming_reply_and_request_are_recorded(stub):
    stub.reply("The sky is blue [1].")
    answer = client(stub).chat.completions.create(model="gpt-x", messages=QUESTION)
    assert answer.choices[0].message.content == "The sky is blue [1]."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "gpt-x" and answer.id.startswith("chatcmpl-")
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens > 0
    assert stub.requests == [{"model": "gpt-x", "messages": QUESTION}]


def test_streaming_chunks_join_to_the_reply_with_usage(stub):
    stub.reply("The sky is  blue [1].\n")
    chunks = list(client(stub).chat.completions.create(
        model="stub-model", messages=QUESTION, stream=True, stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(pieces) == "The sky is  blue [1].\n"
    assert [p for p in pieces if p] == ["The ", "sky ", "is  ", "blue ", "[1].\n"]  # word by word
    assert chunks[-1].usage.completion_tokens == 5


def test_queued_replies_come_out_fifo_then_function_then_default(stub):
    stub.reply("first")
    stub.reply("second")
    openai_client = client(stub)

    def ask() -> str:
        return openai_client.chat.completions.create(model="m", messages=QUESTION).choices[0].message.content

    assert [ask(), ask(), ask()] == ["first", "second", DEFAULT_REPLY]
    stub.reply_with(lambda body: f"echo: {body['messages'][-1]['content']}")
    assert ask() == "echo: What colour is the sky?"


def test_fail_with_500_raises_internal_server_error(stub):
    stub.fail_with = 500
    with pytest.raises(openai.InternalServerError):
        client(stub).chat.completions.create(model="m", messages=QUESTION)


def test_delay_beyond_client_timeout_raises_timeout(stub):
    stub.delay = 2.0
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client(stub, timeout=0.5).chat.completions.create(model="m", messages=QUESTION)
    assert time.monotonic() - started < 1.5


def test_models_lists_the_stub_model(stub):
    assert [m.id for m in client(stub).models.list()] == ["stub-model"]


def test_langchain_invoke_and_stream(stub):
    chat = ChatOpenAI(base_url=stub.base_url, api_key="test", model="stub-model", max_retries=0)
    stub.reply("Basaltic lava is runny [2].")
    assert chat.invoke("Which lava flows far?").content == "Basaltic lava is runny [2]."
    stub.reply("Steep green tea at 80 degrees [1].")
    assert "".join(c.content for c in chat.stream("How hot for green tea?")) == "Steep green tea at 80 degrees [1]."
    assert stub.requests[-1]["stream"] is True
    assert stub.requests[-1]["messages"] == [{"role": "user", "content": "How hot for green tea?"}]


def test_stops_quickly_with_a_delayed_request_in_flight():
    stub = OpenAIStub().start()
    stub.delay = 30.0
    with pytest.raises(openai.APITimeoutError):
        client(stub, timeout=0.2).chat.completions.create(model="m", messages=QUESTION)
    started = time.monotonic()
    stub.stop()
    assert time.monotonic() - started < 1.0
