"""E2E fixtures: a tiny corpus ingested with the CLI, ``groundloop serve`` in subprocesses, one Chromium.

Two servers run for the whole session, started together so the second loads while the first
answers: ``server`` answers offline, ``slow_server`` is configured with an OpenAI-compatible stub
that answers later than ``GROUNDLOOP_LLM_TIMEOUT``. Each test gets a fresh browser context.
When a test fails, the servers' logs are attached to its report.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from feedback.db import Database
from retrieval.errors import EmptyQuery
from tests.openai_stub import OpenAIStub

ROOT = Path(__file__).resolve().parents[2]
GROUNDLOOP = Path(sys.executable).parent / "groundloop"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

ASSISTANT = '[data-step-type="assistant_message"]'
USER = '[data-step-type="user_message"]'
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
EVIL_HOST = "203.0.113.9"  # TEST-NET-3: never routed, so a request to it can only come from the page
LLM_TIMEOUT = 1
LLM_DELAY = 30  # far past the timeout: an answer that waited for the model would take this long

EMPTY_MESSAGE = str(EmptyQuery())
# Texts that end a turn without citing anything (app/questions.py, retrieval/errors.py, app/chat.py).
_FINAL_WITHOUT_SOURCES = re.compile(
    "|".join(re.escape(text) for text in [
        EMPTY_MESSAGE,
        "The question is too long (",
        "That does not look like a question",
        "Something went wrong while answering",
        "I could not find anything in the indexed documents",
    ])
)

TESTER, TESTER_PASSWORD = "tester", "tester-password"  # added to the data folder; every chat signs in as them
NILE_LENGTH = "The Nile is about 6,650 kilometres long"
EVIL_PHRASE = "zorblax flux capacitor"
CORPUS = {
    "nile.md": """# The Nile

The Nile is a great river of northeastern Africa that flows north into the Mediterranean Sea.
The Nile is about 6,650 kilometres long, which makes it one of the longest rivers in the world.
The White Nile rises in the Great Lakes region near Lake Victoria.
The Blue Nile rises at Lake Tana in the highlands of Ethiopia.
The White Nile and the Blue Nile meet at Khartoum, the capital of Sudan.
Ancient Egyptian farmers depended on the yearly flood of the Nile to water their fields.
The Aswan High Dam has controlled the flood since 1970 and formed Lake Nasser behind it.
The Nile delta begins north of Cairo and spreads out into a wide fan of farmland.
""",
    "green-tea.md": """# Brewing green tea

Green tea is steeped in water at about 80 degrees Celsius for two to three minutes.
Boiling water scorches the leaves and makes the tea taste bitter.
A teaspoon of leaves is enough for one cup, and good leaves can be steeped three times.
""",
    "etna.md": """# Mount Etna

Mount Etna is an active stratovolcano on the east coast of Sicily, in Italy.
It is one of the most active volcanoes in the world and erupts several times a year.
Its lava flows have reached the city of Catania more than once.
""",
    # Another length, so "How long is it?" has a wrong answer to give when the chat forgets the Nile.
    "railway.md": """# The Trans-Siberian Railway

The Trans-Siberian Railway links Moscow with Vladivostok on the Pacific coast.
The main line is about 9,289 kilometres long and crosses eight time zones.
A through journey takes about six days without stops.
""",
    "evil.md": f"""# Zorblax maintenance notes

