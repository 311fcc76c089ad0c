"""Exports of the feedback: a row per answer (JSON Lines, CSV, Parquet), chat fine-tuning examples,
preference pairs and a BEIR evaluation set.

Every format is cut from ``gather``, the one query. It leaves out everyone who opted out of exports
(their answers, and their feedback and reviews on other people's answers), and the answers that mention
a document the one exporting may not see (``feedback.visibility``: a reviewer sees the answers of their
groups, an admin or the command line all), and names people by their sign-in name, or by a pseudonym
where that name is an e-mail address. It never reads password
hashes or keys, so they cannot leave.
"""

import csv
import functools
import hashlib
import io
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import IO, Any

from sqlalchemy import or_
from sqlmodel import select

from feedback import counting, names
from feedback.db import Database
from feedback.models import Answer, Citation, Feedback, Review, User
from feedback.training import question_key
from feedback.visibility import EVERY_DOCUMENT, Viewer
from retrieval.errors import GroundloopError

_DOWNLOADS = {  # per format: the download's file name and media type
    "jsonl": ("groundloop-feedback.jsonl", "application/x-ndjson"),
    "csv": ("groundloop-feedback.csv", "text/csv; charset=utf-8"),
    "parquet": ("groundloop-feedback.parquet", "application/vnd.apache.parquet"),
    "chat-jsonl": ("groundloop-chat.jsonl", "application/x-ndjson"),
    "preference-jsonl": ("groundloop-preferences.jsonl", "application/x-ndjson"),
    "qrels": ("groundloop-qrels.zip", "application/zip"),
}
FORMATS = tuple(_DOWNLOADS)
assert FORMATS == names.FORMATS, "feedback.names.FORMATS names every download"
STATUSES = ("approved", "all")
SPLIT = "test"
JUDGEMENTS = "judgements.jsonl"


@dataclass(frozen=True)
class Item:
    """An answer with what was shown with it and what exportable people said about it, oldest first."""

    answer: Answer
    user: str | None
    citations: list[Citation]
    feedback: list[tuple[Feedback, str]]
    reviews: list[tuple[Review, str]]
    newest: Review | None = None
    """The newest review, whoever gave it (``counting.newest_reviews``): it alone decides."""

    @property
    def _deciding(self) -> Review | None:
        """The newest review, which alone decides, when it may be exported (its reviewer did not opt
        out); an older review never stands in for a hidden newer one."""
        shown = self.reviews[-1][0] if self.reviews else None
        return shown if self.newest is not None and shown is not None and shown.id == self.newest.id else None

    @property
    def decision(self) -> str | None:
        """The newest review's decision: a later review overrules an earlier one."""
        return self._deciding.decision if self._deciding is not None else None

    @property
    def _approving(self) -> Review | None:
        return self._deciding if counting.is_approved(self._deciding) else None

    @property
    def corrected(self) -> str | None:
        """The right answer as people gave it: the approving reviewer's text, else the newest correction.

        None when there is neither, or when the newest review rejected the answer.
        """
        if self.decision == "rejected":
            return None
        if self._approving is not None and (self._approving.text or "").strip():
            return self._approving.text.strip()
        corrections = [f.text.strip() for f, _ in self.feedback if f.kind == "correction" and (f.text or "").strip()]
        return corrections[-1] if corrections else None

    def documents(self) -> list[str]:
        """Every document the item mentions: sources shown, and those named by feedback and reviews."""
        named = [d for f, _ in self.feedback for d in f.doc_ids] + [d for r, _ in self.reviews for d in r.doc_ids]
        return list(dict.fromkeys([c.doc_id for c in self.citations] + named))

    def shown_groups(self) -> dict[str, list[str]]:
        """The groups of each source when it was shown."""
        return {c.doc_id: list(c.groups) for c in self.citations}

    @property
    def provenance(self) -> dict[str, Any]:
        return {"answer_id": self.answer.id, "user": self.user, "created_at": _iso(self.answer.created_at)}


