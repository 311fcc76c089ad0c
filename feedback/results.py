"""What the chain hands to the feedback writers: one answer as it was shown, typed and frozen.

The chain builds it (``app.chain`` knows it as ``ChainResult``) and ``answer_log.record_result``
stores it as it is, so no field is mapped by name from a dict anywhere on the way.
"""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ShownSource:
    """A source shown with an answer, as ``[n]``."""

    n: int
    doc_id: str
    title: str
    source: str
    text: str
    score: float
    similarity: float
    rank: int
    chunk_id: str
    cited: bool
    path: str = ""
    """The source's path in the folder it was ingested from (never the server's own path)."""
    groups: tuple[str, ...] = ("everyone",)
    """The groups that may see the source (kept with the answer's record of what it showed)."""


@dataclass(frozen=True)
class AnswerResult:
    question: str
    standalone_question: str
    answer: str
    citations: list[ShownSource]
    verdict: str
    reasons: list[str]
    timings_ms: dict[str, float]
    answerer: str
    ranker_version: str
    notice: str | None = None
    verified: bool = False
    """The answer is a reviewer's approved correction to a question close to this one."""

    def to_dict(self) -> dict:
        """For printing as JSON (``groundloop ask --json``); the writers take the object itself."""
        return asdict(self)
