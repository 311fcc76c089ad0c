"""Review pages at /review: the queue of answers people doubted, a page per answer to approve
(maybe edited, with the right sources found by search) or reject it and to mark its sources, and
the exports as downloads. Plain HTML forms, one local stylesheet, and one script for the item
page's keyboard shortcuts (j/k next/previous, a approve, r reject, / search); every decision is
confirmed on the page that opens next.

Sign-in is the chat's: Chainlit's access-token cookie (or an ``Authorization: Bearer`` header),
a JWT signed with the server's auth secret, names the person; their role is read from the users
table, never from the token. Without a valid token: 401 "Sign in first." (a browser asking for a
page is sent to the chat's sign-in instead, and back here after it); a ``user``: 403
"Reviewers only.". A POST must carry an ``Origin`` (or, failing that, ``Referer``) of this same
server, else 403: the pages need no token of their own and other sites cannot post for a reviewer.

A reviewer sees, in the queue, on answer pages, in the search box and in downloads, only the answers
whose every document is in their groups (``feedback.visibility``), and only those documents; an admin
sees all. An answer outside their groups is "No such answer." to them, as if it did not exist.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

import jwt
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from langchain_core.documents import Document
from sqlmodel import select

from app import prompts
from app.http_errors import http_error
from feedback import accounts, export, membership, policy, reviews
from feedback.db import Database
from feedback.models import Answer, Citation, Feedback, Review, User
from feedback.names import UNSURE_SHARE
from feedback.review_queue import REASONS, Queued, queue
from feedback.visibility import GroupsOf, Viewer
from feedback.writing import NotAllowed
from retrieval.errors import GroundloopError

PAGE_SIZE = 20
SEARCH_RESULTS = 10
SEARCH_CHARS = 1000
SNIPPET_CHARS = 300
REASON_LABELS = {"flagged": "flagged by the check", "down": "rated down", "comment": "commented on",
                 "correction": "corrected", "unsure": "weakly matched"}
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates" / "review")
ASSETS = Path(__file__).parent / "static"
ASSET_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
SIGN_IN = "/chat/login"
BACK_COOKIE = "groundloop_after_sign_in"  # read by public/groundloop.js once the person is signed in
BACK_SECONDS = 600


def reviewer_dependency(db: Callable[[], Database], secret: Callable[[], str]) -> Callable:
    """The FastAPI dependency that yields the signed-in reviewer or admin (a ``User`` row)."""

    def reviewer(request: Request) -> User:
        from chainlit.auth.cookie import get_token_from_cookies  # chainlit is configured by app.server

        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else get_token_from_cookies(request.cookies)
        identifier = None
        if token:
            try:
                identifier = jwt.decode(token, secret(), algorithms=["HS256"]).get("identifier")
            except jwt.PyJWTError:
                identifier = None
        user = accounts.get_user(db(), identifier=identifier) if identifier else None
        if user is None:
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                raise _sign_in_and_back(request)
            raise HTTPException(401, "Sign in first.")
        try:
            policy.check_may_see_review_pages(user)
        except NotAllowed as error:
            raise http_error(error) from None
        return user

    return reviewer


def _sign_in_and_back(request: Request) -> HTTPException:
    """A browser goes to the chat's sign-in, with a cookie saying which review page to come back to."""
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    cookie = f"{BACK_COOKIE}={quote(back, safe='')}; Max-Age={BACK_SECONDS}; Path=/; SameSite=Lax"
    return HTTPException(303, "Sign in first.", headers={"Location": SIGN_IN, "Set-Cookie": cookie})


def same_origin(request: Request) -> None:
    """Refuses a form posted from another site (see the module's docstring)."""
    given = request.headers.get("origin") or request.headers.get("referer")
    here = urlsplit(str(request.base_url))
    there = urlsplit(given) if given and given != "null" else None
    if there is None or (there.scheme, there.netloc) != (here.scheme, here.netloc):
        raise HTTPException(403, "Cross-site form refused.")


