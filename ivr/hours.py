"""Opening hours: validated settings, open/closed queries, and words for when the line opens.

Pure logic, no I/O. Wall-clock times are in the settings' zone (zoneinfo), so clock changes hold.
"""

from __future__ import annotations

import datetime
import re
import string
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
SEARCH_DAYS = 60
_RANGE = re.compile(r"^(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})$")
_UTC = datetime.UTC
_CONFIG = ConfigDict(extra="forbid", frozen=True)

Span = tuple[int, int]  # minutes after local midnight, [start, end)


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("hours", message)


def _parse_range(label: str, text: str) -> Span:
    """Parse one 'HH:MM-HH:MM' range into minutes, raising an operator-readable error."""
    match = _RANGE.match(text.strip())
    if not match:
        raise _fail(f"{label}: {text!r} is not a time range like '09:30-16:00'")
    sh, sm, eh, em = (int(part) for part in match.groups())
    for hour, minute in ((sh, sm), (eh, em)):
        if (hour, minute) == (24, 0) and (eh, em) == (24, 0) and (hour, minute) != (sh, sm):
            continue  # "24:00" ends a range at midnight, for lines open until then
        if hour > 23 or minute > 59:
            raise _fail(f"{label}: {text!r} contains {hour:02}:{minute:02}, not a time of day")
    start, end = sh * 60 + sm, eh * 60 + em
    if end < start:
        raise _fail(f"{label}: {text!r} ends before it starts")
    if end == start:
        raise _fail(f"{label}: {text!r} starts and ends at the same time")
    return start, end


def _parse_ranges(label: str, texts: list[str]) -> list[Span]:
    """Parse a day's ranges, sorted, rejecting any two that overlap."""
    parsed = sorted((_parse_range(label, text), text) for text in texts)
    for (prev, prev_text), (span, text) in zip(parsed, parsed[1:], strict=False):
        if span[0] < prev[1]:
            raise _fail(f"{label}: {prev_text!r} overlaps {text!r}")
    return [span for span, _ in parsed]


class Closure(BaseModel):
    """A dated exception: closed all day, or from `from` (default start of day) until `to`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    date: datetime.date
    from_: datetime.time | None = Field(default=None, alias="from")
    to: datetime.time | None = None
    note: str = ""

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        if isinstance(value, int | float):  # YAML 1.1 reads unquoted 12:00 as the number 720
            raise _fail(f"write closure times in quotes, like '12:00' (got the number {value})")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Closure:
        if self.from_ is not None and self.to is not None and self.to <= self.from_:
            raise _fail(f"closure on {self.date}: 'to' {self.to:%H:%M} is not after "
                        f"'from' {self.from_:%H:%M}")
        return self

    def span(self) -> Span:
        """Return the closed minutes of the day."""
        start = self.from_.hour * 60 + self.from_.minute if self.from_ else 0
        return start, (self.to.hour * 60 + self.to.minute if self.to else 24 * 60)


class Opening(BaseModel):
    """A dated extra opening whose ranges replace that day's usual hours."""

    model_config = _CONFIG
    date: datetime.date
    hours: list[str]
    note: str = ""

    @model_validator(mode="after")
    def _valid_hours(self) -> Opening:
        _parse_ranges(f"opening on {self.date}", self.hours)
        return self


class BankHolidays(BaseModel):
    """Which public holidays close the line (holidays package country and subdivision)."""

    model_config = _CONFIG
    country: str = "GB"
    subdivision: str | None = "ENG"

    @model_validator(mode="after")
    def _known(self) -> BankHolidays:
        try:
            country = holidays.country_holidays(self.country)
        except NotImplementedError:
            raise _fail(f"unknown bank-holiday country {self.country!r}; "
                        "use a two-letter code like 'GB'") from None
        if self.subdivision is not None and self.subdivision not in country.subdivisions:
            choices = ", ".join(country.subdivisions) or "none"
            raise _fail(f"bank-holiday country {self.country!r} has no subdivision "
                        f"{self.subdivision!r}; choose one of: {choices}")
        return self

    def calendar(self) -> holidays.HolidayBase:
        """Return the holidays calendar (years are filled in on first use)."""
        return holidays.country_holidays(self.country, subdiv=self.subdivision)


