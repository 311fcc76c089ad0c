"""What every writer of the feedback tables shares. Only the writer modules (accounts, answer_log,
opinions, chat_history, reviews, ranker_versions, keys) write these tables; their functions take
keyword-only arguments, and each write is one transaction with one audit event (``_log``).
"""

from typing import Any

from sqlmodel import Session, select

from feedback import events
from feedback.models import Citation, Feedback, now
from retrieval.errors import GroundloopError


class NotAllowed(GroundloopError):
    """The signed-in person may not do this; nothing was written."""


class NotFound(GroundloopError):
    """The thing named does not exist."""


def _log(session: Session, *, actor_id: str | None, action: str, subject: Any, **data: Any) -> None:
    events.add(session, actor_id=actor_id, action=action, subject_type=type(subject).__tablename__,
               subject_id=str(subject.id), data=data)


def _mark(session: Session, *, answer_id: str, user_id: str, rank: int, relevant: bool, **logged: Any) -> Feedback:
    """The person's mark on the source shown as [rank], replacing their old one; people and reviewers both mark."""
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

