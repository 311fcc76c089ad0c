"""The only code that writes the feedback tables. Every entry point (chat, review pages, API,
simulation) calls these keyword-only functions; each write is one transaction and one event.
"""

from collections.abc import Iterable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlmodel import Session, select

from feedback.db import Database
from feedback.models import ROLES, Answer, Citation, Event, Feedback, User, now
from retrieval.errors import GroundloopError

_hasher = PasswordHasher()


class NotAllowed(GroundloopError):
    """The signed-in person may not do this; nothing was written."""


class NotFound(GroundloopError):
    """The thing named does not exist."""


def _log(session: Session, *, actor_id: str | None, action: str, subject: Any, **data: Any) -> None:
    session.add(Event(actor_id=actor_id, action=action, subject_type=type(subject).__tablename__,
                      subject_id=str(subject.id), data=data))


# Users


def add_user(db: Database, *, identifier: str, role: str = "user", password: str | None = None) -> User:
    if role not in ROLES:
        raise GroundloopError(f"Unknown role '{role}': use one of {', '.join(ROLES)}.")
    with db.write() as session:
        if session.exec(select(User).where(User.identifier == identifier)).first():
            raise GroundloopError(f"A user named '{identifier}' already exists.")
        user = User(identifier=identifier, role=role, password_hash=_hasher.hash(password) if password else None)
        session.add(user)
        session.flush()
        _log(session, actor_id=None, action="user_added", subject=user, role=role)
        return user


def set_role(db: Database, *, identifier: str, role: str, actor_id: str | None = None) -> User:
    if role not in ROLES:
        raise GroundloopError(f"Unknown role '{role}': use one of {', '.join(ROLES)}.")
    with db.write() as session:
        user = _user(session, identifier)
        user.role = role
        session.add(user)
        _log(session, actor_id=actor_id, action="role_set", subject=user, role=role)
        return user


def set_password(db: Database, *, identifier: str, password: str) -> None:
    with db.write() as session:
        user = _user(session, identifier)
        user.password_hash = _hasher.hash(password)
        session.add(user)
        _log(session, actor_id=user.id, action="password_set", subject=user)


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


# Answers


def record_answer(
    db: Database,
    *,
    question: str,
    standalone_question: str,
    answer: str,
    answerer: str,
    verdict: str,
    reasons: list[str],
    timings_ms: dict[str, float],
    citations: Iterable[dict],
    ranker_version: str = "fusion",
    user_id: str | None = None,
    thread_id: str | None = None,
    step_id: str | None = None,
) -> Answer:
    """An answer and exactly the sources shown with it (``citations``: n, doc_id, chunk_id, title, …)."""
    with db.write() as session:
        row = Answer(
            question=question, standalone_question=standalone_question, answer=answer, answerer=answerer,
            verdict=verdict, reasons=reasons, timings_ms=timings_ms, ranker_version=ranker_version,
            user_id=user_id, thread_id=thread_id, step_id=step_id,
        )
        session.add(row)
        session.flush()
        for c in citations:
            session.add(Citation(
                answer_id=row.id, rank=c["n"], doc_id=c["doc_id"], chunk_id=c["chunk_id"], title=c["title"],
                source=c["source"], score=c["score"], similarity=c["similarity"], cited=c["cited"],
            ))
        _log(session, actor_id=user_id, action="answered", subject=row, verdict=verdict)
        return row


def answer_for_step(db: Database, *, step_id: str) -> Answer | None:
    with db.read() as session:
        return session.exec(select(Answer).where(Answer.step_id == step_id)).first()


def citations_of(db: Database, *, answer_id: str) -> list[Citation]:
    with db.read() as session:
        return list(session.exec(select(Citation).where(Citation.answer_id == answer_id).order_by(Citation.rank)))


# Feedback


