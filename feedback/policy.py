"""Who may do what with an answer, and what a valid correction or comment is: each rule once.

The writers (``opinions``, ``reviews``) apply these before they write, and every entry point —
the chat, Chainlit's data layer, the REST API, the review pages — asks the same functions, so the
same request gets the same answer everywhere. Entry points only translate the errors raised
here (``NotAllowed``, ``NotFound``, ``BadFeedback``) into their own medium.
"""


from feedback.writing import NotAllowed, NotFound
from retrieval.errors import GroundloopError
from retrieval.text import looks_binary, normalize

REVIEWER_ROLES = ("reviewer", "admin")
MAX_CORRECTION_CHARS = 10_000
MAX_COMMENT_CHARS = 10_000

SOMEONE_ELSES = "That answer was given to someone else."
NO_ANSWER = "No such answer."
ONLY_ADMINS = "Only admins manage documents."


class BadFeedback(GroundloopError):
    """A correction or comment that cannot be stored as sent; the message says how to fix it."""


def answer_owner(answer, thread=None) -> str | None:
    """Whose answer it is: the person it was given to, else the owner of the conversation holding it;
    None for an answer given to nobody signed in (a script's)."""
    if answer.user_id is not None:
        return answer.user_id
    return thread.user_id if thread is not None else None


def check_may_give_feedback(answer, user_id: str | None, thread=None) -> None:
    """Rate, comment, mark or correct: only on an answer given to you (or to nobody signed in)."""
    if answer is None:
        raise NotFound(NO_ANSWER)
    if not user_id:
        raise NotAllowed("Sign in first.")
    owner = answer_owner(answer, thread)
    if owner is not None and owner != user_id:
        raise NotAllowed(SOMEONE_ELSES)


def is_reviewer(role: str | None) -> bool:
    """Reviewers and admins review answers, mark anyone's sources, see the dashboard and export."""
    return role in REVIEWER_ROLES


def check_may_review(user) -> None:
    if user is None or not is_reviewer(user.role):
        raise NotAllowed("Only reviewers and admins review answers.")


def check_may_export(user) -> None:
    if user is None or not is_reviewer(user.role):
        raise NotAllowed("Exports are for reviewers and admins.")


def check_may_see_review_pages(user) -> None:
    if user is None or not is_reviewer(user.role):
        raise NotAllowed("Reviewers only.")


def check_may_manage_documents(user) -> None:
    """Upload, regroup and delete documents: admins only, on the documents page and through the API."""
    if user is None or user.role != "admin":
        raise NotAllowed(ONLY_ADMINS)


def check_may_hold_scopes(user, scopes) -> None:
    """A key may act only as far as its person may: the ``admin`` scope only for an admin's key."""
    if "admin" in scopes and (user is None or user.role != "admin"):
        raise NotAllowed("Only an admin's key may have the 'admin' scope.")


def clean_correction(text: str) -> str:
    """The correction, normalised; or BadFeedback saying what is wrong with it."""
    return _clean(text, what="correction", limit=MAX_CORRECTION_CHARS, tidy=normalize)


def clean_comment(text: str) -> str:
    """The comment without its outer spaces (kept as typed otherwise, so the dialog's echo of it is
    recognised); or BadFeedback saying what is wrong with it."""
    return _clean(text, what="comment", limit=MAX_COMMENT_CHARS, tidy=str.strip)


def _clean(text: str, *, what: str, limit: int, tidy) -> str:
    if len(text) > limit:
        raise BadFeedback(f"The {what} is too long ({len(text):,} characters; the limit is {limit:,}).")
    if looks_binary(text):
        raise BadFeedback("That does not look like text: it contains binary data.")
    cleaned = tidy(text)
    if not cleaned:
        raise BadFeedback(f"The {what} is empty.")
    return cleaned
