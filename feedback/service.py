"""The only code that writes the feedback tables. Every entry point (chat, review pages, API,
simulation) calls these keyword-only functions; each write is one transaction and one event.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from feedback.db import Database
from feedback.models import ROLES, Answer, Citation, Element, Event, Feedback, ModelVersion, Review, Step, Thread, User, now
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
        session.add(user)
        _log(session, actor_id=actor_id, action="role_set", subject=user, role=role)
        return user


def set_password(db: Database, *, identifier: str, password: str) -> None:
    with db.write() as session:
        user = _user(session, identifier)
        user.password_hash = _hasher.hash(password)
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
    if not text.strip():
        raise GroundloopError("The comment is empty.")
    with db.write() as session:
        _answer(session, answer_id, user_id)
        return _comment(session, answer_id=answer_id, user_id=user_id, text=text.strip())


def record_source_mark(db: Database, *, answer_id: str, user_id: str, rank: int, relevant: bool) -> Feedback:
    """Whether the source shown as [rank] was relevant; the person's new mark replaces their old one."""
    with db.write() as session:
        _answer(session, answer_id, user_id)
        return _mark(session, answer_id=answer_id, user_id=user_id, rank=rank, relevant=relevant)


def _mark(session: Session, *, answer_id: str, user_id: str, rank: int, relevant: bool, **logged: Any) -> Feedback:
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
         doc_id=citation.doc_id, relevant=relevant, **logged)
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
    """The answer, when ``user_id`` may give feedback on it: it was given to them, or to nobody signed in.

    Locked for the transaction (on PostgreSQL), so one person's two quick clicks cannot both add a first thumb.
    """
    answer = session.get(Answer, answer_id, with_for_update={"key_share": True})
    if answer is None:
        raise NotFound("No such answer.")
    if answer.user_id is not None and answer.user_id != user_id:
        raise NotAllowed("That answer was given to someone else.")
    return answer


# Chat history: the threads, steps and elements Chainlit stores. Only a thread's owner writes to it.

NAME_CHARS = 500  # threads.name, steps.name and elements.name


def save_thread(
    db: Database,
    *,
    thread_id: str,
    user_id: str,
    name: str | None = None,
    meta: dict | None = None,
    tags: list[str] | None = None,
) -> Thread:
    """Start the person's thread, or update theirs. ``meta`` is merged into what is stored (a key
    given as None is removed). Writes nothing, and logs nothing, when nothing changes."""
    with db.write() as session:
        thread, created = _own_thread(session, thread_id, user_id)
        changed = []
        if name is not None and name[:NAME_CHARS] != thread.name:
            thread.name = name[:NAME_CHARS]
            changed.append("name")
        if meta:
            merged = {k: v for k, v in {**thread.meta, **meta}.items() if v is not None}
            if merged != thread.meta:
                thread.meta = merged
                changed.append("meta")
        if tags is not None and tags != thread.tags:
            thread.tags = list(tags)
            changed.append("tags")
        if changed:
            thread.updated_at = now()
            session.add(thread)
            if not created:
                _log(session, actor_id=user_id, action="thread_updated", subject=thread, fields=changed)
        return thread


def delete_thread(db: Database, *, thread_id: str, user_id: str) -> None:
    """The thread with its steps and elements, and the answers given in it with their feedback."""
    with db.write() as session:
        thread, _ = _own_thread(session, thread_id, user_id, create=False)
        _log(session, actor_id=user_id, action="thread_deleted", subject=thread)
        session.delete(thread)


def save_step(
    db: Database,
    *,
    step_id: str,
    thread_id: str,
    user_id: str,
    step_type: str,
    name: str = "",
    parent_id: str | None = None,
    input: str = "",
    output: str = "",
    data: dict | None = None,
    created_at: datetime | None = None,
) -> Step:
    """Create or replace a message or step of the person's thread (the thread is started if need be)."""
    with db.write() as session:
        thread, _ = _own_thread(session, thread_id, user_id)
        step = session.get(Step, step_id)
        created = step is None
        if step is None:
            step = Step(id=step_id, thread_id=thread_id, type=step_type, created_at=created_at or now())
        elif step.thread_id != thread_id:
            raise NotAllowed("That message belongs to another conversation.")
        step.parent_id, step.type, step.name = parent_id, step_type, (name or "")[:NAME_CHARS]
        step.input, step.output, step.data = input or "", output or "", dict(data or {})
        thread.updated_at = now()
        session.add_all([step, thread])
        _log(session, actor_id=user_id, action="step_saved", subject=step, created=created)
        return step


