"""Chainlit's data layer over the feedback tables: sign-in users, the thread history, resuming a
thread, and the thumbs and comments Chainlit's own buttons send.

Every write goes through the feedback writers as the signed-in person, and ``chat_history`` lets only a
thread's owner write to it. Chainlit's feedback routes do not check who owns the answer, so
``upsert_feedback`` and ``delete_feedback`` do. Who is signed in comes from the websocket session
(Chainlit's context) or, in an HTTP route, from ``signed_in``, which the app sets for each request.
"""

import asyncio
import logging
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import chainlit
from chainlit.context import ChainlitContextException, get_context
from chainlit.data.base import BaseDataLayer
from chainlit.data.utils import queue_until_user_message
from chainlit.types import Feedback as ChainlitFeedback
from chainlit.types import PageInfo, PaginatedResponse, Pagination, ThreadDict, ThreadFilter
from chainlit.user import PersistedUser
from chainlit.user import User as ChainlitUser
from sqlalchemy import and_, exists, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from feedback import accounts, chat_history, opinions
from feedback.db import Database
from feedback.models import Answer, Element, Feedback, Step, Thread, User
from feedback.writing import NotAllowed, NotFound
from retrieval.errors import GroundloopError
from retrieval.text import shorten

log = logging.getLogger(__name__)
T = TypeVar("T")

signed_in: ContextVar[str | None] = ContextVar("groundloop_signed_in", default=None)
"""The identifier of the person an HTTP request was signed in as; set by the app for each request."""

MAX_PAGE = 200
_STEP_COLUMNS = {"id", "threadId", "parentId", "type", "name", "input", "output", "createdAt", "feedback"}
_ELEMENT_COLUMNS = {"id", "threadId", "forId", "type", "name", "content", "path"}
ECHO_CHARS = 80
"""How much of a question is kept where it is only named: the thread's name (Chainlit names a thread
by its first message, however long) and the run step that answered it (the question's own step keeps
it whole)."""
_NOT_KEPT = {"is_shared", "shared_at", "history"}
"""groundloop does not share threads: no public link can be made. And the chat's history of questions
(its user session, which Chainlit stores as thread metadata and sends to the page) is not kept: it is
read afresh from the stored answers on resume, and never reaches the browser."""


def lazy_attributes_as_pep_562() -> None:
    """Chainlit 2.12's lazy package attributes raise KeyError for an unknown name, where PEP 562 says
    AttributeError; so any import that scans ``sys.modules`` with ``getattr(m, name, None)`` after
    chainlit was imported fails (skops does, when a learned ranker is loaded). The server's
    composition root calls this once when it sets Chainlit up; importing this module changes nothing."""
    lazy = chainlit.__getattr__
    if getattr(lazy, "pep_562", False):
        return

    def __getattr__(name: str) -> Any:
        try:
            return lazy(name)
        except KeyError:
            raise AttributeError(f"module 'chainlit' has no attribute {name!r}") from None

    __getattr__.pep_562 = True
    chainlit.__getattr__ = __getattr__


