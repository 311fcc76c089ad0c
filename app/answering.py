"""A question answered for someone and recorded, as the chat records its answers, so that feedback
on it can follow: the chain's events, then the stored answer's id. Blocking: the API runs it in
the threadpool."""

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from app.chain import Chain, ChainResult, Restart, Token
from feedback import answer_log, chat_history
from feedback.db import Database
from feedback.models import Answer


@dataclass(frozen=True)
class Recorded:
    result: ChainResult
    answer_id: str
    thread_id: str | None


def answer(
    db: Database, chain: Chain, question: str, *, user_id: str, history: list[str] = (), thread_id: str | None = None
) -> Iterator[Token | Restart | Recorded]:
    """With ``thread_id``, the answer belongs to that thread of the person's (started if new; another
    person's is refused), and its earlier questions are the history follow-ups are read against."""
    if thread_id is not None:
        start_thread(db, thread_id=thread_id, user_id=user_id)
        history = [a.standalone_question for a in chat_history.answers_in_thread(db, thread_id=thread_id)]
    for event in chain.stream(question, list(history)):
        if isinstance(event, ChainResult):
            row = record(db, event, user_id=user_id, thread_id=thread_id)
            yield Recorded(event, row.id, thread_id)
        else:
            yield event


def start_thread(db: Database, *, thread_id: str, user_id: str) -> None:
    try:
        chat_history.save_thread(db, thread_id=thread_id, user_id=user_id)
    except IntegrityError:  # started just now elsewhere (on PostgreSQL both inserts can start before either commits)
        chat_history.save_thread(db, thread_id=thread_id, user_id=user_id)


def record(
    db: Database, result: ChainResult, *, user_id: str, thread_id: str | None = None, step_id: str | None = None
) -> Answer:
    """The answer exactly as shown, with its sources."""
    return answer_log.record_result(db, result, user_id=user_id, thread_id=thread_id, step_id=step_id)
