"""The leak matrix: a person outside a document's groups never receives its text, title or id.

One HR document (title "Zephyrine salary bands", text "The zephyrine band pays 91,000 euros …", id
".../hr/salaries-zq7.md") is given to the group ``hr``; three public documents to ``everyone``. Hank
(user, hr) asks about pay, rates the answer down, marks the HR source relevant and corrects it; Ria
(reviewer, hr) approves his answer with the HR document attached, which makes it a verified answer;
a ranker whose feedback memory is made from all that feedback serves (it boosts the HR document for
the question). Olive
(user, no group) and Rita (reviewer, no group) are outside ``hr``. Everything runs against the real
server (a subprocess), except the command line, which runs on a copy of the same data folder.

| path                                         | outsider            | never receives text/title/id | may-see control |
| -------------------------------------------- | ------------------- | ---------------------------- | --------------- |
| REST ``POST /api/v1/ask``                    | Olive's key         | yes                          | Hank gets it    |
| OpenAI ``/v1/chat/completions``, not streamed| Olive's key         | yes                          | Hank gets it    |
| OpenAI ``/v1/chat/completions``, streamed    | Olive's key         | yes                          | Hank gets it    |
| verified answer (approved by Ria)            | Olive, every path   | ordinary answer instead      | Hank: verified  |
| memory boosts after Hank's feedback          | Olive, every path   | yes (boost exists for it)    | boost present   |
| ``groundloop search --as`` / ``ask --as``    | olive               | yes                          | hank gets it    |
| review queue ``/review``                     | Rita's sign-in      | Hank's answer not listed     | Ria sees it     |
| review item ``/review/answers/{id}``         | Rita's sign-in      | 404 "No such answer."        | Ria sees it     |
| review search box ``?q=``                    | Rita's sign-in      | yes                          | Ria finds it    |
| review downloads, every format               | Rita's sign-in      | yes                          | Ria gets it     |
| ``GET /api/v1/export``, every format         | Rita's key          | yes                          | Ria's key       |
| webhook / event-stream payloads (the outbox) | any receiver        | no text or title (ids only)  | —               |

The chat page is the same chain, asked with the signed-in person's groups (``app/chat.py``); the
browser test ``tests/e2e/test_permissions.py`` asks it as Olive and as Hank.
"""

import io
import json
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import urllib.error
import urllib.request

import jwt
import pyarrow.parquet as pq
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from app import components
from app.cli import cli
from app.settings import Settings
from feedback import export, keys, ranker_versions, webhooks
from feedback.db import Database
from feedback.learning import Encoded, memory_of
from feedback.models import Event
from feedback.training import judged_questions
from retrieval import ranker_files
from retrieval.keyword import tokenize
from retrieval.ranking import LearnedRanker
from tests.e2e.conftest import Server
from tests.groups_world import groups_world

SECRET = "permissions-secret-" + "z" * 40
PASSWORD = "a-long-enough-password"
MARKERS = ("zephyrine", "91,000", "salaries-zq7")
"""The HR document's title and text words, and its id (its file's name)."""
PAY = "How much does a volcano team lead earn a year?"
PUBLIC = {
    "nile.md": "# The Nile\n\nThe Nile flows north into the Mediterranean Sea.\n",
    "tea.md": "# Brewing green tea\n\nGreen tea is steeped at about 80 degrees Celsius for two minutes.\n",
    "volcano-team.md": "# The volcano team\n\nThe volcano team leads field trips to Etna every spring; "
                       "a team lead plans the year.\n",
}
HR = {"salaries-zq7.md": "# Zephyrine salary bands\n\nThe zephyrine band pays 91,000 euros a year to volcano "
                         "team leads; a team lead earns a bonus in March.\n"}


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    return [marker for marker in MARKERS if marker in lowered]


@dataclass
class Story:
    server: Server
    url: str
    data: Path
    cli_data: Path
    keys: dict[str, str]
    secret_doc: str
    hank_answer: str
    received: dict[str, str] = field(default_factory=dict)
    """What Olive received, by path."""
    controls: dict[str, str] = field(default_factory=dict)
    """What Hank received, by path."""


def post(url: str, body: dict, key: str) -> str:
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read().decode()


