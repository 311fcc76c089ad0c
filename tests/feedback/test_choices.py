"""How learning chooses: away from the simpler option only when clearly better and fair to new topics."""

import numpy as np

from feedback.learning import choose, clearly_better

UNSEEN = np.array([True] * 5 + [False] * 15)


def test_a_gain_on_one_question_is_luck_and_a_gain_on_most_is_not() -> None:
    base = np.full(20, 0.5)
    assert not clearly_better(np.where(np.arange(20) == 0, 1.0, 0.5), base)
    assert clearly_better(np.where(np.arange(20) < 15, 0.7, 0.5), base)
    assert not clearly_better(base - 0.1, base)


def test_the_first_option_stays_unless_another_is_clearly_better_and_keeps_new_topics() -> None:
    scores = {
        "simple": np.full(20, 0.5),
        "lucky": np.where(np.arange(20) == 19, 1.0, 0.5),
        "steady": np.where(UNSEEN, 0.5, 0.6),
        "unfair": np.where(UNSEEN, 0.4, 0.9),
    }
    assert choose(["simple", "lucky"], scores.get, UNSEEN) == "simple"
    assert choose(["simple", "lucky", "steady"], scores.get, UNSEEN) == "steady"
    assert choose(["simple", "unfair"], scores.get, UNSEEN) == "simple"  # best on average, but new topics lose
    assert choose(["simple", "steady", "unfair"], scores.get, UNSEEN) == "steady"  # the best of the fair ones
