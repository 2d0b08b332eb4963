"""The line as a picture: every prompt in the order a caller meets it, with its file:line and timing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from .. import gsm, prompt_stats
from ..engine import HELPLINE_KEY, MENU_KEY, NEXT_KEYS, REPEAT_KEY, published_hours, topic_list
from ..hours import opens_said, opens_written
from ..prompt_files import Files, YamlProblem, parse_yaml
from ..script import Language, Script, Topic, say_seconds

# Plain names for the voice prompts whose key names are not plain enough on their own.
LABELS = {
    "no_answer_closing": "no answer, near closing time",
    "after_transfer": "after a transfer, open",
    "after_transfer_closed": "after a transfer, closed",
    "transfer_done": "transfer answered",
    "didnt_get": "did not get that",
    "part_choices_closed": "part choices, closed",
    "topic_end_closed": "topic end, closed",
    "menu_helpline_closed": "menu: the helpline (closed)",
    "closed_choices": "closed: choices",
}


@dataclass
class Prompt:
    """One thing the line says or texts, where it is written, and what it costs."""

    label: str
    text: str
    where: str
    seconds: float | None = None
    segments: int | None = None
    total: float | None = None
    offers_helpline: bool = False


@dataclass
class TopicView:
    """A topic: its key, the words that choose it, and its parts in order."""

    name: str
    key: str
    title: str
    keywords: tuple[str, ...]
    parts: list[Prompt]
    pages: list[Prompt]
    seconds: float


@dataclass
class LanguageView:
    """Everything one language folder says, laid out as the call and the text conversation run."""

    code: str
    name: str
    opening: list[Prompt]
    helpline_after: float | None
    keys: list[tuple[str, str, str]]
    topics: list[TopicView]
    voice: dict[str, Prompt]
    texts: dict[str, Prompt]
    text_words: list[tuple[str, str]]
    max_misses: int


@dataclass
class Picture:
    """The whole line: problems first, then each language."""

    problems: list[Any]
    fallback: bool
    languages: list[LanguageView] = field(default_factory=list)


class Places:
    """Find the file and line of any key in the prompt files, as `ivr check` names them."""

    def __init__(self, root: Path, files: Files | None = None) -> None:
        self.root = root
        self.files = files  # the texts the running script was built from: never read the folder again here
        self._lines: dict[Path, dict[tuple[Any, ...], int]] = {}

    def where(self, candidates: list[Path], *loc: Any) -> str:
        """Return 'prompts/en-GB/menu.yaml:21' for the first file that has the key, else the first file."""
        return self.first(candidates, loc)

    def first(self, candidates: list[Path], *locs: tuple[Any, ...]) -> str:
        """Return the place of the first key path found, trying each in each file in turn."""
        for loc in locs:
            for path in candidates:
                line = self._index(path).get(tuple(loc))
                if line is not None:
                    return f"{self._name(path)}:{line}"
        return self._name(candidates[0])

    def _name(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def _index(self, path: Path) -> dict[tuple[Any, ...], int]:
        if path not in self._lines:
            node = None
            rel = path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else ""
            if self.files is not None and self.files.has(rel):
                try:
                    node = parse_yaml(self.files.texts[rel])[1]  # safe: size, depth and aliases are checked
                except YamlProblem:
                    node = None
            found: dict[tuple[Any, ...], int] = {}
            _walk(node, (), found)
            self._lines[path] = found
        return self._lines[path]


def _walk(node: Any, loc: tuple[Any, ...], found: dict[tuple[Any, ...], int]) -> None:
    if node is None:
        return
    found[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _walk(value, (*loc, key.value), found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), found)


def picture(live: Any, prompts_dir: str, now: datetime) -> Picture:
    """Lay out the current script, with the current `ivr check` problems at the top."""
    script = live.current()
    view = Picture(sorted(live.problems), script is None)
    if script is None:
        return view
    places = Places(Path(prompts_dir), script.files)
    view.languages = [_Builder(script, language, places, now).build() for language in script.languages.values()]
    return view


class _Builder:
    """Build one language's view."""

    def __init__(self, script: Script, language: Language, places: Places, now: datetime) -> None:
        self.script, self.language, self.places, self.now = script, language, places, now
        self.wpm = script.service.voice.words_per_minute
        root = places.root
        self.menu_files = [root / language.code / "menu.yaml", root / script.default.code / "menu.yaml"]

    def build(self) -> LanguageView:
        language = self.language
        voice = {name: self.voice(name, LABELS.get(name, name.replace("_", " ")))
                 for name, text in language.voice if isinstance(text, str)}
        opening = self.opening()
        offered = next((prompt.total for prompt in opening if prompt.offers_helpline), None)
        return LanguageView(
            language.code, language.name, opening, offered, self.keys(),
            [self.topic(topic) for topic in language.topics], voice, self.texts(), self.text_words(),
            self.script.service.voice.max_misses,
        )

    def voice(self, name: str, label: str = "", **values: str) -> Prompt:
        """A voice prompt, filled as a caller hears it, timed as `ivr check --stats` times it."""
        template = getattr(self.language.voice, name)
        topics = topic_list(self.language)
        timed = self.script.fill(template, "voice", **{"title": "", "key": "", "opens": "", "topics": topics, **values})
        shown = {"title": "[the topic]", "key": "[its key]", "opens": self._opens_spoken(), "topics": topics, **values}
        text = self.script.fill(template, "voice", **shown)
        where = self.places.where(self.menu_files, "voice", name)
        return Prompt(label or name, text, where, say_seconds(timed, self.wpm))

    def _opens_spoken(self) -> str:
        return opens_said(self.script.hours, self.now, self.language.when)

    def opening(self) -> list[Prompt]:
        """What a caller who chooses this language hears first: the engine's own words, timed as `ivr check --stats`."""
        known = self._opening_places()
        said, total = [], 0.0
        for text, seconds in prompt_stats.opening(self.script, lang=self.language.code):
            label, where = known.get(text, ("", ""))
            total += seconds
            said.append(Prompt(label, text, where, seconds, total=round(total, 1),
                               offers_helpline=prompt_stats.offers_helpline(text)))
        return said

    def _opening_places(self) -> dict[str, tuple[str, str]]:
        """Name each prompt an opening can say, filled as the engine fills it, with its file:line."""
        script, root, known = self.script, self.places.root, {}
        for index, language in enumerate(script.languages.values(), start=1):
            files = [root / language.code / "menu.yaml", root / script.default.code / "menu.yaml"]
            voice = language.voice
            prompts = [
                (voice.danger, {}, "999 notice", ("voice", "danger")),
                (voice.welcome, {"topics": topic_list(language)}, "welcome", ("voice", "welcome")),
                *((voice.menu_topic, {"title": topic.title, "key": topic.key}, f"menu: {topic.title}",
                   ("voice", "menu_topic")) for topic in language.topics),
                (voice.menu_helpline, {}, "menu: the helpline (open)", ("voice", "menu_helpline")),
                (language.choose, {"key": str(index)}, f"language: {language.name}", ("language", "choose")),
            ]
            for template, values, label, loc in prompts:
                known.setdefault(script.fill(template, "voice", **values), (label, self.places.where(files, *loc)))
        return known

    def keys(self) -> list[tuple[str, str, str]]:
        """Each key a caller can press, what it does, and the words that do the same."""
        voice = self.language.voice
        found = [(topic.key, f"topic: {topic.title}", ", ".join(topic.keywords)) for topic in self.language.topics]
        found.append((HELPLINE_KEY, "the helpline (or when it opens, when closed)", ", ".join(voice.say_helpline)))
        found.append((MENU_KEY, "back to the menu", ", ".join(voice.say_menu)))
        found.append((REPEAT_KEY, "say that again", ", ".join(voice.say_repeat)))
        found.append((" or ".join(NEXT_KEYS), "next part (in a topic)", ", ".join(voice.say_next)))
        return found

    def topic(self, topic: Topic) -> TopicView:
        """A topic's parts, timed and located; its text pages with their segments."""
        files = [self.places.root / self.language.code / "topics" / f"{topic.name}.yaml",
                 self.places.root / self.script.default.code / "topics" / f"{topic.name}.yaml"]
        parts = []
        for index, part in enumerate(topic.voice_parts):
            where = self.places.first(files, ("parts", index, "voice"), ("parts", index))
            text = self.script.fill(part, "voice", title=topic.title)
            parts.append(Prompt(f"part {index + 1}", text, where, say_seconds(part, self.wpm)))
        start = self.places.where(files, "parts")
        pages = [Prompt(f"page {index}", page, start, segments=gsm.cost(page).segments)
                 for index, page in enumerate(topic.sms_pages, start=1)]
        seconds = round(sum(prompt.seconds or 0.0 for prompt in parts), 1)
        return TopicView(topic.name, topic.key, topic.title, topic.keywords, parts, pages, seconds)

    def texts(self) -> dict[str, Prompt]:
        """The text replies around the topics, with their SMS segments."""
        language, script = self.language, self.script
        hours = published_hours(script, language)
        opens = opens_written(script.hours, self.now, language.when)
        filled = {
            "menu": language.sms_menu,
            "call_open": script.fill(language.sms.call_open, "sms", hours=hours),
            "call_closed": script.fill(language.sms.call_closed, "sms", hours=hours, opens=opens),
            "forget": language.sms.forget,
            "rate_limited": script.fill(language.sms.rate_limited, "sms"),
        }
        found = {}
        for name, text in filled.items():
            where = self.places.where(self.menu_files, "sms", "menu_intro" if name == "menu" else name)
            found[name] = Prompt(name, text, where, segments=gsm.cost(text).segments)
        return found

    def text_words(self) -> list[tuple[str, str]]:
        """The words a texter can send, and what each does."""
        sms = self.language.sms
        found = [(f"{topic.key}, " + ", ".join(topic.keywords), f"topic: {topic.title}") for topic in
                 self.language.topics]
        found += [(", ".join(sms.say_more), "the next page of a topic"), (", ".join(sms.say_menu), "the menu"),
                  (", ".join(sms.say_call), "the helpline's number and hours"),
                  (", ".join(sms.say_forget), "forget this number's place"),
                  ("STOP and other opt-out words", "no reply: the carrier answers, the session ends")]
        return found
