"""Sign-in sessions that the server can end. A sign-in token carries its person's session version;
a token is valid only while that version is current, so bumping it ends every session the person
has (sign-out, a new role, a new password), and a removed person's tokens name no one."""

from sqlmodel import select

from feedback.db import Database
from feedback.models import User
from feedback.accounts import _user
from feedback.writing import _log

TOKEN_KEY = "session_version"
"""Where a sign-in token's metadata carries the version it was issued under."""


def current_version(db: Database, *, identifier: str) -> int | None:
    """The person's session version; None when there is no such person (any token of theirs is void)."""
    with db.read() as session:
        return session.exec(select(User.session_version).where(User.identifier == identifier)).first()


def is_current(db: Database, *, identifier: str, version: object) -> bool:
    """Whether a token issued under ``version`` (0 for tokens older than versions) is still valid."""
    current = current_version(db, identifier=identifier)
    return current is not None and (version if version is not None else 0) == current


def sign_out(db: Database, *, identifier: str, actor_id: str | None = None) -> int:
    """End every session of the person; returns the new version."""
    with db.write() as session:
        user = _user(session, identifier)
        user.session_version += 1
        session.add(user)
        _log(session, actor_id=actor_id, action="signed_out", subject=user)
        return user.session_version
