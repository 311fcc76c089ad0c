"""Sentence vectors: the sentences (and copyable instructions) of each chunk with their unit embeddings.

They are derived data of the index, like the keyword index: made once per chunk when it is
ingested, kept in one NumPy file (no pickles) beside the keyword index and tagged with the
collection's revision, brought in step when the revision moved (new chunks embedded, removed
ones dropped), and rebuilt when the file is missing. The offline answerer and the grounding check
read them, so no source sentence is embedded while someone waits for an answer.

A chunk's vectors are a function of its text alone: its pieces are embedded together as one batch
on one thread (int8 activations are scaled per batch), so vectors made on the fly for a chunk that
is not stored are the very ones the store would hold.
"""

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.text import instructions, sentences, words_of

FILE = "sentences.npz"
FORMAT = 2
"""Bumped whenever how a chunk is split changes, so that older files are rebuilt."""
_SEPARATOR = "\x1e"  # normalised documents have no control characters but newline and tab

Encode = Callable[[list[str]], np.ndarray]
"""Unit vectors of texts, one batch, one thread."""


@dataclass(frozen=True)
class Passage:
    """One chunk, split: its sentences, its instructions (commands, code) and the words of its short
    instructions (a command's meaning is in its words: ``models rollback``), each with a unit vector."""

    sentences: list[str]
    sentence_vectors: np.ndarray
    instructions: list[str]
    instruction_vectors: np.ndarray
    words: list[str]
    word_vectors: np.ndarray


def split_and_embed(text: str, encode: Encode) -> Passage:
    said, copyable = sentences(text), instructions(text)
    words = list(dict.fromkeys(word for instruction in copyable for word in words_of(instruction)))
    return _passage(said, copyable, words, encode(said + copyable + words) if said or copyable else None)


def _passage(said: list[str], copyable: list[str], words: list[str], vectors: np.ndarray | None) -> Passage:
    if vectors is None:
        vectors = np.zeros((0, 0), dtype=np.float32)
    a, b = len(said), len(said) + len(copyable)
    return Passage(said, vectors[:a], copyable, vectors[a:b], words, vectors[b:])


class OnTheFly:
    """Passages embedded when asked for: for sources that are not in an index (and to compare with the store)."""

    def __init__(self, encode: Encode) -> None:
        self.encode = encode

    def passages(self, chunks: Iterable[tuple[str | None, str]]) -> list[Passage]:
        """``chunks`` are (chunk id or None, text) pairs."""
        return [split_and_embed(text, self.encode) for _, text in chunks]


@dataclass(frozen=True)
class _Snapshot:
    revision: str
    passages: dict[str, Passage]


class SentenceStore:
    """The passages of every chunk of one collection, in memory and in ``folder/sentences.npz``."""

    def __init__(self, folder: Path, encode: Encode) -> None:
        self.folder = folder
        self.encode = encode
        self._snapshot = _Snapshot("", {})
        self._tried: str | None = None
        self._writing = threading.Lock()

    @property
    def path(self) -> Path:
        return self.folder / FILE

    @property
    def revision(self) -> str:
        return self._snapshot.revision

    def passages(self, chunks: Iterable[tuple[str | None, str]]) -> list[Passage]:
        """Stored passages by chunk id; a chunk not stored yet is embedded now and kept (saved at the next sync)."""
        known = self._snapshot.passages
        found = []
        for chunk_id, text in chunks:
            passage = known.get(chunk_id) if chunk_id is not None else None
            if passage is None:
                passage = split_and_embed(text, self.encode)
                if chunk_id is not None:
                    known[chunk_id] = passage
            found.append(passage)
        return found

    def adopt(self, revision: str) -> bool:
        """Take the saved file when it is of ``revision`` (another process brought it in step); True if so.

        The file is read once per revision seen, not once per question."""
        if revision == self._snapshot.revision:
            return True
        if revision == self._tried:
            return False
        self._tried = revision
        saved = load(self.path)
        if saved is not None and saved.revision == revision:
            self._snapshot = saved
            return True
        if saved is not None and not self._snapshot.passages:
            self._snapshot = _Snapshot(self._snapshot.revision, saved.passages)  # reusable, though stale
        return False

    def sync(self, revision: str, ids: list[str], texts: Callable[[list[str]], dict[str, str]]) -> None:
        """Bring the store in step with the collection's chunks ``ids`` at ``revision``: embed the new ones
        (``texts`` reads their texts), drop the removed ones, save."""
        with self._writing:
            self._tried = None
            if self.adopt(revision) and self.path.exists():
                return
            known = self._snapshot.passages
            missing = [chunk_id for chunk_id in ids if chunk_id not in known]
            made = {chunk_id: split_and_embed(text, self.encode) for chunk_id, text in texts(missing).items()}
            kept = {chunk_id: known.get(chunk_id) or made.get(chunk_id) for chunk_id in ids}
            self._snapshot = _Snapshot(revision, {chunk_id: p for chunk_id, p in kept.items() if p is not None})
            save(self.path, self._snapshot)


def save(path: Path, snapshot: _Snapshot) -> None:
    """All passages as flat arrays; written aside and renamed, so a reader never sees half a file."""
    ids = list(snapshot.passages)
    passages = [snapshot.passages[chunk_id] for chunk_id in ids]
    pieces = [piece for p in passages for piece in p.sentences + p.instructions + p.words]
    vectors = [v for p in passages for v in (p.sentence_vectors, p.instruction_vectors, p.word_vectors) if len(v)]
    width = max((v.shape[1] for v in vectors), default=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".new")
    with staging.open("wb") as out:
        np.savez(
            out,
            format=np.array(FORMAT),
            revision=np.array(snapshot.revision),
            ids=np.array(ids, dtype=str),
            sentences=np.array([len(p.sentences) for p in passages], dtype=np.int32),
            instructions=np.array([len(p.instructions) for p in passages], dtype=np.int32),
            words=np.array([len(p.words) for p in passages], dtype=np.int32),
            vectors=np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, width), dtype=np.float32),
            text=np.frombuffer(_SEPARATOR.join(pieces).encode("utf-8"), dtype=np.uint8),
        )
    staging.replace(path)


def load(path: Path) -> _Snapshot | None:
    """The saved passages, or None when there is no file or it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            if int(saved["format"]) != FORMAT:
                return None
            revision, ids = str(saved["revision"]), saved["ids"].tolist()
            said, copyable, words = saved["sentences"].tolist(), saved["instructions"].tolist(), saved["words"].tolist()
            vectors, text = saved["vectors"], saved["text"].tobytes().decode("utf-8")
    except (OSError, ValueError, KeyError):
        return None
    pieces = text.split(_SEPARATOR) if text else []
    if len(pieces) != sum(said) + sum(copyable) + sum(words) or len(vectors) != len(pieces):
        return None
    passages, at = {}, 0
    for chunk_id, n, m, w in zip(ids, said, copyable, words):
        end = at + n + m + w
        passages[chunk_id] = _passage(pieces[at : at + n], pieces[at + n : at + n + m], pieces[at + n + m : end], vectors[at:end])
        at = end
    return _Snapshot(revision, passages)
