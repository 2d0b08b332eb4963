"""Natural texts reach their topic, the helpline or the menu, through Flask and real Redis."""

from __future__ import annotations

import pytest

from ivr.phone import FlaskTransport, Phone
from ivr.script import Script

from .conftest import BASE_URL, TOKEN

MESSAGES = [
    ("someone is following me", "stalking"),
    ("I think my ex is following me", "stalking"),
    ("he follows me home from work every day", "stalking"),
    ("I'm being stalked by a neighbour", "stalking"),
    ("my ex is stalking me online", "stalking"),
    ("Stalker keeps messaging me", "stalking"),
    ("he tracked my phone", "stalking"),
    ("cyber stalking", "stalking"),
    ("someone keeps watching my house", "stalking"),
    ("help I'm being followed", "stalking"),
    ("they keep harassing me at work", "harassment"),
    ("my neighbour harasses me", "harassment"),
    ("I'm being harrassed", "harassment"),
    ("sexual harassment at work", "harassment"),
    ("he keeps intimidating me", "harassment"),
    ("being harassed by my landlord", "harassment"),
    ("2", "harassment"),
    ("I'm being bullied at school", "bullying"),
    ("my boss is a bully", "bullying"),
    ("there are bullies at work", "bullying"),
    ("they bully my son", "bullying"),
    ("my daughter is facing cyberbullying", "bullying"),
    ("bulling", "bullying"),
    ("3", "bullying"),
    ("hello", "menu"),
    ("hi there", "menu"),
    ("what is this", "menu"),
    ("?", "menu"),
    ("thanks", "menu"),
    ("MENU", "menu"),
    ("0", "helpline"),
    ("can I talk to someone", "helpline"),
    ("what is the number", "helpline"),
    ("HELP", "helpline"),
    ("999", "danger"),
    ("emergency", "danger"),
    ("I'm in danger", "danger"),
    ("he is dangerous and outside my door", "danger"),
    ("DANGER!!", "danger"),
    ("someone is following me and I'm in danger", "danger"),
]


def reached(script: Script, message: str) -> str:
    """Name what a reply is: a topic, the menu, the helpline's details, or the danger line."""
    language = script.default
    if message == language.sms_menu:
        return "menu"
    if message.startswith("In danger now? Call 999.\nNational Stalking Helpline offers"):
        return "danger"
    if message.startswith("National Stalking Helpline offers"):
        return "helpline"
    return next((topic.name for topic in language.topics if message.startswith(topic.title.upper() + ":")), message)


@pytest.mark.parametrize(("body", "expected"), MESSAGES, ids=[body for body, _ in MESSAGES])
def test_a_natural_text_reaches_its_topic(app: object, script: Script, body: str, expected: str) -> None:
    texter = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller="+447700900321")
    reply = texter.text(body)
    assert reply.status == 200 and reply.message is not None
    assert reached(script, reply.message) == expected


def test_the_table_is_long_enough() -> None:
    assert len(MESSAGES) >= 30 and {expected for _, expected in MESSAGES} >= {
        "stalking", "harassment", "bullying", "menu", "helpline", "danger"}
