"""How-to questions about groundloop's own guide (the demo corpus) are answered with the command
the best passage gives, whole; a follow-up is answered from its own new words."""

from pathlib import Path

import pytest

from app import components
from app.settings import Settings
from retrieval.ingest import ingest

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def chain(tmp_path_factory, embeddings):
    settings = Settings(data_dir=tmp_path_factory.mktemp("how-to") / "data", chroma_url=None)
    index = components.open_index(settings)
    ingest(index, [DOCS], chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap, max_bytes=10**8)
    return components.chain(settings, index)


@pytest.mark.parametrize(
    ("question", "command"),
    [
        ("How do I ingest a folder of PDFs?", "groundloop ingest path/to/folder"),
        ("How do I add a user?", "groundloop users add"),
        ("How can I export the answers as CSV?", "groundloop export --format csv"),
        ("How do I create an API key?", "groundloop keys create"),
    ],
)
def test_a_how_to_question_gets_the_command_whole_in_a_code_block(chain, question: str, command: str) -> None:
    result = chain.run(question)
    block = result.answer.split("```\n")[1]
    assert command in block and block.count("\n") == 1, result.answer
    assert result.verdict == "ok", result.reasons


def test_a_follow_up_is_answered_from_its_own_new_words(chain) -> None:
    first = chain.run("How do I retrain the ranker?")
    follow_up = chain.run("and how do I undo it?", [first.standalone_question])
    assert "groundloop rankers rollback" in follow_up.answer, follow_up.answer
    assert "groundloop rankers rollback" not in first.answer


def test_a_question_that_is_not_a_how_to_gets_no_code_block(chain) -> None:
    result = chain.run("What happens when a file changes?")
    assert "```" not in result.answer and "replaced" in result.answer
