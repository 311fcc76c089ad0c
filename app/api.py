"""The REST API under /api/v1: ask, give feedback on an answer, export the feedback, see the ranker.

Every route needs an API key (``Authorization: Bearer <key>``); asking, feedback and exports each
need their scope. Answers are recorded as the chat's are, and feedback goes through the same
writers, so the review queue, exports and retraining see API traffic like any other.
Answer and source texts are returned as plain text: escape them before showing them as HTML or Markdown.
"""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app import answering, prompts, runtime
from app.deps import ApiKeyDep, refusal, scoped
from app.questions import clean_question
from feedback import answer_log, export, membership, opinions, policy, ranker_versions
from feedback.db import Database
from feedback.visibility import Viewer
from feedback.writing import NotFound
from retrieval.errors import GroundloopError

MAX_TEXT = policy.MAX_CORRECTION_CHARS


class AskRequest(BaseModel):
    question: str = Field(description="Up to max_question_chars characters (4,000 unless configured).")
    thread_id: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$",
        description="Your id for a conversation: follow-ups are read against its earlier questions. "
                    "It is yours alone: another person using the same id has a conversation of their own.",
    )


class Source(BaseModel):
    n: int = Field(description="The number the answer cites it by: [n].")
    doc_id: str
    title: str
    source: str
    text: str
    score: float
    cited: bool

    @classmethod
    def of(cls, citation) -> "Source":
        return cls(**{name: getattr(citation, name) for name in cls.model_fields})


class AskResponse(BaseModel):
    answer_id: str | None = Field(
        description="Give feedback on the answer with this id; null when it could not be saved (the notice says so).")
    thread_id: str | None
    question: str
    standalone_question: str = Field(description="The question as understood, follow-ups rewritten in full.")
    answer: str
    citations: list[Source]
    verdict: str = Field(description="ok, or flagged when the grounding check doubts the answer (see reasons).")
    reasons: list[str]
    notice: str | None
    verified: bool = Field(description="The answer is a reviewer's approved answer to a question like this one.")
    answerer: str
    ranker_version: str
    timings_ms: dict[str, float]


class SourceMark(BaseModel):
    n: int = Field(ge=1, le=1000, description="The source's number, [n], in the answer.")
    relevant: bool


class Correction(BaseModel):
    text: str = Field(description=f"What the answer should have said: up to {MAX_TEXT:,} characters.")
    sources: list[int] = Field(default=[], max_length=50, description="Numbers of the sources that support it.")


class FeedbackRequest(BaseModel):
    thumb: Literal["up", "down"] | None = None
    comment: str | None = Field(default=None, description=f"Up to {policy.MAX_COMMENT_CHARS:,} characters.")
    sources: list[SourceMark] = Field(default=[], max_length=50, description="Marks on the sources shown.")
    correction: Correction | None = None
    opened: list[int] = Field(default=[], max_length=50,
                              description="Numbers of the sources the person opened to read: a weak hint for learning.")


class Saved(BaseModel):
    kind: str
    id: str


class FeedbackResponse(BaseModel):
    answer_id: str
    saved: list[Saved]


class RankerVersion(BaseModel):
    version: str
    status: str
    metrics: dict
    counts: dict
    created_at: datetime
    activated_at: datetime | None


class RankersResponse(BaseModel):
    active: str = Field(description="The version serving now; 'fusion' before any learned ranker is active.")
    metrics: dict = Field(description="The active version's held-out metrics.")
    versions: list[RankerVersion]


THREADS = uuid.UUID("5b1f0d8e-7c1a-4f0e-9a53-6f1d2c3b4a59")
"""The namespace of API thread ids: each person's ids are their own."""


def stored_thread_id(user_id: str, thread_id: str) -> str:
    """The stored id of a client's ``thread_id``: derived from the person's id too, so two people's
    ``support-ticket-1`` are two threads, and nobody can guess their way into another's."""
    return str(uuid.uuid5(THREADS, f"{user_id}\n{thread_id}"))


AskCaller, FeedbackCaller, ExportCaller = scoped("ask"), scoped("feedback"), scoped("export")
router = APIRouter(prefix="/api/v1", tags=["api"])


@router.post("/ask", response_model=AskResponse)
async def ask(body: AskRequest, caller: AskCaller) -> AskResponse:
    """Answer a question from the indexed documents, with numbered citations and the check's verdict."""
    settings = runtime.settings()
    try:
        clean_question(body.question, max_chars=settings.max_question_chars)
        groups = await run_in_threadpool(membership.sees, runtime.database(), caller.user)
        *_, recorded = await run_in_threadpool(lambda: list(answering.answer(
            runtime.database(), runtime.chain(), body.question, user_id=caller.user.id, groups=groups,
            thread_id=None if body.thread_id is None else stored_thread_id(caller.user.id, body.thread_id))))
    except GroundloopError as error:
        raise refusal(error) from None
    result = recorded.result
    return AskResponse(
        answer_id=recorded.answer_id, thread_id=body.thread_id if recorded.thread_id else None,
        question=result.question,
        standalone_question=result.standalone_question, answer=result.answer,
        citations=[Source.of(c) for c in result.citations],
        verdict=result.verdict, reasons=result.reasons, notice=result.notice, verified=result.verified,
        answerer=result.answerer, ranker_version=result.ranker_version, timings_ms=result.timings_ms,
    )


