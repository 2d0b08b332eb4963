"""The real server from the Procfile, walked over HTTP with signed requests."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests

from ivr.phone import HttpTransport, Phone

from .conftest import REDIS_URL, TOKEN
from .server import ROOT, procfile_server

IVR = str(Path(sys.executable).parent / "ivr")
ENV = {"TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": REDIS_URL, "SESSION_SECRET": "e2e"}


def test_a_whole_call_and_texts_through_gunicorn(always_open: Path, redis_client: redis.Redis) -> None:
    with procfile_server({**ENV, "PROMPTS_DIR": str(always_open)}) as base:
        script = "1\n1\n1\n1\n1\n1\n*\n9\n2\n1\n1\n1\n1\n9\n3\n1\n1\n1\n1\n0\nno-answer\n0\ncompleted\n"
        result = subprocess.run(
            [IVR, "call", "--url", base], input=script, capture_output=True, text=True, timeout=60,
            env={**os.environ, "TWILIO_AUTH_TOKEN": TOKEN},
        )
        out = result.stdout
        assert result.returncode == 0, result.stderr
        for words in ("dial nine nine nine", "going to your home", "cyber-stalking",
                      "local shop-keeper", "irritation or resentment", "sexual orientation",
                      "real or perceived", "each specific case", "TRANSFER: ringing +448088020300",
                      "The helpline did not answer.", "Thank you for calling", "HANGS UP"):
            assert words in out, f"{words!r} never heard:\n{out}"
        phone = Phone(HttpTransport(), base, TOKEN)
        assert (phone.text("bullied").message or "").startswith("BULLYING:")
        assert (phone.text("MORE").message or "").startswith("Stopping violence")
        assert phone.text("STOP").message is None
        unsigned = requests.post(base + "/voice", data={"CallSid": "CA1"}, timeout=5)
        assert unsigned.status_code == 403
        assert requests.get(base + "/readyz", timeout=5).status_code == 200


def test_the_server_refuses_to_start_without_a_token() -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("TWILIO_AUTH_TOKEN", "IVR_DEV_MODE")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PORT"] = "0"
    result = subprocess.run(
        ["bash", "-c", (ROOT / "Procfile").read_text().splitlines()[0].removeprefix("web:")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN is not set" in result.stdout + result.stderr


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def menu_heard(phone_base: str) -> list[str]:
    """Ring once from a new number (a new CallSid each time, so any worker may answer); return what is said."""
    caller = f"+4477009{secrets.randbelow(10**5):05}"
    return Phone(HttpTransport(), phone_base, TOKEN, caller=caller).ring().says


def wait_for_every_worker(base: str, expect: str, seconds: float = 12.0, in_a_row: int = 16) -> float:
    """Poll until in_a_row rings in a row (spread over the workers) say expect; return seconds taken."""
    started = time.monotonic()
    streak = 0
    while time.monotonic() - started < seconds:
        streak = streak + 1 if any(expect in said for said in menu_heard(base)) else 0
        if streak >= in_a_row:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{expect!r} was not heard from every worker within {seconds} s")


def test_when_closed_the_server_says_when_it_opens(never_open: Path, redis_client: redis.Redis) -> None:
    with procfile_server({**ENV, "PROMPTS_DIR": str(never_open)}, workers=1) as base:
        phone = Phone(HttpTransport(), base, TOKEN)
        menu = phone.ring()
        assert "The helpline is closed now. Press 0 to hear when it opens." in menu.says
        closed = phone.press(menu, "0")
        assert closed.dials is None and any("is closed now" in said for said in closed.says)


def test_edits_reach_every_worker_and_broken_edits_never_do(
    prompts_copy: Path, redis_client: redis.Redis
) -> None:
    env = {**ENV, "PROMPTS_DIR": str(prompts_copy)}
    topic = prompts_copy / "en-GB/topics/bullying.yaml"
    with procfile_server(env, workers=3) as base:
        assert "For bullying, press 3." in menu_heard(base)
        replace_in(topic, "title: bullying", "title: bullying at school or work")
        took = wait_for_every_worker(base, "For bullying at school or work, press 3.")
        assert took < 10
        replace_in(topic, "title: bullying at school or work", "title: [broken")
        time.sleep(3)  # past every worker's check interval
        for _ in range(12):
            assert "For bullying at school or work, press 3." in menu_heard(base), "last good text kept"
        ready = requests.get(base + "/readyz", timeout=5)
        assert ready.status_code == 503
        assert "bullying.yaml" in " ".join(ready.json()["prompts"]["problems"])
        replace_in(topic, "title: [broken", "title: bullying")
        wait_for_every_worker(base, "For bullying, press 3.")
        assert requests.get(base + "/readyz", timeout=5).status_code == 200
