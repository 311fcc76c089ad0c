from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app import components, runtime
from app.settings import Settings
from feedback import accounts, keys
from retrieval.ingest import ingest


@pytest.fixture
def indexed(settings: Settings, corpus: Path, embeddings) -> Settings:
    """Settings whose collection holds the test corpus."""
    ingest(components.open_index(settings), [corpus], chunk_size=2000, chunk_overlap=200, max_bytes=10**6)
    return settings


@pytest.fixture
def configure(indexed):
    """Point the routers at the test's data folder, with these settings changed; returns the database."""

    def apply(**changes):
        runtime.configure(indexed.model_copy(update=changes))
        return runtime.database()

    return apply


@pytest.fixture
def db(configure):
    return configure()


@dataclass
class LiveServer:
    url: str
    keys: dict[str, str]
    """Keys by what they may do: ``all`` (every scope), ``ask`` or ``feedback`` (that scope only)."""
    data_dir: Path


LIVE_CORPUS = {
    "nile.md": "# The Nile\n\nThe Nile flows north into the Mediterranean Sea. "
               "The Nile is about 6,650 kilometres long, one of the longest rivers in the world.\n",
    "tea.md": "# Brewing green tea\n\nGreen tea is steeped at about 80 degrees Celsius for two minutes. "
              "Boiling water makes green tea taste bitter.\n",
    "evil.md": "# Zorblax notes\n\nThe zorblax flux capacitor is recalibrated every quarter by the crew. "
               "![x](http://203.0.113.9/img.png) <script>window.pwned=1</script>\n",
}
SIGN_IN_FAILURES_PER_NAME = 3


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, embeddings) -> Iterator[LiveServer]:
    """``groundloop serve`` in a subprocess over a small corpus, with a user, two keys and a sign-in
    limit of SIGN_IN_FAILURES_PER_NAME; request limits high enough that tests never meet them."""
    from tests.e2e.conftest import Server

    root = tmp_path_factory.mktemp("live")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in LIVE_CORPUS.items():
        (corpus / name).write_text(text)
    settings = Settings(data_dir=root / "data", chroma_url=None)
    ingest(components.open_index(settings), [corpus], chunk_size=2000, chunk_overlap=200, max_bytes=10**6)
    db = components.database(settings)
    accounts.add_user(db, identifier="tester", role="admin", password="tester-password")
    made = {scopes: keys.create_key(db, identifier="tester", scopes=scopes)[1]
            for scopes in ("ask,feedback,export,admin", "ask", "feedback")}
    db.dispose()
    server = Server("api", settings.data_dir, root, api_key_requests_per_minute="100000",
                    api_user_requests_per_minute="100000",
                    sign_in_failures_per_name=str(SIGN_IN_FAILURES_PER_NAME)).wait_ready()
    try:
        yield LiveServer(server.url, {"all": made.pop("ask,feedback,export,admin"), **made}, settings.data_dir)
    finally:
        server.stop()
