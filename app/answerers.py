"""Answerers turn a question and numbered sources into a streamed answer citing them as [n].

The extractive answerer runs offline and is the default; an OpenAI-compatible model is used
when one is configured, and the chain falls back to the extractive one when it fails.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from langchain_core.documents import Document
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from app import prompts
from retrieval.embeddings import MiniLMEmbeddings
from retrieval.text import sentences

NOTHING_FOUND = "I could not find anything in the indexed documents that answers this."
_MIN_WORDS = 4


class Answerer(Protocol):
    name: str

    def stream(self, question: str, sources: list[Document], *, vector: np.ndarray | None = None) -> Iterator[str]:
        """Pieces of the answer text as they are produced; ``vector`` is the question's embedding
        (``encode_questions``) when the caller has made it."""


@dataclass
class ExtractiveAnswerer:
    """Quotes the source sentences closest in meaning to the question, each with its [n].

    Beyond the closest ``sentences``, every other shown source whose best sentence is at least
    ``source_relevance`` close to the question is quoted once too: a source that answers the
    question well is cited, so the reader sees it and can say whether it was right.
    """

    embeddings: MiniLMEmbeddings
    sentences: int = 3
    min_relevance: float = 0.3
    source_relevance: float = 0.5
    name: str = "extractive"

    def answer(self, question: str, sources: list[Document], *, vector: np.ndarray | None = None) -> str:
        quoted = [
            (n, position, text)
            for n, source in enumerate(sources, start=1)
            for position, text in enumerate(sentences(source.page_content))
            if len(text.lstrip("#").split()) >= _MIN_WORDS
        ]
        if not quoted:
            return NOTHING_FOUND
        if vector is None:
            vector = self.embeddings.encode_questions([question])[0]
        relevance = self.embeddings.encode([text for _, _, text in quoted], threads=1) @ vector
        best, seen = [], set()
        for i in np.argsort(-relevance, kind="stable"):
            n, key = quoted[i][0], quoted[i][2].lower()
            more = len(best) >= self.sentences
            if relevance[i] < (self.source_relevance if more else self.min_relevance):
                break
            if key in seen or (more and n in {m for m, _, _ in best}):
                continue
            seen.add(key)
            best.append(quoted[i])
        if not best:
            return NOTHING_FOUND
        return " ".join(_cite(text.lstrip("# "), n) for n, _, text in sorted(best))

    def stream(self, question: str, sources: list[Document], *, vector: np.ndarray | None = None) -> Iterator[str]:
        words = self.answer(question, sources, vector=vector).split(" ")
        for i, word in enumerate(words):
            yield word if i == len(words) - 1 else word + " "


def _cite(sentence: str, n: int) -> str:
    """``Cats sleep.`` → ``Cats sleep [1].``"""
    body, stop = (sentence[:-1], sentence[-1]) if sentence[-1] in ".!?" else (sentence, ".")
    return f"{body} [{n}]{stop}"


class OpenAIAnswerer:
    """Any OpenAI-compatible chat model, prompted from ``prompts/`` to cite as [n].

    Retrieved text goes in the user message inside <sources>, and the system prompt says it
    is data: a document cannot give the model instructions.
    """

    def __init__(self, *, base_url: str, model: str, api_key: str | None, timeout: float) -> None:
        self.name = f"openai:{model}"
        self.llm = ChatOpenAI(
            base_url=base_url, model=model, api_key=api_key or "none", timeout=timeout, max_retries=0, temperature=0
        )

    def stream(self, question: str, sources: list[Document], *, vector: np.ndarray | None = None) -> Iterator[str]:
        numbered = "\n".join(
            f'<source n="{n}" title="{_attribute(s.metadata.get("title", ""))}">\n{_data(s.page_content)}\n</source>'
            for n, s in enumerate(sources, start=1)
        )
        messages = [
            SystemMessage(prompts.load("answer_system")),
            HumanMessage(prompts.load("answer_user").format(sources=numbered, question=question)),
        ]
        for chunk in self.llm.stream(messages):
            if chunk.content:
                yield str(chunk.content)


def _data(text: str) -> str:
    """Source text cannot close its own <source> element or open a new one."""
    return text.replace("<source", "‹source").replace("</source", "‹/source").replace("</sources", "‹/sources")


def _attribute(text: str) -> str:
    return text.replace('"', "'").replace("<", "‹").replace("\n", " ")
