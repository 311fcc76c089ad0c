"""Documents unfit for the model are kept out before indexing, each with the reason a person reads."""

from pathlib import Path

from langchain_core.documents import Document

from retrieval.chunking import split
from retrieval.loaders import Failure, load_paths
from retrieval.validation import DIGEST, Limits, indexed_in, validate

MB = 1_000_000


def doc(text: str, source: str, doc_id: str | None = None) -> Document:
    return Document(text, metadata={"source": source, "doc_id": doc_id or source, "title": source})


def reasons(failures: list[Failure]) -> dict[str, str]:
    return {failure.path: failure.reason for failure in failures}


def test_each_unfit_document_is_kept_out_with_its_reason() -> None:
    html = "<div class='x'><span style='color:red'>" * 20 + "Hello there friends" + "</span></div>" * 20
    checked = validate([
        doc("Green tea is steeped at about 80 degrees Celsius for two minutes.", "tea.md"),
        doc("", "blank.md"),
        doc("— … —", "dashes.md"),
        doc("See above", "short.md"),
        doc(html, "page.txt"),
        doc("PK\ufffd\ufffd\ufffd\ufffdx\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd word", "sheet.txt"),
        doc("word " * 30, "long.txt"),
    ], limits=Limits(max_chars=100))

    assert [d.metadata["source"] for d in checked.documents] == ["tea.md"]
    assert reasons(checked.failures) == {
        "blank.md": "empty: no text",
        "dashes.md": "empty: no text",
        "short.md": "near-empty (2 words; at least 3 needed)",
        "page.txt": "mostly markup (98% of it is tags, comments or entities)",
        "sheet.txt": "binary content, not text",
        "long.txt": "over-long (150 characters; the limit is 100)",
    }


def test_prose_with_some_markup_and_code_is_kept() -> None:
    text = ("# Install\n\nRun the installer, then <b>restart</b> the service &amp; check the log.\n\n"
            "```\ngroundloop ingest docs/\n```\n\n| option | meaning |\n| --- | --- |\n| -k | how many |\n")
    assert validate([doc(text, "install.md")]).failures == []


def test_the_same_text_from_two_sources_is_indexed_once() -> None:
    text = "Refunds are paid within five working days of the request."
    checked = validate([doc(text, "sql:kb:1"), doc(text, "sql:kb:2"), doc("Something else entirely, really.", "sql:kb:3")])
    assert [d.metadata["source"] for d in checked.documents] == ["sql:kb:1", "sql:kb:3"]
    assert reasons(checked.failures) == {"sql:kb:2": "duplicate: the same text as sql:kb:1"}


def test_records_of_one_file_are_judged_each_on_its_own_and_are_not_duplicates_of_each_other() -> None:
    text = "Refunds are paid within five working days of the request."
    checked = validate([doc(text, "/data/faq.jsonl", "q1"), doc(text, "/data/faq.jsonl", "q2"),
                        doc("", "/data/faq.jsonl", "q3")])
    assert [d.metadata["doc_id"] for d in checked.documents] == ["q1", "q2"]
    assert reasons(checked.failures) == {"/data/faq.jsonl#q3": "empty: no text"}


def test_the_pages_of_a_document_are_judged_together() -> None:
    pages = [doc("Chapter one tells how the river", "/data/book.pdf"), doc("3", "/data/book.pdf"),
             doc("reached the sea at last.", "/data/book.pdf")]
    checked = validate(pages)
    assert checked.failures == [] and len(checked.documents) == 3
    assert len({d.metadata[DIGEST] for d in checked.documents}) == 1


def test_the_whole_user_guide_passes(tmp_path: Path) -> None:
    """The demo corpus is ordinary documentation: nothing of it may be kept out."""
    loaded = load_paths([Path(__file__).parents[2] / "docs"], max_bytes=10 * MB)
    checked = validate(loaded.documents)
    assert checked.failures == []
    assert len(checked.documents) == len(loaded.documents)


def test_text_already_indexed_from_another_source_stays_with_it(open_index) -> None:
    index = open_index()
    text = "The Nile flows north into the Mediterranean Sea, through eleven countries."
    first = validate([doc(text, "/data/nile.md")], indexed=indexed_in(index))
    index.add(split(first.documents, chunk_size=2000, chunk_overlap=0))

    later = validate([doc(text, "sql:rivers:7"), doc("Tides follow the moon, twice a day, everywhere.", "sql:rivers:8")],
                     indexed=indexed_in(index))
    assert reasons(later.failures) == {"sql:rivers:7": "duplicate: the same text as /data/nile.md"}

    again = validate([doc(text, "sql:rivers:7"), doc(text, "/data/nile.md")], indexed=indexed_in(index))
    assert [d.metadata["source"] for d in again.documents] == ["/data/nile.md"], "the indexed holder keeps it"

    moved = validate([doc(text, "sql:rivers:7"), doc("The Nile is long. It is very long indeed.", "/data/nile.md")],
                     indexed=indexed_in(index))
    assert moved.failures == [], "the indexed holder's text is changing now: the other source may have it"


def test_ingest_keeps_unfit_files_out_and_says_why(tmp_path: Path, open_index) -> None:
    from retrieval.ingest import ingest

    index = open_index()
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "tea.md").write_text("# Tea\n\nGreen tea is steeped at about 80 degrees Celsius.\n")
    (second / "copy.md").write_text("# Tea\n\nGreen tea is steeped at about 80 degrees Celsius.\n")
    (second / "todo.txt").write_text("TODO\n")
    (second / "export.html.txt").write_text("<table>" + "<tr><td class='c'>1</td></tr>" * 50 + "</table>")
    ingest(index, [first], chunk_size=2000, chunk_overlap=0, max_bytes=MB)

    report = ingest(index, [second], chunk_size=2000, chunk_overlap=0, max_bytes=MB)

    assert reasons(report.failures) == {
        str((second / "copy.md").resolve()): f"duplicate: the same text as {(first / 'tea.md').resolve()}",
        str((second / "todo.txt").resolve()): "near-empty (1 word; at least 3 needed)",
        str((second / "export.html.txt").resolve()): "mostly markup (96% of it is tags, comments or entities)",
    }
    assert report.chunks == 0 and report.outcomes == {}
    assert index.sources() == [str((first / "tea.md").resolve())]
