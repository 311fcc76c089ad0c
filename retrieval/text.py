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


_FENCE = re.compile(r"^\s*(```+|~~~+)")


def code_blocks(text: str) -> list[str]:
    """The contents of the fenced code blocks of ``text``, in order (what ``sentences`` leaves out)."""
    blocks, current, fence = [], [], None
    for line in text.split("\n"):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence, current = opening.group(1)[0] * 3, []
        elif fence is not None and line.strip().startswith(fence):
            if any(part.strip() for part in current):
                blocks.append("\n".join(current).strip("\n"))
            fence = None
        elif fence is not None:
            current.append(line)
    return blocks


def instructions(text: str) -> list[str]:
    """What a reader would copy from ``text``: each fenced code block whole, or, when every line of a block
    runs the same program (``groundloop users add …``, ``groundloop users list``), each command alone.

    A line ending in ``\\`` goes on with the next, and so does an indented line.
    """
    found = []
    for block in code_blocks(text):
        commands: list[str] = []
        for line in block.split("\n"):
            if commands and (commands[-1].endswith("\\") or line[:1].isspace()):
                commands[-1] += "\n" + line
            elif line.strip():
                commands.append(line)
        programs = {command.split()[0] for command in commands if command.split()}
        alike = len(commands) > 1 and len(programs) == 1 and not commands[0].lstrip().startswith(("{", "[", "#"))
        found += commands if alike else [block]
    return found


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*")
_ARGUMENT = re.compile(r"^[-\[#\"'<$({]")


def words_of(instruction: str, *, longest: int = 200) -> list[str]:
    """What a short command does, in words: the words of its program and subcommands, before its first
    option or argument (``groundloop models rollback``, not ``--force``), lower-cased, three letters or
    more; none for a long instruction (a block of code)."""
    if len(instruction) > longest:
        return []
    head = []
    for token in instruction.split():
        if _ARGUMENT.match(token) or (head and ("/" in token or "=" in token or "." in token)):
            break
        head.append(token)
    return list(dict.fromkeys(word.lower() for word in _WORD.findall(" ".join(head)) if len(word) >= 3))


def looks_binary(text: str) -> bool:
    """More than 5% of the text is replacement or control characters: binary data, not something typed."""
    unreadable = sum(1 for ch in text if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and ch not in "\n\t\r"))
    return bool(unreadable) and unreadable / len(text) > 0.05
