"""Text normalisation shared by loading, chunking and keyword indexing; and shortening for display."""

import re
import unicodedata

_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def normalize(text: str) -> str:
    """Unicode NFC, no control characters, collapsed spaces and blank lines.

    The same bytes in different encodings or spacing then hash to the same chunk id.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def shorten(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its start and "…": where a long text is only
    named (a button, a thread's name, a reason), not shown."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_BLOCK_START = re.compile(r"^\s*(#|[-*+] |\d+[.)] |>)")
_ONE_LINE_BLOCK = re.compile(r"^\s*#")


def sentences(text: str) -> list[str]:
    """Sentences of ``text``: hard-wrapped lines joined; headings, list items and table rows stand alone;
    code blocks left out.

    Good enough to quote from and to check claims against.
    """
    blocks: list[list[str]] = []
    fenced = False
    for line in text.split("\n"):
        if line.strip().startswith("```"):
            fenced = not fenced
            blocks.append([])
        elif fenced:
            continue
        elif line.strip().startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(set(cell) <= set("-: ") for cell in cells):
                blocks += [["; ".join(cells)], []]
        elif not line.strip():
            blocks.append([])
        elif _BLOCK_START.match(line) or not blocks or not blocks[-1]:
            blocks.append([line.strip()])
            if _ONE_LINE_BLOCK.match(line):
                blocks.append([])
        else:
            blocks[-1].append(line.strip())
    return [part.strip() for block in blocks if block for part in _SENTENCE_BREAK.split(" ".join(block)) if part.strip()]
