"""Loading and checking the prompt files, as an operator meets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr import engine
from ivr.engine import Heard, Thread
from ivr.script import load

from .conftest import OPEN, PROMPTS


def problems(root: Path) -> list[str]:
    return [str(problem) for problem in load(root).problems]


def test_the_shipped_prompts_are_clean() -> None:
    loaded = load(PROMPTS)
    assert loaded.script is not None
    assert loaded.problems == []


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("en-GB/topics/stalking.yaml", "title: stalking", "titel: stalking",
         "prompts/en-GB/topics/stalking.yaml:6: titel: is not a known key"),
        ("en-GB/topics/stalking.yaml", "title: stalking\n", "",
         "prompts/en-GB/topics/stalking.yaml:6: title: is missing"),
        ("en-GB/topics/harassment.yaml", "Harassment is different to", "Harassment isn\u2019t like",
         "prompts/en-GB/topics/harassment.yaml:14: part 4: this text has '\u2019' (U+2019): "
         "characters that make a text cost up to three times as much"),
        ("en-GB/menu.yaml", "sms:\n  menu_intro: \"In danger now? Call 999.",
         "sms:\n  menu_intro: \"In danger now \u2013 call 999.",
         "prompts/en-GB/menu.yaml:73: sms.menu_intro: this text has '\u2013' (U+2013): "
         "characters that make a text cost up to three times as much, such as curly quotes, long dashes"),
        ("en-GB/menu.yaml", "For {title}, press {key}.", "For {topic}, press {key}.",
         "prompts/en-GB/menu.yaml:28: voice.menu_topic: unknown placeholder {topic}"),
        ("service.yaml", 'e164: "+448088020300"', 'e164: "08088020300"',
         "prompts/service.yaml:7: helpline.e164: '08088020300' is not an E.164 number"),
        ("service.yaml", "oh three oh oh", "oh three hundred",
         "prompts/service.yaml:5: helpline: spoken number"),
        ("service.yaml", 'wednesday: ["13:00-16:00"]', 'wednesday: ["13:00-12:00"]',
         "prompts/service.yaml:52: hours.weekly: wednesday: '13:00-12:00' ends before it starts"),
        ("service.yaml", "timezone: Europe/London", "timezone: Europe/Londres",
         "prompts/service.yaml:46: hours.timezone: unknown timezone 'Europe/Londres'"),
        ("en-GB/topics/bullying.yaml", "key: 3", "key: 1",
         "prompts/en-GB/topics/stalking.yaml:7: key: 1 is also used by 'bullying'"),
        ("en-GB/topics/bullying.yaml", "parts:\n", "parts:\n  - [not, a, sentence]\n",
         "prompts/en-GB/topics/bullying.yaml:5: part 1: should be a sentence, or voice: and sms: lines"),
        ("en-GB/topics/stalking.yaml", "keywords: [stalking,", "keywords: [stalking, bully,",
         "keyword 'bully' is also a keyword of"),
        ("en-GB/menu.yaml", "  say_forget: [forget]", "  say_forget: [forget]\n  bad: [unclosed",
         "prompts/en-GB/menu.yaml:94: is not valid YAML: a list opened with [ here is never closed"),
    ],
    ids=["unknown-key", "missing-key", "curly-apostrophe", "en-dash", "unknown-placeholder",
         "not-e164", "spoken-not-digits", "hours-backwards", "unknown-timezone", "duplicate-key",
         "bad-part", "shared-keyword", "broken-yaml"],
)
def test_check_names_file_line_and_problem(
    prompts_copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    edit(prompts_copy / file, old, new)
    loaded = load(prompts_copy)
    found = [str(problem) for problem in loaded.problems]
    assert loaded.script is None, "a broken file never loads"
    assert any(line.startswith(expected) or expected in line for line in found), found


def test_a_part_too_long_for_three_segments_is_caught(prompts_copy: Path) -> None:
    longer = "with you, " + "and on " * 70 + "and"
    edit(prompts_copy / "en-GB/topics/stalking.yaml", "with you, and contact", longer)
    found = problems(prompts_copy)
    assert any("stalking.yaml" in line and "SMS segments" in line for line in found), found


def test_a_prompt_too_long_to_say_is_caught(prompts_copy: Path) -> None:
    longer = 'didnt_get: "' + "really " * 150 + "Sorry,"
    edit(prompts_copy / "en-GB/menu.yaml", 'didnt_get: "Sorry,', longer)
    found = problems(prompts_copy)
    assert any("menu.yaml:38: voice.didnt_get: takes about" in line and "to say" in line for line in found)


def test_unquoted_yes_is_explained(prompts_copy: Path) -> None:
    edit(prompts_copy / "en-GB/menu.yaml", '"yes"]', "yes]")
    assert any("put the word in quotes" in line for line in problems(prompts_copy))


def test_a_new_topic_file_adds_a_menu_entry_and_a_keyword(prompts_copy: Path) -> None:
    (prompts_copy / "en-GB/topics/cyberstalking.yaml").write_text(
        "title: online abuse\nkeywords: [online, trolling]\nparts:\n"
        "  - Online abuse can include threats and messages sent to you on the internet.\n",
        encoding="utf-8",
    )
    edit(prompts_copy / "en-GB/topics/stalking.yaml", "cyberstalking, cyber-stalking, ", "")
    script = load(prompts_copy).script
    assert script is not None
    menu = engine.start_call(script, OPEN)
    assert "For online abuse, press 4." in [say.text for say in menu.says]
    chosen = engine.answer(script, menu.call, Heard("4"), OPEN)
    assert chosen.says[0].text.startswith("Online abuse can include")
    text = engine.reply_to_text(script, Thread(), "trolling", OPEN)
    assert (text.text or "").startswith("ONLINE ABUSE: Online abuse")
    assert "4 ONLINE" in script.default.sms_menu


FRENCH_MENU = """\
language:
  name: Francais
  choose: "Pour le francais, appuyez sur {key}."
  keywords: [francais]
  sms_choose: "FRANCAIS pour le francais"
