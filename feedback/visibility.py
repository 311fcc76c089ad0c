"""Whether a person may see what mentions documents: an answer (its sources, corrections and reviews),
a verified answer, a row of an export. One rule, read alike by the chain, the review pages and exports.

A document counts with its groups as indexed now (``HybridIndex.groups_of``); one no longer indexed,
with the groups it had when it was shown with an answer (``Citation.groups``); one never seen, as
``everyone`` (it holds nothing to read). Whoever sees every document (``groups`` None) sees them all.
"""

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from sqlmodel import select

from feedback.db import Database
from feedback.models import Citation, Feedback, Review
from retrieval.groups import EVERYONE

GroupsOf = Callable[[Iterable[str]], Mapping[str, tuple[str, ...]]]
"""Document ids → their groups as indexed now (documents not indexed left out)."""


def may_see(
    doc_ids: Iterable[str],
    groups: Collection[str] | None,
    *,
    current: Mapping[str, Collection[str]],
    recorded: Mapping[str, Collection[str]] | None = None,
) -> bool:
    """Whether an asker in ``groups`` may see every one of ``doc_ids``."""
    if groups is None:
        return True
    recorded = recorded or {}
    for doc_id in doc_ids:
        has = current.get(doc_id) or recorded.get(doc_id) or (EVERYONE,)
        if set(has).isdisjoint(groups):
            return False
    return True


@dataclass(frozen=True)
class Viewer:
    """Someone looking at answers (a reviewer, a key exporting): their groups (None: every document)
    and where the documents' groups as indexed now are read."""

    groups: Collection[str] | None
    groups_of: GroupsOf | None = None

    def may_see(self, doc_ids: Iterable[str], recorded: Mapping[str, Collection[str]] | None = None) -> bool:
        if self.groups is None:
            return True
        doc_ids = list(doc_ids)
        current = self.groups_of(doc_ids) if self.groups_of is not None and doc_ids else {}
        return may_see(doc_ids, self.groups, current=current, recorded=recorded)

    def answers(self, db: Database, answer_ids: Iterable[str]) -> set[str]:
        """Those of ``answer_ids`` this viewer may see (``visible_answers``)."""
        return visible_answers(db, answer_ids, self.groups, self.groups_of)


EVERY_DOCUMENT = Viewer(None)
"""Who sees everything: an admin, the operator at the command line."""


def visible_answers(
    db: Database, answer_ids: Iterable[str], groups: Collection[str] | None, groups_of: GroupsOf | None
) -> set[str]:
    """Those of ``answer_ids`` whose every document — sources shown, documents named by feedback and by
    reviews — an asker in ``groups`` may see (all of them when ``groups`` is None)."""
    answer_ids = list(dict.fromkeys(answer_ids))
    if groups is None:
        return set(answer_ids)
    documents: dict[str, set[str]] = {answer_id: set() for answer_id in answer_ids}
    recorded: dict[str, dict[str, list[str]]] = {answer_id: {} for answer_id in answer_ids}
    with db.read() as session:
        for start in range(0, len(answer_ids), 500):
            some = answer_ids[start : start + 500]
            for answer_id, doc_id, shown in session.exec(
                select(Citation.answer_id, Citation.doc_id, Citation.groups).where(Citation.answer_id.in_(some))
            ):
                documents[answer_id].add(doc_id)
                recorded[answer_id][doc_id] = list(shown)
            for model in (Feedback, Review):
                for answer_id, doc_ids in session.exec(
                    select(model.answer_id, model.doc_ids).where(model.answer_id.in_(some))
                ):
                    documents[answer_id].update(doc_ids or [])
    current = groups_of({d for docs in documents.values() for d in docs}) if groups_of is not None else {}
    return {
        answer_id for answer_id in answer_ids
        if may_see(documents[answer_id], groups, current=current, recorded=recorded[answer_id])
    }
