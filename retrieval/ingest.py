"""From paths on disk to chunks in the index, with a report of what happened to each."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from retrieval.chunking import split
from retrieval.index import Changes, HybridIndex
from retrieval.loaders import Failure, load_paths


@dataclass(frozen=True)
class IngestReport:
    files: int
    chunks: int
    changes: Changes
    failures: list[Failure]
    warnings: list[Failure] = ()


def ingest(
    index: HybridIndex,
    paths: list[Path],
    *,
    chunk_size: int,
    chunk_overlap: int,
    max_bytes: int,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Load, split and index; ``progress(done, total)`` is called as chunks are indexed."""
    loaded = load_paths(paths, max_bytes=max_bytes)
    chunks = split(loaded.documents, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    done = 0

    def advance(step: int) -> None:
        nonlocal done
        done += step
        if progress:
            progress(done, len(chunks))

    changes = index.add(chunks, progress=advance) if chunks else Changes(0, 0, 0)
    return IngestReport(files=loaded.files, chunks=len(chunks), changes=changes, failures=loaded.failures,
                        warnings=loaded.warnings)
