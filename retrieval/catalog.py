"""What an index holds, one entry per document: its title, the path people know it by, the groups that
may see it, how many chunks it has and when it was last ingested.

A document is what one ingest names as a ``source``: a file (a CSV or JSON Lines file, with a record per
row, is one document), or a record of another system (``sql:NAME:ID``). Its ``doc_id`` is its chunks'
``doc_id`` when they share one, as they do for every file but CSV and JSON Lines; else its source.
Titles and groups are read from the chunks in Chroma, counts and times from the index's record
manager (which keeps each chunk's key, its source and when it was last written).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath

from langchain_classic.indexes._sql_record_manager import UpsertionRecord
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retrieval import groups as group_names
from retrieval.index import HybridIndex, _reaching_chroma

_PAGE = 500


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    source: str
    title: str
    path: str
    groups: tuple[str, ...]
    chunks: int
    ingested_at: datetime | None


def shown_path(metadata: dict) -> str:
    """Where a chunk came from, as people know it: its path in the folder ingested; for chunks indexed
    before that was kept, the file's name (a URL or a record's key stays as it is)."""
    if metadata.get("path"):
        return str(metadata["path"])
    source = str(metadata.get("source") or "")
    return source if "://" in source or source.startswith("sql:") else PurePath(source).name


def catalog(index: HybridIndex, sources: Iterable[str] | None = None) -> list[DocumentInfo]:
    """Every document of the index (or those of these ``sources`` still in it), by path."""
    found: dict[str, list[dict]] = {}
    for metadata in _metadatas(index, None if sources is None else list(sources)):
        found.setdefault(str(metadata.get("source") or metadata.get("doc_id")), []).append(metadata)
    written = _written(index, found)
    entries = [_entry(source, metadatas, written.get(source)) for source, metadatas in found.items()]
    return sorted(entries, key=lambda entry: (entry.path.lower(), entry.source))


@_reaching_chroma
def find(index: HybridIndex, doc_id_or_source: str) -> DocumentInfo | None:
    """The document with this source, or holding a chunk of this ``doc_id``; None when there is none."""
    for key in ("source", "doc_id"):
        first = index.collection.get(where={key: doc_id_or_source}, limit=1, include=["metadatas"])
        if first["ids"]:
            found = catalog(index, [str(first["metadatas"][0].get("source") or doc_id_or_source)])
            return found[0] if found else None
    return None


@_reaching_chroma
def _metadatas(index: HybridIndex, sources: list[str] | None) -> list[dict]:
    """The metadata of every chunk, or of the chunks of ``sources``."""
    if sources is None:
        return [chunk.metadata for chunk in index.all_chunks()]
    return [metadata for start in range(0, len(sources), _PAGE)
            for metadata in index.collection.get(where={"source": {"$in": sources[start:start + _PAGE]}},
                                                 include=["metadatas"])["metadatas"]]


def _entry(source: str, metadatas: list[dict], written: float | None) -> DocumentInfo:
    first = min(metadatas, key=lambda metadata: metadata.get("position", 0))
    doc_ids = {str(metadata.get("doc_id") or source) for metadata in metadatas}
    path = shown_path(first)
    one = len(doc_ids) == 1
    return DocumentInfo(
        doc_id=doc_ids.pop() if one else source,
        source=source,
        title=str(first.get("title") or PurePath(path).name) if one else PurePath(path).name,
        path=path,
        groups=group_names.of(first),
        chunks=len(metadatas),
        ingested_at=datetime.fromtimestamp(written, UTC) if written else None,
    )


def _written(index: HybridIndex, sources: Iterable[str]) -> dict[str, float]:
    """Per source: when the record manager last wrote one of its chunks (every ingest that names the
    source writes them all, changed or not), as a POSIX time."""
    records = index.records
    sources = list(sources)
    if not sources:
        return {}
    query = (select(UpsertionRecord.group_id, func.max(UpsertionRecord.updated_at))
             .where(UpsertionRecord.namespace == records.namespace)
             .group_by(UpsertionRecord.group_id))
    if len(sources) <= _PAGE:
        query = query.where(UpsertionRecord.group_id.in_(sources))
    with Session(records.engine) as session:
        return {source: at for source, at in session.execute(query)}
