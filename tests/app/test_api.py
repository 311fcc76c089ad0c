"""The REST API: keys and scopes (exact 401/403 details), asking and giving feedback as the chat
does, limits (429 with Retry-After, question size, sign-in attempts), the ranker, and serve --workers.

Chainlit can be mounted only once per process, so most tests serve the API routers in a small
FastAPI app of their own; the sign-in limit is checked on the real server (a subprocess).
"""

import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from app import api, openai_api, runtime
from app.cli import cli
from feedback import accounts, answer_log, keys, opinions, ranker_versions
from feedback.models import Event
from tests.app.conftest import SIGN_IN_FAILURES_PER_NAME

NO_KEY = {"detail": "An API key is needed: send Authorization: Bearer <key>."}
TEA = "At what temperature is green tea steeped?"


@pytest.fixture
def client(db) -> TestClient:
    site = FastAPI()
    site.include_router(api.router)
    site.include_router(openai_api.router)
    return TestClient(site)


@pytest.fixture
def key(db):
    """``key(user, scopes)``: a new key for ``user`` (added when missing) as request headers."""

    def make(user: str = "alice", scopes: str = "ask,feedback,export") -> dict[str, str]:
        if accounts.get_user(db, identifier=user) is None:
            accounts.add_user(db, identifier=user)
        return {"Authorization": f"Bearer {keys.create_key(db, identifier=user, scopes=scopes)[1]}"}

    return make


