"""API keys: the only code that writes the api_keys table, and the check a request's key goes through.

A key reads ``gl_<prefix>_<secret>``. The prefix (12 hex digits) is public: listings show it, and
it finds the key's row. The secret is 32 random bytes. Only the SHA-256 of the whole key is kept.

A fast hash is the right one here, unlike for passwords. A password is guessable, so its hash must
be slow (argon2 takes tens of milliseconds) to make each guess expensive. A key holds 256 random
bits, which no number of guesses finds at any hashing speed, so a slow hash would add nothing but
its cost, paid on every API request. Hashes are compared in constant time.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from feedback import policy
from feedback.db import Database
from feedback.models import ApiKey, User, now
from feedback.writing import NotFound, _log
from retrieval.errors import GroundloopError

from feedback.names import SCOPES  # noqa: F401  (re-exported)
MARK = "gl"
TOUCH_EVERY = timedelta(minutes=1)
"""``last_used_at`` is kept to the minute: a write per request would double the API's writes."""


class InvalidKey(GroundloopError):
    """No such key, or not a key at all."""


class RevokedKey(InvalidKey):
    """The key was revoked: it opens nothing any more."""


@dataclass(frozen=True)
class KeyHolder:
    key: ApiKey
    user: User


def parse_scopes(given: str | list[str]) -> list[str]:
    """``ask,feedback`` or a list, checked against SCOPES, in SCOPES order."""
    names = {s.strip() for s in (given.split(",") if isinstance(given, str) else given) if s.strip()}
    unknown = sorted(names - set(SCOPES))
    if unknown:
        raise GroundloopError(f"Unknown scope '{unknown[0]}': use {', '.join(SCOPES)}.")
    if not names:
        raise GroundloopError(f"Name at least one scope: {', '.join(SCOPES)}.")
    return [s for s in SCOPES if s in names]


def create_key(
    db: Database, *, identifier: str, scopes: str | list[str], name: str = "", actor_id: str | None = None
) -> tuple[ApiKey, str]:
    """A new key for the user named ``identifier``; the key itself is returned here and never again."""
    scopes = parse_scopes(scopes)
    name = name.strip() or "key"
    if len(name) > 200:
        raise GroundloopError("A key's name must be at most 200 characters.")
    with db.write() as session:
        user = session.exec(select(User).where(User.identifier == identifier)).first()
        if user is None:
            raise NotFound(f"No user named '{identifier}'.")
        policy.check_may_hold_scopes(user, scopes)
        while True:
            prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
            key = f"{MARK}_{prefix}_{secret}"
            row = ApiKey(user_id=user.id, name=name, prefix=prefix, secret_hash=_hash(key), scopes=scopes)
            try:
                with session.begin_nested():
                    session.add(row)
                break
            except IntegrityError:  # that prefix is taken (one chance in 2^48 per existing key): draw again
                continue
        _log(session, actor_id=actor_id, action="api_key_created", subject=row, user_id=user.id, scopes=scopes)
        return row, key


def list_keys(db: Database) -> list[tuple[ApiKey, str]]:
    """Every key, revoked ones too, with the name of the user it acts for; oldest first."""
    with db.read() as session:
        rows = session.exec(select(ApiKey, User.identifier).join(User, ApiKey.user_id == User.id)
                            .order_by(ApiKey.created_at))
        return [(key, identifier) for key, identifier in rows]


def revoke_key(db: Database, *, prefix: str, actor_id: str | None = None) -> ApiKey:
    """From now on the key opens nothing. ``prefix`` may also be given as ``gl_<prefix>`` or the whole key.
    Revoking a revoked key changes nothing."""
    prefix = _prefix_of(prefix) or prefix
    with db.write() as session:
        row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        if row is None:
            raise NotFound(f"No API key '{prefix}': see groundloop keys list.")
        if row.revoked_at is None:
            row.revoked_at = now()
            session.add(row)
            _log(session, actor_id=actor_id, action="api_key_revoked", subject=row)
        return row


def check_key(db: Database, *, key: str) -> KeyHolder:
    """The key's row and its user; InvalidKey or RevokedKey otherwise. Writes nothing."""
    prefix = _prefix_of(key)
    with db.read() as session:
        found = session.exec(select(ApiKey, User).join(User, ApiKey.user_id == User.id)
                             .where(ApiKey.prefix == prefix)).first() if prefix else None
    if found is None or not hmac.compare_digest(found[0].secret_hash, _hash(key)):
        raise InvalidKey("This API key is not valid.")
    if found[0].revoked_at is not None:
        raise RevokedKey("This API key was revoked.")
    return KeyHolder(*found)


def touch_key(db: Database, *, key_id: str, at: datetime | None = None) -> bool:
    """Note that the key was used at ``at`` (now), unless it was noted less than TOUCH_EVERY before;
    whether it was noted."""
    at = at or now()
    with db.write() as session:
        row = session.get(ApiKey, key_id)
        if row is None or not needs_touch(row, at):
            return False
        row.last_used_at = at
        session.add(row)
        _log(session, actor_id=row.user_id, action="api_key_used", subject=row)
        return True


def needs_touch(key: ApiKey, at: datetime | None = None) -> bool:
    """Whether ``touch_key`` would note this use (so a request can skip the write when it would not)."""
    return key.last_used_at is None or (at or now()) - key.last_used_at >= TOUCH_EVERY


def _prefix_of(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) < 2 or parts[0] != MARK or len(parts[1]) != 12:
        return None
    return parts[1]


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
