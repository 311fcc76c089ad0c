"""Benchmarks: run each as a module from the project root, e.g. ``python -m benchmarks.retrieval``."""

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scifact_arguments(description: str) -> argparse.ArgumentParser:
    """The options every SciFact benchmark takes: the dataset, its split, and a data folder to reuse."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "scifact")
    parser.add_argument("--split", default="train")
    parser.add_argument("--data-dir", type=Path, help="Reuse an index here (default: a fresh temporary one).")
    return parser
