"""How much one account may teach: agreement outweighs volume, shares are capped, exclusion is an event."""

import numpy as np
import pytest
from sqlmodel import select

from feedback import accounts, opinions, reviews
from feedback.influence import LONE, TRUSTED, entries, question_owners, question_weights
from feedback.learning import choose, lone_gain, split
from feedback.models import Event
from feedback.training import judged_questions
from retrieval.memory import FeedbackMemory
from retrieval.ranking import guard_top

QUESTION = "Why is the sky blue?"


def memory(judged, share: float = 0.1) -> FeedbackMemory:
    """A memory whose every entry is the same question (so similarity is 1 everywhere)."""
    made = entries(judged, account_share=share)
    return FeedbackMemory(np.ones((len(made), 1), dtype=np.float32), [e.positives for e in made],
                          [e.negatives for e in made], [], [e.owner for e in made],
                          np.array([e.weight for e in made]), np.array([e.question for e in made]))


def test_equal_labels_from_two_accounts_outweigh_many_from_one(db, alice, bob, make_answer) -> None:
    carol = accounts.add_user(db, identifier="carol")
    for person in (alice, bob):  # two accounts: doc-1 is relevant, once each
        answer = make_answer(person, question=QUESTION)
        opinions.record_source_mark(db, answer_id=answer.id, user_id=person.id, rank=1, relevant=True)
    for n in range(30):  # one account, thirty times and in ten wordings: doc-2 is
        answer = make_answer(carol, question=f"{QUESTION} ({n % 10})")
        opinions.record_source_mark(db, answer_id=answer.id, user_id=carol.id, rank=2, relevant=True)

    boosts = memory(judged_questions(db)).boosts(np.ones(1), [], threshold=0.5, strength=1.0)
    assert boosts["doc-1"] == 1.0  # agreement: trusted, full strength
    assert boosts["doc-2"] <= LONE  # however often one account says it
    assert boosts.lone == {"doc-2"}


def test_a_reviewer_decides_and_one_account_is_capped_at_its_share(db, alice, bob, make_answer) -> None:
    rita = accounts.add_user(db, identifier="rita", role="reviewer")
    accounts_ = [alice, bob] + [accounts.add_user(db, identifier=f"user-{n}") for n in range(8)]
    for n, person in enumerate(accounts_):
        answer = make_answer(person, question=f"Question {n}?")
        opinions.record_source_mark(db, answer_id=answer.id, user_id=person.id, rank=1, relevant=True)
    for n in range(90):  # alice asks ninety more
        answer = make_answer(alice, question=f"Alice's question {n}?")
        opinions.record_source_mark(db, answer_id=answer.id, user_id=alice.id, rank=2, relevant=True)
    reviewed = make_answer(bob, question="Reviewed?")
    opinions.record_source_mark(db, answer_id=reviewed.id, user_id=bob.id, rank=3, relevant=False)
    reviews.record_review(db, answer_id=reviewed.id, reviewer_id=rita.id, decision="approved", text=None,
                          doc_ids=["doc-3"])

    judged = judged_questions(db)
    made = entries(judged, account_share=0.1)
    total = sum(e.weight for e in made)
    assert sum(e.weight for e in made if e.owner == alice.id) <= 0.1 * total + 1e-6
    [trusted] = [e for e in made if e.owner == TRUSTED]
    assert (trusted.positives, trusted.weight) == (["doc-3"], 1.0)  # the reviewer's word stands against bob's mark

    owners = question_owners(judged)
    weights = question_weights(owners, account_share=0.1)
    assert sum(w for w, o in zip(weights, owners) if o == alice.id) <= 0.1 * weights.sum() + 1e-6


def test_a_gain_from_one_account_alone_is_named() -> None:
    owners = ["mallory"] * 8 + ["alice", "bob"]
    weights = np.ones(10)
    active = np.full(10, 0.5)
    assert lone_gain(np.where(np.arange(10) < 8, 1.0, 0.5), active, owners, weights) == "mallory"
    assert lone_gain(np.where(np.arange(10) < 8, 1.0, 0.6), active, owners, weights) is None  # others gain too
    assert lone_gain(active, active, owners, weights) is None  # no gain at all


def test_a_lone_document_stays_out_of_the_top_three_it_was_not_in() -> None:
    doc_ids = ["a", "b", "c", "d", "pushed"]
    base = np.array([0.9, 0.8, 0.7, 0.6, 0.1], dtype=np.float32)
    boosts = {"pushed": 2.0}
    scores = guard_top(base + np.array([0, 0, 0, 0, 2.0], dtype=np.float32), base, doc_ids, boosts, {"pushed"})
    assert [doc_ids[i] for i in np.argsort(-scores)][:3] == ["a", "b", "c"]
    assert scores[4] > scores[3]  # still lifted, just not into the top 3
    already = guard_top(np.array([0.9, 0.8, 0.7, 0.6, 0.85 + 1.0], dtype=np.float32),
                        np.array([0.9, 0.8, 0.7, 0.6, 0.85], dtype=np.float32), doc_ids, {"pushed": 1.0}, {"pushed"})
    assert int(np.argmax(already)) == 4  # in the top 3 on its own: it may move up within it


