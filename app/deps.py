"""What the API's routes declare in their signatures: the caller's key, checked and rate-limited
(``ApiKeyDep``), and the scope a route needs (``scoped("export")``).

Refusals, each with its exact ``detail``:

- 401 "An API key is needed: send Authorization: Bearer <key>." (no key sent)
- 401 "This API key is not valid." (not a key of this server) / "This API key was revoked."
- 403 "This key lacks the '<scope>' scope."; for an export, also "Exports are for reviewers and admins."
- 429 "Too many requests with this key: …" / "… for this account: …", with ``Retry-After``.
"""

from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app import runtime
from app.http_errors import http_error
from feedback import keys
from feedback.keys import InvalidKey, KeyHolder
from retrieval.errors import GroundloopError

NO_KEY = "An API key is needed: send Authorization: Bearer <key>."
_bearer = HTTPBearer(auto_error=False, description="An API key from `groundloop keys create`.")


Caller = KeyHolder
"""A request's key and the person it acts for."""


def _caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    """The key's holder, once the key is checked and this request counted against its limits.
    (A plain function: FastAPI runs it in the threadpool, so the database reads block no one.)"""
    if credentials is None:
        raise HTTPException(401, NO_KEY, headers={"WWW-Authenticate": "Bearer"})
    db = runtime.database()
    try:
        holder = keys.check_key(db, key=credentials.credentials)
        runtime.limits().api_request(key_id=holder.key.id, user_id=holder.user.id)
        if keys.needs_touch(holder.key):
            keys.touch_key(db, key_id=holder.key.id)
    except InvalidKey as error:
        raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from None
    except GroundloopError as error:
        raise refusal(error) from None
    return holder


ApiKeyDep = Annotated[Caller, Depends(_caller)]


def scoped(scope: str) -> type:
    """``Annotated[Caller, …]`` for a route that needs ``scope``: 403 for a key without it."""
    assert scope in keys.SCOPES, scope

    def check(caller: ApiKeyDep) -> Caller:
        if scope not in caller.key.scopes:
            raise HTTPException(403, f"This key lacks the '{scope}' scope.")
        return caller

    return Annotated[Caller, Depends(check)]


def refusal(error: GroundloopError) -> HTTPException:
    """A refusal from below as the HTTP error a client can act on (``app.http_errors``' table)."""
    return http_error(error)
