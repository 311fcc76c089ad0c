"""A simulated user and reviewer, judging answers by a benchmark's relevance judgements.

The loop goes through the product's own code: the chain answers (handed in as a function),
and every answer, mark, thumb and review is written by the feedback writers, as people's are.
"""

from collections.abc import Callable
from dataclasses import dataclass

from feedback import accounts, answer_log, opinions, reviews
from feedback.db import Database
from feedback.results import AnswerResult

USER, REVIEWER = "simulated-user", "simulated-reviewer"


@dataclass
class Tally:
    questions: int = 0
    marks: int = 0
    thumbs_up: int = 0
    reviews: int = 0


def simulated_people(db: Database) -> tuple[str, str]:
    """Ids of the simulated user and reviewer, created on first use."""
    ids = []
    for name, role in ((USER, "user"), (REVIEWER, "reviewer")):
        user = accounts.get_user(db, identifier=name) or accounts.add_user(db, identifier=name, role=role)
        ids.append(user.id)
    return ids[0], ids[1]


def give_feedback(
    db: Database,
    *,
    ask: Callable[[str], AnswerResult],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    progress: Callable[[int], None] | None = None,
) -> Tally:
    """For each query: ask; mark each cited source relevant or not; thumb up if any was relevant, else
    down; when no shown source was relevant, a reviewer attaches the relevant documents."""
    user_id, reviewer_id = simulated_people(db)
    tally = Tally()
    for qid, question in queries.items():
        result = ask(question)
        relevant = {doc for doc, grade in qrels.get(qid, {}).items() if grade > 0}
        answer = answer_log.record_result(db, result, user_id=user_id)
        cited = [c for c in result.citations if c.cited]
        for citation in cited:
            opinions.record_source_mark(
                db, answer_id=answer.id, user_id=user_id, rank=citation.n, relevant=citation.doc_id in relevant
            )
        up = any(c.doc_id in relevant for c in cited)
        opinions.record_thumb(db, answer_id=answer.id, user_id=user_id, up=up)
        if relevant and not relevant.intersection(c.doc_id for c in result.citations):
            reviews.record_review(
                db, answer_id=answer.id, reviewer_id=reviewer_id, decision="approved", text=None, doc_ids=sorted(relevant)
            )
            tally.reviews += 1
        tally.questions += 1
        tally.marks += len(cited)
        tally.thumbs_up += up
        if progress:
            progress(1)
    return tally