def ask(client: TestClient, headers: dict, question: str = TEA, **extra) -> dict:
    response = client.post("/api/v1/ask", json={"question": question, **extra}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# Keys and scopes


def test_without_a_key_every_route_says_how_to_send_one(client):
    for method, path in [("post", "/api/v1/ask"), ("post", "/api/v1/answers/x/feedback"), ("get", "/api/v1/models"),
                         ("get", "/v1/models"), ("post", "/v1/chat/completions")]:
        response = client.request(method, path, json={})
        assert (response.status_code, response.json()) == (401, NO_KEY), path
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/models", headers={"Authorization": "Basic YTpi"}).json() == NO_KEY


def test_a_wrong_or_revoked_key_is_refused(client, key, db):
    headers = key()
    good = headers["Authorization"].removeprefix("Bearer ")
    for wrong in ["nonsense", "gl_", good[:-1] + ("A" if good[-1] != "A" else "B"), good + "x"]:
        response = client.get("/api/v1/models", headers={"Authorization": f"Bearer {wrong}"})
        assert (response.status_code, response.json()) == (401, {"detail": "This API key is not valid."}), wrong
    assert client.get("/api/v1/models", headers=headers).status_code == 200

    keys.revoke_key(db, prefix=good)
    response = client.get("/api/v1/models", headers=headers)
    assert (response.status_code, response.json()) == (401, {"detail": "This API key was revoked."})


def test_each_route_needs_its_scope(client, key):
    ask_only, feedback_only = key(scopes="ask"), key(scopes="feedback")
    answer_id = ask(client, ask_only)["answer_id"]

    refused = [
        (client.post(f"/api/v1/answers/{answer_id}/feedback", json={"thumb": "up"}, headers=ask_only), "feedback"),
        (client.get("/api/v1/export", headers=ask_only), "export"),
        (client.post("/api/v1/ask", json={"question": TEA}, headers=feedback_only), "ask"),
        (client.post("/v1/chat/completions", json={"model": "groundloop", "messages": [
            {"role": "user", "content": TEA}]}, headers=feedback_only), "ask"),
    ]
    for response, scope in refused:
        assert (response.status_code, response.json()) == (403, {"detail": f"This key lacks the '{scope}' scope."})
    for path in ("/api/v1/models", "/v1/models"):  # reading what serves needs a key, no scope
        assert client.get(path, headers=feedback_only).status_code == 200


def test_a_key_notes_when_it_was_last_used(client, key, db):
    headers = key()
    (row, _), = keys.list_keys(db)
    assert row.last_used_at is None
    client.get("/api/v1/models", headers=headers)
    client.get("/api/v1/models", headers=headers)

    (row, user), = keys.list_keys(db)
    assert row.last_used_at is not None and user == "alice"
    with db.read() as session:  # noted once a minute, not once a request
        used = session.exec(select(Event).where(Event.action == "api_key_used")).all()
    assert len(used) == 1 and used[0].subject_id == row.id


# Asking


def test_ask_answers_with_citations_and_records_the_answer_for_its_caller(client, key, db):
    body = ask(client, key())

    assert "80 degrees" in body["answer"] and re.search(r"\[\d\]", body["answer"])
    cited = [c for c in body["citations"] if c["cited"]]
    assert cited and "80 degrees" in cited[0]["text"]
    assert body["verdict"] in ("ok", "flagged") and body["thread_id"] is None
    stored = answer_log.citations_of(db, answer_id=body["answer_id"])
    assert [c.rank for c in stored] == [c["n"] for c in body["citations"]]
    alice = accounts.get_user(db, identifier="alice")
    with db.read() as session:
        from feedback.models import Answer
        assert session.get(Answer, body["answer_id"]).user_id == alice.id


def test_a_thread_reads_follow_ups_against_its_earlier_questions(client, key):
    headers = key()
    first = ask(client, headers, "Tell me about green tea", thread_id="trip-1")
    follow_up = ask(client, headers, "How hot is it made?", thread_id="trip-1")

    assert first["thread_id"] == follow_up["thread_id"] == "trip-1"
    assert follow_up["standalone_question"] == "Tell me about green tea How hot is it made?"
    assert "80 degrees" in follow_up["answer"]
    alone = ask(client, headers, "How hot is it made?")
    assert alone["standalone_question"] == "How hot is it made?"



def test_two_people_with_the_same_thread_id_each_get_their_own_thread(client, key):
    alice, bob = key(), key("bob")
    ask(client, alice, "Tell me about green tea", thread_id="support-ticket-1")
    response = client.post("/api/v1/ask", json={"question": "How hot is it made?", "thread_id": "support-ticket-1"},
                           headers=bob)
    assert response.status_code == 200, response.text
    assert response.json()["thread_id"] == "support-ticket-1"
    assert response.json()["standalone_question"] == "How hot is it made?"  # not read against alice's question
    follow_up = ask(client, alice, "How hot is it made?", thread_id="support-ticket-1")
    assert follow_up["standalone_question"] == "Tell me about green tea How hot is it made?"
    again = ask(client, bob, "Tell me more", thread_id="support-ticket-1")
    assert again["standalone_question"] == "How hot is it made? Tell me more"


def test_question_size_and_content_are_checked_before_any_work(client, key, configure):
    configure(max_question_chars=50)
    headers = key()
    response = client.post("/api/v1/ask", json={"question": "x" * 51}, headers=headers)
    assert (response.status_code, response.json()) == (
        413, {"detail": "The question is too long (51 characters; the limit is 50)."})
    response = client.post("/v1/chat/completions", json={"model": "m", "messages": [
        {"role": "user", "content": "x" * 51}]}, headers=headers)
    assert response.status_code == 413
    response = client.post("/api/v1/ask", json={"question": "   "}, headers=headers)
    assert (response.status_code, response.json()) == (
        422, {"detail": "The question is empty: type a few words to search for."})


# Feedback


def test_feedback_is_stored_through_the_chats_writers(client, key, db):
    headers = key()
    answer = ask(client, headers)
    response = client.post(f"/api/v1/answers/{answer['answer_id']}/feedback", headers=headers, json={
        "thumb": "down", "comment": "Too short", "sources": [{"n": 1, "relevant": True}],
        "correction": {"text": "Green tea wants water at 80 degrees [1].", "sources": [1]},
    })
    assert response.status_code == 200, response.text
    assert [s["kind"] for s in response.json()["saved"]] == ["thumb", "source_mark", "correction"]

    stored = {f.kind: f for f in opinions.feedback_on(db, answer_id=answer["answer_id"])}
    assert stored["thumb"].value == -1 and stored["comment"].text == "Too short"
    assert stored["source_mark"].value == 1 and stored["source_mark"].doc_ids == [answer["citations"][0]["doc_id"]]
    assert stored["correction"].text == "Green tea wants water at 80 degrees [1]."

    again = client.post(f"/api/v1/answers/{answer['answer_id']}/feedback", headers=headers, json={"thumb": "up"})
    assert again.status_code == 200  # a new thumb replaces the old one, as in the chat
    assert [f.value for f in opinions.feedback_on(db, answer_id=answer["answer_id"]) if f.kind == "thumb"] == [1]


def test_feedback_refusals_save_nothing(client, key, db):
    headers = key()
    answer_id = ask(client, headers)["answer_id"]
    shown = len(answer_log.citations_of(db, answer_id=answer_id))

    cases = [
        ("no-such-answer", {"thumb": "up"}, headers, 404, "No such answer."),
        (answer_id, {"thumb": "up"}, key("bob"), 403, "That answer was given to someone else."),
        (answer_id, {"thumb": "up", "sources": [{"n": shown + 1, "relevant": False}]}, headers, 404,
         f"The answer has no source [{shown + 1}]."),
        (answer_id, {"correction": {"text": "x", "sources": [shown + 2]}}, headers, 404,
         f"The answer has no source [{shown + 2}]."),
        (answer_id, {}, headers, 422, "Send a thumb, a comment, source marks, a correction or opened sources."),
        (answer_id, {"correction": {"text": "   "}}, headers, 422, "The correction is empty."),
    ]
    for target, body, who, status, detail in cases:
        response = client.post(f"/api/v1/answers/{target}/feedback", json=body, headers=who)
        assert (response.status_code, response.json()) == (status, {"detail": detail}), body
    assert opinions.feedback_on(db, answer_id=answer_id) == []


# Export


def test_export_gives_the_clis_files_to_reviewers_and_admins(client, key, db):
    asker = key("alice")
    answer = ask(client, asker)
    client.post(f"/api/v1/answers/{answer['answer_id']}/feedback", json={"thumb": "up"}, headers=asker)
    accounts.add_user(db, identifier="rita", role="reviewer")
    reviewer = key("rita", "export")

    response = client.get("/api/v1/export", headers=reviewer)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["content-disposition"] == 'attachment; filename="groundloop-feedback.jsonl"'
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert [r["answer_id"] for r in rows] == [answer["answer_id"]]
    parquet = client.get("/api/v1/export", params={"format": "parquet"}, headers=reviewer)
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"
    qrels = client.get("/api/v1/export", params={"format": "qrels"}, headers=reviewer)
    assert qrels.headers["content-type"] == "application/zip" and qrels.content[:2] == b"PK"

    for params, detail in [
        ({"format": "xml"}, "Unknown format 'xml': use one of jsonl, csv, parquet, chat-jsonl, preference-jsonl, qrels."),
        ({"status": "some"}, "Unknown status 'some': use approved or all."),
        ({"since": "yesterday"}, "'yesterday' is not a day: write it as YYYY-MM-DD."),
    ]:
        response = client.get("/api/v1/export", params=params, headers=reviewer)
        assert (response.status_code, response.json()) == (422, {"detail": detail}), params
    response = client.get("/api/v1/export", headers=key("alice", "export"))
    assert (response.status_code, response.json()) == (403, {"detail": "Exports are for reviewers and admins."})


# Limits


def test_a_key_over_its_limit_gets_429_with_retry_after_and_others_are_unaffected(client, key, configure):
    configure(api_key_requests_per_minute=3)
    noisy, quiet = key("alice"), key("bob")
    for _ in range(3):
        assert client.get("/api/v1/models", headers=noisy).status_code == 200

    refused = client.get("/api/v1/models", headers=noisy)
    assert refused.status_code == 429
    wait = int(refused.headers["retry-after"])
    assert 1 <= wait <= 60
    assert refused.json() == {"detail": f"Too many requests with this key: the limit is 3 a minute. Try again in {wait} s."}
    assert client.post("/api/v1/ask", json={"question": TEA}, headers=noisy).status_code == 429
    assert client.get("/api/v1/models", headers=quiet).status_code == 200


def test_a_persons_keys_share_their_limit(client, key, configure):
    configure(api_key_requests_per_minute=10, api_user_requests_per_minute=4)
    first, second, other = key("alice"), key("alice"), key("bob")
    for headers in (first, first, first, second):
        assert client.get("/api/v1/models", headers=headers).status_code == 200

    refused = client.get("/api/v1/models", headers=second)
    assert refused.status_code == 429 and "retry-after" in refused.headers
    assert refused.json()["detail"].startswith("Too many requests for this account: the limit is 4 a minute.")
    assert client.get("/api/v1/models", headers=other).status_code == 200


def sign_in(url: str, name: str, password: str) -> tuple[int, dict]:
    data = urllib.parse.urlencode({"username": name, "password": password}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/chat/login", data=data), timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_failed_sign_ins_are_limited_per_name_on_the_real_server(live_server):
    for _ in range(SIGN_IN_FAILURES_PER_NAME):
        assert sign_in(live_server.url, "mallory", "guess")[0] == 401
    status, headers = sign_in(live_server.url, "mallory", "guess")
    assert status == 429 and 1 <= int(headers["retry-after"]) <= 60
    assert sign_in(live_server.url, "MALLORY", "guess")[0] == 429  # names are counted case-blind

    assert sign_in(live_server.url, "tester", "tester-password")[0] == 200  # others sign in as before
    for _ in range(SIGN_IN_FAILURES_PER_NAME):
        assert sign_in(live_server.url, "tester", "wrong")[0] == 401
    assert sign_in(live_server.url, "tester", "tester-password")[0] == 429  # the right password waits too


# Rankers, the spec, workers


def test_models_shows_the_active_ranker_and_its_metrics(client, key, db):
    headers = key(scopes="ask")
    assert client.get("/api/v1/models", headers=headers).json() == {"active": "fusion", "metrics": {}, "versions": []}

    ranker_versions.record_model_version(db, version="v1", path="rankers/v1", active=True,
                                 metrics={"held_out_ndcg@10": 0.81}, counts={"questions": 40})
    body = client.get("/api/v1/models", headers=headers).json()
    assert body["active"] == "v1" and body["metrics"] == {"held_out_ndcg@10": 0.81}
    assert [(v["version"], v["status"], v["counts"]) for v in body["versions"]] == [("v1", "active", {"questions": 40})]


def test_the_openapi_spec_documents_the_routes_and_the_key(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/ask", "/api/v1/answers/{answer_id}/feedback", "/api/v1/models", "/v1/chat/completions",
            "/v1/models"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_pages_load_everything_from_this_server(live_server, page):
    """Swagger UI and ReDoc work offline: the page names no other host, and what it names is served."""
    with urllib.request.urlopen(live_server.url + page, timeout=30) as response:
        html = response.read().decode()
    named = re.findall(r'(?:src|href|spec-url)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)

    assert "://" not in html
    assert {"/openapi.json", "/static-offline-docs/favicon.png"} <= set(named) and any(n.endswith(".js") for n in named)
    for path in named:
        with urllib.request.urlopen(live_server.url + path, timeout=30) as response:
            assert response.status == 200, path


def test_several_workers_need_a_chroma_server(tmp_path):
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve", "--workers", "2"])
    assert result.exit_code != 0
    assert "Several workers cannot share a local Chroma folder" in str(result.exception)
