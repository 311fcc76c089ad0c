"""Webhooks end to end: the server's background loop posts each feedback event, signed, to a receiver
the test runs on 127.0.0.1, retries after a failure, and after a restart sends what was left."""

import hashlib
import hmac
import json

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

import app.server
from app import components
from app.cli import cli
from feedback import accounts, answer_log, opinions, webhooks
from retrieval.errors import GroundloopError
from tests.webhook_receiver import WebhookReceiver

SECRET = "webhook-secret-" + "w" * 30


def with_webhooks(settings, receiver: WebhookReceiver):
    return settings.model_copy(update={
        "webhook_urls": [receiver.url], "webhook_secret": SecretStr(SECRET),
        "webhook_poll_seconds": 0.1, "webhook_backoff_seconds": 0.2,
    })


def rated_answer(db):
    alice = accounts.add_user(db, identifier="alice")
    answer = answer_log.record_answer(
        db, question="How hot for green tea?", standalone_question="How hot for green tea?",
        answer="About 80 degrees [1].", answerer="extractive", verdict="ok", reasons=[], timings_ms={},
        user_id=alice.id, citations=[],
    )
    return alice, answer


def test_a_failed_delivery_is_retried_and_arrives_signed(indexed):
    db = components.database(indexed)
    alice, answer = rated_answer(db)
    with WebhookReceiver(SECRET) as receiver:
        receiver.answers = [500]
        with TestClient(app.server.create_app(with_webhooks(indexed, receiver))):
            thumb = opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=True)
            failed, delivered = receiver.wait_for(2)

    assert failed.body == delivered.body and failed.signature_ok and delivered.signature_ok
    expected = "sha256=" + hmac.new(SECRET.encode(), delivered.body, hashlib.sha256).hexdigest()
    assert delivered.headers["x-groundloop-signature"] == expected
    assert delivered.headers["content-type"] == "application/json"
    assert delivered.headers["x-groundloop-event"] == "thumb"
    event = json.loads(delivered.body)
    assert (event["action"], event["actor_id"], event["subject_id"], event["data"]) == (
        "thumb", alice.id, thumb.id, {"answer_id": answer.id, "value": 1})
    assert delivered.headers["x-groundloop-delivery"] == str(event["id"])
    [row] = webhooks.deliveries(db)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 2, None)


def test_what_was_not_delivered_before_a_restart_is_sent_after_it(indexed):
    db = components.database(indexed)
    alice, answer = rated_answer(db)
    with WebhookReceiver(SECRET) as receiver:
        settings = with_webhooks(indexed, receiver)
        receiver.answers = [503] * 1000  # down for as long as the first server runs
        with TestClient(app.server.create_app(settings)):
            opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=False)
            opinions.record_comment(db, answer_id=answer.id, user_id=alice.id, text="Too hot.")
            receiver.wait_for(2)
        assert {row.status for row in webhooks.deliveries(db)} == {"pending"}
        receiver.answers = []
        sent_before = len(receiver.received)

        with TestClient(app.server.create_app(settings)):
            arrived = receiver.wait_for(sent_before + 2)[sent_before:]

    assert sorted(r.event["action"] for r in arrived) == ["comment", "thumb"]
    assert all(r.signature_ok for r in arrived)
    assert {row.status for row in webhooks.deliveries(db)} == {"delivered"}


def test_webhooks_without_a_secret_are_refused(settings):
    unsigned = settings.model_copy(update={"webhook_urls": ["http://127.0.0.1:9/hook"]})
    with pytest.raises(GroundloopError) as refused:
        app.server.create_app(unsigned)
    assert str(refused.value) == ("Refusing to start as configured: GROUNDLOOP_WEBHOOK_URLS is set but "
                                  "GROUNDLOOP_WEBHOOK_SECRET is not.")


def test_the_command_delivers_what_is_due_and_retries_what_failed(settings, monkeypatch):
    db = components.database(settings)
    alice, answer = rated_answer(db)
    opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=True)
    with WebhookReceiver(SECRET) as receiver:
        monkeypatch.setenv("GROUNDLOOP_WEBHOOK_URLS", receiver.url)
        monkeypatch.setenv("GROUNDLOOP_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("GROUNDLOOP_WEBHOOK_MAX_ATTEMPTS", "1")
        receiver.answers = [500]
        assert webhooks_command(settings, "deliver") == "0 delivered now; in all 0 delivered, 0 pending, 1 failed."
        assert webhooks_command(settings, "retry-failed") == "1 failed deliveries will be tried again."
        assert webhooks_command(settings, "deliver") == "1 delivered now; in all 1 delivered, 0 pending, 0 failed."

    assert [r.signature_ok for r in receiver.received] == [True, True]


def test_the_command_needs_targets_and_a_secret(settings, monkeypatch):
    with pytest.raises(GroundloopError, match="No webhook targets: set GROUNDLOOP_WEBHOOK_URLS."):
        webhooks_command(settings, "deliver")
    monkeypatch.setenv("GROUNDLOOP_WEBHOOK_URLS", "http://127.0.0.1:9/hook")
    with pytest.raises(GroundloopError, match="GROUNDLOOP_WEBHOOK_SECRET is not set"):
        webhooks_command(settings, "deliver")


def webhooks_command(settings, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "webhooks", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()
