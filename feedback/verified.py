"""Verified answers: a reviewer's approved correction, served again for the same question.

An answer is verified while its newest review approves it with a text; a later rejection
withdraws it. ``VerifiedAnswers`` finds the verified question closest to a new one.
"""

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlmodel import select

from feedback import counting, stamps
from feedback.db import Database, DatabaseUnavailable
from feedback.models import Answer

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


@dataclass(frozen=True)
class Match:
    verified: Verified
    similarity: float


def verified_answers(db: Database) -> list[Verified]:
    """Every answer whose newest review approved it with a text, oldest review first."""
    with db.read() as session:
        approved = counting.approved_reviews(session)
        answers = {a.id: a for a in session.exec(select(Answer).where(Answer.id.in_(list(approved))))}
    ordered = sorted(approved.values(), key=lambda review: (review.created_at, review.id))
    return [
        Verified(answers[r.answer_id].standalone_question, r.text.strip(), list(r.doc_ids), r.answer_id, r.id)
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

    def find(self, question: str, *, vector: np.ndarray | None = None) -> Match | None:
        """``vector``: the question's embedding (``encode_questions``), when the caller has made it."""
        with self._lock:
            self._refresh()
            items, vectors = self._items, self._vectors
        if not items:
            return None
        if vector is None:
            vector = self.embeddings.encode_questions([question])[0]
        similarities = vectors @ vector
        best = int(np.argmax(similarities))
        if float(similarities[best]) < self.threshold:
            return None
        return Match(items[best], float(similarities[best]))
