"""Load the prompt files into one immutable script, and report every problem.

The script is what the conversation engine reads: the service settings, and per
language the menu words and the topics, with SMS pages already cut to size.
:func:`load` returns the script together with every problem found, each naming
the file and line, so ``ivr check`` and the running server report the same
things. A script is only built when there is no error; warnings (such as a
translation that borrows missing words from the default language) still load.

A script that loads is a script that answers: every prompt is checked against
exactly the placeholders the line fills in for it (:data:`VOICE_PLACEHOLDERS`,
:data:`SMS_PLACEHOLDERS`), and then the whole line is rehearsed, every place
for calls and texts, open and closed (:mod:`ivr.rehearsal`), before the script
is handed out.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from . import gsm
from .channels import CHANNELS, SMS, WHATSAPP, Channel
from .hours import OpeningHours
from .prompt_files import Files, Problem, YamlProblem, parse_yaml, read_folder
from .schema import MenuFile, Part, Service, SmsWords, TopicFile, VoiceWords, WhatsappWords

__all__ = ["Files", "Language", "Loaded", "Problem", "Script", "Topic", "load", "load_files"]

LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")  # BCP 47, as Twilio's language=
TOPIC_NAME = re.compile(r"^[a-z0-9_-]{1,40}$")
WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")

# What the line fills in, prompt by prompt. Every prompt gets the helpline's
# number and name; the others only where the line knows them.
EVERYWHERE = frozenset({"helpline", "helpline_name"})
VOICE_PLACEHOLDERS: Mapping[str, frozenset[str]] = MappingProxyType({
    "welcome": EVERYWHERE | {"topics"},
    "list_and": frozenset(),  # a word put between topic titles, not a prompt of its own
    "menu_topic": EVERYWHERE | {"title", "key"},
    "topic_end": EVERYWHERE | {"title"},
    "topic_end_closed": EVERYWHERE | {"title"},
    "after_transfer_closed": EVERYWHERE | {"opens"},
    "closed": EVERYWHERE | {"opens"},
})
SMS_PLACEHOLDERS: Mapping[str, frozenset[str]] = MappingProxyType({
    "menu_topic": EVERYWHERE | {"key", "keyword", "title"},
    "call_open": EVERYWHERE | {"hours"},
    "call_closed": EVERYWHERE | {"hours", "opens"},
})
PART_PLACEHOLDERS = EVERYWHERE | {"title"}
CHOOSE_PLACEHOLDERS = EVERYWHERE | {"key"}
PLACEHOLDERS = frozenset().union(EVERYWHERE, *VOICE_PLACEHOLDERS.values(), *SMS_PLACEHOLDERS.values())
PLACEHOLDER_MEANING = {
    "helpline": "the helpline's number", "helpline_name": "the helpline's name", "title": "a topic's title",
    "key": "a menu key", "keyword": "a topic's first keyword", "opens": "when the helpline next opens",
    "hours": "the published opening hours", "topics": "the topics' titles, as a list",
}

GSM_ADVICE = (
    "characters that make a text cost up to three times as much, such as curly quotes, long dashes and emoji; "
    "use the plain ' \" - instead"
)


@dataclass(frozen=True)
class Topic:
    """One topic, ready to read out and to text."""

    name: str
    key: str
    title: str
    keywords: tuple[str, ...]
    voice_parts: tuple[str, ...]
    sms_pages: tuple[str, ...]
    channel_pages: tuple[tuple[str, tuple[str, ...]], ...] = ()  # other text channels' pages, by channel name

    def pages(self, channel: str) -> tuple[str, ...]:
        """Return the topic's pages as texted on a channel (the SMS pages where it has none of its own)."""
        return dict(self.channel_pages).get(channel, self.sms_pages)


