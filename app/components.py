"""Build retrieval's objects from the settings: the one place they meet."""

from retrieval.embeddings import MiniLMEmbeddings
from retrieval.index import HybridIndex, connect
from retrieval.ranking import FusionRanker
from retrieval.retriever import HybridRetriever

from app.settings import Settings


def embeddings(settings: Settings) -> MiniLMEmbeddings:
    return MiniLMEmbeddings(batch_size=settings.embedding_batch_size, int8=settings.embedding_int8)


def open_index(settings: Settings, collection: str | None = None) -> HybridIndex:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return HybridIndex(
        client=connect(chroma_url=settings.chroma_url, chroma_path=settings.chroma_path),
        collection=collection or settings.collection,
        embeddings=embeddings(settings),
        keyword_dir=settings.keyword_dir,
        records_url=settings.records_url,
    )


def retriever(settings: Settings, index: HybridIndex, *, k: int | None = None) -> HybridRetriever:
    return HybridRetriever(
        index=index,
        ranker=FusionRanker(dense_weight=settings.dense_weight),
        k=k or settings.top_k,
        candidates=settings.candidates,
    )
