"""A prompt edit can never take the line off the air: each finding of issue 11, reproduced.

Careless and hostile edits to the prompt files, each checked three ways: `ivr check`
names the file and line in plain words (never a traceback), the running line keeps
answering with the newest good prompts, and /readyz says where the problem is
without showing the file's words.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ivr import prompt_files
from ivr.cli import main
from ivr.live import LiveScript
from ivr.phone import FlaskTransport, Phone
from ivr.script import load
from ivr.snapshot import NAME, Snapshot

from .conftest import BASE_URL, CLOSED, OPEN, PROMPTS, TOKEN

MENU = "en-GB/menu.yaml"
STALKING = "en-GB/topics/stalking.yaml"
PROBLEM_LINE = re.compile(r"^prompts/[\w./-]+:\d+: ")


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def check(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", "--prompts", str(root)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def ring(app: object, caller: str = "+447700900601") -> list[str]:
    return Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=caller).ring().says


# ------------------------------------------------------------------ placeholders


def line_of(root: Path, rel: str, needle: str) -> int:
    """The 1-based line of the first line holding needle: tests name lines without pinning the file's layout."""
    for number, text in enumerate((root / rel).read_text(encoding="utf-8").splitlines(), start=1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {rel}")


# (file, text to replace, replacement, the line's key, what ivr check must say with {line} for that line)
PLACEHOLDER_EDITS = [
    (MENU, 'menu_intro: "In danger now? Call 999.', 'menu_intro: "In danger now? Call 999. {hours}', "menu_intro:",
     "prompts/en-GB/menu.yaml:{line}: sms.menu_intro: {{hours}} (the published opening hours) is not filled in"),
    (MENU, 'menu_helpline_closed: "The helpline is closed now.', 'menu_helpline_closed: "Opens {opens}.',
     "menu_helpline_closed:",
     "prompts/en-GB/menu.yaml:{line}: voice.menu_helpline_closed: {{opens}} (when the helpline next opens) is not"),
    (STALKING, "Stalking involves repeated", "Call {helpline_number}. Stalking involves repeated", "parts:",
     "prompts/en-GB/topics/stalking.yaml:{line}: part 1: unknown placeholder {{helpline_number}}"),
    (STALKING, "Stalking involves repeated", "{helpline!r} Stalking involves repeated", "parts:",
     "prompts/en-GB/topics/stalking.yaml:{line}: part 1: write the placeholder as just {{helpline}}"),
    (MENU, 'danger: "If you are in danger now', 'danger: "{{If you are in danger now', "  danger:",
     "prompts/en-GB/menu.yaml:{line}: voice.danger: a {{ or }} has no partner"),
    (MENU, 'choose: "For English, press {key}."', 'choose: "For English, press {keyword}."', "choose:",
     "prompts/en-GB/menu.yaml:{line}: language.choose: {{keyword}}"),
]


@pytest.mark.parametrize(("rel", "old", "new", "key", "expected"), PLACEHOLDER_EDITS,
                         ids=["hours-in-menu", "opens-in-menu", "unknown-in-part", "conversion", "doubled-brace",
                              "keyword-in-choose"])
def test_a_placeholder_a_prompt_does_not_get_is_refused_with_its_line(
    prompts_copy: Path, rel: str, old: str, new: str, key: str, expected: str
) -> None:
    edit(prompts_copy, rel, old, new)
    line = line_of(prompts_copy, rel, key) + (1 if key == "parts:" else 0)  # a part starts below `parts:`
    code, output = check(prompts_copy)
    assert code == 1
    assert expected.format(line=line) in output, output
    loaded = load(prompts_copy)
    assert loaded.script is None
    assert not any(p.reason == "a prompt cannot be said" for p in loaded.problems), "the check, not the rehearsal"


def test_a_placeholder_edit_on_a_running_line_keeps_the_last_good_prompts(
    make_app: Callable[..., object], prompts_copy: Path
) -> None:
    app = make_app(PROMPTS_DIR=str(prompts_copy), RELOAD_SECONDS=0)
    live = app.extensions["ivr"].live
    client = app.test_client()
    good = ring(app)
    for rel, old, new, _, _ in PLACEHOLDER_EDITS[:3]:
        before = (prompts_copy / rel).read_text(encoding="utf-8")
        edit(prompts_copy, rel, old, new)
        live.refresh()
        assert ring(app) == good, "callers keep the last good prompts"
        phone = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller="+447700900602")
        assert (phone.text("hello").message or "").startswith("In danger now? Call 999.")
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert any(rel in line for line in ready.json["prompts"]["problems"]), ready.json
        (prompts_copy / rel).write_text(before, encoding="utf-8")
        live.refresh()
        assert client.get("/readyz").status_code == 200


