"""The API under load: clients asking and rating at once against `groundloop serve --workers N` on loopback.

    python -m benchmarks.load [--clients 50] [--seconds 60] [--workers 2]

A Chroma server is started (several workers must not share a local Chroma folder), the user guide
in docs/ is ingested into it, and every client gets a person and a key of their own. Each client
asks a question, then rates the answer (a thumb and a mark on source [1]), and asks again once
PACE seconds have passed since its last question, until time is up; one more client, over its
limit, asks for /api/v1/models as fast as it can. Afterwards the
feedback rows are counted in the database: every acknowledged thumb and mark must be there.

Targets: no 5xx; every acknowledged feedback stored; the client over its limit gets 429s and the
others none. Latencies are as a client saw them (queueing included), on a machine whose cores are
shared with whatever else runs.
"""

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import chromadb
import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from sqlmodel import func, select

from app import components
from app.settings import Settings
from feedback import accounts, keys
from feedback.models import Feedback

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
QUESTIONS = [
    "How does the grounding check decide an answer is supported?",
    "How do I add the people who use the chat?",
    "Which formats can feedback be exported in?",
    "How are answers reviewed?",
    "How do I use a Chroma server?",
    "What is a verified answer?",
    "How does groundloop learn from feedback?",
    "How is search quality measured?",
    "How do I ingest my own documents?",
    "What happens when a question cannot be answered?",
]
KEY_LIMIT = 120  # requests a minute per key: honest clients stay under it, the noisy one does not
PACE = 1.2
"""Seconds at least from one of an honest client's questions to its next, as a person asks: two requests
(the question and its rating) per 1.2 s stay under KEY_LIMIT however fast the server answers. The
questions offered are then at most clients ÷ PACE a second (41.7 for 50 clients)."""


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)


