"""The first questions the chat offers, made from the titles of the indexed documents the person may
see: the largest documents first, so the suggestions lead to answers. Derived from the index, read
again only when it changes."""

from collections import Counter
from collections.abc import Collection

from retrieval import groups as chunk_groups
from retrieval.index import HybridIndex
from retrieval.text import shorten

STARTERS = 4
SAMPLE = 2000  # chunks whose titles are read; enough to find the larger documents of any corpus
TITLE_CHARS = 60
_made: dict[tuple, list[tuple[str, str]]] = {}
_KEPT = 64  # sets of groups remembered per revision


def starter_questions(
    index: HybridIndex, *, count: int = STARTERS, groups: Collection[str] | None = None
) -> list[tuple[str, str]]:
    """Up to ``count`` (label, question) pairs, one per document an asker in ``groups`` may see (None:
    any), for the current revision of ``index``."""
    revision = (index.name, index.revision())
    key = (*revision, None if groups is None else frozenset(groups))
    if key not in _made:
        if any(made[:2] != revision for made in _made) or len(_made) >= _KEPT:
            _made.clear()
        _made[key] = _questions(index, count, groups)
    return _made[key]


def _questions(index: HybridIndex, count: int, groups: Collection[str] | None) -> list[tuple[str, str]]:
    where = chunk_groups.chroma_where(groups)
    metadatas = index.collection.get(limit=SAMPLE, where=where, include=["metadatas"])["metadatas"] or []
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
