"""Faults, each one really caused: Redis killed, frozen or paused, prompt files broken,
the engine crashing, Twilio retrying. Whatever breaks, the caller still reaches the helpline.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from twilio.request_validator import RequestValidator

from ivr import engine, fallback
from ivr.phone import FAKE_LINE, FlaskTransport, Phone, Turn
from ivr.script import Script
from ivr.store import BREAKER_SECONDS, PREFIX, RedisStore, key_for

from .conftest import BASE_URL, TOKEN
from .redis_server import RedisServer, free_port, redis_server

SECRET = b"test-secret"  # SESSION_SECRET in conftest's make_app
HELPLINE = fallback.HELPLINE_E164


# ------------------------------------------------------------------ helpers


def signed_post(client: object, path: str, form: dict[str, str], headers: dict[str, str] | None = None):
    """POST a form as Twilio does, signed for http://localhost<path>."""
    signature = RequestValidator(TOKEN).compute_signature(BASE_URL + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature, **(headers or {})})


def twiml(response: object) -> ET.Element:
    """Parse a 200 TwiML answer, checking it is a <Response>."""
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data(as_text=True))
    assert root.tag == "Response"
    return root


def said(root: ET.Element) -> str:
    return " ".join(say.text or "" for say in root.iter("Say"))


def dials(root: ET.Element) -> list[str]:
    return [(dial.text or "").strip() for dial in root.iter("Dial")]


def gather_action(root: ET.Element) -> str | None:
    gather = root.find("Gather")
    return gather.get("action") if gather is not None else None


def assert_voice_fallback(root: ET.Element) -> None:
    """The fixed fallback: the number said, then the helpline rung."""
    assert "oh eight oh eight, eight oh two, oh three oh oh" in said(root)
    assert "nine nine nine" in said(root)
    assert dials(root) == [HELPLINE]


def assert_sms_fallback(root: ET.Element) -> None:
    messages = [message.text or "" for message in root.iter("Message")]
    assert len(messages) == 1
    assert "0808 802 0300" in messages[0] and "999" in messages[0]


def ok_turn(turn: Turn) -> Turn:
    assert turn.status == 200
    return turn


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with redis_server() as running:
        yield running


# ------------------------------------------------------------------ Redis dies mid-call

DAY = "ivr:stats:2026-11-30"  # the test clock's day


def test_redis_killed_mid_call_the_line_carries_on_and_recovers(
    make_app: Callable[..., object], server: RedisServer, script: Script
) -> None:
    ticks = [1000.0]
    store = RedisStore(server.url, clock=lambda: ticks[0])
    app = make_app(REDIS_URL=server.url, STORE=store)
    phone = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller="+447700900123")
    stalking = script.default.topic("stalking")
    with server.client() as look:
        menu = ok_turn(phone.ring())
        topic = ok_turn(phone.press(menu, "1"))
        assert stalking.voice_parts[0] in " ".join(topic.says)
        assert not look.exists(key_for(SECRET, "call", phone.call_sid)), "a call keeps no session"
        assert look.hget(DAY, "calls") == b"1", "the counts went to Redis while it was up"

        server.kill()

        second = ok_turn(phone.press(topic, "1"))
        assert store.failures >= 1, "the store really met the dead Redis"
        assert stalking.voice_parts[1] in " ".join(second.says), "the caller hears the part they asked for"
        dial = ok_turn(phone.press(second, "0"))
        assert dial.dials == HELPLINE
        after = ok_turn(phone.transfer_ends(dial, "busy"))
        assert "busy" in " ".join(after.says) and after.waits is not None
        assert phone.hang_up() == 204

        other = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller="+447700900124")
        new_call = ok_turn(other.ring())
        assert any("press 1" in line for line in new_call.says) and new_call.waits is not None
        text = ok_turn(other.text("STALKING"))
        assert text.message == stalking.sms_pages[0]
        assert app.test_client().get("/readyz").status_code == 503

        server.start()  # the same port, an empty database
        assert look.dbsize() == 0
        ticks[0] += BREAKER_SECONDS + 1  # the breaker has rested: Redis is tried again

        third = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller="+447700900125")
        ok_turn(third.ring())
        keys = [key.decode() for key in look.keys("*")]
        assert keys and all(key.startswith(PREFIX) for key in keys)
        assert look.hget(DAY, "calls") == b"2", "counts resume, with those held back while Redis was away"
        assert look.hget(DAY, "transfer:busy") == b"1", "the transfer made while Redis was away is counted"
        assert app.test_client().get("/readyz").status_code == 200


