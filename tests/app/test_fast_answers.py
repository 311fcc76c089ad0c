"""Answers read stored sentence vectors: the same answer and verdict as with vectors made on the fly,
and no source sentence embedded while a question waits."""

import json
from pathlib import Path

import pytest

from app import components
from app.answerers import ExtractiveAnswerer
from app.grounding import GroundingCheck
from retrieval.beir import load_split
from retrieval.ingest import ingest

ROOT = Path(__file__).resolve().parents[2]
SCIFACT = next((p / "shared" / "datasets" / "scifact" for p in (ROOT.parent, ROOT.parent.parent)
                if (p / "shared" / "datasets" / "scifact").is_dir()), ROOT / "missing")
CLAIMS = 50


def test_a_question_embeds_no_source_sentence(indexed) -> None:
    chain = components.chain(indexed)
    chain.warm_up()
    made = []
    real = chain.retriever.index.sentences.encode
    chain.retriever.index.sentences.encode = lambda texts: made.append(texts) or real(texts)
    result = chain.run("At what temperature is green tea steeped?")
    assert "80 degrees" in result.answer and result.verdict == "ok"
    assert made == []


@pytest.mark.skipif(not SCIFACT.is_dir(), reason="the SciFact dataset is not on this machine")
def test_stored_and_on_the_fly_vectors_give_the_same_answers_and_verdicts_on_scifact(settings, tmp_path: Path) -> None:
    beir = load_split(SCIFACT, "train")
    claims = [qid for qid in sorted(beir.queries, key=int)][:CLAIMS]
    wanted = {doc for qid in claims for doc in beir.qrels[qid]}
    corpus = tmp_path / "scifact" / "corpus.jsonl"
    corpus.parent.mkdir()
    with beir.corpus.open(encoding="utf-8") as lines, corpus.open("w", encoding="utf-8") as out:
        for i, line in enumerate(lines):
            if str(json.loads(line)["_id"]) in wanted or i < 50:  # the judged abstracts among others
                out.write(line)
    index = components.open_index(settings)
    ingest(index, [corpus], chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap, max_bytes=10**8)
    chain = components.chain(settings, index)
    model = chain.fallback.embeddings
    stored = ExtractiveAnswerer(model, vectors=index), GroundingCheck(model, vectors=index)
    fly = ExtractiveAnswerer(model), GroundingCheck(model)
    for qid in claims:
        claim = beir.queries[qid]
        sources = chain.retriever.invoke(claim)
        one, other = (answerer.answer(claim, sources) for answerer, _ in (stored, fly))
        assert one == other, claim
        verdicts = [check.check(one, sources, question=claim) for _, check in (stored, fly)]
        assert verdicts[0] == verdicts[1], claim


def test_an_answer_that_only_circles_the_question_is_flagged(embeddings) -> None:
    from langchain_core.documents import Document

    sources = [Document("Green tea is steeped at about 80 degrees Celsius for two minutes. Boiling water makes it bitter.",
                        metadata={"similarity": 0.5})]
    check = GroundingCheck(embeddings)
    answer = "Boiling water makes it bitter [1]."
    [reason] = check.check(answer, sources, question="Which way does the Nile flow?").reasons
    assert reason.startswith("the answer does not address the question (its closest sentence is")
    assert check.check("Green tea is steeped at about 80 degrees Celsius for two minutes [1].", sources,
                       question="At what temperature is green tea steeped?").reasons == []


def test_a_how_to_answer_without_the_sources_command_or_with_code_they_do_not_have_is_flagged(embeddings) -> None:
    from langchain_core.documents import Document

    sources = [Document("## Ingest\n\nFolders are searched recursively for supported files.\n\n```\n"
                        "groundloop ingest path/to/folder\n```\n", metadata={"similarity": 0.6})]
    check = GroundingCheck(embeddings)
    question = "How do I ingest a folder?"
    circling = check.check("Folders are searched recursively for supported files [1].", sources, question=question)
    assert circling.reasons == [
        "the question asks how to do something, but the answer gives none of the sources' commands or code"
    ]
    quoting = "Folders are searched recursively for supported files [1].\n\n```\ngroundloop ingest path/to/folder\n```"
    assert check.check(quoting, sources, question=question).reasons == []
    made_up = quoting.replace("ingest path/to/folder", "ingest --everything /")
    assert check.check(made_up, sources, question=question).reasons == [
        "quotes code that no shown source contains: “groundloop ingest --everything /”"
    ]


class _Recording:
    """The embedding model, noting every text it is asked to embed."""

    def __init__(self, model) -> None:
        self.model, self.texts = model, []

    def encode(self, texts: list[str], *, threads: int | None = None):
        self.texts += texts
        return self.model.encode(texts, threads=threads)

    def encode_questions(self, questions: list[str]):
        return self.model.encode_questions(questions)


def test_each_cited_sentence_is_a_claim_and_a_quoted_one_is_not_embedded_again(embeddings) -> None:
    from langchain_core.documents import Document

    from app.grounding import claims

    sources = [Document("The data folder holds the index and the feedback database.", metadata={"similarity": 0.6}),
               Document("`GROUNDLOOP_DATA_DIR` moves the data folder somewhere else.", metadata={"similarity": 0.6})]
    answer = ("The data folder holds the index and the feedback database [1]. "
              "`GROUNDLOOP_DATA_DIR` moves the data folder somewhere else [2].")
    assert [numbers for _, numbers in claims(answer)] == [[1], [2]]
    recording = _Recording(embeddings)
    verdict = GroundingCheck(recording).check(answer, sources, question="Where is the data folder?")
    assert verdict.reasons == []
    assert not [text for text in recording.texts if "holds" in text and "moves" in text]  # only the sources' own


@pytest.mark.parametrize("operators", [None, "3"])
def test_several_workers_compute_on_one_thread_each_unless_the_operator_said_otherwise(
    settings, monkeypatch: pytest.MonkeyPatch, operators: str | None
) -> None:
    import os

    import uvicorn

    from app import server

    monkeypatch.setattr(os, "environ", dict(os.environ))  # what run() sets for its workers stays in this test
    for name in server.ONE_THREAD_EACH:
        if operators is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, operators)
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(
        {name: os.environ.get(name) for name in server.ONE_THREAD_EACH}))
    server.run(settings.model_copy(update={"chroma_url": "http://127.0.0.1:9"}), host="127.0.0.1", port=9, workers=2)
    assert seen == {name: operators or "1" for name in server.ONE_THREAD_EACH}


def test_an_offline_server_starts_and_answers_without_loading_the_openai_client(indexed) -> None:
    import subprocess
    import sys

    probe = ("import sys; from pathlib import Path; import app.server; from app import components; "
             "from app.settings import Settings; "
             "chain = components.chain(Settings(data_dir=Path(sys.argv[1]), chroma_url=None)); "
             "print(chain.run('At what temperature is green tea steeped?').answerer); "
             "print(sorted({'openai', 'langchain_openai'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe, str(indexed.data_dir)], capture_output=True, text=True,
                          timeout=300, check=True)
    assert done.stdout.split("\n")[:2] == ["extractive", "[]"]
