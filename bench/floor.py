"""The floor: the least a Flask app under gunicorn can do for a Twilio webhook.

One view answers a POST to any path with a constant TwiML document, without
reading the form or checking a signature. ``bench/run.py`` serves it with the
same gunicorn command line as the Procfile's ``web:`` process and replays the
very same requests at it, so the ratio of the line's throughput to this one
measures what the line itself costs.
"""

from __future__ import annotations

from flask import Flask, Response

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Response><Say>If you are in danger now, hang up and dial nine nine nine.</Say></Response>"
)

app = Flask(__name__)


@app.post("/", defaults={"path": ""})
@app.post("/<path:path>")
def webhook(path: str) -> Response:
    """Answer any webhook with the same TwiML."""
    return Response(TWIML, status=200, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> Response:
    """Say the process is up, as the line does."""
    return Response('{"status":"ok"}', mimetype="application/json")