@pytest.mark.parametrize("how", ["nothing-listens", "frozen"])
def test_a_dead_redis_costs_one_timeout_not_one_per_request(
    make_app: Callable[..., object], how: str
) -> None:
    with redis_server() as server:
        if how == "frozen":
            server.freeze()  # connections are accepted, nothing ever answers
            url = server.url
        else:
            url = f"redis://127.0.0.1:{free_port()}/0"
        store = RedisStore(url)
        app = make_app(REDIS_URL=url, STORE=store)
        client = app.test_client()
        started = time.perf_counter()
        for number in range(10):
            form = {"CallSid": f"CA{number:032d}", "From": f"+4477009002{number:02d}", "To": FAKE_LINE}
            assert gather_action(twiml(signed_post(client, "/voice", form))) is not None
            text = {"MessageSid": f"SM{number:032d}", "From": form["From"], "Body": "MENU"}
            assert twiml(signed_post(client, "/sms", text)).find("Message") is not None
        elapsed = time.perf_counter() - started
    assert store.failures == 1, "only the first request waited for Redis; the breaker skipped the rest"
    assert elapsed < 2.0, f"20 requests took {elapsed:.2f} s with Redis dead"


def test_a_paused_redis_does_not_hold_up_a_webhook(
    make_app: Callable[..., object], server: RedisServer
) -> None:
    apps = [make_app(REDIS_URL=server.url, STORE=RedisStore(server.url)) for _ in range(2)]
    with server.client() as admin:
        admin.execute_command("CLIENT", "PAUSE", "3000", "ALL")
    started = time.perf_counter()
    call_form = {"CallSid": "CA" + "7" * 32, "From": "+447700900301"}
    call = twiml(signed_post(apps[0].test_client(), "/voice", call_form))
    call_seconds = time.perf_counter() - started
    started = time.perf_counter()
    text = twiml(signed_post(apps[1].test_client(), "/sms", {"MessageSid": "SM" + "1" * 32, "From": "+447700900302",
                                                           "Body": "STALKING"}))
    text_seconds = time.perf_counter() - started
    assert said(call) and gather_action(call) is not None
    assert (text.findtext("Message") or "").startswith("STALKING:")
    for app in apps:
        assert app.extensions["ivr"].store.failures == 1, "the pause really reached the store"
    assert call_seconds < 2.0 and text_seconds < 2.0, (call_seconds, text_seconds)


# ------------------------------------------------------------------ prompt files


@pytest.mark.parametrize("breakage", ["invalid-yaml", "no-folder"])
def test_broken_prompts_at_start_up_fall_back_to_the_helpline(
    make_app: Callable[..., object], prompts_copy: Path, tmp_path: Path, breakage: str
) -> None:
    if breakage == "invalid-yaml":
        (prompts_copy / "service.yaml").write_text("helpline: [unclosed\n  name: oops\n", encoding="utf-8")
        folder, problem = prompts_copy, "service.yaml"
    else:
        folder, problem = tmp_path / "nowhere", "not found"
    client = make_app(PROMPTS_DIR=str(folder)).test_client()
    call = {"CallSid": "CA" + "3" * 32, "From": "+447700900401"}
    assert_voice_fallback(twiml(signed_post(client, "/voice", call)))
    pressed = {**call, "Digits": "1"}
    assert_voice_fallback(twiml(signed_post(client, "/voice/answer?s=en-GB.menu..0.0", pressed)))
    assert_sms_fallback(twiml(signed_post(client, "/sms", {"MessageSid": "SM" + "2" * 32, "From": "+447700900401",
                                                           "Body": "STALKING"})))
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["prompts"]["fallback"] is True
    assert any(problem in line for line in ready.json["prompts"]["problems"]), ready.json
    assert client.get("/healthz").status_code == 200


