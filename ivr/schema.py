"""The shape of the prompt files, checked on every load.

``prompts/service.yaml`` holds :class:`Service`; each language folder holds a
``menu.yaml`` (:class:`MenuFile`) and one file per topic under ``topics/``
(:class:`TopicFile`). Unknown keys are errors, so a misspelt key is caught
rather than silently ignored.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .config import E164
from .hours import HoursSettings, WhenWords

SPOKEN_DIGITS = {
    "oh": "0", "zero": "0", "nought": "0", "one": "1", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Helpline(Strict):
    name: str
    e164: str
    written: str
    spoken: str

    @field_validator("e164")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not E164.fullmatch(value):
            raise ValueError(f"{value!r} is not an E.164 number: write it like +448088020300")
        return value

    @model_validator(mode="after")
    def _same_number(self) -> Helpline:
        national = "0" + self.e164[3:] if self.e164.startswith("+44") else self.e164[1:]
        written = re.sub(r"[^0-9]", "", self.written)
        if written != national:
            raise ValueError(f"written number {self.written!r} is not the same as e164 {self.e164}")
        spoken = "".join(SPOKEN_DIGITS.get(word, "?") for word in re.findall(r"[a-z]+", self.spoken.lower()))
        if spoken != national:
            raise ValueError(
                f"spoken number {self.spoken!r} does not read out {national} digit by digit "
                "(use words: oh, one, two ... nine)"
            )
        return self


class VoiceSettings(Strict):
    voice: str = "Polly.Amy"
    gather_timeout: Annotated[int, Field(ge=2, le=30)] = 6
    max_misses: Annotated[int, Field(ge=1, le=10)] = 3
    dial_timeout: Annotated[int, Field(ge=10, le=120)] = 30
    words_per_minute: Annotated[int, Field(ge=60, le=300)] = 160
    max_say_seconds: Annotated[int, Field(ge=5, le=300)] = 40


class SmsSettings(Strict):
    max_segments: Annotated[int, Field(ge=1, le=10)] = 3
    menu_segments: Annotated[int, Field(ge=1, le=10)] = 2
    rate_limit_messages: Annotated[int, Field(ge=1)] = 20
    rate_limit_minutes: Annotated[int, Field(ge=1, le=1440)] = 10


class WhatsappSettings(Strict):
    # WhatsApp has no segments: a topic page may be longer than a text, up to Twilio's 1,600 characters.
    page_characters: Annotated[int, Field(ge=300, le=1600)] = 800


class CallSettings(Strict):
    rate_limit_calls: Annotated[int, Field(ge=1)] = 10
    rate_limit_minutes: Annotated[int, Field(ge=1, le=1440)] = 10


class Service(Strict):
    helpline: Helpline
    voice: VoiceSettings = VoiceSettings()
    sms: SmsSettings = SmsSettings()
    whatsapp: WhatsappSettings = WhatsappSettings()
    calls: CallSettings = CallSettings()
    hours: HoursSettings
    default_language: str = "en-GB"


class LanguageInfo(Strict):
    name: str
    choose: str
    keywords: list[str] = []
    # The text-to-speech voice for this language; the service's voice if unset.
    voice: str | None = None
    # The line added to other languages' SMS menus to offer this one.
    sms_choose: str | None = None


class VoiceWords(Strict):
    danger: str
    welcome: str
    list_and: str
    menu_topic: str
    menu_helpline: str
    menu_helpline_closed: str
    part_choices: str
    part_choices_closed: str
    topic_end: str
    topic_end_closed: str
    didnt_get: str
    goodbye: str
    transfer: str
    busy: str
    no_answer: str
    no_answer_closing: str
    failed: str
    canceled: str
    after_transfer: str
    after_transfer_closed: str
    transfer_done: str
    closed: str
    closed_choices: str
    gone: str
    say_next: list[str]
    say_repeat: list[str]
    say_menu: list[str]
    say_helpline: list[str]


class SmsWords(Strict):
    menu_intro: str
    menu_topic: str
    menu_call: str
    page_more: str
    page_last: str
    call_open: str
    call_closed: str
    rate_limited: str
    forget: str
    danger: str
    menu_hide: str
    hide: str
    words_only: str
    say_more: list[str]
    say_menu: list[str]
    say_call: list[str]
    say_forget: list[str]
    say_danger: list[str]
    say_hide: list[str]


class WhatsappWords(Strict):
    """What WhatsApp texters read where the SMS words do not fit; a missing prompt uses the SMS one."""

    opted_out: str
    hide: str | None = None
    words_only: str | None = None


class MenuFile(Strict):
    language: LanguageInfo
    voice: VoiceWords
    sms: SmsWords
    whatsapp: WhatsappWords
    when: WhenWords = WhenWords()


class Part(Strict):
    """One part of a topic: a sentence for both calls and texts, or separate voice and sms words.

    A part with only `voice:` or only `sms:` uses those words on both channels.
    """

    voice: str | None = None
    sms: str | None = None

    @model_validator(mode="after")
    def _has_words(self) -> Part:
        if self.voice is None and self.sms is None:
            raise ValueError("a part needs words: a sentence, or voice: and sms: lines")
        return self

    @property
    def spoken(self) -> str:
        """Return the wording a caller hears."""
        return self.voice if self.voice is not None else self.sms or ""

    @property
    def text(self) -> str:
        """Return the wording a texter reads."""
        return self.sms if self.sms is not None else self.voice or ""


class TopicFile(Strict):
    title: str
    key: Annotated[int, Field(ge=1, le=8)] | None = None
    keywords: list[str] = []
    parts: Annotated[list[Part], Field(min_length=1)]

    @field_validator("parts", mode="before")
    @classmethod
    def _plain_parts(cls, value: object) -> object:
        """Let an operator write a part as a plain sentence used for both channels."""
        if isinstance(value, list):
            return [{"voice": part} if isinstance(part, str) else part for part in value]
        return value