@dataclass(frozen=True)
class Language:
    """All that is said in one language."""

    code: str
    name: str
    choose: str
    keywords: tuple[str, ...]
    voice: VoiceWords
    sms: SmsWords
    when: Any
    topics: tuple[Topic, ...]
    sms_menu: str
    voice_name: str | None = None
    sms_choose: str | None = None
    channel_words: tuple[tuple[str, WhatsappWords], ...] = ()  # other text channels' own words, by channel name
    channel_menus: tuple[tuple[str, str], ...] = ()  # other text channels' menus, by channel name
    bold: tuple[str, ...] = ()  # the words a channel with bold may mark in replies

    def menu(self, channel: str) -> str:
        """Return the text menu as a channel shows it (the SMS menu where it has none of its own)."""
        return dict(self.channel_menus).get(channel, self.sms_menu)

    def words(self, channel: str, name: str) -> str:
        """Return a text prompt as a channel words it, or the SMS wording where the channel has none."""
        value = getattr(dict(self.channel_words).get(channel), name, None)
        return value if isinstance(value, str) else getattr(self.sms, name)

    def topic(self, name: str) -> Topic | None:
        """Find a topic by its file name."""
        return next((topic for topic in self.topics if topic.name == name), None)

    def topic_by_key(self, key: str) -> Topic | None:
        """Find a topic by its menu key."""
        return next((topic for topic in self.topics if topic.key == key), None)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: each load is a new script
class Script:
    """The whole loaded script: settings and every language."""

    service: Service
    hours: OpeningHours
    languages: Mapping[str, Language]
    version: str
    files: Files | None = field(default=None, repr=False)  # what the last-good snapshot keeps

    @property
    def default(self) -> Language:
        """Return the language callers hear first."""
        return self.languages[self.service.default_language]

    def language(self, code: str) -> Language:
        """Return a language by code, or the default one."""
        return self.languages.get(code) or self.default

    def fill(self, template: str, channel: str, **values: str) -> str:
        """Fill a prompt's {placeholders} for a channel ("voice" or "sms")."""
        return fill(self.service, template, channel, **values)


@dataclass
class Loaded:
    """What one load produced: a script when there was no error, and the problems."""

    script: Script | None
    problems: list[Problem] = field(default_factory=list)
    # Each file that passed its schema, by relative path: `ivr check --stats` shows
    # these even when another file has a problem.
    parsed: dict[str, BaseModel] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        """Return the problems that stop the script from loading."""
        return [problem for problem in self.problems if not problem.warning]


class _Report:
    """Collects problems and knows the YAML line of each key path."""

    def __init__(self, files: Files) -> None:
        self.files = files
        self.problems: list[Problem] = []
        self.nodes: dict[str, yaml.Node | None] = {}
        self.parsed: dict[str, BaseModel] = {}
        self._cache: dict[str, dict[str, Any] | None] = {}

    def has_errors(self) -> bool:
        """Say whether any problem so far stops the script from loading."""
        return any(not problem.warning for problem in self.problems)

    def add(self, rel: str, loc: tuple[Any, ...], message: str, warning: bool = False, reason: str = "") -> None:
        line = _line_of(self.nodes.get(rel), loc)
        self.problems.append(Problem(self.files.display(rel), line, message, warning, reason or _reason_of(loc)))

    def read(self, rel: str) -> dict[str, Any] | None:
        """Parse one YAML file into a mapping, noting where each key stands."""
        if rel not in self._cache:
            self._cache[rel] = self._parse(rel)
        return self._cache[rel]

    def _parse(self, rel: str) -> dict[str, Any] | None:
        if not self.files.has(rel):
            if not any(problem.path == self.files.display(rel) for problem in self.problems):  # else: unreadable
                self.add(rel, (), "file is missing", reason="file is missing")
            return None
        try:
            data, self.nodes[rel] = parse_yaml(self.files.texts[rel])
        except YamlProblem as problem:
            self.problems.append(Problem(self.files.display(rel), problem.line, problem.message, False,
                                         problem.reason))
            return None
        if not isinstance(data, dict):
            self.add(rel, (), "should hold keys and values, like `title: stalking`", reason="not keys and values")
            return None
        return data

    def validate(self, rel: str, model: type[BaseModel], data: dict[str, Any]) -> Any:
        """Check data against a schema, reporting each error at its line."""
        try:
            valid = model.model_validate(data)
        except ValidationError as error:
            for item in error.errors():
                loc = tuple(item["loc"])
                self.add(rel, loc, f"{_where(loc)}{_plain(item)}", reason=f"{_where(loc)}{_reason(item)}")
            return None
        except (RecursionError, MemoryError, ValueError, TypeError) as error:
            self.add(rel, (), f"could not be checked ({type(error).__name__}): simplify the file",
                     reason="could not be checked")
            return None
        self.parsed.setdefault(rel, valid)
        return valid


