"""The chat chain: condense → verified answer? → retrieve → answer → check, returning one result object.

``Chain.stream`` yields answer text as it is produced, then the ``ChainResult``; the chat,
the CLI and (later) the API all consume that one stream.
"""

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import PurePath

import openai
from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda
from langchain_core.retrievers import BaseRetriever

from app import metrics
from app.answerers import Answerer, ExtractiveAnswerer
from app.condense import Condenser
from app.grounding import CITATION, GroundingCheck
from app.questions import clean_question
from feedback.verified import Match, VerifiedAnswers
from retrieval.ranking import Ranker


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    title: str
    source: str
    text: str
    score: float
    similarity: float
    rank: int
    chunk_id: str
    cited: bool
    path: str = ""
    """The source's path relative to the folder it was ingested from (never the server's own path)."""


@dataclass(frozen=True)
class ChainResult:
    question: str
    standalone_question: str
    answer: str
    citations: list[Citation]
    verdict: str
    reasons: list[str]
    timings_ms: dict[str, float]
    answerer: str
    ranker_version: str
    notice: str | None = None
    verified: bool = False
    """The answer is a reviewer's approved correction to a question close to this one."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Restart:
    """The model failed part-way: drop what was shown; the offline answer follows."""

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

    def stream(self, question: str, history: list[str] = ()) -> Iterator[Token | Restart | ChainResult]:
        """``history`` holds the thread's earlier standalone questions, oldest first."""
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
        if self.ranker is not None:
            self.retriever.ranker = self.ranker()
        ranker_version = self.retriever.ranker.version
        match = self.verified.find(standalone) if self.verified is not None else None
        if match is not None:
            yield from self._serve_verified(question, standalone, match, ranker_version, timings, lap)
            return
        sources = self.retriever.invoke(standalone)
        lap("retrieve")
        pieces, answerer, notice = [], self.answerer, None
        try:
            for piece in answerer.stream(standalone, sources):
                pieces.append(piece)
                yield Token(piece)
        except (openai.APIError, TimeoutError) as error:
            notice = f"The language model did not answer ({_why(error)}), so this is the offline answer."
            if pieces:
                yield Restart(notice)
            pieces, answerer = [], self.fallback
            for piece in answerer.stream(standalone, sources):
                pieces.append(piece)
                yield Token(piece)
        answer = "".join(pieces)
        lap("answer")
        verdict = self.grounding.check(answer, sources)
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
            ranker_version=ranker_version,
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
                path=shown_path(chunk.metadata),
            )
            for n, chunk in enumerate(firsts, start=1)
        ]

    def run(self, question: str, history: list[str] = ()) -> ChainResult:
        *_, result = self.stream(question, history)
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
        )
        for n, s in enumerate(sources, start=1)
    ]


def _why(error: Exception) -> str:
    if isinstance(error, (openai.APITimeoutError, TimeoutError)):
        return "timed out"
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    return "could not connect"


def shown_path(metadata: dict) -> str:
    """Where a chunk came from, as people know it: its path in the folder ingested; for chunks indexed
    before that was kept, the file's name (a URL stays as it is)."""
    if metadata.get("path"):
        return str(metadata["path"])
    source = str(metadata.get("source") or "")
    return source if "://" in source else PurePath(source).name
