"""What people say about an answer given to them: thumbs, comments, source marks and corrections."""

from collections.abc import Iterable

from sqlmodel import Session, select

from feedback import policy
from feedback.db import Database
from feedback.models import Answer, Citation, Feedback, Thread, now
from feedback.writing import NotAllowed, NotFound, _log, _mark


def record_thumb(db: Database, *, answer_id: str, user_id: str, up: bool, comment: str | None = None) -> Feedback:
    """The person's one current thumb on the answer: a new one replaces the old. A comment rides along."""
    comment = policy.clean_comment(comment) if comment and comment.strip() else None
    with db.write() as session:
        _answer(session, answer_id, user_id)
        thumb = session.exec(
            select(Feedback).where(Feedback.answer_id == answer_id, Feedback.user_id == user_id, Feedback.kind == "thumb")
        ).first() or Feedback(answer_id=answer_id, user_id=user_id, kind="thumb")
        thumb.value, thumb.updated_at = (1 if up else -1), now()
        session.add(thumb)
        session.flush()
        _log(session, actor_id=user_id, action="thumb", subject=thumb, answer_id=answer_id, value=thumb.value)
        if comment:
            _comment(session, answer_id=answer_id, user_id=user_id, text=comment)
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
    text = policy.clean_comment(text)
    with db.write() as session:
        _answer(session, answer_id, user_id)
        return _comment(session, answer_id=answer_id, user_id=user_id, text=text)


def record_source_mark(db: Database, *, answer_id: str, user_id: str, rank: int, relevant: bool) -> Feedback:
    """Whether the source shown as [rank] was relevant; the person's new mark replaces their old one."""
    with db.write() as session:
        _answer(session, answer_id, user_id)
        return _mark(session, answer_id=answer_id, user_id=user_id, rank=rank, relevant=relevant)


def clear_source_mark(db: Database, *, answer_id: str, user_id: str, rank: int) -> None:
    """Take back the person's mark on the source shown as [rank]; nothing to take back is no error."""
    with db.write() as session:
        _answer(session, answer_id, user_id)
        citation = session.exec(select(Citation).where(Citation.answer_id == answer_id, Citation.rank == rank)).first()
        if citation is None:
            raise NotFound(f"The answer has no source [{rank}].")
        mark = session.exec(select(Feedback).where(
            Feedback.answer_id == answer_id, Feedback.user_id == user_id,
            Feedback.kind == "source_mark", Feedback.citation_id == citation.id,
        )).first()
        if mark is not None:
            _log(session, actor_id=user_id, action="source_mark_cleared", subject=mark, answer_id=answer_id,
                 doc_id=citation.doc_id)
            session.delete(mark)


def my_feedback(db: Database, *, answer_ids: Iterable[str], user_id: str) -> dict[str, dict]:
    """What the person now says about each answer, for showing it again: ``{"thumb": 1 | -1 | 0,
    "marks": {rank: relevant}}`` per answer id."""
    answer_ids = list(answer_ids)
    said = {answer_id: {"thumb": 0, "marks": {}} for answer_id in answer_ids}
    if not answer_ids:
        return said
    with db.read() as session:
        rows = session.exec(
            select(Feedback, Citation.rank).join(Citation, Citation.id == Feedback.citation_id, isouter=True)
            .where(Feedback.answer_id.in_(answer_ids), Feedback.user_id == user_id,
                   Feedback.kind.in_(("thumb", "source_mark")))
        ).all()
    for row, rank in rows:
        if row.kind == "thumb":
            said[row.answer_id]["thumb"] = 1 if (row.value or 0) > 0 else -1
        elif rank is not None:
            said[row.answer_id]["marks"][rank] = bool(row.value)
    return said


def record_source_open(db: Database, *, answer_id: str, user_id: str, rank: int) -> Feedback:
    """The person opened the source shown as [rank]: a weak, position-aware hint (see ``feedback.training``).

    One row per person, answer and source; opening it again only moves ``updated_at``.
    """
    with db.write() as session:
        _answer(session, answer_id, user_id)
        citation = session.exec(select(Citation).where(Citation.answer_id == answer_id, Citation.rank == rank)).first()
        if citation is None:
            raise NotFound(f"The answer has no source [{rank}].")
        row = session.exec(
            select(Feedback).where(Feedback.answer_id == answer_id, Feedback.user_id == user_id,
                                   Feedback.kind == "source_open", Feedback.citation_id == citation.id)
        ).first() or Feedback(answer_id=answer_id, user_id=user_id, kind="source_open", citation_id=citation.id,
                              value=1, doc_ids=[citation.doc_id])
        row.updated_at = now()
        session.add(row)
        session.flush()
        _log(session, actor_id=user_id, action="source_open", subject=row, answer_id=answer_id,
             doc_id=citation.doc_id, rank=rank)
        return row


def record_correction(
    db: Database, *, answer_id: str, user_id: str, text: str, ranks: Iterable[int] = ()
) -> Feedback:
    """A person's corrected answer, naming the right sources by their numbers when they know them."""
    text = policy.clean_correction(text)
    with db.write() as session:
        _answer(session, answer_id, user_id)
        ranks = sorted(set(ranks))
        cited = {c.rank: c.doc_id for c in session.exec(select(Citation).where(Citation.answer_id == answer_id))}
        missing = [r for r in ranks if r not in cited]
        if missing:
            raise NotFound(f"The answer has no source {', '.join(f'[{r}]' for r in missing)}.")
        row = Feedback(answer_id=answer_id, user_id=user_id, kind="correction", text=text,
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


def feedback_target(session: Session, answer: Answer | None, user_id: str | None) -> Answer:
    """``answer``, when ``user_id`` may give feedback on it (``policy.check_may_give_feedback``)."""
    thread = session.get(Thread, answer.thread_id) if answer is not None and answer.thread_id else None
    policy.check_may_give_feedback(answer, user_id, thread)
    return answer


def check_feedback(db: Database, *, answer_id: str, user_id: str | None) -> Answer:
    """The answer, when ``user_id`` may give feedback on it; what every entry point asks before it
    offers or takes feedback, and what each writer asks again inside its transaction."""
    with db.read() as session:
        return feedback_target(session, session.get(Answer, answer_id), user_id)


def _answer(session: Session, answer_id: str, user_id: str) -> Answer:
    """The answer, when ``user_id`` may give feedback on it.

    Locked for the transaction (on PostgreSQL), so one person's two quick clicks cannot both add a first thumb.
    """
    return feedback_target(session, session.get(Answer, answer_id, with_for_update={"key_share": True}), user_id)
