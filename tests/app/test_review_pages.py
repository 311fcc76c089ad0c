"""The review pages: who may enter, the queue's order, counts, filters and pages, a decision that
becomes a verified answer, the search box, a reviewer's source marks, and the downloads.

Chainlit can be mounted only once per process, so most tests serve the review router in a small
FastAPI app of its own, with the same sign-in dependency; one test checks the real server's app.
"""

import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

import app.server  # noqa: F401  (first: it points Chainlit at the project before chainlit.auth is imported)
from app import components, review
from chainlit.auth import create_jwt
from chainlit.user import User as ChainlitUser
from feedback import accounts, answer_log, export, opinions, reviews, training
from feedback.models import Event, Feedback, Review

SECRET = "test-secret-" + "x" * 40
ORIGIN = {"origin": "http://testserver"}
SOURCE = {"n": 1, "doc_id": "doc-nile", "chunk_id": "c1", "title": "Rivers", "source": "rivers.html", "score": 1.0,
          "cited": True}


@pytest.fixture
def db(settings):
    return components.database(settings)


@pytest.fixture
def people(db):
    return {name: accounts.add_user(db, identifier=name, role=role, password="pw")
            for name, role in [("alice", "user"), ("bob", "user"), ("rita", "reviewer"), ("ada", "admin")]}


def token(identifier: str, monkeypatch) -> str:
    """A token exactly as Chainlit's sign-in makes it."""
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", SECRET)
    return create_jwt(ChainlitUser(identifier=identifier, metadata={"role": "whatever the token says"}))


def searcher(settings):
    """What the server passes: the index's best chunks, from a retriever over the settings' collection."""
    return lambda query, k, groups=None: components.retriever(settings, components.open_index(settings), k=k).documents(
        query, groups=groups)


@pytest.fixture
def client(db, people, settings, monkeypatch):
    """A client of the review pages; ``client.sign_in(name)`` sets Chainlit's cookie."""
    site = FastAPI()
    site.include_router(review.router(lambda: db, lambda: SECRET, searcher(settings), unsure_share=0.0))
    client = TestClient(site)
    client.sign_in = lambda name: client.cookies.set("access_token", token(name, monkeypatch))
    return client


def answer(db, question: str, *, verdict: str = "ok", similarity: float = 0.5, **extra):
    return answer_log.record_answer(
        db, question=question, standalone_question=question, answer=f"An answer to {question} [1].",
        answerer="extractive", verdict=verdict, reasons=["unsupported"] if verdict == "flagged" else [],
        timings_ms={}, citations=[{**SOURCE, "similarity": similarity}], **extra,
    )


def queue_ids(html: str) -> list[str]:
    return re.findall(r'class="item" data-answer-id="([^"]+)"', html)


def counts(html: str) -> dict[str, int]:
    return {r: int(n) for r, n in re.findall(r'data-reason="(\w+)">[^<]*<span class="count">(\d+)<', html)}


# Who may enter


def test_an_anonymous_visitor_is_asked_to_sign_in(client, db) -> None:
    assert client.get("/review").json() == {"detail": "Sign in first."}
    assert client.get("/review").status_code == 401
    client.cookies.set("access_token", "not-a-token")
    assert client.get("/review").status_code == 401
    forged = ChainlitUser(identifier="rita", metadata={}).to_dict()
    client.cookies.set("access_token", jwt.encode(forged, "another-secret-" + "y" * 40, algorithm="HS256"))
    response = client.get("/review")
    assert (response.status_code, response.json()["detail"]) == (401, "Sign in first.")


def test_an_unknown_person_with_a_valid_token_is_asked_to_sign_in(client) -> None:
    client.sign_in("mallory")
    assert (client.get("/review").status_code, client.get("/review").json()) == (401, {"detail": "Sign in first."})


