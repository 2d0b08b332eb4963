"""Twilio's call and dial statuses, listed once for the engine, the webhooks, the statistics and the CLI."""

from __future__ import annotations

# How a <Dial> to the helpline ended (DialCallStatus). "answered" is what older calls report.
DIAL_OUTCOMES = ("completed", "answered", "busy", "no-answer", "failed", "canceled")
# The dial statuses that mean the helpline answered and the caller was put through.
DIAL_CONNECTED = ("completed", "answered")
# What a pretend caller may answer when asked how the transfer went, and what the statistics count.
DIAL_ENDINGS = ("completed", "busy", "no-answer", "failed", "canceled")