def get(url: str, *, key: str | None = None, person: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if person:
        headers["Cookie"] = f"access_token={sign_in(person)}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def sign_in(person: str) -> str:
    """A sign-in token as the chat's sign-in makes it (session version 0: never signed out)."""
    claims = {"identifier": person, "metadata": {"session_version": 0}, "exp": int(time.time()) + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def ask_everywhere(story: Story, key: str) -> dict[str, str]:
    """The same question through the REST API and the OpenAI endpoint, streamed and not."""
    url = story.url
    chat = {"model": "groundloop", "messages": [{"role": "user", "content": PAY}]}
    return {
        "rest": post(url + "/api/v1/ask", {"question": PAY}, key),
        "openai": post(url + "/v1/chat/completions", chat, key),
        "openai-stream": post(url + "/v1/chat/completions", {**chat, "stream": True}, key),
    }


def serve_memory_of_the_feedback(settings: Settings, embeddings) -> None:
    """A ranker whose feedback memory is made from everything people said (as a retrain makes it), strong
    enough to lend its documents a boost, made the active one: the server serves it from its next question."""
    db = Database(settings.feedback_url)
    try:
        judged = judged_questions(db)
        questions = [j.question for j in judged]
        memory = memory_of(Encoded(embeddings.encode_questions(questions), tokenize(questions)), judged)
        ranker = LearnedRanker("v-memory", memory=memory, threshold=0.5, strength=1.0)
        ranker_files.save(ranker, settings.rankers_dir / ranker.version)
        ranker_versions.record_ranker_version(db, version=ranker.version, path=str(settings.rankers_dir / ranker.version),
                                              active=True, metrics={}, counts={})
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, embeddings) -> Story:
    root = tmp_path_factory.mktemp("permissions")
    settings, db = groups_world(root, public=PUBLIC, hr=HR, password=PASSWORD, embeddings=embeddings, people=[
        ("hank", "user", "hr"), ("olive", "user", ""), ("rita", "reviewer", ""), ("ria", "reviewer", "hr")])
    hr = root / "hr"
    made = {name: keys.create_key(db, identifier=name, scopes="ask,feedback,export")[1]
            for name in ("hank", "olive", "rita", "ria")}
    db.dispose()
    cli_data = root / "cli-data"
    shutil.copytree(settings.data_dir, cli_data)

    server = Server("permissions", settings.data_dir, root, auth_secret=SECRET,
                    api_key_requests_per_minute="100000", api_user_requests_per_minute="100000").wait_ready()
    try:
        story = Story(server, server.url, settings.data_dir, cli_data, made,
                      str((hr / "salaries-zq7.md").resolve()), "")
        first = json.loads(post(story.url + "/api/v1/ask", {"question": PAY}, made["hank"]))
        story.hank_answer = first["answer_id"]
        n = next(c["n"] for c in first["citations"] if c["doc_id"] == story.secret_doc)
        post(f"{story.url}/api/v1/answers/{story.hank_answer}/feedback", {
            "thumb": "down", "sources": [{"n": n, "relevant": True}],
            "correction": {"text": "The zephyrine band pays 91,000 euros a year.", "sources": [n]}}, made["hank"])

        before = ask_everywhere(story, made["olive"])
        for question in (PAY, "Which way does the Nile flow?"):  # two questions judged: enough to learn from
            olive = json.loads(post(story.url + "/api/v1/ask", {"question": question}, made["olive"]))
            post(f"{story.url}/api/v1/answers/{olive['answer_id']}/feedback",
                 {"thumb": "down", "sources": [{"n": olive["citations"][0]["n"], "relevant": True}]}, made["olive"])

        approve = urllib.request.Request(
            f"{story.url}/review/answers/{story.hank_answer}", method="POST",
            data=f"decision=approved&text=The+zephyrine+band+pays+91%2C000+euros.&doc_ids={story.secret_doc}".encode(),
            headers={"Cookie": f"access_token={sign_in('ria')}", "Origin": story.url,
                     "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(approve, timeout=60) as response:
            assert response.status == 200
        serve_memory_of_the_feedback(settings, embeddings)

        after = ask_everywhere(story, made["olive"])
        story.received = {**{f"{k} (before feedback)": v for k, v in before.items()},
                          **{f"{k} (after review and retrain)": v for k, v in after.items()}}
        story.controls = ask_everywhere(story, made["hank"])
        yield story
    finally:
        server.stop()


def test_no_asking_path_gives_an_outsider_the_hr_document(story: Story) -> None:
    assert len(story.received) == 6
    for path, body in story.received.items():
        assert leaks(body) == [], path
        assert body.strip(), path
    for path, body in story.controls.items():
        assert "zephyrine" in body.lower(), path  # the same paths do carry it to someone in hr


def test_the_verified_answer_is_served_only_to_those_who_may_see_its_documents(story: Story) -> None:
    assert json.loads(story.controls["rest"])["verified"] is True
    olive = json.loads(story.received["rest (after review and retrain)"])
    assert olive["verified"] is False and olive["citations"]


def test_the_learned_memory_would_boost_the_hr_document_yet_never_shows_it_outside(story: Story, embeddings) -> None:
    from feedback.registry import ActiveRanker

    settings = Settings(data_dir=story.data, chroma_url=None)
    db = Database(settings.feedback_url)
    try:
        ranker = ActiveRanker(db, components.fusion(settings))()
    finally:
        db.dispose()
    assert ranker.version == "v-memory"
    vector = embeddings.encode_questions([PAY])[0]
    assert ranker.boosts(vector, tokenize([PAY])[0]).get(story.secret_doc, 0) > 0
    assert leaks(story.received["rest (after review and retrain)"]) == []


@pytest.mark.parametrize("command", ["search", "ask"])
def test_the_command_line_as_a_person_sees_their_groups_only(story: Story, command: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--data-dir", str(story.cli_data), command, PAY, "--json", *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert leaks(run("--as", "olive")) == []
    assert "zephyrine" in run("--as", "hank").lower()
    assert "zephyrine" in run().lower()  # the operator, without --as, sees every document
    unknown = runner.invoke(cli, ["--data-dir", str(story.cli_data), command, PAY, "--as", "nobody"])
    assert str(unknown.exception) == "No user named 'nobody'."


def test_a_reviewer_outside_hr_never_sees_the_answer_in_the_queue_or_its_page(story: Story) -> None:
    status, page = get(story.url + "/review", person="rita")
    assert status == 200 and story.hank_answer not in page.decode() and leaks(page.decode()) == []
    status, page = get(f"{story.url}/review/answers/{story.hank_answer}", person="rita")
    assert (status, json.loads(page)) == (404, {"detail": "No such answer."})
    status, page = get(f"{story.url}/review?decided={story.hank_answer}", person="rita")
    assert status == 200 and leaks(page.decode()) == []
    status, page = get(f"{story.url}/review/answers/{story.hank_answer}", person="ria")
    assert status == 200 and "zephyrine" in page.decode().lower()


def test_the_review_search_box_finds_only_the_reviewers_documents(story: Story) -> None:
    status, queue = get(story.url + "/review", person="rita")
    visible = queue.decode().split('data-answer-id="')[1].split('"')[0]
    query = "/review/answers/{}?q=team+lead+yearly+pay+euros+bonus"
    status, page = get(story.url + query.format(visible), person="rita")
    assert status == 200 and leaks(page.decode()) == []
    status, page = get(story.url + query.format(visible), person="ria")
    assert status == 200 and "zephyrine" in page.decode().lower()

    attach = urllib.request.Request(
        f"{story.url}/review/answers/{visible}", method="POST",
        data=f"decision=approved&text=Paid+well.&extra_doc_ids={story.secret_doc}".encode(),
        headers={"Cookie": f"access_token={sign_in('rita')}", "Origin": story.url,
                 "Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(attach, timeout=60)
    assert (refused.value.code, json.loads(refused.value.read())) == (400, {"detail": "Attach only documents you may see."})


def readable(kind: str, content: bytes) -> str:
    if kind == "parquet":
        return json.dumps(pq.read_table(io.BytesIO(content)).to_pylist(), ensure_ascii=False)
    if kind == "qrels":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return "\n".join(archive.read(name).decode() for name in archive.namelist())
    return content.decode()


@pytest.mark.parametrize("kind", export.FORMATS)
def test_downloads_and_api_exports_leave_out_what_the_reviewer_may_not_see(story: Story, kind: str) -> None:
    for status_filter in ("all", "approved"):
        query = f"format={kind}&status={status_filter}"
        status, content = get(f"{story.url}/review/export?{query}", person="rita")
        assert status == 200 and leaks(readable(kind, content)) == [], (kind, status_filter)
        status, content = get(f"{story.url}/api/v1/export?{query}", key=story.keys["rita"])
        assert status == 200 and leaks(readable(kind, content)) == [], (kind, status_filter)
    status, content = get(f"{story.url}/review/export?format={kind}&status=all", person="ria")
    assert status == 200 and leaks(readable(kind, content)), kind  # a reviewer in hr gets what Rita does not


def test_event_payloads_carry_ids_never_document_text_or_titles(story: Story) -> None:
    db = Database(f"sqlite:///{(story.data / 'groundloop.sqlite').resolve()}")
    try:
        with db.read() as session:
            payloads = [webhooks._payload(event) for event in session.exec(select(Event))]
    finally:
        db.dispose()
    assert {p["action"] for p in payloads} >= {"answered", "thumb", "source_mark", "correction", "review"}
    sent = json.dumps(payloads, ensure_ascii=False).lower()
    assert "zephyrine" not in sent and "91,000" not in sent