def record_thumb(db: Database, *, answer_id: str, user_id: str, up: bool, comment: str | None = None) -> Feedback:
    """The person's one current thumb on the answer: a new one replaces the old. A comment rides along."""
    with db.write() as session:
        _answer(session, answer_id, user_id)
        thumb = session.exec(
            select(Feedback).where(Feedback.answer_id == answer_id, Feedback.user_id == user_id, Feedback.kind == "thumb")
        ).first() or Feedback(answer_id=answer_id, user_id=user_id, kind="thumb")
        thumb.value, thumb.updated_at = (1 if up else -1), now()
        session.add(thumb)
        session.flush()
        _log(session, actor_id=user_id, action="thumb", subject=thumb, answer_id=answer_id, value=thumb.value)
        if comment and comment.strip():
            _comment(session, answer_id=answer_id, user_id=user_id, text=comment.strip())
        return thumb


def delete_thumb(db: Database, *, feedback_id: str, user_id: str) -> None:
    with db.write() as session:
        thumb = session.get(Feedback, feedback_id)
        if thumb is None or thumb.kind != "thumb":
            raise NotFound("No such rating.")
        if thumb.user_id != user_id:
            raise NotAllowed("That rating is someone else's.")
        _log(session, actor_id=user_id, action="thumb_deleted", subject=thumb, answer_id=thumb.answer_id)
        session.delete(thumb)


def record_comment(db: Database, *, answer_id: str, user_id: str, text: str) -> Feedback:
    with db.write() as session:
        _answer(session, answer_id, user_id)
        return _comment(session, answer_id=answer_id, user_id=user_id, text=text.strip())


def record_source_mark(db: Database, *, answer_id: str, user_id: str, rank: int, relevant: bool) -> Feedback:
    """Whether the source shown as [rank] was relevant; the person's new mark replaces their old one."""
    with db.write() as session:
        _answer(session, answer_id, user_id)
        citation = session.exec(select(Citation).where(Citation.answer_id == answer_id, Citation.rank == rank)).first()
        if citation is None:
            raise NotFound(f"The answer has no source [{rank}].")
        mark = session.exec(
            select(Feedback).where(
                Feedback.answer_id == answer_id, Feedback.user_id == user_id,
                Feedback.kind == "source_mark", Feedback.citation_id == citation.id,
            )
        ).first() or Feedback(answer_id=answer_id, user_id=user_id, kind="source_mark", citation_id=citation.id)
        mark.value, mark.doc_ids, mark.updated_at = (1 if relevant else 0), [citation.doc_id], now()
        session.add(mark)
        session.flush()
        _log(session, actor_id=user_id, action="source_mark", subject=mark, answer_id=answer_id,
             doc_id=citation.doc_id, relevant=relevant)
        return mark


def record_correction(
    db: Database, *, answer_id: str, user_id: str, text: str, ranks: Iterable[int] = ()
) -> Feedback:
    """A person's corrected answer, naming the right sources by their numbers when they know them."""
    with db.write() as session:
        _answer(session, answer_id, user_id)
        ranks = sorted(set(ranks))
        cited = {c.rank: c.doc_id for c in session.exec(select(Citation).where(Citation.answer_id == answer_id))}
        missing = [r for r in ranks if r not in cited]
        if missing:
            raise NotFound(f"The answer has no source {', '.join(f'[{r}]' for r in missing)}.")
        row = Feedback(answer_id=answer_id, user_id=user_id, kind="correction", text=text.strip(),
                       doc_ids=[cited[r] for r in ranks])
        session.add(row)
        session.flush()
        _log(session, actor_id=user_id, action="correction", subject=row, answer_id=answer_id, doc_ids=row.doc_ids)
        return row


def feedback_on(db: Database, *, answer_id: str) -> list[Feedback]:
    with db.read() as session:
        return list(session.exec(select(Feedback).where(Feedback.answer_id == answer_id).order_by(Feedback.created_at)))


def _comment(session: Session, *, answer_id: str, user_id: str, text: str) -> Feedback:
    row = Feedback(answer_id=answer_id, user_id=user_id, kind="comment", text=text)
    session.add(row)
    session.flush()
    _log(session, actor_id=user_id, action="comment", subject=row, answer_id=answer_id)
    return row


def _answer(session: Session, answer_id: str, user_id: str) -> Answer:
    """The answer, when ``user_id`` may give feedback on it: it was given to them, or to nobody signed in."""
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise NotFound("No such answer.")
    if answer.user_id is not None and answer.user_id != user_id:
        raise NotAllowed("That answer was given to someone else.")
    return answer
