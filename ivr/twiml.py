"""Turn the engine's replies into TwiML with twilio-python, never string templates."""

from __future__ import annotations

from functools import lru_cache

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from .engine import Dial, Gather, Hangup, VoiceReply
from .script import Script

SPEECH_TIMEOUT = "auto"
RENDERED = 4096  # documents kept: a few per place in the menus, times the open and closed wording


@lru_cache(maxsize=RENDERED)
def voice(reply: VoiceReply, script: Script, answer_url: str, dialled_url: str) -> str:
    """Render a voice reply, sending the caller's next move to answer_url or dialled_url.

    Replies repeat (every caller hears the same menu), so each document is built
    once per script and kept; a reloaded script is a new object, so edits are
    never served from the cache.
    """
    response = VoiceResponse()
    then = reply.then
    if isinstance(then, Gather):
        action = answer_url
        lang = reply.says[-1].lang if reply.says else script.default.code
        gather = response.gather(
            input="dtmf speech", action=action, method="POST", language=lang,
            timeout=then.timeout, num_digits=1, finish_on_key="", speech_timeout=SPEECH_TIMEOUT,
            hints=", ".join(then.hints), action_on_empty_result=False,
        )
        _says(gather, reply, script)
        response.redirect(action, method="POST")  # silence: ask again
        return str(response)
    _says(response, reply, script)
    if isinstance(then, Dial):
        response.dial(then.number, action=dialled_url, method="POST", timeout=then.timeout)
    elif isinstance(then, Hangup):
        response.hangup()
    return str(response)


def _says(parent: object, reply: VoiceReply, script: Script) -> None:
    for say in reply.says:
        language = script.language(say.lang)
        parent.say(say.text, voice=language_voice(script, language.code), language=say.lang)


def language_voice(script: Script, code: str) -> str:
    """Return the voice for a language: its own if set, else the service's."""
    return script.language(code).voice_name or script.service.voice.voice


def message(text: str | None) -> str:
    """Render an SMS reply; None sends nothing."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)
