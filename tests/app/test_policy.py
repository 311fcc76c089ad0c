"""One rule per decision: the chat, the REST API and Chainlit's data layer give the same answer to
the same request, because each asks ``feedback.policy`` and only translates what it says."""

import asyncio
import uuid

import pytest
from chainlit.types import Feedback as ChainlitFeedback
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import api, chat, runtime
from feedback import accounts, answer_log, chat_history, keys, policy
from feedback.datalayer import GroundloopDataLayer, signed_in
from feedback.policy import BadFeedback
from feedback.writing import NotAllowed

TOO_LONG = "x" * (policy.MAX_CORRECTION_CHARS + 1)


@pytest.fixture
def world(settings):
    """Alice's answer in her conversation (shown as a message, with one source); keys for alice and bob."""
    runtime.configure(settings)
    db = runtime.database()
    people = {name: accounts.add_user(db, identifier=name) for name in ("alice", "bob")}
    thread, step = str(uuid.uuid4()), str(uuid.uuid4())
    chat_history.save_thread(db, thread_id=thread, user_id=people["alice"].id)
    answer = answer_log.record_answer(
        db, question="Q?", standalone_question="Q?", answer="A [1].", answerer="extractive", verdict="ok",
        reasons=[], timings_ms={}, user_id=people["alice"].id, thread_id=thread, step_id=step,
        citations=[{"n": 1, "doc_id": "d", "chunk_id": "c", "title": "T", "source": "s", "score": 1.0,
                    "similarity": 1.0, "cited": True}],
    )
    site = FastAPI()
    site.include_router(api.router)
    headers = {name: {"Authorization": f"Bearer {keys.create_key(db, identifier=name, scopes='feedback')[1]}"}
               for name in people}
    return db, answer, step, TestClient(site), headers


def by_chat(db, step: str, user_id: str, correction: str | None = None) -> str:
    """What the chat says: it checks the answer, then reads the typed correction as the chat does."""
    try:
        chat.feedback_on_step(db, step_id=step, user_id=user_id)
        if correction is not None:
            policy.clean_correction(correction)  # the chat's parser for the typed reply
    except (NotAllowed, BadFeedback) as error:
        return str(error)
    return "ok"


def by_api(client, headers, answer_id: str, body: dict) -> str:
    response = client.post(f"/api/v1/answers/{answer_id}/feedback", json=body, headers=headers)
    return "ok" if response.status_code == 200 else response.json()["detail"]


def by_data_layer(db, step: str, identifier: str, comment: str | None = None) -> str:
    async def rate() -> str:
        signed_in.set(identifier)
        try:
            await GroundloopDataLayer(db).upsert_feedback(ChainlitFeedback(forId=step, value=1, comment=comment))
        except (NotAllowed, BadFeedback) as error:
            return str(error)
        return "ok"

    return asyncio.run(rate())


def test_the_person_the_answer_was_given_to_may_give_feedback_everywhere(world) -> None:
    db, answer, step, client, headers = world
    alice = accounts.get_user(db, identifier="alice")
    assert by_chat(db, step, alice.id) == by_api(client, headers["alice"], answer.id, {"thumb": "up"}) == \
        by_data_layer(db, step, "alice") == "ok"


def test_someone_elses_answer_is_refused_alike_everywhere(world) -> None:
    db, answer, step, client, headers = world
    bob = accounts.get_user(db, identifier="bob")
    said = {by_chat(db, step, bob.id), by_api(client, headers["bob"], answer.id, {"thumb": "up"}),
            by_data_layer(db, step, "bob")}
    assert said == {"That answer was given to someone else."}


def test_an_over_long_correction_or_comment_is_refused_alike_everywhere(world) -> None:
    db, answer, step, client, headers = world
    alice = accounts.get_user(db, identifier="alice")
    long_correction = {by_chat(db, step, alice.id, correction=TOO_LONG),
                       by_api(client, headers["alice"], answer.id, {"correction": {"text": TOO_LONG}})}
    assert long_correction == {"The correction is too long (10,001 characters; the limit is 10,000)."}
    long_comment = {by_api(client, headers["alice"], answer.id, {"thumb": "up", "comment": TOO_LONG}),
                    by_data_layer(db, step, "alice", comment=TOO_LONG)}
    assert long_comment == {"The comment is too long (10,001 characters; the limit is 10,000)."}
    response = client.post(f"/api/v1/answers/{answer.id}/feedback", json={"correction": {"text": TOO_LONG}},
                           headers=headers["alice"])
    assert response.status_code == 422


def test_the_api_refuses_what_the_chat_refuses_in_a_correction(world) -> None:
    """Before, the API skipped the chat's check and stored corrections of binary data."""
    db, answer, step, client, headers = world
    binary = "\ufffd\x00\x01" * 50
    assert by_api(client, headers["alice"], answer.id, {"correction": {"text": binary}}) == \
        by_chat(db, step, accounts.get_user(db, identifier="alice").id, correction=binary) == \
        "That does not look like text: it contains binary data."
