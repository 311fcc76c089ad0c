"""Prompt templates are plain files in ``prompts/``, loaded by name, so they can be read and edited."""

from functools import cache
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "prompts"


@cache
def load(name: str) -> str:
    return (FOLDER / f"{name}.md").read_text(encoding="utf-8").strip()