The {EVIL_PHRASE} must be recalibrated every quarter by the maintenance crew.
<script>window.__pwned=1</script>
<img src="http://{EVIL_HOST}/pixel.png" onerror="window.__pwned=1">
![x](http://{EVIL_HOST}/img.png)
Read the {EVIL_PHRASE} guide here: [click](javascript:window.__pwned=1) before touching anything.
""",
}

expect.set_options(timeout=15_000)  # a 2-core machine running two servers and Chromium


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(**settings: str) -> dict[str, str]:
    """This process's environment without any developer's GROUNDLOOP_* settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUNDLOOP_")}
    return {**env, **{f"GROUNDLOOP_{k.upper()}": v for k, v in settings.items()}}


class Server:
    """``groundloop serve`` on a free loopback port, its output in a log file."""

    def __init__(self, name: str, data_dir: Path, workdir: Path, **settings: str) -> None:
        self.name = name
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"server-{name}.log"
        self._log = self.log_path.open("w")
        self.ready = False
        self.process = subprocess.Popen(
            [str(GROUNDLOOP), "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=workdir,  # no stray .env is read from the repository
            env=_env(**settings),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120) -> "Server":
        """Uvicorn answers /healthz once the app's lifespan start-up has run."""
        deadline = time.monotonic() + timeout
        while not self.ready:
            if self.process.poll() is not None:
                pytest.fail(f"the {self.name} server exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the {self.name} server did not answer /healthz in {timeout:.0f} s:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    self.ready = response.status == 200
            except OSError:
                time.sleep(0.2)
        return self

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


@contextmanager
def server_db(server: Server) -> Iterator[Database]:
    """The running server's own SQLite database, read from the test (WAL mode lets both in)."""
    db = Database(f"sqlite:///{(server.data_dir / 'groundloop.sqlite').resolve()}")
    try:
        yield db
    finally:
        db.dispose()


_RUNNING: list[Server] = []
_ELEMENT_FILES: set[str] = set()  # ids of the source files our browsers fetched, to clean up after
_ELEMENT_FILE = re.compile(r"/chat/project/file/([0-9a-f-]{36})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in _RUNNING:
            report.sections.append((f"groundloop {server.name} server log ({server.log_path})",
                                    server.log()[-20_000:] or "(empty)"))


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def data_dir(e2e_dir: Path) -> Path:
    """The corpus, ingested by the real CLI into a fresh data folder."""
    corpus = e2e_dir / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text)
    data = e2e_dir / "data"
    ingest = subprocess.run(
        [str(GROUNDLOOP), "--data-dir", str(data), "ingest", str(corpus)],
        cwd=e2e_dir, env=_env(), capture_output=True, text=True, timeout=300,
    )
    assert ingest.returncode == 0 and "failed" not in ingest.stdout, f"ingest failed:\n{ingest.stdout}\n{ingest.stderr}"
    assert f"{len(CORPUS)} files" in ingest.stdout, ingest.stdout
    added = subprocess.run(
        [str(GROUNDLOOP), "--data-dir", str(data), "users", "add", TESTER, "--password-file", "-"],
        input=TESTER_PASSWORD, cwd=e2e_dir, env=_env(), capture_output=True, text=True, timeout=120,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    return data


@pytest.fixture(scope="session")
def slow_llm():
    """An OpenAI-compatible model that takes far longer than the server will wait."""
    with OpenAIStub() as stub:
        stub.delay = LLM_DELAY
        yield stub


@pytest.fixture(scope="session")
def servers(e2e_dir: Path, data_dir: Path, slow_llm: OpenAIStub):
    """Both servers, started at once; each has its own copy of the ingested data."""
    llm_data = e2e_dir / "data-llm"
    shutil.copytree(data_dir, llm_data)
    started = {
        "offline": Server("offline", data_dir, e2e_dir),
        "slow-llm": Server("slow-llm", llm_data, e2e_dir, llm_base_url=slow_llm.base_url,
                           llm_model="stub-model", llm_timeout=str(LLM_TIMEOUT)),
    }
    _RUNNING.extend(started.values())
    try:
        yield started
    finally:
        for server in started.values():
            server.stop()
        _RUNNING.clear()
        _remove_chainlit_files()


def _remove_chainlit_files() -> None:
    """Chainlit writes each session's sources to <repo>/.files/<session>/ and keeps them after the
    server stops; remove the folders that hold files our browsers fetched (and only those)."""
    files = ROOT / ".files"
    for folder in (p for p in files.iterdir() if p.is_dir()) if files.is_dir() else []:
        if any(path.stem in _ELEMENT_FILES for path in folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def server(servers) -> Server:
    return servers["offline"].wait_ready()


@pytest.fixture(scope="session")
def slow_server(servers) -> Server:
    return servers["slow-llm"].wait_ready()


@pytest.fixture(scope="package")
def browser() -> Browser:
    """One browser for the end-to-end tests; gone after them, so playwright's event loop does not
    outlive them into tests that run their own (asyncio.run refuses to run inside it)."""
    if not CHROMIUM.exists():
        pytest.fail(f"the end-to-end tests drive {CHROMIUM}, which is not installed: `make test` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def requests_seen() -> list[str]:
    """Every URL the test's page asked for: HTTP requests and WebSocket connections."""
    return []


@pytest.fixture
def page(browser: Browser, requests_seen: list[str]) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # under 768 px the side view is a sheet

    def seen(url: str) -> None:
        requests_seen.append(url)
        if match := _ELEMENT_FILE.search(url):
            _ELEMENT_FILES.add(match.group(1))

    context.on("request", lambda request: seen(request.url))
    page = context.new_page()
    page.on("websocket", lambda socket: seen(socket.url))
    try:
        yield page
    finally:
        context.close()


def foreign(urls: list[str]) -> list[str]:
    """The URLs that go anywhere but this machine."""
    return [url for url in urls if urlsplit(url).hostname not in LOCAL_HOSTS and not url.startswith(("data:", "blob:"))]


class Chat:
    """What a user does on the chat page, and what they see."""

    def __init__(self, page: Page, server: Server) -> None:
        self.page = page
        self.server = server
        self.input = page.locator("#chat-input")
        self.submit = page.locator("#chat-submit")
        self.answers = page.locator(ASSISTANT)
        self.questions = page.locator(USER)
        self.side_title = page.locator("#side-view-title")
        self.side_content = page.locator("#side-view-content")

    def open(self) -> "Chat":
        self.page.goto(self.server.url + "/")
        expect(self.page).to_have_url(self.server.url + "/chat/login")
        self.page.locator("#email").fill(TESTER)
        self.page.locator("#password").fill(TESTER_PASSWORD)
        self.page.get_by_role("button", name="Sign In").click()
        expect(self.input).to_be_editable(timeout=30_000)  # not networkidle: the socket keeps it busy
        return self

    def send(self, text: str) -> None:
        self.input.fill(text)
        expect(self.submit).to_be_enabled()
        self.submit.click()

    def ask(self, question: str, *, timeout: float = 30) -> Locator:
        """Send ``question``; return its answer once it has settled."""
        before = self.answers.count()
        self.send(question)
        answer = self.answers.nth(before)
        self.settle(answer, timeout=timeout)
        return answer

    def settle(self, answer: Locator, *, timeout: float = 30, quiet: float = 0.6) -> None:
        """Wait until the answer is complete (its [n] links arrived, or it is a message that cites
        nothing) and neither its text nor the side panel has changed for ``quiet`` seconds: the
        server closes the side panel Chainlit opens when sources arrive, just after them."""
        deadline = time.monotonic() + timeout
        state, since = None, time.monotonic()
        while True:
            text = answer.inner_text() if answer.count() else None
            done = text is not None and (
                answer.locator("a.element-link").count() > 0 or bool(_FINAL_WITHOUT_SOURCES.search(text))
            )
            now_state = (text, self.side_content.count())
            if now_state != state:
                state, since = now_state, time.monotonic()
            if done and time.monotonic() - since >= quiet:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the answer did not settle in {timeout} s; it reads: {text!r}")
            self.page.wait_for_timeout(50)

    def record_answer_texts(self) -> None:
        """From now on, keep every text the last answer shows, as the DOM changes (streaming)."""
        self.page.evaluate(
            """(selector) => {
                window.__e2eTexts = [];
                const record = () => {
                    const all = document.querySelectorAll(selector);
                    const text = all.length ? all[all.length - 1].innerText : "";
                    const texts = window.__e2eTexts;
                    if (texts[texts.length - 1] !== text) texts.push(text);
                };
                new MutationObserver(record).observe(document.body,
                    {subtree: true, childList: true, characterData: true});
            }""",
            ASSISTANT,
        )

    def answer_texts(self) -> list[str]:
        return self.page.evaluate("window.__e2eTexts")

    def open_source(self, answer: Locator, n: int) -> Locator:
        """Click an answer's [n]; return the side panel once it shows that source."""
        answer.locator("a.element-link").get_by_text(f"[{n}]", exact=True).first.click()
        expect(self.side_title).to_have_text(f"[{n}]")
        expect(self.side_content).to_be_visible()  # it slides in from the right
        return self.side_content


@pytest.fixture
def chat(page: Page, server: Server) -> Chat:
    return Chat(page, server).open()


@pytest.fixture
def slow_chat(page: Page, slow_server: Server) -> Chat:
    return Chat(page, slow_server).open()
