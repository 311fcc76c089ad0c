"""How much each account may teach: reviewers and agreement weigh strongly, a lone account weakly.

For each judged question and document, a vote is *trusted* when a reviewer gave it or when two
or more accounts agree on it; otherwise it belongs to the one account that gave it. Trusted
votes weigh 1 in the memory; an account's own votes weigh ``LONE`` and, together, at most a
share of everything a retrain learns (``account_share``, but never less than an equal share of
the accounts). The memory keeps who owns each entry, so at serving time a document that only
one account vouched for cannot enter the top 3 (see ``retrieval.memory``).

Held-out judgement weighs accounts the same way: each question belongs to the account that
judged most of it, and no account holds more than its share of the held-out weight.
"""

from dataclasses import dataclass

import numpy as np

from feedback.training import Judged

LONE = 0.5
"""A lone account's entry in the memory, against 1 for a reviewer's or two accounts' agreement."""
TRUSTED = ""
"""The owner of an entry that no single account owns."""


@dataclass
class Entry:
    """One memory entry: documents confirmed or rejected for one question, by one owner."""

    question: int
    positives: list[str]
    negatives: list[str]
    owner: str
    weight: float
    implicit: bool = False


def entries(judged: list[Judged], *, account_share: float) -> list[Entry]:
    """Memory entries for ``judged`` (a trusted one and one per lone account, per question), with
    each account's weight capped at its share of the whole."""
    made: list[Entry] = []
    for i, item in enumerate(judged):
        groups: dict[str, tuple[list[str], list[str]]] = {}
        for doc_id, votes in sorted(item.votes.items()):
            owner, label = _owner(votes, item.reviewers)
            if label:
                groups.setdefault(owner, ([], []))[0 if label > 0 else 1].append(doc_id)
        for owner, (positives, negatives) in groups.items():
            made.append(Entry(i, positives, negatives, owner, 1.0 if owner == TRUSTED else LONE))
        made += _opened(i, item)
    _cap([(e.owner, e) for e in made], account_share)
    return made


def question_owners(judged: list[Judged]) -> list[str]:
    """The account each question's judgement belongs to: the non-reviewer who gave most of its votes
    (``TRUSTED`` when only reviewers judged it)."""
    owners = []
    for item in judged:
        counts: dict[str, int] = {}
        for votes in item.votes.values():
            for account in votes:
                if account not in item.reviewers:
                    counts[account] = counts.get(account, 0) + 1
        owners.append(max(sorted(counts), key=counts.get) if counts else TRUSTED)
    return owners


def question_weights(owners: list[str], *, account_share: float, trusted: list[bool] | None = None) -> np.ndarray:
    """One weight per question: ``LONE`` for one whose relevant documents only its own account vouched
    for (1 when a reviewer or two accounts did), then capped so that no account holds more than its
    share of the total."""
    trusted = trusted if trusted is not None else [True] * len(owners)
    holders = [(owner, _Weight(1.0 if sure else LONE)) for owner, sure in zip(owners, trusted)]
    _cap(holders, account_share)
    return np.array([holder.weight for _, holder in holders])


def vouched(judged: list[Judged]) -> list[bool]:
    """Whether a reviewer or two accounts vouched for one of each question's relevant documents."""
    return [any(_owner(item.votes[doc], item.reviewers)[0] == TRUSTED for doc in item.positives if doc in item.votes)
            for item in judged]


@dataclass
class _Weight:
    weight: float


def _owner(votes: dict[str, float], reviewers: set[str]) -> tuple[str, float]:
    """Who owns the label on one document, and the label: a reviewer's decides; agreement is trusted."""
    reviewed = [vote for account, vote in votes.items() if account in reviewers]
    if reviewed:
        return TRUSTED, sum(reviewed)
    label = sum(votes.values())
    agreeing = sorted(account for account, vote in votes.items() if vote * label > 0)
    return (TRUSTED if len(agreeing) >= 2 else (agreeing[0] if agreeing else TRUSTED)), label


def _opened(question: int, item: Judged) -> list[Entry]:
    """Opened sources as implicit entries; a document opened by two accounts is trusted, as marks are."""
    by_owner: dict[str, list[tuple[str, float]]] = {}
    for doc_id, opens in sorted(item.opened.items()):
        if item.labels.get(doc_id):
            continue  # an explicit judgement says more than an open
        owner = TRUSTED if len(opens) >= 2 else next(iter(opens))
        by_owner.setdefault(owner, []).append((doc_id, max(opens.values())))
    return [Entry(question, [doc_id], [], owner, weight, implicit=True)
            for owner, opened in by_owner.items() for doc_id, weight in opened]


def _cap(holders: list[tuple[str, object]], account_share: float) -> None:
    """Scale each account's holders down until none holds more than its share of the total weight
    (``TRUSTED`` ones are never scaled); the share is at least an equal one among the accounts."""
    accounts = {owner for owner, _ in holders if owner != TRUSTED}
    if not accounts:
        return
    share = max(account_share, 1.0 / len(accounts))
    for _ in range(50):
        totals: dict[str, float] = {}
        for owner, holder in holders:
            totals[owner] = totals.get(owner, 0.0) + holder.weight
        whole = sum(totals.values())
        over = {owner: share * whole / total for owner, total in totals.items()
                if owner != TRUSTED and total > share * whole * (1 + 1e-9)}
        if not over:
            return
        for owner, holder in holders:
            if owner in over:
                holder.weight *= over[owner]
