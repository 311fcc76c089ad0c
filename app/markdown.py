"""Document and model text is shown as text: every Markdown character is escaped, so nothing
in a document can become HTML, an image that loads from elsewhere, or a link. Only the [n]
citations stay as they are, for the chat to turn into links to their sources.

Escaping alone does not stop GitHub-style autolinks of bare URLs and e-mail addresses, so an
invisible word joiner (U+2060) breaks the patterns they start with.
"""

import re

_CITATION = re.compile(r"(\[\d+\])")
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&:])")
_AUTOLINK_START = re.compile(r"(?i)(https?|ftp|www|mailto|xmpp)(?=[:.])|(?<=\w)(@)(?=\w)")
JOINER = "\u2060"


def escape(text: str) -> str:
    return "".join(part if _CITATION.fullmatch(part) else _escape(part) for part in _CITATION.split(text))


def _escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", _AUTOLINK_START.sub(lambda m: (m.group(1) or "") + JOINER + (m.group(2) or ""), text))


class EscapingStream:
    """Escapes streamed text a whole word at a time, so a citation split across pieces stays whole."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, piece: str) -> str:
        self._pending += piece
        cut = max(self._pending.rfind(" "), self._pending.rfind("\n")) + 1
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return escape(ready)

    def flush(self) -> str:
        ready, self._pending = self._pending, ""
        return escape(ready)
