"""Verified answers: a reviewer's approved correction, served again for the same question.

An answer is verified while its newest review approves it with a text; a later rejection
withdraws it. ``VerifiedAnswers`` finds the verified question closest to a new one among those the
asker may see: every document the reviewer attached and every source shown with the original answer
(``feedback.visibility``); otherwise the asker gets the ordinary answer.
"""

import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from sqlmodel import select

from feedback import counting, stamps
from feedback.db import Database, DatabaseUnavailable
from feedback.models import Answer, Citation
from feedback.visibility import GroupsOf, may_see

log = logging.getLogger(__name__)


class Encoder(Protocol):
    def encode_questions(self, questions: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Verified:
    question: str
    answer: str
    doc_ids: list[str]
    answer_id: str
    review_id: str
    shown: dict[str, list[str]] = field(default_factory=dict)
    """The documents shown with the original answer, with the groups they had then."""

    def documents(self) -> list[str]:
        """Every document the verified answer draws on: those attached and those first shown."""
        return list(dict.fromkeys([*self.doc_ids, *self.shown]))


@dataclass(frozen=True)
class Match:
    verified: Verified
    similarity: float


def verified_answers(db: Database) -> list[Verified]:
    """Every answer whose newest review approved it with a text, oldest review first."""
    with db.read() as session:
        approved = counting.approved_reviews(session)
        answers = {a.id: a for a in session.exec(select(Answer).where(Answer.id.in_(list(approved))))}
        shown: dict[str, dict[str, list[str]]] = {}
        for citation in session.exec(select(Citation).where(Citation.answer_id.in_(list(approved)))):
            shown.setdefault(citation.answer_id, {})[citation.doc_id] = list(citation.groups)
    ordered = sorted(approved.values(), key=lambda review: (review.created_at, review.id))
    return [
        Verified(answers[r.answer_id].standalone_question, r.text.strip(), list(r.doc_ids), r.answer_id, r.id,
                 shown.get(r.answer_id, {}))
        for r in ordered
        if r.text and r.text.strip()
    ]


def _review_state(db: Database) -> int:
    """Moves whenever a review is added (``stamps``): one primary-key read, so each question costs
    no more while nothing changed."""
    return stamps.read(db, stamps.REVIEWS)


class VerifiedAnswers:
    """Finds the verified answer to a question, if one is close enough (cosine ≥ ``threshold``).

    The verified answers are read and their questions embedded once, and again only when the reviews
    have changed (their stamp moved).
    """

    def __init__(self, db: Database, embeddings: Encoder, *, threshold: float) -> None:
        self.db = db
        self.embeddings = embeddings
        self.threshold = threshold
        self._state: tuple | None = None
        self._items: list[Verified] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        """Re-read the verified answers when the reviews changed; keep the known ones if the database is away."""
        try:
            state = _review_state(self.db)
            if state == self._state:
                return
            items = verified_answers(self.db)
        except DatabaseUnavailable as error:
            log.warning("verified answers not refreshed: %s", error)
            return
        vectors = self.embeddings.encode_questions([v.question for v in items])
        self._items, self._vectors, self._state = items, vectors, state

    def find(
        self,
        question: str,
        *,
        vector: np.ndarray | None = None,
        groups: Collection[str] | None = None,
        groups_of: GroupsOf | None = None,
    ) -> Match | None:
        """``vector``: the question's embedding (``encode_questions``), when the caller has made it.
        ``groups``: the asker's (None: every document); ``groups_of`` says the documents' groups as
        indexed now. Only verified answers the asker may see are found."""
        with self._lock:
            self._refresh()
            items, vectors = self._items, self._vectors
        if not items:
            return None
        if vector is None:
            vector = self.embeddings.encode_questions([question])[0]
        similarities = vectors @ vector
        for best in np.argsort(-similarities, kind="stable"):
            if float(similarities[best]) < self.threshold:
                return None
            item = items[int(best)]
            if groups is None or self._visible(item, groups, groups_of):
                return Match(item, float(similarities[best]))
        return None

    @staticmethod
    def _visible(item: Verified, groups: Collection[str], groups_of: GroupsOf | None) -> bool:
        documents = item.documents()
        current = groups_of(documents) if groups_of is not None else {}
        return may_see(documents, groups, current=current, recorded=item.shown)
