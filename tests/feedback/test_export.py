"""Exports, each read back by what consumes it: pyarrow, csv, a fine-tuning schema check, ``groundloop eval``."""

import csv
import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from app import components
from app.cli import cli
from app.settings import Settings
from feedback import accounts, answer_log, export, opinions, reviews, training
from feedback.db import Database
from feedback.models import Answer, User
from feedback.writing import NotAllowed, NotFound
from retrieval.errors import GroundloopError

runner = CliRunner()


def opt_out(db: Database, user: User) -> None:
    accounts.set_export_opt_out(db, identifier=user.identifier, opted_out=True)


def backdate(db: Database, answer: Answer, when: datetime) -> None:
    with db.write() as session:
        row = session.get(Answer, answer.id)
        row.created_at = when
        session.add(row)


def reviewer(db: Database, name: str = "rita"):
    return accounts.add_user(db, identifier=name, role="reviewer")


def review(db: Database, answer: Answer, who: User, decision: str = "approved", text: str | None = None,
           doc_ids: list[str] = ()) -> None:
    reviews.record_review(db, answer_id=answer.id, reviewer_id=who.id, decision=decision, text=text,
                          doc_ids=list(doc_ids))


def test_a_row_holds_the_answer_its_sources_feedback_and_review_with_provenance(db, alice, make_answer) -> None:
    rita = reviewer(db)
    answer = make_answer(alice)
    opinions.record_thumb(db, answer_id=answer.id, user_id=alice.id, up=False, comment="Too short.")
    opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=2, relevant=True)
    opinions.record_correction(db, answer_id=answer.id, user_id=alice.id, text="Blue light scatters most [2].",
                              ranks=[2])
    review(db, answer, rita, text="Shorter blue light scatters more [2].", doc_ids=["doc-2"])

    [row] = export.answer_rows(db)
    assert row["answer_id"] == answer.id and row["user"] == "alice"
    assert datetime.fromisoformat(row["created_at"]) == answer.created_at and row["created_at"].endswith("+00:00")
    assert (row["question"], row["answer"], row["verdict"]) == ("Why is the sky blue?", answer.answer, "ok")
    assert [s["doc_id"] for s in row["sources"]] == ["doc-1", "doc-2", "doc-3"] and row["sources"][0]["cited"]
    assert [(f["kind"], f["user"]) for f in row["feedback"]] == [
        ("thumb", "alice"), ("comment", "alice"), ("source_mark", "alice"), ("correction", "alice")]
    mark = row["feedback"][2]
    assert (mark["value"], mark["rank"], mark["doc_ids"]) == (1, 2, ["doc-2"])
    assert row["reviews"][0] | {"created_at": None} == {
        "decision": "approved", "text": "Shorter blue light scatters more [2].", "doc_ids": ["doc-2"],
        "reviewer": "rita", "created_at": None}
    assert row["decision"] == "approved" and row["corrected_answer"] == "Shorter blue light scatters more [2]."
    assert (row["thumbs_up"], row["thumbs_down"]) == (0, 1)


def test_opted_out_people_and_secrets_never_leave(db, alice, bob, make_answer, tmp_path: Path) -> None:
    accounts.set_password(db, identifier="alice", password="correct horse battery")
    carol = accounts.add_user(db, identifier="carol@example.org")
    quiet_reviewer = reviewer(db, "quinn")
    kept = make_answer(alice, question="What is kept?")
    hidden = make_answer(bob, question="What does bob ask?")
    opinions.record_correction(db, answer_id=hidden.id, user_id=bob.id, text="Bob's private words.")
    review(db, hidden, quiet_reviewer, text="Approved words.")
    anonymous = make_answer(None, question="Who asked anonymously?")
    opinions.record_thumb(db, answer_id=anonymous.id, user_id=bob.id, up=True, comment="Bob was here.")
    opinions.record_source_mark(db, answer_id=anonymous.id, user_id=bob.id, rank=1, relevant=True)
    mailed = make_answer(carol, question="Whose address is this?")
    opinions.record_thumb(db, answer_id=mailed.id, user_id=carol.id, up=True)
    review(db, kept, quiet_reviewer, doc_ids=["doc-3"])
    opt_out(db, bob)
    opt_out(db, quiet_reviewer)

    rows = export.answer_rows(db)
    assert [row["answer_id"] for row in rows] == [kept.id, anonymous.id, mailed.id]
    assert rows[1]["feedback"] == [] and rows[1]["user"] is None
    assert rows[0]["reviews"] == [] and rows[0]["decision"] is None
    assert rows[2]["user"] == rows[2]["feedback"][0]["user"] == export.public_name("carol@example.org")
    assert rows[2]["user"].startswith("user-") and len(rows[2]["user"]) == len("user-") + 8

    with db.read() as session:
        password_hash = session.get(User, alice.id).password_hash
    everything = io.StringIO()
    export.write_jsonl(rows, everything)
    export.write_csv(rows, everything)
    export.write_jsonl(export.chat_examples(db, system="S", approved_only=False), everything)
    export.write_jsonl(export.preference_pairs(db, approved_only=False), everything)
    export.write_beir(export.qrels(db), tmp_path / "beir")
    everything.write("".join(p.read_text() for p in (tmp_path / "beir").rglob("*") if p.is_file()))
    text = everything.getvalue()
    for secret in (password_hash, "@", "bob", "quinn", "Bob's private words", "Approved words", hidden.id):
        assert secret not in text


