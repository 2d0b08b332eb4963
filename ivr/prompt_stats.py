"""What each prompt costs: seconds to say on a call, segments to send as a text.

``ivr check --stats`` prints these for every file that passed its checks, even
when another file has a problem, and, when the whole line loads, the running
totals a caller meets first: when the 999 notice ends, when the helpline is
first offered, and how long the first menu takes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from . import engine, gsm
from .channels import CHANNELS
from .schema import MenuFile, Service, TopicFile
from .script import Loaded, Script, say_seconds

DEFAULT_WPM = 160
SAMPLE = {"title": "stalking", "key": "1", "keyword": "STALKING", "opens": "tomorrow at half past nine",
          "hours": "Mon Tue Thu Fri 09:30-16:00, Wed 13:00-16:00"}
OFFERS_HELPLINE = re.compile(r"\b(press|dial) 0\b|\bpress zero\b", re.I)


class _Sample(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def sample(text: str, service: Service | None, channel: str) -> str:
    """Fill a prompt with typical values, to time or count it; never raises."""
    values = _Sample(SAMPLE)
    if service is not None:
        values["helpline"] = service.helpline.spoken if channel == "voice" else service.helpline.written
        values["helpline_name"] = service.helpline.name
    try:
        return text.format_map(values)
    except (ValueError, IndexError, AttributeError, KeyError):
        return text


def lines(loaded: Loaded) -> Iterator[str]:
    """Yield the figures of every file that loaded, then the running totals of the opening."""
    service = loaded.parsed.get("service.yaml")
    service = service if isinstance(service, Service) else None
    wpm = service.voice.words_per_minute if service else DEFAULT_WPM
    for rel, model in sorted(loaded.parsed.items()):
        if isinstance(model, MenuFile):
            yield from _menu_lines(rel, model, service, wpm)
        elif isinstance(model, TopicFile):
            yield from _topic_lines(rel, model, service, wpm)
    if loaded.script is not None:
        yield from _pages(loaded.script)
        yield from opening_lines(loaded.script)
    else:
        yield "\n(running totals and text pages are shown once every file loads)"


def _menu_lines(rel: str, menu: MenuFile, service: Service | None, wpm: int) -> Iterator[str]:
    yield f"\n{rel}"
    yield f"  {'seconds':>8}  voice prompt"
    for name, text in menu.voice:
        if isinstance(text, str):
            yield f"  {say_seconds(sample(text, service, 'voice'), wpm):8.1f}  voice.{name}"
    yield f"  {'segments':>8}  text"
    for name, text in menu.sms:
        if isinstance(text, str):
            yield f"  {gsm.cost(sample(text, service, 'sms')).segments:8}  sms.{name}"


def _topic_lines(rel: str, topic: TopicFile, service: Service | None, wpm: int) -> Iterator[str]:
    yield f"\n{rel}"
    yield f"  {'seconds':>8}  {'segments':>8}  part"
    for number, part in enumerate(topic.parts, start=1):
        seconds = say_seconds(sample(part.spoken, service, "voice"), wpm)
        segments = gsm.cost(sample(part.text, service, "sms")).segments
        yield f"  {seconds:8.1f}  {segments:8}  part {number}"


def _pages(script: Script) -> Iterator[str]:
    for language in script.languages.values():
        for channel in CHANNELS:
            yield f"\n{language.code}: what each {channel.label} reply measures, in {channel.unit}"
            yield f"  {channel.measure(language.menu(channel.name)):8}  the text menu"
            for topic in language.topics:
                for number, page in enumerate(topic.pages(channel.name), start=1):
                    yield f"  {channel.measure(page):8}  {topic.name} page {number}"


def offers_helpline(text: str) -> bool:
    """Say whether a prompt offers the helpline ("press 0")."""
    return bool(OFFERS_HELPLINE.search(text))


def opening(script: Script, now: datetime | None = None, lang: str | None = None) -> list[tuple[str, float]]:
    """Return what a new caller hears first, each with the seconds it takes to say.

    With several languages, lang adds what a caller who chooses it hears next.
    """
    now = now or an_open_moment(script)
    wpm = script.service.voice.words_per_minute
    reply = engine.start_call(script, now)
    says = list(reply.says)
    if lang in script.languages and reply.call.node == engine.LANGUAGE:
        key = str(list(script.languages).index(lang) + 1)
        says += engine.answer(script, reply.call, engine.Heard(digits=key), now).says
    return [(say.text, say_seconds(say.text, wpm)) for say in says]


def opening_lines(script: Script) -> Iterator[str]:
    """Yield the running totals of the opening: the 999 notice, the first offer of the helpline, the menu."""
    said = opening(script)
    total, danger_ends, offered = 0.0, None, None
    for text, seconds in said:
        total += seconds
        danger_ends = total if danger_ends is None else danger_ends
        if offered is None and offers_helpline(text):
            offered = total
    yield f"\nthe opening of a call (at {script.service.voice.words_per_minute} words a minute)"
    yield f"  {danger_ends or 0:8.1f}  s until the 999 notice has been said"
    if offered is None:
        yield "           the helpline is never offered in the opening: say \"press 0\" early"
    else:
        yield f"  {offered:8.1f}  s until the helpline is first offered"
    yield f"  {total:8.1f}  s for the whole first menu"


def an_open_moment(script: Script) -> datetime:
    """Return the next half hour when the helpline is open (now, if it never opens in the coming fortnight)."""
    moment = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for hour in range(24 * 14):
        candidate = moment + timedelta(hours=hour, minutes=30)
        if script.hours.is_open(candidate):
            return candidate
    return moment
