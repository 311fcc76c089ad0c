"""The people who may sign in: who they are, their role, their password and whether they are exported."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from feedback.db import Database
from feedback.models import ROLES, Event, User
from feedback.writing import NotFound, _log
from retrieval.errors import GroundloopError

_hasher = PasswordHasher()


def add_user(db: Database, *, identifier: str, role: str = "user", password: str | None = None) -> User:
    if role not in ROLES:
        raise GroundloopError(f"Unknown role '{role}': use one of {', '.join(ROLES)}.")
    with db.write() as session:
        if session.exec(select(User).where(User.identifier == identifier)).first():
            raise GroundloopError(f"A user named '{identifier}' already exists.")
        user = User(identifier=identifier, role=role, password_hash=_hasher.hash(password) if password else None)
        try:
            with session.begin_nested():
                session.add(user)
        except IntegrityError:  # added by someone else in the meantime
            raise GroundloopError(f"A user named '{identifier}' already exists.") from None
        _log(session, actor_id=None, action="user_added", subject=user, role=role)
        return user


def set_role(db: Database, *, identifier: str, role: str, actor_id: str | None = None) -> User:
    if role not in ROLES:
        raise GroundloopError(f"Unknown role '{role}': use one of {', '.join(ROLES)}.")
    with db.write() as session:
        user = _user(session, identifier)
        user.role = role
        user.session_version += 1  # a token naming the old role must not outlive it
        session.add(user)
        _log(session, actor_id=actor_id, action="role_set", subject=user, role=role)
        return user


def set_password(db: Database, *, identifier: str, password: str) -> None:
    with db.write() as session:
        user = _user(session, identifier)
        user.password_hash = _hasher.hash(password)
        user.session_version += 1  # whoever signed in with the old password is signed out
        session.add(user)
        _log(session, actor_id=user.id, action="password_set", subject=user)


def set_export_opt_out(db: Database, *, identifier: str, opted_out: bool, actor_id: str | None = None) -> User:
    """Whether everything about the person is left out of exports (see ``feedback.export``)."""
    with db.write() as session:
        user = _user(session, identifier)
        user.export_opt_out = opted_out
        session.add(user)
        _log(session, actor_id=actor_id, action="export_opt_out" if opted_out else "export_opt_in", subject=user)
        return user


def set_learning_excluded(db: Database, *, identifier: str, excluded: bool, actor_id: str | None = None) -> User:
    """Keep the person's feedback stored but out of learning (or back in), from the next retrain on.

    The audit event is the record: the newest ``learning_excluded`` / ``learning_included`` event
    for a person says whether they count (``excluded_from_learning``).
    """
    with db.write() as session:
        user = _user(session, identifier)
        _log(session, actor_id=actor_id, action="learning_excluded" if excluded else "learning_included", subject=user)
        return user


def excluded_from_learning(db: Database) -> set[str]:
    """Ids of the people whose feedback is kept out of learning now."""
    with db.read() as session:
        rows = session.exec(
            select(Event.subject_id, Event.action)
            .where(Event.action.in_(("learning_excluded", "learning_included")), Event.subject_type == "users")
            .order_by(Event.id)
        ).all()
    newest = dict(rows)
    return {user_id for user_id, action in newest.items() if action == "learning_excluded"}


def authenticate(db: Database, *, identifier: str, password: str) -> User | None:
    """The user when the password matches; None otherwise (no hint which part was wrong)."""
    with db.read() as session:
        user = session.exec(select(User).where(User.identifier == identifier)).first()
    if user is None or not user.password_hash:
        _hasher.hash(password)  # the same work either way: no timing hint that the name exists
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    return user


def list_users(db: Database) -> list[User]:
    with db.read() as session:
        return list(session.exec(select(User).order_by(User.identifier)))


def get_user(db: Database, *, identifier: str) -> User | None:
    with db.read() as session:
        return session.exec(select(User).where(User.identifier == identifier)).first()


def _user(session: Session, identifier: str) -> User:
    user = session.exec(select(User).where(User.identifier == identifier)).first()
    if user is None:
        raise NotFound(f"No user named '{identifier}'.")
    return user
