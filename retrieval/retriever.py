"""``HybridRetriever``: the LangChain retriever over a ``HybridIndex`` and a ranker."""

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
from retrieval.ranking import FusionRanker, Ranker, scored


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

    def hits(self, query: str) -> list[Hit]:
        """Every candidate chunk, best first."""
        if not query.strip():
            raise EmptyQuery()
        keyword = self.index.keyword()
        vector = self.index.embeddings.encode_questions([query])[0]
        terms = tokenize([query])[0]
        found = gather(self.index, keyword, query, vector, terms, self.candidates, also=self.ranker.expand(vector, terms))
        if not len(found):
            return []
        found, scores = scored(self.ranker, found, features(found, keyword))
        order = np.argsort(-scores, kind="stable")
        return [
            Hit(found.ids[i], found.doc_ids[i], float(scores[i]), float(found.dense[i])) for i in order
        ]

    def rank_documents(self, query: str, k: int) -> list[tuple[str, float]]:
        """Documents, not chunks, each scored by its best chunk; the top ``k``."""
        best: dict[str, float] = {}
        for hit in self.hits(query):
            best.setdefault(hit.doc_id, hit.score)
        return list(best.items())[:k]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.hits(query)[: self.k]
        chunks = {chunk.id: chunk for chunk in self.index.chunks([hit.chunk_id for hit in hits])}
        return [
            Document(
                chunks[hit.chunk_id].text,
                metadata={**chunks[hit.chunk_id].metadata, "chunk_id": hit.chunk_id, "score": hit.score, "similarity": hit.similarity, "rank": rank},
            )
            for rank, hit in enumerate((hit for hit in hits if hit.chunk_id in chunks), start=1)
        ]
