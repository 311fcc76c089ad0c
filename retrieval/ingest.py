"""From paths on disk (or documents from elsewhere) to chunks in the index, with a report of what
happened to each source."""

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.documents import Document

from retrieval import groups as chunk_groups
from retrieval.chunking import split
from retrieval.index import Changes, HybridIndex
from retrieval.loaders import Failure, discover, load_paths
from retrieval.validation import Limits, indexed_in, validate

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class IngestReport:
    files: int
    chunks: int
    changes: Changes
    failures: list[Failure]
    warnings: list[Failure] = ()
    outcomes: dict[str, str] = field(default_factory=dict)
    """Per source: "added", "changed" (text or groups), "unchanged", or "removed" (under a folder or
    scope ingested, but no longer there)."""
    removed: int = 0
    """Sources removed because they are no longer there."""
    regrouped: tuple[str, ...] = ()
    """Sources whose groups changed (their outcome is "changed")."""


def ingest(
    index: HybridIndex,
    paths: list[Path],
    *,
    chunk_size: int,
    chunk_overlap: int,
    max_bytes: int,
    progress: Progress | None = None,
    groups: Iterable[str] = (chunk_groups.EVERYONE,),
    limits: Limits = Limits(),
) -> IngestReport:
    """Load, validate, split and index as seen by ``groups``; ``progress(done, total)`` is called as chunks
    are indexed. The files that were under a folder named here and are not any more leave the index.
    A file that is still there but cannot be read, or is kept out by validation, keeps what was indexed
    of it before."""
    groups = chunk_groups.parse(groups)
    loaded = load_paths(paths, max_bytes=max_bytes)
    present = {str(path.resolve()) for path in discover(paths)[0]}
    gone = [
        source
        for folder in paths if folder.is_dir()
        for source in index.sources(prefix=str(folder.resolve()) + os.sep)
        if source not in present
    ]
    return _index(index, loaded.documents, chunk_size=chunk_size, chunk_overlap=chunk_overlap, groups=groups,
                  gone=gone, progress=progress, files=loaded.files, failures=loaded.failures, warnings=loaded.warnings,
                  limits=limits)


def ingest_documents(
    index: HybridIndex,
    documents: list[Document],
    *,
    chunk_size: int,
    chunk_overlap: int,
    groups: Iterable[str] = (chunk_groups.EVERYONE,),
    scope: str | None = None,
    progress: Progress | None = None,
    limits: Limits = Limits(),
) -> IngestReport:
    """Documents that are not files (rows of a SQL query): each has ``source`` (a stable key such as
    ``sql:NAME:ID``), ``title`` and ``doc_id`` in its metadata. With ``scope`` (a source prefix such as
    ``sql:NAME:``), the sources under it that are not among ``documents`` leave the index (one kept out
    by validation is among them: it keeps what was indexed of it before)."""
    groups = chunk_groups.parse(groups)
    given = {document.metadata["source"] for document in documents}
    gone = [source for source in index.sources(prefix=scope) if source not in given] if scope else []
    return _index(index, documents, chunk_size=chunk_size, chunk_overlap=chunk_overlap, groups=groups,
                  gone=gone, progress=progress, files=len(documents), limits=limits)


def _index(
    index: HybridIndex,
    documents: list[Document],
    *,
    chunk_size: int,
    chunk_overlap: int,
    groups: tuple[str, ...],
    gone: list[str],
    progress: Progress | None,
    files: int,
    failures: list[Failure] = (),
    warnings: list[Failure] = (),
    limits: Limits,
) -> IngestReport:
    gone = sorted(set(gone))
    index.remove_sources(gone)
    checked = validate(documents, limits=limits, indexed=indexed_in(index))
    chunks = split(checked.documents, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    done = 0

    def advance(step: int) -> None:
        nonlocal done
        done += step
        if progress:
            progress(done, len(chunks))

    changes = index.add(chunks, groups=groups, progress=advance) if chunks else Changes(0, 0, 0)
    return IngestReport(
        files=files, chunks=len(chunks), changes=changes, failures=[*failures, *checked.failures],
        warnings=list(warnings),
        outcomes={**changes.outcomes, **{source: "removed" for source in gone}}, removed=len(gone),
        regrouped=changes.regrouped,
    )