@dataclass
class Client:
    user_id: str
    key: str
    tallies: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    acknowledged: int = 0
    """Feedback rows the server said it saved."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check, what: str, process: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except Exception:  # noqa: BLE001 - not up yet
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{what} did not start (exit {process.poll()}):\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)


async def request(client: Client, http: httpx.AsyncClient, kind: str, method: str, path: str, **kwargs):
    tally = client.tallies[kind]
    began = time.perf_counter()
    try:
        response = await http.request(method, path, headers={"Authorization": f"Bearer {client.key}"}, **kwargs)
    except httpx.HTTPError as error:
        tally.errors[type(error).__name__] += 1
        return None
    tally.latencies_ms.append((time.perf_counter() - began) * 1000)
    tally.statuses[response.status_code] += 1
    return response


async def honest(client: Client, url: str, deadline: float, offset: int) -> None:
    """Asks, rates the answer, and asks again, but not sooner than PACE seconds after it last asked."""
    async with httpx.AsyncClient(base_url=url, timeout=180) as http:
        n = offset
        while time.monotonic() < deadline:
            began = time.monotonic()
            n += 1
            await ask_and_rate(client, http, n)
            await asyncio.sleep(max(0.0, began + PACE - time.monotonic()))


async def ask_and_rate(client: Client, http: httpx.AsyncClient, n: int) -> None:
    asked = await request(client, http, "ask", "POST", "/api/v1/ask", json={"question": QUESTIONS[n % len(QUESTIONS)]})
    if asked is None or asked.status_code != 200:
        return
    answer = asked.json()
    body = {"thumb": "up" if n % 3 else "down"}
    if answer["citations"]:
        body["sources"] = [{"n": 1, "relevant": n % 2 == 0}]
    rated = await request(client, http, "feedback", "POST", f"/api/v1/answers/{answer['answer_id']}/feedback",
                          json=body)
    if rated is not None and rated.status_code == 200:
        client.acknowledged += len(rated.json()["saved"])


async def noisy(client: Client, url: str, deadline: float) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        while time.monotonic() < deadline:
            response = await request(client, http, "over limit", "GET", "/api/v1/models")
            if response is not None and response.status_code == 429:
                await asyncio.sleep(0.05)  # a client that ignores Retry-After, but does not spin


async def load(url: str, clients: list[Client], loud: Client, seconds: float) -> float:
    deadline = time.monotonic() + seconds
    began = time.perf_counter()
    await asyncio.gather(*(honest(c, url, deadline, i) for i, c in enumerate(clients)), noisy(loud, url, deadline))
    return time.perf_counter() - began


def prepare(settings: Settings, count: int) -> list[Client]:
    db = components.database(settings)
    made = []
    for n in range(count):
        user = accounts.add_user(db, identifier=f"client-{n}")
        made.append(Client(user.id, keys.create_key(db, identifier=user.identifier, scopes="ask,feedback")[1]))
    db.dispose()
    return made


def stored_rows(settings: Settings, user_ids: list[str]) -> int:
    db = components.database(settings)
    with db.read() as session:
        count = session.exec(select(func.count()).select_from(Feedback).where(Feedback.user_id.in_(user_ids))).one()
    db.dispose()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="groundloop-load-") as folder:
        folder = Path(folder)
        chroma_port, port = free_port(), free_port()
        chroma_log, server_log = folder / "chroma.log", folder / "server.log"
        chroma = subprocess.Popen(
            [str(BIN / "chroma"), "run", "--path", str(folder / "chroma"), "--host", "127.0.0.1", "--port", str(chroma_port)],
            stdout=chroma_log.open("w"), stderr=subprocess.STDOUT)
        server = None
        try:
            wait_for(lambda: chromadb.HttpClient(host="127.0.0.1", port=chroma_port).heartbeat(), "chroma run", chroma,
                     chroma_log)
            env = {k: v for k, v in os.environ.items() if not k.startswith("GROUNDLOOP_")}
            env.update(GROUNDLOOP_CHROMA_URL=f"http://127.0.0.1:{chroma_port}",
                       GROUNDLOOP_API_KEY_REQUESTS_PER_MINUTE=str(KEY_LIMIT),
                       GROUNDLOOP_API_USER_REQUESTS_PER_MINUTE=str(2 * KEY_LIMIT))
            data = folder / "data"
            with console.status("Ingesting docs/ into the Chroma server…"):
                subprocess.run([str(BIN / "groundloop"), "--data-dir", str(data), "ingest", str(ROOT / "docs")],
                               env=env, cwd=folder, check=True, capture_output=True)
            settings = Settings(data_dir=data, chroma_url=env["GROUNDLOOP_CHROMA_URL"])
            clients = prepare(settings, args.clients + 1)
            loud = clients.pop()
            server = subprocess.Popen(
                [str(BIN / "groundloop"), "--data-dir", str(data), "serve", "--port", str(port),
                 "--workers", str(args.workers)], env=env, cwd=folder, stdout=server_log.open("w"), stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{port}"
            with console.status(f"Starting {args.workers} workers…"):
                wait_for(lambda: httpx.get(f"{url}/healthz", timeout=2).raise_for_status(), "groundloop serve", server,
                         server_log)
                for question in QUESTIONS:  # both workers load their model before the clock starts
                    httpx.post(f"{url}/api/v1/ask", json={"question": question}, timeout=120,
                               headers={"Authorization": f"Bearer {loud.key}"})
            with console.status(f"{args.clients} clients asking and rating for {args.seconds:.0f} s…"):
                seconds = asyncio.run(load(url, clients, loud, args.seconds))
        finally:
            for process in (server, chroma):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=60)
        report(console, args, clients, loud, seconds, stored_rows(settings, [c.user_id for c in clients]), server_log)


def report(console: Console, args, clients: list[Client], loud: Client, seconds: float, stored: int, log: Path) -> None:
    table = Table("requests", "sent", "2xx", "429", "other 4xx", "5xx", "no answer", "per s", "p50 ms", "p95 ms",
                  title=f"{args.clients} clients for {seconds:.0f} s, {args.workers} workers, "
                        f"limit {KEY_LIMIT}/min a key")
    rows = {kind: Tally() for kind in ("ask", "feedback")}
    for client in clients:
        for kind, tally in client.tallies.items():
            rows[kind].statuses.update(tally.statuses)
            rows[kind].latencies_ms += tally.latencies_ms
            rows[kind].errors.update(tally.errors)
    rows["over limit (1 client)"] = loud.tallies["over limit"]
    for kind, tally in rows.items():
        s = tally.statuses
        sent = sum(s.values()) + sum(tally.errors.values())
        latencies = tally.latencies_ms or [float("nan")]
        table.add_row(kind, str(sent), str(sum(n for c, n in s.items() if 200 <= c < 300)), str(s[429]),
                      str(sum(n for c, n in s.items() if 400 <= c < 500 and c != 429)),
                      str(sum(n for c, n in s.items() if c >= 500)), str(sum(tally.errors.values())),
                      f"{sent / seconds:.1f}", f"{np.percentile(latencies, 50):.0f}", f"{np.percentile(latencies, 95):.0f}")
    console.print(table)
    acknowledged = sum(c.acknowledged for c in clients)
    server_errors = sum(n for t in rows.values() for c, n in t.statuses.items() if c >= 500)
    honest_429 = rows["ask"].statuses[429] + rows["feedback"].statuses[429]
    checks = {
        "no 5xx": server_errors == 0,
        f"every acknowledged feedback stored ({acknowledged} acknowledged, {stored} rows)": stored == acknowledged,
        f"the client over its limit got 429s ({loud.tallies['over limit'].statuses[429]})":
            loud.tallies["over limit"].statuses[429] > 0,
        f"the others got none ({honest_429})": honest_429 == 0,
    }
    for check, met in checks.items():
        console.print(f"{'met' if met else '[red]missed[/red]'}: {check}", highlight=False)
    errors = Counter()
    for tally in rows.values():
        errors.update(tally.errors)
    if errors:
        console.print(f"no answer: {dict(errors)}")
    if server_errors:
        console.print(log.read_text(errors="replace")[-3000:], markup=False, highlight=False)


if __name__ == "__main__":
    main()