def _plain(item: Mapping[str, Any]) -> str:
    """Word a schema error for an operator."""
    if item["type"] == "missing":
        return "is missing"
    if item["type"] == "extra_forbidden":
        return "is not a known key (check the spelling)"
    if isinstance(item.get("input"), bool):
        return "YAML reads yes, no, on and off as true or false: put the word in quotes"
    loc = tuple(item["loc"])
    if len(loc) == 2 and loc[0] == "parts" and item["type"] in ("model_type", "model_attributes_type"):
        return "should be a sentence, or voice: and sms: lines"
    if item["type"] in ("string_type", "model_type", "model_attributes_type", "list_type", "int_type"):
        return _shape_wanted(item["type"])
    return str(item["msg"]).removeprefix("Value error, ")


def _shape_wanted(kind: str) -> str:
    return {
        "string_type": "should be words (a sentence, in quotes if it has a colon)",
        "list_type": "should be a list, like [one, two]",
        "int_type": "should be a whole number",
    }.get(kind, "should hold keys and values, indented under it")


def _reason(item: Mapping[str, Any]) -> str:
    """A short, content-free reason for /readyz."""
    if item["type"] == "missing":
        return "is missing"
    if item["type"] == "extra_forbidden":
        return "is not a known key"
    return "is not valid"


def _reason_of(loc: tuple[Any, ...]) -> str:
    return f"{_where(loc)}has a problem" if loc else "has a problem"