def delete_step(db: Database, *, step_id: str, user_id: str) -> bool:
    """The step and the elements shown with it; False when there was no such step."""
    with db.write() as session:
        step = session.get(Step, step_id)
        if step is None:
            return False
        _own_thread(session, step.thread_id, user_id, create=False)
        for element in session.exec(
            select(Element).where(Element.thread_id == step.thread_id, Element.for_id == step_id)
        ):
            session.delete(element)
        _log(session, actor_id=user_id, action="step_deleted", subject=step)
        session.delete(step)
        return True


def save_element(
    db: Database,
    *,
    element_id: str,
    thread_id: str,
    user_id: str,
    element_type: str,
    name: str,
    for_id: str | None = None,
    content: str | None = None,
    data: dict | None = None,
) -> Element:
    """Create or replace a file or text shown in the person's thread (the sources of an answer)."""
    with db.write() as session:
        _own_thread(session, thread_id, user_id)
        element = session.get(Element, element_id)
        created = element is None
        if element is None:
            element = Element(id=element_id, thread_id=thread_id, type=element_type, name=name[:NAME_CHARS])
        elif element.thread_id != thread_id:
            raise NotAllowed("That element belongs to another conversation.")
        element.type, element.name, element.for_id = element_type, name[:NAME_CHARS], for_id
        element.content, element.data = content, dict(data or {})
        session.add(element)
        _log(session, actor_id=user_id, action="element_saved", subject=element, created=created)
        return element


def delete_element(db: Database, *, element_id: str, user_id: str) -> bool:
    """False when there was no such element."""
    with db.write() as session:
        element = session.get(Element, element_id)
        if element is None:
            return False
        if element.thread_id is not None:
            _own_thread(session, element.thread_id, user_id, create=False)
        _log(session, actor_id=user_id, action="element_deleted", subject=element)
        session.delete(element)
        return True


def answers_in_thread(db: Database, *, thread_id: str) -> list[Answer]:
    with db.read() as session:
        return list(session.exec(select(Answer).where(Answer.thread_id == thread_id).order_by(Answer.created_at)))


def _own_thread(session: Session, thread_id: str, user_id: str, *, create: bool = True) -> tuple[Thread, bool]:
    """The person's thread, started for them when ``create`` and it does not exist yet; whether it was."""
    thread = session.get(Thread, thread_id)
    if thread is None:
        if not create:
            raise NotFound("No such conversation.")
        try:
            with session.begin_nested():
                session.add(Thread(id=thread_id, user_id=user_id))
        except IntegrityError:  # the person's other tab started it a moment ago
            return _own_thread(session, thread_id, user_id, create=False)
        thread = session.get(Thread, thread_id)
        _log(session, actor_id=user_id, action="thread_created", subject=thread)
        return thread, True
    if thread.user_id != user_id:
        raise NotAllowed("That conversation is someone else's.")
    return thread, False


# Reviews and ranker versions


def record_review(
    db: Database, *, answer_id: str, reviewer_id: str, decision: str, text: str | None, doc_ids: list[str]
) -> Review:
    """A reviewer's decision on an answer: ``approved`` (with the right answer and sources) or ``rejected``."""
    if decision not in ("approved", "rejected"):
        raise GroundloopError(f"Unknown decision '{decision}': use approved or rejected.")
    with db.write() as session:
        _reviewable(session, answer_id, reviewer_id)
        review = Review(answer_id=answer_id, reviewer_id=reviewer_id, decision=decision, text=text, doc_ids=doc_ids)
        session.add(review)
        session.flush()
        _log(session, actor_id=reviewer_id, action="review", subject=review, answer_id=answer_id, decision=decision)
        return review


def record_reviewer_mark(db: Database, *, answer_id: str, reviewer_id: str, rank: int, relevant: bool) -> Feedback:
    """A reviewer's judgement of the source shown as [rank], on anyone's answer.

    Stored as the reviewer's own source mark (their new mark replaces their old one), so training
    counts it as a strong label and qrels as a vote, like any source mark; the event says a reviewer gave it.
    """
    with db.write() as session:
        _reviewable(session, answer_id, reviewer_id)
        return _mark(session, answer_id=answer_id, user_id=reviewer_id, rank=rank, relevant=relevant, by_reviewer=True)


def _reviewable(session: Session, answer_id: str, reviewer_id: str) -> Answer:
    """The answer, when ``reviewer_id`` may review it; locked for the transaction as in ``_answer``."""
    answer = session.get(Answer, answer_id, with_for_update={"key_share": True})
    if answer is None:
        raise NotFound("No such answer.")
    reviewer = session.get(User, reviewer_id)
    if reviewer is None or reviewer.role not in ("reviewer", "admin"):
        raise NotAllowed("Only reviewers and admins review answers.")
    return answer


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
