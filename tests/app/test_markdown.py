import re

from app.markdown import JOINER, EscapingStream, escape


def test_markup_from_documents_is_shown_as_text() -> None:
    hostile = '![x](http://203.0.113.9/i.png) <script>alert(1)</script> [a](javascript:x) **b**'
    escaped = escape(hostile)
    assert re.search(r"(?<!\\)[!\[\]()<>*:]", escaped) is None  # every markup character is escaped
    assert escaped.replace("\\", "").replace(JOINER, "") == hostile


def test_citations_stay_links() -> None:
    assert escape("Cats sleep [1]. Dogs [2] bark!") == r"Cats sleep [1]\. Dogs [2] bark\!"


def test_streamed_citation_split_across_pieces_stays_whole() -> None:
    stream = EscapingStream()
    shown = "".join(stream.feed(piece) for piece in ["Cats sle", "ep [", "1", "]. Dogs"]) + stream.flush()
    assert shown == r"Cats sleep [1]\. Dogs"


def test_bare_urls_and_addresses_cannot_autolink() -> None:
    escaped = escape("see http://203.0.113.9/p.png, www.example.com or ops@example.com")
    assert re.search(r"https?\\?:|www\\?\.|\w@", escaped) is None


def test_a_source_read_whole_keeps_its_markdown_but_nothing_can_load_or_link() -> None:
    from app.markdown import safe_markdown

    text = "\n".join([
        "# Ingesting",
        "Run `groundloop ingest <folder>` **once**.",
        '<script>alert(1)</script> <img src="http://203.0.113.9/p.png"> ![x](http://203.0.113.9/i.png)',
        "[click](javascript:x) <http://203.0.113.9/> www.example.com ops@example.com &lt;",
        "```bash",
        "groundloop ingest docs/ [x](y) <b>",
        "```",
        "`[x](http://203.0.113.9/)` and `` a`b ``",
    ])
    shown = safe_markdown(text).split("\n")
    assert shown[0] == "# Ingesting"
    assert shown[1] == "Run `groundloop ingest <folder>` **once**."  # code as it is: shown literally
    assert re.search(r"(?<!\\)[<\[\]!&]", shown[2] + shown[3]) is None  # no HTML, image, link or entity
    assert re.search(r"https?\\?:|www\\?\.|\w@", shown[3]) is None  # bare URLs cannot autolink
    assert shown[4:7] == ["```bash", "groundloop ingest docs/ [x](y) <b>", "```"]  # a fence is code: literal
    assert shown[7].startswith("`\\[x\\]")  # code that could link if misread is escaped anyway
    assert "`` a`b ``" in shown[7]


def test_an_unclosed_fence_runs_to_the_end() -> None:
    from app.markdown import safe_markdown

    assert safe_markdown("```\n![x](http://h/i.png)") == "```\n![x](http://h/i.png)"
    assert safe_markdown("```a`b\n![x](http://h/i.png)").endswith("\\!\\[x\\](http\u2060\\://h/i.png)")  # not a fence


def test_a_quoted_code_block_stays_a_code_block_and_the_rest_is_escaped() -> None:
    answer = "Run this [1].\n\n```\n.venv/bin/groundloop ingest path/to/folder <b>x</b>\n```\n\nDone *now*."
    assert escape(answer) == (
        "Run this [1]\\.\n\n```\n.venv/bin/groundloop ingest path/to/folder <b>x</b>\n```\n\nDone \\*now\\*\\."
    )
    assert escape("```\nnot closed <b>") == "\\`\\`\\`\nnot closed \\<b\\>"


def test_a_streamed_code_block_goes_out_whole_once_closed() -> None:
    answer = "Run this [1].\n\n```\n.venv/bin/groundloop ingest path/to/folder\n```\n\nDone."
    stream = EscapingStream()
    pieces = [stream.feed(piece) for piece in re.findall(r"\S+\s*|\s+", answer)]
    assert "".join(pieces) + stream.flush() == escape(answer)
    assert not any("`" in piece and "```\n.venv/bin/groundloop ingest path/to/folder\n```" not in piece for piece in pieces)
