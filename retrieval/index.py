"""One object keeping a Chroma collection and its bm25s keyword index in step."""

import functools
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import chromadb
import httpx
import numpy as np
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_classic.indexes import SQLRecordManager
from langchain_classic.indexes._sql_record_manager import UpsertionRecord
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.indexing import index as langchain_index
from sqlalchemy import select

from retrieval import groups as chunk_groups
from retrieval.chunking import chunk_id
from retrieval.errors import IndexUnavailable
from retrieval.keyword import KeywordIndex
from retrieval.sentences import Passage, SentenceStore

REVISION = "groundloop_revision"
GROUPED = "groundloop_groups"
"""Set on a collection once every chunk has its groups stored (older chunks get ``everyone``)."""
_PAGE = 2000
UNREACHABLE = "The document index cannot be reached right now: try again in a moment."


def _reaching_chroma(method: Callable) -> Callable:
    """A Chroma server that went away is IndexUnavailable, said in one line, not a transport error.
    Nothing is kept broken: the next call tries the server again, so it recovers by itself."""

    @functools.wraps(method)
    def reaching(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except httpx.TransportError as error:
            raise IndexUnavailable(UNREACHABLE) from error

    return reaching


@dataclass(frozen=True)
class Changes:
    """What an ingest did to the chunks of a collection."""

    added: int
    skipped: int
    replaced: int
    outcomes: dict[str, str] = field(default_factory=dict)
    """Per source given: "added", "changed" (its text or its groups) or "unchanged"."""
    regrouped: tuple[str, ...] = ()
    """Sources whose stored groups changed."""


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    metadata: dict


def connect(*, chroma_url: str | None, chroma_path: Path) -> chromadb.ClientAPI:
    """A Chroma server's client when a URL is given, else a local folder; telemetry off."""
    settings = ChromaSettings(anonymized_telemetry=False)
    if not chroma_url:
        chroma_path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(chroma_path), settings=settings)
    url = urlparse(chroma_url)
    try:
        client = chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=settings,
        )
        client.heartbeat()
    except Exception as error:  # connection refused, DNS, TLS: all mean the same to a user
        raise IndexUnavailable(f"Cannot reach the Chroma server at {chroma_url}.") from error
    return client


