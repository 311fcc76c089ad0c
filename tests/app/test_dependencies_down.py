"""A dependency that goes away while the server runs: one line saying so, the right status on the
API, and the server recovers by itself when it is back. On the real server (a subprocess)."""

import httpx
import pytest

from app import components
from app.settings import Settings
from feedback import accounts, keys
from retrieval.index import UNREACHABLE
from retrieval.ingest import ingest
from tests.app.conftest import LIVE_CORPUS
from tests.conftest import free_port, start_chroma
from tests.e2e.feedback_fixtures import Socket, signed_in

QUESTION = {"question": "How long is the Nile?"}


@pytest.fixture
def chroma_that_goes_away(tmp_path, embeddings):
    """A Chroma server of this test's own over an ingested corpus, a groundloop server on it, a key."""
    from tests.e2e.conftest import Server

    port, folder = free_port(), tmp_path / "chroma"
    folder.mkdir()
    chroma = start_chroma(folder, port)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in LIVE_CORPUS.items():
        (corpus / name).write_text(text)
    settings = Settings(data_dir=tmp_path / "data", chroma_url=f"http://127.0.0.1:{port}")
    ingest(components.open_index(settings), [corpus], chunk_size=2000, chunk_overlap=200, max_bytes=10**6)
    db = components.database(settings)
    accounts.add_user(db, identifier="alice", password="alice-pw")
    key = keys.create_key(db, identifier="alice", scopes="ask")[1]
    db.dispose()
    server = Server("chroma-down", settings.data_dir, tmp_path, chroma_url=settings.chroma_url).wait_ready()
    state = {"chroma": chroma}

    def stop() -> None:
        state["chroma"].terminate()
        state["chroma"].wait(timeout=30)

    def start() -> None:
        state["chroma"] = start_chroma(folder, port)

    try:
        yield server, {"Authorization": f"Bearer {key}"}, stop, start
    finally:
        server.stop()
        if state["chroma"].poll() is None:
            stop()


def test_a_chroma_server_that_is_down_is_one_line_and_a_503_and_recovery_is_by_itself(chroma_that_goes_away):
    """Item 12: the API and the chat said a bare 500 / "Something went wrong"."""
    server, key, stop, start = chroma_that_goes_away
    assert httpx.post(server.url + "/api/v1/ask", json=QUESTION, headers=key, timeout=60).status_code == 200
    chat = Socket(server, signed_in(server, "alice", "alice-pw"))
    try:
        stop()
        down = httpx.post(server.url + "/api/v1/ask", json=QUESTION, headers=key, timeout=60)
        assert (down.status_code, down.json()) == (503, {"detail": UNREACHABLE})
        said = chat.ask("How long is the Nile?", saved=False)
        assert said.text.replace("\\", "") == UNREACHABLE

        start()
        again = httpx.post(server.url + "/api/v1/ask", json=QUESTION, headers=key, timeout=60)
        assert again.status_code == 200 and "6,650" in again.json()["answer"]
        assert chat.ask("How long is the Nile?").text
    finally:
        chat.close()
