"""Calls: Twilio's voice webhooks, turned into engine inputs and TwiML."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, Response, request

from .. import engine, fallback, stats, twiml
from ..engine import Call, Heard, VoiceReply
from ..schema import E164
from ..script import Script
from ..stats import event_field
from ..store import Limit
from .common import (
    field,
    idempotency_token,
    line,
    next_url,
    note,
    now,
    require_signature,
    script,
    session_key,
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
    return _reply(current, engine.start_call(current, now()), None)


@bp.post(ANSWER_PATH.removeprefix("/voice"))
def answer() -> Response:
    """Move the caller on by the key they pressed or the words they said."""
    current = script()
    if current is None:
        return answer_with(fallback.voice_twiml())
    heard = Heard(digits=field("Digits", MAX_DIGITS), speech=field("SpeechResult", MAX_SPEECH))
    call = Call.decode(request.args.get("s"))
    note(heard="speech" if heard.speech and not heard.digits else "keys" if heard.digits else "none")
    return _reply(current, engine.answer(current, call, heard, now()), call)


@bp.post(DIALLED_PATH.removeprefix("/voice"))
def dialled() -> Response:
    """Tell the caller how the transfer to the helpline went."""
    current = script()
    if current is None:
        return answer_with(fallback.voice_twiml())
    call = Call.decode(request.args.get("s"))
    status = field("DialCallStatus", 20).lower()
    return _reply(current, engine.dial_result(current, call, status, now()), call)


@bp.post("/status")
def status() -> Response:
    """Acknowledge the end of a call: it left nothing behind to clear, and its counts are already made."""
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


def _reply(current: Script, reply: VoiceReply, came_from: Call | None) -> Response:
    """Count what happened in this worker's batch, then answer with TwiML; nothing waits on the store."""
    new_call = came_from is None
    reached = came_from is not None and came_from.reached
    topic = reply.event.startswith("topic:")
    counts = ["calls"] if new_call else []
    counts += [name for name in (event_field(reply.event, "voice"), "reached" if topic and not reached else "")
               if name]
    limit = _call_limit(current) if new_call else None
    batch = line().batch
    batch.add(stats.tally(now(), *counts), idempotency_token(), reply.event, "voice", new_call=new_call,
              limit=limit, most=current.service.calls.rate_limit_calls)
    if limit is not None and batch.over_limit(limit.key):  # known from a flush: this call or one before
        reply = replace(engine.helpline_at_once(current, now()), event="rate-limited")
    if reply.call.reached != (reached or topic):
        reply = replace(reply, call=replace(reply.call, reached=reached or topic))
    note(state=reply.call.node, event=reply.event)
    state = reply.call.encode()
    document = twiml.voice(reply, current, next_url(ANSWER_PATH, state), next_url(DIALLED_PATH, state))
    return answer_with(document)


def _call_limit(current: Script) -> Limit | None:
    """The new-call limit for this caller's number (an HMAC of it), for real numbers only.

    A withheld number arrives as a word ("anonymous", "restricted" ...): it is never
    limited, so callers who hide their number are never pooled under one key. The
    limit's set holds each call's hashed CallSid, so a retried delivery never counts.
    """
    caller, call = field("From", 64), session_key("call", field("CallSid", 64))
    if not E164.match(caller) or call is None:
        return None
    key = session_key("rate:call", caller)
    return Limit(key, current.service.calls.rate_limit_minutes * 60, call) if key else None