def test_a_user_is_refused_whatever_the_token_says(client, db) -> None:
    a = answer(db, "Where does the Nile flow?", verdict="flagged")
    client.sign_in("alice")
    for response in (client.get("/review"), client.get(f"/review/answers/{a.id}"),
                     client.post(f"/review/answers/{a.id}", data={"decision": "rejected"}, headers=ORIGIN)):
        assert (response.status_code, response.json()) == (403, {"detail": "Reviewers only."})
    assert _reviews(db) == []


def every_new_route(client, answer_id: str) -> list:
    return [client.get("/review/export?format=jsonl"), client.get(f"/review/answers/{answer_id}?q=nile"),
            client.post(f"/review/answers/{answer_id}/marks", data={"rank": "1", "relevant": "no"}, headers=ORIGIN,
                        follow_redirects=False)]


def test_downloads_search_and_marks_admit_reviewers_only(client, db) -> None:
    a = answer(db, "Where does the Nile flow?", verdict="flagged")
    for response in every_new_route(client, a.id):
        assert (response.status_code, response.json()) == (401, {"detail": "Sign in first."})
    client.sign_in("alice")
    for response in every_new_route(client, a.id):
        assert (response.status_code, response.json()) == (403, {"detail": "Reviewers only."})
    assert _marks(db) == []
    client.sign_in("rita")
    assert [r.status_code for r in every_new_route(client, a.id)] == [200, 200, 303]


def test_search_and_marks_on_an_unknown_answer_are_not_found(client, db) -> None:
    client.sign_in("rita")
    for response in every_new_route(client, "nope")[1:]:
        assert (response.status_code, response.json()) == (404, {"detail": "No such answer."})
    a = answer(db, "Where does the Nile flow?")
    response = client.post(f"/review/answers/{a.id}/marks", data={"rank": "9", "relevant": "yes"}, headers=ORIGIN)
    assert (response.status_code, response.json()) == (404, {"detail": "The answer has no source [9]."})
    for bad in ({"rank": "one", "relevant": "yes"}, {"rank": "²", "relevant": "yes"}, {"rank": "9" * 5000},
                {"rank": "1", "relevant": "maybe"}, {}):
        response = client.post(f"/review/answers/{a.id}/marks", data=bad, headers=ORIGIN)
        assert (response.status_code, response.json()) == (400, {"detail": "Choose a source, and relevant or not."})
    assert _marks(db) == []


@pytest.mark.parametrize("name", ["rita", "ada"])
def test_reviewers_and_admins_enter(client, name) -> None:
    client.sign_in(name)
    response = client.get("/review")
    assert response.status_code == 200 and "Review queue" in response.text and f"signed in as {name}" in response.text


def test_an_unknown_answer_is_not_found(client) -> None:
    client.sign_in("rita")
    for response in (client.get("/review/answers/nope"),
                     client.post("/review/answers/nope", data={"decision": "rejected"}, headers=ORIGIN)):
        assert (response.status_code, response.json()) == (404, {"detail": "No such answer."})


def test_a_form_posted_from_elsewhere_is_refused(client, db) -> None:
    a = answer(db, "Where does the Nile flow?", verdict="flagged")
    client.sign_in("rita")
    for headers in ({}, {"origin": "http://evil.example"}, {"referer": "http://evil.example/review"}):
        for path, data in ((f"/review/answers/{a.id}", {"decision": "rejected"}),
                           (f"/review/answers/{a.id}/marks", {"rank": "1", "relevant": "no"})):
            response = client.post(path, data=data, headers=headers)
            assert (response.status_code, response.json()) == (403, {"detail": "Cross-site form refused."})
    assert _reviews(db) == [] and _marks(db) == []
    response = client.post(f"/review/answers/{a.id}", data={"decision": "rejected"},
                           headers={"referer": "http://testserver/review/answers/x"}, follow_redirects=False)
    assert response.status_code == 303


# The queue


