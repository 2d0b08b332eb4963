"""The helpline's telephone and SMS line.

Public surface: :func:`create_app` (the WSGI app factory gunicorn runs) and the
pieces the command line and tests use. The conversation itself lives in
:mod:`ivr.engine`, which does no I/O.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, request
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import HTTPException

from . import config, logs, twiml
from .config import ConfigError
from .live import CHECK_SECONDS, LiveScript
from .snapshot import Snapshot
from .store import open_store

__all__ = ["ConfigError", "create_app"]
log = logging.getLogger("ivr")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app from the environment, then the test overrides."""
    logs.setup()
    app = Flask(__name__)
    app.config.from_mapping(config.from_environ(os.environ))
    if test_config:
        app.config.update(test_config)
    config.check(app.config)
    app.config["MAX_CONTENT_LENGTH"] = config.MAX_BODY_BYTES
    init_app(app)

    from .web import console, health, sms, voice

    app.register_blueprint(voice.bp)
    app.register_blueprint(sms.bp)
    app.register_blueprint(health.bp)
    console.init_app(app)
    app.register_error_handler(Exception, _never_a_500)
    return app


def init_app(app: Flask) -> None:
    """Attach the live script, the session store and the request log to the app."""
    from .batch import FLUSH_SECONDS, Batch  # here: gunicorn's master imports this package, never the metrics
    from .web.common import Line, init_request_log

    # A reload makes a new script: let go of the documents built for the old one.
    reload_seconds = app.config.get("RELOAD_SECONDS", CHECK_SECONDS)
    snapshot = Snapshot(app.config["PROMPTS_DIR"], app.config.get("PROMPTS_SNAPSHOT") or None)
    live = LiveScript(app.config["PROMPTS_DIR"], reload_seconds, on_change=twiml.voice.cache_clear, snapshot=snapshot)
    store = app.config.get("STORE") or open_store(app.config["REDIS_URL"] or None)
    if not app.config["REDIS_URL"] and not app.config.get("STORE"):
        log.warning("REDIS_URL is not set: sessions are kept in this process only (one worker)")
    token = app.config["TWILIO_AUTH_TOKEN"]
    validator = RequestValidator(token) if token and not app.config["DEV_MODE"] else None
    if validator is None:
        log.warning("DEVELOPMENT MODE: Twilio signatures are NOT checked. Never expose this server.")
    secret = config.session_secret(app.config)
    batch = Batch(store, secret, app.config.get("COUNTS_FLUSH_SECONDS", FLUSH_SECONDS))
    app.extensions["ivr"] = Line(live, store, secret, validator, batch)
    init_request_log(app)


def _never_a_500(error: Exception) -> Any:
    """Answer Twilio with TwiML that still reaches the helpline, whatever broke."""
    if isinstance(error, HTTPException):
        return error
    from .web.common import route

    fields = {"request_id": g.get("request_id", ""), "path": route()}
    log.error("webhook failed", exc_info=error, extra={"fields": fields})
    if request.path.startswith("/voice"):
        from .web.voice import fallback_document

        return fallback_document(), 200, {"Content-Type": "text/xml"}
    if request.path.startswith("/sms"):
        from .web.sms import fallback_document as text_fallback

        return text_fallback(), 200, {"Content-Type": "text/xml"}
    return {"status": "error"}, 500
