"""WhatsApp: the same text line for people who message rather than text, through Flask and real Redis.

Every request is signed and shaped like Twilio's WhatsApp webhook: a MessageSid
(SM + 32 hex), From and To as ``whatsapp:+44…``, and the fields WhatsApp adds
(ProfileName, WaId, MessageType, NumMedia, and Latitude/Longitude for a place).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import requests
from click.testing import CliRunner

from ivr import engine, gsm
from ivr.channels import SMS, WHATSAPP, WHATSAPP_MAX_CHARACTERS, from_sender
from ivr.cli import main
from ivr.engine import Thread
from ivr.fallback import WHATSAPP_TEXT
from ivr.phone import FAKE_CALLER, FAKE_PROFILE_NAME, FlaskTransport, Phone
from ivr.rehearsal import walk_texts
from ivr.script import Script, load
from ivr.store import PREFIX, RedisStore, key_for

from .conftest import BASE_URL, CLOSED, OPEN, REDIS_URL, TOKEN
from .server import procfile_server
from .test_engine import FUZZY_CASES, NEAR_OPT_OUTS, TEXT_KEYWORDS
from .test_privacy import db, everything_in, line, private_redis  # noqa: F401 - fixtures: a private Redis
from .test_stats import metric

IVR = str(Path(sys.executable).parent / "ivr")
SECRET = b"test-secret"  # SESSION_SECRET in conftest's make_app
NUMBER = "+447700900432"
MARKER_NAME = "Zebulon Quixotewright"  # a ProfileName no prompt or key could hold by chance
LATITUDE, LONGITUDE = "51.5013673", "-0.1418899"
MEDIA_URL = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM0/Media/MEmarkermediaurl"
PLACE = {"Latitude": LATITUDE, "Longitude": LONGITUDE, "Address": "Flat 9 Marker Street", "Label": "Markerhome",
         "MessageType": "location"}
PICTURE = {"NumMedia": "1", "MediaUrl0": MEDIA_URL, "MediaContentType0": "image/jpeg", "MessageType": "image"}
VOICE_NOTE = {"NumMedia": "1", "MediaUrl0": MEDIA_URL, "MediaContentType0": "audio/ogg", "MessageType": "audio"}
CONTACT = {"NumMedia": "1", "MediaUrl0": MEDIA_URL, "MediaContentType0": "text/vcard", "MessageType": "contacts"}


def whatsapp(app: object, caller: str = NUMBER) -> Phone:
    """A pretend WhatsApp user, with a marker name for the privacy scans."""
    phone = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=caller, channel=WHATSAPP)
    phone.profile_name = MARKER_NAME
    return phone


@pytest.fixture
def wa(app: object) -> Phone:
    return whatsapp(app)


def expected_reply(script: Script, event: str) -> str | None:
    """The whole WhatsApp reply an event gives a new texter, where it is fixed."""
    language = script.default
    if event.startswith("topic:"):
        return language.topic(event.removeprefix("topic:")).pages("whatsapp")[0]
    fixed = {"menu": language.menu("whatsapp"), "forget": language.sms.forget,
             "hide": language.words("whatsapp", "hide"), "opt-out": language.words("whatsapp", "opted_out")}
    return script.fill(fixed[event], "sms") if event in fixed else None


# ------------------------------------------------------------------ the channel is a value


@pytest.mark.parametrize(("sender", "channel"), [
    ("whatsapp:+447700900432", WHATSAPP), ("WhatsApp:+447700900432", WHATSAPP), ("+447700900432", SMS),
    ("", SMS), ("whatsapp", SMS), ("07700900432", SMS),
])
def test_the_channel_is_read_from_the_sender(sender: str, channel: object) -> None:
    assert from_sender(sender) is channel


# ------------------------------------------------------------------ the same conversation


@pytest.mark.parametrize(("body", "event"), TEXT_KEYWORDS)
def test_every_keyword_of_the_sms_line_works_on_whatsapp(
    app: object, script: Script, body: str, event: str
) -> None:
    turn = whatsapp(app).text(body)
    assert turn.status == 200
    wanted = expected_reply(script, event)
    if wanted is not None:
        assert turn.message == wanted
    else:  # the helpline details
        assert "0808 802 0300" in (turn.message or "") and "999" in (turn.message or "")


@pytest.mark.parametrize("body", NEAR_OPT_OUTS)
def test_near_misses_of_stop_get_the_menu_on_whatsapp(app: object, script: Script, body: str) -> None:
    assert whatsapp(app).text(body).message == script.default.menu("whatsapp")


@pytest.mark.parametrize(("word", "matches"), FUZZY_CASES)
def test_typos_find_their_topic_on_whatsapp(app: object, word: str, matches: bool) -> None:
    message = whatsapp(app).text(word).message or ""
    assert (not message.startswith("In danger now?")) is matches, message


def test_whatsapp_replies_mark_keywords_bold_and_sms_replies_do_not(app: object, script: Script) -> None:
    menu = whatsapp(app).text("hello").message or ""
    assert "1 *STALKING*" in menu and "*CALL*:" in menu and "*HIDE*:" in menu and "0808 802 0300" in menu
    page = whatsapp(app, "+447700900433").text("stalking").message or ""
    assert page.startswith("*STALKING*: Stalking involves") and page.endswith("Reply *MENU* to start again.")
    sms = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=NUMBER).text("hello").message or ""
    assert "*" not in sms and sms == script.default.sms_menu


def test_every_page_and_reply_on_whatsapp_fits_1600_characters_and_topics_take_fewer_pages(script: Script) -> None:
    replies = [reply for moment in (OPEN, CLOSED) for reply in walk_texts(script, moment) if reply.text]
    assert replies
    assert all(len(reply.text or "") <= WHATSAPP_MAX_CHARACTERS for reply in replies)
    for topic in script.default.topics:
        pages = topic.pages("whatsapp")
        assert len(pages) <= len(topic.sms_pages)
        assert all(len(page) <= script.service.whatsapp.page_characters for page in pages)
        assert pages[-1].endswith("Reply *MENU* to start again.")


def test_a_topic_pages_with_more_on_whatsapp_when_pages_are_short(
    make_app: Callable[..., object], prompts_copy: Path
) -> None:
    service = prompts_copy / "service.yaml"
    service.write_text(service.read_text().replace("page_characters: 800", "page_characters: 400"))
    app = make_app(PROMPTS_DIR=str(prompts_copy))
    pages = load(prompts_copy).script.default.topic("stalking").pages("whatsapp")
    assert len(pages) > 1
    phone = whatsapp(app)
    replies = [phone.text("Stalking!").message] + [phone.text("more").message for _ in pages[1:]]
    assert replies == list(pages)
    assert all(page.endswith("Reply *MORE*") for page in pages[:-1]) and len(pages[-1]) <= 400
    assert (phone.text("more").message or "").startswith("In danger now?")


def test_call_gives_the_helpline_details_on_whatsapp_open_and_closed(wa: Phone, clock: list) -> None:
    open_text = wa.text("CALL").message or ""
    assert "0808 802 0300" in open_text and "Mon Tue Thu Fri 09:30-16:00" in open_text
    clock[0] = CLOSED
    assert "Closed now, opens Monday 30 November at 09:30" in (wa.text("helpline").message or "")


# ------------------------------------------------------------------ opt-out


def test_stop_on_whatsapp_confirms_in_one_line_and_forgets(wa: Phone, script: Script, redis_client: object) -> None:
    assert (wa.text("harassment").message or "").startswith("*HARASSMENT*:")
    assert list(redis_client.scan_iter(match="ivr:wa:*"))  # type: ignore[attr-defined]
    turn = wa.text("STOP")
    assert turn.message == script.fill(script.default.words("whatsapp", "opted_out"), "sms")
    assert "\n" not in turn.message and "999" in turn.message
    assert not list(redis_client.scan_iter(match="ivr:wa:*")), "the place is forgotten"  # type: ignore[attr-defined]
    assert wa.text("more").message == script.default.menu("whatsapp"), "nothing to continue"
    assert wa.text("START").message == script.default.menu("whatsapp")


def test_stop_on_sms_still_gets_no_reply(phone: Phone) -> None:
    phone.text("harassment")
    assert phone.text("STOP").message is None


# ------------------------------------------------------------------ media, places, voice notes


@pytest.mark.parametrize("fields", [PICTURE, VOICE_NOTE, PLACE, CONTACT], ids=["picture", "voice-note", "place",
                                                                             "contact"])
def test_a_message_with_no_words_gets_the_words_only_reply_then_the_menu(
    wa: Phone, script: Script, fields: dict[str, str]
) -> None:
    turn = wa.text("", **fields)
    sorry = script.fill(script.default.words("whatsapp", "words_only"), "sms")
    assert turn.status == 200 and turn.message == f"{sorry}\n{script.default.menu('whatsapp')}"
    assert len(turn.message) <= WHATSAPP_MAX_CHARACTERS


def test_a_picture_with_words_is_answered_by_its_words(wa: Phone) -> None:
    assert (wa.text("is this stalking?", **PICTURE).message or "").startswith("*STALKING*:")


def test_a_picture_by_mms_gets_the_gsm7_words_only_reply(phone: Phone, script: Script) -> None:
    sid = "MM" + "ab" * 16
    turn = phone.text("", MessageSid=sid, SmsMessageSid=sid, SmsSid=sid, NumMedia="1", MediaUrl0=MEDIA_URL,
                      MediaContentType0="image/jpeg")
    assert (turn.message or "").endswith(script.default.sms_menu)
    assert gsm.is_gsm(turn.message or "") and gsm.cost(turn.message or "").segments <= 3


def test_media_urls_are_never_fetched(wa: Phone, monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the line tried to fetch something")

    monkeypatch.setattr(requests.Session, "request", refuse)
    assert wa.text("", **VOICE_NOTE).status == 200


# ------------------------------------------------------------------ HIDE, on any text channel


def test_hide_tells_how_to_delete_the_chat_on_both_channels(app: object, script: Script) -> None:
    sms = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=NUMBER)
    sms_hide = sms.text("HIDE").message or ""
    assert sms_hide == script.fill(script.default.sms.hide, "sms")
    assert "Delete" in sms_hide and "999" in sms_hide
    assert gsm.is_gsm(sms_hide) and gsm.cost(sms_hide).segments == 1
    wa_hide = whatsapp(app).text("delete").message or ""
    assert wa_hide == script.fill(script.default.words("whatsapp", "hide"), "sms") and "WhatsApp" in wa_hide


def test_hide_keeps_the_texters_place(wa: Phone, script: Script, make_app: Callable[..., object],
                                      prompts_copy: Path) -> None:
    service = prompts_copy / "service.yaml"
    service.write_text(service.read_text().replace("page_characters: 800", "page_characters: 400"))
    phone = whatsapp(make_app(PROMPTS_DIR=str(prompts_copy)))
    pages = load(prompts_copy).script.default.topic("stalking").pages("whatsapp")
    phone.text("stalking")
    phone.text("hide")
    assert phone.text("more").message == pages[1]


def test_the_sms_menu_mentions_hide_and_still_fits_two_segments(script: Script) -> None:
    menu = engine.reply_to_text(script, Thread(), "menu", OPEN).text or ""
    assert "HIDE" in menu and "0808 802 0300" in menu and "999" in menu
    assert gsm.is_gsm(menu) and gsm.cost(menu).segments <= script.service.sms.menu_segments <= 2


# ------------------------------------------------------------------ limits and faults


def test_the_whatsapp_texter_is_keyed_by_an_hmac_of_their_whatsapp_number(wa: Phone, redis_client: object) -> None:
    wa.text("bullying")
    keys = {key.decode() for key in redis_client.scan_iter(match="ivr:*")}  # type: ignore[attr-defined]
    assert key_for(SECRET, "wa", f"whatsapp:{NUMBER}") in keys
    assert key_for(SECRET, "rate:wa", f"whatsapp:{NUMBER}") in keys
    assert not any(key.startswith("ivr:text:") for key in keys), "not mixed with the same number's SMS"
    for key in keys:
        assert "7700" not in key and redis_client.ttl(key) > 0  # type: ignore[attr-defined]


def test_the_reply_limit_holds_per_whatsapp_number(app: object) -> None:
    phone = whatsapp(app)
    replies = [phone.text("menu").message for _ in range(22)]
    assert all(replies[:20]) and "paused" in (replies[20] or "") and replies[21] is None
    assert whatsapp(app, "+447700900555").text("menu").message, "another texter is not limited"
    assert Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=NUMBER).text("menu").message, "SMS has its own limit"


def test_with_redis_unreachable_whatsapp_replies_still_come(make_app: Callable[..., object]) -> None:
    phone = whatsapp(make_app(STORE=RedisStore("redis://127.0.0.1:1/0")))
    assert (phone.text("stalking").message or "").startswith("*STALKING*:")
    assert (phone.text("more").message or "").startswith("In danger now?")
    assert "0808 802 0300" in (phone.text("call").message or "")
    assert (phone.text("stop").message or "").startswith("Done.")


def test_the_fallback_answers_whatsapp_with_the_number_and_999(wa: Phone, phone: Phone) -> None:
    status, document = wa.post("/sms/fallback", wa.text_form("hi"))
    assert status == 200 and WHATSAPP_TEXT in document
    assert "0808 802 0300" in WHATSAPP_TEXT and "999" in WHATSAPP_TEXT
    _, sms_document = phone.post("/sms/fallback", phone.text_form("hi"))
    assert WHATSAPP_TEXT not in sms_document and "0808 802 0300" in sms_document


def test_a_whatsapp_message_is_refused_unsigned(client: object, wa: Phone) -> None:
    response = client.post("/sms", data=wa.text_form("hello"))  # type: ignore[attr-defined]
    assert response.status_code == 403


# ------------------------------------------------------------------ never kept, never logged


MARKERS = (MARKER_NAME, "quixotewright", NUMBER, NUMBER[1:], "07700900432", LATITUDE, LONGITUDE, "51.50136",
           "markermediaurl", "Marker Street", "Markerhome")


def whole_whatsapp_conversation(phone: Phone) -> list[str | None]:
    bodies = [("hello", {}), ("stalking", {}), ("more", {}), ("", PLACE), ("", VOICE_NOTE), ("", PICTURE),
              ("", CONTACT), ("harassment", {}), ("call", {}), ("hide", {}), ("stop", {}), ("start", {})]
    return [phone.text(body, **fields).message for body, fields in bodies]


def test_profile_name_waid_place_and_media_are_kept_nowhere(
    line: object, db: redis.Redis, ivr_log: Callable[[], str]  # noqa: F811 - the fixtures imported above
) -> None:
    app = line
    replies = whole_whatsapp_conversation(whatsapp(app))
    assert all(replies)
    contents = everything_in(db)
    assert contents
    for key, values, ttl in contents:
        assert key.decode().startswith(PREFIX) and ttl > 0
        for blob in (key, *values):
            text = blob.decode("utf-8", "replace").lower()
            assert not [marker for marker in MARKERS if marker.lower() in text], (key, blob)
    logged = ivr_log()
    assert logged and not [marker for marker in MARKERS if marker.lower() in logged.lower()], logged
    records = [json.loads(line) for line in logged.splitlines() if line.strip()]
    assert {record.get("channel") for record in records if record["msg"] == "request"} == {"whatsapp"}
    exposed = app.test_client().get("/metrics").get_data(as_text=True)  # type: ignore[attr-defined]
    assert not [marker for marker in MARKERS if marker.lower() in exposed.lower()]
    assert not re.search(r"7700 ?900 ?432", exposed)


# ------------------------------------------------------------------ counts by channel


def test_metrics_and_stats_count_whatsapp_beside_sms(app: object, redis_client: object) -> None:
    client = app.test_client()  # type: ignore[attr-defined]
    names = ('ivr_messages_total{channel="whatsapp"}', 'ivr_messages_total{channel="sms"}',
             'ivr_topic_selected_total{channel="whatsapp",topic="stalking"}',
             'ivr_topic_selected_total{channel="sms",topic="stalking"}')
    before = [metric(client.get("/metrics").get_data(as_text=True), name) for name in names]
    wa = whatsapp(app)
    for body in ("hello", "stalking", "bullying"):
        wa.text(body)
    Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=NUMBER).text("stalked")
    after = [metric(client.get("/metrics").get_data(as_text=True), name) for name in names]
    assert [b - a for a, b in zip(before, after, strict=True)] == [3, 1, 1, 1]
    result = CliRunner().invoke(main, ["stats", "--until", "2026-11-30", "--days", "1", "--json",
                                       "--redis-url", REDIS_URL])
    assert result.exit_code == 0, result.output
    (day,) = json.loads(result.stdout)
    assert day["whatsapp"] == 3 and day["texts"] == 1
    assert day["topics"] == {"stalking": {"whatsapp": 1, "sms": 1}, "bullying": {"whatsapp": 1}}
    table = CliRunner().invoke(main, ["stats", "--until", "2026-11-30", "--days", "1", "--redis-url", REDIS_URL])
    head, row = table.stdout.splitlines()
    assert head.split()[:4] == ["date", "calls", "texts", "whatsapp"]
    assert row.split()[:4] == ["2026-11-30", "0", "1", "3"]


# ------------------------------------------------------------------ the operators' side


def test_ivr_text_plays_a_whatsapp_conversation() -> None:
    result = CliRunner().invoke(main, ["text", "--channel", "whatsapp", "--at", "2026-11-30T10:00"],
                                input="hi\nstalking\nhide\nSTOP\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "[WhatsApp, " in out and "1 *STALKING*" in out and "*STALKING*: Stalking involves" in out
    assert "press and hold it in your list of chats" in out and "will not message you again" in out
    assert "(no reply)" not in out and "segment" not in out


def test_ivr_check_holds_whatsapp_pages_to_their_own_limit(prompts_copy: Path) -> None:
    service = prompts_copy / "service.yaml"
    service.write_text(service.read_text().replace("page_characters: 800", "page_characters: 300"))
    result = CliRunner().invoke(main, ["check", "--prompts", str(prompts_copy)])
    assert result.exit_code == 1
    assert re.search(r"prompts/en-GB/topics/stalking.yaml:\d+: part 5: this part \(with its MORE line\) has "
                     r"\d+ characters on WhatsApp; the most is 300: shorten it", result.output), result.output
    assert "SMS segments" not in result.output, "SMS pages still fit their 3 segments"


def test_ivr_check_holds_a_whatsapp_prompt_to_1600_characters(prompts_copy: Path) -> None:
    menu = prompts_copy / "en-GB/menu.yaml"
    menu.write_text(menu.read_text().replace("Archiving a chat does not delete it.",
                                             "Archiving a chat does not delete it." + " Really." * 200))
    result = CliRunner().invoke(main, ["check", "--prompts", str(prompts_copy)])
    assert result.exit_code == 1
    assert re.search(r"prompts/en-GB/menu.yaml:\d+: whatsapp.hide: the HIDE reply on WhatsApp has \d+ characters "
                     r"on WhatsApp; the most is 1600", result.output), result.output


def test_the_sms_limits_are_still_checked_in_segments(prompts_copy: Path) -> None:
    menu = prompts_copy / "en-GB/menu.yaml"
    menu.write_text(menu.read_text().replace('menu_hide: "HIDE: how to delete this chat"',
                                             'menu_hide: "HIDE: ' + "how to delete this chat " * 8 + '"'))
    result = CliRunner().invoke(main, ["check", "--prompts", str(prompts_copy)])
    assert result.exit_code == 1 and "the SMS menu costs 3 SMS segments" in result.output, result.output


def test_every_whatsapp_prompt_is_rendered_in_the_rehearsal(script: Script) -> None:
    texted = {reply.text for moment in (OPEN, CLOSED) for reply in walk_texts(script, moment) if reply.text}
    for name, template in dict(script.default.channel_words)["whatsapp"]:
        if isinstance(template, str):
            assert any(script.fill(template, "sms") in text for text in texted), f"whatsapp.{name} never texted"
    for topic in script.default.topics:
        assert set(topic.pages("whatsapp")) <= texted


# ------------------------------------------------------------------ the real server


def test_a_whatsapp_conversation_through_gunicorn_reads_every_topic_and_leaves_no_trace(
    always_open: Path, redis_client: redis.Redis, tmp_path: Path
) -> None:
    service = always_open / "service.yaml"
    service.write_text(service.read_text().replace("page_characters: 800", "page_characters: 400"))
    script = load(always_open).script
    assert script is not None
    env = {"TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": REDIS_URL, "SESSION_SECRET": "e2e",
           "PROMPTS_DIR": str(always_open)}
    typed = ["hi"]
    for topic in script.default.topics:
        typed += [topic.keywords[0]] + ["more"] * (len(topic.pages("whatsapp")) - 1)
    typed += ["call", "hide", "stop"]
    with (tmp_path / "server.log").open("w+") as log, procfile_server(env, log_to=log) as base:
        result = subprocess.run(
            [IVR, "text", "--channel", "whatsapp", "--url", base], input="\n".join(typed) + "\n",
            capture_output=True, text=True, timeout=60, env={**os.environ, "TWILIO_AUTH_TOKEN": TOKEN},
        )
        exposed = requests.get(base + "/metrics", timeout=5).text
        log.seek(0)
        logged = log.read()
    out = result.stdout
    assert result.returncode == 0, result.stderr
    shown = "\n".join(row.removeprefix("    ") for row in out.splitlines())
    for topic in script.default.topics:
        for page in topic.pages("whatsapp"):
            assert page in shown, f"{topic.name} page never read:\n{out}"
    for words in ("1 *STALKING*", "0808 802 0300", "Open Mon Tue Wed Thu Fri Sat Sun 00:00-24:00", "Delete chat",
                  "will not message you again unless you write to it"):
        assert words in out, f"{words!r} never shown:\n{out}"
    assert "(the line answered HTTP" not in out and "(no reply)" not in out
    assert 'ivr_messages_total{channel="whatsapp"}' in exposed
    markers = (FAKE_PROFILE_NAME.lower(), FAKE_CALLER, FAKE_CALLER[1:], "07700900000")
    for key in redis_client.scan_iter(match=f"{PREFIX}*"):
        assert not key.startswith(f"{PREFIX}wa:".encode()), "STOP forgot the texter's place"
        assert not [marker for marker in markers if marker.encode() in key.lower()]
        if redis_client.type(key) == b"hash":
            blob = b" ".join(part for pair in redis_client.hgetall(key).items() for part in pair).lower()
            assert not [marker for marker in markers if marker.encode() in blob]
    assert logged and not [marker for marker in markers if marker in logged.lower()], logged
    assert not [marker for marker in markers if marker in exposed.lower()]
