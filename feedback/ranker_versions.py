"""The rankers trained from feedback: which versions exist, which one serves, and rolling back."""

from sqlmodel import Session, select

from feedback import stamps
from feedback.db import Database
from feedback.models import Event, RankerVersion, now
from feedback.writing import NotFound, _log


def record_ranker_version(
    db: Database, *, version: str, path: str, active: bool, metrics: dict, counts: dict, actor_id: str | None = None
) -> RankerVersion:
    """A trained ranker whose files are complete; when ``active``, it serves from now on."""
    with db.write() as session:
        row = RankerVersion(version=version, path=path, status="rejected", metrics=metrics, counts=counts)
        session.add(row)
        session.flush()
        _log(session, actor_id=actor_id, action="ranker_trained", subject=row, **metrics)
        if active:
            _activate(session, row, actor_id)
        return row


def activate_ranker(db: Database, *, version: str, actor_id: str | None = None) -> RankerVersion:
    with db.write() as session:
        row = session.exec(select(RankerVersion).where(RankerVersion.version == version)).first()
        if row is None:
            raise NotFound(f"No ranker version '{version}'.")
        _activate(session, row, actor_id)
        return row


def rollback_ranker(db: Database, *, actor_id: str | None = None) -> RankerVersion | None:
    """Serve the version that served before the active one; with none before it, plain fusion (None).

    A rolled-back version is out of the line, so rolling back again goes further back.
    """
    with db.write() as session:
        served = list(session.exec(
            select(RankerVersion)
            .where(RankerVersion.activated_at.is_not(None), RankerVersion.status != "rolled_back")
            .order_by(RankerVersion.activated_at.desc())
        ))
        current = next((row for row in served if row.status == "active"), None)
        if current is None:
            raise NotFound("No learned ranker is active: fusion already serves.")
        previous = next((row for row in served if row is not current), None)
        current.status = "rolled_back"
        session.add(current)
        stamps.bump(session, stamps.RANKERS)
        _log(session, actor_id=actor_id, action="ranker_rolled_back", subject=current)
        if previous is not None:
            _activate(session, previous, actor_id)
        return previous


def _activate(session: Session, row: RankerVersion, actor_id: str | None) -> None:
    for other in session.exec(select(RankerVersion).where(RankerVersion.status == "active")):
        other.status = "inactive"
        session.add(other)
    row.status, row.activated_at = "active", now()
    session.add(row)
    stamps.bump(session, stamps.RANKERS)
    _log(session, actor_id=actor_id, action="ranker_activated", subject=row)


def active_ranker(db: Database) -> RankerVersion | None:
    with db.read() as session:
        return session.exec(select(RankerVersion).where(RankerVersion.status == "active")).first()


def ranker_versions(db: Database) -> list[RankerVersion]:
    with db.read() as session:
        return list(session.exec(select(RankerVersion).order_by(RankerVersion.id)))


def ranker_count(db: Database) -> int:
    return len(ranker_versions(db))


def feedback_events_since_last_ranker(db: Database) -> int:
    """Feedback and review events since the newest ranker was trained (all of them before the first)."""
    with db.read() as session:
        latest = session.exec(select(RankerVersion.created_at).order_by(RankerVersion.created_at.desc())).first()
        query = select(Event).where(Event.action.in_(("thumb", "comment", "source_mark", "correction", "review")))
        if latest is not None:
            query = query.where(Event.at > latest)
        return len(session.exec(query).all())


# The older names, kept for callers written before rankers had one word.
record_model_version, activate_model, rollback_model = record_ranker_version, activate_ranker, rollback_ranker
active_model, model_versions, model_count = active_ranker, ranker_versions, ranker_count
feedback_events_since_last_model = feedback_events_since_last_ranker