Search = Callable[..., list[Document]]
"""``search(query, k, groups=...)``: the index's best ``k`` chunks for a query that an asker in ``groups``
may see (None: every chunk), as the chat's retriever returns them."""


def router(
    db: Callable[[], Database], secret: Callable[[], str], search: Search, groups_of: GroupsOf | None = None,
    unsure_share: float = UNSURE_SHARE,
) -> APIRouter:
    """The review pages over the database ``db()`` opens, signed in with tokens ``secret()`` signs;
    the item page's search box asks ``search``; ``groups_of`` reads documents' groups from the index;
    ``unsure_share`` of the least-matched answers are queued as unsure."""
    db, secret = cache(db), cache(secret)
    Reviewer = Annotated[User, Depends(reviewer_dependency(db, secret))]
    pages = APIRouter(prefix="/review", include_in_schema=False)

    def viewer(user: User) -> Viewer:
        return Viewer(membership.sees(db(), user), groups_of)

    def visible(user: User, answer_id: str) -> Viewer:
        """The reviewer as a viewer, when they may see the answer; else 404 as for an answer that does not exist."""
        seen = viewer(user)
        if not seen.answers(db(), [answer_id]):
            raise HTTPException(404, "No such answer.")
        return seen

    @pages.get("/assets/{name}")
    def asset(name: str) -> FileResponse:
        """The review desk's stylesheet, script and logo: files of this server, never another host's."""
        path = ASSETS / name
        if "/" in name or path.suffix not in ASSET_TYPES or not path.is_file():
            raise HTTPException(404, "No such file.")
        return FileResponse(path, media_type=ASSET_TYPES[path.suffix], headers={"Cache-Control": "max-age=300"})

    @pages.get("", response_class=HTMLResponse)
    def queue_page(
        request: Request,
        user: Reviewer,
        reason: Annotated[str | None, Query(pattern=f"^({'|'.join(REASONS)})?$")] = None,
        since: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
        page: Annotated[int, Query(ge=1)] = 1,
        decided: str | None = None,
    ) -> HTMLResponse:
        reason, since = reason or None, _day(since)  # the filter form sends empty fields for "any"
        seen = viewer(user)
        items = queue(db(), since=since, viewer=seen, unsure_share=unsure_share)
        counts = {r: sum(r in item.reasons for item in items) for r in REASONS}
        shown = [item for item in items if reason is None or reason in item.reasons]
        pages_total = max(1, math.ceil(len(shown) / PAGE_SIZE))
        filters = {k: v for k, v in {"reason": reason, "since": since and since.isoformat()}.items() if v}

        def link(**change) -> str:
            return "/review?" + urlencode({**filters, **change})

        return TEMPLATES.TemplateResponse(request, "queue.html", {
            "user": user, "items": shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], "counts": counts,
            "total": len(items), "reason": reason, "since": since, "page": page, "pages": pages_total,
            "labels": REASON_LABELS, "link": link, "formats": export.FORMATS,
            "filters": filters, "confirmation": _confirmation(db(), decided, seen),
        })

    @pages.get("/export")
    def download(
        user: Reviewer,
        kind: Annotated[str, Query(alias="format")] = "jsonl",
        since: str | None = None,
        status: str | None = None,
    ) -> Response:
        """What ``groundloop export`` writes, as an attachment (qrels zipped); empty fields are defaults."""
        try:
            file = export.download(db(), kind=kind, since=export.parse_since(since) if since else None,
                                   status=status or None, system=prompts.load("answer_system"), viewer=viewer(user))
        except GroundloopError as error:
            raise http_error(error, bad_input=400) from None
        return Response(file.content, media_type=file.media_type,
                        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'})

    @pages.get("/answers/{answer_id}", response_class=HTMLResponse)
    def answer_page(
        request: Request, answer_id: str, user: Reviewer, q: str = "", decided: str | None = None,
        marked: int | None = None,
    ) -> HTMLResponse:
        seen = visible(user, answer_id)
        details = _details(db(), answer_id, user)
        if len(q) > SEARCH_CHARS:
            raise HTTPException(422, f"q: at most {SEARCH_CHARS} characters.")
        found = _found(search(q, SEARCH_RESULTS, groups=seen.groups)) if q.strip() else []
        previous, following = _neighbours(queue(db(), viewer=seen, unsure_share=unsure_share), answer_id)
        return TEMPLATES.TemplateResponse(request, "answer.html", {
            "user": user, "q": q, "found": found, "previous": previous, "next": following,
            "confirmation": _confirmation(db(), decided, seen) or _mark_confirmation(details, marked), **details,
        })

    @pages.post("/answers/{answer_id}", dependencies=[Depends(same_origin)])
    async def decide(request: Request, answer_id: str, user: Reviewer) -> RedirectResponse:
        form = await request.form()
        decision = form.get("decision")
        if decision not in ("approved", "rejected"):
            raise HTTPException(400, "Choose approve or reject.")
        text = str(form.get("text") or "").strip() or None
        doc_ids = [str(d) for d in form.getlist("doc_ids")]
        doc_ids += str(form.get("extra_doc_ids") or "").replace(",", " ").split()
        seen = await run_in_threadpool(visible, user, answer_id)
        if decision == "approved" and not await run_in_threadpool(seen.may_see, doc_ids):
            raise HTTPException(400, "Attach only documents you may see.")
        queued = await run_in_threadpool(lambda: queue(db(), viewer=seen, unsure_share=unsure_share))
        _, following = _neighbours(queued, answer_id)
        await _decided(
            reviews.record_review, db(), answer_id=answer_id, reviewer_id=user.id, decision=decision,
            text=text if decision == "approved" else None,
            doc_ids=list(dict.fromkeys(doc_ids)) if decision == "approved" else [],
        )
        where = f"/review/answers/{following}" if following else "/review"
        return RedirectResponse(f"{where}?{urlencode({'decided': answer_id})}", status_code=303)

    @pages.post("/answers/{answer_id}/marks", dependencies=[Depends(same_origin)])
    async def mark(request: Request, answer_id: str, user: Reviewer) -> RedirectResponse:
        form = await request.form()
        rank, relevant = str(form.get("rank") or ""), form.get("relevant")
        if not re.fullmatch(r"[0-9]{1,4}", rank) or relevant not in ("yes", "no"):
            raise HTTPException(400, "Choose a source, and relevant or not.")
        await run_in_threadpool(visible, user, answer_id)
        await _decided(reviews.record_reviewer_mark, db(), answer_id=answer_id, reviewer_id=user.id,
                       rank=int(rank), relevant=relevant == "yes")
        return RedirectResponse(f"/review/answers/{answer_id}?marked={int(rank)}#sources", status_code=303)

    return pages


async def _decided(write: Callable, *args: Any, **kwargs: Any) -> Any:
    """A feedback write off the event loop, its refusals as short HTTP errors."""
    try:
        return await run_in_threadpool(write, *args, **kwargs)
    except GroundloopError as error:
        raise http_error(error, bad_input=400) from None


def _neighbours(items: list[Queued], answer_id: str) -> tuple[str | None, str | None]:
    """The answers before and after this one in the queue's order; for an answer no longer in the
    queue, the queue's first is next."""
    ids = [item.answer.id for item in items]
    if answer_id not in ids:
        return None, ids[0] if ids else None
    at = ids.index(answer_id)
    return (ids[at - 1] if at else None), (ids[at + 1] if at + 1 < len(ids) else (ids[at - 1] if at else None))


def _confirmation(db: Database, decided: str | None, viewer: Viewer) -> str | None:
    """What the last decision was, said on the page that opens after it (about an answer ``viewer`` may see)."""
    if not decided or not viewer.answers(db, [decided]):
        return None
    with db.read() as session:
        answer = session.get(Answer, decided)
        review = session.exec(select(Review).where(Review.answer_id == decided)
                              .order_by(Review.created_at.desc())).first() if answer else None
    if review is None:
        return None
    question = answer.question if len(answer.question) <= 80 else answer.question[:79].rstrip() + "…"
    if review.decision == "approved":
        return f"Approved “{question}”: its answer is now served as the verified answer."
    return f"Rejected “{question}”: it leaves the queue."


def _mark_confirmation(details: dict, rank: int | None) -> str | None:
    citation = next((c for c in details["citations"] if c.rank == rank), None)
    if citation is None or citation.id not in details["mine"]:
        return None
    return f"Marked [{rank}] as {'relevant' if details['mine'][citation.id] else 'not relevant'}."


def _day(given: str | None) -> date | None:
    if not given:
        return None
    try:
        return date.fromisoformat(given)
    except ValueError:
        raise HTTPException(422, "since: a date as YYYY-MM-DD.") from None


@dataclass(frozen=True)
class Found:
    doc_id: str
    title: str
    snippet: str


def _found(chunks: list[Document]) -> list[Found]:
    """One result per document, at its best chunk, with the start of that chunk's text."""
    best: dict[str, Found] = {}
    for chunk in chunks:
        doc_id = str(chunk.metadata["doc_id"])
        text = " ".join(chunk.page_content.split())
        snippet = text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"
        best.setdefault(doc_id, Found(doc_id, str(chunk.metadata.get("title") or doc_id), snippet))
    return list(best.values())


def _details(db: Database, answer_id: str, reviewer: User) -> dict:
    """Everything the answer's page shows: the answer, its sources with their marks (the reviewer's
    own among them), what people said."""
    with db.read() as session:
        answer = session.get(Answer, answer_id)
        if answer is None:
            raise HTTPException(404, "No such answer.")
        citations = list(session.exec(select(Citation).where(Citation.answer_id == answer_id).order_by(Citation.rank)))
        said = list(session.exec(
            select(Feedback, User).join(User, Feedback.user_id == User.id)
            .where(Feedback.answer_id == answer_id).order_by(Feedback.created_at)
        ))
        reviews = list(session.exec(
            select(Review, User).join(User, Review.reviewer_id == User.id)
            .where(Review.answer_id == answer_id).order_by(Review.created_at)
        ))
    marks = {c.id: {"relevant": 0, "not": 0} for c in citations}
    mine: dict[str, bool] = {}
    for feedback, person in said:
        if feedback.kind == "source_mark" and feedback.citation_id in marks:
            marks[feedback.citation_id]["relevant" if feedback.value else "not"] += 1
            if person.id == reviewer.id:
                mine[feedback.citation_id] = bool(feedback.value)
    corrections = [(f, u) for f, u in said if f.kind == "correction"]
    thumbs = [f.value for f, _ in said if f.kind == "thumb"]
    suggested = {d for f, _ in corrections for d in f.doc_ids} or {c.doc_id for c in citations if c.cited}
    for citation in citations:  # the reviewer's own marks overrule the guess
        if mine.get(citation.id) is True:
            suggested.add(citation.doc_id)
        elif mine.get(citation.id) is False:
            suggested.discard(citation.doc_id)
    return {
        "answer": answer, "citations": citations, "marks": marks, "mine": mine, "corrections": corrections,
        "comments": [(f, u) for f, u in said if f.kind == "comment"], "reviews": reviews,
        "ups": thumbs.count(1), "downs": thumbs.count(-1),
        "draft": corrections[-1][0].text if corrections else answer.answer,
        "doc_ids": list(dict.fromkeys(c.doc_id for c in citations)),
        "titles": {c.doc_id: c.title or c.doc_id for c in reversed(citations)},
        "suggested": suggested,
    }
