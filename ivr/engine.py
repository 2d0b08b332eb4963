"""The conversation engine: what the line says next, and nothing else.

Pure functions of (script, where the caller is, what they did, the time) that
return what to say and where the caller is now. No HTTP, TwiML, Redis or
environment here: the web edges turn requests into these inputs and replies into
TwiML, and the command line drives the same functions in a terminal.

A call's place (:class:`Call`) is small enough to travel in the URL of the next
webhook, which Twilio signs, so a call keeps working from the request alone when
the session store is down, and a replayed webhook gives the same answer instead
of moving the caller on twice.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

import snowballstemmer
from rapidfuzz import fuzz, process

from .channels import SMS, Channel
from .hours import opens_said, opens_written
from .script import Language, Script, Topic, words_of
from .twilio_status import DIAL_CONNECTED, DIAL_OUTCOMES

# Where a caller can be.
LANGUAGE = "lang"
MENU = "menu"
TOPIC = "topic"
DIAL = "dial"
AFTER = "after"
CLOSED = "closed"
NODES = (LANGUAGE, MENU, TOPIC, DIAL, AFTER, CLOSED)

# Keys that mean the same in every menu.
HELPLINE_KEY = "0"
MENU_KEY = "9"
REPEAT_KEY = "*"
NEXT_KEYS = ("1", "#")

CLOSING_SOON_MINUTES = 15

# Words carriers treat as opting out; the app never replies to them.
OPT_OUT = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
FUZZY_THRESHOLD = 80
FUZZY_MIN_LENGTH = 4
# Snowball stemmers by the first part of a language's tag; a language without one matches whole words only.
STEMMERS = {"en": "english", "fr": "french", "de": "german", "es": "spanish", "it": "italian", "pt": "portuguese",
            "nl": "dutch", "ga": "irish", "pl": "polish", "ro": "romanian", "tr": "turkish", "ar": "arabic"}
_STEMMING = threading.Lock()  # a Snowball stemmer keeps its word in the object while it works
_PLACE = r"[A-Za-z0-9-]{0,26}\.[a-z]{0,8}\.[a-z0-9_-]{0,40}\.[0-9]{1,2}\.[0-9]{1,2}"
# v2 (now): "v2.<place>.<reached 0|1>"; v1 (before): "<place>" alone, still read for calls in progress at a deploy.
STATE_VERSION = "v2"
_STATE = re.compile(rf"^(?:{STATE_VERSION}\.({_PLACE})\.([01])|({_PLACE}))$")


# ---------------------------------------------------------------- voice


@dataclass(frozen=True)
class Call:
    """Where a caller is in the menus, and whether they have reached a topic yet."""

    lang: str = ""
    node: str = MENU
    topic: str = ""
    part: int = 0
    misses: int = 0
    reached: bool = False  # travels with the call, so its end needs no record of it

    def encode(self) -> str:
        """Write the place compactly, with its format's version, for the next webhook's URL."""
        return f"{STATE_VERSION}.{self.lang}.{self.node}.{self.topic}.{self.part}.{self.misses}.{int(self.reached)}"

    @classmethod
    def decode(cls, text: str | None) -> Call:
        """Read a place from a URL (this format or the one before); anything unreadable is the main menu."""
        found = _STATE.match(text) if text else None
        if found is None:
            return cls()
        place, reached = (found[1], found[2] == "1") if found[1] is not None else (found[3], False)
        lang, node, topic, part, misses = place.split(".")
        if node not in NODES:
            return cls(lang=lang, reached=reached)
        return cls(lang, node, topic, int(part), int(misses), reached)


@dataclass(frozen=True)
class Say:
    """One thing said, in one language."""

    text: str
    lang: str


@dataclass(frozen=True)
class Gather:
    """Wait for a key or a few words."""

    hints: tuple[str, ...]
    timeout: int


@dataclass(frozen=True)
class Dial:
    """Ring the helpline."""

    number: str
    timeout: int


@dataclass(frozen=True)
class Hangup:
    """End the call."""


@dataclass(frozen=True)
class VoiceReply:
    """What to say, what to do next, and where the caller is then."""

    says: tuple[Say, ...]
    then: Gather | Dial | Hangup
    call: Call
    event: str


@dataclass(frozen=True)
class Heard:
    """What the caller did: keys pressed, or words said."""

    digits: str = ""
    speech: str = ""


def start_call(script: Script, now: datetime) -> VoiceReply:
    """Answer a new call: the 999 notice first, then the language choice or the menu."""
    language = script.default
    danger = _said(script, language, language.voice.danger)
    if len(script.languages) > 1:
        return _language_menu(script, Call(node=LANGUAGE), now, (danger,))
    return _render(script, Call(lang=language.code), now, (danger, _welcome(script, language)))


def _welcome(script: Script, language: Language) -> Say:
    """The welcome, naming the topics from the topic files."""
    return Say(script.fill(language.voice.welcome, "voice", topics=topic_list(language)), language.code)


def topic_list(language: Language) -> str:
    """Name a language's topics as a list: "stalking, harassment and bullying"."""
    titles = [topic.title for topic in language.topics]
    if len(titles) < 2:
        return "".join(titles)
    return f"{', '.join(titles[:-1])} {language.voice.list_and} {titles[-1]}"


