"""Shared fixtures: an app on real Redis, and pretend callers and texters.

Tests that touch the store use Redis DB 15 on 127.0.0.1:6379 and delete every
key they made. The clock is passed in: `OPEN` is a Monday morning when the
helpline answers, `CLOSED` a Sunday evening when it does not.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
import requests  # noqa: F401 - before pygal's import hook, whose missing find_spec warns (an error here)

from ivr import create_app
from ivr.phone import FlaskTransport, Phone
from ivr.script import Script, load
from ivr.store import PREFIX, RedisStore

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ROOT / "prompts"
LONDON = ZoneInfo("Europe/London")
OPEN = datetime(2026, 11, 30, 10, 0, tzinfo=LONDON)  # Monday, 10:00
CLOSED = datetime(2026, 11, 29, 20, 0, tzinfo=LONDON)  # Sunday, 20:00
TOKEN = "test-auth-token-0123456789abcdef"
# IVR_TEST_REDIS_URL lets two checkouts test at once without wiping each other's keys.
REDIS_URL = os.environ.get("IVR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BASE_URL = "http://localhost"


@pytest.fixture(scope="session")
def script() -> Script:
    loaded = load(PROMPTS)
    assert loaded.script is not None, [str(p) for p in loaded.problems]
    return loaded.script


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379: start it, or run .ci/run")
    yield client
    keys = list(client.scan_iter(match=f"{PREFIX}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def clock() -> list[datetime]:
    """The time the line believes it is; tests move it by replacing clock[0]."""
    return [OPEN]


@pytest.fixture
def make_app(redis_client: redis.Redis, clock: list[datetime]) -> Callable[..., object]:
    def build(**overrides: object) -> object:
        config = {
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PUBLIC_URL": "",
            "REDIS_URL": REDIS_URL,
            "PROMPTS_DIR": str(PROMPTS),
            "SESSION_SECRET": "test-secret",
            "DEV_MODE": False,
            "CLOCK": lambda: clock[0],
            "TESTING": True,
            "COUNTS_FLUSH_SECONDS": 0,  # send each delivery's counts at once, so a test can read them back
        }
        config.update(overrides)
        if "STORE" not in overrides:
            config["STORE"] = RedisStore(str(config["REDIS_URL"]))
        return create_app(config)

    return build


@pytest.fixture
def app(make_app: Callable[..., object]) -> object:
    return make_app()


@pytest.fixture
def client(app: object) -> object:
    return app.test_client()  # type: ignore[attr-defined]


@pytest.fixture
def phone(app: object) -> Phone:
    """A pretend caller or texter, signing each webhook as Twilio does."""
    return Phone(FlaskTransport(app), BASE_URL, TOKEN)


@pytest.fixture
def ivr_log(capfd: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """What the line logs (JSON lines on stderr) from now until it is called."""
    capfd.readouterr()
    return lambda: capfd.readouterr().err


@pytest.fixture
def prompts_copy(tmp_path: Path) -> Path:
    """A copy of the shipped prompts that a test may change."""
    target = tmp_path / "prompts"
    shutil.copytree(PROMPTS, target, ignore=shutil.ignore_patterns(".*"))  # not the line's last-good snapshot
    return target


DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def set_weekly_hours(root: Path, ranges: list[str]) -> None:
    """Give every day the same hours and no bank holidays, for servers that use the real clock."""
    service = root / "service.yaml"
    lines = []
    for line in service.read_text(encoding="utf-8").splitlines():
        key = line.strip().split(":", 1)[0]
        if key in DAYS:
            line = f"    {key}: {ranges!r}".replace("'", '"')
        lines.append(line)
    text = "\n".join(lines) + "\n"
    text = text.replace("  bank_holidays:\n    country: GB\n    subdivision: ENG\n", "  bank_holidays: null\n")
    service.write_text(text, encoding="utf-8")


@pytest.fixture
def always_open(prompts_copy: Path) -> Path:
    """Prompts whose helpline is open at every hour (a real server runs on the real clock)."""
    set_weekly_hours(prompts_copy, ["00:00-24:00"])
    return prompts_copy


@pytest.fixture
def never_open(prompts_copy: Path) -> Path:
    """Prompts whose helpline never opens."""
    set_weekly_hours(prompts_copy, [])
    return prompts_copy
