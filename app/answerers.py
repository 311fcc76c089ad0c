"""Answerers turn a question and numbered sources into a streamed answer citing them as [n].

The extractive answerer runs offline and is the default; an OpenAI-compatible model is used
when one is configured, and the chain falls back to the extractive one when it fails.
"""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from langchain_core.documents import Document
from langchain_core.messages import HumanMessage, SystemMessage

from app import prompts
from retrieval.embeddings import MiniLMEmbeddings
from retrieval.keyword import tokenize
from retrieval.sentences import OnTheFly, Passage
from retrieval.text import words_of

class ModelFailed(Exception):
    """The model answered with something that is not a completion (an HTML page, say)."""


NOTHING_FOUND = "I could not find anything in the indexed documents that answers this."
_MIN_WORDS = 4
HOW_TO = re.compile(
    r"\b(how (do|can|could|should|would|will|to)\b|what (command|commands|is the command)\b|which (command|option|flag)"
    r"|command (to|for)\b|steps? to\b|(a|the|any) way to\b|is it possible to\b)",
    re.IGNORECASE,
)
"""A question asking how to do something: its answer should give the instruction to copy."""


class PassageSource(Protocol):
    def passages(self, chunks: list[tuple[str | None, str]]) -> list[Passage]:
        """Sentences and instructions of (chunk id, text) pairs, with their unit vectors."""


class Answerer(Protocol):
    name: str

    def stream(
        self, question: str, sources: list[Document], *, vector: np.ndarray | None = None, focus: str | None = None
    ) -> Iterator[str]:
        """Pieces of the answer text as they are produced; ``vector`` is the question's embedding
        (``encode_questions``) when the caller has made it; ``focus`` is a follow-up's own words, when
        the question was rewritten to stand on its own."""


def content_words(text: str) -> list[str]:
    """The words of ``text`` that say what it is about (no stopwords)."""
    return [word for word in re.findall(r"[\w-]+", text) if tokenize([word])[0]]


def source_chunks(sources: list[Document]) -> list[tuple[str | None, str]]:
    return [(source.metadata.get("chunk_id"), source.page_content) for source in sources]


@dataclass
class ExtractiveAnswerer:
    """Quotes the source sentences closest in meaning to the question, each with its [n].

    Beyond the closest ``sentences``, every other shown source whose best sentence is at least
    ``source_relevance`` close to the question is quoted once too: a source that answers the
    question well is cited, so the reader sees it and can say whether it was right. A question
    asking how to do something also gets, whole, the instruction (a command line or code block)
    of the shown sources that best does what it asks. Sentence vectors come from ``vectors``
    (the index's store), or are embedded on the fly when no store is given.
    """

    embeddings: MiniLMEmbeddings
    sentences: int = 3
    min_relevance: float = 0.3
    source_relevance: float = 0.5
    vectors: PassageSource | None = None
    name: str = "extractive"
    _on_the_fly: OnTheFly = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._on_the_fly = OnTheFly(lambda texts: self.embeddings.encode(texts, threads=1))

    def answer(
        self, question: str, sources: list[Document], *, vector: np.ndarray | None = None, focus: str | None = None
    ) -> str:
        passages = (self.vectors or self._on_the_fly).passages(source_chunks(sources))
        asked = self._asked(question, vector, focus)
        quoted = [
            (n, position, text, vector)
            for n, passage in enumerate(passages, start=1)
            for position, (text, vector) in enumerate(zip(passage.sentences, passage.sentence_vectors))
            if len(text.lstrip("#").split()) >= _MIN_WORDS
        ]
        relevance = np.vstack([vector for *_, vector in quoted]) @ asked if quoted else np.zeros(0)
        best, seen = [], set()
        for i in np.argsort(-relevance, kind="stable"):
            n, key = quoted[i][0], quoted[i][2].lower()
            more = len(best) >= self.sentences
            if relevance[i] < (self.source_relevance if more else self.min_relevance):
                break
            if key in seen or (more and n in {m for m, *_ in best}):
                continue
            seen.add(key)
            best.append(quoted[i][:3])
        wants = focus or question
        instruction = self._instruction(passages, asked, wants) if HOW_TO.search(wants) else None
        if instruction is not None and instruction[0] not in {n for n, *_ in best}:
            # the instruction's own lead-in (a heading, perhaps) replaces the least close sentence
            best = best[:-1] + [instruction[1]] if len(best) >= self.sentences else best + [instruction[1]]
        if not best:
            return NOTHING_FOUND
        return _compose(sorted(set(best)), instruction)

    def _asked(self, question: str, vector: np.ndarray | None, focus: str | None) -> np.ndarray:
        """What the answer should be close to: the question, and equally a follow-up's own new words."""
        asked = vector if vector is not None else self.embeddings.encode_questions([question])[0]
        if focus and focus != question:
            mixed = asked + self.embeddings.encode_questions([focus])[0]
            asked = mixed / np.linalg.norm(mixed)
        return asked

    def _instruction(
        self, passages: list[Passage], asked: np.ndarray, wants: str
    ) -> tuple[int, tuple[int, int, str], str] | None:
        """The instruction that best does what is asked: (source number, its source's closest sentence, the
        instruction), or None when no relevant shown source gives one.

        Commands are terse, so an instruction is weighed by the share of the asked-for words (``wants``:
        the question's, or a follow-up's own) it contains, rarer ones among the candidates counting more;
        then by its closest word in meaning to them (``rollback`` to "undo"), and by how close its
        source's best sentence is to the question."""
        wanted = " ".join(content_words(HOW_TO.sub(" ", wants))) or wants
        terms = set(tokenize([wanted])[0])
        relevant = [
            (n, passage, passage.sentence_vectors @ asked)
            for n, passage in enumerate(passages, start=1)
            if passage.instructions and passage.sentences and float((passage.sentence_vectors @ asked).max()) >= self.min_relevance
        ]
        candidates = [(n, passage, lead, text, vector) for n, passage, lead in relevant
                      for text, vector in zip(passage.instructions, passage.instruction_vectors)]
        if not candidates:
            return None
        meaning = self.embeddings.encode_questions([wanted])[0]
        holds = [set(tokenize([text])[0]) for *_, text, _ in candidates]
        rarity = {term: np.log(1 + len(holds) / max(1, sum(term in held for held in holds))) for term in terms}
        chosen, top = None, -np.inf
        for (n, passage, lead, text, vector), held in zip(candidates, holds):
            shared = sum(rarity[t] for t in terms & held) / sum(rarity.values()) if terms else 0.0
            closeness = dict(zip(passage.words, (passage.word_vectors @ meaning).tolist())) if passage.words else {}
            nearest = max((closeness[w] for w in words_of(text) if w in closeness), default=float(vector @ meaning))
            score = shared + nearest / 4 + float(lead.max()) / 2
            if score > top:
                position = int(np.argmax(lead))
                chosen, top = (n, (n, position, passage.sentences[position]), text), score
        return chosen

    def stream(
        self, question: str, sources: list[Document], *, vector: np.ndarray | None = None, focus: str | None = None
    ) -> Iterator[str]:
        """The answer is sent as soon as its sentences are chosen, in word-sized pieces."""
        yield from re.findall(r"\S+\s*|\s+", self.answer(question, sources, vector=vector, focus=focus))


