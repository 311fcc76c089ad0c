"""The one way the index's documents change — ingested from files or from records, given other groups,
deleted — and the event each change leaves, whoever asked: ``groundloop ingest`` and ``groundloop
documents``, the documents page, ``/api/v1/documents`` and source syncs all call these.

Events (``document_added``, ``document_changed``, ``document_removed``, ``document_groups_changed``)
name the document by its id and carry its path, its groups and its chunk count, never its text or title.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from feedback import events
from feedback.writing import NotFound
from retrieval import groups as group_names
from retrieval.catalog import DocumentInfo, shown_path
from retrieval.catalog import catalog as index_catalog
from retrieval.catalog import find
from retrieval.errors import GroundloopError

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from app.runtime import Root
    from retrieval.index import HybridIndex
    from retrieval.ingest import IngestReport

__all__ = ["DocumentInfo", "catalog", "delete", "ingest_paths", "ingest_records", "set_groups"]
NO_DOCUMENT = "No such document."
SUBJECT = "documents"
SUBJECT_CHARS = 100
"""The length of the events table's ``subject_id``."""


class UnknownGroup(GroundloopError):
    """A group nobody has made, named for a document (422 where ``membership.UnknownGroup`` is a 404)."""


def ingest_paths(root: Root, paths: list[Path], *, groups: Iterable[str] = (group_names.EVERYONE,),
                 actor_id: str | None = None, progress: Callable[[int, int], None] | None = None,
                 collection: str | None = None) -> IngestReport:
    """Files and folders into the index (``collection``: another than the served one), for ``groups``;
    an event for each document added, changed or gone from an ingested folder."""
    from retrieval.ingest import ingest

    names = known(root, groups)
    settings, index = root.settings, root.index_of(collection)
    report = ingest(index, paths, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
                    max_bytes=int(settings.max_file_mb * 1e6), progress=progress, groups=names)
    _record_outcomes(root, index, report, actor_id,
                     **({} if collection in (None, settings.collection) else {"collection": collection}))
    return report


def ingest_records(root: Root, documents: list[Document], *, scope: str | None, groups: Iterable[str],
                   actor_id: str | None = None) -> IngestReport:
    """Records of another system (SQL rows) as documents, each with ``source``, ``title`` and ``doc_id`` in
    its metadata; with ``scope``, the documents under that source prefix that are not among them leave."""
    from retrieval.ingest import ingest_documents

    names = known(root, groups)
    settings = root.settings
    report = ingest_documents(root.index, documents, chunk_size=settings.chunk_size,
                              chunk_overlap=settings.chunk_overlap, groups=names, scope=scope)
    _record_outcomes(root, root.index, report, actor_id)
    return report


def catalog(root: Root, sources: Iterable[str] | None = None) -> list[DocumentInfo]:
    """Every document of the served index (or those of ``sources`` that it holds), by path."""
    return index_catalog(root.index, sources)


def get(root: Root, doc_id_or_source: str) -> DocumentInfo:
    """The document, or NotFound."""
    found = find(root.index, doc_id_or_source) if doc_id_or_source else None
    if found is None:
        raise NotFound(NO_DOCUMENT)
    return found


def set_groups(root: Root, doc_id_or_source: str, groups: Iterable[str], *, actor_id: str | None) -> DocumentInfo:
    """From now on only people in ``groups`` find the document; nothing happens when it already had them."""
    names = known(root, groups)
    document = get(root, doc_id_or_source)
    if document.groups == names:
        return document
    root.index.set_groups(document.source, names)
    _record(root, "document_groups_changed", document.doc_id, actor_id, path=document.path, groups=list(names),
            was=list(document.groups), chunks=document.chunks)
    return replace(document, groups=names)


def delete(root: Root, doc_id_or_source: str, *, actor_id: str | None) -> DocumentInfo:
    """The document's chunks, keyword rows and sentence vectors leave the index; a file uploaded through
    the documents page leaves the uploads folder too (a file ingested from elsewhere is never touched)."""
    document = get(root, doc_id_or_source)
    root.index.remove_source(document.source)
    uploaded = Path(document.source)
    if uploaded.parent == root.settings.uploads_dir.resolve():
        uploaded.unlink(missing_ok=True)
    _record(root, "document_removed", document.doc_id, actor_id, path=document.path, groups=list(document.groups),
            chunks=document.chunks)
    return document


def known(root: Root, groups: Iterable[str]) -> tuple[str, ...]:
    """``groups`` as stored (sorted, checked), each one a group that exists; else UnknownGroup."""
    from feedback import membership

    try:
        return membership.check_known(root.database, groups)
    except membership.UnknownGroup as error:  # a document change naming it is bad input, not a missing document
        raise UnknownGroup(str(error)) from None


def known_groups(root: Root) -> tuple[str, ...]:
    """Every group a document may be given, ``everyone`` first."""
    from feedback import membership

    return membership.known(root.database)


def _record_outcomes(root: Root, index: HybridIndex, report: IngestReport, actor_id: str | None, **more) -> None:
    """An event per document the ingest added, changed or removed (an unchanged one leaves none), by source;
    ``more`` in each (the collection, when not the served one)."""
    changed = {source: outcome for source, outcome in sorted(report.outcomes.items()) if outcome != "unchanged"}
    if not changed:
        return
    present = {document.source: document for document in index_catalog(index, changed)}
    entries = []
    for source, outcome in changed.items():
        document = present.get(source)
        if document is None:  # removed: only its source is left to name it by
            facts = {"path": shown_path({"source": source}), "chunks": 0}
        else:
            facts = {"path": document.path, "groups": list(document.groups), "chunks": document.chunks}
        entries.append(_event(f"document_{outcome}", document.doc_id if document else source, actor_id,
                              **facts, **more))
    events.record_all(root.database, entries)  # one transaction for the whole ingest


def _record(root: Root, action: str, doc_id: str, actor_id: str | None, **facts) -> None:
    events.record_all(root.database, [_event(action, doc_id, actor_id, **facts)])


def _event(action: str, doc_id: str, actor_id: str | None, **facts) -> dict:
    """The event names the document by its id, in ``data`` always and as the subject when it fits the
    column (a long path is named there by its SHA-256)."""
    return dict(action=action, subject_type=SUBJECT, subject_id=subject_of(doc_id), actor_id=actor_id,
                data={"doc_id": doc_id, **facts})


def subject_of(doc_id: str) -> str:
    """The ``subject_id`` of a document's events."""
    return doc_id if len(doc_id) <= SUBJECT_CHARS else "sha256:" + hashlib.sha256(doc_id.encode()).hexdigest()
