"""The fixed words the line falls back on when nothing else can be trusted.

This is the only text a caller or texter can get that is not in the prompt
files: it needs no Redis, no prompt files and no engine, so it works when they
are all gone. Keep it short, and keep the number right. When the last good
prompts are at hand, their opening hours keep a closed helpline from being rung.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from .hours import spoken_when

if TYPE_CHECKING:
    from .script import Script

HELPLINE_E164 = "+448088020300"
VOICE = "Polly.Amy"
LANGUAGE = "en-GB"
DANGER = "If you are in danger now, hang up and dial nine nine nine."
NUMBER = "oh eight oh eight, eight oh two, oh three oh oh"
VOICE_TEXT = (
    f"The National Stalking Helpline offers help, advice and support. Its number is {NUMBER}. "
    "Connecting you now."
)
VOICE_AFTER = (
    f"The National Stalking Helpline's number is {NUMBER}. If you are in danger, dial nine nine nine. "
    "Goodbye."
)
VOICE_CLOSED = (
    "The National Stalking Helpline offers help, advice and support. It is closed now, and opens {opens}. "
    f"Its number is {NUMBER}. Goodbye."
)
VOICE_CLOSED_UNKNOWN = (
    "The National Stalking Helpline offers help, advice and support. It is closed now. "
    f"Its number is {NUMBER}. Goodbye."
)
SMS_TEXT = (
    "Sorry, this service has a problem. National Stalking Helpline: 0808 802 0300, "
    "weekdays. In danger now? Call 999."
)

# On WhatsApp a texter may think the number takes WhatsApp calls: say it is a phone call.
WHATSAPP_TEXT = (
    "Sorry, this service has a problem. National Stalking Helpline: phone 0808 802 0300 "
    "(a normal phone call, weekdays). In danger now? Call 999."
)


def voice_twiml(script: Script | None = None, now: datetime | None = None) -> str:
    """Say the 999 notice, then ring the helpline (or say when it opens, if the script says it is closed).

    The script is the last good one in memory (None when there is none). Never
    raises: if anything about the script or the time goes wrong, the fixed words
    and the Dial are used.
    """
    try:
        closed = _closed_words(script, now)
    except Exception:  # the fallback must answer, whatever broke
        closed = None
    return _closed_twiml(closed) if closed else _dial_twiml()


def _closed_words(script: Script | None, now: datetime | None) -> str | None:
    """What to say instead of ringing a closed helpline, or None to ring it."""
    if script is None or now is None or script.hours.is_open(now):
        return None
    moment = script.hours.next_opening(now)
    if moment is None:
        return VOICE_CLOSED_UNKNOWN
    return VOICE_CLOSED.format(opens=spoken_when(moment, now, script.default.when))


def _dial_twiml() -> str:
    response = VoiceResponse()
    response.say(DANGER, voice=VOICE, language=LANGUAGE)
    response.say(VOICE_TEXT, voice=VOICE, language=LANGUAGE)
    response.dial(HELPLINE_E164, timeout=30)
    response.say(VOICE_AFTER, voice=VOICE, language=LANGUAGE)
    response.hangup()
    return str(response)


def _closed_twiml(words: str) -> str:
    response = VoiceResponse()
    response.say(DANGER, voice=VOICE, language=LANGUAGE)
    response.say(words, voice=VOICE, language=LANGUAGE)
    response.hangup()
    return str(response)


def sms_twiml(channel: str = "sms") -> str:
    """Text the helpline number and 999, in words that fit the channel ("sms" or "whatsapp")."""
    response = MessagingResponse()
    response.message(WHATSAPP_TEXT if channel == "whatsapp" else SMS_TEXT)
    return str(response)
