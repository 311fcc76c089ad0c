import shutil
from pathlib import Path

import pytest

from app import components
from app.settings import Settings
from retrieval.errors import EmptyQuery, IndexUnavailable
from retrieval.index import HybridIndex, connect
from retrieval.ingest import ingest
from retrieval.ranking import FusionRanker
from retrieval.retriever import HybridRetriever


def add(index, *paths: Path, settings: Settings = Settings()):
    return ingest(index, list(paths), chunk_size=settings.chunk_size, chunk_overlap=50, max_bytes=10**6)


class CountingEmbeddings:
    """The real model, counting how many texts it was asked to embed."""

    def __init__(self, real) -> None:
        self.real, self.embedded = real, 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def embed_documents(self, texts):
        self.embedded += len(texts)
        return self.real.embed_documents(texts)


def test_reingesting_the_same_folder_adds_and_embeds_nothing(
    open_index, corpus: Path, settings: Settings, embeddings
) -> None:
    first = add(open_index(), corpus)
    assert (first.changes.added, first.changes.skipped, first.changes.replaced) == (4, 0, 0)

    counting = CountingEmbeddings(embeddings)
    index = HybridIndex(
        client=connect(chroma_url=None, chroma_path=settings.chroma_path),
        collection="docs",
        embeddings=counting,
        keyword_dir=settings.keyword_dir,
        records_url=settings.records_url,
    )
    second = add(index, corpus)
    assert (second.changes.added, second.changes.skipped, second.changes.replaced) == (0, 4, 0)
    assert counting.embedded == 0
    assert index.count() == 4


def test_a_changed_file_replaces_its_old_chunks(open_index, corpus: Path) -> None:
    index = open_index()
    add(index, corpus)
    (corpus / "tea.txt").write_text("Black tea wants boiling water and four minutes of steeping.\n")
    report = add(index, corpus)
    assert (report.changes.added, report.changes.replaced) == (1, 1)
    assert index.count() == 4
    texts = " ".join(chunk.text for chunk in index.all_chunks())
    assert "Black tea" in texts and "Green tea" not in texts
    top = HybridRetriever(index=index, k=1).invoke("how long to steep black tea")
    assert "Black tea" in top[0].page_content


def test_retriever_documents_carry_their_provenance(open_index, corpus: Path) -> None:
    index = open_index()
    add(index, corpus)
    documents = HybridRetriever(index=index, k=3).invoke("Which way does the Nile flow?")
    assert documents[0].metadata["title"] == "Rivers"
    assert documents[0].metadata["source"] == str((corpus / "rivers.html").resolve())
    assert [d.metadata["rank"] for d in documents] == [1, 2, 3]
    scores = [d.metadata["score"] for d in documents]
    assert scores == sorted(scores, reverse=True)
    assert {"doc_id", "chunk_id", "position"} <= set(documents[0].metadata)


def test_an_exact_part_number_is_found_by_keywords(open_index, corpus: Path) -> None:
    index = open_index()
    add(index, corpus)
    [top] = HybridRetriever(index=index, k=1, ranker=FusionRanker(dense_weight=0.0)).invoke("XK-42b")
    assert "XK-42b" in top.page_content


def test_keyword_index_is_rebuilt_when_missing_or_stale(open_index, corpus: Path, tmp_path: Path) -> None:
    reader = open_index()
    add(reader, corpus)
    assert HybridRetriever(index=reader, k=1).invoke("magma")[0].metadata["title"] == "Volcanoes"

    shutil.rmtree(reader.keyword_dir)
    reopened = open_index()
    assert HybridRetriever(index=reopened, k=1).invoke("magma")[0].metadata["title"] == "Volcanoes"
    assert reopened.keyword_dir.is_dir()

    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "glaciers.md").write_text("# Glaciers\n\nGlaciers carve U-shaped valleys as they retreat.\n")
    add(open_index(), extra)  # another process's ingest
    ranker = FusionRanker(dense_weight=0.0)
    assert HybridRetriever(index=reader, k=1, ranker=ranker).invoke("glaciers valleys")[0].metadata["title"] == "Glaciers"


def test_empty_query_is_an_error_not_a_crash(open_index, corpus: Path) -> None:
    index = open_index()
    add(index, corpus)
    with pytest.raises(EmptyQuery):
        HybridRetriever(index=index).invoke(" \n ")


def test_an_empty_collection_returns_nothing(open_index) -> None:
    assert HybridRetriever(index=open_index()).invoke("anything at all") == []


def test_chroma_server_that_is_down_names_the_url(settings: Settings) -> None:
    with pytest.raises(IndexUnavailable, match=r"http://127\.0\.0\.1:9/"):
        components.open_index(settings.model_copy(update={"chroma_url": "http://127.0.0.1:9/"}))


def test_everything_works_against_a_chroma_server(open_index, corpus: Path, chroma_server: str) -> None:
    index = open_index("server-docs", chroma_url=chroma_server)
    assert add(index, corpus).changes.added == 4
    assert add(index, corpus).changes.added == 0
    assert HybridRetriever(index=index, k=1).invoke("Which way does the Nile flow?")[0].metadata["title"] == "Rivers"
