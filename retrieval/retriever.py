"""``HybridRetriever``: the LangChain retriever over a ``HybridIndex`` and a ranker."""

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from retrieval.candidates import gather
from retrieval.errors import EmptyQuery
from retrieval.features import features
from retrieval.index import HybridIndex
from retrieval.keyword import tokenize
from retrieval.ranking import FusionRanker, Ranker, boosts_of, scored, wanted_by


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    doc_id: str
    score: float
    similarity: float
    """Cosine similarity of question and chunk: how sure retrieval is, whatever the ranker."""


class HybridRetriever(BaseRetriever):
    """Documents carry ``doc_id``, ``title``, ``source``, ``position``, ``chunk_id``, ``score``, ``similarity``, ``rank``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: HybridIndex
    ranker: Ranker = FusionRanker()
    k: int = 5
    candidates: int = 100

    def hits(
        self,
        query: str,
        *,
        ranker: Ranker | None = None,
        vector: np.ndarray | None = None,
        groups: Collection[str] | None = None,
    ) -> list[Hit]:
        """Every candidate chunk an asker in ``groups`` may see (None: every chunk), best first, ranked by
        ``ranker`` (this retriever's own when None). ``vector``: the query's embedding when the caller has
        it already. The ranker's boosts for the question are worked out once, for the candidates and the
        scores alike; they reach candidates only, so a document the asker may not see gains nothing."""
        if not query.strip():
            raise EmptyQuery()
        ranker = ranker or self.ranker
        keyword = self.index.keyword()
        if vector is None:
            vector = self.index.embeddings.encode_questions([query])[0]
        terms = tokenize([query])[0]
        boosts = boosts_of(ranker, vector, terms)
        also = wanted_by(ranker, vector, terms, boosts)
        found = gather(self.index, keyword, query, vector, terms, self.candidates, also=also, groups=groups)
        if not len(found):
            return []
        found, scores = scored(ranker, found, features(found, keyword), boosts=boosts)
        order = np.argsort(-scores, kind="stable")
        return [
            Hit(found.ids[i], found.doc_ids[i], float(scores[i]), float(found.dense[i])) for i in order
        ]

    def rank_documents(
        self, query: str, k: int, *, ranker: Ranker | None = None, groups: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """Documents, not chunks, each scored by its best chunk; the top ``k`` an asker in ``groups`` may see."""
        best: dict[str, float] = {}
        for hit in self.hits(query, ranker=ranker, groups=groups):
            best.setdefault(hit.doc_id, hit.score)
        return list(best.items())[:k]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.documents(query)

    def documents(
        self,
        query: str,
        *,
        ranker: Ranker | None = None,
        vector: np.ndarray | None = None,
        groups: Collection[str] | None = None,
    ) -> list[Document]:
        """The top ``k`` chunks as documents; ``ranker``, ``vector`` and ``groups`` as in ``hits``, passed per
        question so that a retriever shared by threads is never changed by one of them."""
        hits = self.hits(query, ranker=ranker, vector=vector, groups=groups)[: self.k]
        chunks = {chunk.id: chunk for chunk in self.index.chunks([hit.chunk_id for hit in hits])}
        return [
            Document(
                chunks[hit.chunk_id].text,
                metadata={**chunks[hit.chunk_id].metadata, "chunk_id": hit.chunk_id, "score": hit.score, "similarity": hit.similarity, "rank": rank},
            )
            for rank, hit in enumerate((hit for hit in hits if hit.chunk_id in chunks), start=1)
        ]
