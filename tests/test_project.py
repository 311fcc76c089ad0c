"""The README's two commands are real, and CI runs the test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_commands_are_makefile_targets() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    commands = re.findall(r"^make (\w+)$", readme, re.MULTILINE)
    assert commands[:2] == ["demo", "test"]
    assert set(commands) <= targets


def test_ci_runs_the_readme_test_command() -> None:
    run = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", run, re.MULTILINE)


def test_layers_only_import_downward() -> None:
    forbidden = {"retrieval": ("app", "feedback"), "feedback": ("app",)}
    for package, above in forbidden.items():
        for module in (ROOT / package).rglob("*.py"):
            for line in module.read_text().splitlines():
                assert not re.match(rf"^(from|import) ({'|'.join(above)})\b", line), f"{module}: {line}"