def test_title_in_a_part_is_filled_on_both_channels(prompts_copy: Path) -> None:
    edit(prompts_copy, STALKING, "Stalking involves repeated", "About {title}: stalking involves repeated")
    loaded = load(prompts_copy)
    assert loaded.script is not None, [str(p) for p in loaded.problems]
    topic = loaded.script.default.topic("stalking")
    assert topic is not None and topic.sms_pages[0].startswith("STALKING: About stalking:")
    from ivr import engine

    reply = engine.answer(loaded.script, engine.Call(lang="en-GB"), engine.Heard(digits="1"), OPEN)
    assert reply.says[0].text.startswith("About stalking: stalking involves")


# ------------------------------------------------------------------ files that could hang, crash or bloat


def test_deeply_nested_yaml_is_a_problem_not_a_crash(prompts_copy: Path) -> None:
    (prompts_copy / STALKING).write_text("title: stalking\nparts:\n  - " + "[" * 2000 + "]" * 2000 + "\n")
    code, output = check(prompts_copy)
    assert code == 1
    assert "prompts/en-GB/topics/stalking.yaml:3: has lists or sections nested more than 12 deep" in output


def test_yaml_aliases_are_refused(prompts_copy: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b]\n"
    (prompts_copy / STALKING).write_text(bomb)
    code, output = check(prompts_copy)
    assert code == 1 and "stalking.yaml:2: uses a YAML alias (*name)" in output, output


def test_a_huge_file_is_refused_quickly(prompts_copy: Path) -> None:
    (prompts_copy / "en-GB/topics/huge.yaml").write_text("title: huge\nparts:\n" + "  - words words\n" * 150_000)
    started = time.perf_counter()
    code, output = check(prompts_copy)
    assert code == 1
    assert re.search(r"prompts/en-GB/topics/huge.yaml:1: is \d+ KB; a prompt file may be at most 256 KB", output)
    assert time.perf_counter() - started < 10, "read no further than the cap"


def test_a_pipe_named_like_a_prompt_file_never_hangs_check(prompts_copy: Path) -> None:
    os.mkfifo(prompts_copy / "en-GB/topics/x.yaml")
    outcome: list[tuple[int, str]] = []
    worker = threading.Thread(target=lambda: outcome.append(check(prompts_copy)), daemon=True)
    worker.start()
    worker.join(20)
    assert outcome, "ivr check hung on a pipe"
    code, output = outcome[0]
    assert code == 1 and "x.yaml:1: is not an ordinary file (it is a pipe, device or folder)" in output


@pytest.mark.parametrize("target", ["/dev/zero", "outside"])
def test_a_link_out_of_the_folder_is_refused(prompts_copy: Path, tmp_path: Path, target: str) -> None:
    if target == "outside":
        outside = tmp_path / "elsewhere.yaml"
        outside.write_text((prompts_copy / STALKING).read_text().replace("key: 1", "key: 5").replace("stalk", "st"))
        target = str(outside)
    os.symlink(target, prompts_copy / "en-GB/topics/linked.yaml")
    code, output = check(prompts_copy)
    assert code == 1
    assert "linked.yaml:1: is a link to a file outside the prompts folder" in output


def test_a_link_inside_the_folder_is_fine(prompts_copy: Path) -> None:
    (prompts_copy / "en-GB/topics/stalking.yaml").rename(prompts_copy / "stalking-source.yml.txt")
    os.symlink(prompts_copy / "stalking-source.yml.txt", prompts_copy / STALKING)
    assert check(prompts_copy)[0] == 0