def public_name(identifier: str) -> str:
    """The sign-in name, unless it is an e-mail address: then a stable pseudonym for it."""
    if "@" not in identifier:
        return identifier
    return f"user-{hashlib.sha256(identifier.encode('utf-8')).hexdigest()[:8]}"


def parse_since(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise GroundloopError(f"'{text}' is not a day: write it as YYYY-MM-DD.") from None


def approved_only_for(kind: str, status: str | None) -> bool:
    """Whether ``kind`` at ``status`` keeps only approved answers; None is the format's default
    (approved for the training formats, all for the rest). Unknown names are refused."""
    if kind not in FORMATS:
        raise GroundloopError(f"Unknown format '{kind}': use one of {', '.join(FORMATS)}.")
    status = status or ("approved" if kind in ("chat-jsonl", "preference-jsonl") else "all")
    if status not in STATUSES:
        raise GroundloopError(f"Unknown status '{status}': use approved or all.")
    return status == "approved"


def gather(
    db: Database, *, since: date | None = None, approved_only: bool = False, viewer: Viewer = EVERY_DOCUMENT
) -> list[Item]:
    """Answers given on or after ``since`` (UTC), oldest first; only those whose newest review
    approved them when ``approved_only``; only those ``viewer`` may see."""
    opted_out = select(User.id).where(User.export_opt_out.is_(True))
    conditions = [or_(Answer.user_id.is_(None), Answer.user_id.not_in(opted_out))]
    if since is not None:
        conditions.append(Answer.created_at >= datetime.combine(since, time.min, UTC))
    wanted = select(Answer.id).where(*conditions)
    with db.read() as session:
        names = {uid: public_name(identifier) for uid, identifier in session.exec(select(User.id, User.identifier))}
        answers = session.exec(select(Answer).where(*conditions).order_by(Answer.created_at, Answer.id)).all()
        citations = session.exec(
            select(Citation).where(Citation.answer_id.in_(wanted)).order_by(Citation.rank)
        ).all()
        feedback = session.exec(
            select(Feedback).where(Feedback.answer_id.in_(wanted), Feedback.user_id.not_in(opted_out))
            .order_by(Feedback.created_at, Feedback.id)
        ).all()
        reviews = session.exec(
            select(Review).where(Review.answer_id.in_(wanted), Review.reviewer_id.not_in(opted_out))
            .order_by(Review.created_at, Review.id)
        ).all()
        newest = counting.newest_reviews(session, session.exec(wanted).all())
    items = {a.id: Item(a, names.get(a.user_id) if a.user_id else None, [], [], [], newest.get(a.id))
             for a in answers}
    for citation in citations:
        items[citation.answer_id].citations.append(citation)
    for row in feedback:
        items[row.answer_id].feedback.append((row, names[row.user_id]))
    for review in reviews:
        items[review.answer_id].reviews.append((review, names[review.reviewer_id]))
    kept = [item for item in items.values() if not approved_only or item.decision == "approved"]
    if viewer.groups is None:
        return kept
    return [item for item in kept if viewer.may_see(item.documents(), item.shown_groups())]


# One row per answer: JSON Lines, CSV and Parquet share this schema.

COLUMNS = ("answer_id", "user", "created_at", "question", "standalone_question", "answer", "answerer",
           "ranker_version", "verdict", "reasons", "sources", "feedback", "reviews", "decision",
           "corrected_answer", "thumbs_up", "thumbs_down")


@functools.cache
def _row_schema():
    """The Parquet schema (pyarrow is imported only by the exports that write Parquet)."""
    import pyarrow as pa

    source = pa.struct([
        ("rank", pa.int64()), ("doc_id", pa.string()), ("chunk_id", pa.string()), ("title", pa.string()),
        ("source", pa.string()), ("score", pa.float64()), ("similarity", pa.float64()), ("cited", pa.bool_()),
    ])
    feedback = pa.struct([
        ("kind", pa.string()), ("value", pa.int64()), ("text", pa.string()), ("rank", pa.int64()),
        ("doc_ids", pa.list_(pa.string())), ("user", pa.string()), ("created_at", pa.string()),
        ("updated_at", pa.string()),
    ])
    review = pa.struct([
        ("decision", pa.string()), ("text", pa.string()), ("doc_ids", pa.list_(pa.string())),
        ("reviewer", pa.string()), ("created_at", pa.string()),
    ])
    schema = pa.schema([
        ("answer_id", pa.string()), ("user", pa.string()), ("created_at", pa.string()),
        ("question", pa.string()), ("standalone_question", pa.string()), ("answer", pa.string()),
        ("answerer", pa.string()), ("ranker_version", pa.string()), ("verdict", pa.string()),
        ("reasons", pa.list_(pa.string())), ("sources", pa.list_(source)), ("feedback", pa.list_(feedback)),
        ("reviews", pa.list_(review)), ("decision", pa.string()), ("corrected_answer", pa.string()),
        ("thumbs_up", pa.int64()), ("thumbs_down", pa.int64()),
    ])
    assert tuple(schema.names) == COLUMNS
    return schema


def __getattr__(name: str):
    if name == "ROW_SCHEMA":
        return _row_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def answer_rows(
    db: Database, *, since: date | None = None, approved_only: bool = False, viewer: Viewer = EVERY_DOCUMENT
) -> list[dict]:
    """One row per answer: question, answer, the sources shown, the feedback and the reviews."""
    return [_row(item) for item in gather(db, since=since, approved_only=approved_only, viewer=viewer)]


def _row(item: Item) -> dict:
    a = item.answer
    ranks = {c.id: c.rank for c in item.citations}
    thumbs = [f.value for f, _ in item.feedback if f.kind == "thumb"]
    return {
        **item.provenance,
        "question": a.question, "standalone_question": a.standalone_question, "answer": a.answer,
        "answerer": a.answerer, "ranker_version": a.ranker_version, "verdict": a.verdict, "reasons": list(a.reasons),
        "sources": [
            {"rank": c.rank, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "title": c.title, "source": c.source,
             "score": c.score, "similarity": c.similarity, "cited": c.cited}
            for c in item.citations
        ],
        "feedback": [
            {"kind": f.kind, "value": f.value, "text": f.text, "rank": ranks.get(f.citation_id),
             "doc_ids": list(f.doc_ids), "user": name, "created_at": _iso(f.created_at),
             "updated_at": _iso(f.updated_at)}
            for f, name in item.feedback
        ],
        "reviews": [
            {"decision": r.decision, "text": r.text, "doc_ids": list(r.doc_ids), "reviewer": name,
             "created_at": _iso(r.created_at)}
            for r, name in item.reviews
        ],
        "decision": item.decision,
        "corrected_answer": item.corrected,
        "thumbs_up": sum(1 for v in thumbs if v and v > 0),
        "thumbs_down": sum(1 for v in thumbs if v and v < 0),
    }


def write_jsonl(rows: Iterable[dict], out: IO[str]) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(rows: Iterable[dict], out: IO[str]) -> int:
    """The row schema's columns; lists and objects as JSON text, missing values empty."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v for k, v in row.items()})
        count += 1
    return count


def write_parquet(rows: list[dict], out: str | Path | IO[bytes]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=_row_schema()), out)
    return len(rows)


# Training data: chat fine-tuning examples and preference pairs.


def chat_examples(
    db: Database, *, system: str, since: date | None = None, approved_only: bool = True,
    viewer: Viewer = EVERY_DOCUMENT,
) -> list[dict]:
    """OpenAI's chat fine-tuning lines: the system prompt, the question, the right answer.

    The right answer is the corrected one, or the original when a reviewer approved it as it was.
    Answers neither approved nor corrected, and those whose newest review rejected them, are left out.
    """
    examples = []
    for item in gather(db, since=since, approved_only=approved_only, viewer=viewer):
        reply = item.corrected or (item.answer.answer if item.decision == "approved" else None)
        if reply:
            messages = [
                {"role": "system", "content": system},
                {"role": "user", "content": item.answer.standalone_question},
                {"role": "assistant", "content": reply},
            ]
            examples.append({"messages": messages, **item.provenance})
    return examples


def preference_pairs(
    db: Database, *, since: date | None = None, approved_only: bool = True, viewer: Viewer = EVERY_DOCUMENT
) -> list[dict]:
    """The corrected answer preferred over the original, where they differ beyond spacing."""
    pairs = []
    for item in gather(db, since=since, approved_only=approved_only, viewer=viewer):
        chosen = item.corrected
        if chosen and _spaced(chosen) != _spaced(item.answer.answer):
            pairs.append({"prompt": item.answer.standalone_question, "chosen": chosen,
                          "rejected": item.answer.answer, **item.provenance})
    return pairs


def _spaced(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# An evaluation set: BEIR qrels from source marks and reviewer-attached sources.


@dataclass
class Qrels:
    queries: dict[str, str] = field(default_factory=dict)
    """Per query id, the question as first asked."""
    scores: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per query id and document: 1 relevant, 0 judged not relevant."""
    judgements: list[dict] = field(default_factory=list)
    """Every vote counted in ``scores``, with who gave it, when and on which answer."""


def query_id(question: str) -> str:
    """The same id for questions that differ only in case, spacing or final punctuation."""
    return "q-" + hashlib.sha256(question_key(question).encode("utf-8")).hexdigest()[:12]


def qrels(
    db: Database, *, since: date | None = None, approved_only: bool = False, viewer: Viewer = EVERY_DOCUMENT
) -> Qrels:
    """Relevance per question and document.

    A person's newest mark on a document for a question is their vote; a document is relevant when
    more people marked it relevant than not; a source attached by an approving reviewer is relevant
    whatever the marks. Questions without a relevant document are left out: they cannot be measured.
    """
    texts: dict[str, str] = {}
    given: list[tuple[str, str, str, datetime, dict]] = []
    attached: dict[tuple[str, str], list[dict]] = {}
    for item in gather(db, since=since, approved_only=approved_only, viewer=viewer):
        qid = query_id(item.answer.standalone_question)
        texts.setdefault(qid, item.answer.standalone_question)
        given += [
            (qid, doc_id, mark.user_id, mark.updated_at, {
                "at": mark.updated_at, "score": 1 if mark.value else 0, "kind": "source_mark",
                "answer_id": item.answer.id, "user": name, "created_at": _iso(mark.updated_at),
            })
            for mark, name in item.feedback if mark.kind == "source_mark" for doc_id in mark.doc_ids
        ]
        if item._approving is not None:
            review, reviewer = item.reviews[-1]
            for doc_id in dict.fromkeys(review.doc_ids):
                attached.setdefault((qid, doc_id), []).append({
                    "score": 1, "kind": "review", "answer_id": item.answer.id, "user": reviewer,
                    "created_at": _iso(review.created_at),
                })
    return _tally(texts, counting.current_marks(given), attached)


def _tally(texts: dict[str, str], marks: dict[tuple[str, str, str], dict],
           attached: dict[tuple[str, str], list[dict]]) -> Qrels:
    votes: dict[tuple[str, str], list[dict]] = {}
    for (qid, doc_id, _person), vote in marks.items():
        votes.setdefault((qid, doc_id), []).append(vote)
    scores: dict[str, dict[str, int]] = {}
    counted: list[dict] = []
    for qid, doc_id in sorted(set(votes) | set(attached)):
        marked = votes.get((qid, doc_id), [])
        relevant = sum(vote["score"] for vote in marked)
        scores.setdefault(qid, {})[doc_id] = int((qid, doc_id) in attached or 2 * relevant > len(marked))
        counted += [{"query-id": qid, "corpus-id": doc_id, **{k: v for k, v in vote.items() if k != "at"}}
                    for vote in attached.get((qid, doc_id), []) + marked]
    measurable = {qid for qid, docs in scores.items() if any(docs.values())}
    return Qrels(
        queries={qid: texts[qid] for qid in sorted(measurable)},
        scores={qid: scores[qid] for qid in sorted(measurable)},
        judgements=[vote for vote in counted if vote["query-id"] in measurable],
    )


def write_beir(result: Qrels, folder: Path, *, corpus: Path | None = None) -> None:
    """A BEIR dataset folder: ``queries.jsonl``, ``qrels/test.tsv``, the judgements behind them, and
    a copy of ``corpus`` when given (``groundloop eval`` needs one)."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as out:
        write_jsonl(({"_id": qid, "text": text} for qid, text in result.queries.items()), out)
    with (folder / "qrels" / f"{SPLIT}.tsv").open("w", encoding="utf-8", newline="") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in result.scores.items():
            out.writelines(f"{qid}\t{doc_id}\t{score}\n" for doc_id, score in docs.items())
    with (folder / JUDGEMENTS).open("w", encoding="utf-8") as out:
        write_jsonl(result.judgements, out)
    if corpus is not None and (folder / "corpus.jsonl").resolve() != corpus.resolve():
        shutil.copyfile(corpus, folder / "corpus.jsonl")


def missing_documents(result: Qrels, corpus: Path) -> set[str]:
    """Judged documents whose id is not an ``_id`` of the corpus: ``groundloop eval`` cannot find them."""
    judged = {doc_id for docs in result.scores.values() for doc_id in docs}
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                judged.discard(str(record.get("_id", record.get("id"))))
    return judged


def rows(
    db: Database, *, kind: str, system: str, since: date | None = None, approved_only: bool,
    viewer: Viewer = EVERY_DOCUMENT,
) -> list[dict]:
    """The rows of a line format (every format but qrels); ``system`` is chat-jsonl's system prompt."""
    if kind == "chat-jsonl":
        return chat_examples(db, system=system, since=since, approved_only=approved_only, viewer=viewer)
    if kind == "preference-jsonl":
        return preference_pairs(db, since=since, approved_only=approved_only, viewer=viewer)
    return answer_rows(db, since=since, approved_only=approved_only, viewer=viewer)


# Downloads: a whole export as one file, for the review pages and the REST API.


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    content: bytes


def download(
    db: Database, *, kind: str, since: date | None = None, status: str | None = None, system: str,
    viewer: Viewer = EVERY_DOCUMENT,
) -> Download:
    """The export ``groundloop export --format kind`` writes, as one file, of the answers ``viewer`` may
    see. qrels is a zip of the folder it writes: unzipped, with a ``corpus.jsonl`` added, ``groundloop
    eval`` reads it."""
    approved = approved_only_for(kind, status)
    filename, media_type = _DOWNLOADS[kind]
    if kind == "qrels":
        content = _zipped_beir(qrels(db, since=since, approved_only=approved, viewer=viewer))
    elif kind == "parquet":
        buffer = io.BytesIO()
        write_parquet(rows(db, kind=kind, system=system, since=since, approved_only=approved, viewer=viewer), buffer)
        content = buffer.getvalue()
    else:
        text = io.StringIO(newline="")
        write = write_csv if kind == "csv" else write_jsonl
        write(rows(db, kind=kind, system=system, since=since, approved_only=approved, viewer=viewer), text)
        content = text.getvalue().encode("utf-8")
    return Download(filename, media_type, content)


def _zipped_beir(result: Qrels) -> bytes:
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        write_beir(result, Path(folder))
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
