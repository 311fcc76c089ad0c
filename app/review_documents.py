"""The documents page at /review/documents, for admins: every indexed document (title, path, groups,
chunks, when ingested), uploading files with a progress bar, changing a document's groups, and
deleting a document after a confirmation page. Each change goes through ``app.documents``.

Sign-in is the review desk's (``app.review``); a reviewer who is not an admin gets 403 "Only admins
manage documents.", and every POST must come from this same server. Uploads answer JSON to the page's
script (``documents.js``, which sends each file on its own so that each has its bar and its outcome) and
the page itself, with the outcomes, to a browser without it.
"""

import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import select

from app import documents, uploads
from app.http_errors import http_error
from app.review import reviewer_dependency, same_origin
from app.runtime import Root
from feedback import policy
from feedback.models import Event, User
from retrieval.errors import GroundloopError

PAGE_SIZE = 50
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates" / "review")
ACCEPTED = ".md,.markdown,.txt,.text,.rst,.html,.htm,.pdf,.csv,.jsonl"


def router(root: Callable[[], Root], secret: Callable[[], str]) -> APIRouter:
    """The documents page over the index and database of ``root()``, signed in as the review desk is."""
    root = cache(root)
    reviewer = reviewer_dependency(lambda: root().database, secret)

    def admin(user: Annotated[User, Depends(reviewer)]) -> User:
        try:
            policy.check_may_manage_documents(user)
        except GroundloopError as error:
            raise http_error(error) from None
        return user

    Admin = Annotated[User, Depends(admin)]
    pages = APIRouter(prefix="/review/documents", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    async def listing(request: Request, user: Admin, page: Annotated[int, Query(ge=1)] = 1,
                      changed: str | None = None, deleted: str | None = None) -> HTMLResponse:
        shown = await _page(root(), page)
        return TEMPLATES.TemplateResponse(request, "documents.html", {
            "user": user, "nav": "documents", **shown,
            "confirmation": await run_in_threadpool(_confirmation, root(), changed, deleted),
        })

    @pages.post("/upload", dependencies=[Depends(same_origin)])
    async def upload(request: Request, user: Admin):
        wants_json = "application/json" in request.headers.get("accept", "")
        try:
            outcomes = await uploads.receive(request, root(), actor_id=user.id)
        except HTTPException as error:
            if wants_json:
                return JSONResponse({"detail": error.detail}, status_code=error.status_code)
            raise
        if wants_json:
            return JSONResponse({"files": [vars(outcome) for outcome in outcomes]})
        shown = await _page(root(), 1)
        return TEMPLATES.TemplateResponse(request, "documents.html", {
            "user": user, "nav": "documents", **shown, "uploaded": outcomes})

    @pages.post("/groups", dependencies=[Depends(same_origin)])
    async def regroup(request: Request, user: Admin) -> RedirectResponse:
        form = await request.form()
        doc_id = str(form.get("doc_id") or "")
        groups = [str(name) for name in form.getlist("groups")] or [""]
        await _done(documents.set_groups, root(), doc_id, groups, actor_id=user.id)
        return RedirectResponse("/review/documents?" + urlencode({"changed": doc_id}), status_code=303)

    @pages.get("/delete", response_class=HTMLResponse)
    async def confirm_delete(request: Request, user: Admin, doc_id: str = "") -> HTMLResponse:
        document = await _done(documents.get, root(), doc_id)
        return TEMPLATES.TemplateResponse(request, "documents_delete.html", {
            "user": user, "nav": "documents", "document": document})

    @pages.post("/delete", dependencies=[Depends(same_origin)])
    async def delete(request: Request, user: Admin) -> RedirectResponse:
        form = await request.form()
        doc_id = str(form.get("doc_id") or "")
        await _done(documents.delete, root(), doc_id, actor_id=user.id)
        return RedirectResponse("/review/documents?" + urlencode({"deleted": doc_id}), status_code=303)

    return pages


async def _done(change: Callable, *args, **kwargs):
    """A change off the event loop, its refusals as the review pages' short errors."""
    try:
        return await run_in_threadpool(change, *args, **kwargs)
    except GroundloopError as error:
        raise http_error(error, bad_input=400) from None


async def _page(root: Root, page: int) -> dict:
    """What the listing shows: one page of documents, the totals, and the groups a document may be given."""
    try:
        every, known = await run_in_threadpool(lambda: (documents.catalog(root), documents.known_groups(root)))
    except GroundloopError as error:
        raise http_error(error) from None
    pages = max(1, math.ceil(len(every) / PAGE_SIZE))
    return {"documents": every[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], "total": len(every),
            "chunks": sum(document.chunks for document in every), "page": page, "pages": pages,
            "known_groups": known, "limit_mb": uploads.limit_mb(root), "accepted": ACCEPTED}


def _confirmation(root: Root, changed: str | None, deleted: str | None) -> str | None:
    """What the last change did, read back from the index and the events, never from the link itself."""
    if changed:
        try:
            document = documents.get(root, changed)
        except GroundloopError:
            return None
        return f"{document.path} is now seen by: {', '.join(document.groups)}."
    if deleted:
        with root.database.read() as session:
            event = session.exec(select(Event).where(Event.action == "document_removed",
                                                     Event.subject_id == documents.subject_of(deleted))
                                 .order_by(Event.id.desc())).first()
        if event is not None:
            chunks = event.data.get("chunks", 0)
            return f"Deleted {event.data.get('path')} ({chunks} chunk{'' if chunks == 1 else 's'})."
    return None
