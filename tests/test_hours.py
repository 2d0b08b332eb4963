"""Opening hours: every moment is a frozen clock passed in, never the real time."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from ivr.hours import (
    Closure,
    HoursSettings,
    OpeningHours,
    WhenWords,
    parse_moment,
    spoken_when,
    status_line,
    week_lines,
    written_when,
)

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC

SHIPPED: dict[str, Any] = {
    "timezone": "Europe/London",
    "bank_holidays": {"country": "GB", "subdivision": "ENG"},
    "weekly": {
        "monday": ["09:30-16:00"],
        "tuesday": ["09:30-16:00"],
        "wednesday": ["13:00-16:00"],
        "thursday": ["09:30-16:00"],
        "friday": ["09:30-16:00"],
        "saturday": [],
        "sunday": [],
    },
    "closures": [],
    "openings": [],
}


def settings(**changes: Any) -> HoursSettings:
    return HoursSettings.model_validate({**SHIPPED, **changes})


def weekly(**days: Any) -> dict[str, Any]:
    return {**SHIPPED["weekly"], **days}


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: dt.tzinfo = LONDON) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=tz)


HOURS = OpeningHours(settings())
CHRISTMAS_EVE = OpeningHours(settings(closures=[
    {"date": dt.date(2026, 12, 24), "from": "12:00", "note": "Christmas Eve"},
]))

# Week of Monday 30 November 2026: no bank holidays.
IS_OPEN = [
    ("mon-0929", at(2026, 11, 30, 9, 29), False),
    ("mon-0930", at(2026, 11, 30, 9, 30), True),
    ("mon-1559", at(2026, 11, 30, 15, 59), True),
    ("mon-1600", at(2026, 11, 30, 16, 0), False),
    ("tue-0929", at(2026, 12, 1, 9, 29), False),
    ("tue-0930", at(2026, 12, 1, 9, 30), True),
    ("tue-1559", at(2026, 12, 1, 15, 59), True),
    ("tue-1600", at(2026, 12, 1, 16, 0), False),
    ("wed-0930", at(2026, 12, 2, 9, 30), False),
    ("wed-1259", at(2026, 12, 2, 12, 59), False),
    ("wed-1300", at(2026, 12, 2, 13, 0), True),
    ("wed-1559", at(2026, 12, 2, 15, 59), True),
    ("wed-1600", at(2026, 12, 2, 16, 0), False),
    ("thu-0929", at(2026, 12, 3, 9, 29), False),
    ("thu-0930", at(2026, 12, 3, 9, 30), True),
    ("thu-1559", at(2026, 12, 3, 15, 59), True),
    ("thu-1600", at(2026, 12, 3, 16, 0), False),
    ("fri-0929", at(2026, 12, 4, 9, 29), False),
    ("fri-0930", at(2026, 12, 4, 9, 30), True),
    ("fri-1559", at(2026, 12, 4, 15, 59), True),
    ("fri-1600", at(2026, 12, 4, 16, 0), False),
    ("sat-1100", at(2026, 12, 5, 11, 0), False),
    ("sun-1100", at(2026, 12, 6, 11, 0), False),
    ("christmas-day-2026", at(2026, 12, 25, 11, 0), False),
    ("boxing-day-substitute-mon-28-dec", at(2026, 12, 28, 11, 0), False),
    ("tue-29-dec-after-christmas", at(2026, 12, 29, 9, 30), True),
    ("new-years-day-2027", at(2027, 1, 1, 11, 0), False),
    ("good-friday-2027", at(2027, 3, 26, 11, 0), False),
    ("easter-monday-2027", at(2027, 3, 29, 11, 0), False),
    ("spring-bst-0845utc-is-0945-open", at(2027, 3, 30, 8, 45, UTC), True),
    ("spring-bst-0815utc-is-0915-closed", at(2027, 3, 30, 8, 15, UTC), False),
    ("spring-bst-1459utc-is-1559-open", at(2027, 3, 30, 14, 59, UTC), True),
    ("spring-bst-1500utc-is-1600-closed", at(2027, 3, 30, 15, 0, UTC), False),
    ("autumn-gmt-0930utc-open", at(2026, 10, 26, 9, 30, UTC), True),
    ("autumn-gmt-0929utc-closed", at(2026, 10, 26, 9, 29, UTC), False),
    ("before-autumn-bst-0830utc-open", at(2026, 10, 23, 8, 30, UTC), True),
    ("other-zone-new-york-0430-is-0930", at(2026, 11, 30, 4, 30, ZoneInfo("America/New_York")),
     True),
]


@pytest.mark.parametrize(("moment", "expected"), [c[1:] for c in IS_OPEN],
                         ids=[c[0] for c in IS_OPEN])
def test_is_open(moment: dt.datetime, expected: bool) -> None:
    assert HOURS.is_open(moment) is expected


def test_is_open_remembers_one_minute_and_changes_on_the_next() -> None:
    """Asked again and again across a closing time, second by second, the answer changes exactly there."""
    closing = at(2026, 11, 30, 16, 0, LONDON)
    for second in range(-90, 90, 7):
        moment = closing + dt.timedelta(seconds=second, microseconds=500)
        assert HOURS.is_open(moment) is (second < 0), moment
        assert HOURS.is_open(moment.astimezone(UTC)) is (second < 0), "the same moment in another zone"


EXTRA = OpeningHours(settings(
    closures=[
        {"date": dt.date(2026, 12, 24), "from": "12:00", "note": "Christmas Eve"},
        {"date": dt.date(2026, 12, 1), "note": "Staff training"},
        {"date": dt.date(2026, 12, 3), "to": "11:00"},
        {"date": dt.date(2026, 12, 4), "from": "11:00", "to": "12:00"},
    ],
    openings=[
        {"date": dt.date(2026, 12, 5), "hours": ["10:00-12:00"], "note": "Saturday clinic"},
        {"date": dt.date(2026, 12, 28), "hours": ["10:00-14:00"]},
        {"date": dt.date(2026, 12, 2), "hours": ["09:00-10:00", "15:00-17:00"]},
    ],
))
EXCEPTIONS = [
    ("closure-from-noon-1159-open", at(2026, 12, 24, 11, 59), True),
    ("closure-from-noon-1200-closed", at(2026, 12, 24, 12, 0), False),
    ("closure-all-day", at(2026, 12, 1, 10, 0), False),
    ("closure-until-1100-1059-closed", at(2026, 12, 3, 10, 59), False),
    ("closure-until-1100-1100-open", at(2026, 12, 3, 11, 0), True),
    ("closure-hour-1130-closed", at(2026, 12, 4, 11, 30), False),
    ("closure-hour-1200-open", at(2026, 12, 4, 12, 0), True),
    ("opening-saturday-1000-open", at(2026, 12, 5, 10, 0), True),
    ("opening-saturday-1200-closed", at(2026, 12, 5, 12, 0), False),
    ("opening-on-bank-holiday-open", at(2026, 12, 28, 13, 59), True),
    ("opening-replaces-day-0930", at(2026, 12, 2, 9, 30), True),
    ("opening-replaces-day-1300-closed", at(2026, 12, 2, 13, 0), False),
    ("opening-replaces-day-1630-open", at(2026, 12, 2, 16, 30), True),
]


@pytest.mark.parametrize(("moment", "expected"), [c[1:] for c in EXCEPTIONS],
                         ids=[c[0] for c in EXCEPTIONS])
def test_closures_and_openings(moment: dt.datetime, expected: bool) -> None:
    assert EXTRA.is_open(moment) is expected


NEXT_OPENING = [
    ("closed-morning-same-day", HOURS, at(2026, 11, 30, 8, 0), at(2026, 11, 30, 9, 30)),
    ("open-now-gives-next-day", HOURS, at(2026, 11, 30, 9, 30), at(2026, 12, 1, 9, 30)),
    ("tue-evening-to-wed-1300", HOURS, at(2026, 12, 1, 16, 0), at(2026, 12, 2, 13, 0)),
    ("across-weekend", HOURS, at(2026, 12, 4, 16, 0), at(2026, 12, 7, 9, 30)),
    ("sunday-to-monday", HOURS, at(2026, 12, 6, 12, 0), at(2026, 12, 7, 9, 30)),
    ("across-christmas", HOURS, at(2026, 12, 24, 13, 0), at(2026, 12, 29, 9, 30)),
    ("across-christmas-closure", CHRISTMAS_EVE, at(2026, 12, 24, 13, 0),
     at(2026, 12, 29, 9, 30)),
    ("across-easter-and-spring-change", HOURS, at(2027, 3, 25, 16, 0), at(2027, 3, 30, 9, 30)),
    ("across-autumn-change", HOURS, at(2026, 10, 23, 16, 0), at(2026, 10, 26, 9, 30)),
    ("utc-input", HOURS, at(2027, 3, 30, 8, 15, UTC), at(2027, 3, 30, 9, 30)),
]


@pytest.mark.parametrize(("hours", "moment", "expected"), [c[1:] for c in NEXT_OPENING],
                         ids=[c[0] for c in NEXT_OPENING])
def test_next_opening(hours: OpeningHours, moment: dt.datetime, expected: dt.datetime) -> None:
    opens = hours.next_opening(moment)
    assert opens == expected
    assert opens is not None and opens.utcoffset() == expected.utcoffset()


def test_next_opening_none_within_60_days() -> None:
    never = OpeningHours(settings(weekly={}))
    assert never.next_opening(at(2026, 11, 30, 10, 0)) is None


def test_next_opening_just_within_60_days() -> None:
    rare = OpeningHours(settings(weekly={}, openings=[
        {"date": dt.date(2027, 1, 29), "hours": ["10:00-11:00"]},
    ]))
    assert rare.next_opening(at(2026, 11, 30, 12, 0)) == at(2027, 1, 29, 10, 0)
    assert rare.next_opening(at(2026, 11, 29, 12, 0)) is None


CLOSES_AT = [
    ("open-monday", HOURS, at(2026, 11, 30, 10, 0), at(2026, 11, 30, 16, 0)),
    ("closed-monday-evening", HOURS, at(2026, 11, 30, 16, 0), None),
    ("closure-cuts-christmas-eve", CHRISTMAS_EVE, at(2026, 12, 24, 10, 0),
     at(2026, 12, 24, 12, 0)),
    ("spring-change-bst-end", HOURS, at(2027, 3, 30, 9, 0, UTC), at(2027, 3, 30, 15, 0, UTC)),
]


@pytest.mark.parametrize(("hours", "moment", "expected"), [c[1:] for c in CLOSES_AT],
                         ids=[c[0] for c in CLOSES_AT])
def test_closes_at(hours: OpeningHours, moment: dt.datetime, expected: dt.datetime | None) -> None:
    assert hours.closes_at(moment) == expected


RANGES_ON = [
    ("spring-bst", dt.date(2027, 3, 30), [(at(2027, 3, 30, 8, 30, UTC),
                                           at(2027, 3, 30, 15, 0, UTC))]),
    ("autumn-gmt", dt.date(2026, 10, 26), [(at(2026, 10, 26, 9, 30, UTC),
                                           at(2026, 10, 26, 16, 0, UTC))]),
    ("bank-holiday", dt.date(2026, 12, 28), []),
    ("saturday", dt.date(2026, 12, 5), []),
]


@pytest.mark.parametrize(("day", "expected"), [c[1:] for c in RANGES_ON],
                         ids=[c[0] for c in RANGES_ON])
def test_ranges_on(day: dt.date, expected: list[tuple[dt.datetime, dt.datetime]]) -> None:
    ranges = HOURS.ranges_on(day)
    assert ranges == expected
    assert all(start.tzinfo is LONDON for start, _ in ranges)


def test_touching_ranges_merge_into_one() -> None:
    hours = OpeningHours(settings(weekly=weekly(monday=["12:00-16:00", "09:30-12:00"])))
    assert hours.closes_at(at(2026, 11, 30, 10, 0)) == at(2026, 11, 30, 16, 0)


CLOSED_REASON = [
    ("christmas", HOURS, dt.date(2026, 12, 25), "Christmas Day"),
    ("substitute", HOURS, dt.date(2026, 12, 28), "Boxing Day (observed)"),
    ("ordinary-day", HOURS, dt.date(2026, 11, 30), None),
    ("weekend-is-not-a-reason", HOURS, dt.date(2026, 12, 5), None),
    ("closure-note", CHRISTMAS_EVE, dt.date(2026, 12, 24), "Christmas Eve"),
    ("closure-without-note", EXTRA, dt.date(2026, 12, 3), "special closure"),
    ("opening-on-bank-holiday", EXTRA, dt.date(2026, 12, 28), None),
]


@pytest.mark.parametrize(("hours", "day", "expected"), [c[1:] for c in CLOSED_REASON],
                         ids=[c[0] for c in CLOSED_REASON])
def test_closed_reason(hours: OpeningHours, day: dt.date, expected: str | None) -> None:
    assert hours.closed_reason(day) == expected


def test_no_bank_holidays_when_none() -> None:
    hours = OpeningHours(settings(bank_holidays=None))
    assert hours.is_open(at(2026, 12, 25, 11, 0))


def test_blank_day_in_yaml_is_closed() -> None:
    hours = OpeningHours(settings(weekly=weekly(saturday=None)))
    assert not hours.is_open(at(2026, 12, 5, 11, 0))


def test_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        HOURS.is_open(dt.datetime(2026, 11, 30, 10, 0))


def test_opening_hours_and_settings_are_immutable() -> None:
    with pytest.raises(AttributeError):
        HOURS.zone = UTC  # type: ignore[misc]
    with pytest.raises(ValidationError):
        HOURS.settings.timezone = "UTC"  # type: ignore[misc]


def test_closure_accepts_from_by_alias_or_name() -> None:
    assert Closure.model_validate({"date": "2026-12-24", "from": "12:00"}).from_ == dt.time(12)
    assert Closure(date=dt.date(2026, 12, 24), from_=dt.time(12)).from_ == dt.time(12)


MON_20 = at(2026, 11, 30, 20, 0)
SPOKEN = [
    ("tomorrow", at(2026, 12, 1, 9, 30), MON_20, "tomorrow at half past nine"),
    ("this-week", at(2026, 12, 2, 13, 0), MON_20, "on Wednesday at one o'clock"),
    ("today", at(2026, 11, 30, 9, 30), at(2026, 11, 30, 8, 0), "today at half past nine"),
    ("six-days", at(2026, 12, 6, 10, 0), MON_20, "on Sunday at ten o'clock"),
    ("seven-days", at(2026, 12, 29, 9, 30), at(2026, 12, 22, 20, 0),
     "on Tuesday 29 December at half past nine"),
    ("midday", at(2026, 11, 30, 12, 0), MON_20.replace(hour=8), "today at midday"),
    ("midnight", at(2026, 12, 1, 0, 0), MON_20, "tomorrow at midnight"),
    ("quarter-past", at(2026, 12, 1, 9, 15), MON_20, "tomorrow at quarter past nine"),
    ("quarter-to-next-hour", at(2026, 12, 1, 12, 45), MON_20, "tomorrow at quarter to one"),
    ("other-minutes", at(2026, 12, 1, 9, 5), MON_20, "tomorrow at nine 05"),
    ("afternoon-hour", at(2026, 12, 1, 16, 0), MON_20, "tomorrow at four o'clock"),
    ("now-in-utc-after-local-midnight", at(2026, 6, 2, 9, 30), at(2026, 6, 1, 23, 30, UTC),
     "today at half past nine"),
]


@pytest.mark.parametrize(("moment", "now", "expected"), [c[1:] for c in SPOKEN],
                         ids=[c[0] for c in SPOKEN])
def test_spoken_when(moment: dt.datetime, now: dt.datetime, expected: str) -> None:
    assert spoken_when(moment, now) == expected


def test_spoken_when_uses_the_language_words() -> None:
    words = WhenWords(tomorrow="yfory am {time}", half_past="hanner awr wedi {hour}",
                      hours=["deuddeg", "un", "dau", "tri", "pedwar", "pump", "chwech",
                             "saith", "wyth", "naw", "deg", "un ar ddeg"])
    assert spoken_when(at(2026, 12, 1, 9, 30), MON_20, words) == "yfory am hanner awr wedi naw"


def test_written_when() -> None:
    assert written_when(at(2026, 12, 29, 9, 30)) == "Tuesday 29 December at 09:30"


STATUS = [
    ("open", HOURS, at(2026, 11, 30, 10, 0), "open: closes today at 16:00"),
    ("closed-weekend", HOURS, at(2026, 12, 5, 10, 0), "closed: opens Monday 7 December at 09:30"),
    ("closed-christmas", HOURS, at(2026, 12, 25, 10, 0),
     "closed: opens Tuesday 29 December at 09:30"),
    ("open-until-closure", CHRISTMAS_EVE, at(2026, 12, 24, 10, 0), "open: closes today at 12:00"),
    ("never", OpeningHours(settings(weekly={})), at(2026, 12, 5, 10, 0),
     "closed: no opening in the next 60 days"),
]


@pytest.mark.parametrize(("hours", "moment", "expected"), [c[1:] for c in STATUS],
                         ids=[c[0] for c in STATUS])
def test_status_line(hours: OpeningHours, moment: dt.datetime, expected: str) -> None:
    line = status_line(hours, moment)
    assert line == expected
    assert line.split(":")[0] in ("open", "closed")


def test_week_lines_ordinary_week() -> None:
    assert week_lines(HOURS, at(2026, 11, 30, 20, 0)) == [
        "Mon 30 Nov  09:30-16:00",
        "Tue 01 Dec  09:30-16:00",
        "Wed 02 Dec  13:00-16:00",
        "Thu 03 Dec  09:30-16:00",
        "Fri 04 Dec  09:30-16:00",
        "Sat 05 Dec  closed",
        "Sun 06 Dec  closed",
    ]


def test_week_lines_christmas() -> None:
    assert week_lines(CHRISTMAS_EVE, at(2026, 12, 24, 0, 30, UTC), days=6) == [
        "Thu 24 Dec  09:30-12:00 (Christmas Eve)",
        "Fri 25 Dec  closed (Christmas Day)",
        "Sat 26 Dec  closed (Boxing Day)",
        "Sun 27 Dec  closed",
        "Mon 28 Dec  closed (Boxing Day (observed))",
        "Tue 29 Dec  09:30-16:00",
    ]


def test_week_lines_extra_opening_with_two_ranges() -> None:
    lines = week_lines(EXTRA, at(2026, 12, 2, 0, 0), days=1)
    assert lines == ["Wed 02 Dec  09:00-10:00, 15:00-17:00"]


PARSE = [
    ("local-no-offset", "2027-03-30T09:45", at(2027, 3, 30, 9, 45)),
    ("offset-honoured", "2027-03-30T08:45:00+00:00", at(2027, 3, 30, 9, 45)),
    ("zulu", "2026-12-24T13:00Z", at(2026, 12, 24, 13, 0)),
    ("date-only-is-midnight", "2026-12-24", at(2026, 12, 24, 0, 0)),
    ("space-separator", "2026-12-24 13:00", at(2026, 12, 24, 13, 0)),
    ("spring-gap-fold0-uses-gmt", "2027-03-28T01:30", at(2027, 3, 28, 1, 30, UTC)),
    ("autumn-repeat-fold0-first-bst", "2026-10-25T01:30", at(2026, 10, 25, 0, 30, UTC)),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in PARSE], ids=[c[0] for c in PARSE])
def test_parse_moment(text: str, expected: dt.datetime) -> None:
    moment = parse_moment(text, "Europe/London")
    assert moment.astimezone(UTC) == expected  # PEP 495: a repeated hour never equals other zones
    assert moment.tzinfo is LONDON


def test_parse_moment_offset_then_is_open() -> None:
    assert HOURS.is_open(parse_moment("2027-03-30T08:45:00+00:00", "Europe/London"))


@pytest.mark.parametrize("text", ["tomorrow", "2026-13-01T10:00", "", "30/11/2026 10:00"],
                         ids=["word", "month-13", "empty", "uk-format"])
def test_parse_moment_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="can't read .* as a date and time in Europe/London"):
        parse_moment(text, "Europe/London")


INVALID = [
    ("malformed-range", {"weekly": weekly(monday=["9:30-16:00"])},
     "monday: '9:30-16:00' is not a time range like '09:30-16:00'"),
    ("words-not-range", {"weekly": weekly(friday=["all day"])},
     "friday: 'all day' is not a time range like '09:30-16:00'"),
    ("bad-hour", {"weekly": weekly(monday=["09:30-25:00"])},
     "monday: '09:30-25:00' contains 25:00, not a time of day"),
    ("bad-minute", {"weekly": weekly(tuesday=["09:60-16:00"])},
     "tuesday: '09:60-16:00' contains 09:60, not a time of day"),
    ("end-before-start", {"weekly": weekly(wednesday=["13:00-12:00"])},
     "wednesday: '13:00-12:00' ends before it starts"),
    ("empty-range", {"weekly": weekly(thursday=["10:00-10:00"])},
     "thursday: '10:00-10:00' starts and ends at the same time"),
    ("overlap", {"weekly": weekly(monday=["11:00-16:00", "09:30-12:00"])},
     "monday: '09:30-12:00' overlaps '11:00-16:00'"),
    ("unknown-timezone", {"timezone": "Europe/Lodnon"},
     "unknown timezone 'Europe/Lodnon'; use a name like 'Europe/London'"),
    ("unknown-country", {"bank_holidays": {"country": "XX"}},
     "unknown bank-holiday country 'XX'; use a two-letter code like 'GB'"),
    ("unknown-subdivision", {"bank_holidays": {"country": "GB", "subdivision": "England&Wales"}},
     "bank-holiday country 'GB' has no subdivision 'England&Wales'; "
     "choose one of: ENG, NIR, SCT, WLS"),
    ("closure-to-before-from",
     {"closures": [{"date": dt.date(2026, 12, 24), "from": "12:00", "to": "10:00"}]},
     "closure on 2026-12-24: 'to' 10:00 is not after 'from' 12:00"),
    ("closure-unquoted-yaml-time", {"closures": [{"date": dt.date(2026, 12, 24), "from": 720}]},
     "write closure times in quotes, like '12:00' (got the number 720)"),
    ("opening-bad-range", {"openings": [{"date": dt.date(2026, 12, 5), "hours": ["12:00-10:00"]}]},
     "opening on 2026-12-05: '12:00-10:00' ends before it starts"),
    ("two-openings-one-day", {"openings": [{"date": dt.date(2026, 12, 5), "hours": []},
                                           {"date": dt.date(2026, 12, 5), "hours": []}]},
     "two openings on 2026-12-05; put all that day's hours in one"),
    ("misspelt-weekday", {"weekly": {"wednesdy": ["13:00-16:00"]}}, "Input should be 'monday'"),
    ("unknown-key", {"holidays": []}, "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("changes", "message"), [c[1:] for c in INVALID],
                         ids=[c[0] for c in INVALID])
def test_invalid_settings(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(**changes)
    messages = [error["msg"] for error in caught.value.errors()]
    assert any(msg.startswith(message) for msg in messages), messages


INVALID_WORDS = [
    ("unknown-placeholder", {"tomorrow": "tomorrow at {tme}"},
     "tomorrow: unknown placeholder {tme}; this one can use {date}, {day}, {time}"),
    ("placeholder-not-offered", {"o_clock": "{time} o'clock"},
     "o_clock: unknown placeholder {time}; this one can use {hour}"),
    ("unbalanced-brace", {"written": "{day {date}"}, "written: unbalanced { or }"),
    ("six-days", {"days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]},
     "days: give exactly 7 names, not 6"),
    ("eleven-months", {"months": ["m"] * 11}, "months: give exactly 12 names, not 11"),
    ("twenty-four-hours", {"hours": ["h"] * 24}, "hours: give exactly 12 names, not 24"),
]


@pytest.mark.parametrize(("changes", "message"), [c[1:] for c in INVALID_WORDS],
                         ids=[c[0] for c in INVALID_WORDS])
def test_invalid_when_words(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        WhenWords.model_validate(changes)
    messages = [error["msg"] for error in caught.value.errors()]
    assert any(msg.startswith(message) for msg in messages), messages


def test_a_line_open_until_midnight() -> None:
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    settings = HoursSettings.model_validate(
        {"timezone": "Europe/London", "bank_holidays": None, "weekly": {day: ["00:00-24:00"] for day in days}}
    )
    hours = OpeningHours(settings)
    late = dt.datetime(2026, 11, 29, 23, 59, tzinfo=LONDON)
    assert hours.is_open(late)
    assert hours.closes_at(late) == dt.datetime(2026, 11, 30, 0, 0, tzinfo=LONDON)
    with pytest.raises(ValidationError, match="not a time of day"):
        HoursSettings.model_validate({"weekly": {"monday": ["24:00-24:00"]}})