class GroundloopDataLayer(BaseDataLayer):
    def __init__(self, db: Database) -> None:
        self.db = db

    # Who is asking

    async def _actor(self) -> User:
        identifier = signed_in.get() or _session_identifier()
        user = await _off_loop(accounts.get_user, self.db, identifier=identifier) if identifier else None
        if user is None:
            raise NotAllowed("Sign in first.")
        return user

    # Users: added with `groundloop users add`, never created at sign-in

    async def get_user(self, identifier: str) -> PersistedUser | None:
        user = await _off_loop(accounts.get_user, self.db, identifier=identifier)
        return _persisted(user) if user else None

    async def create_user(self, user: ChainlitUser) -> PersistedUser | None:
        return await self.get_user(user.identifier)

    # Feedback from Chainlit's thumbs; ``forId`` is the answer's message or the run that holds it

    async def upsert_feedback(self, feedback: ChainlitFeedback) -> str:
        actor = await self._actor()
        answer = await _off_loop(self._rateable_answer, feedback.forId, actor)
        comment = feedback.comment.strip() if feedback.comment else None
        if comment and comment == await _off_loop(self._last_comment, answer.id, actor.id):
            comment = None  # the dialog sends the shown comment again with a changed thumb
        thumb = await _off_loop(
            opinions.record_thumb, self.db, answer_id=answer.id, user_id=actor.id, up=feedback.value == 1,
            comment=comment,
        )
        return thumb.id

    async def delete_feedback(self, feedback_id: str) -> bool:
        actor = await self._actor()
        await _off_loop(self._check_thumb_owner, feedback_id, actor)
        await _off_loop(opinions.delete_thumb, self.db, feedback_id=feedback_id, user_id=actor.id)
        return True

    def _rateable_answer(self, for_id: str, actor: User) -> Answer:
        with self.db.read() as session:
            answer = _answer_for(session, for_id)
            if answer is None:
                raise NotFound("Only answers can be rated.")
            return opinions.feedback_target(session, answer, actor.id)

    def _check_thumb_owner(self, feedback_id: str, actor: User) -> None:
        with self.db.read() as session:
            thumb = session.get(Feedback, feedback_id)
            if thumb is None or thumb.kind != "thumb":
                raise NotFound("No such rating.")
            opinions.feedback_target(session, session.get(Answer, thumb.answer_id), actor.id)

    def _last_comment(self, answer_id: str, user_id: str) -> str | None:
        with self.db.read() as session:
            last = session.exec(
                select(Feedback.text)
                .where(Feedback.answer_id == answer_id, Feedback.user_id == user_id, Feedback.kind == "comment")
                .order_by(Feedback.created_at.desc())
            ).first()
        return last

    # Threads

    async def get_thread_author(self, thread_id: str) -> str:
        """The owner's identifier; "" when there is no such thread (Chainlit then answers 404)."""
        return await _off_loop(self._author, thread_id) or ""

    def _author(self, thread_id: str) -> str | None:
        with self.db.read() as session:
            return session.exec(
                select(User.identifier).join(Thread, Thread.user_id == User.id).where(Thread.id == thread_id)
            ).first()

    async def get_thread(self, thread_id: str) -> ThreadDict | None:
        """The whole thread, for whoever asks: Chainlit checks the author (its routes, and the
        websocket before it resumes a thread) from what this returns."""
        return await _off_loop(self._thread, thread_id)

    def _thread(self, thread_id: str) -> ThreadDict | None:
        with self.db.read() as session:
            thread = session.get(Thread, thread_id)
            if thread is None:
                return None
            steps = list(session.exec(select(Step).where(Step.thread_id == thread_id).order_by(Step.created_at)))
            elements = list(session.exec(select(Element).where(Element.thread_id == thread_id)))
            feedback = _thumbs_by_step(session, thread, steps)
            return _thread_dict(
                thread,
                _author_of(session, thread),
                steps=[_step_dict(step, feedback.get(step.id)) for step in steps],
                elements=[_element_dict(element) for element in elements],
            )

    async def list_threads(self, pagination: Pagination, filters: ThreadFilter) -> PaginatedResponse[ThreadDict]:
        """The person's threads, most recently active first; Chainlit sets ``filters.userId`` to the
        signed-in person, whatever the request said."""
        if not filters.userId:
            raise NotAllowed("Sign in first.")
        return await _off_loop(self._threads, pagination, filters)

    def _threads(self, pagination: Pagination, filters: ThreadFilter) -> PaginatedResponse[ThreadDict]:
        first = max(1, min(pagination.first, MAX_PAGE))
        query = select(Thread).where(Thread.user_id == filters.userId)
        if filters.search and filters.search.strip():
            like = "%" + filters.search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            in_steps = exists().where(
                Step.thread_id == Thread.id,
                or_(Step.output.ilike(like, escape="\\"), Step.input.ilike(like, escape="\\")),
            )
            query = query.where(or_(Thread.name.ilike(like, escape="\\"), in_steps))
        if filters.feedback is not None:
            query = query.where(
                exists()
                .where(Answer.thread_id == Thread.id, Feedback.answer_id == Answer.id)
                .where(Feedback.kind == "thumb", Feedback.user_id == Thread.user_id)
                .where(Feedback.value == (1 if filters.feedback == 1 else -1))
            )
        with self.db.read() as session:
            if pagination.cursor and (after := session.get(Thread, pagination.cursor)):
                query = query.where(
                    or_(Thread.updated_at < after.updated_at,
                        and_(Thread.updated_at == after.updated_at, Thread.id < after.id))
                )
            rows = list(session.exec(query.order_by(Thread.updated_at.desc(), Thread.id.desc()).limit(first + 1)))
            owner = session.get(User, filters.userId)
        page = rows[:first]
        identifier = owner.identifier if owner else None
        # The sidebar groups threads by "createdAt" (and moves a thread to "today" when it is used),
        # so the list gives the time of the last activity there.
        data = [_thread_dict(t, identifier, steps=[], elements=[], created_at=t.updated_at) for t in page]
        return PaginatedResponse(
            pageInfo=PageInfo(
                hasNextPage=len(rows) > first,
                startCursor=page[0].id if page else None,
                endCursor=page[-1].id if page else None,
            ),
            data=data,
        )

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict | None = None,
        tags: list[str] | None = None,
    ) -> None:
        actor = await self._actor()
        if user_id is not None and user_id != actor.id:
            raise NotAllowed("A conversation cannot be given to someone else.")
        meta = {k: v for k, v in (metadata or {}).items() if k not in _NOT_KEPT} or None
        await _off_loop(
            _retrying(chat_history.save_thread), self.db, thread_id=thread_id, user_id=actor.id,
            name=None if name is None else shorten(" ".join(name.split()), ECHO_CHARS), meta=meta, tags=tags,
        )

    async def delete_thread(self, thread_id: str) -> None:
        actor = await self._actor()
        await _off_loop(chat_history.delete_thread, self.db, thread_id=thread_id, user_id=actor.id)

    # Steps and elements: written while the person chats, in the websocket session

    @queue_until_user_message()
    async def create_step(self, step_dict: dict) -> None:
        await self._save_step(step_dict)

    @queue_until_user_message()
    async def update_step(self, step_dict: dict) -> None:
        await self._save_step(step_dict)

    @queue_until_user_message()
    async def delete_step(self, step_id: str) -> None:
        await self._quietly("delete a message", chat_history.delete_step, step_id=step_id)

    async def _save_step(self, step: dict) -> None:
        await self._quietly(
            "save a message", _retrying(chat_history.save_step),
            step_id=step["id"], thread_id=step["threadId"], step_type=step.get("type") or "undefined",
            name=step.get("name") or "", parent_id=step.get("parentId"), input=_kept_input(step),
            output=step.get("output") or "", created_at=_parse_time(step.get("createdAt")),
            data={k: v for k, v in step.items() if k not in _STEP_COLUMNS},
        )

    @queue_until_user_message()
    async def create_element(self, element: Any) -> None:
        content = element.content if isinstance(element.content, str) else None
        await self._quietly(
            "save a source", _retrying(chat_history.save_element),
            element_id=element.id, thread_id=element.thread_id, for_id=element.for_id, element_type=element.type,
            name=element.name or "", content=content,
            data={k: v for k, v in element.to_dict().items() if k not in _ELEMENT_COLUMNS and v is not None},
        )

    @queue_until_user_message()
    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        actor = await self._actor()
        await _off_loop(chat_history.delete_element, self.db, element_id=element_id, user_id=actor.id)

    async def get_element(self, thread_id: str, element_id: str) -> dict | None:
        return await _off_loop(self._element, thread_id, element_id)

    def _element(self, thread_id: str, element_id: str) -> dict | None:
        with self.db.read() as session:
            element = session.get(Element, element_id)
        return _element_dict(element) if element and element.thread_id == thread_id else None

    async def _quietly(self, what: str, write: Callable[..., Any], **kwargs: Any) -> None:
        """Chainlit writes the history in background tasks that nobody awaits: log a failure in one
        line rather than as an unretrieved task exception. The answer itself is saved by the chat,
        which tells the person when that fails."""
        try:
            actor = await self._actor()
            await _off_loop(write, self.db, user_id=actor.id, **kwargs)
        except GroundloopError as error:
            log.warning("could not %s: %s", what, error)

    # The rest of Chainlit's interface

    async def get_favorite_steps(self, user_id: str) -> list[dict]:
        return []  # favourites are switched off in .chainlit/config.toml

    async def build_debug_url(self) -> str:
        return ""

    async def close(self) -> None:
        """The database belongs to the app, which closes it."""


