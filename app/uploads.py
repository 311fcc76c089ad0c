"""Files uploaded on the documents page or to ``POST /api/v1/documents``: received within the size limit,
saved under the data folder's ``uploads/`` with a safe name, and ingested through ``app.documents``, so
each file gets the outcome, or the reason it failed, that ``groundloop ingest`` would give it.

A saved file is the source of its document: it is read, never run, and it leaves with its document.
Uploading a file of the same name again replaces it and changes that document. A file that cannot be
ingested is not kept, and the file it would have replaced is put back.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app import documents
from app.http_errors import http_error
from retrieval.errors import GroundloopError
from retrieval.groups import EVERYONE

if TYPE_CHECKING:
    from app.runtime import Root

FIELD = "files"
MAX_FILES = 20
MAX_NAME = 100
SAME_NAME = "another file of this upload has the same name"
NO_LENGTH = "Send the upload's size as Content-Length."
NO_FILES = f"Attach at least one file, as the form field '{FIELD}'."
FORM_ALLOWANCE = 64 * 1024
"""Room for the form's own part headers and fields beside the files: a file at the limit still fits."""


@dataclass(frozen=True)
class FileOutcome:
    name: str
    """The name it is kept under (``safe_name`` of the name it was sent with)."""
    outcome: str
    """added, changed, unchanged, or failed."""
    reason: str | None = None
    """Why it failed; for a file ingested all the same, what its parser warned of."""
    doc_id: str | None = None
    chunks: int = 0


def limit_mb(root: Root) -> float:
    return root.settings.max_file_mb


async def receive(request: Request, root: Root, *, actor_id: str | None) -> list[FileOutcome]:
    """The files of a multipart request (field ``files``, and ``groups``: names, repeated or comma-separated;
    ``everyone`` when none), each ingested or refused on its own. A request over the size limit (with a
    little room for the form itself) is refused before it is read (413); one that names a group that does
    not exist is refused before anything is saved (422)."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise HTTPException(411, NO_LENGTH)
    if int(length) > limit_mb(root) * 1e6 + FORM_ALLOWANCE:
        raise HTTPException(413, f"The upload is larger than the limit of {limit_mb(root):g} MB: "
                                 "send fewer or smaller files.")
    form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES)
    files = [part for part in form.getlist(FIELD) if isinstance(part, UploadFile)]
    if not files:
        raise HTTPException(422, NO_FILES)
    groups = [name.strip() for given in form.getlist("groups") if isinstance(given, str)
              for name in given.split(",") if name.strip()] or [EVERYONE]
    try:
        return await run_in_threadpool(
            store_and_ingest, root, [(part.filename or "", part.file) for part in files], groups=groups,
            actor_id=actor_id)
    except GroundloopError as error:
        raise http_error(error) from None


def store_and_ingest(root: Root, files: list[tuple[str, IO[bytes]]], *, groups: list[str],
                     actor_id: str | None) -> list[FileOutcome]:
    """Save each file, ingest them together for ``groups``, and keep only those that went in."""
    names = documents.known(root, groups)  # before anything is written
    folder = root.settings.uploads_dir
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    order: list[str | FileOutcome] = []
    earlier: dict[Path, Path | None] = {}  # each saved file, and the one of its name it moved aside
    for given, stream in files:
        path = folder / safe_name(given)
        if path in earlier:
            order.append(FileOutcome(path.name, "failed", SAME_NAME))
            continue
        earlier[path] = _save(path, stream)
        order.append(path.name)
    try:
        report = documents.ingest_paths(root, list(earlier), groups=names, actor_id=actor_id)
    except BaseException:
        for path, moved in earlier.items():
            _put_back(path, moved)
        raise
    failures = {failure.path: failure.reason for failure in report.failures}
    warnings = {warning.path: warning.reason for warning in report.warnings}
    found = {document.source: document for document in documents.catalog(root, [str(p) for p in earlier])}
    outcomes = {}
    for path, moved in earlier.items():
        if str(path) in failures:
            _put_back(path, moved)
            outcomes[path.name] = FileOutcome(path.name, "failed", failures[str(path)])
            continue
        if moved is not None:
            moved.unlink(missing_ok=True)
        document = found.get(str(path))
        outcomes[path.name] = FileOutcome(
            path.name, report.outcomes.get(str(path), "unchanged"), warnings.get(str(path)),
            document.doc_id if document else None, document.chunks if document else 0)
    return [item if isinstance(item, FileOutcome) else outcomes[item] for item in order]


def _save(path: Path, stream: IO[bytes]) -> Path | None:
    """Write the file; the one it replaces, moved aside under a hidden name, is returned."""
    moved = path.replace(path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.previous")) if path.exists() else None
    with path.open("xb") as out:
        shutil.copyfileobj(stream, out)
    return moved


def _put_back(path: Path, moved: Path | None) -> None:
    path.unlink(missing_ok=True)
    if moved is not None:
        moved.replace(path)


def safe_name(given: str) -> str:
    """The last part of a sent file name, in letters, digits, ``.``, ``-`` and ``_`` only, never hidden,
    at most MAX_NAME characters with its suffix kept: nothing a name can do reaches outside the folder."""
    name = unicodedata.normalize("NFC", given).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[^\w.-]+", "-", name, flags=re.UNICODE).lstrip(".-_") or "upload"
    suffix = PurePath(name).suffix[:20]
    return name if len(name) <= MAX_NAME else name[:MAX_NAME - len(suffix)] + suffix
