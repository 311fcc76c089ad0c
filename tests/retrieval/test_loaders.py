from pathlib import Path

from retrieval.loaders import load_file, load_paths
from retrieval.text import normalize

MB = 1_000_000


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with one line of text, xref offsets computed so readers accept it."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_every_format_loads_with_its_metadata(corpus: Path) -> None:
    (corpus / "manual.pdf").write_bytes(minimal_pdf("Reset the router by holding the button."))
    (corpus / "faq.jsonl").write_text('{"id": "q1", "title": "Refunds", "text": "Refunds take five days."}\n')
    loaded = load_paths([corpus], max_bytes=MB)

    assert loaded.failures == []
    by_name = {Path(d.metadata["source"]).name: d for d in loaded.documents}
    assert set(by_name) == {"volcanoes.md", "tea.txt", "rivers.html", "parts.csv", "manual.pdf", "faq.jsonl"}
    assert by_name["volcanoes.md"].metadata["title"] == "Volcanoes"
    assert by_name["rivers.html"].metadata["title"] == "Rivers"
    assert "Reset the router" in by_name["manual.pdf"].page_content
    assert by_name["faq.jsonl"].metadata["doc_id"] == "q1"
    assert by_name["faq.jsonl"].page_content == "Refunds\nRefunds take five days."
    assert by_name["parts.csv"].metadata["doc_id"].endswith("parts.csv#row1")
    assert "XK-42b" in by_name["parts.csv"].page_content


def test_beir_corpus_keeps_ids_and_titles(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "4983", "title": "Microstructure", "text": "Alterations of the brain."}\n\n')
    [document] = load_file(corpus, max_bytes=MB)
    assert document.metadata == {"doc_id": "4983", "title": "Microstructure", "source": str(corpus), "position": 1,
                                 "path": "corpus.jsonl"}


def test_bad_files_are_skipped_with_a_reason_and_the_rest_ingest(corpus: Path) -> None:
    (corpus / "empty.md").write_text("")
    (corpus / "junk.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    (corpus / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (corpus / "huge.txt").write_text("word " * 400_000)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (corpus / "bad.jsonl").write_text('{"text": "ok"}\nnot json\n')
    (corpus / "blank.md").write_text("   \n\n  ")

    loaded = load_paths([corpus, corpus / "missing.md", corpus.parent / "photo.png"], max_bytes=MB)

    reasons = {Path(f.path).name: f.reason for f in loaded.failures}
    assert reasons["empty.md"] == "empty file"
    assert reasons["junk.txt"] == "binary content, not text"
    assert reasons["latin1.txt"] == "not UTF-8 text"
    assert reasons["huge.txt"].startswith("too large (2.0 MB")
    assert reasons["broken.pdf"].startswith("cannot be read")
    assert reasons["bad.jsonl"].startswith("line 2 is not valid JSON")
    assert reasons["blank.md"] == "no text found"
    assert reasons["missing.md"] == "no such file or folder"
    assert reasons["photo.png"] == "no such file or folder"
    assert len({Path(d.metadata["source"]).name for d in loaded.documents}) == 4


def test_unsupported_file_named_explicitly_is_reported(tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG")
    assert load_paths([image], max_bytes=MB).failures[0].reason == "unsupported file type '.png'"


def test_html_scripts_and_styles_are_not_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><style>p{}</style><body><p>Hello</p><script>steal()</script></body></html>")
    [document] = load_file(page, max_bytes=MB)
    assert document.page_content == "Hello"


def test_normalize_makes_equivalent_text_identical() -> None:
    decomposed, composed = "Cafe\u0301  au\u00a0lait\r\n\r\n\r\nnext", "Café au lait\n\nnext"
    assert normalize(decomposed) == composed


def test_each_chunk_knows_its_path_in_the_folder_ingested(tmp_path: Path) -> None:
    (tmp_path / "docs" / "guide").mkdir(parents=True)
    (tmp_path / "docs" / "guide" / "start.md").write_text("# Start\nRun it.\n")
    (tmp_path / "one.txt").write_text("A single file.\n")
    loaded = load_paths([tmp_path / "docs", tmp_path / "one.txt"], max_bytes=10_000)
    paths = {d.metadata["title"]: d.metadata["path"] for d in loaded.documents}
    assert paths == {"Start": "guide/start.md", "one": "one.txt"}
    assert all(d.metadata["source"].startswith(str(tmp_path.resolve())) for d in loaded.documents)


def test_a_citation_never_shows_the_servers_own_path() -> None:
    from retrieval.catalog import shown_path

    assert shown_path({"path": "guide/start.md", "source": "/srv/docs/guide/start.md"}) == "guide/start.md"
    assert shown_path({"source": "/srv/docs/guide/start.md"}) == "start.md"  # indexed before paths were kept
    assert shown_path({"source": "https://example.com/a.html"}) == "https://example.com/a.html"
