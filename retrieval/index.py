"""One object keeping a Chroma collection and its bm25s keyword index in step."""

import functools
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import chromadb
import httpx
import numpy as np
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_classic.indexes import SQLRecordManager
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.indexing import index as langchain_index

from retrieval.chunking import chunk_id
from retrieval.errors import IndexUnavailable
from retrieval.keyword import KeywordIndex
from retrieval.sentences import Passage, SentenceStore

REVISION = "groundloop_revision"
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

    @_reaching_chroma
    def count(self) -> int:
        return self.collection.count()

    def add(self, chunks: list[Document], *, progress: Callable[[int], None] | None = None) -> Changes:
        """Index chunks; unchanged ones are skipped, and a changed source's old chunks removed.

        Chunks go in by length so that each embedding batch has little padding.
        """
        ordered = sorted(chunks, key=lambda chunk: len(chunk.page_content))
        result = langchain_index(
            _reporting(ordered, progress),
            self.records,
            self.store,
            batch_size=256,
            cleanup="scoped_full",
            source_id_key="source",
            key_encoder=chunk_id,
        )
        if result["num_added"] or result["num_deleted"] or result["num_updated"]:
            self.collection.modify(metadata={REVISION: uuid.uuid4().hex})
            self.sync_sentences()
        return Changes(added=result["num_added"], skipped=result["num_skipped"], replaced=result["num_deleted"])

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
    def dense(self, vector: np.ndarray, n: int) -> tuple[list[str], np.ndarray]:
        """Ids of the n nearest chunks and their cosine similarities, best first (fewer when the
        collection holds fewer: Chroma returns what it has, so no count is asked for first)."""
        if n <= 0:
            return [], np.zeros(0, dtype=np.float32)
        found = self.collection.query(query_embeddings=[vector.tolist()], n_results=n, include=["distances"])
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
