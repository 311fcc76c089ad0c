"""The chat chain: condense → verified answer? → retrieve → answer → check, returning one result object.

``Chain.stream`` yields answer text as it is produced, then the ``ChainResult``; the chat,
the CLI and (later) the API all consume that one stream.
"""

import re
import sys
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda
from langchain_core.retrievers import BaseRetriever

from app import metrics
from app.answerers import Answerer, ExtractiveAnswerer, ModelFailed
from app.condense import Condenser
from app.grounding import CITATION, GroundingCheck
from app.questions import clean_question
from feedback.results import AnswerResult, ShownSource
from feedback.verified import Match, VerifiedAnswers
from retrieval import groups as chunk_groups
from retrieval.catalog import shown_path
from retrieval.ranking import Ranker


Citation = ShownSource
"""A source shown with the answer (the feedback writers' ``ShownSource``)."""
ChainResult = AnswerResult
"""The chain's one result object, handed as it is to the feedback writers."""


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Restart:
    """The model failed: drop what was shown (if anything), say why (``notice``); the offline answer follows."""

    notice: str


class Chain:
    def __init__(
        self,
        *,
        retriever: BaseRetriever,
        answerer: Answerer,
        fallback: ExtractiveAnswerer,
        grounding: GroundingCheck,
        condenser: Condenser,
        max_question_chars: int,
        ranker: Callable[[], Ranker] | None = None,
        verified: VerifiedAnswers | None = None,
    ) -> None:
        """``ranker``, when given, says before each question which ranker serves (it may change while running);
        ``verified``, when given, is asked first for a reviewer-verified answer to the question."""
        self.retriever = retriever
        self.answerer = answerer
        self.fallback = fallback
        self.grounding = grounding
        self.condense = RunnableLambda(lambda given: condenser(given["question"], given["history"]))
        self.max_question_chars = max_question_chars
        self.ranker = ranker
        self.verified = verified

    def warm_up(self) -> None:
        """Load the embedding model and the keyword index now rather than on the first question."""
        self.retriever.index.embeddings.encode(["warm up"], threads=1)
        self.retriever.index.keyword()
        self.retriever.index.sync_sentences()

    def stream(
        self,
        question: str,
        history: list[str] = (),
        *,
        ranker: Ranker | None = None,
        groups: Collection[str] | None = None,
    ) -> Iterator[Token | Restart | ChainResult]:
        """``history`` holds the thread's earlier standalone questions, oldest first; ``ranker``, when
        given, ranks this question instead of the one that serves (to compare them). ``groups``: the
        asker's (``feedback.membership.sees``), None for every document (an admin, the command line):
        retrieval and verified answers see only what they may."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = round((now - clock) * 1000, 2)
            metrics.observe_stage(stage, timings[stage])
            clock = now

        question = clean_question(question, max_chars=self.max_question_chars)
        standalone = self.condense.invoke({"question": question, "history": list(history)})
        lap("condense")
        # This question's state, passed down and never stored on the chain its threads share: the
        # ranker that serves it (read once, so the version recorded is the one that ranked) and its
        # embedding (made once, for the verified lookup, retrieval, the memory and the answerer).
        if ranker is None:
            ranker = self.ranker() if self.ranker is not None else self.retriever.ranker
        vector = self.retriever.index.embeddings.encode_questions([standalone])[0] if standalone.strip() else None
        match = None
        if self.verified is not None:
            match = self.verified.find(standalone, vector=vector, groups=groups, groups_of=self.retriever.index.groups_of)
        if match is not None:
            yield from self._serve_verified(question, standalone, match, ranker.version, timings, lap)
            return
        sources = self.retriever.documents(standalone, ranker=ranker, vector=vector, groups=groups)
        lap("retrieve")
        pieces, answerer, notice = [], self.answerer, None
        focus = question if standalone != question else None  # a follow-up's own words
        try:
            for piece in answerer.stream(standalone, sources, vector=vector, focus=focus):
                pieces.append(piece)
                yield Token(piece)
        except _model_errors() as error:
            notice = f"The language model did not answer ({_why(error)}), so this is the offline answer."
            yield Restart(notice)  # also with nothing shown yet: a streamed reply says it before the answer
            pieces, answerer = [], self.fallback
            for piece in answerer.stream(standalone, sources, vector=vector, focus=focus):
                pieces.append(piece)
                yield Token(piece)
        answer = "".join(pieces)
        lap("answer")
        verdict = self.grounding.check(answer, sources, question=standalone, vector=vector)
        lap("check")
        timings["total"] = round(sum(timings.values()), 2)
        yield ChainResult(
            question=question,
            standalone_question=standalone,
            answer=answer,
            citations=_citations(sources, answer),
            verdict=verdict.label,
            reasons=verdict.reasons,
            timings_ms=timings,
            answerer=answerer.name,
            ranker_version=ranker.version,
            notice=notice,
        )

    def _serve_verified(
        self, question: str, standalone: str, match: Match, ranker_version: str, timings: dict, lap: Callable
    ) -> Iterator[Token | ChainResult]:
        """The reviewer's text with the sources they attached, streamed like any answer; not checked again."""
        citations = self._verified_citations(match)
        lap("retrieve")
        for piece in re.findall(r"\S+\s*|\s+", match.verified.answer):
            yield Token(piece)
        lap("answer")
        timings["check"] = 0.0
        timings["total"] = round(sum(timings.values()), 2)
        yield ChainResult(
            question=question,
            standalone_question=standalone,
            answer=match.verified.answer,
            citations=citations,
            verdict="ok",
            reasons=[],
            timings_ms=timings,
            answerer="verified",
            ranker_version=ranker_version,
            verified=True,
        )

    def _verified_citations(self, match: Match) -> list[Citation]:
        """The first chunk of each document the reviewer attached (documents no longer indexed are left out)."""
        index = self.retriever.index
        keyword = index.keyword()
        firsts = [
            min(chunks, key=lambda chunk: chunk.metadata.get("position", 0))
            for doc_id in dict.fromkeys(match.verified.doc_ids)
            if (chunks := index.chunks([keyword.ids[row] for row in keyword.rows_of(doc_id)]))
        ]
        return [
            Citation(
                n=n, doc_id=chunk.metadata["doc_id"], title=chunk.metadata.get("title", ""),
                source=chunk.metadata.get("source", ""), text=chunk.text, score=match.similarity,
                similarity=match.similarity, rank=n, chunk_id=chunk.id, cited=True,
                path=shown_path(chunk.metadata), groups=chunk_groups.of(chunk.metadata),
            )
            for n, chunk in enumerate(firsts, start=1)
        ]

    def run(
        self, question: str, history: list[str] = (), *, ranker: Ranker | None = None,
        groups: Collection[str] | None = None,
    ) -> ChainResult:
        *_, result = self.stream(question, history, ranker=ranker, groups=groups)
        return result


def _citations(sources: list[Document], answer: str) -> list[Citation]:
    cited = {int(n) for n in CITATION.findall(answer)}
    return [
        Citation(
            n=n,
            doc_id=s.metadata["doc_id"],
            title=s.metadata.get("title", ""),
            source=s.metadata.get("source", ""),
            text=s.page_content,
            score=s.metadata["score"],
            similarity=s.metadata["similarity"],
            rank=s.metadata["rank"],
            chunk_id=s.metadata["chunk_id"],
            cited=n in cited,
            path=shown_path(s.metadata),
            groups=chunk_groups.of(s.metadata),
        )
        for n, s in enumerate(sources, start=1)
    ]


def _model_errors() -> tuple[type[Exception], ...]:
    """What a model that fails raises. The OpenAI client is imported only by a configured model
    (offline, a server starts without it), so its errors are named only once it is loaded."""
    client = sys.modules.get("openai")
    return (TimeoutError, ModelFailed) + ((client.APIError,) if client is not None else ())


def _why(error: Exception) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ModelFailed):
        return "its reply was not an answer"
    import openai  # an error of the client's: it is loaded

    if isinstance(error, openai.APITimeoutError):
        return "timed out"
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    return "could not connect"