def test_parquet_and_csv_read_back_as_the_rows(db, alice, bob, make_answer, tmp_path: Path) -> None:
    answer = make_answer(alice)
    opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=3, relevant=False)
    review(db, answer, reviewer(db), decision="rejected")
    make_answer(bob, sources=0)  # empty lists and missing values must keep their types
    rows = export.answer_rows(db)

    assert export.write_parquet(rows, tmp_path / "answers.parquet") == 2
    table = pq.read_table(tmp_path / "answers.parquet")
    assert table.schema.equals(export.ROW_SCHEMA) and table.to_pylist() == rows

    with (tmp_path / "answers.csv").open("w", newline="") as out:
        export.write_csv(rows, out)
    with (tmp_path / "answers.csv").open(newline="") as lines:
        read = list(csv.DictReader(lines))
    assert [r["answer_id"] for r in read] == [r["answer_id"] for r in rows]
    assert json.loads(read[0]["sources"]) == rows[0]["sources"] and json.loads(read[1]["feedback"]) == []
    assert read[0]["decision"] == "rejected" and read[1]["decision"] == "" and read[0]["thumbs_up"] == "0"


def check_chat_format(lines: list[str]) -> None:
    """OpenAI's chat fine-tuning format, as the OpenAI Cookbook's data preparation check reads it."""
    for line in lines:
        example = json.loads(line)
        messages = example["messages"]
        assert isinstance(messages, list) and messages
        for message in messages:
            assert set(message) <= {"role", "content", "name", "function_call", "weight"} and "role" in message
            assert message["role"] in ("system", "user", "assistant", "function")
            assert isinstance(message["content"], str) and message["content"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant"]


def test_chat_examples_take_the_corrected_or_approved_answer(db, alice, make_answer) -> None:
    rita = reviewer(db)
    edited = make_answer(alice, question="edited?")
    opinions.record_correction(db, answer_id=edited.id, user_id=alice.id, text="Alice's version.")
    review(db, edited, rita, text="Rita's version.")
    corrected = make_answer(alice, question="corrected?")
    opinions.record_correction(db, answer_id=corrected.id, user_id=alice.id, text="First try.")
    opinions.record_correction(db, answer_id=corrected.id, user_id=alice.id, text="Second try.")
    review(db, corrected, rita)
    as_is = make_answer(alice, question="as is?")
    review(db, as_is, rita)
    unreviewed = make_answer(alice, question="unreviewed?")
    opinions.record_correction(db, answer_id=unreviewed.id, user_id=alice.id, text="Nobody checked this.")
    rejected = make_answer(alice, question="rejected?")
    opinions.record_correction(db, answer_id=rejected.id, user_id=alice.id, text="Wrong.")
    review(db, rejected, rita, decision="rejected")
    make_answer(alice, question="untouched?")

    approved = export.chat_examples(db, system="Answer from the sources.")
    buffer = io.StringIO()
    export.write_jsonl(approved, buffer)
    check_chat_format(buffer.getvalue().splitlines())
    assert [(e["messages"][1]["content"], e["messages"][2]["content"]) for e in approved] == [
        ("edited?", "Rita's version."), ("corrected?", "Second try."), ("as is?", as_is.answer)]
    assert approved[0]["messages"][0] == {"role": "system", "content": "Answer from the sources."}
    assert (approved[0]["answer_id"], approved[0]["user"]) == (edited.id, "alice")

    everyone = export.chat_examples(db, system="S", approved_only=False)
    assert [e["messages"][1]["content"] for e in everyone] == ["edited?", "corrected?", "as is?", "unreviewed?"]


def test_preference_pairs_prefer_the_correction_to_the_original(db, alice, make_answer) -> None:
    rita = reviewer(db)
    changed = make_answer(alice, question="changed?")
    review(db, changed, rita, text="The better answer [1].")
    same = make_answer(alice, question="same?")
    opinions.record_correction(db, answer_id=same.id, user_id=alice.id, text="  Rayleigh   scattering [1]. ")
    review(db, same, rita)
    corrected = make_answer(alice, question="corrected only?")
    opinions.record_correction(db, answer_id=corrected.id, user_id=alice.id, text="Alice knows better.")

    [pair] = export.preference_pairs(db)
    assert pair | {"created_at": None} == {
        "prompt": "changed?", "chosen": "The better answer [1].", "rejected": changed.answer,
        "answer_id": changed.id, "user": "alice", "created_at": None}
    assert [p["prompt"] for p in export.preference_pairs(db, approved_only=False)] == ["changed?", "corrected only?"]


def test_since_and_status_filter_by_answer_day_and_newest_review(db, alice, make_answer) -> None:
    rita = reviewer(db)
    old, edge, new = (make_answer(alice, question=q) for q in ("old?", "edge?", "new?"))
    backdate(db, old, datetime(2024, 3, 9, 23, 59, 59, tzinfo=UTC))
    backdate(db, edge, datetime(2024, 3, 10, 0, 0, 0, tzinfo=UTC))
    review(db, edge, rita)
    review(db, new, rita)
    review(db, new, rita, decision="rejected")

    assert [r["question"] for r in export.answer_rows(db, since=date(2024, 3, 10))] == ["edge?", "new?"]
    assert [r["question"] for r in export.answer_rows(db, approved_only=True)] == ["edge?"]
    assert export.parse_since("2024-03-10") == date(2024, 3, 10)
    with pytest.raises(GroundloopError, match="YYYY-MM-DD"):
        export.parse_since("10/03/2024")


def test_qrels_count_each_persons_newest_mark_and_trust_reviewers(db, alice, bob, make_answer) -> None:
    carl, dora = (accounts.add_user(db, identifier=name) for name in ("carl", "dora"))
    rita = reviewer(db)
    mine = make_answer(alice, question="Why is the sky blue?")
    opinions.record_source_mark(db, answer_id=mine.id, user_id=alice.id, rank=1, relevant=True)
    again = make_answer(alice, question="why is the sky blue")  # the same question: alice changes her mind
    opinions.record_source_mark(db, answer_id=again.id, user_id=alice.id, rank=1, relevant=False)
    opinions.record_source_mark(db, answer_id=again.id, user_id=alice.id, rank=2, relevant=True)
    for person, relevant in ((bob, True), (carl, True), (dora, False)):  # two against one: relevant
        theirs = make_answer(person, question="Why is the sky blue")
        opinions.record_source_mark(db, answer_id=theirs.id, user_id=person.id, rank=3, relevant=relevant)
    tied = make_answer(bob, question="Why is the sky blue?")
    opinions.record_source_mark(db, answer_id=tied.id, user_id=bob.id, rank=1, relevant=True)  # 1 against alice's 1
    review(db, tied, rita, doc_ids=["doc-9"])
    hopeless = make_answer(carl, question="Is anything relevant?")
    opinions.record_source_mark(db, answer_id=hopeless.id, user_id=carl.id, rank=1, relevant=False)

    result = export.qrels(db)
    qid = export.query_id("Why is the sky blue?")
    assert qid == export.query_id(" why IS the sky blue ") and qid.startswith("q-") and len(qid) == 14
    assert result.queries == {qid: "Why is the sky blue?"}
    assert result.scores == {qid: {"doc-1": 0, "doc-2": 1, "doc-3": 1, "doc-9": 1}}
    by_doc = {}
    for vote in result.judgements:
        by_doc.setdefault(vote["corpus-id"], []).append((vote["user"], vote["score"], vote["kind"]))
    assert sorted(by_doc["doc-1"]) == [("alice", 0, "source_mark"), ("bob", 1, "source_mark")]
    assert by_doc["doc-9"] == [("rita", 1, "review")]
    assert {v["answer_id"] for v in result.judgements} >= {again.id, tied.id}
    assert all(set(v) == {"query-id", "corpus-id", "score", "kind", "answer_id", "user", "created_at"}
               for v in result.judgements)


def test_a_reviewers_marks_are_votes_in_qrels_and_strong_training_labels(db, alice, make_answer) -> None:
    rita = reviewer(db)
    answer = make_answer(alice)
    opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=1, relevant=True)
    reviews.record_reviewer_mark(db, answer_id=answer.id, reviewer_id=rita.id, rank=2, relevant=True)
    reviews.record_reviewer_mark(db, answer_id=answer.id, reviewer_id=rita.id, rank=2, relevant=False)  # replaces
    reviews.record_reviewer_mark(db, answer_id=answer.id, reviewer_id=rita.id, rank=3, relevant=True)

    assert export.qrels(db).scores == {export.query_id("Why is the sky blue?"): {"doc-1": 1, "doc-2": 0, "doc-3": 1}}
    [judged] = training.judged_questions(db)
    assert judged.labels == {"doc-1": training.STRONG, "doc-2": -training.STRONG, "doc-3": training.STRONG}
    [row] = export.answer_rows(db)
    assert [(f["user"], f["rank"], f["value"]) for f in row["feedback"]] == [
        ("alice", 1, 1), ("rita", 2, 0), ("rita", 3, 1)]
    with pytest.raises(NotAllowed, match="^Only reviewers and admins review answers.$"):
        reviews.record_reviewer_mark(db, answer_id=answer.id, reviewer_id=alice.id, rank=1, relevant=False)
    with pytest.raises(NotFound, match=r"^The answer has no source \[9\]\.$"):
        reviews.record_reviewer_mark(db, answer_id=answer.id, reviewer_id=rita.id, rank=9, relevant=False)
    with pytest.raises(NotFound, match="^No such answer.$"):
        reviews.record_reviewer_mark(db, answer_id="nope", reviewer_id=rita.id, rank=1, relevant=False)


