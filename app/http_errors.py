"""The one table that turns a refusal from below into an HTTP status, for every route: the REST
API, the OpenAI-compatible route, the review pages and Chainlit's own routes. The message is the
detail, unchanged: the rule that refused already says why in words a person can act on."""

from fastapi import HTTPException

from app.limits import LimitExceeded
from app.questions import QuestionTooLong
from feedback.db import DatabaseUnavailable
from feedback.writing import NotAllowed, NotFound
from retrieval.errors import GroundloopError, IndexUnavailable

STATUS: tuple[tuple[type[GroundloopError], int], ...] = (
    (LimitExceeded, 429),
    (NotFound, 404),
    (NotAllowed, 403),
    (DatabaseUnavailable, 503),
    (IndexUnavailable, 503),
    (QuestionTooLong, 413),
)
"""First match wins; anything else is what was sent that cannot be used as it is."""


def status_of(error: GroundloopError, *, bad_input: int = 422) -> int:
    """``bad_input``: 422 for the APIs; the review pages' forms answer 400."""
    return next((status for kind, status in STATUS if isinstance(error, kind)), bad_input)


def http_error(error: GroundloopError, *, bad_input: int = 422) -> HTTPException:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, LimitExceeded) else None
    return HTTPException(status_of(error, bad_input=bad_input), str(error), headers=headers)
