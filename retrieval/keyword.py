"""The keyword index: bm25s over the collection's chunks, and the per-chunk facts ranking needs.

It is derived data: built from the chunks in Chroma and tagged with the collection's
revision, so a stale or missing copy is simply rebuilt. Keeping each chunk's document id,
title terms and length here lets a query be ranked without reading chunk texts back from Chroma.
"""

import json
import shutil
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from retrieval import groups as chunk_groups

META = "groundloop.json"


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Stemmed terms without English stopwords, as the index sees them."""
    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


class KeywordIndex:
    def __init__(self, bm25: bm25s.BM25 | None, meta: dict) -> None:
        self.bm25 = bm25
        self.revision: str = meta["revision"]
        self.ids: list[str] = meta["ids"]
        self.doc_ids: list[str] = meta["doc_ids"]
        self.title_terms: list[list[str]] = meta["title_terms"]
        self.words = np.asarray(meta["words"], dtype=np.float32)
        self.groups: list[list[str]] = meta["groups"]
        self.row = {chunk_id: row for row, chunk_id in enumerate(self.ids)}
        self._doc_rows: dict[str, list[int]] = {}
        for row, doc_id in enumerate(self.doc_ids):
            self._doc_rows.setdefault(doc_id, []).append(row)
        self._group_rows: dict[str, list[int]] = {}
        for row, names in enumerate(self.groups):
            for name in names:
                self._group_rows.setdefault(name, []).append(row)
        self._meta = meta

    @classmethod
    def build(cls, ids: list[str], texts: list[str], metadatas: list[dict], revision: str) -> "KeywordIndex":
        meta = {
            "revision": revision,
            "ids": ids,
            "doc_ids": [m.get("doc_id", chunk_id) for m, chunk_id in zip(metadatas, ids)],
            "title_terms": tokenize([m.get("title", "") for m in metadatas]) if ids else [],
            "words": [len(text.split()) for text in texts],
            "groups": [list(chunk_groups.of(m)) for m in metadatas],
        }
        if not ids:
            return cls(None, meta)
        bm25 = bm25s.BM25()
        bm25.index(bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False), show_progress=False)
        return cls(bm25, meta)

    @classmethod
    def load(cls, folder: Path) -> "KeywordIndex | None":
        """The saved index, or None when there is none or it cannot be read."""
        try:
            meta = json.loads((folder / META).read_text())
            bm25 = bm25s.BM25.load(str(folder), load_corpus=False) if meta["ids"] else None
            return cls(bm25, meta)
        except (OSError, ValueError, KeyError):
            return None

    def save(self, folder: Path) -> None:
        """Write beside the old copy, then swap, so a reader never sees half an index."""
        staging = folder.with_name(folder.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if self.bm25 is not None:
            self.bm25.save(str(staging), allow_pickle=False, show_progress=False)
        (staging / META).write_text(json.dumps(self._meta))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)

    def rows_of(self, doc_id: str) -> list[int]:
        """Rows of the document's chunks."""
        return self._doc_rows.get(doc_id, [])

    def allowed(self, groups: Collection[str] | None) -> np.ndarray | None:
        """Which rows an asker in ``groups`` may see, as a mask; None when every row (``groups`` None)."""
        if groups is None:
            return None
        mask = np.zeros(len(self.ids), dtype=bool)
        for name in set(groups):
            mask[self._group_rows.get(name, [])] = True
        return mask

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every chunk for the query terms (zeros for unknown terms)."""
        known = [t for t in terms if self.bm25 is not None and t in self.bm25.vocab_dict]
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
