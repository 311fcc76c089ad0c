"""Turn files into LangChain Documents, each carrying ``doc_id``, ``title`` and ``source``.

Every supported format goes through a LangChain loader. A file that cannot be read is
reported with a reason and skipped, so one bad file never stops the others.
"""

import json
import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from langchain_community.document_loaders import BSHTMLLoader, CSVLoader, PyPDFLoader, TextLoader
from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

from retrieval.text import normalize

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text", ".rst"}
SUFFIXES = TEXT_SUFFIXES | {".html", ".htm", ".pdf", ".csv", ".jsonl"}


class LoadError(Exception):
    """A file that cannot be ingested; the message says why."""


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str


@dataclass
class Loaded:
    documents: list[Document] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    files: int = 0
    warnings: list[Failure] = field(default_factory=list)
    """Files ingested all the same, with what their parser said about them."""


class JsonLinesLoader(BaseLoader):
    """One Document per JSON object: BEIR ``corpus.jsonl`` (``_id``, ``title``, ``text``) and alike.

    The text is taken from ``text``, ``content`` or ``page_content``; the id from ``_id`` or ``id``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def lazy_load(self) -> Iterator[Document]:
        with self.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise LoadError(f"line {number} is not valid JSON ({error.msg})") from None
                if not isinstance(record, dict):
                    raise LoadError(f"line {number} is not a JSON object")
                body = next((record[k] for k in ("text", "content", "page_content") if record.get(k)), "")
                title = str(record.get("title") or "")
                doc_id = str(record.get("_id", record.get("id", f"{self.path}#{number}")))
                content = f"{title}\n{body}" if title else str(body)
                yield Document(content, metadata={"doc_id": doc_id, "title": title, "row": number})


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[Failure]]:
    """Files to ingest: those named, and supported files in named folders (hidden ones left out).
    A link that leads nowhere, or round in a loop, is a failure that says so."""
    found, failures = _discover(paths)
    return [path for path, _ in found], failures


def _discover(paths: Iterable[Path]) -> tuple[list[tuple[Path, str]], list[Failure]]:
    """Each file to ingest with its path as people know it: relative to the folder named, or its name."""
    files, failures = [], []
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if any(part.startswith(".") for part in found.relative_to(path).parts):
                    continue
                if found.is_symlink() and (why := _bad_link(found)):
                    failures.append(Failure(str(found), why))
                elif found.is_file() and found.suffix.lower() in SUFFIXES:
                    files.append((found, found.relative_to(path).as_posix()))
        elif path.is_symlink() and (why := _bad_link(path)):
            failures.append(Failure(str(path), why))
        elif not path.exists():
            failures.append(Failure(str(path), "no such file or folder"))
        elif path.suffix.lower() not in SUFFIXES:
            failures.append(Failure(str(path), f"unsupported file type '{path.suffix or path.name}'"))
        else:
            files.append((path, path.name))
    return files, failures


def _bad_link(link: Path) -> str | None:
    """Why following this symbolic link finds nothing to read, or None when it leads somewhere."""
    try:
        link.resolve(strict=True)
    except RuntimeError:
        return "a symbolic link that loops back on itself"
    except OSError as error:
        if error.errno == 40:  # ELOOP
            return "a symbolic link that loops back on itself"
        return f"a broken symbolic link (to {os.readlink(link)}, which does not exist)"
    return None


def load_paths(paths: Iterable[Path], *, max_bytes: int) -> Loaded:
    """Load every supported file under ``paths``; unreadable ones become failures."""
    files, failures = _discover(paths)
    loaded = Loaded(failures=failures, files=len(files))
    for path, shown in files:
        with _parser_warnings() as said:
            try:
                loaded.documents += load_file(path, max_bytes=max_bytes, shown_path=shown)
            except LoadError as error:
                loaded.failures.append(Failure(str(path), "; ".join([str(error), *said])))
                continue
        if said:
            loaded.warnings.append(Failure(str(path), "; ".join(said)))
    return loaded


@contextmanager
def _parser_warnings() -> Iterator[list[str]]:
    """What the PDF library logs or warns while a file is read, collected for that file's report
    instead of printed raw."""
    said: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage()[:200])

    logger, handler = logging.getLogger("pypdf"), Collect(logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield said
            said.extend(str(w.message)[:200] for w in caught)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def load_file(path: Path, *, max_bytes: int, shown_path: str | None = None) -> list[Document]:
    """Documents of one file with normalised text, or LoadError saying why there are none.
    ``shown_path`` is the path people see (relative to the folder ingested); by default the file's name."""
    _check_readable(path, max_bytes)
    try:
        raw = _loader(path).load()
    except LoadError:
        raise
    except Exception as error:  # a loader's own parsing errors: the file is broken, not the run
        if UnicodeDecodeError in (type(error), type(error.__cause__)):
            raise LoadError("not UTF-8 text") from None
        raise LoadError(f"cannot be read: {type(error).__name__}: {str(error)[:200]}") from None
    source = str(path.resolve())
    documents = []
    for index, document in enumerate(raw):
        text = normalize(document.page_content)
        if text:
            metadata = _metadata(document.metadata, path, source, index, text)
            documents.append(Document(text, metadata={**metadata, "path": shown_path or path.name}))
    if not documents:
        raise LoadError("no text found")
    return documents


def _check_readable(path: Path, max_bytes: int) -> None:
    size = path.stat().st_size
    if size == 0:
        raise LoadError("empty file")
    if size > max_bytes:
        raise LoadError(f"too large ({size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB)")
    if path.suffix.lower() != ".pdf":
        with path.open("rb") as handle:
            head = handle.read(8192)
        if b"\x00" in head:
            raise LoadError("binary content, not text")


def _loader(path: Path) -> BaseLoader:
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return TextLoader(str(path), encoding="utf-8")
    if suffix in {".html", ".htm"}:
        return BSHTMLLoader(
            str(path), open_encoding="utf-8", bs_kwargs={"features": "html.parser"}, get_text_separator="\n\n"
        )
    if suffix == ".pdf":
        return PyPDFLoader(str(path))
    if suffix == ".csv":
        return CSVLoader(str(path), encoding="utf-8")
    return JsonLinesLoader(path)


def _metadata(found: dict, path: Path, source: str, index: int, text: str) -> dict:
    """The metadata every chunk keeps; Chroma takes only str, int, float and bool values."""
    suffix = path.suffix.lower()
    doc_id = found.get("doc_id") or source
    if suffix == ".csv":
        doc_id = f"{source}#row{found.get('row', index) + 1}"
    title = found.get("title") or _first_heading(text) or path.stem
    position = found.get("page", found.get("row", 0))
    return {"doc_id": str(doc_id), "title": str(title)[:300], "source": source, "position": int(position)}


def _first_heading(text: str) -> str:
    first = text.split("\n", 1)[0]
    return first.lstrip("#").strip() if first.startswith("#") else ""