def _where(loc: tuple[Any, ...]) -> str:
    """Name a key path for an operator, like "sms.menu_intro: " or "part 2: "; parts count from 1."""
    names: list[str] = []
    steps = list(loc)
    while steps:
        step = steps.pop(0)
        if step == "parts" and steps and isinstance(steps[0], int):
            names.append(f"part {steps.pop(0) + 1}")
        else:
            names.append(str(step))
    return ".".join(names) + ": " if names else ""


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """Return the 1-based line of the deepest YAML node along a key path."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for step in loc:
        child = _child(node, step)
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _child(node: yaml.Node, step: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(step) or (step == "from_" and key.value == "from"):
                return value if not isinstance(value, yaml.ScalarNode) else key
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step]
    return None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Lay a translation's keys over the default language's, section by section."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = {**base[key], **value}
        else:
            merged[key] = value
    return merged


def _missing(base: dict[str, Any], over: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """Yield the key paths the default language has and a translation lacks."""
    for key, value in base.items():
        if key not in over:
            yield (key,)
        elif isinstance(value, dict) and isinstance(over[key], dict):
            yield from ((key, inner) for inner in value if inner not in over[key])


def load(root: Path | str) -> Loaded:
    """Read, check and rehearse every prompt file under root; never raises."""
    root = Path(root)
    if not root.is_dir():
        problem = Problem(str(root), 1, "prompts folder not found: set PROMPTS_DIR to the folder that holds "
                          "service.yaml", False, "prompts folder not found")
        return Loaded(None, [problem])
    files, problems = read_folder(root)
    return load_files(files, problems)


def load_files(files: Files, unread: list[Problem] | None = None) -> Loaded:
    """Build a script from prompt texts already read (the folder, or a snapshot of it); never raises.

    unread names files that could not be read: each is an error, so no script is built.
    """
    report = _Report(files)
    report.problems.extend(unread or ())
    try:
        script = _build(files, report)
    except Exception as error:  # noqa: BLE001 - nothing in a prompt file may raise out of the loader
        report.add("", (), f"could not be loaded ({type(error).__name__}): run `ivr check` and fix the problems "
                   "above, or simplify the files", reason="could not be loaded")
        script = None
    if script is not None:
        from .rehearsal import rehearse  # the rehearsal drives the engine, which reads scripts

        report.problems.extend(rehearse(script))
        if report.has_errors():
            script = None
    return Loaded(script, report.problems, report.parsed)


def _build(files: Files, report: _Report) -> Script | None:
    service = _load_service(files, report)
    if service is None:
        return None
    languages = _load_languages(files, service, report)
    if report.has_errors() or not languages:
        return None
    return Script(service, OpeningHours(service.hours), MappingProxyType(languages), files.version, files)


def _load_service(files: Files, report: _Report) -> Service | None:
    rel = "service.yaml"
    data = report.read(rel)
    if data is None:
        return None
    service = report.validate(rel, Service, data)
    if service is not None and not any(service.hours.weekly.get(day) for day in service.hours.weekly):
        report.add(rel, ("hours", "weekly"), "hours.weekly: no day has opening hours, so callers are never put "
                   "through and texts cannot say when it is open: give the days their hours", warning=True,
                   reason="hours.weekly: no opening hours")
    if service is not None and not files.has(f"{service.default_language}/menu.yaml"):
        report.add(rel, ("default_language",), f"no folder {service.default_language!r} with a menu.yaml")
        return None
    return service


def _load_languages(files: Files, service: Service, report: _Report) -> dict[str, Language]:
    default = service.default_language
    base_menu = report.read(f"{default}/menu.yaml")
    if base_menu is None:
        return {}
    base_topics = _read_topics(files, default, report)
    codes = [default] + [code for code in files.folders() if code != default]
    languages: dict[str, Language] = {}
    for code in codes:
        if not LANGUAGE_TAG.match(code):
            report.add(f"{code}/menu.yaml", (), f"folder {code!r} should be named by a language tag, like cy-GB")
            continue
        language = _load_language(files, code, code == default, service, base_menu, base_topics, report)
        if language is not None:
            languages[code] = language
    _check_language_keywords(files, languages, report)
    return _channel_menus(_offer_languages(languages, service, report), service, report)


def _read_topics(files: Files, folder: str, report: _Report) -> dict[str, tuple[str, dict[str, Any]]]:
    topics = {}
    for rel in files.topic_files(folder):
        name = rel.rsplit("/", 1)[1].rsplit(".", 1)[0]
        if not TOPIC_NAME.match(name):
            report.add(rel, (), "file name should be lower-case letters, digits, - or _ (like online-abuse.yaml)")
            continue
        data = report.read(rel)
        if data is not None:
            topics[name] = (rel, data)
    return topics


def _load_language(
    files: Files,
    code: str,
    is_default: bool,
    service: Service,
    base_menu: dict[str, Any],
    base_topics: dict[str, tuple[str, dict[str, Any]]],
    report: _Report,
) -> Language | None:
    menu_rel = f"{code}/menu.yaml"
    raw_menu, topics_raw = base_menu, base_topics
    if not is_default:
        translated = _translation(files, code, service, base_menu, base_topics, report)
        if translated is None:
            return None
        raw_menu, topics_raw = translated
    menu = report.validate(menu_rel, MenuFile, raw_menu)
    topic_files = {name: (rel, report.validate(rel, TopicFile, data)) for name, (rel, data) in topics_raw.items()}
    if menu is None or any(topic is None for _, topic in topic_files.values()):
        return None
    _check_menu(menu_rel, menu, service, report)
    bold = _bold_words(menu, topic_files)
    topics = _build_topics(topic_files, menu, service, report, bold)
    sms_menu = _sms_menu(menu, topics, service)
    _check_sms(menu_rel, ("sms", "menu_intro"), sms_menu, service.sms.menu_segments, report, "the SMS menu")
    return Language(
        code=code,
        name=menu.language.name,
        choose=menu.language.choose,
        keywords=tuple(word.lower() for word in menu.language.keywords),
        voice=menu.voice,
        sms=menu.sms,
        when=menu.when,
        topics=topics,
        sms_menu=sms_menu,
        voice_name=menu.language.voice,
        sms_choose=_safe_fill(service, menu.language.sms_choose, "sms") if menu.language.sms_choose else None,
        channel_words=((WHATSAPP.name, menu.whatsapp),),
        bold=bold,
    )


def _translation(
    files: Files,
    code: str,
    service: Service,
    base_menu: dict[str, Any],
    base_topics: dict[str, tuple[str, dict[str, Any]]],
    report: _Report,
) -> tuple[dict[str, Any], dict[str, tuple[str, dict[str, Any]]]] | None:
    """Read a translation, borrowing (and reporting) what it lacks from the default language."""
    menu_rel = f"{code}/menu.yaml"
    raw_menu = report.read(menu_rel)
    if raw_menu is None:
        return None
    default = service.default_language
    for loc in _missing(base_menu, raw_menu):
        report.add(menu_rel, loc[:1], f"{'.'.join(loc)} is missing: using {default}", warning=True)
    topics = _read_topics(files, code, report)
    for name in base_topics:
        if name not in topics:
            report.add(menu_rel, (), f"topic {name!r} is missing: using {default}", warning=True)
    return _merge(base_menu, raw_menu), {**base_topics, **topics}


def fill(service: Service, template: str, channel: str, **values: str) -> str:
    """Fill a prompt's {placeholders}: the number is spoken on calls, written in texts."""
    helpline = service.helpline
    number = helpline.spoken if channel == "voice" else helpline.written
    return template.format_map({"helpline": number, "helpline_name": helpline.name, **values})


