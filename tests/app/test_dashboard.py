"""The dashboard at /review/dashboard: who may see it, and the figures and plots it shows."""

import base64
import re
import xml.etree.ElementTree as ElementTree
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import app.server  # noqa: F401  (first: it points Chainlit at the project before chainlit.auth is imported)
from app import components, dashboard
from chainlit.auth import create_jwt
from chainlit.user import User as ChainlitUser
from feedback import accounts, answer_log, opinions, ranker_versions
from feedback.models import Feedback, now

SECRET = "test-secret-" + "x" * 40
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def db(settings):
    return components.database(settings)


@pytest.fixture
def people(db):
    return {name: accounts.add_user(db, identifier=name, role=role)
            for name, role in [("alice", "user"), ("bob", "user"), ("rita", "reviewer"), ("ada", "admin")]}


@pytest.fixture
def client(db, people, monkeypatch):
    site = FastAPI()
    site.include_router(dashboard.router(lambda: db, lambda: SECRET))
    client = TestClient(site)

    def sign_in(name: str) -> None:
        monkeypatch.setenv("CHAINLIT_AUTH_SECRET", SECRET)
        client.cookies.set("access_token", create_jwt(ChainlitUser(identifier=name, metadata={})))

    client.sign_in = sign_in
    return client


def answer(db, user, *, verdict: str):
    return answer_log.record_answer(
        db, question="Why?", standalone_question="Why?", answer="Because [1].", answerer="extractive",
        verdict=verdict, reasons=[], timings_ms={}, user_id=user.id,
        citations=[{"n": 1, "doc_id": "d", "chunk_id": "c", "title": "T", "source": "s", "score": 1.0,
                    "similarity": 0.5, "cited": True}],
    )


def images(html: str) -> dict[str, ElementTree.Element]:
    """Each plot's title (its alt text) and its SVG, decoded and parsed."""
    found = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"', html)
    return {alt: ElementTree.fromstring(base64.b64decode(data)) for data, alt in found}


def texts(svg: ElementTree.Element) -> set[str]:
    return {"".join(t.itertext()).strip() for t in svg.iter(f"{SVG}text")}


def test_only_reviewers_and_admins_see_the_dashboard(client):
    assert (client.get("/review/dashboard").status_code, client.get("/review/dashboard").json()) == (
        401, {"detail": "Sign in first."})
    client.sign_in("alice")
    assert (client.get("/review/dashboard").status_code, client.get("/review/dashboard").json()) == (
        403, {"detail": "Reviewers only."})
    for name in ("rita", "ada"):
        client.sign_in(name)
        assert client.get("/review/dashboard").status_code == 200


def test_the_dashboard_shows_feedback_per_day_the_shares_and_each_rankers_ndcg(client, db, people):
    alice, bob = people["alice"], people["bob"]
    a1, a2 = answer(db, alice, verdict="ok"), answer(db, bob, verdict="flagged")
    answer(db, alice, verdict="ok")
    opinions.record_thumb(db, answer_id=a1.id, user_id=alice.id, up=True)
    opinions.record_thumb(db, answer_id=a2.id, user_id=bob.id, up=False)
    opinions.record_correction(db, answer_id=a2.id, user_id=bob.id, text="Because of the sun.")
    yesterday = now() - timedelta(days=1)
    with db.write() as session:  # alice's thumb was given a day earlier
        thumb = session.get(Feedback, opinions.feedback_on(db, answer_id=a1.id)[0].id)
        thumb.created_at = yesterday
        session.add(thumb)
    ranker_versions.record_model_version(db, version="v1", path="r/v1", active=True, metrics={"held_out_ndcg@10": 0.61},
                                 counts={})
    ranker_versions.record_model_version(db, version="v2", path="r/v2", active=True, metrics={"held_out_ndcg@10": 0.68},
                                 counts={})
    client.sign_in("rita")

    page = client.get("/review/dashboard?days=7")

    assert page.status_code == 200
    html = page.text
    assert "3 answers, 1 flagged (33%)." in html
    assert "2 thumbs, 50% up." in html
    today_row = re.search(rf"<tr><td>{now().date().isoformat()}</td>(.*?)</tr>", html, re.S).group(1)
    yesterday_row = re.search(rf"<tr><td>{yesterday.date().isoformat()}</td>(.*?)</tr>", html, re.S).group(1)
    # answers, flagged, then thumb up, thumb down, comment, source relevant, source not relevant, correction
    assert re.findall(r"<td>(\d+)</td>", today_row) == ["3", "1", "0", "1", "0", "0", "0", "1"]
    assert re.findall(r"<td>(\d+)</td>", yesterday_row) == ["0", "0", "1", "0", "0", "0", "0", "0"]
    assert len(re.findall(r"<tr><td>\d{4}-\d\d-\d\d</td>", html)) == 2  # the five quiet days are folded
    plots = images(html)
    assert set(plots) == {"Feedback per day, by kind", "Share of thumbs up and of answers flagged, per day",
                          "Held-out nDCG@10 per ranker version"}
    assert {"thumb up", "thumb down", "correction"} <= texts(plots["Feedback per day, by kind"])
    assert {"v1", "v2", "nDCG@10"} <= texts(plots["Held-out nDCG@10 per ranker version"])
    assert "<script" not in html and "https://" not in html
    assert {t for t in texts(plots["Feedback per day, by kind"]) if re.fullmatch(r"\d+ \w{3}( \d{4})?", t)} == {
        f"{d.day} {d:%b}" for d in (yesterday.date(), now().date())}  # one label a day, no year for one year


def test_one_of_a_kind_is_said_in_the_singular(client, db, people):
    alice = people["alice"]
    opinions.record_thumb(db, answer_id=answer(db, alice, verdict="ok").id, user_id=alice.id, up=True)
    client.sign_in("rita")

    html = client.get("/review/dashboard").text

    assert "1 answer, 0 flagged (0%)." in html and "1 thumb, 100% up." in html


def test_before_any_feedback_the_dashboard_says_so(client):
    client.sign_in("ada")

    html = client.get("/review/dashboard").text

    assert "0 answers, 0 flagged." in html and "0 thumbs." in html
    assert "No ranker trained yet" in texts(images(html)["Held-out nDCG@10 per ranker version"])
    assert client.get("/review/dashboard?days=0").status_code == 422


def test_the_server_serves_the_dashboard(settings, db):
    accounts.add_user(db, identifier="rita", role="reviewer")
    client = TestClient(app.server.create_app(settings))  # no lifespan: nothing to warm up for this
    client.cookies.set("access_token", create_jwt(ChainlitUser(identifier="rita", metadata={})))

    response = client.get("/review/dashboard")

    assert response.status_code == 200 and "<h1>Dashboard</h1>" in response.text
