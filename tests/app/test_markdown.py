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
