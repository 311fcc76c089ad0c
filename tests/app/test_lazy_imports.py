"""Commands that only read the database start at once: they never import the heavy libraries
(torch, Chroma, scikit-learn, skops, Chainlit), which only the commands that rank or serve need."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "chromadb", "sklearn", "skops", "chainlit", "langchain_core", "pyarrow")
PROBE = """
import json, sys
sys.argv = ["groundloop", *json.loads(sys.argv[1])]
from app.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""


def imported_by(args: list[str], data_dir: Path) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["--data-dir", str(data_dir), *args])],
                          capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["users", "list"], ["keys", "list"], ["export"],
                                  ["rankers", "list"], ["models", "list"]])
def test_commands_that_read_the_database_import_nothing_heavy(tmp_path, args):
    assert imported_by(args, tmp_path / "data") & set(HEAVY) == set()


@pytest.mark.parametrize("args", [["events", "publish"], ["events", "tail"]])
def test_the_event_stream_commands_import_nothing_heavy(tmp_path, monkeypatch, args):
    from tests.conftest import free_port

    monkeypatch.setenv("GROUNDLOOP_EVENTS_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    imported = imported_by(args, tmp_path / "data")
    assert "redis" in imported and imported & set(HEAVY) == set()
