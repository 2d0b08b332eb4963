"""Load the prompt files into one immutable script, and report every problem.

The script is what the conversation engine reads: the service settings, and per
language the menu words and the topics, with SMS pages already cut to size.
:func:`load` returns the script together with every problem found, each naming
the file and line, so ``ivr check`` and the running server report the same
things. A script is only built when there is no error; warnings (such as a
translation that borrows missing words from the default language) still load.
"""

from __future__ import annotations

import hashlib
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
from .hours import OpeningHours
from .schema import MenuFile, Part, Service, SmsWords, TopicFile, VoiceWords

PLACEHOLDERS = frozenset({"helpline", "helpline_name", "title", "key", "keyword", "opens", "hours", "topics"})
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")  # BCP 47, as Twilio's language=
TOPIC_NAME = re.compile(r"^[a-z0-9_-]{1,40}$")
WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong (or worth knowing) in the prompt files."""

    path: str
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        kind = "warning: " if self.warning else ""
        return f"{self.path}:{self.line}: {kind}{self.message}"


@dataclass(frozen=True)
class Topic:
    """One topic, ready to read out and to text."""

    name: str
    key: str
    title: str
    keywords: tuple[str, ...]
    voice_parts: tuple[str, ...]
    sms_pages: tuple[str, ...]


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

    @property
    def errors(self) -> list[Problem]:
        """Return the problems that stop the script from loading."""
        return [problem for problem in self.problems if not problem.warning]


class _Report:
    """Collects problems and knows the YAML line of each key path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.nodes: dict[Path, yaml.Node | None] = {}

    def has_errors(self) -> bool:
        """Say whether any problem so far stops the script from loading."""
        return any(not problem.warning for problem in self.problems)

    def add(self, path: Path, loc: tuple[Any, ...], message: str, warning: bool = False) -> None:
        line = _line_of(self.nodes.get(path), loc)
        self.problems.append(Problem(self._name(path), line, message, warning))

    def _name(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def read(self, path: Path) -> dict[str, Any] | None:
        """Parse one YAML file into a mapping, noting where each key stands."""
        try:
            text = path.read_text(encoding="utf-8")
            self.nodes[path] = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except FileNotFoundError:
            self.add(path, (), "file is missing")
            return None
        except (OSError, UnicodeDecodeError) as error:
            self.add(path, (), f"cannot be read: {error}")
            return None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            self.problems.append(Problem(self._name(path), line, f"is not valid YAML: {error}"))
            return None
        if not isinstance(data, dict):
            self.add(path, (), "should hold keys and values (a YAML mapping)")
            return None
        return data

    def validate(self, path: Path, model: type[BaseModel], data: dict[str, Any]) -> Any:
        """Check data against a schema, reporting each error at its line."""
        try:
            return model.model_validate(data)
        except ValidationError as error:
            for item in error.errors():
                where = ".".join(str(part) for part in item["loc"]) or "file"
                self.add(path, item["loc"], f"{where}: {_plain(item)}")
            return None


def _plain(item: Mapping[str, Any]) -> str:
    """Word a schema error for an operator."""
    if item["type"] == "missing":
        return "is missing"
    if item["type"] == "extra_forbidden":
        return "is not a known key (check the spelling)"
    if isinstance(item.get("input"), bool):
        return "YAML reads yes, no, on and off as true or false: put the word in quotes"
    return str(item["msg"]).removeprefix("Value error, ")


def _where(loc: tuple[Any, ...]) -> str:
    """Name a key path for an operator, like "sms.menu_intro: "."""
    return ".".join(str(part) for part in loc) + ": " if loc else ""


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


def files_of(root: Path) -> list[Path]:
    """List the prompt files under a folder, in a stable order."""
    if not root.is_dir():
        return []
    return sorted(path for path in root.rglob("*") if path.suffix in {".yaml", ".yml"})


def fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Return a cheap signature of the prompt files: names, sizes and change times."""
    out = []
    for path in files_of(root):
        try:
            stat = path.stat()
        except OSError:
            continue
        out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def load(root: Path | str) -> Loaded:
    """Load and check every prompt file under root."""
    root = Path(root)
    report = _Report(root)
    if not root.is_dir():
        report.problems.append(Problem(str(root), 1, "prompts folder not found (set PROMPTS_DIR)"))
        return Loaded(None, report.problems)
    service = _load_service(root, report)
    if service is None:
        return Loaded(None, report.problems)
    languages = _load_languages(root, service, report)
    if report.has_errors() or not languages:
        return Loaded(None, report.problems)
    digest = hashlib.sha256(repr(fingerprint(root)).encode()).hexdigest()[:12]
    script = Script(service, OpeningHours(service.hours), MappingProxyType(languages), digest)
    return Loaded(script, report.problems)


def _load_service(root: Path, report: _Report) -> Service | None:
    path = root / "service.yaml"
    data = report.read(path)
    if data is None:
        return None
    service = report.validate(path, Service, data)
    if service is not None and not (root / service.default_language).is_dir():
        report.add(path, ("default_language",), f"no folder for {service.default_language!r}")
        return None
    return service


def _load_languages(root: Path, service: Service, report: _Report) -> dict[str, Language]:
    default = service.default_language
    base_menu = report.read(root / default / "menu.yaml")
    if base_menu is None:
        return {}
    base_topics = _read_topics(root / default, report)
    codes = [default] + sorted(
        path.name for path in root.iterdir()
        if path.is_dir() and path.name != default and (path / "menu.yaml").exists()
    )
    languages: dict[str, Language] = {}
    for code in codes:
        if not LANGUAGE_TAG.match(code):
            report.add(root / code / "menu.yaml", (), f"folder {code!r} should be named by a language tag, like cy-GB")
            continue
        language = _load_language(root / code, code == default, service, base_menu, base_topics, report)
        if language is not None:
            languages[code] = language
    _check_language_keywords(root, languages, report)
    return _offer_languages(root, languages, service, report)


def _read_topics(folder: Path, report: _Report) -> dict[str, tuple[Path, dict[str, Any]]]:
    topics = {}
    for path in sorted((folder / "topics").glob("*.y*ml")):
        if not TOPIC_NAME.match(path.stem):
            report.add(path, (), "file name should be lower-case letters, digits, - or _ (like online-abuse.yaml)")
            continue
        data = report.read(path)
        if data is not None:
            topics[path.stem] = (path, data)
    return topics


def _load_language(
    folder: Path,
    is_default: bool,
    service: Service,
    base_menu: dict[str, Any],
    base_topics: dict[str, tuple[Path, dict[str, Any]]],
    report: _Report,
) -> Language | None:
    menu_path = folder / "menu.yaml"
    raw_menu, topics_raw = base_menu, base_topics
    if not is_default:
        translated = _translation(folder, service, base_menu, base_topics, report)
        if translated is None:
            return None
        raw_menu, topics_raw = translated
    menu = report.validate(menu_path, MenuFile, raw_menu)
    topic_files = {
        name: (path, report.validate(path, TopicFile, data)) for name, (path, data) in topics_raw.items()
    }
    if menu is None or any(topic is None for _, topic in topic_files.values()):
        return None
    _check_menu(menu_path, menu, service, report)
    topics = _build_topics(topic_files, menu, service, report)
    sms_menu = _sms_menu(menu, topics, service)
    _check_sms(menu_path, ("sms", "menu_intro"), sms_menu, service.sms.menu_segments, report, "the SMS menu")
    return Language(
        code=folder.name,
        name=menu.language.name,
        choose=menu.language.choose,
        keywords=tuple(word.lower() for word in menu.language.keywords),
        voice=menu.voice,
        sms=menu.sms,
        when=menu.when,
        topics=topics,
        sms_menu=sms_menu,
        voice_name=menu.language.voice,
        sms_choose=menu.language.sms_choose,
    )


def _translation(
    folder: Path,
    service: Service,
    base_menu: dict[str, Any],
    base_topics: dict[str, tuple[Path, dict[str, Any]]],
    report: _Report,
) -> tuple[dict[str, Any], dict[str, tuple[Path, dict[str, Any]]]] | None:
    """Read a translation, borrowing (and reporting) what it lacks from the default language."""
    menu_path = folder / "menu.yaml"
    raw_menu = report.read(menu_path)
    if raw_menu is None:
        return None
    default = service.default_language
    for loc in _missing(base_menu, raw_menu):
        report.add(menu_path, loc[:1], f"{'.'.join(loc)} is missing: using {default}", warning=True)
    topics = _read_topics(folder, report)
    for name in base_topics:
        if name not in topics:
            report.add(menu_path, (), f"topic {name!r} is missing: using {default}", warning=True)
    return _merge(base_menu, raw_menu), {**base_topics, **topics}


def fill(service: Service, template: str, channel: str, **values: str) -> str:
    """Fill a prompt's {placeholders}: the number is spoken on calls, written in texts."""
    helpline = service.helpline
    number = helpline.spoken if channel == "voice" else helpline.written
    return template.format_map({"helpline": number, "helpline_name": helpline.name, **values})


def _sms_menu(menu: MenuFile, topics: tuple[Topic, ...], service: Service) -> str:
    lines = [fill(service, menu.sms.menu_intro, "sms")]
    for topic in topics:
        keyword = (topic.keywords[0] if topic.keywords else topic.title).upper()
        line = fill(service, menu.sms.menu_topic, "sms", key=topic.key, keyword=keyword, title=topic.title)
        lines.append(line)
    lines.append(fill(service, menu.sms.menu_call, "sms"))
    return "\n".join(lines)


def _check_menu(path: Path, menu: MenuFile, service: Service, report: _Report) -> None:
    """Check placeholders everywhere, GSM-7 in texts, and how long each prompt takes to say."""
    for section, words in (("voice", menu.voice), ("sms", menu.sms)):
        for key, value in words:
            if not isinstance(value, str):
                continue
            loc = (section, key)
            _check_placeholders(path, loc, value, report)
            if section == "sms":
                _check_gsm(path, loc, value, report)
            else:
                _check_say(path, loc, value, service, report)


def _check_placeholders(path: Path, loc: tuple[Any, ...], text: str, report: _Report) -> bool:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as error:
        report.add(path, loc, f"{_where(loc)}braces do not match ({error}): write {{helpline}}")
        return False
    unknown = sorted(name for name in names if name not in PLACEHOLDERS)
    for name in unknown:
        known = ", ".join("{" + item + "}" for item in sorted(PLACEHOLDERS))
        report.add(path, loc, f"{_where(loc)}unknown placeholder {{{name}}}: use one of {known}")
    return not unknown


def _check_gsm(path: Path, loc: tuple[Any, ...], text: str, report: _Report) -> None:
    bad = gsm.non_gsm(text)
    if bad:
        chars = ", ".join(gsm.describe(char) for char in bad)
        plain = "use plain ' \" -"
        report.add(path, loc, f"{_where(loc)}SMS text has characters outside GSM-7: {chars}; {plain}")


def _check_say(path: Path, loc: tuple[Any, ...], text: str, service: Service, report: _Report) -> None:
    seconds = say_seconds(text, service.voice.words_per_minute)
    if seconds > service.voice.max_say_seconds:
        most = service.voice.max_say_seconds
        took = f"takes about {seconds:.0f} s to say"
        report.add(path, loc, f"{_where(loc)}{took}; the most is {most} s: split it")


def _check_sms(path: Path, loc: tuple[Any, ...], text: str, limit: int, report: _Report, what: str) -> None:
    cost = gsm.cost(text)
    if cost.encoding != "GSM-7":
        return  # already reported as characters outside GSM-7
    if cost.segments > limit:
        spent = f"{cost.segments} SMS segments ({cost.units} characters)"
        report.add(path, loc, f"{_where(loc)}{what} costs {spent}; the most is {limit}")


def say_seconds(text: str, words_per_minute: int) -> float:
    """Estimate how long a prompt takes to say."""
    return len(WORD.findall(text.lower())) * 60 / words_per_minute


def words_of(text: str) -> tuple[str, ...]:
    """Split text into lower-case words, as keywords are matched."""
    return tuple(WORD.findall(text.lower().replace("\u2019", "'")))


def _build_topics(
    files: dict[str, tuple[Path, TopicFile | None]], menu: MenuFile, service: Service, report: _Report
) -> tuple[Topic, ...]:
    keys = _assign_keys(files, report)
    topics = []
    for name, (path, topic) in files.items():
        assert topic is not None
        for index, part in enumerate(topic.parts):
            _check_part(path, index, part, service, report)
        pages = _pages(path, topic, menu.sms, service, report)
        words = tuple(dict.fromkeys(word.lower().strip() for word in [topic.title, *topic.keywords]))
        topics.append(Topic(name, keys[name], topic.title, words, tuple(p.voice for p in topic.parts), pages))
    return tuple(sorted(topics, key=lambda topic: topic.key))


def _assign_keys(files: dict[str, tuple[Path, TopicFile | None]], report: _Report) -> dict[str, str]:
    """Give each topic its own key from 1 to 8: its chosen one, else the next free one."""
    keys: dict[str, str] = {}
    taken: dict[int, str] = {}
    for name, (path, topic) in files.items():
        if topic is not None and topic.key is not None:
            if topic.key in taken:
                report.add(path, ("key",), f"key: {topic.key} is also used by {taken[topic.key]!r}")
            taken[topic.key] = name
            keys[name] = str(topic.key)
    free = (key for key in range(1, 9) if key not in taken)
    for name, (path, _) in files.items():
        if name not in keys:
            key = next(free, None)
            if key is None:
                report.add(path, (), "no free key left: the menu has room for 8 topics")
                key = 0
            keys[name] = str(key)
    return keys


def _check_part(path: Path, index: int, part: Part, service: Service, report: _Report) -> None:
    for channel in ("voice", "sms"):
        text = getattr(part, channel)
        loc = ("parts", index) if part.sms is None else ("parts", index, channel)
        if text is None or not _check_placeholders(path, loc, text, report):
            continue
        if channel == "voice":
            _check_say(path, loc, text, service, report)
    _check_gsm(path, ("parts", index) if part.sms is None else ("parts", index, "sms"), part.text, report)


def _pages(path: Path, topic: TopicFile, sms: SmsWords, service: Service, report: _Report) -> tuple[str, ...]:
    """Pack a topic's SMS parts into pages of at most max_segments each."""
    limit = service.sms.max_segments
    more = fill(service, sms.page_more, "sms")
    last = fill(service, sms.page_last, "sms")
    longest = max(more, last, key=lambda text: gsm.cost(text).units)
    texts = [fill(service, part.text, "sms", title=topic.title) for part in topic.parts]
    heading = topic.title.upper() + ":"
    pages: list[list[str]] = [[heading]]
    for index, text in enumerate(texts):
        candidate = " ".join([*pages[-1], text])
        if len(pages[-1]) > 1 and gsm.cost(candidate + "\n" + longest).segments > limit:
            pages.append([])
        pages[-1].append(text)
        single = " ".join(pages[-1])
        loc = ("parts", index)
        _check_sms(path, loc, single + "\n" + longest, limit, report, "this part (with its MORE line)")
    joined = [" ".join(page) for page in pages]
    return tuple(
        page + "\n" + (last if number == len(joined) - 1 else more) for number, page in enumerate(joined)
    )


def _offer_languages(
    root: Path, languages: dict[str, Language], service: Service, report: _Report
) -> dict[str, Language]:
    """Add the other languages' sms_choose lines to each language's SMS menu."""
    if len(languages) < 2:
        return languages
    offered = {}
    for code, language in languages.items():
        lines = [other.sms_choose for other in languages.values() if other.code != code and other.sms_choose]
        menu = "\n".join([language.sms_menu, *lines])
        path = root / code / "menu.yaml"
        _check_gsm(path, ("language", "sms_choose"), menu, report)
        _check_sms(path, ("language", "sms_choose"), menu, service.sms.menu_segments, report,
                   "the SMS menu with the other languages")
        offered[code] = replace(language, sms_menu=menu)
    return offered


def _check_language_keywords(root: Path, languages: dict[str, Language], report: _Report) -> None:
    """Two topics in one language must not share an SMS keyword."""
    for language in languages.values():
        owner: dict[str, str] = {}
        for topic in language.topics:
            for word in topic.keywords:
                if word in owner and owner[word] != topic.name:
                    path = root / language.code / "topics" / f"{topic.name}.yaml"
                    report.add(path, ("keywords",), f"keyword {word!r} is also a keyword of {owner[word]!r}")
                owner.setdefault(word, topic.name)
