"""The bm25s keyword index: English stemming and stopwords, saved without pickles.

It is derived data: built from the chunks in Chroma and tagged with the collection's
revision, so a stale or missing copy is simply rebuilt.
"""

import json
import shutil
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

META = "groundloop.json"


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Stemmed terms without English stopwords, as the index sees them."""
    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


class KeywordIndex:
    def __init__(self, bm25: bm25s.BM25 | None, ids: list[str], revision: str) -> None:
        self.bm25 = bm25
        self.ids = ids
        self.revision = revision
        self.row = {chunk_id: row for row, chunk_id in enumerate(ids)}

    @classmethod
    def build(cls, ids: list[str], texts: list[str], revision: str) -> "KeywordIndex":
        if not ids:
            return cls(None, [], revision)
        bm25 = bm25s.BM25()
        bm25.index(bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False), show_progress=False)
        return cls(bm25, ids, revision)

    @classmethod
    def load(cls, folder: Path) -> "KeywordIndex | None":
        """The saved index, or None when there is none or it cannot be read."""
        try:
            meta = json.loads((folder / META).read_text())
            bm25 = bm25s.BM25.load(str(folder), load_corpus=False) if meta["ids"] else None
        except (OSError, ValueError, KeyError):
            return None
        return cls(bm25, meta["ids"], meta["revision"])

    def save(self, folder: Path) -> None:
        """Write beside the old copy, then swap, so a reader never sees half an index."""
        staging = folder.with_name(folder.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if self.bm25 is not None:
            self.bm25.save(str(staging), allow_pickle=False, show_progress=False)
        (staging / META).write_text(json.dumps({"revision": self.revision, "ids": self.ids}))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every chunk for the query terms (zeros for unknown terms)."""
        if self.bm25 is None:
            return np.zeros(0, dtype=np.float32)
        known = [t for t in terms if t in self.bm25.vocab_dict]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return self.bm25.get_scores(known).astype(np.float32)

    def containing(self, term: str) -> set[int]:
        """Rows of the chunks that contain ``term``, read from the index's own postings."""
        token = self.bm25.vocab_dict.get(term) if self.bm25 is not None else None
        if token is None:
            return set()
        start, end = self.bm25.scores["indptr"][token], self.bm25.scores["indptr"][token + 1]
        return set(self.bm25.scores["indices"][start:end].tolist())