def helpline_at_once(script: Script, now: datetime) -> VoiceReply:
    """Skip the menu, not the help: the 999 notice, then the helpline (or when it opens)."""
    language = script.default
    danger = _said(script, language, language.voice.danger)
    return _helpline(script, Call(lang=language.code), now, (danger,))


def answer(script: Script, call: Call, heard: Heard, now: datetime) -> VoiceReply:
    """Move the caller on from where they are, by what they pressed or said."""
    language = script.language(call.lang)
    gone = _gone(script, language, call)
    call = replace(call, lang=language.code)
    key = _key_for(language, call, heard)
    if call.node == LANGUAGE:
        return _choose_language(script, call, key, now)
    if key == HELPLINE_KEY:
        return _helpline(script, call, now)
    if gone:
        return _render(script, _at_menu(call), now, (_said(script, language, language.voice.gone),))
    if key == MENU_KEY:
        return _render(script, _at_menu(call), now)
    move = _move(language, call, key)
    if move is None:
        return _miss(script, call, now)
    reply = _render(script, replace(move, misses=0), now, _entering(script, language, call, move, now))
    return replace(reply, event="repeat") if key == REPEAT_KEY else reply


def _entering(script: Script, language: Language, call: Call, move: Call, now: datetime) -> tuple[Say, ...]:
    """Say once, as a caller starts a topic, that the helpline is closed (not after every part)."""
    starts = move.node == TOPIC and (call.node != TOPIC or call.topic != move.topic)
    if not starts or script.hours.is_open(now):
        return ()
    return (_said(script, language, language.voice.menu_helpline_closed),)


def dial_result(script: Script, call: Call, status: str, now: datetime) -> VoiceReply:
    """Tell the caller how the transfer went, and offer the next step."""
    language = script.language(call.lang)
    call = replace(call, lang=language.code, misses=0)
    if status in DIAL_CONNECTED:
        return VoiceReply((_said(script, language, language.voice.transfer_done),), Hangup(), call,
                          "transfer:completed")
    outcome = status if status in DIAL_OUTCOMES else "failed"
    message = {
        "busy": language.voice.busy,
        "no-answer": _no_answer(script, language, now),
        "canceled": language.voice.canceled,
    }.get(outcome, language.voice.failed)
    reply = _render(script, replace(call, node=AFTER), now, (_said(script, language, message),))
    return replace(reply, event=f"transfer:{outcome}")


def goodbye(script: Script, call: Call) -> VoiceReply:
    """Give the number and end the call kindly."""
    language = script.language(call.lang)
    return VoiceReply((_said(script, language, language.voice.goodbye),), Hangup(), call, "goodbye")


def _gone(script: Script, language: Language, call: Call) -> bool:
    """Say whether the caller's language or topic was taken away by a reload since their last step."""
    if call.lang and call.lang not in script.languages:
        return True
    return call.node == TOPIC and language.topic(call.topic) is None