def _sms_menu(menu: MenuFile, topics: tuple[Topic, ...], service: Service) -> str:
    lines = [_safe_fill(service, menu.sms.menu_intro, "sms")]
    for topic in topics:
        keyword = (topic.keywords[0] if topic.keywords else topic.title).upper()
        line = _safe_fill(service, menu.sms.menu_topic, "sms", key=topic.key, keyword=keyword, title=topic.title)
        lines.append(line)
    lines.append(_safe_fill(service, menu.sms.menu_call, "sms"))
    lines.append(_safe_fill(service, menu.sms.menu_hide, "sms"))
    return "\n".join(lines)


def _bold_words(menu: MenuFile, files: dict[str, tuple[str, TopicFile | None]]) -> tuple[str, ...]:
    """List the words a texter can send, which a channel with bold marks where a reply writes them in capitals."""
    sms = menu.sms
    words = [*menu.language.keywords, *sms.say_more, *sms.say_menu, *sms.say_call, *sms.say_hide]
    for _, topic in files.values():
        if topic is not None:
            words += [topic.title, *topic.keywords]
    return tuple(dict.fromkeys(word.upper() for word in words if len(word) > 1))


def _safe_fill(service: Service, text: str, channel: str, **values: str) -> str:
    """Fill placeholders while building, leaving a broken prompt as written for the checks to report."""
    try:
        return fill(service, text, channel, **values)
    except (KeyError, ValueError, IndexError, AttributeError, TypeError):
        return text


def _check_menu(rel: str, menu: MenuFile, service: Service, report: _Report) -> None:
    """Check placeholders everywhere, GSM-7 in texts, and how long each prompt takes to say."""
    tables = (("voice", menu.voice, VOICE_PLACEHOLDERS), ("sms", menu.sms, SMS_PLACEHOLDERS),
              ("whatsapp", menu.whatsapp, SMS_PLACEHOLDERS))
    for section, words, table in tables:
        for key, value in words:
            if not isinstance(value, str):
                continue
            loc = (section, key)
            _check_placeholders(rel, loc, value, table.get(key, EVERYWHERE), report)
            if section == "sms":
                _check_gsm(rel, loc, value, report)
            elif section == "voice":
                _check_say(rel, loc, value, service, report)
                _check_spoken(rel, loc, value, report)
    _check_placeholders(rel, ("language", "choose"), menu.language.choose, CHOOSE_PLACEHOLDERS, report)
    if menu.language.sms_choose is not None:
        _check_placeholders(rel, ("language", "sms_choose"), menu.language.sms_choose, EVERYWHERE, report)


