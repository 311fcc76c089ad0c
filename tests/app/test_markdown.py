import re

from app.markdown import EscapingStream, escape


def test_markup_from_documents_is_shown_as_text() -> None:
    hostile = '![x](http://203.0.113.9/i.png) <script>alert(1)</script> [a](javascript:x) **b**'
    escaped = escape(hostile)
    assert re.search(r"(?<!\\)[!\[\]()<>*:]", escaped) is None  # every markup character is escaped
    assert escaped.replace("\\", "") == hostile


def test_citations_stay_links() -> None:
    assert escape("Cats sleep [1]. Dogs [2] bark!") == r"Cats sleep [1]\. Dogs [2] bark\!"


def test_streamed_citation_split_across_pieces_stays_whole() -> None:
    stream = EscapingStream()
    shown = "".join(stream.feed(piece) for piece in ["Cats sle", "ep [", "1", "]. Dogs"]) + stream.flush()
    assert shown == r"Cats sleep [1]\. Dogs"
