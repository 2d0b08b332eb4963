"""Rehearse a freshly loaded script: every place a caller or texter can reach, open and closed.

The checks in :mod:`ivr.script` look at each prompt on its own; this walks the
line as callers and texters meet it, through the engine itself, and reports any
answer the line could not give. It is the promise "a script that loads is a
script that answers" made by trying, not by reading. It runs once per load,
never inside a webhook.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from . import engine
from .channels import CHANNELS, Channel
from .engine import Call, Heard, Thread
from .prompt_files import Problem
from .script import Script
from .twilio_status import DIAL_OUTCOMES

SEARCH_HOURS = 24 * 21
KEYS = tuple("0123456789*#") + ("", "12")
DIAL_STATUSES = (*DIAL_OUTCOMES, "something-new")  # and one Twilio might add
MAX_STATES = 5000
R = TypeVar("R", engine.VoiceReply, engine.TextReply)


class _Failed(Exception):
    def __init__(self, where: str, error: Exception) -> None:
        super().__init__(where)
        self.where, self.error = where, error


def rehearse(script: Script, start: datetime | None = None) -> list[Problem]:
    """Walk every call and text the script can answer; report each answer it could not give."""
    moments = sorted(set(_moments(script, start or datetime.now(UTC))))
    try:
        for moment in moments:
            for _ in walk_calls(script, moment):
                pass
            for _ in walk_texts(script, moment):
                pass
    except _Failed as failed:
        return [_problem(script, failed.where, failed.error)]
    return []


def _problem(script: Script, where: str, error: Exception) -> Problem:
    name = script.files.name if script.files else "prompts"
    if isinstance(error, KeyError):
        what = f"a prompt uses {{{error.args[0]}}} where the line does not fill it in"
    else:
        what = f"a prompt could not be said ({type(error).__name__})"
    message = f"{what}, {where}: run `ivr check` to find the prompt"
    return Problem(name, 1, message, False, "a prompt cannot be said")


def _moments(script: Script, start: datetime) -> Iterator[datetime]:
    """Yield a moment when the helpline is open, one when closed, and one just before it closes."""
    hours = script.hours
    base = start.replace(minute=0, second=0, microsecond=0)
    found_open = found_closed = False
    for step in range(SEARCH_HOURS):
        moment = base + timedelta(hours=step, minutes=30)
        is_open = hours.is_open(moment)
        if is_open and not found_open:
            found_open = True
            yield moment
            closes = hours.closes_at(moment)
            if closes is not None:
                yield closes - timedelta(minutes=5)
        if not is_open and not found_closed:
            found_closed = True
            yield moment
        if found_open and found_closed:
            return


def walk_calls(script: Script, now: datetime) -> Iterator[engine.VoiceReply]:
    """Yield every reply a caller can get at one moment, by every key, word, silence and transfer outcome."""
    first = _voice("when a call starts", engine.start_call, script, now)
    yield first
    # A caller put through while the helpline was open may hear how it went after it closed;
    # a caller may be inside a topic that a reload has just taken away.
    seeds = [Call(lang=code, node=node, topic=topic) for code in script.languages
             for node, topic in ((engine.DIAL, ""), (engine.TOPIC, "removed-by-a-reload"))]
    queue: deque[Call] = deque([first.call, *seeds])
    seen: set[Call] = {first.call, *seeds}
    while queue and len(seen) < MAX_STATES:
        call = queue.popleft()
        for reply in _moves(script, call, now):
            yield reply
            if not isinstance(reply.then, engine.Hangup) and reply.call not in seen:
                seen.add(reply.call)
                queue.append(reply.call)


def _moves(script: Script, call: Call, now: datetime) -> Iterator[engine.VoiceReply]:
    where = f"at {call.encode()}"
    # After a miss every key is answered as it was before it; only more silence leads somewhere new.
    keys = KEYS if call.misses == 0 else ("",)
    for key in keys:
        yield _voice(f"{where} after {key!r}", engine.answer, script, call, Heard(digits=key), now)
    phrases = _phrases(script, call) if call.misses == 0 and call.part == 0 else []
    for words in phrases:
        yield _voice(f"{where} on words", engine.answer, script, call, Heard(speech=words), now)
    if call.node == engine.DIAL:
        for status in DIAL_STATUSES:
            yield _voice(f"{where} after {status}", engine.dial_result, script, call, status, now)
    yield _voice(f"{where} at goodbye", engine.goodbye, script, call)


def _phrases(script: Script, call: Call) -> list[str]:
    language = script.language(call.lang)
    voice = language.voice
    lists = (voice.say_next, voice.say_repeat, voice.say_menu, voice.say_helpline, language.keywords)
    phrases = [items[0] for items in lists if items]
    phrases += [topic.keywords[0] for topic in language.topics if topic.keywords]
    return phrases


def _voice(where: str, move: Callable[..., engine.VoiceReply], *args: Any) -> engine.VoiceReply:
    return _attempt(f"on a call {where}", move, *args)


def _text(where: str, move: Callable[..., engine.TextReply], *args: Any) -> engine.TextReply:
    return _attempt(f"on a text {where}", move, *args)


def _attempt(where: str, move: Callable[..., R], *args: Any) -> R:
    """Make one answer; anything that goes wrong, or an answer that is not words, is a problem to report."""
    try:
        reply = move(*args)
        said = [say.text for say in reply.says] if isinstance(reply, engine.VoiceReply) else [reply.text or ""]
        if not all(isinstance(text, str) for text in said):
            raise TypeError("a prompt is not words")
        return reply
    except Exception as error:  # noqa: BLE001 - any failure is a problem to report, not to raise
        raise _Failed(where, error) from None


def walk_texts(script: Script, now: datetime) -> Iterator[engine.TextReply]:
    """Yield every reply a texter can get at one moment, on every text channel, in every language and topic page."""
    for channel in CHANNELS:
        yield from _walk_channel(script, now, channel)


def _walk_channel(script: Script, now: datetime, channel: Channel) -> Iterator[engine.TextReply]:
    for language in script.languages.values():
        start = Thread(lang=language.code)
        bodies = ["hello", "more", "menu", "call", "forget", "hide", "stop", "0", "999", "xyzzy"]
        bodies += [word for word in language.keywords[:1]]
        bodies += [topic.key for topic in language.topics]
        on = f"on {channel.label}"
        for body in bodies:
            yield _text(f"to {body!r} {on}", engine.reply_to_text, script, start, body, now, channel)
        yield _text(f"to a picture {on}", engine.reply_to_media, script, start, channel)
        for topic in language.topics:
            opening = topic.keywords[0] if topic.keywords else topic.key
            yield from _page_through(script, start, opening, now, channel)
        yield _text(f"when replies are paused {on}", _limited, script, start)


def _limited(script: Script, thread: Thread) -> engine.TextReply:
    return engine.TextReply(engine.limited_text(script, thread), thread, "rate-limited")


def _page_through(
    script: Script, thread: Thread, opening: str, now: datetime, channel: Channel
) -> Iterator[engine.TextReply]:
    body = opening
    for _ in range(100):
        where = f"to {body!r} in {thread.lang} on {channel.label}"
        reply = _text(where, engine.reply_to_text, script, thread, body, now, channel)
        yield reply
        if reply.thread is None or reply.event != "more" and not reply.event.startswith("topic:"):
            return
        thread, body = reply.thread, "more"