def _no_answer(script: Script, language: Language, now: datetime) -> str:
    closes = script.hours.closes_at(now)
    closing = closes is None or (closes - now).total_seconds() < CLOSING_SOON_MINUTES * 60
    return language.voice.no_answer_closing if closing else language.voice.no_answer


def _say(language: Language, text: str) -> Say:
    return Say(text, language.code)


def _said(script: Script, language: Language, template: str) -> Say:
    """Fill a prompt that takes only the placeholders every prompt gets, and say it."""
    return Say(script.fill(template, "voice"), language.code)


def _at_menu(call: Call) -> Call:
    return replace(call, node=MENU, topic="", part=0, misses=0)


def _key_for(language: Language, call: Call, heard: Heard) -> str:
    """Turn what was heard into one key; spoken words stand for the key they name."""
    digits = heard.digits.strip()
    if digits:
        return digits[:1] if len(digits) == 1 else ""
    if not heard.speech.strip():
        return ""
    return _spoken_key(language, call, words_of(heard.speech))


def _spoken_key(language: Language, call: Call, words: tuple[str, ...]) -> str:
    voice = language.voice
    if _says_any(words, voice.say_helpline):
        return HELPLINE_KEY
    for topic in language.topics:
        if _says_any(words, topic.keywords) or _says_any_form(language.code, words, topic.keywords):
            return f"topic:{topic.name}"
    if _says_any(words, voice.say_menu):
        return MENU_KEY
    if _says_any(words, voice.say_repeat):
        return REPEAT_KEY
    if _says_any(words, voice.say_next):
        return NEXT_KEYS[0] if call.node == TOPIC else ""
    return ""


def _says_any(words: tuple[str, ...], phrases: list[str] | tuple[str, ...]) -> bool:
    """Say whether any phrase stands, word for word, among the words."""
    return any(_has(words, _phrase_words(phrase)) for phrase in phrases)


def _says_any_form(code: str, words: tuple[str, ...], phrases: list[str] | tuple[str, ...]) -> bool:
    """Say whether any phrase stands among the words in any form ("following" for "followed")."""
    stems = _stems(code, words)
    return any(_has(stems, _phrase_stems(code, phrase)) for phrase in phrases)


# Phrases are the prompt files' keywords, never a caller's words: split and stem each once, not per call.
@lru_cache(maxsize=4096)
def _phrase_words(phrase: str) -> tuple[str, ...]:
    return words_of(phrase)


@lru_cache(maxsize=4096)
def _phrase_stems(code: str, phrase: str) -> tuple[str, ...]:
    return _stems(code, words_of(phrase))