# Downloads: the same exports as one file each, for the review pages and the API.


def test_each_download_reads_back_as_its_export(db, alice, make_answer) -> None:
    rita = reviewer(db)
    answer = make_answer(alice)
    opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=2, relevant=True)
    opinions.record_correction(db, answer_id=answer.id, user_id=alice.id, text="Blue scatters most [2].", ranks=[2])
    review(db, answer, rita, doc_ids=["doc-2"])
    make_answer(alice, question="Unreviewed?", sources=0)

    def get(kind: str, **options) -> export.Download:
        return export.download(db, kind=kind, system="Answer from the sources.", **options)

    jsonl = get("jsonl")
    assert (jsonl.filename, jsonl.media_type) == ("groundloop-feedback.jsonl", "application/x-ndjson")
    assert [json.loads(line) for line in jsonl.content.decode().splitlines()] == export.answer_rows(db)
    table = pq.read_table(io.BytesIO(get("parquet").content))
    assert table.schema.equals(export.ROW_SCHEMA) and table.to_pylist() == export.answer_rows(db)
    csv_download = get("csv")
    assert csv_download.filename == "groundloop-feedback.csv" and csv_download.media_type.startswith("text/csv")
    read = list(csv.DictReader(io.StringIO(csv_download.content.decode(), newline="")))
    assert [r["question"] for r in read] == ["Why is the sky blue?", "Unreviewed?"]

    chat = get("chat-jsonl")  # approved only by default, as the command
    check_chat_format(chat.content.decode().splitlines())
    assert [json.loads(line)["messages"][2]["content"] for line in chat.content.decode().splitlines()] == [
        "Blue scatters most [2]."]
    assert json.loads(get("preference-jsonl", status="all").content)["chosen"] == "Blue scatters most [2]."
    assert get("jsonl", status="approved").content.decode().count("\n") == 1
    assert get("jsonl", since=date(2999, 1, 1)).content == b""

    qrels = get("qrels")
    assert (qrels.filename, qrels.media_type) == ("groundloop-qrels.zip", "application/zip")
    with zipfile.ZipFile(io.BytesIO(qrels.content)) as archive:
        assert sorted(archive.namelist()) == ["judgements.jsonl", "qrels/test.tsv", "queries.jsonl"]
        tsv = archive.read("qrels/test.tsv").decode()
    assert tsv == f"query-id\tcorpus-id\tscore\n{export.query_id('Why is the sky blue?')}\tdoc-2\t1\n"


