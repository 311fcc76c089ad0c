"""Document and model text is shown as text: every Markdown character is escaped, so nothing
in a document can become HTML, an image that loads from elsewhere, or a link. Only the [n]
citations stay as they are, for the chat to turn into links to their sources.

Escaping alone does not stop GitHub-style autolinks of bare URLs and e-mail addresses, so an
invisible word joiner (U+2060) breaks the patterns they start with.

A fenced code block (a line of three or more backticks, the code, the same line again) stays as it
is: Markdown shows a code block's content as text, so a command quoted from a document is shown
exactly as it can be copied.
"""

import re

_CITATION = re.compile(r"(\[\d+\])")
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&:])")
_AUTOLINK_START = re.compile(r"(?i)(https?|ftp|www|mailto|xmpp)(?=[:.])|(?<=\w)(@)(?=\w)")
JOINER = "\u2060"


_FENCED = re.compile(r"((?:^|\n)(`{3,})\n(?:(?!\2)[\s\S])*?\n\2(?=\n|$))")
_OPEN_FENCE = re.compile(r"(?:^|\n)(`{3,})\n")


def escape(text: str) -> str:
    parts = _FENCED.split(text)
    shown = []
    for i in range(0, len(parts), 3):
        shown.append("".join(p if _CITATION.fullmatch(p) else _escape(p) for p in _CITATION.split(parts[i])))
        if i + 1 < len(parts):
            shown.append(parts[i + 1])
    return "".join(shown)


def _escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", _AUTOLINK_START.sub(lambda m: (m.group(1) or "") + JOINER + (m.group(2) or ""), text))


class EscapingStream:
    """Escapes streamed text a whole word at a time, so a citation split across pieces stays whole."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, piece: str) -> str:
        self._pending += piece
        held, at = len(self._pending), 0
        while opening := _OPEN_FENCE.search(self._pending, at):  # a code block goes out whole, once closed
            closed = _FENCED.match(self._pending, opening.start())
            if closed is None:
                held = opening.start()
                break
            at = closed.end()
        cut = max(self._pending.rfind(" ", 0, held), self._pending.rfind("\n", 0, held)) + 1
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return escape(ready)

    def flush(self) -> str:
        ready, self._pending = self._pending, ""
        return escape(ready)


# A document's own Markdown, for reading a source whole: headings, lists, emphasis, tables and code stay;
# nothing becomes HTML, a link or an image.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_TEXT_SPECIAL = re.compile(r"([\\\[\]<>&!:])")
_BACKTICKS = re.compile(r"`+")


def safe_markdown(text: str) -> str:
    """``text`` with its Markdown kept but every way out of plain text closed: ``<`` (HTML, autolinks),
    ``[``/``]`` (links, images), ``&`` (entities), ``!`` and ``:`` (the chat's Markdown reads
    ``:name`` as a directive) are escaped outside code, and bare URLs cannot autolink. Fenced code blocks are kept as they are (their text is shown literally);
    an unclosed fence runs to the end, as Markdown has it."""
    out, fence = [], None
    for line in text.split("\n"):
        if fence is not None:
            out.append(line)
            closing = _FENCE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence) \
                    and not closing.group(2).strip():
                fence = None
            continue
        opening = _FENCE.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = opening.group(1)
            out.append(line)
            continue
        out.append(_inline(line))
    return "\n".join(out)


def _inline(line: str) -> str:
    """A line of text: code spans kept when nothing in them could become a link, the rest escaped."""
    parts, at = [], 0
    runs = list(_BACKTICKS.finditer(line))
    i = 0
    while i < len(runs):
        opening = runs[i]
        closing = next((r for r in runs[i + 1:] if len(r.group()) == len(opening.group())), None)
        if closing is None:
            i += 1
            continue
        code = line[opening.end():closing.start()]
        if _harmless_code(code):
            parts.append(_text(line[at:opening.start()]))
            parts.append(line[opening.start():closing.end()])
            at = closing.end()
        i = runs.index(closing) + 1
    parts.append(_text(line[at:]))
    return "".join(parts)


def _harmless_code(code: str) -> bool:
    """Code shown as it is only when, read as text by mistake, it could not link or load anything."""
    return not ("[" in code or "]" in code or ":" in code or ("<" in code and "@" in code)
                or _AUTOLINK_START.search(code))


def _text(text: str) -> str:
    return _TEXT_SPECIAL.sub(r"\\\1", _AUTOLINK_START.sub(
        lambda m: (m.group(1) or "") + JOINER + (m.group(2) or ""), text))
