"""Ranker versions: retrain behind a gate, activate, roll back, and serve the active one.

Files go to ``rankers_dir/<version>`` (written aside and renamed into place); the database
says which version is active. A crash at any point leaves the old ranker serving: the new
version is recorded only after its files are whole, and made active in the same transaction.
"""

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from feedback import accounts, ranker_versions, stamps
from feedback.db import Database, DatabaseUnavailable
from feedback.names import ACCOUNT_SHARE
from feedback.training import judged_questions
from retrieval.errors import GroundloopError
from retrieval.ranking import Ranker
from retrieval.retriever import HybridRetriever

log = logging.getLogger(__name__)


@dataclass
class RetrainReport:
    version: str
    held_out_ndcg: float
    active_ndcg: float
    active_version: str
    activated: bool
    dry_run: bool
    seconds: float
    counts: dict = field(default_factory=dict)
    choices: dict = field(default_factory=dict)
    refusal: str | None = None
    """Why a candidate that scored higher was still not activated."""


class ActiveRanker:
    """The ranker that serves now. Each call looks at the rankers' change stamp only; the active
    version is read again when the stamp moved, and its files loaded once per version, so a version
    activated by another process serves from the next question on."""

    def __init__(self, db: Database, default: Ranker) -> None:
        self.db, self.default = db, default
        self._version: str | None = None
        self._ranker: Ranker = default
        self._serving: Ranker = default
        self._stamp: int | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Ranker:
        try:
            stamp = stamps.read(self.db, stamps.RANKERS)
            if stamp == self._stamp:
                return self._serving
            with self._lock:
                if stamp != self._stamp:
                    self._serving, self._stamp = self._active(), stamp
                return self._serving
        except DatabaseUnavailable:
            return self._serving  # answering matters more than the newest ranker

    def _active(self) -> Ranker:
        row = ranker_versions.active_ranker(self.db)
        if row is None:
            return self.default
        if row.version != self._version:
            from retrieval import ranker_files  # skops, only once a learned ranker serves

            try:
                self._ranker, self._version = ranker_files.load(Path(row.path)), row.version
            except (OSError, ValueError, KeyError) as error:
                log.error("ranker %s cannot be loaded (%s); serving %s", row.version, error, self._ranker.version)
        return self._ranker


def named_ranker(db: Database, version: str) -> Ranker:
    """The learned ranker saved as ``version``, whatever serves now (to compare it with the active one)."""
    from retrieval import ranker_files

    row = next((row for row in ranker_versions.ranker_versions(db) if row.version == version), None)
    if row is None:
        raise GroundloopError(f"No ranker version '{version}': see groundloop rankers list.")
    try:
        return ranker_files.load(Path(row.path))
    except (OSError, ValueError, KeyError) as error:
        raise GroundloopError(f"Ranker {version} cannot be loaded from {row.path}: {error}") from None


def retrain(
    db: Database, retriever: HybridRetriever, rankers_dir: Path, *, active: Ranker, dry_run: bool = False,
    force: bool = False, account_share: float = ACCOUNT_SHARE,
) -> RetrainReport:
    """Learn a candidate from all feedback; it serves only if it beats ``active`` on held-out feedback,
    weighed by account, and its gain is not one account's alone (or ``force``)."""
    from feedback.learning import learn
    from retrieval import ranker_files

    started = time.perf_counter()
    judged = judged_questions(db)
    if len(judged) < 2:
        raise GroundloopError(f"Not enough feedback to learn from yet: {len(judged)} judged questions, 2 or more needed.")
    version = f"v{ranker_versions.ranker_count(db) + 1}"
    names = {user.id: user.identifier for user in accounts.list_users(db)}
    outcome = learn(retriever, judged, version=version, active=active, account_share=account_share,
                    names=lambda user_id: names.get(user_id, user_id))
    activated = (outcome.better or force) and not dry_run
    if not dry_run:
        path = rankers_dir / version
        ranker_files.save(outcome.ranker, path)
        ranker_versions.record_ranker_version(
            db,
            version=version,
            path=str(path.resolve()),
            active=activated,
            metrics={"held_out_ndcg@10": outcome.held_out_ndcg, "active_ndcg@10": outcome.active_ndcg,
                     "compared_with": active.version, **outcome.choices,
                     **({"refusal": outcome.refusal} if outcome.refusal else {})},
            counts=outcome.counts,
        )
    return RetrainReport(
        version=version,
        held_out_ndcg=outcome.held_out_ndcg,
        active_ndcg=outcome.active_ndcg,
        active_version=active.version,
        activated=activated,
        dry_run=dry_run,
        seconds=time.perf_counter() - started,
        counts=outcome.counts,
        choices=outcome.choices,
        refusal=outcome.refusal,
    )
