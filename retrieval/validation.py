"""What the model will read is checked before it is indexed: a document that is empty or nearly so,
mostly markup, binary, over-long, or the same text another source already gave, is kept out with the
reason, in the same shape as a file the loaders could not read.

Documents arrive normalised by what read them (``retrieval.text.normalize``: the loaders, the SQL
reader), so that binary data shows as replacement characters. A document here is what shares a
``doc_id`` within a ``source``: the pages of a PDF are judged together, each row of a CSV, a JSON Lines
file or an SQL query on its own. Kept documents come back each with the ``digest`` of its whole text in
its metadata, which is how a later ingest finds the same text under another source.
"""

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from langchain_core.documents import Document

from retrieval.loaders import Failure
from retrieval.text import looks_binary

if TYPE_CHECKING:
    from retrieval.index import HybridIndex

DIGEST = "digest"
_LOOKUP_PAGE = 500
_BINARY_HEAD = 8192
"""Characters looked at for binary data, as the loaders look at a file's first bytes."""
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")
_MARKUP = re.compile(
    r"<(script|style)\b.*?</\1\s*>"  # a script or style block, whole
    r"|<!--.*?-->"  # a comment
    r"|</?[A-Za-z!?][^<>]{0,1000}>"  # a tag
    r"|&(?:[A-Za-z]{2,10}|#\d{1,7}|#x[0-9A-Fa-f]{1,6});",  # an entity
    re.DOTALL | re.IGNORECASE,
)
Indexed = Callable[[list[str]], dict[str, set[str]]]
"""Given digests, the sources already in the index whose text has each."""


@dataclass(frozen=True)
class Limits:
    """Below ``min_words`` words a text is near-empty; above ``max_chars`` characters, over-long; with more
    than ``max_markup_share`` of its visible characters in tags, comments and entities, mostly markup."""

    min_words: int = 3
    max_chars: int = 500_000
    max_markup_share: float = 0.5


@dataclass
class Validated:
    documents: list[Document] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def validate(documents: Iterable[Document], *, limits: Limits = Limits(), indexed: Indexed | None = None) -> Validated:
    """The documents fit to index, and why each of the others is kept out.

    Of two sources with the same text, the one already indexed stays (``indexed`` says which are; one
    re-ingested now does not count, its text may be changing); within ``documents``, the first."""
    groups: dict[tuple[str, str], list[Document]] = {}
    for document in documents:
        key = (str(document.metadata.get("source", "")), str(document.metadata.get("doc_id", "")))
        groups.setdefault(key, []).append(document)

    result, fit = Validated(), []
    for (source, doc_id), parts in groups.items():
        text = "\n\n".join(part.page_content for part in parts if part.page_content)
        reason = problem(text, limits)
        if reason:
            result.failures.append(Failure(where(source, doc_id), reason))
        else:
            fit.append((source, doc_id, digest(text), [part for part in parts if part.page_content]))

    batch_sources = {source for source, *_ in fit}
    elsewhere = indexed([d for _, _, d, _ in fit]) if indexed and fit else {}
    fit.sort(key=lambda found: found[0] not in elsewhere.get(found[2], ()))  # the indexed holder claims first
    claimed: dict[str, tuple[str, str]] = {}
    for source, doc_id, text_digest, parts in fit:
        holders = sorted(elsewhere.get(text_digest, set()) - batch_sources - {source})
        first = claimed.setdefault(text_digest, (source, doc_id))
        if holders or first[0] != source:
            same_as = holders[0] if holders else where(*first)
            result.failures.append(Failure(where(source, doc_id), f"duplicate: the same text as {same_as}"))
            continue
        result.documents += [Document(part.page_content, metadata={**part.metadata, DIGEST: text_digest})
                             for part in parts]
    return result


def problem(text: str, limits: Limits) -> str | None:
    """Why this (normalised) text is not fit to index, in a few words; None when it is."""
    if looks_binary(text[:_BINARY_HEAD]):
        return "binary content, not text"
    words = len(_WORD.findall(text))
    if not words:
        return "empty: no text"
    if words < limits.min_words:
        return f"near-empty ({words} {'word' if words == 1 else 'words'}; at least {limits.min_words} needed)"
    share = markup_share(text)
    if share > limits.max_markup_share:
        return f"mostly markup ({share:.0%} of it is tags, comments or entities)"
    if len(text) > limits.max_chars:
        return f"over-long ({len(text):,} characters; the limit is {limits.max_chars:,})"
    return None


def markup_share(text: str) -> float:
    """The share of the text's visible (non-space) characters that are HTML or XML tags, comments and entities."""
    visible = _visible(text)
    return sum(_visible(m.group(0)) for m in _MARKUP.finditer(text)) / visible if visible else 0.0


def _visible(text: str) -> int:
    return len(text) - sum(map(len, _SPACE.findall(text)))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def where(source: str, doc_id: str) -> str:
    """How a report names one document: its source, and which record of it when a source holds several."""
    if not doc_id or doc_id == source or doc_id.startswith(source):
        return doc_id or source
    return f"{source}#{doc_id}"


def indexed_in(index: "HybridIndex") -> Indexed:
    """``indexed`` for ``validate``: looks the digests up in the chunks' metadata (chunks indexed before
    digests were kept have none, and are not found)."""

    def lookup(digests: list[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        unique = sorted(set(digests))
        for start in range(0, len(unique), _LOOKUP_PAGE):
            page = index.collection.get(where={DIGEST: {"$in": unique[start:start + _LOOKUP_PAGE]}},
                                        include=["metadatas"])
            for metadata in page["metadatas"] or []:
                found.setdefault(str(metadata[DIGEST]), set()).add(str(metadata.get("source", "")))
        return found

    return lookup
