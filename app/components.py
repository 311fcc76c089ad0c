"""Build retrieval's objects from the settings: the one place they meet."""

from feedback import migrate
from feedback.db import Database
from feedback.registry import ActiveRanker
from feedback.verified import VerifiedAnswers
from retrieval.embeddings import MiniLMEmbeddings
from retrieval.index import HybridIndex, connect
from retrieval.ranking import FusionRanker
from retrieval.retriever import HybridRetriever

from app.answerers import ExtractiveAnswerer, OpenAIAnswerer
from app.chain import Chain
from app.condense import Condenser
from app.grounding import GroundingCheck
from app.settings import Settings


def database(settings: Settings) -> Database:
    """The feedback database, migrated to the newest schema."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.feedback_url)
    migrate.upgrade(db)
    return db


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
        sentences_dir=settings.sentences_dir,
    )


def retriever(settings: Settings, index: HybridIndex, *, k: int | None = None) -> HybridRetriever:
    return HybridRetriever(
        index=index,
        ranker=FusionRanker(dense_weight=settings.dense_weight),
        k=k or settings.top_k,
        candidates=settings.candidates,
    )


def active_ranker(settings: Settings, db: Database) -> ActiveRanker:
    """The ranker the database says is active; fusion with the settings' weight before any is."""
    return ActiveRanker(db, FusionRanker(dense_weight=settings.dense_weight))


def chain(settings: Settings, index: HybridIndex | None = None) -> Chain:
    """The chat chain over the given index (else the settings' collection, opened here): the model
    when configured, else offline."""
    model = embeddings(settings)
    db = database(settings)
    index = index or open_index(settings)
    extractive = ExtractiveAnswerer(
        model, sentences=settings.answer_sentences, min_relevance=settings.answer_min_relevance,
        source_relevance=settings.answer_source_relevance, vectors=index,
    )
    llm_configured = bool(settings.llm_base_url and settings.llm_model)
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    answerer = (
        OpenAIAnswerer(base_url=settings.llm_base_url, model=settings.llm_model, api_key=key, timeout=settings.llm_timeout)
        if llm_configured
        else extractive
    )
    return Chain(
        retriever=retriever(settings, index),
        answerer=answerer,
        fallback=extractive,
        grounding=GroundingCheck(
            model,
            support_similarity=settings.support_similarity,
            support_overlap=settings.support_overlap,
            min_retrieval_similarity=settings.min_retrieval_similarity,
            min_question_similarity=settings.min_question_similarity,
            vectors=index,
        ),
        condenser=Condenser(answerer.llm if llm_configured else None),
        max_question_chars=settings.max_question_chars,
        ranker=active_ranker(settings, db),
        verified=VerifiedAnswers(db, model, threshold=settings.verified_similarity),
    )
