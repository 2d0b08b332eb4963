"""Texts: Twilio's messaging webhooks (SMS and WhatsApp), turned into engine inputs and TwiML.

The channel is read once from the sender's address and passed down. A WhatsApp
message's extra fields (ProfileName, WaId, a shared place, media URLs) are never
read beyond whether a message carries something other than words.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, Response

from .. import channels, engine, fallback, metrics, stats, twiml
from ..channels import Channel
from ..config import TEXT_TTL_SECONDS
from ..engine import TextReply, Thread
from ..script import Script, words_of
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
# What a WhatsApp message may carry instead of words; the line never opens any of them.
NOT_WORDS = frozenset({"image", "video", "audio", "document", "sticker", "location", "contacts"})


@bp.post("")
def incoming() -> Response:
    """Answer one text, within the texter's rate limit."""
    sender = field("From", 64)
    channel = channels.from_sender(sender)
    current = script()
    if current is None:
        return answer_with(fallback.sms_twiml(channel.name))
    key, counter = session_key(channel.key_kind, sender), session_key(f"rate:{channel.key_kind}", sender)
    count, stored = _load(counter, current.service.sms.rate_limit_minutes * 60, key)
    delivery = _delivery()
    for attempt in range(SAVE_ATTEMPTS):
        thread, reply, retry = _answer(current, stored, delivery, count, channel)
        # The day's count goes with the first attempt only: the text arrived once.
        day = None if retry or attempt else stats.tally(now(), channel.count_field,
                                                         event_field(reply.event, channel.name))
        saved, stored = _keep(key, stored, thread, reply, delivery, day, last=attempt == SAVE_ATTEMPTS - 1)
        if saved:
            break
    if not retry:
        metrics.MESSAGES.labels(channel=channel.name).inc()
        metrics.count_event(reply.event, channel.name)
    note(channel=channel.name, event=reply.event, replied=reply.text is not None, retry=retry)
    return answer_with(twiml.message(reply.text))


@bp.post("/fallback")
def fallback_text() -> Response:
    """Text the helpline number and 999; needs no Redis and no prompt files."""
    return answer_with(fallback_document())


def fallback_document() -> str:
    """The fixed text fallback, in the words for the sender's channel (SMS if even that cannot be read)."""
    try:
        channel = channels.from_sender(field("From", 64)).name
    except Exception:  # noqa: BLE001 - the fallback must answer whatever the request holds
        channel = "sms"
    return fallback.sms_twiml(channel)


def _load(counter: str | None, window: int, key: str | None) -> tuple[int, dict[str, Any] | None]:
    if key is None or counter is None:
        return 0, None
    return store_call("count_and_load", counter, window, key) or (0, None)


def _answer(
    current: Script, stored: dict[str, Any] | None, delivery: str, count: int, channel: Channel
) -> tuple[Thread, TextReply, bool]:
    """Answer the text from the stored place; a retried delivery is answered as it was the first time."""
    thread, token = _thread(stored)
    retry = bool(delivery) and token == delivery
    if retry:
        thread = Thread.from_dict((stored or {}).get("before"))
    reply = _reply(current, thread, channel)
    limit = current.service.sms.rate_limit_messages
    if count > limit:
        reply = _limited(current, thread, reply, count - limit)
    return thread, reply, retry


def _reply(current: Script, thread: Thread, channel: Channel) -> TextReply:
    """Answer the words; a message with none but a picture, voice message or place gets the words-only reply."""
    body = field("Body", MAX_BODY)
    if not words_of(body) and _carries_other_than_words():
        return engine.reply_to_media(current, thread, channel)
    return engine.reply_to_text(current, thread, body, now(), channel)


def _carries_other_than_words() -> bool:
    """Say whether a message holds media, a place or a contact: only whether, never what or where."""
    count = field("NumMedia", 4)
    kind = field("MessageType", 16).lower()
    has_place = bool(field("Latitude", 1)) or bool(field("Longitude", 1))
    return (count.isdigit() and int(count) > 0) or kind in NOT_WORDS or has_place


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
