"""A pretend phone: plays Twilio's part against the line, in process or over HTTP.

It posts the same signed, form-encoded webhooks Twilio does, reads the TwiML
that comes back, and follows its Gather, Redirect and Dial actions. ``ivr call``
and ``ivr text`` use it to let an operator try the line in a terminal, and the
tests use it to walk whole calls. The only difference between in process and a
deployed server is the :class:`Transport`.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urljoin, urlsplit

from twilio.request_validator import RequestValidator

from . import gsm
from .channels import SMS, WHATSAPP, Channel

FAKE_CALLER = "+447700900000"  # an Ofcom drama number: never a real person's
FAKE_LINE = "+441632960000"
FAKE_PROFILE_NAME = "Pretend Texter"  # what WhatsApp would send as the texter's name
ACCOUNT_SID = "AC" + "0" * 32


class Transport(Protocol):
    """Posts a form to a URL and returns the status and body."""

    def post(self, url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        """Send one webhook."""


class FlaskTransport:
    """Post to an app in this process, through Flask's test client."""

    def __init__(self, app: object) -> None:
        self.client = app.test_client()  # type: ignore[attr-defined]

    def post(self, url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.post(path, data=form, headers=headers, base_url=f"{parts.scheme}://{parts.netloc}")
        return response.status_code, response.get_data(as_text=True)


class LineUnreachable(Exception):
    """Nothing answered at the address the pretend phone was given."""


class HttpTransport:
    """Post to a running server over HTTP."""

    def post(self, url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        import requests

        try:
            response = requests.post(url, data=form, headers=headers, timeout=15)
        except requests.ConnectionError:
            raise LineUnreachable(url) from None
        return response.status_code, response.text


@dataclass
class Turn:
    """What the line did in answer to one webhook."""

    says: list[str] = field(default_factory=list)
    waits: str | None = None  # the Gather action: the line is waiting for a key or words
    silence: str | None = None  # where Twilio goes when the caller says nothing
    dials: str | None = None  # the number being rung
    dial_action: str | None = None
    hung_up: bool = False
    status: int = 200
    message: str | None = None  # an SMS reply

    @property
    def ended(self) -> bool:
        """Say whether the call is over."""
        return self.hung_up or (self.waits is None and self.dials is None and self.silence is None)


class Phone:
    """One pretend caller or texter, signing each webhook as Twilio would."""

    def __init__(
        self, transport: Transport, base_url: str, token: str, caller: str = FAKE_CALLER, channel: Channel = SMS
    ) -> None:
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.validator = RequestValidator(token)
        self.caller = caller
        self.channel = channel  # how texts are sent: SMS, or WhatsApp with its extra fields
        self.profile_name = FAKE_PROFILE_NAME
        self.call_sid = "CA" + secrets.token_hex(16)
        self.last_token = ""  # the idempotency token of the last delivery sent

    def post(self, path_or_url: str, form: dict[str, str], token: str = "") -> tuple[int, str]:
        """Sign and send one webhook, marked with an idempotency token as Twilio does (pass one to retry)."""
        url = urljoin(self.base_url + "/", path_or_url)
        signature = self.validator.compute_signature(url, form)
        self.last_token = token or secrets.token_hex(16)
        return self.transport.post(url, form, {"X-Twilio-Signature": signature,
                                               "I-Twilio-Idempotency-Token": self.last_token})

    def _call_form(self, **extra: str) -> dict[str, str]:
        return {"CallSid": self.call_sid, "From": self.caller, "To": FAKE_LINE, **extra}

    def ring(self) -> Turn:
        """Start a call."""
        return self._voice("/voice", self._call_form(CallStatus="ringing"))

    def press(self, turn: Turn, keys: str) -> Turn:
        """Press keys (one at a time, as the menus take them) where the line waits."""
        for key in keys:
            if turn.waits is None:
                break
            turn = self._voice(turn.waits, self._call_form(Digits=key))
        return turn

    def say(self, turn: Turn, words: str) -> Turn:
        """Say words where the line waits."""
        if turn.waits is None:
            return turn
        return self._voice(turn.waits, self._call_form(SpeechResult=words, Confidence="0.9"))

    def wait(self, turn: Turn) -> Turn:
        """Say nothing: Twilio follows the Redirect after the Gather."""
        if turn.silence is None:
            return turn
        return self._voice(turn.silence, self._call_form())

    def transfer_ends(self, turn: Turn, status: str) -> Turn:
        """Finish the transfer to the helpline with a DialCallStatus."""
        if turn.dial_action is None:
            return Turn(hung_up=True)
        return self._voice(turn.dial_action, self._call_form(DialCallStatus=status))

    def hang_up(self) -> int:
        """Send the status callback Twilio sends when the call ends."""
        status, _ = self.post("/voice/status", self._call_form(CallStatus="completed"))
        return status

    def text(self, body: str, **extra: str) -> Turn:
        """Send one text (on this phone's channel, with any extra fields) and return the reply."""
        status, document = self.post("/sms", {**self.text_form(body), **extra})
        turn = Turn(status=status)
        if status == 200:
            found = ET.fromstring(document).find("Message")
            turn.message = (found.text or "") if found is not None else None
        return turn

    def text_form(self, body: str) -> dict[str, str]:
        """Shape one incoming message as Twilio posts it for this phone's channel."""
        sid = "SM" + secrets.token_hex(16)
        form = {
            "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID,
            "From": self.channel.sender(self.caller), "To": self.channel.sender(FAKE_LINE), "Body": body,
            "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
        }
        if self.channel is WHATSAPP:
            form.update(ProfileName=self.profile_name, WaId=self.caller.lstrip("+"), MessageType="text")
        return form

    def _voice(self, url: str, form: dict[str, str]) -> Turn:
        status, document = self.post(url, form)
        if status != 200:
            return Turn(status=status, hung_up=True)
        return parse_voice(document)


def parse_voice(document: str) -> Turn:
    """Read a TwiML voice document into what a caller would hear and what happens next."""
    turn = Turn()
    for verb in ET.fromstring(document):
        if verb.tag == "Gather":
            turn.says.extend(say.text or "" for say in verb.iter("Say"))
            turn.waits = verb.get("action")
        elif verb.tag == "Say":
            turn.says.append(verb.text or "")
        elif verb.tag == "Redirect":
            turn.silence = verb.text
        elif verb.tag == "Dial":
            turn.dials = (verb.text or "").strip()
            turn.dial_action = verb.get("action")
            break  # what follows a Dial is heard only after the transfer ends
        elif verb.tag == "Hangup":
            turn.hung_up = True
            break
    return turn


def describe_text(text: str, channel: Channel = SMS) -> str:
    """Say what a text costs: segments, encoding and length (on WhatsApp, its length against its limit)."""
    if not channel.gsm7:
        return f"[{channel.label}, {channel.measure(text)} {channel.unit}]"
    cost = gsm.cost(text)
    plural = "" if cost.segments == 1 else "s"
    return f"[{cost.segments} segment{plural}, {cost.encoding}, {cost.units} characters]"
