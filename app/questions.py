"""What counts as a question: checked once, before any work, for every entry point."""


from retrieval.errors import EmptyQuery, GroundloopError
from retrieval.text import looks_binary, normalize


class BadQuestion(GroundloopError):
    """A question that cannot be answered as typed; the message says how to fix it."""


class QuestionTooLong(BadQuestion):
    """Longer than the settings allow (the API answers 413)."""


def clean_question(text: str, *, max_chars: int) -> str:
    """The question, normalised; or BadQuestion with a short reason."""
    if len(text) > max_chars:
        raise QuestionTooLong(f"The question is too long ({len(text):,} characters; the limit is {max_chars:,}).")
    if looks_binary(text):
        raise BadQuestion("That does not look like a question: it contains binary data.")
    question = normalize(text)
    if not question:
        raise EmptyQuery()
    return question