def _check_placeholders(rel: str, loc: tuple[Any, ...], text: str, allowed: frozenset[str], report: _Report) -> bool:
    """Check that a prompt uses only the placeholders the line fills in for it, written plainly."""
    try:
        parsed = list(string.Formatter().parse(text))
        fields = [(name, spec, conv) for _, name, spec, conv in parsed if name is not None]
        if any("{" in literal or "}" in literal for literal, *_ in parsed):
            raise ValueError("doubled brace")
    except ValueError:
        report.add(rel, loc, f"{_where(loc)}a {{ or }} has no partner: write placeholders like {{helpline}}, "
                   "and do not use { or } anywhere else", reason=f"{_where(loc)}unmatched brace")
        return False
    ok = True
    for name, spec, conv in fields:
        if name not in allowed:
            report.add(rel, loc, _not_here(loc, name, allowed), reason=f"{_where(loc)}placeholder not allowed here")
            ok = False
        elif spec or conv:
            report.add(rel, loc, f"{_where(loc)}write the placeholder as just {{{name}}}, with nothing after it "
                       "inside the braces", reason=f"{_where(loc)}placeholder written oddly")
            ok = False
    return ok


def _not_here(loc: tuple[Any, ...], name: str, allowed: frozenset[str]) -> str:
    known = ", ".join("{" + item + "}" for item in sorted(allowed)) or "none"
    if name in PLACEHOLDERS:
        return (f"{_where(loc)}{{{name}}} ({PLACEHOLDER_MEANING[name]}) is not filled in for this prompt: "
                f"this one can use {known}")
    shown = name if name.isidentifier() and len(name) <= 30 else "..."
    return f"{_where(loc)}unknown placeholder {{{shown}}}: this prompt can use {known}"


def _check_gsm(rel: str, loc: tuple[Any, ...], text: str, report: _Report) -> None:
    bad = gsm.non_gsm(text)
    if bad:
        chars = ", ".join(gsm.describe(char) for char in bad)
        report.add(rel, loc, f"{_where(loc)}this text has {chars}: {GSM_ADVICE}",
                   reason=f"{_where(loc)}characters that make texts cost more")


def _check_say(rel: str, loc: tuple[Any, ...], text: str, service: Service, report: _Report) -> None:
    seconds = say_seconds(text, service.voice.words_per_minute)
    if seconds > service.voice.max_say_seconds:
        most = service.voice.max_say_seconds
        took = f"takes about {seconds:.0f} s to say"
        report.add(rel, loc, f"{_where(loc)}{took}; the most is {most} s: split it",
                   reason=f"{_where(loc)}too long to say")


# What a voice misreads, and the words to write instead.
MISREAD = (
    (re.compile(r"\b999\b"), "write 999 as \"nine nine nine\""),
    (re.compile(r"\b0\d{3}[ -]?\d{3}[ -]?\d{4}\b|\b0\d{9,10}\b"),
     "write a phone number as {helpline}, or digit by digit in words (\"oh eight oh eight, ...\")"),
    (re.compile(r"\b\d{3,}\b"), "write long numbers digit by digit in words, or as a caller should hear them"),
    (re.compile(r"\b\d{1,2}([:.]\d{2})?\s?(am|pm|a\.m\.|p\.m\.)", re.I),
     "write times as words, like \"half past nine in the morning\""),
    (re.compile(r"\b\d{1,2}:\d{2}\b"), "write times as words, like \"half past nine\""),
    (re.compile(r"\b(Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\b"),
     "write days in full, like \"Monday to Friday\""),
    (re.compile(r"\b(e\.g|i\.e|etc|approx)\b\.?", re.I), "write \"for example\", \"that is\" or \"and so on\""),
)


def _check_spoken(rel: str, loc: tuple[Any, ...], text: str, report: _Report) -> None:
    """Warn about digits and short forms a voice would read out wrongly."""
    plain = re.sub(r"\{[^{}]*\}", " ", text)
    for pattern, advice in MISREAD:
        found = pattern.search(plain)
        if found:
            report.add(rel, loc, f"{_where(loc)}a voice may misread {found.group(0)!r}: {advice}", warning=True,
                       reason=f"{_where(loc)}may be misread aloud")
            return


def _check_sms(rel: str, loc: tuple[Any, ...], text: str, limit: int, report: _Report, what: str) -> None:
    cost = gsm.cost(text)
    if cost.encoding != "GSM-7":
        return  # already reported as characters outside GSM-7
    if cost.segments > limit:
        spent = f"{cost.segments} SMS segments ({cost.units} characters)"
        report.add(rel, loc, f"{_where(loc)}{what} costs {spent}; the most is {limit}: shorten it",
                   reason=f"{_where(loc)}text too long")


