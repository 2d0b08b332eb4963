"""What each console page shows, gathered from the live script and the store the line writes."""

from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import pygal
from pygal.style import Style

from .. import operations, stats
from ..hours import status_line, week_lines
from ..store import Store, StoreDown
from .picture import picture

# pygal hooks every import in the process to offer its map plugins (pygal.maps.*), with an
# old-style finder that makes Python warn on each unknown module; the console uses no maps.
sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, pygal.PluginImportFixer)]

__all__ = ["chart", "picture", "today", "usage", "usage_csv", "usage_days"]
USAGE_DAYS = (7, 30, 90)
CHART_STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#1b1b1b", foreground_strong="#1b1b1b",
    foreground_subtle="#6b6b6b", colors=("#1d4f91", "#c4451c", "#2d7d46", "#7a3f98", "#8a6d00", "#4d4d4d"),
    font_family="sans-serif", label_font_size=15, major_label_font_size=15, legend_font_size=16,
    value_font_size=15, title_font_size=19,
)


@dataclass(frozen=True)
class Today:
    """The facts on the Today page."""

    ready: bool
    prompts: str
    store: str
    findings: list[operations.Finding]
    problems: list[str]
    status: str
    is_open: bool
    week: list[str]
    counts: dict[str, Any]


def today(resources: Any, now: datetime) -> Today:
    """Gather readiness (as /readyz and `ivr doctor` see it), the hours and today's counts."""
    live = resources.live
    script = live.current()
    problems = [str(problem) for problem in sorted(live.problems)]
    store_ok, store_words = _store_state(resources.store)
    if script is None:
        prompts = "The prompt files are broken and no good copy is kept: callers hear the fixed fallback."
    elif live.ready:
        prompts = "The prompt files are loaded."
    else:
        prompts = "The prompt files have errors: the line keeps using the last good copy."
    counts = usage(resources.store, now, 1).rows[-1]
    return Today(
        ready=bool(live.ready and store_ok), prompts=prompts, store=store_words,
        findings=operations.diagnose(os.environ), problems=problems,
        status=status_line(script.hours, now, script.default.when) if script else "unknown: no prompt files",
        is_open=bool(script and script.hours.is_open(now)),
        week=week_lines(script.hours, now) if script else [], counts=counts,
    )


def _store_state(store: Store) -> tuple[bool, str]:
    try:
        milliseconds = store.ping() * 1000
    except StoreDown as error:
        return False, f"The session store does not answer ({error}): calls still work, without memory."
    return True, f"The session store answers ({milliseconds:.1f} ms)."


@dataclass(frozen=True)
class Usage:
    """Daily counts for a run of days, oldest first, shaped exactly as `ivr stats --json`."""

    days: int
    rows: list[dict[str, Any]]
    error: str

    @property
    def topics(self) -> list[str]:
        """Name every topic counted in these days."""
        return sorted({name for row in self.rows for name in row["topics"]})

    @property
    def channels(self) -> list[str]:
        """Name every channel a topic was chosen on in these days."""
        return sorted({channel for row in self.rows for counts in row["topics"].values() for channel in counts})

    def total(self, field: str) -> int:
        """Add up one plain count over the days."""
        return sum(row[field] for row in self.rows)


def usage_days(value: str | None) -> int:
    """Read the days asked for: 7, 30 or 90 (7 for anything else)."""
    return int(value) if value in {str(days) for days in USAGE_DAYS} else USAGE_DAYS[0]


def usage(store: Store, now: datetime, days: int) -> Usage:
    """Read the last days' counts from the store the line writes."""
    wanted = stats.days_back(now.astimezone(stats.LONDON).date(), days)
    try:
        raw = store.counts([stats.day_key(day) for day in wanted])
        error = ""
    except StoreDown as failure:
        raw, error = [{} for _ in wanted], f"The store did not answer ({failure}): the counts show as 0."
    rows = [stats.summary(day, counts) for day, counts in zip(wanted, raw, strict=True)]
    return Usage(days, rows, error)


