"""The text channels: SMS and WhatsApp, each one value the text path carries.

Twilio sends SMS and WhatsApp messages to the same webhook; the sender's address
says which (``whatsapp:+44…``). :func:`from_sender` reads it once, and the
:class:`Channel` then travels down: the engine picks the channel's pages and
menu, the store keys the texter under the channel's own kind, and the counts
and metrics carry its name. Adding a channel is one more :class:`Channel` here,
its page setting in ``prompts/service.yaml`` (:mod:`ivr.schema`), and its own
words in a ``menu.yaml`` section (``Language.channel_words`` in
:mod:`ivr.script`). Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import gsm
from .schema import Service

WHATSAPP_MAX_CHARACTERS = 1600  # Twilio's most for one WhatsApp message body


@dataclass(frozen=True)
class Channel:
    """One way of texting the line, and the rules its replies follow."""

    name: str  # in /metrics labels, daily counts and the engine's events
    label: str  # how operators know it
    prefix: str  # how Twilio marks a sender on this channel ("" for the default, SMS)
    key_kind: str  # the store key's kind for a texter's place, beside an HMAC of their address
    count_field: str  # the daily count of messages received
    gsm7: bool  # replies must stay in the GSM-7 alphabet and are measured in SMS segments
    unit: str  # what a reply's size is counted in, for operators
    page_limit: Callable[[Service], int]  # the most one topic page may measure
    reply_limit: Callable[[Service], int]  # the most any other reply may measure
    menu_limit: Callable[[Service], int]  # the most the menu may measure
    bold: str = ""  # the mark put either side of a keyword in a reply, if the channel shows bold
    confirms_opt_out: bool = False  # no carrier answers STOP here, so the line itself confirms it

    def measure(self, text: str) -> int:
        """Return the size of a reply in this channel's unit."""
        return gsm.cost(text).segments if self.gsm7 else len(text)

    def sender(self, address: str) -> str:
        """Write a bare number as a sender on this channel."""
        return self.prefix + address

    def embolden(self, text: str, words: Iterable[str]) -> str:
        """Mark each keyword written in capitals as bold; a no-op where the channel has no bold."""
        wanted = sorted({word.upper() for word in words if word.strip()}, key=len, reverse=True)
        if not self.bold or not wanted:
            return text
        mark = re.escape(self.bold)
        pattern = re.compile(rf"(?<![\w{mark}])({'|'.join(map(re.escape, wanted))})(?![\w{mark}])")
        return pattern.sub(lambda found: f"{self.bold}{found.group(1)}{self.bold}", text)


SMS = Channel(
    name="sms", label="SMS", prefix="", key_kind="text", count_field="texts", gsm7=True, unit="SMS segments",
    page_limit=lambda service: service.sms.max_segments,
    reply_limit=lambda service: service.sms.max_segments,
    menu_limit=lambda service: service.sms.menu_segments,
)
WHATSAPP = Channel(
    name="whatsapp", label="WhatsApp", prefix="whatsapp:", key_kind="wa", count_field="whatsapp",
    gsm7=False, unit="characters",
    page_limit=lambda service: service.whatsapp.page_characters,
    reply_limit=lambda _service: WHATSAPP_MAX_CHARACTERS,
    menu_limit=lambda _service: WHATSAPP_MAX_CHARACTERS,
    bold="*", confirms_opt_out=True,
)
CHANNELS = (SMS, WHATSAPP)  # SMS first: it is the default


def from_sender(sender: str) -> Channel:
    """Work out the channel from Twilio's From field; anything unmarked is SMS."""
    for channel in CHANNELS:
        if channel.prefix and sender.lower().startswith(channel.prefix):
            return channel
    return SMS


def by_name(name: str) -> Channel:
    """Return a channel by its name (as the command line takes it)."""
    return next((channel for channel in CHANNELS if channel.name == name), SMS)
