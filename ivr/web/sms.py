"""Texts: Twilio's messaging webhooks, turned into engine inputs and TwiML."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, Response

from .. import engine, fallback, metrics, stats, twiml
from ..config import TEXT_TTL_SECONDS
from ..engine import TextReply, Thread
from ..script import Script
from ..stats import event_field
from ..store import Tally
from .common import (
    field,
    fingerprint,
    has_idempotency_token,
    note,
    now,
    require_signature,
    script,
    session_key,
    store_call,
)
from .common import twiml as answer_with

bp = Blueprint("sms", __name__, url_prefix="/sms")
bp.before_request(require_signature)

MAX_BODY = 1600


@bp.post("")
def incoming() -> Response:
    """Answer one text, within the texter's rate limit."""
    current = script()
    if current is None:
        return answer_with(fallback.sms_twiml())
    sender = field("From", 64)
    key, counter = session_key("text", sender), session_key("rate:text", sender)
    settings = current.service.sms
    count, stored = _load(counter, settings.rate_limit_minutes * 60, key)
    thread, token = _thread(stored)
    delivery = _delivery()
    retry = bool(delivery) and token == delivery
    if retry:
        thread = Thread.from_dict((stored or {}).get("before"))  # a retry: answer it again
    reply = engine.reply_to_text(current, thread, field("Body", MAX_BODY), now())
    if count > settings.rate_limit_messages:
        reply = _limited(current, thread, reply, count - settings.rate_limit_messages)
    day = None if retry else stats.tally(now(), "texts", event_field(reply.event, "sms"))
    _keep(key, counter, thread, reply, delivery, day)
    if not retry:
        metrics.MESSAGES.inc()
        metrics.count_event(reply.event, "sms")
    note(event=reply.event, replied=reply.text is not None, retry=retry)
    return answer_with(twiml.message(reply.text))


@bp.post("/fallback")
def fallback_text() -> Response:
    """Text the helpline number and 999; needs no Redis and no prompt files."""
    return answer_with(fallback.sms_twiml())


def _load(counter: str | None, window: int, key: str | None) -> tuple[int, dict[str, Any] | None]:
    if key is None or counter is None:
        return 0, None
    return store_call("count_and_load", counter, window, key) or (0, None)


def _thread(stored: dict[str, Any] | None) -> tuple[Thread, str | None]:
    if not stored:
        return Thread(), None
    token = stored.get("token")
    return Thread.from_dict(stored.get("thread")), token if isinstance(token, str) else None


def _limited(current: Script, thread: Thread, reply: TextReply, over: int) -> TextReply:
    """One short notice when a texter passes the limit, then silence until the window passes.

    FORGET and STOP still clear the texter's place, without a reply.
    """
    if reply.thread is None:
        return replace(reply, text=None)
    text = engine.limited_text(current, thread) if over == 1 else None
    return TextReply(text, thread, "rate-limited")


def _delivery() -> str:
    """Identify this message, so a retry of it is answered again, not taken as a new one."""
    message = field("MessageSid", 64)
    return fingerprint(message) if message or has_idempotency_token() else ""


def _keep(
    key: str | None, counter: str | None, before: Thread, reply: TextReply, delivery: str, day: Tally | None
) -> None:
    """Save the texter's thread (or forget them when they ask), and count the day's texts."""
    if key is None:
        if day is not None:
            store_call("count", day)
        return
    if reply.thread is None:  # FORGET or STOP: the place goes; the anonymous reply counter expires on its own
        store_call("forget", key, tally=day)
        return
    session = {"thread": reply.thread.to_dict(), "before": before.to_dict(), "token": delivery}
    store_call("save", key, session, TEXT_TTL_SECONDS, day)