def columns(data: Usage) -> list[tuple[str, Any]]:
    """Name each table column and how to read it from a day."""
    found: list[tuple[str, Any]] = [
        ("date", lambda row: row["date"]),
        ("calls", lambda row: row["calls"]),
        ("texts", lambda row: row["texts"]),
        ("calls without a topic", lambda row: row["calls_without_topic"]),
    ]
    for topic in data.topics:
        for channel in data.channels:
            found.append((f"{topic} ({channel})", _topic_reader(topic, channel)))
    for outcome in stats.TRANSFER_OUTCOMES:
        found.append((f"transfers {outcome}", _transfer_reader(outcome)))
    return found


def _topic_reader(topic: str, channel: str) -> Any:
    return lambda row: row["topics"].get(topic, {}).get(channel, 0)


def _transfer_reader(outcome: str) -> Any:
    return lambda row: row["transfers"][outcome]


def table(data: Usage) -> tuple[list[str], list[list[Any]]]:
    """Lay the days out as a header and rows."""
    found = columns(data)
    return [name for name, _ in found], [[read(row) for _, read in found] for row in data.rows]


def usage_csv(data: Usage) -> str:
    """Write the table as CSV."""
    head, rows = table(data)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(rows)
    return out.getvalue()


CHARTS = {
    "daily": "Calls and texts each day",
    "topics": "Topics chosen, by channel",
    "transfers": "Transfers to the helpline, by outcome",
}


def chart(name: str, data: Usage) -> str | None:
    """Draw one of the usage charts as SVG (None for an unknown chart)."""
    drawing = {"daily": _daily, "topics": _topics, "transfers": _transfers}.get(name)
    if drawing is None:
        return None
    figure, highest = drawing(data)
    figure.title = CHARTS[name]
    figure.y_labels = _whole_numbers(highest)
    return _without_scripts(figure.render_tree())


def _without_scripts(tree: Any) -> str:
    """Write the chart's SVG without the script pygal adds for its tooltips (the console runs none)."""
    for parent in list(tree.iter()):
        for child in [child for child in parent if child.tag == "script"]:
            parent.remove(child)
    return ElementTree.tostring(tree, encoding="unicode")


def _whole_numbers(highest: int, most: int = 8) -> list[int]:
    """Label the count axis with whole numbers only, at most about `most` of them."""
    step = max(1, -(-max(highest, 1) // most))
    return list(range(0, max(highest, 1) + step, step))


def _config(**extra: Any) -> dict[str, Any]:
    settings = {
        "style": CHART_STYLE, "js": [], "width": 800, "height": 360, "print_values": False,
        "legend_at_bottom": True, "truncate_legend": -1, "show_y_guides": True, "min_scale": 1,
        "value_formatter": lambda value: f"{value:.0f}", "explicit_size": False,
        "print_zeroes": False,
    }
    settings.update(extra)
    return settings


def _daily(data: Usage) -> tuple[Any, int]:
    labels = [row["date"][5:] for row in data.rows]
    figure = pygal.Bar(**_config(x_label_rotation=-45 if data.days > 7 else 0, show_minor_x_labels=data.days <= 30,
                                 x_labels_major_every=7 if data.days > 30 else None))
    figure.x_labels = labels
    figure.add("calls", [row["calls"] for row in data.rows])
    figure.add("texts", [row["texts"] for row in data.rows])
    figure.add("calls without a topic", [row["calls_without_topic"] for row in data.rows])
    return figure, max((max(row["calls"], row["texts"]) for row in data.rows), default=0)


def _topics(data: Usage) -> tuple[Any, int]:
    figure = pygal.Bar(**_config(print_values=True))
    figure.x_labels = data.topics or ["(none yet)"]
    highest = 0
    for channel in data.channels or ["voice", "sms"]:
        totals = [sum(row["topics"].get(topic, {}).get(channel, 0) for row in data.rows) for topic in data.topics]
        figure.add(channel, totals or [0])
        highest = max([highest, *totals])
    return figure, highest


def _transfers(data: Usage) -> tuple[Any, int]:
    figure = pygal.Bar(**_config(print_values=True))
    figure.x_labels = list(stats.TRANSFER_OUTCOMES)
    outcomes = stats.TRANSFER_OUTCOMES
    totals = [sum(row["transfers"][outcome] for row in data.rows) for outcome in outcomes]
    figure.add("transfers", totals)
    return figure, max(totals)