@pytest.fixture
def doubted(db, people):
    """Answers with different reasons for doubt, and two that need no review."""
    flagged = answer(db, "Flagged and weakly retrieved?", verdict="flagged", similarity=0.2)  # 2 + 0.8
    downed = answer(db, "Rated down twice?", similarity=0.9)  # 2 downs + 0.5 comment + 0.1
    opinions.record_thumb(db, answer_id=downed.id, user_id=people["alice"].id, up=False, comment="Wrong river.")
    opinions.record_thumb(db, answer_id=downed.id, user_id=people["bob"].id, up=False)
    commented = answer(db, "Only commented?", similarity=0.5)  # 0.5 + 0.5
    opinions.record_comment(db, answer_id=commented.id, user_id=people["alice"].id, text="Hmm.")
    corrected = answer(db, "Corrected?", similarity=0.7)  # 1 + 0.3
    opinions.record_correction(db, answer_id=corrected.id, user_id=people["bob"].id, text="It is X.", ranks=[1])
    liked = answer(db, "Liked?", similarity=0.1)
    opinions.record_thumb(db, answer_id=liked.id, user_id=people["alice"].id, up=True)
    reviewed = answer(db, "Flagged but reviewed?", verdict="flagged")
    reviews.record_review(db, answer_id=reviewed.id, reviewer_id=people["rita"].id, decision="rejected", text=None,
                          doc_ids=[])
    return {"flagged": flagged, "downed": downed, "commented": commented, "corrected": corrected}


def test_the_queue_puts_the_most_uncertain_first_and_counts_each_reason(client, doubted) -> None:
    client.sign_in("rita")
    html = client.get("/review").text
    assert queue_ids(html) == [doubted[k].id for k in ("flagged", "downed", "corrected", "commented")]
    assert counts(html) == {"flagged": 1, "down": 1, "comment": 2, "correction": 1, "unsure": 0}
    assert "4 to review" in html


def test_the_answers_that_matched_least_well_are_queued_as_unsure_whatever_their_thumbs(
    db, people, settings, monkeypatch
) -> None:
    weak = [answer(db, f"Weakly matched {i}?", similarity=0.12 - i / 100) for i in range(3)]
    liked = answer(db, "Weak but liked?", similarity=0.13)
    opinions.record_thumb(db, answer_id=liked.id, user_id=people["alice"].id, up=True)
    looked_at = answer(db, "Weak but reviewed?", similarity=0.05)
    reviews.record_review(db, answer_id=looked_at.id, reviewer_id=people["rita"].id, decision="approved", text=None,
                          doc_ids=[])
    for i in range(5):
        answer(db, f"Well matched {i}?", similarity=0.8)

    def queue_with(share: float) -> str:
        site = FastAPI()
        site.include_router(review.router(lambda: db, lambda: SECRET, searcher(settings), unsure_share=share))
        client = TestClient(site)
        client.cookies.set("access_token", token("rita", monkeypatch))
        return client.get("/review").text

    html = queue_with(0.5)  # the five least matched of ten; one of them already reviewed
    assert queue_ids(html) == [a.id for a in reversed(weak)] + [liked.id]  # the least matched first
    assert counts(html)["unsure"] == 4 and "weakly matched" in html
    assert queue_ids(queue_with(0.0)) == []


def test_the_queue_filters_by_reason_and_date(client, doubted) -> None:
    client.sign_in("rita")
    assert queue_ids(client.get("/review?reason=comment").text) == [doubted["downed"].id, doubted["commented"].id]
    assert queue_ids(client.get("/review?reason=correction").text) == [doubted["corrected"].id]
    today, tomorrow = datetime.now(UTC).date(), datetime.now(UTC).date() + timedelta(days=1)
    assert len(queue_ids(client.get(f"/review?since={today}").text)) == 4
    html = client.get(f"/review?since={tomorrow}").text
    assert queue_ids(html) == [] and "Nothing to review." in html
    assert client.get("/review?reason=bogus").status_code == 422
    assert client.get("/review?since=yesterday").json() == {"detail": "since: a date as YYYY-MM-DD."}
    assert len(queue_ids(client.get("/review?reason=&since=").text)) == 4  # the filter form's "any"


