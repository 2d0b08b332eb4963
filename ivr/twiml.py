"""Turn the engine's replies into TwiML with twilio-python, never string templates."""

from __future__ import annotations

from collections.abc import Callable

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from .engine import Dial, Gather, Hangup, VoiceReply
from .script import Script

SPEECH_TIMEOUT = "auto"


def voice(reply: VoiceReply, script: Script, url: Callable[[str, str], str]) -> str:
    """Render a voice reply; url(endpoint, state) gives the next webhook's address."""
    response = VoiceResponse()
    state = reply.call.encode()
    then = reply.then
    if isinstance(then, Gather):
        action = url("voice.answer", state)
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
        response.dial(then.number, action=url("voice.dialled", state), method="POST",
                      timeout=then.timeout)
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
