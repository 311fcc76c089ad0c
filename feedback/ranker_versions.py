"""The rankers trained from feedback: which versions exist, which one serves, and rolling back."""

from sqlmodel import Session, select

from feedback.db import Database
from feedback.models import Event, ModelVersion, now
from feedback.writing import NotFound, _log


def record_model_version(
    db: Database, *, version: str, path: str, active: bool, metrics: dict, counts: dict, actor_id: str | None = None
) -> ModelVersion:
    """A trained ranker whose files are complete; when ``active``, it serves from now on."""
    with db.write() as session:
        row = ModelVersion(version=version, path=path, status="rejected", metrics=metrics, counts=counts)
        session.add(row)
        session.flush()
        _log(session, actor_id=actor_id, action="model_trained", subject=row, **metrics)
        if active:
            _activate(session, row, actor_id)
        return row


def activate_model(db: Database, *, version: str, actor_id: str | None = None) -> ModelVersion:
    with db.write() as session:
        row = session.exec(select(ModelVersion).where(ModelVersion.version == version)).first()
        if row is None:
            raise NotFound(f"No model version '{version}'.")
        _activate(session, row, actor_id)
        return row


def rollback_model(db: Database, *, actor_id: str | None = None) -> ModelVersion | None:
    """Serve the version that served before the active one; with none before it, plain fusion (None).

    A rolled-back version is out of the line, so rolling back again goes further back.
    """
    with db.write() as session:
        served = list(session.exec(
            select(ModelVersion)
            .where(ModelVersion.activated_at.is_not(None), ModelVersion.status != "rolled_back")
            .order_by(ModelVersion.activated_at.desc())
        ))
        current = next((row for row in served if row.status == "active"), None)
        if current is None:
            raise NotFound("No learned ranker is active: fusion already serves.")
        previous = next((row for row in served if row is not current), None)
        current.status = "rolled_back"
        session.add(current)
        _log(session, actor_id=actor_id, action="model_rolled_back", subject=current)
        if previous is not None:
            _activate(session, previous, actor_id)
        return previous


def _activate(session: Session, row: ModelVersion, actor_id: str | None) -> None:
    for other in session.exec(select(ModelVersion).where(ModelVersion.status == "active")):
        other.status = "inactive"
        session.add(other)
    row.status, row.activated_at = "active", now()
    session.add(row)
    _log(session, actor_id=actor_id, action="model_activated", subject=row)


def active_model(db: Database) -> ModelVersion | None:
    with db.read() as session:
        return session.exec(select(ModelVersion).where(ModelVersion.status == "active")).first()


def model_versions(db: Database) -> list[ModelVersion]:
    with db.read() as session:
        return list(session.exec(select(ModelVersion).order_by(ModelVersion.id)))


def model_count(db: Database) -> int:
    return len(model_versions(db))


def feedback_events_since_last_model(db: Database) -> int:
    """Feedback and review events since the newest ranker was trained (all of them before the first)."""
    with db.read() as session:
        latest = session.exec(select(ModelVersion.created_at).order_by(ModelVersion.created_at.desc())).first()
        query = select(Event).where(Event.action.in_(("thumb", "comment", "source_mark", "correction", "review")))
        if latest is not None:
            query = query.where(Event.at > latest)
        return len(session.exec(query).all())