@router.post("/answers/{answer_id}/feedback", response_model=FeedbackResponse)
async def feedback(answer_id: str, body: FeedbackRequest, caller: FeedbackCaller) -> FeedbackResponse:
    """Rate an answer given to you, mark its sources, or correct it; each part is saved as the chat saves it."""
    if body.thumb is None and body.comment is None and not body.sources and body.correction is None and not body.opened:
        raise HTTPException(422, "Send a thumb, a comment, source marks, a correction or opened sources.")
    try:
        saved = await run_in_threadpool(_save_feedback, runtime.database(), answer_id, caller.user.id, body)
    except GroundloopError as error:
        raise refusal(error) from None
    return FeedbackResponse(answer_id=answer_id, saved=saved)


def _save_feedback(db: Database, answer_id: str, user_id: str, body: FeedbackRequest) -> list[Saved]:
    """Everything is checked before anything is written, so a request is saved whole or not at all
    (each part is still its own transaction, as in the chat)."""
    opinions.check_feedback(db, answer_id=answer_id, user_id=user_id)
    comment = policy.clean_comment(body.comment) if body.comment and body.comment.strip() else None
    if body.correction is not None:
        policy.clean_correction(body.correction.text)
    shown = {c.rank for c in answer_log.citations_of(db, answer_id=answer_id)}
    named = [m.n for m in body.sources] + (body.correction.sources if body.correction else []) + body.opened
    missing = sorted({n for n in named if n not in shown})
    if missing:
        raise NotFound(f"The answer has no source {', '.join(f'[{n}]' for n in missing)}.")
    saved = []
    if body.thumb is not None:
        row = opinions.record_thumb(db, answer_id=answer_id, user_id=user_id, up=body.thumb == "up", comment=comment)
        saved.append(Saved(kind="thumb", id=row.id))
    elif comment:
        saved.append(Saved(kind="comment", id=opinions.record_comment(
            db, answer_id=answer_id, user_id=user_id, text=comment).id))
    for mark in body.sources:
        row = opinions.record_source_mark(db, answer_id=answer_id, user_id=user_id, rank=mark.n, relevant=mark.relevant)
        saved.append(Saved(kind="source_mark", id=row.id))
    if body.correction is not None:
        row = opinions.record_correction(db, answer_id=answer_id, user_id=user_id, text=body.correction.text,
                                        ranks=body.correction.sources)
        saved.append(Saved(kind="correction", id=row.id))
    for n in dict.fromkeys(body.opened):
        row = opinions.record_source_open(db, answer_id=answer_id, user_id=user_id, rank=n)
        saved.append(Saved(kind="source_open", id=row.id))
    return saved


@router.get("/rankers", response_model=RankersResponse)
@router.get("/models", response_model=RankersResponse, description="The older name of `GET /api/v1/rankers`.")
def rankers(_: ApiKeyDep) -> RankersResponse:
    """The ranker serving answers now, with its held-out metrics, and every version learned so far."""
    try:
        rows = ranker_versions.ranker_versions(runtime.database())
    except GroundloopError as error:
        raise refusal(error) from None
    active = next((row for row in rows if row.status == "active"), None)
    return RankersResponse(
        active=active.version if active else "fusion", metrics=active.metrics if active else {},
        versions=[RankerVersion(**row.model_dump(include=set(RankerVersion.model_fields))) for row in rows],
    )


@router.get("/export", response_class=Response, responses={200: {
    "description": "The file `groundloop export --format FORMAT` writes (qrels: its folder, zipped).",
    "content": {"application/octet-stream": {}}}})
def export_feedback(
    caller: ExportCaller,
    kind: Annotated[str, Query(alias="format", description=f"One of: {', '.join(export.FORMATS)}.")] = "jsonl",
    since: Annotated[str | None, Query(description="Only answers given on or after this day (YYYY-MM-DD, UTC).")] = None,
    status: Annotated[str | None, Query(
        description="approved or all; by default approved for chat-jsonl and preference-jsonl, all for the rest.")] = None,
) -> Response:
    """Answers with their sources, feedback and reviews, as the CLI exports them; people who opted out are left
    out, and so are answers that mention documents outside the key's person's groups (an admin's key: none)."""
    try:
        policy.check_may_export(caller.user)
        day = export.parse_since(since) if since else None
        viewer = Viewer(membership.sees(runtime.database(), caller.user), lambda ids: runtime.index().groups_of(ids))
        file = export.download(runtime.database(), kind=kind, since=day, status=status,
                               system=prompts.load("answer_system"), viewer=viewer)
    except GroundloopError as error:
        raise refusal(error) from None
    return Response(file.content, media_type=file.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{file.filename}"'})
