"""The OpenAI-compatible endpoint, driven by the ``openai`` SDK against the real server: models,
completions streamed and not (citations in the text, sources beside it), feedback on the answer
afterwards, Markdown from documents kept inert, and the key's refusals as the SDK's errors."""

import json
import urllib.request

import openai
import pytest

TEA = "At what temperature is green tea steeped?"


@pytest.fixture(scope="module")
def sdk(live_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=live_server.keys["all"], max_retries=0, timeout=60)


def ask(sdk: openai.OpenAI, *messages: str, **options):
    """``messages`` alternate user, assistant, user…"""
    roles = ["user", "assistant"] * len(messages)
    return sdk.chat.completions.create(
        model="groundloop", messages=[{"role": r, "content": m} for r, m in zip(roles, messages)], **options)


def test_models_lists_groundloop(sdk):
    assert [m.id for m in sdk.models.list()] == ["groundloop"]


def test_a_completion_cites_in_the_text_and_carries_the_sources(sdk, live_server):
    completion = ask(sdk, TEA)

    text = completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop" and completion.choices[0].message.role == "assistant"
    assert "80 degrees Celsius" in text and "[1]" in text
    assert "**Sources:**" in text and "Brewing green tea" in text.split("**Sources:**")[1]
    sources = completion.sources
    assert sources[0]["n"] == 1 and sources[0]["title"] == "Brewing green tea" and "80 degrees" in sources[0]["text"]
    assert completion.groundloop["verdict"] in ("ok", "flagged")

    answer_id = completion.groundloop["answer_id"]  # feedback follows through the REST API
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/answers/{answer_id}/feedback", data=json.dumps({"thumb": "up"}).encode(),
        headers={"Authorization": f"Bearer {live_server.keys['all']}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert [s["kind"] for s in json.load(response)["saved"]] == ["thumb"]


def test_a_streamed_completion_says_the_same_and_ends_with_the_sources(sdk):
    whole = ask(sdk, TEA).choices[0].message.content
    chunks = list(ask(sdk, TEA, stream=True))

    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content or "" for c in chunks]
    assert len([p for p in pieces if p]) > 3  # streamed a few words at a time, not in one piece
    assert "".join(pieces) == whole
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.sources[0]["title"] == "Brewing green tea" and last.groundloop["answer_id"]
    assert all(c.id == last.id for c in chunks)


def test_earlier_user_messages_are_the_history_of_a_follow_up(sdk):
    completion = ask(sdk, "Tell me about green tea", "Green tea is steeped [1].", "How hot is it made?")
    assert "80 degrees" in completion.choices[0].message.content


def test_markdown_in_documents_reaches_the_client_as_text(sdk):
    for text in (ask(sdk, "zorblax flux capacitor").choices[0].message.content,
                 "".join(c.choices[0].delta.content or "" for c in ask(sdk, "zorblax flux capacitor", stream=True))):
        assert "zorblax" in text
        assert "](http" not in text and "<script>" not in text  # escaped: no image, no tag


def test_refusals_arrive_as_the_sdks_errors(sdk, live_server):
    nobody = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="gl_nonsense", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        ask(nobody, TEA)
    assert refused.value.body == {"detail": "This API key is not valid."}

    with pytest.raises(openai.UnprocessableEntityError) as refused:
        sdk.chat.completions.create(model="groundloop", messages=[{"role": "system", "content": "Be brief."}])
    assert refused.value.body == {"detail": "Send at least one message with role 'user' and some text."}

    feedback_only = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=live_server.keys["feedback"], max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(feedback_only, TEA)
    assert refused.value.body == {"detail": "This key lacks the 'ask' scope."}
