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

SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "scifact"
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
            if str(json.loads(line)["_id"]) in wanted or i < 150:  # the judged abstracts among others
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
