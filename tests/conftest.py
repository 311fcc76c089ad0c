"""Shared fixtures: a real temp data folder per test, the real model, a real Chroma server, a real PostgreSQL."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import chromadb
import pytest

from app import components
from app.settings import Settings
from feedback.datalayer import lazy_attributes_as_pep_562
from retrieval.embeddings import MiniLMEmbeddings
from tests import postgres

# The test run imports Chainlit (the data layer's tests) and skops (the rankers') in one process,
# as a server does: set Chainlit up the way the server's root does, before either is imported.
lazy_attributes_as_pep_562()

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def embeddings() -> MiniLMEmbeddings:
    """The real all-MiniLM-L6-v2, loaded once for the whole run."""
    model = MiniLMEmbeddings()
    model.encode(["warm up"])
    return model


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", chroma_url=None)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A handful of small documents in the formats people ingest."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "volcanoes.md").write_text(
        "# Volcanoes\n\nA volcano erupts when magma rises through the crust. "
        "Basaltic lava is runny and flows far from the vent.\n"
    )
    (folder / "tea.txt").write_text(
        "Green tea is steeped at about 80 degrees Celsius for two minutes. Boiling water makes it bitter.\n"
    )
    (folder / "rivers.html").write_text(
        "<html><head><title>Rivers</title></head><body><h1>Rivers</h1>"
        "<p>The Nile flows north into the Mediterranean Sea.</p></body></html>"
    )
    (folder / "parts.csv").write_text("part,description\nXK-42b,a flanged bearing for conveyor belts\n")
    return folder


@pytest.fixture
def open_index(settings: Settings, embeddings: MiniLMEmbeddings):
    """Open a collection over the test's data folder with the shared model."""

    def opener(collection: str = "docs", **overrides):
        return components.open_index(settings.model_copy(update=overrides), collection)

    return opener


def start_chroma(path: Path, port: int) -> subprocess.Popen:
    """``chroma run`` over ``path`` on a loopback ``port``, once it answers its heartbeat."""
    log = (path / "server.log").open("a")
    process = subprocess.Popen(
        [str(BIN / "chroma"), "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            return process
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"chroma run did not start: {(path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    """A real Chroma server: ``chroma run`` on a free loopback port, for the whole run."""
    port = free_port()
    process = start_chroma(tmp_path_factory.mktemp("chroma-server"), port)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def postgres_server():
    """The server at GROUNDLOOP_TEST_POSTGRES_URL, or a private one started for this run."""
    url = os.environ.get("GROUNDLOOP_TEST_POSTGRES_URL")
    if url:
        yield postgres.PostgresServer(url)
        return
    try:
        server = postgres.start()
    except postgres.PostgresMissing as error:
        pytest.fail(str(error), pytrace=False)
    yield server
    server.stop()