def downloaded_text(file: export.Download) -> str:
    """Everything a download holds, as text: parquet read back as rows, a zip's every file."""
    if file.filename.endswith(".parquet"):
        return json.dumps(pq.read_table(io.BytesIO(file.content)).to_pylist())
    if file.filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(file.content)) as archive:
            return "".join(archive.read(name).decode() for name in archive.namelist())
    return file.content.decode()


def test_downloads_leave_out_people_who_opted_out(db, alice, bob, make_answer) -> None:
    rita = reviewer(db)
    for person in (alice, bob):
        asked = make_answer(person, question=f"What does {person.identifier} ask?")
        opinions.record_source_mark(db, answer_id=asked.id, user_id=person.id, rank=1, relevant=True)
        opinions.record_correction(db, answer_id=asked.id, user_id=person.id, text=f"{person.identifier} knows [1].")
        review(db, asked, rita, text=f"Approved for {person.identifier} [1].", doc_ids=["doc-1"])
    opt_out(db, bob)

    for kind in export.FORMATS:
        text = downloaded_text(export.download(db, kind=kind, status="all", system="S"))
        assert "What does alice ask?" in text, kind
        assert "bob" not in text, kind
    accounts.set_export_opt_out(db, identifier="bob", opted_out=False)
    assert "What does bob ask?" in downloaded_text(export.download(db, kind="jsonl", system="S"))


