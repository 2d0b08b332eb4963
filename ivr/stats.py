"""Anonymous daily counts: how the line is used, never who used it.

Each day has one Redis hash (``ivr:stats:2026-11-27``, kept 400 days) of plain
counts: calls, messages per text channel (``texts`` for SMS, ``whatsapp``),
topics chosen per channel, transfers by outcome, and calls that reached a topic
(``reached``), from which calls without a topic follow. ``ivr stats`` reads them back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from .channels import CHANNELS
from .store import PREFIX, Tally
from .twilio_status import DIAL_ENDINGS

KEEP_DAYS = 400
LONDON = ZoneInfo("Europe/London")
TRANSFER_OUTCOMES = (*DIAL_ENDINGS, "closed")


def day_key(day: date) -> str:
    """Return the store key of one day's counts."""
    return f"{PREFIX}stats:{day.isoformat()}"


def tally(now: datetime, *fields: str, amounts: dict[str, int] | None = None) -> Tally | None:
    """Count one of each field (or the given amounts) for the day it is in London; None if nothing."""
    counts = {field: 1 for field in fields if field}
    for field, amount in (amounts or {}).items():
        counts[field] = counts.get(field, 0) + amount
    if not counts:
        return None
    return Tally(_day_at(int(now.timestamp()) // 60), tuple(counts.items()), KEEP_DAYS * 24 * 3600)


@lru_cache(maxsize=4)
def _day_at(minute: int) -> str:
    """The day key for a minute (London's days begin on a whole minute): worked out once a minute, not per call."""
    return day_key(datetime.fromtimestamp(minute * 60, UTC).astimezone(LONDON).date())


def event_field(event: str, channel: str) -> str:
    """Name the daily count an engine event adds to, or "" if it adds to none."""
    if event.startswith("topic:"):
        return f"topic:{channel}:{event.removeprefix('topic:')}"
    if event.startswith("transfer:"):
        return event
    if event == "reprompt":
        return "reprompts"
    return ""


def days_back(today: date, days: int) -> list[date]:
    """List the last `days` days, oldest first, ending today."""
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def calls_without_topic(counts: dict[str, int]) -> int:
    """Calls that never reached a topic: calls less those that did (``no_topic`` on days counted before that)."""
    if "reached" not in counts and "no_topic" in counts:
        return counts["no_topic"]
    return max(0, counts.get("calls", 0) - counts.get("reached", 0))


def summary(day: date, counts: dict[str, int]) -> dict[str, object]:
    """Shape one day's raw counts for people and for --json."""
    topics: dict[str, dict[str, int]] = {}
    for field, value in counts.items():
        if field.startswith("topic:"):
            _, channel, name = field.split(":", 2)
            topics.setdefault(name, {})[channel] = value
    return {
        "date": day.isoformat(),
        "calls": counts.get("calls", 0),
        **{channel.count_field: counts.get(channel.count_field, 0) for channel in CHANNELS},
        "calls_without_topic": calls_without_topic(counts),
        "reprompts": counts.get("reprompts", 0),
        "topics": topics,
        "transfers": {status: counts.get(f"transfer:{status}", 0) for status in TRANSFER_OUTCOMES},
    }


def table(rows: list[dict[str, object]]) -> list[str]:
    """Lay the daily summaries out as a text table."""
    names = sorted({name for row in rows for name in row["topics"]})  # type: ignore[attr-defined]
    texts = [channel.count_field for channel in CHANNELS]
    head = ["date", "calls", *texts, "no topic", *names, *(f"to {s}" for s in TRANSFER_OUTCOMES)]
    lines = ["  ".join(f"{cell:>10}" for cell in head)]
    for row in rows:
        topics = row["topics"]
        cells = [row["date"], row["calls"], *(row[field] for field in texts), row["calls_without_topic"]]
        cells += [sum(topics.get(name, {}).values()) for name in names]  # type: ignore[attr-defined]
        cells += [row["transfers"][status] for status in TRANSFER_OUTCOMES]  # type: ignore[index]
        lines.append("  ".join(f"{cell!s:>10}" for cell in cells))
    return lines
