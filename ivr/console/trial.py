"""Try it: a pretend call and a pretend text conversation, run by the same engine as `ivr call` / `ivr text`.

Only the engine's public functions are called: nothing is dialled, sent, stored,
counted or logged. The conversation's place and transcript travel in the page's own
form fields, so the server keeps nothing of them either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .. import engine
from ..channels import SMS, by_name
from ..hours import parse_moment
from ..script import Script
from ..twilio_status import DIAL_ENDINGS

# How a pretend transfer may end, in words for the page (Twilio's statuses are listed in twilio_status).
DIAL_LABELS = {"completed": "answered", "busy": "busy", "no-answer": "no answer", "failed": "failed"}
DIAL_CHOICES = tuple((status, DIAL_LABELS[status]) for status in DIAL_ENDINGS if status in DIAL_LABELS)
KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")
MAX_LINES = 60
MAX_TEXT = 1600
IDLE, WAITING, DIALLING, ENDED = "idle", "waiting", "dialling", "ended"


@dataclass(frozen=True)
class State:
    """The trial phone and text pane as the page carries them."""

    at: str = ""
    call: str = ""
    phase: str = IDLE
    call_log: tuple[tuple[str, str], ...] = ()
    thread: engine.Thread = field(default_factory=engine.Thread)
    text_log: tuple[tuple[str, str], ...] = ()
    channel: str = SMS.name  # which text channel the pane plays: SMS or WhatsApp

    @classmethod
    def from_form(cls, form: Any) -> State:
        """Read the state back from the page's hidden fields; anything odd starts afresh."""
        phase = form.get("phase", IDLE)
        return cls(
            at=form.get("at", "")[:40], call=engine.Call.decode(form.get("call")).encode(),
            phase=phase if phase in (IDLE, WAITING, DIALLING, ENDED) else IDLE,
            call_log=_log(form.get("call_log")), thread=engine.Thread.from_dict(_json(form.get("thread"))),
            text_log=_log(form.get("text_log")), channel=by_name(form.get("channel", "")).name,
        )

    @property
    def thread_json(self) -> str:
        """Write the texter's place for a hidden field."""
        return json.dumps(self.thread.to_dict())

    @property
    def call_log_json(self) -> str:
        """Write the call's transcript for a hidden field."""
        return json.dumps(self.call_log)

    @property
    def text_log_json(self) -> str:
        """Write the text conversation for a hidden field."""
        return json.dumps(self.text_log)


def _json(text: str | None) -> Any:
    try:
        return json.loads(text or "null")
    except ValueError:
        return None


def _log(text: str | None) -> tuple[tuple[str, str], ...]:
    data = _json(text)
    if not isinstance(data, list):
        return ()
    lines = [(str(item[0])[:20], str(item[1])[:MAX_TEXT]) for item in data if isinstance(item, list) and len(item) == 2]
    return tuple(lines[-MAX_LINES:])


def moment(state: State, script: Script, now: datetime) -> tuple[datetime, str]:
    """Return the time the trial pretends it is, and a plain error if the picker's value is unreadable."""
    if not state.at:
        return now, ""
    try:
        return parse_moment(state.at, script.service.hours.timezone), ""
    except ValueError:
        return now, f"{state.at!r} is not a date and time: pick one, like 2026-12-25 10:00"


def step(script: Script, state: State, form: Any, now: datetime) -> tuple[State, str]:
    """Do what the pressed button asks, and return the new state (and an error to show, if any)."""
    when, error = moment(state, script, now)
    action = form.get("do", "")
    if action == "text":
        return _text(script, state, form.get("message", "")[:MAX_TEXT], when), error
    if action == "text-restart":
        return replace(state, thread=engine.Thread(), text_log=()), error
    if action == "time":
        return state, error
    return _call(script, state, action, form.get("words", "")[:200], when), error


def _call(script: Script, state: State, action: str, words: str, when: datetime) -> State:
    if action == "ring" or state.phase in (IDLE, ENDED) and action.startswith(("key:", "say", "silent")):
        answered = replace(state, call_log=(("note", "The call is answered."),))
        state = _heard(answered, engine.start_call(script, when))
        if action == "ring":
            return state
    if action == "hangup":
        return replace(state, phase=ENDED, call_log=_add(state.call_log, ("note", "You hung up.")))
    place = engine.Call.decode(state.call)
    if action.startswith("dial:") and state.phase == DIALLING:
        status = action.removeprefix("dial:")
        noted = replace(state, call_log=_add(state.call_log, ("note", f"The transfer: {status}.")))
        return _heard(noted, engine.dial_result(script, place, status, when))
    heard, shown = _input(action, words)
    if heard is None or state.phase != WAITING:
        return state
    noted = replace(state, call_log=_add(state.call_log, ("caller", shown)))
    return _heard(noted, engine.answer(script, place, heard, when))


def _input(action: str, words: str) -> tuple[engine.Heard | None, str]:
    if action.startswith("key:") and action.removeprefix("key:") in KEYS:
        key = action.removeprefix("key:")
        return engine.Heard(digits=key), f"presses {key}"
    if action == "say" and words.strip():
        return engine.Heard(speech=words.strip()), f"says “{words.strip()}”"
    if action == "silent":
        return engine.Heard(), "stays silent"
    return None, ""


def _heard(state: State, reply: engine.VoiceReply) -> State:
    lines = [("line", say.text) for say in reply.says]
    if isinstance(reply.then, engine.Dial):
        lines.append(("note", f"Transfer: now the line would ring {reply.then.number} (not in a trial). "
                              "Choose how the transfer went."))
        phase = DIALLING
    elif isinstance(reply.then, engine.Hangup):
        lines.append(("note", "The line hangs up."))
        phase = ENDED
    else:
        phase = WAITING
    return replace(state, call=reply.call.encode(), phase=phase, call_log=_add(state.call_log, *lines))


def _text(script: Script, state: State, body: str, when: datetime) -> State:
    if not body.strip():
        return state
    channel = by_name(state.channel)
    reply = engine.reply_to_text(script, state.thread, body, when, channel)
    lines = [("texter", body)]
    if reply.text is None:
        lines.append(("note", "No reply (the carrier answers opt-out words itself)."))
    else:
        lines.append(("line", reply.text))
        lines.append(("note", f"{channel.label}: {channel.measure(reply.text)} {channel.unit}"))
    thread = reply.thread if reply.thread is not None else engine.Thread()
    return replace(state, thread=thread, text_log=_add(state.text_log, *lines))


def _add(log: tuple[tuple[str, str], ...], *lines: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (*log, *lines)[-MAX_LINES:]