voice:
  danger: "Si vous etes en danger, raccrochez et composez le neuf neuf neuf."
  welcome: "Bienvenue."
  menu_topic: "Pour {title}, appuyez sur {key}."
"""


def add_french(root: Path) -> None:
    (root / "fr-FR/topics").mkdir(parents=True)
    (root / "fr-FR/menu.yaml").write_text(FRENCH_MENU, encoding="utf-8")
    (root / "fr-FR/topics/stalking.yaml").write_text(
        "title: harcelement\nkey: 1\nkeywords: [harcelement]\nparts:\n  - Le harcelement, c'est...\n",
        encoding="utf-8",
    )


def test_a_second_language_is_offered_and_borrows_missing_words(prompts_copy: Path) -> None:
    add_french(prompts_copy)
    loaded = load(prompts_copy)
    assert loaded.script is not None, [str(p) for p in loaded.problems]
    warnings = [str(problem) for problem in loaded.problems]
    assert any("fr-FR/menu.yaml" in line and "sms is missing: using en-GB" in line for line in warnings)
    assert any("topic 'bullying' is missing: using en-GB" in line for line in warnings)
    script = loaded.script
    start = engine.start_call(script, OPEN)
    assert [say.text for say in start.says][2:] == [
        "For English, press 1.", "Pour le francais, appuyez sur 2."]
    french = engine.answer(script, start.call, Heard("2"), OPEN)
    assert french.says[0].text == "Bienvenue." and french.says[0].lang == "fr-FR"
    assert "Pour harcelement, appuyez sur 1." in [say.text for say in french.says]
    silence = engine.answer(script, start.call, Heard(), OPEN)
    assert silence.call.lang == "en-GB", "silence keeps the default language"
    text = engine.reply_to_text(script, Thread(), "francais", OPEN)
    assert text.thread is not None and text.thread.lang == "fr-FR"
    assert script.default.sms_menu.endswith("\nFRANCAIS pour le francais"), "texters are told how to switch"
    assert script.languages["fr-FR"].sms_menu.endswith("\nENGLISH for English")


def test_translation_warnings_do_not_fail_the_check(prompts_copy: Path) -> None:
    add_french(prompts_copy)
    assert load(prompts_copy).errors == []


def test_a_topic_file_name_must_be_plain(prompts_copy: Path) -> None:
    (prompts_copy / "en-GB/topics/Online Abuse.yaml").write_text("title: online\nparts: [x]\n", encoding="utf-8")
    assert any("Online Abuse.yaml:1: file name should be lower-case" in line for line in problems(prompts_copy))


def test_a_language_folder_must_be_named_by_its_tag(prompts_copy: Path) -> None:
    (prompts_copy / "Welsh language").mkdir()
    (prompts_copy / "Welsh language/menu.yaml").write_text(FRENCH_MENU, encoding="utf-8")
    assert any("folder 'Welsh language' should be named by a language tag" in line for line in problems(prompts_copy))


def test_a_place_in_any_language_survives_the_url() -> None:
    for tag in ("en-GB", "es-419", "zh-Hant-TW", "cy"):
        call = engine.Call(tag, "topic", "stalking", 2, 1)
        assert engine.Call.decode(call.encode()) == call
