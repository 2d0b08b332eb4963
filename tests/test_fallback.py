"""The fallback: the 999 notice first, the helpline rung only when it is open, and never an error."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from ivr import engine, fallback
from ivr.phone import FAKE_LINE
from ivr.script import Script

from .conftest import CLOSED, OPEN
from .test_voice import post, twiml

CALL = {"CallSid": "CA" + "6" * 32, "From": "+447700900602", "To": FAKE_LINE}


def said(root: ET.Element) -> list[str]:
    return [say.text or "" for say in root.iter("Say")]


def dials(root: ET.Element) -> list[str]:
    return [(dial.text or "").strip() for dial in root.iter("Dial")]


def assert_open_fallback(root: ET.Element) -> None:
    words = said(root)
    assert "nine nine nine" in words[0], "the 999 notice comes first"
    assert "Sorry" not in words[0]
    assert "oh eight oh eight, eight oh two, oh three oh oh" in " ".join(words)
    assert dials(root) == ["+448088020300"]


def assert_closed_fallback(root: ET.Element) -> None:
    words = said(root)
    assert "nine nine nine" in words[0], "the 999 notice comes first"
    assert "closed now, and opens tomorrow at half past nine" in words[1]
    assert "help, advice and support" in words[1] and "oh eight oh eight" in words[1]
    assert dials(root) == [], "a closed helpline is not rung"
    assert root.find("Hangup") is not None


def test_the_fallback_rings_an_open_helpline(client: object) -> None:
    assert_open_fallback(twiml(post(client, "/voice/fallback", CALL)))


def test_the_fallback_says_when_a_closed_helpline_opens(client: object, clock: list[datetime]) -> None:
    clock[0] = CLOSED
    assert_closed_fallback(twiml(post(client, "/voice/fallback", CALL)))


@pytest.mark.parametrize("moment", [OPEN, CLOSED], ids=["open", "closed"])
def test_without_any_prompts_the_fallback_rings_the_helpline(
    make_app: Callable[..., object], tmp_path: Path, clock: list[datetime], moment: datetime
) -> None:
    clock[0] = moment
    client = make_app(PROMPTS_DIR=str(tmp_path / "nowhere")).test_client()  # type: ignore[attr-defined]
    assert_open_fallback(twiml(post(client, "/voice/fallback", CALL)))
    assert_open_fallback(twiml(post(client, "/voice", CALL)))


def test_an_unexpected_error_when_closed_says_when_the_helpline_opens(
    app: object, clock: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock[0] = CLOSED

    def explode(*args: object) -> None:
        raise RuntimeError("the engine exploded")

    monkeypatch.setattr(engine, "start_call", explode)
    assert_closed_fallback(twiml(post(app.test_client(), "/voice", CALL)))  # type: ignore[attr-defined]


class BrokenHours:
    def is_open(self, now: datetime) -> bool:
        raise ValueError("the hours are broken")


class BrokenScript:
    hours = BrokenHours()


def test_the_fallback_never_raises_whatever_the_script(script: Script) -> None:
    for known, moment in ((BrokenScript(), CLOSED), (script, "not a time"), (object(), CLOSED), (None, None)):
        assert_open_fallback(ET.fromstring(fallback.voice_twiml(known, moment)))  # type: ignore[arg-type]
    assert_closed_fallback(ET.fromstring(fallback.voice_twiml(script, CLOSED)))
    assert_open_fallback(ET.fromstring(fallback.voice_twiml(script, OPEN)))
