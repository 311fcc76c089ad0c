"""Fixtures for the feedback tests: a signed-in server of their own, people who sign in over HTTP
and over Chainlit's websocket (as the page does), and a look into the server's database.

Imported by ``test_feedback.py``; the corpus, the ``Server`` class and the browser come from
``conftest.py``.
"""

import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import socketio
from playwright.sync_api import Page, expect
from sqlmodel import select

from feedback.db import Database
from feedback.models import Answer, Feedback, User
from tests.e2e.conftest import _RUNNING, GROUNDLOOP, Chat, Server, _env, server_db

PEOPLE = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dave": "dave-pw"}
SOCKET_PATH = "/chat/ws/socket.io"


def add_people(data: Path, workdir: Path, people: dict[str, str], **settings: str) -> None:
    """``groundloop users add`` for each, as an administrator would."""
    for name, password in people.items():
        secret = workdir / f"password-{name}"
        secret.write_text(password + "\n")
        added = subprocess.run(
            [str(GROUNDLOOP), "--data-dir", str(data), "users", "add", name, "--password-file", str(secret)],
            cwd=workdir, env=_env(**settings), capture_output=True, text=True, timeout=120,
        )
        assert added.returncode == 0, added.stdout + added.stderr


def start_server(name: str, data_dir: Path, e2e_dir: Path, **settings: str) -> Server:
    """A server of its own on a copy of the ingested data, with everyone in PEOPLE able to sign in."""
    # A folder of its own each time: a session fixture imported by two test modules starts twice.
    data = Path(tempfile.mkdtemp(prefix=f"data-{name}-", dir=e2e_dir))
    shutil.copytree(data_dir, data, dirs_exist_ok=True)
    add_people(data, e2e_dir, PEOPLE, **settings)
    server = Server(name, data, e2e_dir, **settings)
    _RUNNING.append(server)
    return server.wait_ready()


def stop_server(server: Server) -> None:
    server.stop()
    _RUNNING.remove(server)


@pytest.fixture(scope="session")
def feedback_server(e2e_dir: Path, data_dir: Path) -> Iterator[Server]:
    server = start_server("feedback", data_dir, e2e_dir)
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def feedback_db(feedback_server: Server) -> Iterator[Database]:
    with server_db(feedback_server) as db:
        yield db


def signed_in(server: Server, name: str, password: str | None = None) -> httpx.Client:
    """An HTTP client signed in through Chainlit's /login form, holding its access-token cookie."""
    client = httpx.Client(base_url=server.url, timeout=30)
    response = client.post("/chat/login", data={"username": name, "password": password or PEOPLE[name]})
    assert response.status_code == 200, response.text
    assert client.cookies.get("access_token")
    return client


@dataclass
class Reply:
    thread_id: str
    question_id: str
    run_id: str  # Chainlit's thumbs rate this: the on_message step that holds the answer
    message_id: str  # the answer's own message; answers.step_id
    text: str


class Socket:
    """A chat session over Chainlit's websocket, as the page opens it; it keeps every event."""

    def __init__(self, server: Server, client: httpx.Client, *, thread_id: str | None = None) -> None:
        self.server, self.session_id = server, str(uuid.uuid4())
        self.events: list[tuple[str, object]] = []
        self._lock = threading.Lock()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self._record)
        self.sio.connect(
            server.url, socketio_path=SOCKET_PATH, transports=["websocket"], wait_timeout=10,
            headers={"Cookie": f"access_token={client.cookies['access_token']}"},
            auth={"sessionId": self.session_id, "clientType": "webapp", "userEnv": "{}", "chatProfile": None,
                  "threadId": thread_id},
        )
        self.sio.emit("connection_successful")

    def _record(self, event: str, data: object = None) -> None:
        with self._lock:
            self.events.append((event, data))

    def seen(self, event: str) -> list:
        with self._lock:
            return [data for name, data in self.events if name == event]

    def wait_for(self, found: Callable[[], object], what: str, timeout: float = 30) -> object:
        deadline = time.monotonic() + timeout
        while not (result := found()):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} in {timeout} s; events: {[e for e, _ in self.events]}")
            time.sleep(0.05)
        return result

    def ask(self, question: str, *, saved: bool = True) -> Reply:
        """Send a question; return the answer once it is complete (and, when ``saved``, stored:
        its cards take feedback only after that)."""
        question_id = str(uuid.uuid4())
        self.sio.emit("client_message", {"message": {
            "id": question_id, "threadId": "", "output": question, "name": "me", "type": "user_message",
            "createdAt": "2026-01-01T00:00:00Z"}, "fileReferences": None})
        run = self.wait_for(lambda: next((m for m in self.seen("new_message")
                                          if m["type"] == "run" and m["parentId"] == question_id), None), "run")
        reply = self.wait_for(lambda: next((m for m in self.seen("new_message")
                                            if m["type"] == "assistant_message" and m["parentId"] == run["id"]), None),
                              "answer")
        if saved:
            self.wait_for(lambda: reply["id"] in self.rateable(), "cards that take feedback on the answer")
        return Reply(reply["threadId"], question_id, run["id"], reply["id"], reply["output"])

    def rateable(self) -> set[str]:
        """The answers (message ids) whose cards take feedback: they were stored."""
        return {e["forId"] for e in self.seen("element") if e.get("type") == "custom" and (e.get("props") or {}).get("saved")}

    def act(self, client: httpx.Client, name: str, payload: dict) -> dict:
        """What the page's cards do: run action ``name``; its answer to the page."""
        response = client.post("/chat/project/action", json={"sessionId": self.session_id, "action": {
            "name": name, "payload": payload, "label": "", "id": str(uuid.uuid4())}})
        assert response.status_code == 200, response.text
        return response.json()["response"]

    def messages(self) -> list[str]:
        """The text of every message the server sent, unescaped."""
        return [m["output"].replace("\\", "") for m in self.seen("new_message") if m.get("output")]

    def close(self) -> None:
        self.sio.disconnect()


@pytest.fixture
def sockets() -> Iterator[Callable[..., Socket]]:
    opened: list[Socket] = []

    def open_socket(server: Server, client: httpx.Client, **kwargs) -> Socket:
        opened.append(Socket(server, client, **kwargs))
        return opened[-1]

    yield open_socket
    for socket in opened:
        socket.close()


def sign_in_page(page: Page, server: Server, name: str) -> Chat:
    """Sign in on Chainlit's page, as a person does; the chat once it is ready."""
    page.goto(server.url + "/")
    page.locator("#email").fill(name)
    page.locator("#password").fill(PEOPLE[name])
    page.get_by_role("button", name="Sign In").click()
    chat = Chat(page, server)
    expect(chat.input).to_be_editable(timeout=30_000)
    return chat


def user_id(db: Database, name: str) -> str:
    with db.read() as session:
        return session.exec(select(User.id).where(User.identifier == name)).one()


def answer_of(db: Database, step_id: str) -> Answer | None:
    with db.read() as session:
        return session.exec(select(Answer).where(Answer.step_id == step_id)).first()


def feedback_rows(db: Database, answer_id: str) -> list[Feedback]:
    with db.read() as session:
        return list(session.exec(select(Feedback).where(Feedback.answer_id == answer_id).order_by(Feedback.created_at)))