def test_the_queue_is_paged_twenty_at_a_time(client, db) -> None:
    made = [answer(db, f"Question {i}?", verdict="flagged", similarity=i / 100) for i in range(25)]
    client.sign_in("ada")
    first, second = client.get("/review?reason=flagged").text, client.get("/review?reason=flagged&page=2").text
    assert queue_ids(first) == [a.id for a in made[:20]]  # the least similar first
    assert queue_ids(second) == [a.id for a in made[20:]]
    assert 'rel="next" href="/review?reason=flagged&amp;page=2"' in first and "Page 2 of 2" in second


def test_stored_text_is_shown_as_text(client, db, people) -> None:
    evil = '<script>window.pwned=1</script><img src=x onerror="alert(1)">'
    a = answer(db, evil, verdict="flagged")
    opinions.record_comment(db, answer_id=a.id, user_id=people["alice"].id, text=evil)
    client.sign_in("rita")
    for html in (client.get("/review").text, client.get(f"/review/answers/{a.id}").text):
        assert "<script>window" not in html and "<img src=x" not in html
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html


# One answer, and the decision


def test_the_answer_page_shows_what_people_said_and_prefills_the_latest_correction(client, db, people) -> None:
    a = answer(db, "Where does the Nile flow?", verdict="flagged")
    opinions.record_source_mark(db, answer_id=a.id, user_id=people["alice"].id, rank=1, relevant=False)
    opinions.record_comment(db, answer_id=a.id, user_id=people["bob"].id, text="It flows north.")
    opinions.record_correction(db, answer_id=a.id, user_id=people["alice"].id, text="Into the Black Sea.")
    opinions.record_correction(db, answer_id=a.id, user_id=people["bob"].id, text="Into the Mediterranean.", ranks=[1])
    client.sign_in("rita")
    html = client.get(f"/review/answers/{a.id}").text
    assert "Where does the Nile flow?" in html and "An answer to Where does the Nile flow? [1]." in html
    assert "<td>0 / 1</td>" in html  # the one source marked not relevant once
    assert "It flows north." in html and "Into the Black Sea." in html
    assert re.search(r'<textarea[^>]*>Into the Mediterranean\.</textarea>', html)
    assert 'name="doc_ids" value="doc-nile" checked' in html and 'name="extra_doc_ids"' in html


def test_approving_records_the_review_and_serves_the_verified_answer(indexed, monkeypatch) -> None:
    db = components.database(indexed)
    accounts.add_user(db, identifier="alice", role="user")
    rita = accounts.add_user(db, identifier="rita", role="reviewer")
    chain = components.chain(indexed)
    first = chain.run("Which sea does the Nile flow into?")
    shown = answer_log.record_answer(
        db, question=first.question, standalone_question=first.standalone_question, answer=first.answer,
        answerer=first.answerer, verdict=first.verdict, reasons=first.reasons, timings_ms=first.timings_ms,
        citations=first.to_dict()["citations"],
    )
    opinions.record_thumb(db, answer_id=shown.id, user_id=accounts.get_user(db, identifier="alice").id, up=False)
    site = FastAPI()
    site.include_router(review.router(lambda: db, lambda: SECRET, searcher(indexed)))
    client = TestClient(site)
    client.cookies.set("access_token", token("rita", monkeypatch))
    assert queue_ids(client.get("/review").text) == [shown.id]
    rivers = first.citations[0].doc_id
    corrected = "The Nile ends in the Mediterranean Sea, north of Cairo."
    response = client.post(f"/review/answers/{shown.id}", headers=ORIGIN, follow_redirects=False,
                           data={"decision": "approved", "text": corrected, "doc_ids": [rivers],
                                 "extra_doc_ids": "extra-1, extra-2"})
    assert (response.status_code, response.headers["location"]) == (303, f"/review?decided={shown.id}")  # none left
    assert "Approved “Which sea does the Nile flow into?”" in client.get(response.headers["location"]).text
    [row] = _reviews(db)
    assert (row.answer_id, row.reviewer_id, row.decision, row.text) == (shown.id, rita.id, "approved", corrected)
    assert row.doc_ids == [rivers, "extra-1", "extra-2"]
    assert queue_ids(client.get("/review").text) == []
    result = chain.run("Into which sea does the Nile flow?")
    assert result.verified and result.answer == corrected and [c.doc_id for c in result.citations] == [rivers]


