"""The answers given, each with exactly the sources shown with it."""

from collections.abc import Iterable

from sqlmodel import select

from feedback.db import Database
from feedback.models import Answer, Citation
from feedback.results import AnswerResult, ShownSource
from feedback.writing import _log


def record_result(
    db: Database, result: AnswerResult, *, user_id: str | None = None, thread_id: str | None = None,
    step_id: str | None = None,
) -> Answer:
    """The answer exactly as shown, with its sources."""
    return _record(
        db, question=result.question, standalone_question=result.standalone_question, answer=result.answer,
        answerer=result.answerer, verdict=result.verdict, reasons=result.reasons, timings_ms=result.timings_ms,
        ranker_version=result.ranker_version, sources=result.citations, user_id=user_id, thread_id=thread_id,
        step_id=step_id,
    )


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
    """An answer and exactly the sources shown with it (``citations``: n, doc_id, chunk_id, title, …),
    given field by field (fixtures and imports); the chain's results go through ``record_result``."""
    fields = ShownSource.__dataclass_fields__
    sources = [ShownSource(**{name: c.get(name, "") for name in fields if name != "groups"},
                           groups=tuple(c.get("groups") or ("everyone",))) for c in citations]
    return _record(
        db, question=question, standalone_question=standalone_question, answer=answer, answerer=answerer,
        verdict=verdict, reasons=reasons, timings_ms=timings_ms, ranker_version=ranker_version, sources=sources,
        user_id=user_id, thread_id=thread_id, step_id=step_id,
    )


def _record(db: Database, *, sources: Iterable[ShownSource], **answer) -> Answer:
    user_id, verdict = answer["user_id"], answer["verdict"]
    with db.write() as session:
        row = Answer(**answer)
        session.add(row)
        session.flush()
        for c in sources:
            session.add(Citation(
                answer_id=row.id, rank=c.n, doc_id=c.doc_id, chunk_id=c.chunk_id, title=c.title,
                source=c.source, score=c.score, similarity=c.similarity, cited=c.cited, groups=list(c.groups),
            ))
        _log(session, actor_id=user_id, action="answered", subject=row, verdict=verdict)
        return row


def answer_for_step(db: Database, *, step_id: str) -> Answer | None:
    with db.read() as session:
        return session.exec(select(Answer).where(Answer.step_id == step_id)).first()


def citations_of(db: Database, *, answer_id: str) -> list[Citation]:
    with db.read() as session:
        return list(session.exec(select(Citation).where(Citation.answer_id == answer_id).order_by(Citation.rank)))
