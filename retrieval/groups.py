"""Groups: who may see a chunk, and the asker's groups a search is filtered by.

Every chunk's metadata holds ``groups``, a sorted list of group names (Chroma array metadata);
a chunk stored before groups existed has none and counts as ``everyone``. Every person is in
``everyone``. Code outside this module reads and writes a chunk's groups only through it.

The asker's groups are passed down per question as a collection of names, or ``None`` for
"every document" (an admin, an operator at the command line, an evaluation run).
"""

import re
from collections.abc import Collection, Iterable, Mapping

from retrieval.errors import GroundloopError

EVERYONE = "everyone"
KEY = "groups"
"""The chunk metadata key."""
_NAME = re.compile(r"[a-z0-9_-]{1,50}")


class InvalidGroups(GroundloopError, ValueError):
    """Group names that cannot be used; the message says which and why."""


def parse(names: str | Iterable[str]) -> tuple[str, ...]:
    """Sorted, distinct group names from ``"a,b"`` or an iterable; an InvalidGroups error for a bad
    name or for none at all."""
    if isinstance(names, str):
        names = names.split(",")
    given = [name.strip() for name in names if name and name.strip()]
    bad = [name for name in given if not _NAME.fullmatch(name)]
    if bad:
        raise InvalidGroups(
            f"'{bad[0][:60]}' is not a group name: use 1 to 50 lowercase letters, digits, '-' or '_'."
        )
    if not given:
        raise InvalidGroups("Name at least one group (everyone, when all may see it).")
    return tuple(sorted(set(given)))


def member(names: Iterable[str]) -> tuple[str, ...]:
    """A person's groups as a search uses them: their own names and ``everyone``."""
    return tuple(sorted({EVERYONE, *names}))


def of(metadata: Mapping) -> tuple[str, ...]:
    """A chunk's groups; ``everyone`` for a chunk stored before groups existed."""
    stored = metadata.get(KEY)
    if isinstance(stored, str):  # a single name, as a store without array metadata would keep it
        return (stored,)
    return tuple(stored) if stored else (EVERYONE,)


def stored(groups: Iterable[str]) -> dict[str, list[str]]:
    """The metadata entry that gives a chunk these groups."""
    return {KEY: sorted(set(groups))}


def chroma_where(groups: Collection[str] | None) -> dict | None:
    """A Chroma ``where`` for chunks any of ``groups`` may see; None (no filter) for every document."""
    if groups is None:
        return None
    clauses = [{KEY: {"$contains": name}} for name in sorted(set(groups))]
    if not clauses:
        return {KEY: {"$contains": ""}}  # nobody's group: matches nothing
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def visible(metadata: Mapping, groups: Collection[str] | None) -> bool:
    """Whether an asker in ``groups`` (None: every document) may see the chunk with this metadata."""
    return groups is None or not set(of(metadata)).isdisjoint(groups)