def _check_fits(
    rel: str, loc: tuple[Any, ...], text: str, channel: Channel, limit: int, report: _Report, what: str
) -> None:
    """Check a reply against its channel's limit: SMS segments, or characters where there are none."""
    if channel.gsm7:
        _check_sms(rel, loc, text, limit, report, what)
        return
    size = channel.measure(text)
    if size > limit:
        report.add(rel, loc, f"{_where(loc)}{what} has {size} {channel.unit} on {channel.label}; the most is "
                   f"{limit}: shorten it", reason=f"{_where(loc)}text too long")


def say_seconds(text: str, words_per_minute: int) -> float:
    """Estimate how long a prompt takes to say."""
    return len(WORD.findall(text.lower())) * 60 / words_per_minute


def words_of(text: str) -> tuple[str, ...]:
    """Split text into lower-case words, as keywords are matched."""
    return tuple(WORD.findall(text.lower().replace("\u2019", "'")))


def _build_topics(
    files: dict[str, tuple[str, TopicFile | None]], menu: MenuFile, service: Service, report: _Report,
    bold: tuple[str, ...] = (),
) -> tuple[Topic, ...]:
    keys = _assign_keys(files, report)
    topics = []
    for name, (rel, topic) in files.items():
        assert topic is not None
        _check_said_as_written(rel, topic, report)
        for index, part in enumerate(topic.parts):
            _check_part(rel, index, part, service, report)
        pages = _pages(rel, topic, menu.sms, service, report)
        others = tuple((channel.name, _pages(rel, topic, menu.sms, service, report, channel, bold))
                       for channel in CHANNELS if channel is not SMS)
        words = tuple(dict.fromkeys(word.lower().strip() for word in [topic.title, *topic.keywords]))
        voice = tuple(part.spoken for part in topic.parts)
        topics.append(Topic(name, keys[name], topic.title, words, voice, pages, others))
    return tuple(sorted(topics, key=lambda topic: topic.key))


def _assign_keys(files: dict[str, tuple[str, TopicFile | None]], report: _Report) -> dict[str, str]:
    """Give each topic its own key from 1 to 8: its chosen one, else the next free one."""
    keys: dict[str, str] = {}
    taken: dict[int, str] = {}
    for name, (rel, topic) in files.items():
        if topic is not None and topic.key is not None:
            if topic.key in taken:
                report.add(rel, ("key",), f"key: {topic.key} is also used by {taken[topic.key]!r}")
            taken[topic.key] = name
            keys[name] = str(topic.key)
    free = (key for key in range(1, 9) if key not in taken)
    for name, (rel, _) in files.items():
        if name not in keys:
            key = next(free, None)
            if key is None:
                report.add(rel, (), "no free key left: the menu has room for 8 topics")
                key = 0
            keys[name] = str(key)
    return keys


def _check_said_as_written(rel: str, topic: TopicFile, report: _Report) -> None:
    """A title and keywords are said and texted as written: braces would be read out."""
    for loc, text in [(("title",), topic.title), *((("keywords", i), word) for i, word in enumerate(topic.keywords))]:
        if "{" in text or "}" in text:
            report.add(rel, loc, f"{_where(loc)}is said and texted as written, so {{ and }} would be read out: "
                       "remove them", reason=f"{_where(loc)}has braces")


def _check_part(rel: str, index: int, part: Part, service: Service, report: _Report) -> None:
    """Check one part: said on calls (timing, misread words), texted (GSM-7), placeholders for both."""
    both = part.voice is not None and part.sms is not None
    voice_loc = ("parts", index, "voice") if both else ("parts", index)
    sms_loc = ("parts", index, "sms") if both else ("parts", index)
    if _check_placeholders(rel, voice_loc, part.spoken, PART_PLACEHOLDERS, report):
        _check_say(rel, voice_loc, part.spoken, service, report)
        _check_spoken(rel, voice_loc, part.spoken, report)
    if both:
        _check_placeholders(rel, sms_loc, part.text, PART_PLACEHOLDERS, report)
    _check_gsm(rel, sms_loc, part.text, report)