class HybridIndex:
    """Dense vectors in Chroma plus BM25 over the same chunks, rebuilt when Chroma changes."""

    def __init__(
        self,
        *,
        client: chromadb.ClientAPI,
        collection: str,
        embeddings: Embeddings,
        keyword_dir: Path,
        records_url: str,
        sentences_dir: Path | None = None,
    ) -> None:
        """``sentences_dir`` holds each collection's sentence vectors (default: ``sentences`` beside ``keyword_dir``)."""
        self.embeddings = embeddings
        self.client = client
        self.name = collection
        try:
            self.store = Chroma(
                client=client,
                collection_name=collection,
                embedding_function=embeddings,
                collection_configuration={"hnsw": {"space": "cosine", "ef_search": 200}},
            )
        except ValueError as error:
            raise IndexUnavailable(f"Cannot open collection '{collection}': {error}") from None
        self.collection = self.store._collection
        self.records = SQLRecordManager(f"chroma/{collection}", db_url=records_url)
        self.records.create_schema()
        self.keyword_dir = keyword_dir / collection
        self._keyword: KeywordIndex | None = None
        self.sentences = SentenceStore((sentences_dir or keyword_dir.with_name("sentences")) / collection, self._encode_one_chunk)
        self._store_groups_everywhere()

    @_reaching_chroma
    def count(self) -> int:
        return self.collection.count()

    def add(
        self,
        chunks: list[Document],
        *,
        groups: Iterable[str] = (chunk_groups.EVERYONE,),
        progress: Callable[[int], None] | None = None,
    ) -> Changes:
        """Index chunks as seen by ``groups``; unchanged ones are skipped, a changed source's old chunks
        removed, and the groups of a source whose text did not change brought up to date.

        Chunks go in by length so that each embedding batch has little padding. A chunk's id is
        its document and text, not its groups, so new groups move no vector and no citation.
        """
        groups = chunk_groups.parse(groups)
        ordered = [
            Document(chunk.page_content, metadata={**chunk.metadata, **chunk_groups.stored(groups)})
            for chunk in sorted(chunks, key=lambda chunk: len(chunk.page_content))
        ]
        sources = list(dict.fromkeys(chunk.metadata["source"] for chunk in ordered))
        before = self._keys_of(sources)
        result = langchain_index(
            _reporting(ordered, progress),
            self.records,
            self.store,
            batch_size=256,
            cleanup="scoped_full",
            source_id_key="source",
            key_encoder=chunk_id,
        )
        regrouped = self._regroup(sources, groups)
        if result["num_added"] or result["num_deleted"] or result["num_updated"] or regrouped:
            self._move_revision()
            self.sync_sentences()
        now: dict[str, set[str]] = {}
        for chunk in ordered:
            now.setdefault(chunk.metadata["source"], set()).add(chunk_id(chunk))
        outcomes = {
            source: "added" if not before.get(source) else
            "unchanged" if before[source] == now[source] and source not in regrouped else "changed"
            for source in sources
        }
        return Changes(
            added=result["num_added"], skipped=result["num_skipped"], replaced=result["num_deleted"],
            outcomes=outcomes, regrouped=tuple(sorted(regrouped)),
        )

    def set_groups(self, source: str, groups: Iterable[str]) -> int:
        """Give every chunk of ``source`` these groups; the number of chunks whose groups changed."""
        groups = chunk_groups.parse(groups)
        changed = self._regroup([source], groups, count=True)
        if changed:
            self._move_revision()
            self.sync_sentences()
        return changed

    def remove_source(self, source: str) -> int:
        """Remove every chunk of ``source``: vectors, keyword rows and sentence vectors; how many there were."""
        return self.remove_sources([source])

    def remove_sources(self, sources: list[str]) -> int:
        """``remove_source`` for several at once: the keyword index is rebuilt once."""
        if not sources:
            return 0
        ids = [chunk.id for chunk in self._of_sources(sources, include=[])]
        ids += self._keys_of(sources, flat=True)
        ids = list(dict.fromkeys(ids))
        for start in range(0, len(ids), _PAGE):
            self._delete(ids[start : start + _PAGE])
        self.records.delete_keys(ids)
        if ids:
            self._move_revision()
            self.sync_sentences()
        return len(ids)

    def sources(self, prefix: str = "") -> list[str]:
        """The sources indexed (as the record manager knows them), those starting with ``prefix`` only when given."""
        record = UpsertionRecord
        query = select(record.group_id).distinct().where(record.namespace == self.records.namespace)
        if prefix:
            query = query.where(record.group_id.startswith(prefix, autoescape=True))
        with self.records._make_session() as session:
            return sorted(group for (group,) in session.execute(query) if group is not None)

    def sources_in_group(self, name: str) -> list[str]:
        """The sources with at least one chunk given to the group ``name``."""
        found = self._get(where=chunk_groups.chroma_where([name]), include=["metadatas"])
        return sorted({metadata.get("source", "") for metadata in found.get("metadatas") or []})

    def groups_of(self, doc_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The groups of each document as indexed now; documents not indexed are left out."""
        keyword = self.keyword()
        found = {}
        for doc_id in dict.fromkeys(doc_ids):
            rows = keyword.rows_of(doc_id)
            if rows:
                found[doc_id] = tuple(sorted({name for row in rows for name in keyword.groups[row]}))
        return found

    def _keys_of(self, sources: list[str], *, flat: bool = False) -> dict[str, set[str]] | list[str]:
        """The chunk ids the record manager holds for each source (all in one list when ``flat``)."""
        record = UpsertionRecord
        found: dict[str, set[str]] = {}
        with self.records._make_session() as session:
            for start in range(0, len(sources), 500):
                query = select(record.group_id, record.key).where(
                    record.namespace == self.records.namespace, record.group_id.in_(sources[start : start + 500])
                )
                for group, key in session.execute(query):
                    found.setdefault(group, set()).add(key)
        return [key for keys in found.values() for key in keys] if flat else found

    def _regroup(self, sources: list[str], groups: tuple[str, ...], *, count: bool = False) -> set[str] | int:
        """Store ``groups`` on the chunks of ``sources`` that have others; the sources changed (or the chunk count)."""
        wanted = list(groups)
        stale = [chunk for chunk in self._of_sources(sources, include=["metadatas"]) if list(chunk_groups.of(chunk.metadata)) != wanted]
        for start in range(0, len(stale), _PAGE):
            page = stale[start : start + _PAGE]
            self._update([chunk.id for chunk in page], [chunk_groups.stored(groups)] * len(page))
        return len(stale) if count else {chunk.metadata["source"] for chunk in stale}

    def _of_sources(self, sources: list[str], *, include: list[str]) -> Iterator[Chunk]:
        """The chunks of ``sources`` in Chroma, texts left out unless included."""
        for start in range(0, len(sources), 100):
            some = sources[start : start + 100]
            where = {"source": some[0]} if len(some) == 1 else {"source": {"$in": some}}
            found = self._get(where=where, include=include)
            metadatas = found.get("metadatas") or [{} for _ in found["ids"]]
            yield from (Chunk(i, "", m) for i, m in zip(found["ids"], metadatas))

    @_reaching_chroma
    def _get(self, **query) -> dict:
        return self.collection.get(**query)

    @_reaching_chroma
    def _update(self, ids: list[str], metadatas: list[dict]) -> None:
        self.collection.update(ids=ids, metadatas=metadatas)

    @_reaching_chroma
    def _delete(self, ids: list[str]) -> None:
        self.collection.delete(ids=ids)

    @_reaching_chroma
    def _move_revision(self) -> None:
        """A new revision, which readers take as "rebuild the keyword index"; other collection metadata kept."""
        metadata = dict(self.client.get_collection(self.name, embedding_function=None).metadata or {})
        self.collection.modify(metadata={**metadata, REVISION: uuid.uuid4().hex})

    @_reaching_chroma
    def _store_groups_everywhere(self) -> None:
        """Chunks stored before groups existed get ``everyone``, once per collection: afterwards Chroma's
        filter finds them like any other. Marked on the collection so that later openings skip the scan."""
        metadata = dict(self.collection.metadata or {})
        if metadata.get(GROUPED):
            return
        missing = [chunk.id for chunk in self.all_chunks() if chunk_groups.KEY not in chunk.metadata]
        for start in range(0, len(missing), _PAGE):
            page = missing[start : start + _PAGE]
            self.collection.update(ids=page, metadatas=[chunk_groups.stored([chunk_groups.EVERYONE])] * len(page))
        metadata = dict(self.client.get_collection(self.name, embedding_function=None).metadata or {})
        if missing:
            metadata[REVISION] = uuid.uuid4().hex
        self.collection.modify(metadata={**metadata, GROUPED: 1})

    @_reaching_chroma
    def revision(self) -> str:
        """Read afresh: another process may have ingested since this one opened the collection."""
        metadata = self.client.get_collection(self.name, embedding_function=None).metadata
        return (metadata or {}).get(REVISION, "")

    def keyword(self) -> KeywordIndex:
        """The keyword index for the collection's current revision, rebuilt when stale or missing."""
        revision = self.revision()
        if self._keyword is None or self._keyword.revision != revision:
            saved = KeywordIndex.load(self.keyword_dir)
            if saved is None or saved.revision != revision:
                chunks = list(self.all_chunks())
                saved = KeywordIndex.build(
                    [c.id for c in chunks], [c.text for c in chunks], [c.metadata for c in chunks], revision
                )
                saved.save(self.keyword_dir)
            self._keyword = saved
        return self._keyword

    def sync_sentences(self) -> None:
        """Sentence vectors for every chunk of the current revision (new chunks embedded, removed ones dropped,
        a missing file rebuilt): at ingest and when a server starts, never while a question waits."""
        keyword = self.keyword()
        self.sentences.sync(
            keyword.revision, keyword.ids, lambda ids: {chunk.id: chunk.text for chunk in self.chunks(ids)}
        )

    def passages(self, chunks: list[tuple[str | None, str]]) -> list[Passage]:
        """The sentences and instructions of (chunk id, text) pairs with their vectors, read from the store;
        a chunk the store has not seen yet (another process ingested it a moment ago) is embedded once and kept."""
        revision = self._keyword.revision if self._keyword is not None else self.revision()
        self.sentences.adopt(revision)
        return self.sentences.passages(chunks)

    def _encode_one_chunk(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.embeddings.encode(texts, threads=1), dtype=np.float32)

    def all_chunks(self) -> Iterator[Chunk]:
        for offset in range(0, self.count(), _PAGE):
            page = self._page(offset)
            yield from map(Chunk, page["ids"], page["documents"], page["metadatas"])

    @_reaching_chroma
    def _page(self, offset: int) -> dict:
        return self.collection.get(limit=_PAGE, offset=offset, include=["documents", "metadatas"])

    @_reaching_chroma
    def dense(
        self, vector: np.ndarray, n: int, *, groups: Collection[str] | None = None, within: list[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Ids of the n nearest chunks an asker in ``groups`` may see (None: any chunk), or among the chunks
        ``within`` names, and their cosine similarities, best first."""
        n = min(n, self.count() if within is None else len(within))
        if n == 0:
            return [], np.zeros(0, dtype=np.float32)
        restrict = {"ids": within} if within is not None else {"where": chunk_groups.chroma_where(groups)}
        found = self.collection.query(query_embeddings=[vector.tolist()], n_results=n, include=["distances"], **restrict)
        return found["ids"][0], 1.0 - np.asarray(found["distances"][0], dtype=np.float32)

    @_reaching_chroma
    def vectors(self, ids: list[str]) -> np.ndarray:
        """Stored embeddings of the chunks, in the order asked."""
        if not ids:
            return np.zeros((0, 0), dtype=np.float32)
        found = self.collection.get(ids=ids, include=["embeddings"])
        position = {chunk_id: i for i, chunk_id in enumerate(found["ids"])}
        return np.asarray(found["embeddings"], dtype=np.float32)[[position[chunk_id] for chunk_id in ids]]

    @_reaching_chroma
    def chunks(self, ids: list[str]) -> list[Chunk]:
        """Texts and metadata of the chunks, in the order asked."""
        found = self.collection.get(ids=ids, include=["documents", "metadatas"]) if ids else {"ids": []}
        by_id = {i: Chunk(i, text, meta) for i, text, meta in zip(found["ids"], found.get("documents") or [], found.get("metadatas") or [])}
        return [by_id[chunk_id] for chunk_id in ids if chunk_id in by_id]


def _reporting(chunks: list[Document], progress: Callable[[int], None] | None) -> Iterable[Document]:
    for chunk in chunks:
        yield chunk
        if progress:
            progress(1)