def _kept_input(step: dict) -> str:
    text = step.get("input") or ""
    return shorten(text, ECHO_CHARS) if step.get("type") == "run" else text


async def _off_loop(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Database work runs in a worker thread, so a slow write never stalls every chat."""
    return await asyncio.to_thread(function, *args, **kwargs)


def _retrying(write: Callable[..., T]) -> Callable[..., T]:
    """Two first writes to one new thread can race (its first message and Chainlit's thread update):
    on PostgreSQL the loser's insert fails, and a second try finds the thread."""

    def once_more(*args: Any, **kwargs: Any) -> T:
        try:
            return write(*args, **kwargs)
        except IntegrityError:
            return write(*args, **kwargs)

    return once_more


def _session_identifier() -> str | None:
    try:
        user = get_context().session.user
    except ChainlitContextException:
        return None
    return user.identifier if user else None


def _answer_for(session: Session, for_id: str) -> Answer | None:
    """The answer shown as message ``for_id``, or as the last answer of run ``for_id``: Chainlit's
    thumbs rate the run (the ``on_message`` step) that holds the answer."""
    answer = session.exec(select(Answer).where(Answer.step_id == for_id)).first()
    if answer is not None:
        return answer
    run = session.get(Step, for_id)
    if run is None:
        return None
    children = select(Step.id).where(Step.thread_id == run.thread_id, Step.parent_id == for_id)
    return session.exec(
        select(Answer).where(Answer.step_id.in_(children)).order_by(Answer.created_at.desc())
    ).first()


def _thumbs_by_step(session: Session, thread: Thread, steps: list[Step]) -> dict[str, dict]:
    """The owner's current thumb (and the comment given with it) on each answer, keyed by the
    answer's message and by the run that holds it, which is where Chainlit's buttons look."""
    answers = {a.id: a for a in session.exec(select(Answer).where(Answer.thread_id == thread.id)) if a.step_id}
    if not answers:
        return {}
    mine = select(Feedback).where(Feedback.answer_id.in_(list(answers)), Feedback.user_id == thread.user_id)
    thumbs = {f.answer_id: f for f in session.exec(mine.where(Feedback.kind == "thumb"))}
    comments = {}
    for comment in session.exec(mine.where(Feedback.kind == "comment").order_by(Feedback.created_at)):
        thumb = thumbs.get(comment.answer_id)
        if thumb and _aware(comment.created_at) >= _aware(thumb.updated_at):
            comments[comment.answer_id] = comment.text
    parents = {step.id: step.parent_id for step in steps}
    by_step = {}
    for answer_id, thumb in thumbs.items():
        step_id = answers[answer_id].step_id
        shown = {"id": thumb.id, "value": 1 if thumb.value > 0 else 0, "comment": comments.get(answer_id)}
        for key in filter(None, (step_id, parents.get(step_id))):
            by_step[key] = {"forId": key, **shown}
    return by_step


def _author_of(session: Session, thread: Thread) -> str | None:
    owner = session.get(User, thread.user_id) if thread.user_id else None
    return owner.identifier if owner else None


def _thread_dict(
    thread: Thread, identifier: str | None, *, steps: list, elements: list, created_at: datetime | None = None
) -> ThreadDict:
    return ThreadDict(
        id=thread.id,
        createdAt=_iso(created_at or thread.created_at),
        name=thread.name,
        userId=thread.user_id,
        userIdentifier=identifier,
        tags=list(thread.tags),
        metadata={k: v for k, v in thread.meta.items() if k not in _NOT_KEPT},
        steps=steps,
        elements=elements,
    )


def _step_dict(step: Step, feedback: dict | None) -> dict:
    return {
        **step.data,
        "id": step.id,
        "threadId": step.thread_id,
        "parentId": step.parent_id,
        "type": step.type,
        "name": step.name,
        "input": step.input,
        "output": step.output,
        "createdAt": _iso(step.created_at),
        "feedback": feedback,
    }


def _element_dict(element: Element) -> dict:
    """The browser fetches an element's ``url``; Chainlit's own file link dies with the websocket
    session, so a stored text is handed back as a data: URL and a resumed thread shows its sources."""
    url = element.data.get("url")
    if not url and element.content is not None:
        mime = element.data.get("mime") or "text/plain"
        url = f"data:{mime};charset=utf-8,{quote(element.content)}"
    return {
        **element.data,
        "id": element.id,
        "threadId": element.thread_id,
        "forId": element.for_id,
        "type": element.type,
        "name": element.name,
        "url": url,
    }


def _persisted(user: User) -> PersistedUser:
    return PersistedUser(
        id=user.id, identifier=user.identifier, createdAt=_iso(user.created_at), metadata={"role": user.role}
    )


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _iso(when: datetime) -> str:
    return _aware(when).astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _parse_time(text: str | None) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(text)) if text else None
    except ValueError:
        return None
