"""Build the parts from the settings: the one place they meet. Builders only; what a process keeps
is kept by its root (``app.runtime.Root``). Heavy libraries are imported by the builder that needs
them, so a command that only reads the database starts at once."""

from __future__ import annotations

import os
import secrets
import time
from typing import TYPE_CHECKING

from retrieval.errors import GroundloopError

from app.settings import Settings

if TYPE_CHECKING:
    from app.chain import Chain
    from feedback.db import Database
    from feedback.registry import ActiveRanker
    from feedback.verified import VerifiedAnswers
    from retrieval.embeddings import MiniLMEmbeddings
    from retrieval.index import HybridIndex
    from retrieval.retriever import HybridRetriever


def database(settings: Settings) -> Database:
    """The feedback database, migrated to the newest schema."""
    from feedback import migrate
    from feedback.db import Database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.feedback_url)
    migrate.upgrade(db)
    return db


def embeddings(settings: Settings) -> MiniLMEmbeddings:
    from retrieval.embeddings import MiniLMEmbeddings

    return MiniLMEmbeddings(batch_size=settings.embedding_batch_size, int8=settings.embedding_int8)


_embeddings = embeddings


def open_index(
    settings: Settings, collection: str | None = None, *, embeddings: MiniLMEmbeddings | None = None
) -> HybridIndex:
    from retrieval.index import HybridIndex, connect

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return HybridIndex(
        client=connect(chroma_url=settings.chroma_url, chroma_path=settings.chroma_path),
        collection=collection or settings.collection,
        embeddings=embeddings or _embeddings(settings),
        keyword_dir=settings.keyword_dir,
        records_url=settings.records_url,
        sentences_dir=settings.sentences_dir,
    )


def retriever(settings: Settings, index: HybridIndex, *, k: int | None = None) -> HybridRetriever:
    from retrieval.ranking import FusionRanker
    from retrieval.retriever import HybridRetriever

    return HybridRetriever(
        index=index,
        ranker=FusionRanker(dense_weight=settings.dense_weight),
        k=k or settings.top_k,
        candidates=settings.candidates,
    )


def fusion(settings: Settings):
    """The ranker that serves before any was learned: fusion with the settings' weight."""
    from retrieval.ranking import FusionRanker

    return FusionRanker(dense_weight=settings.dense_weight)


def active_ranker(settings: Settings, db: Database) -> ActiveRanker:
    """The ranker the database says is active; fusion with the settings' weight before any is."""
    from feedback.registry import ActiveRanker

    return ActiveRanker(db, fusion(settings))


def chain(
    settings: Settings, index: HybridIndex | None = None, *, rankers: ActiveRanker | None = None,
    verified: VerifiedAnswers | None = None,
) -> Chain:
    """The chat chain over the given index (else the settings' collection, opened here): the model
    when configured, else offline. A process gets its chain from its root (``app.runtime.Root``),
    which hands in its own ranker source and verified answers; without them (a script, a test),
    they read a database opened here."""
    from app.answerers import ExtractiveAnswerer, OpenAIAnswerer
    from app.chain import Chain
    from app.condense import Condenser
    from app.grounding import GroundingCheck
    from feedback.verified import VerifiedAnswers

    model = index.embeddings if index is not None else embeddings(settings)
    if rankers is None or verified is None:
        db = database(settings)
        rankers = rankers or active_ranker(settings, db)
        verified = verified or VerifiedAnswers(db, model, threshold=settings.verified_similarity)
    index = index or open_index(settings, embeddings=model)
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
        ranker=rankers,
        verified=verified,
    )


def auth_secret(settings: Settings) -> str:
    """The configured secret; else the one in the data folder, made there (readable by its owner
    only) on the first start. Every worker sharing the folder signs with the same secret."""
    if settings.auth_secret:
        return settings.auth_secret.get_secret_value()
    path = settings.data_dir / "auth_secret"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            secret = secrets.token_urlsafe(48)
            file.write(secret)
            return secret
    except FileExistsError:
        for _ in range(50):  # another worker may be writing it just now
            if secret := path.read_text().strip():
                return secret
            time.sleep(0.1)
        raise GroundloopError(f"{path} is empty: delete it, and a new secret is made on the next start.") from None