def test_a_download_refuses_what_the_command_refuses(db) -> None:
    with pytest.raises(GroundloopError, match=r"^Unknown format 'xml': use one of jsonl, csv, parquet, chat-jsonl, "
                       r"preference-jsonl, qrels\.$"):
        export.download(db, kind="xml", system="S")
    with pytest.raises(GroundloopError, match=r"^Unknown status 'some': use approved or all\.$"):
        export.download(db, kind="csv", status="some", system="S")


# The command, on the data folder's own SQLite database.


def groundloop(data_dir: Path, *args: str):
    return runner.invoke(cli, ["--data-dir", str(data_dir), "export", *args])


def record(db: Database, user: User, question: str, doc_ids: list[str]) -> Answer:
    return answer_log.record_answer(
        db, question=question, standalone_question=question, answer="An answer [1].", answerer="extractive",
        verdict="ok", reasons=[], timings_ms={}, user_id=user.id,
        citations=[{"n": n, "doc_id": d, "chunk_id": f"{d}#0", "title": d, "source": d, "score": 1.0,
                    "similarity": 0.5, "cited": n == 1} for n, d in enumerate(doc_ids, start=1)],
    )


def test_the_command_writes_each_format_and_refuses_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = components.database(Settings(data_dir=data))
    ann = accounts.add_user(db, identifier="ann")
    answer = record(db, ann, "What is copper?", ["d2"])
    opinions.record_correction(db, answer_id=answer.id, user_id=ann.id, text="A metal [1].")

    shown = groundloop(data, "--format", "jsonl")
    assert shown.exit_code == 0 and [json.loads(line)["answer_id"] for line in shown.stdout.splitlines()] == [answer.id]
    assert next(csv.DictReader(io.StringIO(groundloop(data, "--format", "csv").stdout)))["user"] == "ann"
    assert groundloop(data, "--format", "chat-jsonl").stdout == ""  # approved only, by default
    [line] = groundloop(data, "--format", "chat-jsonl", "--status", "all").stdout.splitlines()
    assert json.loads(line)["messages"][0]["content"].startswith("You answer questions using only")
    written = groundloop(data, "--format", "parquet", "--out", str(tmp_path / "out" / "a.parquet"))
    assert written.exit_code == 0 and "1 rows written" in written.stderr
    assert pq.read_table(tmp_path / "out" / "a.parquet").num_rows == 1
    groundloop(data, "--format", "preference-jsonl", "--status", "all", "--out", str(tmp_path / "p.jsonl"))
    assert json.loads((tmp_path / "p.jsonl").read_text())["chosen"] == "A metal [1]."

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "queries.jsonl").write_text("{}\n")
    for args, message in [
        (["--format", "xml"], "Unknown format 'xml'"),
        (["--since", "yesterday"], "'yesterday' is not a day"),
        (["--status", "some"], "Unknown status 'some'"),
        (["--format", "parquet"], "--format parquet needs --out"),
        (["--format", "qrels"], "--format qrels needs --out"),
        (["--corpus", str(tmp_path)], "--corpus goes with --format qrels only"),
        (["--format", "qrels", "--out", str(tmp_path / "taken")], "already holds other files"),
    ]:
        refused = groundloop(data, *args)
        assert isinstance(refused.exception, GroundloopError) and message in str(refused.exception), args