def test_a_broken_edit_keeps_the_last_good_prompts_until_fixed(
    make_app: Callable[..., object], prompts_copy: Path
) -> None:
    app = make_app(PROMPTS_DIR=str(prompts_copy), RELOAD_SECONDS=0)  # the test looks at the files itself
    live = app.extensions["ivr"].live
    client = app.test_client()
    phone = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller="+447700900501")
    assert "For harassment, press 2." in ok_turn(phone.ring()).says
    assert client.get("/readyz").status_code == 200

    harassment = prompts_copy / "en-GB" / "topics" / "harassment.yaml"
    good = harassment.read_text(encoding="utf-8")
    harassment.write_text("title: [harassment\nkey: 2\n", encoding="utf-8")
    live.refresh()
    menu = ok_turn(phone.ring())
    assert "For harassment, press 2." in menu.says, "callers still get the last good menu"
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["prompts"]["fallback"] is False
    assert any("harassment.yaml" in line for line in ready.json["prompts"]["problems"]), ready.json

    harassment.write_text(good, encoding="utf-8")
    live.refresh()
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["prompts"]["problems"] == []

    stalking = prompts_copy / "en-GB" / "topics" / "stalking.yaml"
    old = "Stalking involves repeated attempts by someone"
    new = "Stalking, said our edited prompt, is repeated attempts by someone"
    text = stalking.read_text(encoding="utf-8")
    assert old in text
    stalking.write_text(text.replace(old, new), encoding="utf-8")
    live.refresh()
    heard = " ".join(ok_turn(phone.press(ok_turn(phone.ring()), "1")).says)
    assert new in heard and old not in heard
    assert client.get("/readyz").status_code == 200


