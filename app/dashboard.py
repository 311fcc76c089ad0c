"""The dashboard at /review/dashboard: how the feedback loop is doing, drawn on the server.

Plots are matplotlib SVGs (no JavaScript, nothing from other hosts), shown as images beside
the same figures in a table. Only days with answers or feedback are drawn and listed (quiet days
are folded), each labelled with its date, and the year only when the days span more than one.
Reviewers and admins only, with the review pages' sign-in.
"""

import base64
import io
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated

import matplotlib
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from matplotlib.figure import Figure

from app.review import reviewer_dependency
from feedback import sources, stats
from feedback.db import Database
from feedback.models import User

matplotlib.use("Agg")
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller files, readable labels
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.filters["counted"] = lambda n, one, many=None: f"{n} {one if n == 1 else (many or one + 's')}"
KIND_LABELS = {"thumb_up": "thumb up", "thumb_down": "thumb down", "comment": "comment",
               "source_relevant": "source relevant", "source_not_relevant": "source not relevant",
               "correction": "correction"}


def router(db: Callable[[], Database], secret: Callable[[], str]) -> APIRouter:
    Reviewer = Annotated[User, Depends(reviewer_dependency(db, secret))]
    pages = APIRouter(prefix="/review", include_in_schema=False)

    @pages.get("/dashboard", response_class=HTMLResponse)
    async def dashboard(request: Request, user: Reviewer, days: Annotated[int, Query(ge=1, le=366)] = 30):
        figures = await run_in_threadpool(_figures, db(), days)
        return TEMPLATES.TemplateResponse(request, "dashboard.html",
                                          {"user": user, "days": days, "nav": "dashboard", **figures})

    return pages


def _figures(db: Database, days: int) -> dict:
    daily = [day for day in stats.daily(db, days=days) if day.answers or any(day.feedback.values())]
    rankers = stats.ranker_versions(db)
    totals = stats.feedback_by_kind(db)
    verdicts = stats.answers_by_verdict(db)
    answers, flagged = sum(verdicts.values()), verdicts.get("flagged", 0)
    thumbs = totals["thumb_up"] + totals["thumb_down"]
    return {
        "sources": _sources(db),
        "accounts": _accounts(db),
        "daily": daily,
        "rankers": rankers,
        "totals": {KIND_LABELS[kind]: n for kind, n in totals.items()},
        "answers": answers,
        "flagged": flagged,
        "flagged_share": flagged / answers if answers else None,
        "thumbs": thumbs,
        "thumbs_up_share": totals["thumb_up"] / thumbs if thumbs else None,
        "plots": {
            "Feedback per day, by kind": _feedback_plot(daily),
            "Share of thumbs up and of answers flagged, per day": _shares_plot(daily),
            "Held-out nDCG@10 per ranker version": _ranker_plot(rankers),
        },
    }


def _sources(db: Database) -> list[dict]:
    """Each source with its state, the error of a failing one, and what its last sync did."""
    last = sources.last_runs(db)
    return [{"source": source, "state": sources.state(source), "run": last.get(source.name)}
            for source in sources.list_sources(db)]


def _accounts(db: Database, shown: int = 20) -> dict[str, list[stats.AccountFigures]]:
    """The accounts that gave most feedback, and those that disagree most, ``shown`` of each."""
    by_volume = stats.account_figures(db, by="volume")
    if not by_volume:
        return {}
    return {"volume": by_volume[:shown], "disagreement": stats.account_figures(db, by="disagreement")[:shown]}


def _feedback_plot(daily: list[stats.Day]) -> str:
    def draw(axes, at: list[int]) -> None:
        bottom = [0] * len(daily)
        for kind, label in KIND_LABELS.items():
            counts = [d.feedback[kind] for d in daily]
            if any(counts):
                axes.bar(at, counts, bottom=bottom, label=label, width=0.6)
                bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        axes.yaxis.get_major_locator().set_params(integer=True)

    return _per_day(daily, "feedback given", draw)


def _shares_plot(daily: list[stats.Day]) -> str:
    def draw(axes, at: list[int]) -> None:
        for share, label in ((lambda d: d.thumbs_up_share, "thumbs up (of thumbs)"),
                             (lambda d: d.flagged_share, "answers flagged (of answers)")):
            values = [share(d) for d in daily]
            axes.plot(at, [100 * v if v is not None else float("nan") for v in values], marker="o", label=label)
        axes.set_ylim(0, 100)

    return _per_day(daily, "%", draw)


def _per_day(daily: list[stats.Day], ylabel: str, draw: Callable[[object, list[int]], None]) -> str:
    """A plot over the days that had anything, one labelled slot each, its legend beside it."""
    figure, axes = _figure()
    if not daily:
        axes.text(0.5, 0.5, "Nothing yet in the days shown", ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
        axes.set_yticks([])
        return _svg(figure)
    at = list(range(len(daily)))
    draw(axes, at)
    axes.set_ylabel(ylabel)
    axes.set_xticks(at, day_labels([d.day for d in daily]))
    axes.set_xlim(-0.7, max(len(daily), 4) - 0.3)  # one day is a bar, not the whole width
    if len(daily) > 8:
        axes.tick_params(axis="x", labelrotation=30)
    if axes.get_legend_handles_labels()[0]:
        figure.legend(loc="outside right upper", fontsize="small")
    return _svg(figure)


def day_labels(days: list[date]) -> list[str]:
    """"2 Dec" for each day; with the year ("2 Dec 2026") when the days span more than one year."""
    years = {d.year for d in days}
    return [f"{d.day} {d:%b}" + (f" {d.year}" if len(years) > 1 else "") for d in days]


def _ranker_plot(rankers: list[stats.RankerVersion]) -> str:
    figure, axes = _figure()
    measured = [r for r in rankers if r.held_out_ndcg is not None]
    if measured:
        colours = ["tab:green" if r.status == "active" else "tab:gray" for r in measured]
        axes.bar([r.version for r in measured], [r.held_out_ndcg for r in measured], color=colours)
        axes.tick_params(axis="x", labelrotation=45, labelsize="small")
        axes.set_title("green: the active version", fontsize="small")
    else:
        axes.text(0.5, 0.5, "No ranker trained yet", ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
    axes.set_ylim(0, 1)
    axes.set_ylabel("nDCG@10")
    return _svg(figure)


def _figure() -> tuple[Figure, object]:
    figure = Figure(figsize=(9, 3.2), layout="constrained")
    return figure, figure.add_subplot()


def _svg(figure: Figure) -> str:
    """The figure as an image URL; an image cannot run anything that the SVG might contain."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
