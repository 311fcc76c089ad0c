"""The chat history Chainlit stores: threads, their steps and elements. Only a thread's owner writes to it."""

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from feedback.db import Database
from feedback.models import Answer, Element, Step, Thread, now
from feedback.writing import NotAllowed, NotFound, _log

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