def _compose(best: list[tuple[int, int, str]], instruction: tuple[int, tuple, str] | None) -> str:
    """The quoted sentences in source order, each cited; the instruction as a code block after its source's last."""
    text = ""
    for i, (n, _, sentence) in enumerate(best):
        text += (" " if text and not text.endswith("\n") else "") + _cite(sentence.lstrip("# "), n)
        if instruction is not None and n == instruction[0] and (i + 1 == len(best) or best[i + 1][0] != n):
            text += fenced(instruction[2])
    return text.strip()


def fenced(code: str) -> str:
    """A code block on lines of its own, fenced longer than any run of backticks inside it."""
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", code)), default=0) + 1)
    return f"\n\n{fence}\n{code}\n{fence}\n\n"


def _cite(sentence: str, n: int) -> str:
    """``Cats sleep.`` → ``Cats sleep [1].``"""
    body, stop = (sentence[:-1], sentence[-1]) if sentence[-1] in ".!?" else (sentence, ".")
    return f"{body} [{n}]{stop}"


class OpenAIAnswerer:
    """Any OpenAI-compatible chat model, prompted from ``prompts/`` to cite as [n].

    Retrieved text goes in the user message inside <sources>, and the system prompt says it
    is data: a document cannot give the model instructions. ``timeout`` bounds the whole answer, from the
    request on: a model that trickles tokens is cut off (``TimeoutError``) once it has passed.
    """

    def __init__(self, *, base_url: str, model: str, api_key: str | None, timeout: float) -> None:
        from langchain_openai import ChatOpenAI  # only with a model configured: offline starts without it

        self.name = f"openai:{model}"
        self.timeout = timeout
        self.llm = ChatOpenAI(
            base_url=base_url, model=model, api_key=api_key or "none", timeout=timeout, max_retries=0, temperature=0
        )

    def stream(
        self, question: str, sources: list[Document], *, vector: np.ndarray | None = None, focus: str | None = None
    ) -> Iterator[str]:
        numbered = "\n".join(
            f'<source n="{n}" title="{_attribute(s.metadata.get("title", ""))}">\n{_data(s.page_content)}\n</source>'
            for n, s in enumerate(sources, start=1)
        )
        messages = [
            SystemMessage(prompts.load("answer_system")),
            HumanMessage(prompts.load("answer_user").format(sources=numbered, question=question)),
        ]
        deadline = time.monotonic() + self.timeout  # each read waits at most ``timeout`` too (the client's)
        chunks = self.llm.stream(messages)
        try:
            for chunk in chunks:
                if time.monotonic() > deadline:
                    raise TimeoutError
                if chunk.content:
                    yield str(chunk.content)
        except (ValueError, KeyError, TypeError) as error:  # a 200 whose body is no completion
            raise ModelFailed(str(error)) from error
        finally:
            chunks.close()


def _data(text: str) -> str:
    """Source text cannot close its own <source> element or open a new one."""
    return text.replace("<source", "‹source").replace("</source", "‹/source").replace("</sources", "‹/sources")


def _attribute(text: str) -> str:
    return text.replace('"', "'").replace("<", "‹").replace("\n", " ")