def test_rejecting_keeps_no_text(client, db) -> None:
    a = answer(db, "Where does the Nile flow?", verdict="flagged")
    client.sign_in("ada")
    response = client.post(f"/review/answers/{a.id}", headers=ORIGIN, follow_redirects=False,
                           data={"decision": "rejected", "text": "ignored", "doc_ids": ["doc-nile"]})
    assert response.status_code == 303
    [row] = _reviews(db)
    assert (row.decision, row.text, row.doc_ids) == ("rejected", None, [])
    bad = client.post(f"/review/answers/{a.id}", headers=ORIGIN, data={"decision": "maybe"})
    assert (bad.status_code, bad.json()) == (400, {"detail": "Choose approve or reject."})


def test_the_server_serves_the_review_pages_with_the_chats_sign_in(indexed, monkeypatch) -> None:
    """The real app: the router comes before the Chainlit mount, and a token signed with the
    server's secret (as Chainlit's sign-in makes it) lets a reviewer in."""
    db = components.database(indexed)
    accounts.add_user(db, identifier="rita", role="reviewer")
    site = app.server.create_app(indexed)
    paths = [getattr(getattr(route, "original_router", route), "prefix", None) or getattr(route, "path", "")
             for route in site.routes]
    assert paths.index("/review") < paths.index("/chat")
    client = TestClient(site)  # no lifespan: the chain is not warmed up
    assert (client.get("/review").status_code, client.get("/review").json()) == (401, {"detail": "Sign in first."})
    client.cookies.set("access_token", create_jwt(ChainlitUser(identifier="rita", metadata={})))
    response = client.get("/review")
    assert response.status_code == 200 and "Review queue" in response.text
    a = answer(db, "Where does the Nile flow?")
    found = client.get(f"/review/answers/{a.id}", params={"q": "Nile Mediterranean"}).text  # the chat's retriever
    assert "The Nile flows north into the Mediterranean Sea." in found


# The search box, and a reviewer's marks


def test_the_search_box_finds_documents_a_reviewer_attaches_to_the_approval(client, db, indexed) -> None:
    a = answer(db, "Which sea does the Nile end in?", verdict="flagged")
    client.sign_in("rita")
    html = client.get(f"/review/answers/{a.id}", params={"q": "Nile Mediterranean"}).text
    found = re.findall(r'<li><label><input type="checkbox" name="doc_ids" value="([^"]+)"> <strong>([^<]*)</strong>',
                       html)
    rivers = next(doc_id for doc_id, title in found if title == "Rivers")
    assert rivers.endswith("rivers.html") and "The Nile flows north into the Mediterranean Sea." in html
    assert len({doc_id for doc_id, _ in found}) == len(found) <= review.SEARCH_RESULTS
    assert 'value="Nile Mediterranean"' in html

    response = client.post(f"/review/answers/{a.id}", headers=ORIGIN, follow_redirects=False,
                           data={"decision": "approved", "text": "Into the Mediterranean.", "doc_ids": [rivers]})
    assert response.status_code == 303
    [row] = _reviews(db)
    assert row.doc_ids == [rivers]


def test_a_search_is_shown_as_text_and_an_empty_one_finds_nothing(client, db, indexed) -> None:
    a = answer(db, "Where does the Nile flow?")
    client.sign_in("rita")
    html = client.get(f"/review/answers/{a.id}", params={"q": "<script>alert(1)</script> tea"}).text
    assert "<script>alert(1)" not in html and 'value="&lt;script&gt;alert(1)&lt;/script&gt; tea"' in html
    assert "Green tea is steeped" in html
    assert 'id="found"' not in client.get(f"/review/answers/{a.id}", params={"q": "   "}).text
    too_long = client.get(f"/review/answers/{a.id}", params={"q": "x" * 1001})
    assert (too_long.status_code, too_long.json()) == (422, {"detail": "q: at most 1000 characters."})


