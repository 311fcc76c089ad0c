"""``groundloop simulate`` on a tiny BEIR dataset whose judgements no search could guess.

The "right" documents are unrelated facts, so the offline answer never shows them: the simulated
reviewer attaches them to both feedback wordings of each question, and the memory should then
bring each one first for the third wording, which got no feedback.
"""

import json
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli

TOPICS = [  # three wordings of one question each: two get feedback, the third is measured
    ("How do I reset my router?", "What are the steps to restart my router?", "How can I reboot the router?"),
    ("Where do I send an invoice?", "To which address should invoices be sent?", "Where should an invoice go?"),
    ("How do I change my password?", "What is the way to update my password?", "How can I set a new password?"),
    ("How many vacation days do I get?", "How much annual leave do employees have?", "How many vacation days do employees get?"),
    ("Where can visitors park?", "Is there parking for guests?", "Where can guests park?"),
    ("Why is the printer jammed?", "What causes paper jams in the printer?", "How do I fix a printer jam?"),
]
FACTS = [
    "Emperor penguins breed during the Antarctic winter.", "Copper conducts electricity and heat very well.",
    "Sourdough bread rises because of wild yeast.", "Tides are caused by the gravitational pull of the moon.",
    "Basaltic lava is runny and flows far from the vent.", "Green tea is steeped at about 80 degrees Celsius.",
    "The Nile flows north into the Mediterranean Sea.", "Owls can turn their heads about 270 degrees.",
    "Glaciers carve U-shaped valleys as they retreat.", "Honey never spoils when it is sealed.",
    "Octopuses have three hearts and blue blood.", "Bamboo can grow almost a metre in one day.",
    "Saturn would float in a big enough bathtub.", "Bananas are botanically berries.",
    "Lightning is five times hotter than the Sun's surface.", "A day on Venus is longer than its year.",
    "Sharks existed before trees did.", "A group of flamingos is called a flamboyance.",
    "Hot water can freeze faster than cold water.", "Koalas sleep up to twenty hours a day.",
    "The Eiffel Tower grows taller in summer.", "Sea otters hold hands while they sleep.",
    "Wombats produce cube-shaped droppings.", "The heart of a blue whale is as big as a small car.",
    "Some turtles can breathe through their backsides.", "Venus spins in the opposite direction to Earth.",
    "Cows have best friends and get stressed apart.", "A teaspoon of neutron star weighs billions of tonnes.",
    "Butterflies taste with their feet.", "The oldest known tree is nearly five thousand years old.",
    "Snails can sleep for three years.", "Jupiter has the shortest day of all the planets.",
    "Crows can recognise human faces.", "Rain contains vitamin B12.",
    "Avocados are poisonous to many birds.", "The moon has moonquakes.",
]
RELEVANT = ["d7", "d2", "d11", "d0", "d14", "d9"]  # arbitrary: an unrelated fact is "the answer"


def tiny_beir(folder: Path) -> Path:
    folder.mkdir()
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": f"d{i}", "title": "", "text": fact}) + "\n" for i, fact in enumerate(FACTS))
    )
    queries, qrels = [], ["query-id\tcorpus-id\tscore"]
    for topic, (first, second, measured) in enumerate(TOPICS):
        for qid, text in ((2 * topic, first), (12 + 2 * topic, second), (2 * topic + 1, measured)):
            queries.append(json.dumps({"_id": str(qid), "text": text}))
            qrels.append(f"{qid}\t{RELEVANT[topic]}\t1")
    (folder / "queries.jsonl").write_text("\n".join(queries) + "\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "train.tsv").write_text("\n".join(qrels) + "\n")
    return folder


def test_feedback_on_two_wordings_finds_the_answer_for_the_third(tmp_path: Path, embeddings) -> None:
    dataset = tiny_beir(tmp_path / "tiny")
    shown = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path / "data"), "simulate", str(dataset), "--split-by-parity", "train", "--json"],
        catch_exceptions=False,
    )
    assert shown.exit_code == 0, shown.output
    result = json.loads(shown.stdout)
    assert result["feedback_queries"] == 12 and result["after"]["queries"] == 6
    assert result["before"]["ndcg@10"] < 0.6
    assert result["after"]["ndcg@10"] == 1.0  # every measured wording now finds its document first
    assert result["after"]["mrr@10"] == 1.0


def test_when_nobody_rates_the_reviewer_works_through_the_queue(tmp_path: Path, embeddings) -> None:
    """The check flags every answer here (no fact supports a question), so the queue holds them all."""
    dataset = tiny_beir(tmp_path / "tiny")
    shown = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path / "data"), "simulate", str(dataset), "--split-by-parity", "train", "--json",
              "--rate", "0", "--accounts", "4"],
        env={"GROUNDLOOP_REVIEW_UNSURE_SHARE": "0"}, catch_exceptions=False,
    )
    assert shown.exit_code == 0, shown.output
    result = json.loads(shown.stdout)
    assert (result["rated"], result["reviews"]) == (0, 12)
    assert result["after"]["ndcg@10"] == 1.0
