"""What every webhook shares: the signature check, safe form fields, the script and store."""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, abort, current_app, g, request
from twilio.request_validator import RequestValidator

from .. import logs, metrics
from ..batch import Batch
from ..live import LiveScript
from ..script import Script
from ..store import Store, StoreDown, key_for

log = logging.getLogger("ivr.web")
SIGNATURE_HEADER = "X-Twilio-Signature"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
IDEMPOTENCY_ENVIRON = "HTTP_" + IDEMPOTENCY_HEADER.upper().replace("-", "_")
MAX_FIELD = 1600
# Twilio's signature joins names and values, so a signed `CallSid=CA…Digits1` could be
# re-split into other fields: identifiers must have exactly Twilio's shape.
IDENTIFIERS = {
    "CallSid": re.compile(r"CA[0-9a-f]{32}"),
    "MessageSid": re.compile(r"[SM]M[0-9a-f]{32}"),
    "AccountSid": re.compile(r"AC[0-9a-f]{32}"),
}
KEYS = re.compile(r"[0-9*#]+")  # what a keypad sends: ASCII only, never a "²" or "①"
KEY_FIELDS = ("Digits",)
# The fallbacks hold only public facts and change nothing: a rotated token or a wrong
# PUBLIC_URL must not take them down with the main webhooks.
PUBLIC_FACTS = ("voice.fallback_call", "sms.fallback_text")


@dataclass
class Line:
    """The resources one app holds: the live script, the store, the key secret and the batch of counts."""

    live: LiveScript
    store: Store
    secret: bytes
    validator: RequestValidator | None
    batch: Batch


def line() -> Line:
    """Return this app's resources."""
    return current_app.extensions["ivr"]


def script() -> Script | None:
    """Return the current prompt script, or None when only the fallback is left."""
    return line().live.current()


def now() -> datetime:
    """Return the time the conversation runs at (the test clock, when one is set)."""
    clock = current_app.config.get("CLOCK")
    return clock() if clock else datetime.now(UTC)


def require_signature() -> None:
    """Refuse any request that Twilio did not sign for exactly this URL, or whose identifiers are not Twilio's."""
    validator = line().validator
    if validator is not None and not _signed_by_twilio(validator, request.headers.get(SIGNATURE_HEADER, "")):
        if request.endpoint in PUBLIC_FACTS:
            log.warning("answered a fallback whose signature check failed: check TWILIO_AUTH_TOKEN and PUBLIC_URL",
                        extra={"fields": {"path": route()}})
            return
        log.warning("refused an unsigned or forged request", extra={"fields": {"path": route()}})
        abort(403)
    if request.endpoint not in PUBLIC_FACTS:
        _require_twilio_identifiers()


def _signed_by_twilio(validator: RequestValidator, signature: str) -> bool:
    """Check the signature against the URL as sent; only on a miss try Twilio's port variants."""
    if not signature or not signature.isascii():  # Twilio's is base64; anything else is not worth comparing
        return False
    url = signed_url()
    expected = validator.compute_signature(url, request.form)
    return hmac.compare_digest(expected, signature) or validator.validate(url, request.form, signature)


def _require_twilio_identifiers() -> None:
    """Refuse with 400 a request whose CallSid, MessageSid or AccountSid is not shaped as Twilio makes them."""
    for name, shape in IDENTIFIERS.items():
        value = request.form.get(name)
        if value and not shape.fullmatch(value):
            log.warning("refused a request with a misshapen identifier", extra={"fields": {"field": name}})
            abort(400)


def route() -> str:
    """Name this request's route (`/voice/answer`), or "unknown": never the raw path, which may hold a number."""
    rule = request.url_rule
    return rule.rule if rule is not None else "unknown"


def signed_url() -> str:
    """Return the URL Twilio signed, query as sent: PUBLIC_URL plus path when behind a proxy."""
    base = current_app.config["PUBLIC_URL"] or request.root_url.rstrip("/")
    query = request.query_string.decode("latin-1")
    return base + request.path + (f"?{query}" if query else "")


def field(name: str, limit: int = MAX_FIELD) -> str:
    """Return a form field, cut to a safe length, without NUL or control characters; keys only if ASCII keys."""
    value = request.form.get(name, "")[:limit]
    if name in KEY_FIELDS:
        return value if KEYS.fullmatch(value) else ""
    if value.isprintable():  # nearly always: nothing to take out
        return value
    return "".join(char for char in value if char.isprintable() or char in "\n ")


def next_url(path: str, state: str) -> str:
    """Return the address of the next webhook, carrying the caller's place."""
    return _address(current_app.config["PUBLIC_URL"], path, state)


@lru_cache(maxsize=4096)  # places in the menus are few: each address is written once
def _address(base: str, path: str, state: str) -> str:
    return f"{base}{path}?s={quote(state, safe='.-_')}"


def session_key(kind: str, identifier: str) -> str | None:
    """Return the store key for a caller or texter, or None without an identifier."""
    return key_for(line().secret, kind, identifier) if identifier else None


def idempotency_token() -> str:
    """Return Twilio's idempotency token for this delivery ("" without one): a retry carries the same."""
    return request.environ.get(IDEMPOTENCY_ENVIRON, "")  # the header as WSGI holds it: no Headers lookup


def has_idempotency_token() -> bool:
    """Say whether Twilio marked this delivery with an idempotency token."""
    return bool(request.headers.get(IDEMPOTENCY_HEADER))


def fingerprint(*parts: str) -> str:
    """Identify one delivery of a webhook, to spot Twilio's retries.

    Keyed with the session secret: the parts may be a caller's words, and an
    unkeyed hash in a Redis dump would confirm anyone's guess of them.
    """
    token = request.headers.get(IDEMPOTENCY_HEADER, "")
    text = token or "\x1f".join((request.path, request.query_string.decode("latin-1"), *parts))
    return hmac.new(line().secret, text.encode(), hashlib.sha256).hexdigest()[:16]


def store_call(action: str, *args: Any, **kwargs: Any) -> Any:
    """Call the store; when it is down, note it and return None so the line carries on."""
    try:
        return getattr(line().store, action)(*args, **kwargs)
    except StoreDown as error:
        if not g.get("store_error"):
            metrics.STORE_ERRORS.inc()
        g.store_error = str(error)
        return None


def twiml(document: str) -> Response:
    """Answer Twilio with a TwiML document."""
    return Response(document, status=200, mimetype="text/xml")


def note(**fields: Any) -> None:
    """Add fields to this request's log line (never a number or a caller's words)."""
    g.setdefault("log_fields", {}).update(fields)


def init_request_log(app: Flask) -> None:
    """Log one JSON line per request: path, status, time taken, where the caller is."""

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        g.request_id = f"{random.getrandbits(48):012x}"  # to find a line again, not a secret: no urandom per request

    @app.after_request
    def _finish(response: Response) -> Response:
        endpoint = request.endpoint or "unknown"
        fields = {
            "request_id": g.get("request_id", ""),
            "endpoint": endpoint,
            "path": route(),
            "status": response.status_code,
            "ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
            **g.get("log_fields", {}),
        }
        if g.get("store_error"):
            fields["store"] = "down"
        metrics.latency(endpoint).observe(fields["ms"] / 1000)
        logs.request_line(log, fields)
        response.headers["X-Request-Id"] = fields["request_id"]
        return response