def test_exclusion_is_an_event_and_takes_the_accounts_votes_out(db, alice, bob, make_answer) -> None:
    for person, relevant in ((alice, True), (bob, False)):
        answer = make_answer(person, question=QUESTION)
        opinions.record_source_mark(db, answer_id=answer.id, user_id=person.id, rank=1, relevant=relevant)
    assert judged_questions(db)[0].votes["doc-1"] == {alice.id: 1.0, bob.id: -1.0}

    accounts.set_learning_excluded(db, identifier="bob", excluded=True)
    assert accounts.excluded_from_learning(db) == {bob.id}
    assert judged_questions(db)[0].votes["doc-1"] == {alice.id: 1.0}
    assert len(opinions.feedback_on(db, answer_id=answer.id)) == 1  # bob's mark is kept

    accounts.set_learning_excluded(db, identifier="bob", excluded=False)
    assert accounts.excluded_from_learning(db) == set()
    with db.read() as session:
        actions = [e.action for e in session.exec(select(Event).where(Event.subject_id == bob.id).order_by(Event.id))]
    assert actions[-2:] == ["learning_excluded", "learning_included"]


def test_an_open_is_one_row_per_person_and_source_and_weighs_more_further_down(db, alice, make_answer) -> None:
    answer = make_answer(alice, sources=5)
    first = opinions.record_source_open(db, answer_id=answer.id, user_id=alice.id, rank=4)
    again = opinions.record_source_open(db, answer_id=answer.id, user_id=alice.id, rank=4)
    opinions.record_source_open(db, answer_id=answer.id, user_id=alice.id, rank=1)
    assert first.id == again.id and again.updated_at >= first.updated_at
    assert [(f.kind, f.doc_ids) for f in opinions.feedback_on(db, answer_id=answer.id)] == [
        ("source_open", ["doc-4"]), ("source_open", ["doc-1"])]
    [judged] = judged_questions(db)
    assert judged.labels == {} and judged.opened["doc-4"][alice.id] > judged.opened["doc-1"][alice.id] > 0


def test_one_account_lends_its_heaviest_confirmation_less_its_heaviest_rejection() -> None:
    """In whichever order its entries come: one account cannot outvote itself by asking more."""
    same = np.ones((3, 1), dtype=np.float32)
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        positives, negatives, weights = [["a"], ["a"], []], [[], [], ["a"]], [0.5, 0.3, 0.2]
        memory = FeedbackMemory(same, [positives[i] for i in order], [negatives[i] for i in order], [],
                                ["mallory"] * 3, np.array([weights[i] for i in order]))
        boosts = memory.boosts(np.ones(1), [], threshold=0.5, strength=1.0, reject_threshold=0.5)
        assert boosts == pytest.approx({"a": 0.5 - 0.2}) and boosts.lone == {"a"}


def test_an_option_only_one_accounts_questions_make_better_is_not_chosen() -> None:
    owners = [f"user-{n % 10}" for n in range(40)] + ["mallory"] * 40
    weights = question_weights(owners, account_share=0.1)
    unseen = np.zeros(80, dtype=bool)
    scores = {
        "current": np.full(80, 0.5),
        "swayed": np.where(np.arange(80) >= 40, 0.9, 0.5),  # better on mallory's questions only
        "steady": np.full(80, 0.55),
    }
    assert choose(["current", "swayed"], scores.get, unseen, weights, owners) == "current"
    assert choose(["current", "swayed", "steady"], scores.get, unseen, weights, owners) == "steady"
    assert choose(["current", "swayed"], scores.get, unseen) == "swayed"  # counted by rows, it would win


def test_one_accounts_new_topics_cannot_veto_what_the_others_gain() -> None:
    owners = [f"user-{n % 10}" for n in range(40)] + ["mallory"] * 10
    weights = question_weights(owners, account_share=0.1)
    unseen = np.arange(50) >= 36  # four of the others' questions are new topics, and all of mallory's
    scores = {"current": np.full(50, 0.5), "better": np.where(np.arange(50) >= 40, 0.2, 0.6)}
    assert choose(["current", "better"], scores.get, unseen, weights, owners) == "better"
    everyone_loses = np.where(unseen, 0.4, 0.6)
    assert choose(["current", "unfair"], {**scores, "unfair": everyone_loses}.get, unseen, weights, owners) == "current"


def test_the_held_out_slice_is_each_accounts_newest_fifth() -> None:
    owners = [f"user-{n % 4}" for n in range(40)] + ["mallory"] * 60  # mallory gives the newest feedback
    train, held_out = split(owners)
    held = [owners[i] for i in held_out]
    assert {account: held.count(account) for account in set(held)} == {**{f"user-{n}": 2 for n in range(4)}, "mallory": 12}
    assert all(i > max(j for j in train if owners[j] == owners[i]) for i in held_out)  # each account's newest
    assert len(split(["ann", "ann"])[1]) == 1
