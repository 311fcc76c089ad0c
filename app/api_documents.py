"""The indexed documents under /api/v1/documents, for keys with the ``admin`` scope held by an admin:
list them, upload files, change a document's groups, delete one. Each goes through ``app.documents``,
as the documents page and ``groundloop ingest`` do, and leaves the same events.

A document is named by its ``doc_id`` as listed (for a file, the path it was ingested from on the
server); send it percent-encoded in the URL. Titles and paths are returned as plain text.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from app import documents, runtime, uploads
from app.deps import Caller, refusal, scoped
from feedback import policy
from retrieval.errors import GroundloopError

router = APIRouter(prefix="/api/v1", tags=["documents"])


class Document(BaseModel):
    doc_id: str = Field(description="What to name it by in PATCH and DELETE, percent-encoded.")
    title: str
    path: str = Field(description="Its path in the folder ingested, or its file name, or a record's key.")
    groups: list[str] = Field(description="Who may find it: people in any of these groups.")
    chunks: int
    ingested_at: datetime | None = Field(description="When it was last ingested (UTC).")

    @classmethod
    def of(cls, info: documents.DocumentInfo) -> "Document":
        return cls(doc_id=info.doc_id, title=info.title, path=info.path, groups=list(info.groups),
                   chunks=info.chunks, ingested_at=info.ingested_at)


class DocumentList(BaseModel):
    documents: list[Document]


class UploadedFile(BaseModel):
    name: str = Field(description="The name the file is kept under: letters, digits, '.', '-' and '_'.")
    outcome: str = Field(description="added, changed, unchanged, or failed.")
    reason: str | None = Field(description="Why it failed (as `groundloop ingest` says it), or what its parser warned of.")
    doc_id: str | None
    chunks: int


class UploadResponse(BaseModel):
    files: list[UploadedFile]


class GroupsChange(BaseModel):
    groups: list[str] = Field(min_length=1, max_length=100, description="Group names; 'everyone' for all.")


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": [uploads.FIELD], "properties": {
        uploads.FIELD: {"type": "array", "items": {"type": "string", "format": "binary"}, "maxItems": uploads.MAX_FILES,
                        "description": "Markdown, text, HTML, PDF, CSV or JSON Lines files."},
        "groups": {"type": "string", "description": "Comma-separated group names; everyone when left out."},
    }}}}}}


def _admin(caller: scoped("admin")) -> Caller:
    """A key with the ``admin`` scope, whose person is still an admin (a scope outlives no demotion)."""
    try:
        policy.check_may_manage_documents(caller.user)
    except GroundloopError as error:
        raise refusal(error) from None
    return caller


Admin = Annotated[Caller, Depends(_admin)]


@router.get("/documents", response_model=DocumentList)
def list_documents(caller: Admin) -> DocumentList:
    """Every indexed document, by path."""
    try:
        return DocumentList(documents=[Document.of(info) for info in documents.catalog(runtime.root())])
    except GroundloopError as error:
        raise refusal(error) from None


@router.post("/documents", response_model=UploadResponse, openapi_extra=UPLOAD_BODY, responses={
    411: {"description": "No Content-Length."}, 413: {"description": "Over the size limit (GROUNDLOOP_MAX_FILE_MB)."},
    422: {"description": "No file could be ingested (each one's reason), or a group that does not exist."}})
async def upload(request: Request, caller: Admin) -> UploadResponse:
    """Files as multipart form data (``files``, and ``groups``), each ingested or refused on its own; at most
    the size limit in one request. When not one file could be ingested, 422 says why for each."""
    outcomes = await uploads.receive(request, runtime.root(), actor_id=caller.user.id)
    if all(outcome.outcome == "failed" for outcome in outcomes):
        raise HTTPException(422, "; ".join(f"{outcome.name}: {outcome.reason}" for outcome in outcomes) + ".")
    return UploadResponse(files=[UploadedFile(**vars(outcome)) for outcome in outcomes])


@router.patch("/documents/{doc_id:path}", response_model=Document)
def change_groups(doc_id: str, body: Annotated[GroupsChange, Body()], caller: Admin) -> Document:
    """From now on only people in these groups find the document."""
    try:
        return Document.of(documents.set_groups(runtime.root(), doc_id, body.groups, actor_id=caller.user.id))
    except GroundloopError as error:
        raise refusal(error) from None


@router.delete("/documents/{doc_id:path}", response_model=Document)
def delete(doc_id: str, caller: Admin) -> Document:
    """The document leaves the index (chunks, keyword rows, sentence vectors) and answers; returned as it was."""
    try:
        return Document.of(documents.delete(runtime.root(), doc_id, actor_id=caller.user.id))
    except GroundloopError as error:
        raise refusal(error) from None