class HoursSettings(BaseModel):
    """The `hours` section of the operator configuration."""

    model_config = _CONFIG
    timezone: str = "Europe/London"
    bank_holidays: BankHolidays | None = BankHolidays()
    weekly: dict[Weekday, list[str]]
    closures: list[Closure] = []
    openings: list[Opening] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise _fail(f"unknown timezone {value!r}; use a name like 'Europe/London'") from None
        return value

    @field_validator("weekly", mode="before")
    @classmethod
    def _blank_day_closed(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {day: [] if ranges is None else ranges for day, ranges in value.items()}
        return value

    @field_validator("weekly")
    @classmethod
    def _valid_weekly(cls, value: dict[Weekday, list[str]]) -> dict[Weekday, list[str]]:
        for day, ranges in value.items():
            _parse_ranges(day, ranges)
        return value

    @model_validator(mode="after")
    def _one_opening_per_day(self) -> HoursSettings:
        dates = [opening.date for opening in self.openings]
        if repeated := sorted({d for d in dates if dates.count(d) > 1}):
            raise _fail(f"two openings on {repeated[0]}; put all that day's hours in one")
        return self


class OpeningHours:
    """Answer when the line is open, from validated settings. Immutable."""

    __slots__ = ("settings", "zone", "_calendar", "_weekly", "_openings", "_closures", "_days", "_minute")

    def __init__(self, settings: HoursSettings) -> None:
        bank = settings.bank_holidays
        fields = {
            "settings": settings,
            "zone": ZoneInfo(settings.timezone),
            "_calendar": bank.calendar() if bank else None,
            "_weekly": {d: _parse_ranges(d, r) for d, r in settings.weekly.items()},
            "_openings": {o.date: _parse_ranges("opening", o.hours) for o in settings.openings},
            "_closures": settings.closures,
            "_days": {},  # date -> its open intervals: every call asks about today
            "_minute": [(None, False)],  # the last minute asked about, and its answer: hours change on whole minutes
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("OpeningHours is immutable")

    def local(self, at: datetime.datetime) -> datetime.datetime:
        """Convert an aware moment to the local zone."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"{at} has no timezone; pass an aware datetime")
        return at.astimezone(_UTC).astimezone(self.zone)

    def bank_holiday(self, day: datetime.date) -> str | None:
        """Return the bank holiday's name on that date, if any."""
        return self._calendar.get(day) if self._calendar is not None else None

    def _spans(self, day: datetime.date) -> list[Span]:
        if day in self._openings:
            spans = list(self._openings[day])
        elif self.bank_holiday(day):
            return []
        else:
            spans = list(self._weekly.get(WEEKDAYS[day.weekday()], []))
        for closure in self._closures:
            if closure.date == day:
                spans = _subtract(spans, closure.span())
        return _merge(spans)

    def ranges_on(self, day: datetime.date) -> list[tuple[datetime.datetime, datetime.datetime]]:
        """Return the aware local open intervals on that date."""
        found = self._days.get(day)
        if found is None:
            found = [(self._at(day, start), self._at(day, end)) for start, end in self._spans(day)]
            if len(self._days) > 1000:
                self._days.clear()
            self._days[day] = found
        return list(found)

    def _at(self, day: datetime.date, minutes: int) -> datetime.datetime:
        midnight = datetime.datetime(day.year, day.month, day.day, tzinfo=self.zone)
        return midnight + datetime.timedelta(minutes=minutes)  # wall-clock: 1440 is next midnight

    def _current(self, at: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime] | None:
        local = self.local(at)
        return next(((s, e) for s, e in self.ranges_on(local.date()) if s <= local < e), None)

    def is_open(self, at: datetime.datetime) -> bool:
        """Return whether the line is open at that moment (start inclusive, end exclusive)."""
        if at.tzinfo is None or at.utcoffset() is None:
            return self._current(at) is not None  # raises, as local() says
        minute = int(at.timestamp()) // 60  # times in the files are whole minutes, so is every change
        known, answer = self._minute[0]
        if known != minute:
            answer = self._current(at) is not None
            self._minute[0] = (minute, answer)  # one assignment: another thread sees the old pair or the new
        return answer

    def closes_at(self, at: datetime.datetime) -> datetime.datetime | None:
        """Return when the current open interval ends, or None if closed."""
        current = self._current(at)
        return current[1] if current else None

    def next_opening(self, at: datetime.datetime) -> datetime.datetime | None:
        """Return the next interval start strictly after `at`, within 60 days, else None."""
        local = self.local(at)
        for offset in range(SEARCH_DAYS + 1):
            for start, _ in self.ranges_on(local.date() + datetime.timedelta(days=offset)):
                if start > local:
                    return start
        return None

    def closed_reason(self, day: datetime.date) -> str | None:
        """Return the closure note or bank holiday name affecting that date, if any."""
        for closure in self._closures:
            if closure.date == day:
                return closure.note or "special closure"
        return None if day in self._openings else self.bank_holiday(day)


def _subtract(spans: list[Span], cut: Span) -> list[Span]:
    out: list[Span] = []
    for start, end in spans:
        out += [(start, min(end, cut[0]))] if start < cut[0] else []
        out += [(max(start, cut[1]), end)] if end > cut[1] else []
    return [(s, e) for s, e in out if s < e]


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


_WHEN = {"time", "day", "date"}
_PLACEHOLDERS: dict[str, set[str]] = {
    "today": _WHEN, "tomorrow": _WHEN, "this_week": _WHEN, "later": _WHEN,
    "midday": set(), "midnight": set(), "o_clock": {"hour"}, "half_past": {"hour"},
    "quarter_past": {"hour"}, "quarter_to": {"hour"}, "minutes_past": {"hour", "minutes", "mm"},
    "written": {"day", "date", "hhmm"},
}
_COUNTS = {"days": 7, "months": 12, "hours": 12}


class WhenWords(BaseModel):
    """Words for when the line opens, per language; defaults are en-GB.

    Placeholders: today/tomorrow/this_week/later get {time} {day} {date}; o_clock, half_past,
    quarter_past get {hour}; quarter_to gets {hour} = the next hour; minutes_past gets {hour},
    {minutes} (e.g. "5") and {mm} (e.g. "05"); written gets {day} {date} {hhmm} (e.g. "09:30").
    {date} is "29 December"; midday and midnight take none.
    """

    model_config = _CONFIG
    today: str = "today at {time}"
    tomorrow: str = "tomorrow at {time}"
    this_week: str = "on {day} at {time}"
    later: str = "on {day} {date} at {time}"
    days: list[str] = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
    months: list[str] = ("January February March April May June July August September October "
                         "November December").split()
    hours: list[str] = "twelve one two three four five six seven eight nine ten eleven".split()
    midday: str = "midday"
    midnight: str = "midnight"
    o_clock: str = "{hour} o'clock"
    half_past: str = "half past {hour}"
    quarter_past: str = "quarter past {hour}"
    quarter_to: str = "quarter to {hour}"
    minutes_past: str = "{hour} {mm}"
    written: str = "{day} {date} at {hhmm}"
    # When no opening is found in the coming weeks (a long closure): "It opens later."
    unknown: str = "later"

    @field_validator("days", "months", "hours")
    @classmethod
    def _count(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if len(value) != _COUNTS[info.field_name]:
            raise _fail(f"{info.field_name}: give exactly {_COUNTS[info.field_name]} names, "
                        f"not {len(value)}")
        return value

    @model_validator(mode="after")
    def _placeholders(self) -> WhenWords:
        for name, allowed in _PLACEHOLDERS.items():
            try:
                used = {f for _, f, _, _ in string.Formatter().parse(getattr(self, name)) if f}
            except ValueError:
                raise _fail(f"{name}: unbalanced {{ or }} in {getattr(self, name)!r}") from None
            if unknown := used - allowed:
                known = ", ".join(f"{{{p}}}" for p in sorted(allowed)) or "none"
                raise _fail(f"{name}: unknown placeholder {{{min(unknown)}}}; "
                            f"this one can use {known}")
        return self


EN_GB = WhenWords()


def spoken_time(moment: datetime.datetime, words: WhenWords = EN_GB) -> str:
    """Say a clock time, e.g. 'half past nine'."""
    hour, minute = moment.hour, moment.minute
    name, following = words.hours[hour % 12], words.hours[(hour + 1) % 12]
    if minute == 0 and hour in (0, 12):
        return words.midnight if hour == 0 else words.midday
    templates = {0: words.o_clock, 15: words.quarter_past, 30: words.half_past}
    if minute == 45:
        return words.quarter_to.format(hour=following)
    if minute in templates:
        return templates[minute].format(hour=name)
    return words.minutes_past.format(hour=name, minutes=str(minute), mm=f"{minute:02}")


def _date_words(moment: datetime.datetime, words: WhenWords) -> dict[str, str]:
    return {"day": words.days[moment.weekday()],
            "date": f"{moment.day} {words.months[moment.month - 1]}"}


def spoken_when(moment: datetime.datetime, now: datetime.datetime,
                words: WhenWords = EN_GB) -> str:
    """Say when `moment` is, relative to `now`, in moment's zone."""
    ahead = (moment.date() - now.astimezone(moment.tzinfo).date()).days
    template = {0: words.today, 1: words.tomorrow}.get(ahead)
    if template is None:
        template = words.this_week if 1 < ahead < 7 else words.later
    return template.format(time=spoken_time(moment, words), **_date_words(moment, words))


def written_when(moment: datetime.datetime, words: WhenWords = EN_GB) -> str:
    """Write when `moment` is, e.g. 'Tuesday 29 December at 09:30'."""
    return words.written.format(hhmm=f"{moment:%H:%M}", **_date_words(moment, words))


def opens_said(hours: OpeningHours, now: datetime.datetime, words: WhenWords = EN_GB) -> str:
    """Say when the helpline next opens, for a caller; "later" when no opening is known."""
    moment = hours.next_opening(now)
    return spoken_when(moment, now, words) if moment else words.unknown


def opens_written(hours: OpeningHours, now: datetime.datetime, words: WhenWords = EN_GB) -> str:
    """Write when the helpline next opens, for a texter; "later" when no opening is known."""
    moment = hours.next_opening(now)
    return written_when(moment, words) if moment else words.unknown


def status_line(hours: OpeningHours, at: datetime.datetime,
                words: WhenWords = EN_GB) -> str:
    """Describe whether the line is open at `at` and when that changes."""
    closes = hours.closes_at(at)
    if closes is not None:
        return f"open: closes today at {closes:%H:%M}"
    opens = hours.next_opening(at)
    if opens is None:
        return f"closed: no opening in the next {SEARCH_DAYS} days"
    return f"closed: opens {written_when(opens, words)}"


def week_lines(hours: OpeningHours, at: datetime.datetime, days: int = 7) -> list[str]:
    """List each day's hours from at's local date, e.g. 'Mon 30 Nov  09:30-16:00'."""
    lines = []
    start = hours.local(at).date()
    for offset in range(days):
        day = start + datetime.timedelta(days=offset)
        ranges = ", ".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in hours.ranges_on(day)) or "closed"
        reason = hours.closed_reason(day)
        label = f"{EN_GB.days[day.weekday()][:3]} {day.day:02} {EN_GB.months[day.month - 1][:3]}"
        lines.append(f"{label}  {ranges}" + (f" ({reason})" if reason else ""))
    return lines


def parse_moment(text: str, tz: str) -> datetime.datetime:
    """Read an ISO 8601 moment; without an offset it is local time in `tz`.

    The result is converted to `tz`. A local time in the spring-forward gap or the repeated
    autumn hour is read with zoneinfo's fold=0, i.e. the offset in force before the change:
    01:30 on 2027-03-28 means 01:30 GMT (shown as 02:30 BST); 01:30 on 2026-10-25 means the
    first, BST, occurrence.
    """
    try:
        zone = ZoneInfo(tz)
        moment = datetime.datetime.fromisoformat(text.strip())
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise ValueError(f"can't read {text!r} as a date and time in {tz}; use a form like "
                         f"2026-12-24T13:00 or 2026-12-24T13:00+00:00 ({exc})") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(_UTC).astimezone(zone)