def test_a_reviewers_mark_is_stored_shown_and_counted_as_a_strong_label(client, db, people) -> None:
    a = answer(db, "Where does the Nile flow?", verdict="flagged", user_id=people["alice"].id)
    client.sign_in("rita")
    response = client.post(f"/review/answers/{a.id}/marks", data={"rank": "1", "relevant": "no"},
                           headers=ORIGIN, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, f"/review/answers/{a.id}?marked=1#sources")
    html = client.get(f"/review/answers/{a.id}").text
    assert "<td>0 / 1</td>" in html and '<span class="mine">not relevant</span>' in html
    assert 'name="doc_ids" value="doc-nile">' in html  # cited, but marked not relevant: not ticked for approval
    [judged] = training.judged_questions(db)
    assert judged.labels == {"doc-nile": -training.STRONG}

    client.post(f"/review/answers/{a.id}/marks", data={"rank": "1", "relevant": "yes"}, headers=ORIGIN)
    [mark] = _marks(db)  # the new mark replaced the old one
    assert (mark.user_id, mark.value, mark.doc_ids) == (people["rita"].id, 1, ["doc-nile"])
    assert "<td>1 / 0</td>" in client.get(f"/review/answers/{a.id}").text
    [judged] = training.judged_questions(db)
    assert judged.labels == {"doc-nile": training.STRONG}
    assert export.qrels(db).scores == {export.query_id("Where does the Nile flow?"): {"doc-nile": 1}}
    with db.read() as session:
        events = session.exec(select(Event).where(Event.actor_id == people["rita"].id)).all()
    assert [(e.action, e.data["relevant"], e.data["by_reviewer"]) for e in events] == [
        ("source_mark", False, True), ("source_mark", True, True)]
    assert _reviews(db) == [] and queue_ids(client.get("/review").text) == [a.id]  # a mark is not a decision


# Downloads


def test_each_download_is_an_attachment_of_the_export(client, db, people) -> None:
    a = answer(db, "Where does the Nile flow?", verdict="flagged", user_id=people["alice"].id)
    opinions.record_source_mark(db, answer_id=a.id, user_id=people["alice"].id, rank=1, relevant=True)
    reviews.record_review(db, answer_id=a.id, reviewer_id=people["rita"].id, decision="approved",
                          text="North, into the Mediterranean [1].", doc_ids=["doc-nile"])
    client.sign_in("ada")
    files = {}
    for kind in export.FORMATS:
        response = client.get("/review/export", params={"format": kind, "since": "", "status": ""})
        assert response.status_code == 200, kind
        expected = export.download(db, kind=kind, system=review.prompts.load("answer_system"))
        assert response.headers["content-disposition"] == f'attachment; filename="{expected.filename}"'
        assert response.headers["content-type"] == expected.media_type
        files[kind] = response.content
    assert pq.read_table(io.BytesIO(files["parquet"])).to_pylist() == export.answer_rows(db)
    [example] = [json.loads(line) for line in files["chat-jsonl"].decode().splitlines()]
    assert example["messages"][2] == {"role": "assistant", "content": "North, into the Mediterranean [1]."}
    with zipfile.ZipFile(io.BytesIO(files["qrels"])) as archive:
        assert "doc-nile\t1" in archive.read("qrels/test.tsv").decode()
    assert client.get("/review/export").headers["content-disposition"].endswith('"groundloop-feedback.jsonl"')
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert client.get("/review/export", params={"format": "jsonl", "since": str(tomorrow)}).content == b""

    accounts.set_export_opt_out(db, identifier="alice", opted_out=True)
    assert client.get("/review/export", params={"format": "csv"}).text.splitlines()[1:] == []