def _pages(
    rel: str, topic: TopicFile, sms: SmsWords, service: Service, report: _Report,
    channel: Channel = SMS, bold: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """Pack a topic's text parts into pages of at most the channel's page limit each."""
    limit = channel.page_limit(service)
    more = channel.embolden(_safe_fill(service, sms.page_more, "sms"), bold)
    last = channel.embolden(_safe_fill(service, sms.page_last, "sms"), bold)
    longest = max(more, last, key=lambda text: (channel.measure(text), len(text)))
    texts = [channel.embolden(_safe_fill(service, part.text, "sms", title=topic.title), bold) for part in topic.parts]
    heading = channel.embolden(topic.title.upper(), bold) + ":"
    pages: list[list[str]] = [[heading]]
    for index, text in enumerate(texts):
        candidate = " ".join([*pages[-1], text])
        if len(pages[-1]) > 1 and channel.measure(candidate + "\n" + longest) > limit:
            pages.append([])
        pages[-1].append(text)
        single = " ".join(pages[-1])
        loc = ("parts", index)
        _check_fits(rel, loc, single + "\n" + longest, channel, limit, report, "this part (with its MORE line)")
    joined = [" ".join(page) for page in pages]
    return tuple(
        page + "\n" + (last if number == len(joined) - 1 else more) for number, page in enumerate(joined)
    )


def _offer_languages(languages: dict[str, Language], service: Service, report: _Report) -> dict[str, Language]:
    """Add the other languages' sms_choose lines to each language's SMS menu."""
    if len(languages) < 2:
        return languages
    offered = {}
    for code, language in languages.items():
        lines = [other.sms_choose for other in languages.values() if other.code != code and other.sms_choose]
        menu = "\n".join([language.sms_menu, *lines])
        rel = f"{code}/menu.yaml"
        _check_gsm(rel, ("language", "sms_choose"), menu, report)
        _check_sms(rel, ("language", "sms_choose"), menu, service.sms.menu_segments, report,
                   "the SMS menu with the other languages")
        offered[code] = replace(language, sms_menu=menu)
    return offered


def _check_language_keywords(files: Files, languages: dict[str, Language], report: _Report) -> None:
    """Two topics in one language must not share an SMS keyword."""
    for language in languages.values():
        owner: dict[str, str] = {}
        for topic in language.topics:
            for word in topic.keywords:
                if word in owner and owner[word] != topic.name:
                    rel = f"{language.code}/topics/{topic.name}.yaml"
                    report.add(rel, ("keywords",), f"keyword {word!r} is also a keyword of {owner[word]!r}")
                owner.setdefault(word, topic.name)


# The replies whose size depends on the menu or the channel's own words, checked on every channel.
SIZED_REPLIES = (("words_only", "the words-only reply with the menu", True), ("hide", "the HIDE reply", False))


def _channel_menus(languages: dict[str, Language], service: Service, report: _Report) -> dict[str, Language]:
    """Give each language its menu as each text channel shows it, and check each channel's replies fit."""
    dressed = {}
    for code, language in languages.items():
        menus = tuple((channel.name, channel.embolden(language.sms_menu, language.bold))
                      for channel in CHANNELS if channel is not SMS)
        language = replace(language, channel_menus=menus)
        rel = f"{code}/menu.yaml"
        for channel in CHANNELS:
            menu = language.menu(channel.name)
            if channel is not SMS:
                _check_fits(rel, ("sms", "menu_intro"), menu, channel, channel.menu_limit(service), report,
                            f"the {channel.label} menu")
            for name, what, with_menu in SIZED_REPLIES:
                text = _safe_fill(service, language.words(channel.name, name), "sms")
                text = text + "\n" + menu if with_menu else text
                own = getattr(dict(language.channel_words).get(channel.name), name, None) is not None
                loc = (channel.name if own else "sms", name)
                _check_fits(rel, loc, text, channel, channel.reply_limit(service), report, f"{what} on {channel.label}")
        dressed[code] = language
    return dressed

