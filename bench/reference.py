"""The reference: the webhook a developer would write from Twilio's Python docs.

A ``validate_twilio_request`` decorator that builds a ``RequestValidator`` and
calls ``validate(request.url, request.form, signature)``, 403 otherwise, and a
voice view that builds a ``VoiceResponse`` on every request: a ``<Gather
input="dtmf speech" numDigits="1">`` holding five ``<Say voice="Polly.Amy"
language="en-GB">`` lines about the size of the line's first menu, then a
``<Redirect>``. No state store. ``bench/run.py`` serves it with the same gunicorn
command line as the Procfile's ``web:`` process and replays the very same signed
requests at it (every POST path answers with this view).
"""

from __future__ import annotations

import os
from functools import wraps
from typing import Any

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Gather, VoiceResponse

app = Flask(__name__)

MENU = (
    "If you are in danger now, hang up and dial nine nine nine.",
    "Welcome. This line tells you about stalking, harassment and bullying, and can put you through "
    "to the National Stalking Helpline.",
    "For stalking, press 1.",
    "For harassment, press 2. For bullying, press 3.",
    "To talk to someone at the National Stalking Helpline, press 0.",
)


def validate_twilio_request(f: Any) -> Any:
    """Validates that incoming requests genuinely originated from Twilio (as in Twilio's docs)."""

    @wraps(f)
    def decorated_function(*args: Any, **kwargs: Any) -> Any:
        validator = RequestValidator(os.environ.get("TWILIO_AUTH_TOKEN"))
        request_valid = validator.validate(
            request.url, request.form, request.headers.get("X-TWILIO-SIGNATURE", "")
        )
        if request_valid:
            return f(*args, **kwargs)
        return abort(403)

    return decorated_function


@app.post("/", defaults={"path": ""})
@app.post("/<path:path>")
@validate_twilio_request
def voice(path: str) -> Response:
    """Answer a call with the menu, built anew, as the docs do."""
    response = VoiceResponse()
    gather = Gather(input="dtmf speech", num_digits=1, action="/voice/answer", method="POST")
    for line in MENU:
        gather.say(line, voice="Polly.Amy", language="en-GB")
    response.append(gather)
    response.redirect("/voice")
    return Response(str(response), mimetype="text/xml")


@app.get("/healthz")
def healthz() -> Response:
    """Say the process is up, as the line does."""
    return Response('{"status":"ok"}', mimetype="application/json")