def test_the_fallback_webhooks_need_neither_redis_nor_prompts(
    make_app: Callable[..., object], tmp_path: Path
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    store = RedisStore(dead)
    client = make_app(PROMPTS_DIR=str(tmp_path / "nowhere"), REDIS_URL=dead, STORE=store).test_client()
    call = {"CallSid": "CA" + "4" * 32, "From": "+447700900601", "To": FAKE_LINE}
    assert_voice_fallback(twiml(signed_post(client, "/voice/fallback", call)))
    assert_sms_fallback(twiml(signed_post(client, "/sms/fallback", {"From": "+447700900601", "Body": "hi"})))
    assert store.failures == 0, "the fallbacks never wait on the store"
    assert client.get("/readyz").status_code == 503
    assert store.failures == 1, "while the store really is down"
    forged = signed_post(client, "/voice/fallback", call, {"X-Twilio-Signature": "forged"})
    assert_voice_fallback(twiml(forged))  # a failed signature check does not silence the fallback
    assert signed_post(client, "/voice", call, {"X-Twilio-Signature": "forged"}).status_code == 403


# ------------------------------------------------------------------ the engine crashes


CALLER = "+447700900777"
WORDS = "Ignatius keeps ringing me"
CALL_SID = "CA" + "5" * 32
CRASHES = [
    ("/voice", "start_call", {"CallSid": CALL_SID, "From": CALLER}),
    ("/voice/answer?s=en-GB.menu..0.0", "answer",
     {"CallSid": CALL_SID, "From": CALLER, "SpeechResult": WORDS}),
    ("/voice/dialled?s=en-GB.dial..0.0", "dial_result",
     {"CallSid": CALL_SID, "From": CALLER, "DialCallStatus": "busy"}),
    ("/sms", "reply_to_text", {"MessageSid": "SM" + "5" * 32, "From": CALLER, "Body": WORDS}),
]


def caller_data_in(lines: list[dict[str, object]], form: dict[str, str]) -> list[str]:
    text = json.dumps(lines)
    wanted = (CALLER, CALLER[1:], "07700900777", WORDS, "Ignatius", form.get("CallSid"),
              form.get("MessageSid"))
    return [item for item in wanted if item and item in text]


def crash(
    app: object, monkeypatch: pytest.MonkeyPatch, path: str, function: str, form: dict[str, str],
    error: Callable[[tuple[object, ...]], Exception],
):
    def explode(*args: object, **kwargs: object) -> None:
        raise error(args)

    monkeypatch.setattr(engine, function, explode)
    response = signed_post(app.test_client(), path, form)
    root = twiml(response)
    if path.startswith("/voice"):
        assert_voice_fallback(root)
    else:
        assert_sms_fallback(root)
    return response


@pytest.mark.parametrize(("path", "function", "form"), CRASHES)
def test_an_engine_crash_still_reaches_the_helpline_and_logs_a_request_id(
    app: object, monkeypatch: pytest.MonkeyPatch, ivr_log: Callable[[], str],
    path: str, function: str, form: dict[str, str],
) -> None:
    response = crash(app, monkeypatch, path, function, form, lambda args: RuntimeError("the engine exploded"))
    lines = [json.loads(line) for line in ivr_log().splitlines() if line.strip()]
    errors = [line for line in lines if line["level"] == "error"]
    assert len(errors) == 1 and "RuntimeError" in json.dumps(errors[0])
    requests = [line for line in lines if line.get("msg") == "request"]
    assert [line["status"] for line in requests] == [200]
    assert requests[0]["request_id"] == response.headers["X-Request-Id"]
    assert errors[0].get("request_id") == response.headers["X-Request-Id"], (
        "the error's log line carries the request id, to tie it to the request"
    )
    assert caller_data_in(lines, form) == []


@pytest.mark.parametrize(("path", "function", "form"), [case for case in CRASHES if WORDS in str(case)])
def test_an_engine_crash_does_not_log_the_callers_words_from_the_error_message(
    app: object, monkeypatch: pytest.MonkeyPatch, ivr_log: Callable[[], str],
    path: str, function: str, form: dict[str, str],
) -> None:
    """Errors often repeat their input (int("..."), KeyError(...)): that must not reach the log."""
    crash(app, monkeypatch, path, function, form, lambda args: ValueError(f"cannot handle {args[2]!r}"))
    lines = [json.loads(line) for line in ivr_log().splitlines() if line.strip()]
    assert any(line["level"] == "error" and "ValueError" in json.dumps(line) for line in lines)
    assert caller_data_in(lines, form) == []


# ------------------------------------------------------------------ Twilio retries


def test_a_retried_voice_answer_gives_the_same_twiml_and_moves_the_caller_once(
    app: object, redis_client: redis.Redis
) -> None:
    client = app.test_client()
    sid = "CA" + "6" * 32
    form = {"CallSid": sid, "From": "+447700900801", "To": FAKE_LINE}
    menu_action = gather_action(twiml(signed_post(client, "/voice", form)))
    assert menu_action is not None
    pressed = {**form, "Digits": "1"}
    token = {"I-Twilio-Idempotency-Token": f"{sid}-answer-1"}
    first = signed_post(client, menu_action, pressed, token)
    retry = signed_post(client, menu_action, pressed, token)
    assert retry.get_data() == first.get_data()
    action = gather_action(twiml(first))
    assert action == gather_action(twiml(retry)) == "/voice/answer?s=v2.en-GB.topic.stalking.0.0.1"
    assert redis_client.hget(DAY, "topic:voice:stalking") == b"1", "the retry was not counted again"

    following = signed_post(client, action, pressed, {"I-Twilio-Idempotency-Token": f"{sid}-answer-2"})
    assert gather_action(twiml(following)) == "/voice/answer?s=v2.en-GB.topic.stalking.1.0.1"


def test_a_retried_text_gets_the_same_page_and_a_new_one_the_next(app: object, script: Script) -> None:
    client = app.test_client()
    pages = script.default.topic("stalking").sms_pages

    def text(body: str, sid: str) -> str:
        form = {"MessageSid": sid, "From": "+447700900802", "To": FAKE_LINE, "Body": body}
        return twiml(signed_post(client, "/sms", form)).findtext("Message") or ""

    assert text("STALKING", "SM" + "a" * 32) == pages[0]
    assert text("MORE", "SM" + "b" * 32) == pages[1]
    assert text("MORE", "SM" + "b" * 32) == pages[1], "Twilio's retry is answered again, not moved on"
    assert text("MORE", "SM" + "c" * 32) == pages[2]
