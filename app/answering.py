"""A question answered for someone and recorded, as the chat records its answers, so that feedback
on it can follow: the chain's events, then the stored answer's id. Blocking: the API runs it in
the threadpool."""

from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace

from sqlalchemy.exc import IntegrityError

from app.chain import Chain, ChainResult, Restart, Token
from feedback import answer_log, chat_history
from feedback.db import Database, DatabaseUnavailable
from feedback.models import Answer


RECORD_WAIT = 3.0
"""Seconds a question's answer waits to be saved while another process holds the database."""
NOT_SAVED = "This answer could not be saved (the feedback database is busy or cannot be reached), so it cannot be rated."


@dataclass(frozen=True)
class Recorded:
    result: ChainResult
    answer_id: str | None
    """None when it could not be saved: the answer is given all the same, with NOT_SAVED as a notice."""
    thread_id: str | None


def answer(
    db: Database, chain: Chain, question: str, *, user_id: str, groups: Collection[str] | None,
    history: list[str] = (), thread_id: str | None = None,
) -> Iterator[Token | Restart | Recorded]:
    """With ``thread_id``, the answer belongs to that thread of the person's (started if new; another
    person's is refused), and its earlier questions are the history follow-ups are read against.
    ``groups``: what the person may see (``feedback.membership.sees``)."""
    saved = True
    if thread_id is not None:
        try:
            start_thread(db, thread_id=thread_id, user_id=user_id)
            history = [a.standalone_question for a in chat_history.answers_in_thread(db, thread_id=thread_id)]
        except DatabaseUnavailable:
            saved, thread_id = False, None  # answered on its own: the thread cannot be checked
    for event in chain.stream(question, list(history), groups=groups):
        if not isinstance(event, ChainResult):
            yield event
            continue
        try:
            answer_id = record(db, event, user_id=user_id, thread_id=thread_id).id if saved else None
        except DatabaseUnavailable:
            answer_id = None
        if answer_id is None:
            event = replace(event, notice=" ".join(filter(None, [event.notice, NOT_SAVED])))
        yield Recorded(event, answer_id, thread_id)


def start_thread(db: Database, *, thread_id: str, user_id: str) -> None:
    db = db.impatient(RECORD_WAIT)
    try:
        chat_history.save_thread(db, thread_id=thread_id, user_id=user_id)
    except IntegrityError:  # started just now elsewhere (on PostgreSQL both inserts can start before either commits)
        chat_history.save_thread(db, thread_id=thread_id, user_id=user_id)


def record(
    db: Database, result: ChainResult, *, user_id: str, thread_id: str | None = None, step_id: str | None = None
) -> Answer:
    """The answer exactly as shown, with its sources."""
    return answer_log.record_result(db.impatient(RECORD_WAIT), result, user_id=user_id, thread_id=thread_id,
                                    step_id=step_id)
