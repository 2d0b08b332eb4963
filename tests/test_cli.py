"""The `ivr` command as an operator uses it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main

from .conftest import PROMPTS, REDIS_URL, TOKEN
from .server import free_port, procfile_server


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(main, list(args), input=input, env=env)


def test_check_passes_on_the_shipped_prompts() -> None:
    result = run("check", "--prompts", str(PROMPTS))
    assert result.exit_code == 0, result.output
    assert "ok: " in result.stdout


def test_check_fails_with_path_line_message(prompts_copy: Path) -> None:
    topic = prompts_copy / "en-GB/topics/bullying.yaml"
    topic.write_text(topic.read_text().replace("title: bullying", "title: bullying\ncolour: red"))
    result = run("check", env={"PROMPTS_DIR": str(prompts_copy)})
    assert result.exit_code == 1
    assert "prompts/en-GB/topics/bullying.yaml:2: colour: is not a known key" in result.output
    assert "1 problem(s)" in result.output


def test_check_stats_shows_seconds_to_say_and_segments() -> None:
    result = run("check", "--stats", "--prompts", str(PROMPTS))
    assert result.exit_code == 0
    assert "voice.danger" in result.stdout and "en-GB/topics/stalking.yaml" in result.stdout
    assert "part 1" in result.stdout
    assert "stalking page 1" in result.stdout and "menu" in result.stdout


def test_a_scripted_call() -> None:
    result = run("call", "--at", "2026-11-30T10:00", "--prompts", str(PROMPTS), input="1\n*\n9\n0\nbusy\n0\n\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("dial nine nine nine") < out.index("For stalking, press 1.")
    assert out.count("Stalking involves repeated attempts") == 2, "star repeats the part"
    assert "TRANSFER: ringing +448088020300" in out
    assert "The helpline is busy just now." in out
    assert "Thank you for calling" in out and "HANGS UP" in out


def test_a_scripted_call_with_speech_and_silence() -> None:
    result = run("call", "--at", "2026-11-30T10:00", input="say harassment\n\n\n\n")
    out = result.stdout
    assert "Harassment might include" in out
    assert out.count("Sorry, I didn't get that.") == 2
    assert "HANGS UP" in out


def test_a_call_when_the_helpline_is_closed() -> None:
    result = run("call", "--at", "2026-12-25T10:00", input="0\n")
    assert "closed now, and opens on Tuesday at half past nine" in result.stdout
    assert "TRANSFER" not in result.stdout


def test_a_scripted_text_conversation_shows_costs() -> None:
    result = run("text", "--at", "2026-11-30T10:00", input="hi\nstalkng\nmore\nSTOP\n")
    out = result.stdout
    assert "[1 segment, GSM-7, " in out
    assert "STALKING: Stalking involves" in out and "Unwanted contact can include" in out
    assert "(no reply)" in out


@pytest.mark.parametrize(
    ("at", "first_line"),
    [
        ("2026-12-25T10:00", "closed: opens Tuesday 29 December at 09:30"),
        ("2026-11-30T10:00", "open: closes today at 16:00"),
        ("2027-03-30T08:45:00+00:00", "open: closes today at 16:00"),
        ("2027-03-30T08:15:00+00:00", "closed: opens Tuesday 30 March at 09:30"),
    ],
    ids=["christmas", "monday-morning", "utc-after-clock-change", "utc-before-opening"],
)
def test_hours(at: str, first_line: str) -> None:
    result = run("hours", "--at", at)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == first_line


def test_hours_week_prints_seven_days() -> None:
    lines = run("hours", "--at", "2026-12-24T09:00", "--week").stdout.splitlines()
    assert len(lines) == 8
    assert lines[2].startswith("Fri 25 Dec") and "closed" in lines[2]


def test_hours_rejects_a_bad_time() -> None:
    result = run("hours", "--at", "tomorrow-ish")
    assert result.exit_code == 2 and "--at" in result.output


def test_with_nothing_listening_the_pretend_phone_says_so_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for command in ("call", "text"):
        result = run(command, "--url", url, "--token", "t", input="hi\n")
        assert result.exit_code == 2
        assert result.stderr == f"nothing answers at {url}: is the line running?\n"
        assert "Traceback" not in result.output


def test_from_lets_an_operator_try_the_line_past_the_repeat_call_limit(
    always_open: Path, redis_client: object
) -> None:
    env = {"TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": REDIS_URL, "SESSION_SECRET": "cli", "PROMPTS_DIR": str(always_open)}
    with procfile_server(env, workers=1) as base:
        for _ in range(10):
            assert "For stalking, press 1." in run("call", "--url", base, "--token", TOKEN, input="hangup\n").stdout
        for _ in range(3):  # the limit is learnt from the batch of counts, about a second late by design
            limited = run("call", "--url", base, "--token", TOKEN, input="completed\n").stdout
            if "For stalking, press 1." not in limited:
                break
            time.sleep(1)
        assert "For stalking, press 1." not in limited and "TRANSFER: ringing +448088020300" in limited
        other = run("call", "--url", base, "--token", TOKEN, "--from", "+447700900111", input="hangup\n")
        assert "For stalking, press 1." in other.stdout
        text = run("text", "--url", base, "--token", TOKEN, "--from", "+447700900112", input="stalking\n")
        assert "STALKING: Stalking involves" in text.stdout