def test_exported_qrels_are_an_evaluation_set_for_groundloop_eval(tmp_path: Path, embeddings) -> None:
    corpus = tmp_path / "corpus.jsonl"
    docs = {"d1": "Emperor penguins breed during the Antarctic winter.",
            "d2": "Copper conducts electricity and heat very well.",
            "d3": "Household wiring is usually made of copper conductors.",
            "d4": "Sourdough bread rises because of wild yeast."}
    corpus.write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items()))
    data = tmp_path / "data"
    db = components.database(Settings(data_dir=data))
    ann, rita = accounts.add_user(db, identifier="ann"), reviewer(db)
    wiring = record(db, ann, "What metal is used in electrical wiring?", ["d2", "d4"])
    opinions.record_source_mark(db, answer_id=wiring.id, user_id=ann.id, rank=1, relevant=True)
    opinions.record_source_mark(db, answer_id=wiring.id, user_id=ann.id, rank=2, relevant=False)
    review(db, wiring, rita, doc_ids=["d3"])
    penguins = record(db, ann, "When do emperor penguins breed?", ["d1"])
    opinions.record_source_mark(db, answer_id=penguins.id, user_id=ann.id, rank=1, relevant=True)

    folder = tmp_path / "feedback-set"
    written = groundloop(data, "--format", "qrels", "--out", str(folder), "--corpus", str(corpus))
    assert written.exit_code == 0, written.output
    assert "2 queries, 4 judged documents" in written.stderr and "not in" not in written.stderr
    assert (folder / "qrels" / "test.tsv").read_text().splitlines()[0] == "query-id\tcorpus-id\tscore"
    assert f"{export.query_id('When do emperor penguins breed?')}\td1\t1" in (folder / "qrels" / "test.tsv").read_text()

    measured = runner.invoke(cli, ["--data-dir", str(data), "eval", str(folder), "--split", "test", "--json"],
                             catch_exceptions=False)
    result = json.loads(measured.stdout)
    assert result["queries"] == 2 and result["ndcg@10"] > 0.5

    unzipped = tmp_path / "downloaded"  # the download is the same set, zipped, without the corpus
    with zipfile.ZipFile(io.BytesIO(export.download(db, kind="qrels", system="S").content)) as archive:
        archive.extractall(unzipped)
    (unzipped / "corpus.jsonl").write_bytes(corpus.read_bytes())
    from_download = runner.invoke(cli, ["--data-dir", str(data), "eval", str(unzipped), "--split", "test", "--json"],
                                  catch_exceptions=False)
    quality = {name: value for name, value in result.items() if not name.startswith("latency")}
    assert {name: json.loads(from_download.stdout)[name] for name in quality} == quality

    asked_again = record(db, rita, "when do emperor penguins breed", ["d1"])
    opinions.record_source_mark(db, answer_id=asked_again.id, user_id=rita.id, rank=1, relevant=True)
    again = groundloop(data, "--format", "qrels", "--out", str(folder))  # an earlier export's folder is reused
    assert again.exit_code == 0 and "not in" not in again.stderr and "--corpus" not in again.stderr
    assert len((folder / export.JUDGEMENTS).read_text().splitlines()) == 5
    bare = groundloop(data, "--format", "qrels", "--out", str(tmp_path / "bare"))
    assert bare.exit_code == 0 and "add one (--corpus)" in bare.stderr
    assert not (tmp_path / "bare" / "corpus.jsonl").exists()
