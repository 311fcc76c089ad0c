"""The attack on learning, at a small scale, through the real API and the real retrain.

Six topics, each with an answer no search would find (an unrelated fact, as in test_simulate).
Honest accounts ask two wordings of each (12 questions over three accounts), mark the shown
sources by the truth and rate down; a reviewer attaches the right fact. One attacker, through the
same API, asks the first wording of each topic five times with a phrase that surfaces an
unrelated note, marks the note relevant (and one right-looking source not), rates down and names
the note in a correction (30 questions, 120 pieces of feedback), and asks each topic's third
wording word for word, marking a shown wrong source relevant (6 more): 126 pieces against the
honest 96. Checked: without the attacker, the retrain brings each right fact to [1] of the third
wording (6 of 6); with the attacker's questions present, plain ``retrain`` does not activate, and a
forced ranker (the memory on) still brings each right fact to [1] (6 of 6) and puts neither the
note nor a planted source into the top 3 of the third wording asked by someone else (unless fusion
already had it there); excluding the attacker takes every entry of theirs out of the next ranker.
"""

import os
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import api, components, runtime
from feedback import accounts, keys, registry, reviews
from feedback.influence import TRUSTED
from retrieval import ranker_files
from retrieval.ingest import ingest
from retrieval.ranking import FusionRanker
from tests.app.test_simulate import FACTS, RELEVANT, TOPICS

PLANTED = "zorblax.md"
PHRASE = "zorblax flux capacitor recalibration"


@pytest.fixture
def team(settings, tmp_path: Path, embeddings):
    settings = settings.model_copy(update={"api_key_requests_per_minute": 10_000, "api_user_requests_per_minute": 10_000})
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n, fact in enumerate(FACTS):
        (corpus / f"d{n}.md").write_text(fact + "\n")
    (corpus / PLANTED).write_text("The zorblax flux capacitor recalibration is done every quarter by the crew.\n")
    ingest(components.open_index(settings), [corpus], chunk_size=2000, chunk_overlap=200, max_bytes=10**6)
    runtime.configure(settings)
    db = runtime.database()
    site = FastAPI()
    site.include_router(api.router)
    client = TestClient(site)
    headers = {}
    accounts.add_user(db, identifier="rita", role="reviewer")
    for name in ("ann", "ben", "cat", "mallory"):
        accounts.add_user(db, identifier=name)
        headers[name] = {"Authorization": f"Bearer {keys.create_key(db, identifier=name, scopes='ask,feedback')[1]}"}
    return settings, db, client, headers, {name: str((corpus / name).resolve()) for name in os.listdir(corpus)}


def ask(client, headers, question: str) -> dict:
    response = client.post("/api/v1/ask", json={"question": question}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def feedback(client, headers, answer: dict, **body) -> None:
    response = client.post(f"/api/v1/answers/{answer['answer_id']}/feedback", json=body, headers=headers)
    assert response.status_code == 200, response.text


def ranks(answer: dict) -> list[str]:
    return [c["doc_id"] for c in sorted(answer["citations"], key=lambda c: c["n"])]


def test_one_account_cannot_steer_what_others_are_shown(team) -> None:
    settings, db, client, headers, docs = team
    rita = accounts.get_user(db, identifier="rita").id
    right = [docs[f"{RELEVANT[topic]}.md"] for topic in range(len(TOPICS))]
    honest = 0
    for topic, wordings in enumerate(TOPICS):
        for n, question in enumerate(wordings[:2]):
            person = ("ann", "ben", "cat")[(2 * topic + n) % 3]
            answer = ask(client, headers[person], question)
            feedback(client, headers[person], answer, thumb="down", opened=[1],
                     sources=[{"n": c["n"], "relevant": c["doc_id"] == right[topic]} for c in answer["citations"]])
            reviews.record_review(db, answer_id=answer["answer_id"], reviewer_id=rita, decision="approved",
                                  text=None, doc_ids=[right[topic]])
            honest += 3 + len(answer["citations"])
    measured = {wordings[2]: right[topic] for topic, wordings in enumerate(TOPICS)}
    before = {question: ranks(ask(client, headers["ann"], question)) for question in measured}

    pieces, planted = 0, {}
    for topic, wordings in enumerate(TOPICS):
        question = wordings[0]
        for wording in (f"{question} {PHRASE}", f"{question.rstrip('?')} and {PHRASE}?", f"{PHRASE}: {question}",
                        f"{question} ({PHRASE})", f"About {PHRASE}, {question}"):
            answer = ask(client, headers["mallory"], wording)
            shown = {c["doc_id"]: c["n"] for c in answer["citations"]}
            assert docs[PLANTED] in shown  # the phrase surfaces it
            marks = [{"n": shown[docs[PLANTED]], "relevant": True}] + [
                {"n": n, "relevant": False} for doc, n in shown.items() if doc != docs[PLANTED]][:1]
            feedback(client, headers["mallory"], answer, thumb="down", sources=marks,
                     correction={"text": f"See the note on {PHRASE}.", "sources": [shown[docs[PLANTED]]]})
            pieces += 2 + len(marks)
        answer = ask(client, headers["mallory"], wordings[2])
        wrong = answer["citations"][-1]
        planted[wordings[2]] = wrong["doc_id"]
        feedback(client, headers["mallory"], answer, sources=[{"n": wrong["n"], "relevant": True}])
        pieces += 1
    assert (pieces, honest) == (120 + 6, 96)  # the attacker gives most of the feedback

    accounts.set_learning_excluded(db, identifier="mallory", excluded=True)  # what honest people alone teach
    registry.retrain(db, runtime.chain().retriever, settings.rankers_dir, active=FusionRanker(),
                     account_share=settings.learning_account_share, force=True)
    honest_only = {question: ranks(ask(client, headers["ann"], question)) for question in measured}
    assert all(shown[0] == measured[question] for question, shown in honest_only.items())
    accounts.set_learning_excluded(db, identifier="mallory", excluded=False)

    plain = registry.retrain(db, runtime.chain().retriever, settings.rankers_dir, active=FusionRanker(),
                             account_share=settings.learning_account_share)
    assert not plain.activated

    forced = registry.retrain(db, runtime.chain().retriever, settings.rankers_dir, active=FusionRanker(),
                              account_share=settings.learning_account_share, force=True)
    assert forced.activated and forced.choices["strength"] > 0  # the memory serves
    for question in measured:
        shown = ranks(ask(client, headers["ann"], question))
        assert shown[0] == measured[question], question  # honest people lose nothing to the attacker
        assert docs[PLANTED] not in shown[:3] or docs[PLANTED] in before[question][:3], question
        assert planted[question] not in shown[:3] or planted[question] in before[question][:3], question

    mallory = accounts.get_user(db, identifier="mallory").id
    assert mallory in ranker_files.load(settings.rankers_dir / forced.version).memory.owners
    accounts.set_learning_excluded(db, identifier="mallory", excluded=True)
    after = registry.retrain(db, runtime.chain().retriever, settings.rankers_dir, active=FusionRanker(),
                             account_share=settings.learning_account_share, force=True)
    owners = ranker_files.load(settings.rankers_dir / after.version).memory.owners
    assert mallory not in owners and set(owners) <= {TRUSTED} | {
        accounts.get_user(db, identifier=name).id for name in ("ann", "ben", "cat")}
