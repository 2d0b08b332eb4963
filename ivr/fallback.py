"""The fixed words the line falls back on when nothing else can be trusted.

This is the only text a caller or texter can get that is not in the prompt
files: it needs no Redis, no prompt files and no engine, so it works when they
are all gone. Keep it short, and keep the number right.
"""

from __future__ import annotations

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

HELPLINE_E164 = "+448088020300"
VOICE = "Polly.Amy"
LANGUAGE = "en-GB"
VOICE_TEXT = (
    "Sorry, this line has a problem. If you are in danger now, hang up and dial nine nine nine. "
    "The National Stalking Helpline's number is oh eight oh eight, eight oh two, oh three oh oh. "
    "Connecting you now."
)
VOICE_AFTER = (
    "The National Stalking Helpline's number is oh eight oh eight, eight oh two, oh three oh oh. "
    "If you are in danger, dial nine nine nine. Goodbye."
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


def voice_twiml() -> str:
    """Read the helpline number, ring it, then read it again."""
    response = VoiceResponse()
    response.say(VOICE_TEXT, voice=VOICE, language=LANGUAGE)
    response.dial(HELPLINE_E164, timeout=30)
    response.say(VOICE_AFTER, voice=VOICE, language=LANGUAGE)
    response.hangup()
    return str(response)


def sms_twiml(channel: str = "sms") -> str:
    """Text the helpline number and 999, in words that fit the channel ("sms" or "whatsapp")."""
    response = MessagingResponse()
    response.message(WHATSAPP_TEXT if channel == "whatsapp" else SMS_TEXT)
    return str(response)
