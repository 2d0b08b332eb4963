"""Calls: Twilio's voice webhooks, turned into engine inputs and TwiML."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, Response, request

from .. import engine, fallback, metrics, stats, twiml
from ..config import CALL_TTL_SECONDS
from ..engine import Call, Heard, VoiceReply
from ..schema import E164
from ..script import Script
from ..stats import event_field
from ..store import COUNT, Limit
from ..twilio_status import CALL_ENDED
from .common import (
    field,
    fingerprint,
    line,
    next_url,
    note,
    now,
    require_signature,
    script,
    session_key,
    store_call,
)
from .common import twiml as answer_with

bp = Blueprint("voice", __name__, url_prefix="/voice")
bp.before_request(require_signature)

ANSWER_PATH = "/voice/answer"
DIALLED_PATH = "/voice/dialled"
MAX_DIGITS = 8
MAX_SPEECH = 300


@bp.post("")
def new_call() -> Response:
    """Answer a new call: the 999 notice, then the menu."""
    current = script()
    if current is None:
        return answer_with(fallback.voice_twiml())
    return _reply(current, engine.start_call(current, now()), new_call=True)


@bp.post(ANSWER_PATH.removeprefix("/voice"))
def answer() -> Response:
    """Move the caller on by the key they pressed or the words they said."""
    current = script()
    if current is None:
        return answer_with(fallback.voice_twiml())
    heard = Heard(digits=field("Digits", MAX_DIGITS), speech=field("SpeechResult", MAX_SPEECH))
    call = Call.decode(request.args.get("s"))
    note(heard="speech" if heard.speech and not heard.digits else "keys" if heard.digits else "none")
    return _reply(current, engine.answer(current, call, heard, now()))


@bp.post(DIALLED_PATH.removeprefix("/voice"))
def dialled() -> Response:
    """Tell the caller how the transfer to the helpline went."""
    current = script()
    if current is None:
        return answer_with(fallback.voice_twiml())
    call = Call.decode(request.args.get("s"))
    status = field("DialCallStatus", 20).lower()
    return _reply(current, engine.dial_result(current, call, status, now()))


@bp.post("/status")
def status() -> Response:
    """End the call's session when Twilio says the call is over."""
    key = session_key("call", field("CallSid", 64))
    if key and field("CallStatus", 20) in CALL_ENDED:
        session = store_call("take", key) or {}
        _count_call(session)
    return Response(status=204)


@bp.post("/fallback")
def fallback_call() -> Response:
    """Read the helpline number and ring it; needs no Redis and no prompt files."""
    return answer_with(fallback_document())


def fallback_document() -> str:
    """The fixed fallback, told the opening hours by the last good prompts when they are at hand."""
    try:
        known, moment = line().live.current(), now()
    except Exception:  # the fallback must answer, whatever broke
        known, moment = None, None
    return fallback.voice_twiml(known, moment)


def _reply(current: Script, reply: VoiceReply, new_call: bool = False) -> Response:
    """Record where the caller is and count what happened, then answer with TwiML."""
    counts = tuple(name for name in ("calls" if new_call else "", event_field(reply.event, "voice")) if name)
    limit = _call_limit(current) if new_call else None
    retry, calls = _remember(reply, counts, limit)
    if not retry:
        if new_call:
            metrics.CALLS.inc()
        metrics.count_event(reply.event, "voice")
    if limit is not None and calls > current.service.calls.rate_limit_calls:
        reply = replace(engine.helpline_at_once(current, now()), event="rate-limited")
    note(state=reply.call.node, event=reply.event)
    state = reply.call.encode()
    document = twiml.voice(reply, current, next_url(ANSWER_PATH, state), next_url(DIALLED_PATH, state))
    return answer_with(document)


def _call_limit(current: Script) -> Limit | None:
    """The new-call counter for this caller's number (an HMAC of it), for real numbers only.

    A withheld number arrives as a word ("anonymous", "restricted" ...): it is never
    limited, so callers who hide their number are never pooled under one key. The
    counter holds each call's hashed CallSid, so a retried delivery never counts.
    """
    caller, call = field("From", 64), session_key("call", field("CallSid", 64))
    if not E164.match(caller) or call is None:
        return None
    key = session_key("rate:call", caller)
    return Limit(key, current.service.calls.rate_limit_minutes * 60, call) if key else None


def _remember(reply: VoiceReply, counts: tuple[str, ...], limit: Limit | None) -> tuple[bool, int]:
    """Keep the call's session in one round trip; say whether this delivery was seen before."""
    key = session_key("call", field("CallSid", 64))
    if key is None:
        return False, 0
    seen = fingerprint(field("Digits", MAX_DIGITS), field("SpeechResult", MAX_SPEECH))
    fields = {"at": reply.call.encode(), "seen": seen}
    if reply.event.startswith("topic:"):
        fields["reached"] = "1"
    stored = store_call("update", key, fields, CALL_TTL_SECONDS, "seen", counts, limit)
    previous, calls, ended = stored or (None, 0, False)
    if previous == seen:
        note(retry=True)
    elif ended:  # a late webhook after the status callback: the session is gone, so count it straight away
        note(late=True)
        day = stats.tally(now(), *counts)
        if day is not None:
            store_call("count", day)
    return previous == seen, calls


def _count_call(session: dict[str, str]) -> None:
    """Add a finished call's own counts to the day's statistics."""
    amounts = {name.removeprefix(COUNT): int(value) for name, value in session.items() if name.startswith(COUNT)}
    if amounts.get("calls") and not session.get("reached"):
        amounts["no_topic"] = 1
    note(reached_topic=bool(session.get("reached")))
    day = stats.tally(now(), amounts=amounts)
    if day is not None:
        store_call("count", day)