def _has(words: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    span = len(wanted)
    return bool(span) and any(words[i : i + span] == wanted for i in range(len(words) - span + 1))


def _stems(code: str, words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_stem(code, word) for word in words)


@lru_cache(maxsize=8192)
def _stem(code: str, word: str) -> str:
    """Return a word's stem in a language ("harassing" and "harassment" give "harass")."""
    stemmer = _stemmer(code.split("-")[0].lower())
    if stemmer is None:
        return word
    with _STEMMING:
        return stemmer.stemWord(word)


@lru_cache(maxsize=32)
def _stemmer(primary: str) -> snowballstemmer.stemmer | None:
    name = STEMMERS.get(primary)
    return snowballstemmer.stemmer(name) if name else None


def _move(language: Language, call: Call, key: str) -> Call | None:
    """Where a key takes the caller from here, or None if it means nothing here."""
    if key.startswith("topic:"):
        return _open_topic(call, language.topic(key.removeprefix("topic:")))
    if key == REPEAT_KEY:
        return _replay(language, call)
    if call.node in (MENU, CLOSED, AFTER):  # a topic's key works wherever the menu was offered
        return _open_topic(call, language.topic_by_key(key))
    if call.node == TOPIC and key in NEXT_KEYS:
        topic = language.topic(call.topic)
        if topic is None or call.part >= len(topic.voice_parts):
            return _at_menu(call)
        return replace(call, part=call.part + 1)
    return None


def _replay(language: Language, call: Call) -> Call:
    """Star repeats the part just heard; at a topic's end, the whole topic from its first part."""
    topic = language.topic(call.topic) if call.node == TOPIC else None
    if topic is not None and call.part >= len(topic.voice_parts) - 1:
        return replace(call, part=0)
    return call


def _open_topic(call: Call, topic: Topic | None) -> Call | None:
    if topic is None:
        return None
    return replace(call, node=TOPIC, topic=topic.name, part=0)


def _miss(script: Script, call: Call, now: datetime) -> VoiceReply:
    """Say sorry and ask again; after too many misses, give the number and say goodbye."""
    language = script.language(call.lang)
    call = replace(call, misses=call.misses + 1)
    if call.misses >= script.service.voice.max_misses:
        return goodbye(script, call)
    sorry = _said(script, language, language.voice.didnt_get)
    reply = _render(script, call, now, (sorry,), again=True)
    return replace(reply, event="reprompt")


def _helpline(script: Script, call: Call, now: datetime, before: tuple[Say, ...] = ()) -> VoiceReply:
    """Ring the helpline when it is open; otherwise say when it opens."""
    if not script.hours.is_open(now):
        closed = _render(script, replace(call, node=CLOSED, misses=0), now, before)
        return replace(closed, event="transfer:closed")
    language = script.language(call.lang)
    dial = Dial(script.service.helpline.e164, script.service.voice.dial_timeout)
    says = (*before, _said(script, language, language.voice.transfer))
    return VoiceReply(says, dial, replace(call, node=DIAL, misses=0), "transfer")


def _render(
    script: Script, call: Call, now: datetime, before: tuple[Say, ...] = (), again: bool = False
) -> VoiceReply:
    """Say what belongs where the caller now is, and wait for their choice."""
    language = script.language(call.lang)
    topic = language.topic(call.topic) if call.node == TOPIC else None
    if call.node == TOPIC and topic is None:
        call = _at_menu(call)
    if call.node == LANGUAGE:
        return _language_menu(script, call, now, before)
    if call.node == DIAL:
        call = replace(call, node=AFTER)
    is_open = script.hours.is_open(now)
    lines = _lines(script, language, call, topic, is_open, now, again)
    says = before + tuple(_say(language, line) for line in lines)
    event = f"topic:{call.topic}" if call.node == TOPIC and call.part == 0 and not again else call.node
    return VoiceReply(says, _gather(script, language), call, event)


def _lines(
    script: Script, language: Language, call: Call, topic: Topic | None,
    is_open: bool, now: datetime, again: bool,
) -> list[str]:
    voice = language.voice
    fill = script.fill
    if call.node == TOPIC and topic is not None:
        return _topic_lines(script, language, topic, call.part, is_open, again)
    if call.node == CLOSED:
        opens = _opens(script, language, now)
        return [fill(voice.closed, "voice", opens=opens), fill(voice.closed_choices, "voice")]
    if call.node == AFTER:
        if is_open:
            return [fill(voice.after_transfer, "voice")]
        return [fill(voice.after_transfer_closed, "voice", opens=_opens(script, language, now))]
    lines = [fill(voice.menu_topic, "voice", title=t.title, key=t.key) for t in language.topics]
    lines.append(fill(voice.menu_helpline if is_open else voice.menu_helpline_closed, "voice"))
    return lines


def _topic_lines(
    script: Script, language: Language, topic: Topic, part: int, is_open: bool, again: bool
) -> list[str]:
    """A part and the choices after it; after the last part, straight to the end choices."""
    voice = language.voice
    last = part >= len(topic.voice_parts) - 1
    if last:
        choices = script.fill(voice.topic_end if is_open else voice.topic_end_closed, "voice", title=topic.title)
    else:
        choices = script.fill(voice.part_choices if is_open else voice.part_choices_closed, "voice")
    if again or part >= len(topic.voice_parts):
        return [choices]
    return [script.fill(topic.voice_parts[part], "voice", title=topic.title), choices]


def _opens(script: Script, language: Language, now: datetime) -> str:
    return opens_said(script.hours, now, language.when)


def _gather(script: Script, language: Language) -> Gather:
    hints = [topic.title for topic in language.topics] + list(language.voice.say_helpline[:2])
    return Gather(tuple(hints), script.service.voice.gather_timeout)


def _language_menu(script: Script, call: Call, now: datetime, before: tuple[Say, ...]) -> VoiceReply:
    """Offer the helpline (0), then each language in its own words."""
    default = script.default
    offer = default.voice.menu_helpline if script.hours.is_open(now) else default.voice.menu_helpline_closed
    says = [*before, _said(script, default, offer)]
    for index, language in enumerate(script.languages.values(), start=1):
        says.append(_say(language, script.fill(language.choose, "voice", key=str(index))))
    hints = tuple(word for language in script.languages.values() for word in language.keywords)
    gather = Gather(hints, script.service.voice.gather_timeout)
    return VoiceReply(tuple(says), gather, call, LANGUAGE)


def _choose_language(script: Script, call: Call, key: str, now: datetime) -> VoiceReply:
    """Take the caller's language; silence keeps the default, 0 still reaches the helpline."""
    codes = list(script.languages)
    if key == HELPLINE_KEY:
        return _helpline(script, replace(call, node=MENU, lang=codes[0]), now)
    code = codes[int(key) - 1] if key.isascii() and key.isdigit() and 0 < int(key) <= len(codes) else codes[0]
    language = script.languages[code]
    return _render(script, Call(lang=code), now, (_welcome(script, language),))


# ---------------------------------------------------------------- SMS


@dataclass(frozen=True)
class Thread:
    """Where a texter is: their language, and the topic they are reading."""

    lang: str = ""
    topic: str = ""
    page: int = 0

    def to_dict(self) -> dict[str, object]:
        """Write the thread for the session store."""
        return {"lang": self.lang, "topic": self.topic, "page": self.page}

    @classmethod
    def from_dict(cls, data: object) -> Thread:
        """Read a stored thread; anything unreadable is a fresh start."""
        if not isinstance(data, dict):
            return cls()
        lang, topic, page = data.get("lang"), data.get("topic"), data.get("page")
        if not (isinstance(lang, str) and isinstance(topic, str) and isinstance(page, int)):
            return cls()
        return cls(lang[:12], topic[:40], max(0, min(page, 99)))


@dataclass(frozen=True)
class TextReply:
    """The reply to a text (None: send nothing), and the texter's thread (None: forget it)."""

    text: str | None
    thread: Thread | None
    event: str


def reply_to_text(script: Script, thread: Thread, body: str, now: datetime, channel: Channel = SMS) -> TextReply:
    """Answer one incoming text, on the channel it came by."""
    words = words_of(body)
    whole = " ".join(words)
    if whole.replace(" ", "") in OPT_OUT:
        return _opted_out(script, thread, channel)
    language = script.language(thread.lang)
    thread = replace(thread, lang=language.code)
    if whole in language.sms.say_forget:
        return TextReply(script.fill(language.sms.forget, "sms"), None, "forget")
    if whole in language.sms.say_hide:
        return TextReply(script.fill(language.words(channel.name, "hide"), "sms"), thread, "hide")
    chosen = _text_language(script, words)
    if chosen is not None:
        return _text_menu(chosen, Thread(lang=chosen.code), channel)
    if _says_any_form(language.code, words, language.sms.say_danger):
        danger = script.fill(language.sms.danger, "sms")
        details = " ".join(_call_text(script, language, now).replace(danger, " ").split())  # 999 said once, first
        return TextReply(f"{danger}\n{details}", thread, "danger")
    if whole == HELPLINE_KEY:
        return TextReply(_call_text(script, language, now), thread, "helpline")
    numbered = language.topic_by_key(whole) if whole.isdigit() else None
    if numbered is not None:
        return _page(thread, numbered, 0, channel)
    return _text_words(script, language, thread, words, now, channel)


def reply_to_media(script: Script, thread: Thread, channel: Channel = SMS) -> TextReply:
    """Answer a message that holds no words (a picture, voice message, place or contact): say so, then the menu."""
    language = script.language(thread.lang)
    thread = replace(thread, lang=language.code, topic="", page=0)
    sorry = script.fill(language.words(channel.name, "words_only"), "sms")
    return TextReply(f"{sorry}\n{language.menu(channel.name)}", thread, "words-only")


def _opted_out(script: Script, thread: Thread, channel: Channel) -> TextReply:
    """Forget the texter; where no carrier answers STOP (WhatsApp), confirm it in one line."""
    if not channel.confirms_opt_out:
        return TextReply(None, None, "opt-out")
    language = script.language(thread.lang)
    return TextReply(script.fill(language.words(channel.name, "opted_out"), "sms"), None, "opt-out")


def _text_words(
    script: Script, language: Language, thread: Thread, words: tuple[str, ...], now: datetime, channel: Channel
) -> TextReply:
    topic = _text_topic(language, words)
    if topic is not None:
        return _page(thread, topic, 0, channel)
    command = _text_command(language, words)
    if command == "more":
        current = language.topic(thread.topic)
        if current is not None and thread.page < len(current.pages(channel.name)):
            return _page(thread, current, thread.page, channel)
    if command == "call":
        return TextReply(_call_text(script, language, now), thread, "helpline")
    return _text_menu(language, replace(thread, topic="", page=0), channel)


def _text_language(script: Script, words: tuple[str, ...]) -> Language | None:
    if len(script.languages) < 2:
        return None
    for language in script.languages.values():
        if _says_any(words, language.keywords):
            return language
    return None


def _text_topic(language: Language, words: tuple[str, ...]) -> Topic | None:
    """Find the topic a text names: exactly first, then in any form of the word, then allowing for typos."""
    for topic in language.topics:
        if _says_any(words, topic.keywords):
            return topic
    for topic in language.topics:
        if _says_any_form(language.code, words, topic.keywords):
            return topic
    vocab = {word: topic for topic in language.topics for word in topic.keywords}
    sms = language.sms
    commands = {word for phrases in (sms.say_more, sms.say_menu, sms.say_call) for word in phrases}
    return _fuzzy(words, vocab, commands)  # "talk" is a command, never a misspelt "stalk"


def _text_command(language: Language, words: tuple[str, ...]) -> str:
    sms = language.sms
    commands = {"more": sms.say_more, "menu": sms.say_menu, "call": sms.say_call}
    for name, phrases in commands.items():
        if _says_any(words, phrases):
            return name
    vocab = {word: name for name, phrases in commands.items() for word in phrases}
    return _fuzzy(words, vocab) or ""


def _fuzzy(words: tuple[str, ...], vocab: dict[str, object], known: set[str] | None = None) -> object | None:
    """Match a misspelt word to the vocabulary; short words, opt-outs and known words never match."""
    choices = [word for word in vocab if len(word) >= FUZZY_MIN_LENGTH]
    for word in words:
        if len(word) < FUZZY_MIN_LENGTH or word in OPT_OUT or word in (known or ()):
            continue
        found = process.extractOne(word, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_THRESHOLD)
        if found is not None:
            return vocab[found[0]]
    return None


def _page(thread: Thread, topic: Topic, page: int, channel: Channel) -> TextReply:
    text = topic.pages(channel.name)[page]
    event = f"topic:{topic.name}" if page == 0 else "more"
    return TextReply(text, replace(thread, topic=topic.name, page=page + 1), event)


def _text_menu(language: Language, thread: Thread, channel: Channel) -> TextReply:
    return TextReply(language.menu(channel.name), thread, "menu")


def _call_text(script: Script, language: Language, now: datetime) -> str:
    hours = published_hours(script, language)
    if script.hours.is_open(now):
        return script.fill(language.sms.call_open, "sms", hours=hours)
    opens = opens_written(script.hours, now, language.when)
    return script.fill(language.sms.call_closed, "sms", hours=hours, opens=opens)


def published_hours(script: Script, language: Language) -> str:
    """Summarise the weekly hours for a text, grouping days with the same times."""
    weekly = script.service.hours.weekly
    order = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    groups: dict[str, list[str]] = {}
    for index, day in enumerate(order):
        ranges = weekly.get(day) or []
        if ranges:
            groups.setdefault(" ".join(ranges), []).append(language.when.days[index][:3])
    return ", ".join(f"{' '.join(days)} {times}" for times, days in groups.items())


def limited_text(script: Script, thread: Thread) -> str:
    """The one notice a texter gets when they pass the rate limit."""
    language = script.language(thread.lang)
    return script.fill(language.sms.rate_limited, "sms")