def test_a_folder_of_too_many_files_is_refused_not_half_read(prompts_copy: Path) -> None:
    for number in range(prompt_files.MAX_FILES):
        (prompts_copy / f"extra-{number}.yaml").write_text("x: 1\n")
    code, output = check(prompts_copy)
    assert code == 1 and f"the most is {prompt_files.MAX_FILES}" in output


def test_text_that_is_not_utf8_names_its_line(prompts_copy: Path) -> None:
    (prompts_copy / STALKING).write_bytes(b"title: stalking\nkey: 1\nparts:\n  - caf\xe9\n")
    code, output = check(prompts_copy)
    assert code == 1 and "stalking.yaml:4: is not saved as UTF-8 text" in output


def test_an_unreadable_file_is_noticed_while_running(
    make_app: Callable[..., object], prompts_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(PROMPTS_DIR=str(prompts_copy), RELOAD_SECONDS=0)
    live = app.extensions["ivr"].live
    path = prompts_copy / STALKING
    os.chmod(path, 0o000)  # the line runs as root in CI, where this alone would not stop a read
    real_open = os.open

    def refuse(file: object, *args: object, **kwargs: object) -> int:
        if str(file).endswith("stalking.yaml"):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(prompt_files.os, "open", refuse)
    live.refresh()
    assert any("stalking.yaml:1: cannot be read (permission denied" in str(p) for p in live.problems)
    assert app.test_client().get("/readyz").status_code == 503
    assert "For stalking, press 1." in ring(app), "callers keep the last good prompts"


# ------------------------------------------------------------------ plain words for operators


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("title: stalking\n  key: 1\nparts: [a]\n", "stalking.yaml:2: is not valid YAML: a colon ( : ) here"),
        ("title: stalking\nparts:\n  - one\n - two\n", "stalking.yaml:4: is not valid YAML: this"),
        ("title: stalking\nparts:\n\t- one\n", "stalking.yaml:3: is not valid YAML: there is a tab character"),
        ("title: \"stalking\nparts: [one]\n", "stalking.yaml:1: is not valid YAML: a quote opened here"),
        ("title: stalking\nparts: [one, two\n", "stalking.yaml:2: is not valid YAML: a list opened with ["),
    ],
    ids=["colon", "indent", "tab", "quote", "bracket"],
)
def test_yaml_mistakes_are_said_in_plain_words_at_the_right_line(
    prompts_copy: Path, text: str, expected: str
) -> None:
    (prompts_copy / STALKING).write_text(text)
    code, output = check(prompts_copy)
    assert code == 1 and expected in output, output
    assert "while parsing" not in output and "mapping values" not in output


def test_check_speaks_of_the_files_not_a_server(prompts_copy: Path) -> None:
    edit(prompts_copy, STALKING, "title: stalking", "titel: stalking")
    code, output = check(prompts_copy)
    assert code == 1
    last = output.strip().splitlines()[-1]
    assert "fix the problems above, then run `ivr check` again" in last
    assert "line keeps" not in last and "server" not in last


def test_check_says_what_gsm7_means(prompts_copy: Path) -> None:
    edit(prompts_copy, STALKING, "Stalking behaviour might", "Stalking behaviour \u2014 it might")
    output = check(prompts_copy)[1]
    assert "part 2: this text has '\u2014'" in output
    assert "characters that make a text cost up to three times as much" in output
    assert "GSM" not in output


@pytest.mark.parametrize(
    ("said", "advice"),
    [("Call 999 now.", "write 999 as \"nine nine nine\""),
     ("Ring 0808 802 0300.", "write a phone number as {helpline}"),
     ("We open at 9am.", "write times as words"),
     ("Open Mon-Fri.", "write days in full"),
     ("Open 09:30 until late.", "write times as words")],
    ids=["999", "number", "9am", "mon-fri", "clock"],
)
def test_spoken_digits_and_short_forms_get_a_warning_with_the_words(
    prompts_copy: Path, said: str, advice: str
) -> None:
    edit(prompts_copy, MENU, 'busy: "The helpline is busy just now."', f'busy: "{said}"')
    line = line_of(prompts_copy, MENU, "  busy:")
    loaded = load(prompts_copy)
    assert loaded.script is not None, "a warning, not an error"
    found = [str(p) for p in loaded.problems]
    assert any(f"menu.yaml:{line}: warning: voice.busy: a voice may misread" in text and advice in text
               for text in found), found


