"""An answer as Markdown for people to read: the reviewer's badge, the notice, the escaped answer
and the check's warning; for clients that cannot show sources beside it, the sources as a list.
Marks are words, not emoji, which show as empty boxes where no emoji font is installed."""

from app.chain import ChainResult
from app.markdown import escape

VERIFIED = "**Verified by a reviewer**"


def render(result: ChainResult) -> str:
    parts = [VERIFIED] if result.verified else []
    if result.notice:
        parts.append(notice(result.notice))
    parts.append(escape(result.answer))
    if result.reasons:
        parts.append(flagged(result))
    return "\n\n".join(parts)


def flagged(result: ChainResult) -> str:
    return "**Flagged for review:** " + escape("; ".join(result.reasons))


def notice(text: str) -> str:
    return f"*Note: {escape(text)}*"


def source_list(result: ChainResult) -> str:
    """``[n] title · source`` a line, under "Sources:"; empty when nothing was shown."""
    if not result.citations:
        return ""
    lines = [f"[{c.n}] {escape(c.title) or 'Untitled'} · {escape(c.source)}  " for c in result.citations]
    return "**Sources:**\n\n" + "\n".join(lines)
