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
SAVE_ATTEMPTS = 4  # texts arriving at once: each answers from the place the one before it left


@bp.post("")
def incoming() -> Response:
    """Answer one text, within the texter's rate limit."""
    current = script()
    if current is None:
        return answer_with(fallback.sms_twiml())
    sender = field("From", 64)
    key, counter = session_key("text", sender), session_key("rate:text", sender)
    count, stored = _load(counter, current.service.sms.rate_limit_minutes * 60, key)
    delivery = _delivery()
    for attempt in range(SAVE_ATTEMPTS):
        thread, reply, retry = _answer(current, stored, delivery, count)
        # The day's count goes with the first attempt only: the text arrived once.
        day = None if retry or attempt else stats.tally(now(), "texts", event_field(reply.event, "sms"))
        saved, stored = _keep(key, stored, thread, reply, delivery, day, last=attempt == SAVE_ATTEMPTS - 1)
        if saved:
            break
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


def _answer(
    current: Script, stored: dict[str, Any] | None, delivery: str, count: int
) -> tuple[Thread, TextReply, bool]:
    """Answer the text from the stored place; a retried delivery is answered as it was the first time."""
    thread, token = _thread(stored)
    retry = bool(delivery) and token == delivery
    if retry:
        thread = Thread.from_dict((stored or {}).get("before"))
    reply = engine.reply_to_text(current, thread, field("Body", MAX_BODY), now())
    limit = current.service.sms.rate_limit_messages
    if count > limit:
        reply = _limited(current, thread, reply, count - limit)
    return thread, reply, retry


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
    key: str | None, stored: dict[str, Any] | None, before: Thread, reply: TextReply, delivery: str,
    day: Tally | None, last: bool,
) -> tuple[bool, dict[str, Any] | None]:
    """Save the texter's thread (or forget them when they ask), and count the day's texts.

    The thread is saved only if the stored place is still the one this answer
    started from; otherwise another text got there first, and the stored place
    comes back to answer from again (never moving the texter backwards).
    """
    if key is None:
        if day is not None:
            store_call("count", day)
        return True, None
    if reply.thread is None:  # FORGET or STOP: the place goes; the anonymous reply counter expires on its own
        store_call("forget", key, tally=day)
        return True, None
    session = {"thread": reply.thread.to_dict(), "before": before.to_dict(), "token": delivery}
    if last:  # after several texts in a row got there first, answer this one as it stands
        store_call("save", key, session, TEXT_TTL_SECONDS, day)
        return True, None
    return store_call("save_if", key, stored, session, TEXT_TTL_SECONDS, day) or (True, None)