@pytest.mark.parametrize("key", ["voice", "sms"])
def test_a_part_with_only_voice_or_only_sms_is_used_on_both_channels(prompts_copy: Path, key: str) -> None:
    edit(prompts_copy, STALKING, "  - >-\n    Stalking behaviour might appear innocent at first, but if it keeps\n"
         "    happening, it could mean something more sinister.\n",
         f"  - {key}: Stalking behaviour might appear innocent at first, but if it keeps happening.\n")
    loaded = load(prompts_copy)
    assert loaded.script is not None, [str(p) for p in loaded.problems]
    topic = loaded.script.default.topic("stalking")
    assert topic is not None
    assert topic.voice_parts[1].startswith("Stalking behaviour might appear")
    assert "Stalking behaviour might appear" in topic.sms_pages[0]


def test_stats_show_every_file_that_loaded_even_with_a_problem_elsewhere(prompts_copy: Path) -> None:
    edit(prompts_copy, "en-GB/topics/bullying.yaml", "title: bullying", "titel: bullying")
    result = CliRunner().invoke(main, ["check", "--stats", "--prompts", str(prompts_copy)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "en-GB/topics/stalking.yaml" in result.output and "part 5" in result.output
    assert "voice.danger" in result.output


def test_stats_show_the_running_totals_of_the_opening() -> None:
    result = CliRunner().invoke(main, ["check", "--stats", "--prompts", str(PROMPTS)])
    assert result.exit_code == 0
    totals = dict(re.findall(r"^\s+([\d.]+)\s+s (until the 999 notice has been said|until the helpline is first "
                             r"offered|for the whole first menu)$", result.output, re.M)[i][::-1] for i in range(3))
    danger = float(totals["until the 999 notice has been said"])
    offered = float(totals["until the helpline is first offered"])
    menu = float(totals["for the whole first menu"])
    assert 0 < danger < offered <= menu


# ------------------------------------------------------------------ /readyz


def test_readyz_names_file_and_line_without_showing_the_words(
    make_app: Callable[..., object], prompts_copy: Path
) -> None:
    marker = "SECRET-MARKER-4412"
    edit(prompts_copy, STALKING, "title: stalking", f"title: [{marker}")
    body = make_app(PROMPTS_DIR=str(prompts_copy)).test_client().get("/readyz")
    assert body.status_code == 503
    text = body.get_data(as_text=True)
    assert marker not in text
    assert body.json["prompts"]["problems"] == ["prompts/en-GB/topics/stalking.yaml:6: not valid YAML"]


# ------------------------------------------------------------------ the last good snapshot


def test_a_worker_started_while_the_files_are_broken_answers_with_the_last_good_prompts(
    make_app: Callable[..., object], prompts_copy: Path
) -> None:
    edit(prompts_copy, STALKING, "Stalking involves repeated", "Stalking, in our good edit, involves repeated")
    first = make_app(PROMPTS_DIR=str(prompts_copy), RELOAD_SECONDS=0)
    assert (prompts_copy / NAME).exists(), "every good load is kept"
    edit(prompts_copy, MENU, 'menu_intro: "In danger', 'menu_intro: "{hours} In danger')
    restarted = make_app(PROMPTS_DIR=str(prompts_copy), RELOAD_SECONDS=0)
    live = restarted.extensions["ivr"].live
    assert live.source == "snapshot"
    assert live.current() is not None
    assert live.current().version == first.extensions["ivr"].live.current().version
    phone = Phone(FlaskTransport(restarted), BASE_URL, TOKEN, caller="+447700900603")
    heard = " ".join(phone.press(phone.ring(), "1").says)
    assert "Stalking, in our good edit, involves repeated" in heard
    assert restarted.test_client().get("/readyz").status_code == 503


def test_a_worker_whose_files_broke_follows_the_newest_good_version(prompts_copy: Path) -> None:
    early = LiveScript(prompts_copy, check_seconds=0)  # it will miss the good edit
    busy = LiveScript(prompts_copy, check_seconds=0)
    edit(prompts_copy, STALKING, "Stalking involves repeated", "Stalking, version two, involves repeated")
    busy.refresh()
    edit(prompts_copy, MENU, "danger:", "danger: [")
    early.refresh()
    assert early.current() is not None and busy.current() is not None
    assert early.current().version == busy.current().version, "every worker answers with the same words"
    assert "version two" in early.current().default.topic("stalking").voice_parts[0]


def test_a_snapshot_is_plain_json_and_a_corrupt_one_is_ignored(prompts_copy: Path) -> None:
    LiveScript(prompts_copy, check_seconds=0)
    import json

    data = json.loads((prompts_copy / NAME).read_text())
    assert data["files"][STALKING] == (prompts_copy / STALKING).read_text()
    (prompts_copy / NAME).write_text("{not json")
    (prompts_copy / "service.yaml").write_text("helpline: [")
    snapshot = Snapshot(prompts_copy, prompts_copy / NAME)
    live = LiveScript(prompts_copy, check_seconds=0, snapshot=snapshot)
    assert live.current() is None and live.source == "none"


def test_the_watcher_moves_an_idle_worker_to_a_good_edit(prompts_copy: Path) -> None:
    live = LiveScript(prompts_copy, check_seconds=0.1)
    try:
        edit(prompts_copy, STALKING, "Stalking involves repeated", "Stalking, watched, involves repeated")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            script = live.current()
            if script is not None and "watched" in script.default.topic("stalking").voice_parts[0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("an idle worker did not pick up the edit within 5 s")
    finally:
        live.close()


def test_a_webhook_never_loads_the_files(make_app: Callable[..., object], prompts_copy: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(PROMPTS_DIR=str(prompts_copy), RELOAD_SECONDS=0)
    loads: list[object] = []
    monkeypatch.setattr("ivr.live.load", lambda root: loads.append(root))
    monkeypatch.setattr("ivr.live.fingerprint", lambda root: loads.append(root))
    (prompts_copy / "en-GB/topics/huge.yaml").write_text("title: huge\n" * 30_000)
    assert "For stalking, press 1." in ring(app)
    assert app.test_client().get("/readyz").status_code == 200
    assert loads == []


# ------------------------------------------------------------------ removed topics and languages


def test_a_caller_inside_a_removed_topic_is_told_and_taken_to_the_menu(
    make_app: Callable[..., object], prompts_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(PROMPTS_DIR=str(prompts_copy), RELOAD_SECONDS=0)
    phone = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller="+447700900604")
    in_bullying = phone.press(phone.ring(), "3")
    assert "Bullying is when someone" in " ".join(in_bullying.says)
    (prompts_copy / "en-GB/topics/bullying.yaml").unlink()
    with caplog.at_level("WARNING", logger="ivr.prompts"):
        app.extensions["ivr"].live.refresh()
    assert "the topic bullying (en-GB) was removed" in caplog.text
    after = phone.press(in_bullying, "1")
    assert after.says[0] == "That part of the line has just changed. Here is the main menu."
    assert "For stalking, press 1." in after.says


def test_a_caller_in_a_removed_language_is_told_in_the_default_one(script: object) -> None:
    from ivr import engine

    reply = engine.answer(script, engine.Call(lang="cy-GB", node="topic", topic="stalking", part=1),
                          engine.Heard(digits="1"), CLOSED)
    assert reply.says[0].text == "That part of the line has just changed. Here is the main menu."
    zero = engine.answer(script, engine.Call(lang="cy-GB", node="topic", topic="gone"), engine.Heard(digits="0"),
                         OPEN)
    assert zero.event == "transfer", "0 still reaches the helpline first"


# ------------------------------------------------------------------ a script that loads is a script that answers


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[a-z_]+\}", template)
    return re.compile(".*?".join(re.escape(part) for part in parts), re.S)


def test_every_prompt_is_rendered_somewhere_in_the_rehearsal(script: object) -> None:
    from ivr.rehearsal import walk_calls, walk_texts

    said, texted = set(), set()
    for moment in (OPEN, CLOSED, OPEN.replace(hour=15, minute=55), datetime(2026, 12, 25, 12, tzinfo=OPEN.tzinfo)):
        said |= {say.text for reply in walk_calls(script, moment) for say in reply.says}
        texted |= {reply.text for reply in walk_texts(script, moment) if reply.text}
    language = script.default
    for name, template in language.voice:
        if isinstance(template, str) and name != "list_and":  # list_and is a word inside the welcome
            assert any(_pattern(template).fullmatch(text) for text in said), f"voice.{name} never said"
    for name, template in language.sms:
        if isinstance(template, str) and name not in ("menu_topic", "page_more", "page_last"):
            assert any(_pattern(template).search(text) for text in texted), f"sms.{name} never texted"
    for topic in language.topics:
        for part in topic.voice_parts:
            assert part in said
        for page in topic.sms_pages:
            assert page in texted
    assert not any("{" in text or "}" in text for text in said | texted)


PROMPT_KEYS = [(MENU, ("voice", key)) for key in (
    "danger", "welcome", "menu_topic", "menu_helpline", "menu_helpline_closed", "part_choices", "topic_end",
    "goodbye", "transfer", "busy", "after_transfer_closed", "closed", "gone")] + [
    (MENU, ("sms", key)) for key in ("menu_intro", "menu_topic", "page_more", "call_open", "call_closed", "forget")
] + [(MENU, ("language", "choose")), (STALKING, ("parts", 0)), (STALKING, ("parts", 4, "voice")),
     (STALKING, ("parts", 4, "sms")), (STALKING, ("title",))]


def _poke(root: Path, rel: str, loc: tuple[object, ...], insert: str) -> None:
    path = root / rel
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    holder = data
    for step in loc[:-1]:
        holder = holder[step]
    holder[loc[-1]] = f"{holder[loc[-1]]} {insert}".strip()
    path.write_text(yaml.safe_dump(data, allow_unicode=True, width=1000), encoding="utf-8")


def test_random_placeholders_are_refused_by_the_check_or_answer_everywhere(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from ivr.rehearsal import walk_calls, walk_texts
    from ivr.script import PLACEHOLDERS

    names = st.sampled_from(sorted(PLACEHOLDERS) + ["hour", "x", "0", "helpline.real", "title!r", "key:>9", ""])
    inserts = st.one_of(
        names.map(lambda name: "{" + name + "}"),
        st.text(alphabet="ab {}!:.0", max_size=8),
    )

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(target=st.sampled_from(PROMPT_KEYS), insert=inserts, counter=st.integers())
    def variation(target: tuple[str, tuple[object, ...]], insert: str, counter: int) -> None:
        import shutil

        root = tmp_path / f"p{abs(counter) % 10**9}-{time.monotonic_ns()}" / "prompts"
        shutil.copytree(PROMPTS, root, ignore=shutil.ignore_patterns(".*"))
        rel, loc = target
        _poke(root, rel, loc, insert)
        loaded = load(root)
        if loaded.script is None:
            assert loaded.errors, "refused with a reason"
            assert all(PROBLEM_LINE.match(str(problem)) for problem in loaded.errors), loaded.errors
            assert not any(p.reason == "a prompt cannot be said" for p in loaded.problems), \
                f"the check missed {insert!r} in {loc}, only the rehearsal caught it"
            return
        for moment in (OPEN, CLOSED):
            for reply in walk_calls(loaded.script, moment):
                assert all(isinstance(say.text, str) and "{" not in say.text for say in reply.says)
            for text_reply in walk_texts(loaded.script, moment):
                assert text_reply.text is None or "{" not in text_reply.text
        shutil.rmtree(root.parent)

    variation()


@pytest.mark.parametrize("move", ["goodbye", "limited_text"])
def test_an_answer_the_rehearsal_cannot_make_is_a_problem_not_a_crash(
    script: object, monkeypatch: pytest.MonkeyPatch, move: str
) -> None:
    from ivr import engine
    from ivr.rehearsal import rehearse

    def broken(*_: object) -> object:
        raise KeyError("hours")

    monkeypatch.setattr(engine, move, broken)
    problems = rehearse(script)
    assert [p.reason for p in problems] == ["a prompt cannot be said"]
    assert "{hours} where the line does not fill it in" in str(problems[0])