@pytest.mark.parametrize(("params", "detail"), [
    ({"format": "xml"}, "Unknown format 'xml': use one of jsonl, csv, parquet, chat-jsonl, preference-jsonl, qrels."),
    ({"format": "csv", "status": "some"}, "Unknown status 'some': use approved or all."),
    ({"format": "csv", "since": "yesterday"}, "'yesterday' is not a day: write it as YYYY-MM-DD."),
])
def test_a_bad_download_is_refused_with_the_commands_message(client, params, detail) -> None:
    client.sign_in("rita")
    response = client.get("/review/export", params=params)
    assert (response.status_code, response.json()) == (400, {"detail": detail})


def test_the_queue_page_offers_every_download(client) -> None:
    client.sign_in("rita")
    html = client.get("/review").text
    assert '<form method="get" action="/review/export" id="export">' in html
    formats = re.search(r'<select name="format">(.*?)</select>', html, re.S).group(1)
    assert re.findall(r'<option value="([\w-]+)">\1</option>', formats) == list(export.FORMATS)


def _marks(db) -> list[Feedback]:
    with db.read() as session:
        return list(session.exec(select(Feedback).where(Feedback.kind == "source_mark")))


def _reviews(db) -> list[Review]:
    with db.read() as session:
        return list(session.exec(select(Review)))


# The desk itself: signing in and back, confirmations, the next item, shortcuts, one local stylesheet


def test_a_signed_out_browser_is_sent_to_sign_in_and_back(client) -> None:
    page = client.get("/review/answers/some-id?q=tea", headers={"Accept": "text/html,*/*"}, follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/chat/login")
    assert page.headers["set-cookie"].startswith("groundloop_after_sign_in=%2Freview%2Fanswers%2Fsome-id%3Fq%3Dtea;")
    assert client.get("/review").json() == {"detail": "Sign in first."}  # a script still gets the short answer
    back = (Path(__file__).parents[2] / "public" / "groundloop.js").read_text()
    assert "groundloop_after_sign_in" in back and review.BACK_COOKIE == "groundloop_after_sign_in"


def test_each_decision_is_confirmed_and_the_next_answer_opens(client, db) -> None:
    first = answer(db, "First doubted?", verdict="flagged", similarity=0.1)
    second = answer(db, "Second doubted?", verdict="flagged", similarity=0.5)
    client.sign_in("rita")
    page = client.get(f"/review/answers/{first.id}").text
    assert f'rel="next" href="/review/answers/{second.id}"' in page and 'rel="prev"' not in page
    for key, what in (("j", "next answer"), ("k", "previous answer"), ("a", "approve"), ("r", "reject"),
                      ("/", "search the index")):
        assert f"<li><kbd>{key}</kbd> {what}</li>" in page
    assert '<script src="/review/assets/review.js" defer></script>' in page and "<script>" not in page
    response = client.post(f"/review/answers/{first.id}", headers=ORIGIN, follow_redirects=False,
                           data={"decision": "rejected"})
    assert (response.status_code, response.headers["location"]) == (
        303, f"/review/answers/{second.id}?decided={first.id}")
    opened = client.get(response.headers["location"]).text
    assert '<p class="confirmation" role="status" id="confirmation">Rejected “First doubted?”: it leaves the queue.</p>' in opened


def test_the_desk_has_one_local_stylesheet_and_text_marks(client, db, people) -> None:
    a = answer(db, "Where does the Nile flow?", verdict="flagged", user_id=people["alice"].id)
    opinions.record_thumb(db, answer_id=a.id, user_id=people["alice"].id, up=False)
    client.sign_in("rita")
    for path in ("/review", f"/review/answers/{a.id}"):
        html = client.get(path).text
        assert re.findall(r'<link rel="stylesheet" href="([^"]+)">', html) == ["/review/assets/review.css"]
        assert "https://" not in html and "http://" not in html
        assert not re.search("[\U0001F300-\U0001FAFF\u2600-\u27BF]", html)  # no emoji that needs an emoji font
    assert "thumbs down: 1" in client.get(f"/review/answers/{a.id}").text
    css = client.get("/review/assets/review.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/review/assets/..%2Fapp.py").status_code == 404
    assert client.get("/review/assets/nothing.css").status_code == 404
