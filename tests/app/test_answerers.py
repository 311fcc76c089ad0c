"""The offline answerer: which sources an answer quotes and cites."""

from langchain_core.documents import Document

from app.answerers import ExtractiveAnswerer

QUESTION = "How hot should the water be for green tea?"
SOURCES = [
    Document("Green tea is brewed with water at about 80 degrees. Water for green tea should not boil. "
             "Hot water for green tea is cooled for a minute first."),
    Document("Green tea tastes best when the water is around 80 degrees Celsius."),
    Document("The Nile flows north into the Mediterranean Sea."),
]


def test_a_second_source_that_answers_well_is_cited_too_and_an_unrelated_one_is_not(embeddings) -> None:
    answer = ExtractiveAnswerer(embeddings, sentences=3).answer(QUESTION, SOURCES)
    assert "[2]" in answer and "[3]" not in answer
    assert answer.count("[1]") == 2 or answer.count("[1]") == 3


def test_without_a_well_answering_second_source_only_the_closest_sentences_are_quoted(embeddings) -> None:
    answerer = ExtractiveAnswerer(embeddings, sentences=3, source_relevance=1.0)
    answer = answerer.answer(QUESTION, SOURCES)
    assert answer.count("[") == 3 and "[3]" not in answer
