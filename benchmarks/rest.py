"""Answers through the REST API, one at a time, on a warm server over the demo corpus (docs/).

    python -m benchmarks.rest [--rounds 3] [--docs docs]

Reports how long `groundloop serve` takes from start to `/readyz` 200 (and the CPU time it used
for that, which other work on the machine inflates far less than the wall time), the answer latency as the
client saw it next to the retrieval time the server measured, and the server's memory (RSS).
Targets: answer p50 ≤ 150 ms and ≤ 3 × retrieval p50; ready in ≤ 20 s. The machine's cores may
be shared with whatever else runs: say so when quoting the numbers.
"""

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from app.settings import Settings
from benchmarks.chat import DEMO_QUESTIONS
from benchmarks.load import BIN, ROOT, free_port, prepare, wait_for


def _family(pid: int) -> list[int]:
    """The process and its children (the workers)."""
    return [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]


def rss_mb(pid: int) -> float:
    """Resident memory of the process and its children, in MB."""
    total = 0
    for one in _family(pid):
        try:
            status = Path(f"/proc/{one}/status").read_text()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process and its children have used: on a machine whose cores are
    shared, what the start costs, whatever else was running."""
    total = 0
    for one in _family(pid):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="groundloop-rest-") as folder:
        folder, port = Path(folder), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROUNDLOOP_")}
        data, log = folder / "data", folder / "server.log"
        with console.status("Ingesting the demo corpus…"):
            subprocess.run([str(BIN / "groundloop"), "--data-dir", str(data), "ingest", str(args.docs)],
                           env=env, cwd=folder, check=True, capture_output=True)
        [client] = prepare(Settings(data_dir=data), 1)
        started = time.monotonic()
        server = subprocess.Popen([str(BIN / "groundloop"), "--data-dir", str(data), "serve", "--port", str(port)],
                                  env=env, cwd=folder, stdout=log.open("w"), stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).raise_for_status(), "groundloop serve", server, log)
            ready, ready_cpu = time.monotonic() - started, cpu_seconds(server.pid)
            headers = {"Authorization": f"Bearer {client.key}"}
            with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
                http.post("/api/v1/ask", json={"question": DEMO_QUESTIONS[0]}).raise_for_status()  # warm
                answers, retrievals = [], []
                for _ in range(args.rounds):
                    for question in DEMO_QUESTIONS:
                        start = time.perf_counter()
                        reply = http.post("/api/v1/ask", json={"question": question})
                        answers.append((time.perf_counter() - start) * 1000)
                        reply.raise_for_status()
                        retrievals.append(reply.json()["timings_ms"]["retrieve"])
            memory = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)
    answer, retrieval = np.percentile(answers, 50), np.percentile(retrievals, 50)
    table = Table("REST API, demo corpus, sequential", "value", "target", title="Answers through /api/v1/ask")
    table.add_row("server start to /readyz 200", f"{ready:.1f} s ({ready_cpu:.1f} s of CPU)", "≤ 20 s")
    table.add_row("answer p50 / p95", f"{answer:.0f} / {np.percentile(answers, 95):.0f} ms", "≤ 150 ms")
    table.add_row("retrieval p50", f"{retrieval:.0f} ms", "")
    table.add_row("answer p50 ÷ retrieval p50", f"{answer / retrieval:.1f} ×", "≤ 3 ×")
    table.add_row("server RSS", f"{memory:.0f} MB", "")
    console.print(table)


if __name__ == "__main__":
    main()
