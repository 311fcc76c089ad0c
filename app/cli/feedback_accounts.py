"""Whose feedback teaches the ranker: groundloop feedback accounts, exclude and include."""

from typing import Annotated

import typer
from rich.markup import escape

from retrieval.errors import GroundloopError

from app.cli.shell import out, state

group = typer.Typer(help="Whose feedback the ranker learns from: see, exclude, include.", no_args_is_help=True)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


@group.command("accounts")
def feedback_accounts(
    by: Annotated[str, typer.Option("--by", help="Order: volume (most feedback first) or disagreement.")] = "volume",
) -> None:
    """Every account that gave feedback: how much, and how often reviewers or other accounts judged
    the same question and source otherwise."""
    from rich.table import Table

    from feedback import stats

    if by not in ("volume", "disagreement"):
        raise GroundloopError(f"Unknown order '{by}': use volume or disagreement.")
    table = Table("account", "role", "feedback", "share", "questions", "against reviewers", "against others",
                  "learning")
    rows = stats.account_figures(state.root.database, by=by)
    table.columns[0].no_wrap, table.columns[0].min_width = True, max([len(r.identifier) for r in rows] + [7])
    for row in rows:
        table.add_row(
            escape(row.identifier), row.role, str(row.feedback), _percent(row.share), str(row.questions),
            f"{_percent(row.reviewer_disagreement)} of {row.with_reviewers}" if row.with_reviewers else "",
            f"{_percent(row.other_disagreement)} of {row.with_others}" if row.with_others else "",
            "excluded" if row.excluded else "included",
        )
    out.print(table)


@group.command("exclude")
def feedback_exclude(name: Annotated[str, typer.Argument(help="The account, as `groundloop users list` shows it.")]) -> None:
    """Keep the account's feedback stored but out of learning, from the next retrain on."""
    from feedback import accounts

    accounts.set_learning_excluded(state.root.database, identifier=name, excluded=True)
    out.print(f"{name}'s feedback is kept out of learning from the next retrain on.", highlight=False, markup=False)


@group.command("include")
def feedback_include(name: Annotated[str, typer.Argument(help="The account, as `groundloop users list` shows it.")]) -> None:
    """Let the account's feedback teach again, from the next retrain on."""
    from feedback import accounts

    accounts.set_learning_excluded(state.root.database, identifier=name, excluded=False)
    out.print(f"{name}'s feedback counts in learning again from the next retrain on.", highlight=False, markup=False)
