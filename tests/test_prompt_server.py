"""Prompt edits against the real server from the Procfile: gunicorn, 3 workers, real Redis, signed requests.

Each broken edit of issue 11 is put in place while calls run; then a worker is
stopped with TERM and another killed with KILL, and finally the whole server is
restarted with the broken files still there. After each step every call hears
the newest good prompts (never the bare fallback), answers come quickly,
gunicorn's master is alive, and /readyz names each problem by file and line,
the same on every worker.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import redis
import requests

from ivr.phone import HttpTransport, Phone

from .conftest import REDIS_URL, TOKEN
from .server import MASTERS, procfile_server

ENV = {"TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": REDIS_URL, "SESSION_SECRET": "prompt-server"}
GOOD = "For bullying at school or work, press 3."
SLOWEST_ANSWER = 2.0  # seconds; answers take milliseconds, this only catches a webhook stuck behind a load


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def ring(base: str) -> tuple[list[str], float]:
    """Ring once from a new number (any worker may answer); return what is said and how long it took."""
    caller = f"+4477009{secrets.randbelow(10**5):05}"
    started = time.perf_counter()
    says = Phone(HttpTransport(), base, TOKEN, caller=caller).ring().says
    return says, time.perf_counter() - started


def calls_hear(base: str, expect: str, calls: int = 30) -> None:
    """Ring calls times in a row: every one hears expect, quickly."""
    slowest = 0.0
    for number in range(calls):
        says, took = ring(base)
        slowest = max(slowest, took)
        assert expect in says, f"call {number + 1} heard {says}"
    assert slowest < SLOWEST_ANSWER, f"an answer took {slowest:.2f} s"


def wait_until_heard(base: str, expect: str, seconds: float = 12.0, in_a_row: int = 15) -> None:
    deadline = time.monotonic() + seconds
    streak = 0
    while time.monotonic() < deadline:
        streak = streak + 1 if expect in ring(base)[0] else 0
        if streak >= in_a_row:
            return
        time.sleep(0.05)
    raise AssertionError(f"{expect!r} was not heard from every worker within {seconds} s")


def readiness(base: str, times: int = 12) -> list[str]:
    """Ask /readyz several times (spread over the workers); every answer must name the same problems."""
    answers = []
    for _ in range(times):
        response = requests.get(base + "/readyz", timeout=5)
        assert response.status_code == 503
        answers.append(tuple(response.json()["prompts"]["problems"]))
    assert len(set(answers)) == 1, f"workers disagree: {set(answers)}"
    return list(answers[0])


def gunicorn_master(pid: int) -> int:
    """Return the gunicorn master: the Procfile's shell may have become it, or started it."""
    if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes():
        return pid
    return workers_of(pid)[0]


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def wait_for_workers(master: int, count: int, gone: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = workers_of(master)
        if len(pids) == count and gone not in pids:
            return
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not bring back a worker for {gone}")


def break_everything(root: Path) -> None:
    """Every broken edit the issue names, in place at once."""
    replace_in(root / "en-GB/menu.yaml", 'menu_intro: "In danger now?', 'menu_intro: "{hours} In danger now?')
    replace_in(root / "en-GB/topics/stalking.yaml", "Stalking involves repeated",
               "Call {helpline_number}. Stalking involves repeated")
    (root / "en-GB/topics/nested.yaml").write_text("title: nested\nparts:\n  - " + "[" * 2000 + "]" * 2000 + "\n")
    (root / "en-GB/topics/huge.yaml").write_text("title: huge\nparts:\n" + "  - words and words\n" * 120_000)
    os.mkfifo(root / "en-GB/topics/pipe.yaml")
    os.symlink("/dev/zero", root / "en-GB/topics/zero.yaml")


def line_of(path: Path, needle: str) -> int:
    return next(number for number, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


EXPECTED_PROBLEMS = (
    "prompts/en-GB/menu.yaml:{menu_intro}: sms.menu_intro: placeholder not allowed here",
    "prompts/en-GB/topics/stalking.yaml:{part_1}: part 1: placeholder not allowed here",
    "prompts/en-GB/topics/nested.yaml:3: too deeply nested",
    "prompts/en-GB/topics/huge.yaml:1: file too large",
    "prompts/en-GB/topics/pipe.yaml:1: not an ordinary file",
    "prompts/en-GB/topics/zero.yaml:1: links outside the prompts folder",
)


def test_no_prompt_edit_takes_the_line_off_the_air(prompts_copy: Path, redis_client: redis.Redis) -> None:
    env = {**ENV, "PROMPTS_DIR": str(prompts_copy)}
    bullying = prompts_copy / "en-GB/topics/bullying.yaml"
    with procfile_server(env, workers=3) as base:
        master = gunicorn_master(MASTERS[base])
        replace_in(bullying, "title: bullying", "title: bullying at school or work")
        wait_until_heard(base, GOOD)

        break_everything(prompts_copy)
        lines = {"menu_intro": line_of(prompts_copy / "en-GB/menu.yaml", "menu_intro:"),
                 "part_1": line_of(prompts_copy / "en-GB/topics/stalking.yaml", "parts:") + 1}
        time.sleep(2.5)  # past every worker's look at the files
        calls_hear(base, GOOD)
        problems = readiness(base)
        for expected in EXPECTED_PROBLEMS:
            assert expected.format(**lines) in problems, problems
        assert "helpline_number" not in " ".join(problems), "readyz shows where, never the words"

        for how in (signal.SIGTERM, signal.SIGKILL):
            victim = workers_of(master)[0]
            os.kill(victim, how)
            wait_for_workers(master, 3, victim)
            calls_hear(base, GOOD)
            assert readiness(base) == problems
        assert Path(f"/proc/{master}").exists(), "gunicorn's master is alive"
        assert requests.get(base + "/healthz", timeout=5).status_code == 200

    with procfile_server(env, workers=3) as base:  # a full restart, files still broken
        calls_hear(base, GOOD)
        assert readiness(base) == problems
        assert requests.get(base + "/readyz", timeout=5).json()["prompts"]["source"] == "snapshot"
