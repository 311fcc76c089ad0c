"""The first questions the chat offers, made from the titles of the indexed documents: the largest
documents first, so the suggestions lead to answers. Derived from the index, read again only
when it changes."""

from collections import Counter

from retrieval.index import HybridIndex
from retrieval.text import shorten

STARTERS = 4
SAMPLE = 2000  # chunks whose titles are read; enough to find the larger documents of any corpus
TITLE_CHARS = 60
_made: dict[tuple[str, str], list[tuple[str, str]]] = {}


def starter_questions(index: HybridIndex, *, count: int = STARTERS) -> list[tuple[str, str]]:
    """Up to ``count`` (label, question) pairs, one per document, for the current revision of ``index``."""
    key = (index.name, index.revision())
    if key not in _made:
        _made.clear()
        _made[key] = _questions(index, count)
    return _made[key]


def _questions(index: HybridIndex, count: int) -> list[tuple[str, str]]:
    metadatas = index.collection.get(limit=SAMPLE, include=["metadatas"])["metadatas"] or []
    chunks = Counter()
    titles: dict[str, str] = {}
    for metadata in metadatas:
        doc_id, title = str(metadata.get("doc_id") or ""), " ".join(str(metadata.get("title") or "").split())
        if doc_id and title:
            chunks[doc_id] += 1
            titles.setdefault(doc_id, title)
    picked, seen = [], set()
    for doc_id, _ in sorted(chunks.items(), key=lambda item: (-item[1], titles[item[0]].lower())):
        title = shorten(titles[doc_id], TITLE_CHARS)
        if title.lower() not in seen:
            seen.add(title.lower())
            picked.append((title, f"What is {title.removesuffix('…')} about?"))
        if len(picked) == count:
            break
    return picked
