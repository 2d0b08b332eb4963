"""The voice webhooks through Flask, with requests signed as Twilio signs them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from twilio.request_validator import RequestValidator

from ivr.phone import FlaskTransport, Phone
from ivr.store import SEEN_TTL, RedisStore

from .conftest import BASE_URL, CLOSED, TOKEN


def sign(url: str, form: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form)}


def post(client: object, path: str, form: dict[str, str], **headers: str) -> object:
    signed = sign(BASE_URL + path, form)
    signed.update(headers)
    return client.post(path, data=form, headers=signed)  # type: ignore[attr-defined]


def twiml(response: object) -> ET.Element:
    assert response.status_code == 200, response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.mimetype == "text/xml"  # type: ignore[attr-defined]
    root = ET.fromstring(response.get_data(as_text=True))  # type: ignore[attr-defined]
    assert root.tag == "Response"
    return root


CALL = {"CallSid": "CA0123456789abcdef0123456789abcdef", "From": "+447700900123", "To": "+441632960000"}


def test_a_new_call_gathers_keys_and_speech_in_en_gb(client: object) -> None:
    root = twiml(post(client, "/voice", CALL))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("input") == "dtmf speech"
    assert gather.get("language") == "en-GB"
    assert gather.get("numDigits") == "1"
    assert gather.get("action", "").startswith("/voice/answer?s=")
    says = gather.findall("Say")
    assert says and all(say.get("language") == "en-GB" for say in says)
    assert all(say.get("voice") == "Polly.Amy" for say in says)
    assert "nine nine nine" in (says[0].text or "")
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text == gather.get("action"), "silence asks again"


def test_no_response_ever_records_the_caller(phone: Phone) -> None:
    turn = phone.ring()
    for keys in ("1", "1", "1", "9", "2", "0"):
        turn = phone.press(turn, keys)
    assert turn.dials == "+448088020300"


@pytest.mark.parametrize(
    "path", ["/voice", "/voice/answer?s=en-GB.menu..0.0", "/voice/dialled", "/voice/status", "/sms"]
)
def test_unsigned_and_forged_requests_are_refused(client: object, path: str) -> None:
    unsigned = client.post(path, data=CALL)  # type: ignore[attr-defined]
    forged = client.post(path, data=CALL, headers=sign(BASE_URL + path, CALL, "wrong-token"))  # type: ignore[attr-defined]
    other_url = client.post(path, data=CALL, headers=sign(BASE_URL + "/elsewhere", CALL))  # type: ignore[attr-defined]
    for response in (unsigned, forged, other_url):
        assert response.status_code == 403


def test_signatures_are_checked_against_public_url(make_app: Callable[..., object]) -> None:
    app = make_app(PUBLIC_URL="https://ivr.example.org")
    client = app.test_client()  # type: ignore[attr-defined]
    as_proxied = sign("https://ivr.example.org/voice", CALL)
    assert client.post("/voice", data=CALL, headers=as_proxied).status_code == 200
    as_seen_locally = sign(BASE_URL + "/voice", CALL)
    assert client.post("/voice", data=CALL, headers=as_seen_locally).status_code == 403
    root = twiml(client.post("/voice", data=CALL, headers=as_proxied))
    action = root.find("Gather").get("action", "")  # type: ignore[union-attr]
    assert action.startswith("https://ivr.example.org/voice/answer?s="), "next webhooks go through the proxy"


def test_the_app_refuses_to_start_without_a_token(make_app: Callable[..., object]) -> None:
    from ivr import ConfigError

    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN is not set"):
        make_app(TWILIO_AUTH_TOKEN="")


def test_the_transfer_dials_the_helpline_with_an_action(client: object) -> None:
    root = twiml(post(client, "/voice/answer?s=en-GB.menu..0.0", {**CALL, "Digits": "0"}))
    dial = root.find("Dial")
    assert dial is not None and (dial.text or "").strip() == "+448088020300"
    assert dial.get("action", "").startswith("/voice/dialled?s=")
    said = " ".join(say.text or "" for say in root.iter("Say"))
    assert "oh eight oh eight, eight oh two, oh three oh oh" in said


@pytest.mark.parametrize(
    ("status", "hangs_up"),
    [("completed", True), ("busy", False), ("no-answer", False), ("failed", False), ("canceled", False)],
)
def test_dial_outcomes_through_flask(client: object, status: str, hangs_up: bool) -> None:
    form = {**CALL, "DialCallStatus": status}
    root = twiml(post(client, "/voice/dialled?s=en-GB.dial..0.0", form))
    assert (root.find("Hangup") is not None) is hangs_up
    if not hangs_up:
        gather = root.find("Gather")
        assert gather is not None, "the caller can try again or go back"
        again = twiml(post(client, gather.get("action", ""), {**CALL, "Digits": "0"}))
        assert again.find("Dial") is not None, "0 connects after a failed transfer too"


def test_at_a_closed_time_0_says_when_it_opens_instead_of_ringing(phone: Phone, clock: list) -> None:
    clock[0] = CLOSED
    turn = phone.press(phone.ring(), "0")
    assert turn.dials is None
    assert any("tomorrow at half past nine" in said for said in turn.says)


def test_a_whole_call_by_keys(phone: Phone) -> None:
    turn = phone.ring()
    turn = phone.press(turn, "3")
    heard = []
    for _ in range(10):
        heard += turn.says
        if "That is all" in " ".join(turn.says):
            break
        turn = phone.press(turn, "1")
    assert "That is all" in " ".join(turn.says)
    assert any("Bullying is when someone" in said for said in heard)
    turn = phone.wait(turn)
    assert turn.says[0] == "Sorry, I didn't get that."
    turn = phone.say(turn, "I want to talk to someone")
    assert turn.dials == "+448088020300"
    turn = phone.transfer_ends(turn, "busy")
    assert any("busy" in said for said in turn.says)
    assert phone.hang_up() == 204


def test_three_misses_end_the_call_kindly(phone: Phone) -> None:
    turn = phone.ring()
    for _ in range(3):
        turn = phone.wait(turn)
    assert turn.hung_up
    assert "oh eight oh eight" in " ".join(turn.says)


def test_a_call_keeps_no_session_its_place_travels_in_the_signed_url(phone: Phone, redis_client: object) -> None:
    turn = phone.press(phone.ring(), "1")
    assert turn.waits == "/voice/answer?s=v2.en-GB.topic.stalking.0.0.1", "the place, and that a topic was reached"
    assert not list(redis_client.scan_iter(match="ivr:call:*"))  # type: ignore[attr-defined]
    assert phone.hang_up() == 204
    assert not list(redis_client.scan_iter(match="ivr:call:*"))  # type: ignore[attr-defined]
    for key in redis_client.scan_iter(match="ivr:seen:*"):  # type: ignore[attr-defined]
        assert 0 < redis_client.ttl(key) <= SEEN_TTL  # type: ignore[attr-defined]


def test_with_redis_unreachable_the_call_still_works(make_app: Callable[..., object]) -> None:
    app = make_app(STORE=RedisStore("redis://127.0.0.1:1/0"))
    phone = Phone(FlaskTransport(app), BASE_URL, TOKEN)
    turn = phone.ring()
    assert turn.waits
    turn = phone.press(turn, "2")
    assert "Harassment might include" in " ".join(turn.says)
    turn = phone.press(turn, "1")
    assert "series of unwanted visits" in " ".join(turn.says)
    turn = phone.press(turn, "0")
    assert turn.dials == "+448088020300"
    assert phone.hang_up() == 204


def test_the_fallback_needs_nothing(make_app: Callable[..., object], tmp_path: object) -> None:
    app = make_app(STORE=RedisStore("redis://127.0.0.1:1/0"), PROMPTS_DIR=str(tmp_path))
    root = twiml(post(app.test_client(), "/voice/fallback", CALL))  # type: ignore[attr-defined]
    assert (root.find("Dial").text or "").strip() == "+448088020300"  # type: ignore[union-attr]
    says = [say.text or "" for say in root.iter("Say")]
    assert "nine nine nine" in says[0] and "oh eight oh eight" in says[1]


def test_health(client: object) -> None:
    assert client.get("/healthz").status_code == 200  # type: ignore[attr-defined]
    ready = client.get("/readyz")  # type: ignore[attr-defined]
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"


def test_readyz_is_503_when_redis_is_gone(make_app: Callable[..., object]) -> None:
    app = make_app(STORE=RedisStore("redis://127.0.0.1:1/0"))
    ready = app.test_client().get("/readyz")  # type: ignore[attr-defined]
    assert ready.status_code == 503 and ready.get_json()["store"]["ok"] is False


def ring_from(app: object, caller: str) -> object:
    """A new call (its own CallSid) from a caller."""
    return Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=caller).ring()


def test_a_caller_over_the_limit_skips_the_menu_not_the_help(
    phone: Phone, app: object, redis_client: object
) -> None:
    for _ in range(10):
        assert ring_from(app, phone.caller).waits
    limited = ring_from(app, phone.caller)
    assert "nine nine nine" in limited.says[0], "the 999 notice comes first"
    assert "oh eight oh eight" in " ".join(limited.says)
    assert limited.dials == "+448088020300", "open: the caller is put through"
    other = ring_from(app, "+447700900999")
    assert other.waits, "another caller is not limited"
    counters = list(redis_client.scan_iter(match="ivr:rate:call:*"))  # type: ignore[attr-defined]
    assert len(counters) == 2 and all(0 < redis_client.ttl(key) <= 600 for key in counters)  # type: ignore[attr-defined]


def test_over_the_limit_when_closed_the_caller_hears_when_it_opens(
    phone: Phone, app: object, clock: list[object]
) -> None:
    clock[0] = CLOSED
    for _ in range(10):
        ring_from(app, phone.caller)
    limited = ring_from(app, phone.caller)
    said = " ".join(limited.says)
    assert "nine nine nine" in limited.says[0]
    assert "closed" in said and "opens tomorrow" in said and "oh eight oh eight" in said
    assert limited.dials is None and limited.waits, "a closed helpline is not rung; the caller can go on"
    topic = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller=phone.caller).press(limited, "2")
    assert "Harassment might include" in " ".join(topic.says)


@pytest.mark.parametrize("withheld", ["anonymous", "Restricted", "unavailable", "unknown", "", "266696687"])
def test_withheld_callers_are_never_pooled_under_one_limit(app: object, withheld: str, redis_client: object) -> None:
    for _ in range(15):
        turn = ring_from(app, withheld)
        assert turn.waits and turn.dials is None and "For stalking, press 1." in turn.says
    assert not list(redis_client.scan_iter(match="ivr:rate:call:*"))  # type: ignore[attr-defined]


def test_a_retried_delivery_of_one_call_never_counts_toward_the_limit(app: object) -> None:
    caller = Phone(FlaskTransport(app), BASE_URL, TOKEN, caller="+447700900555")
    for _ in range(30):
        assert caller.ring().waits, "the same CallSid delivered again is one call"
    for _ in range(9):
        assert ring_from(app, caller.caller).waits
    assert ring_from(app, caller.caller).dials, "the eleventh different call is over the limit"


def test_a_whole_topic_through_the_line_open_and_closed(phone: Phone, clock: list[object]) -> None:
    """Star at the end replays from part 1; no "Press 1" when nothing follows; closed said once."""
    for moment in (None, CLOSED):
        if moment is not None:
            clock[0] = moment
        turn = phone.press(phone.ring(), "3")
        heard = list(turn.says)
        for _ in range(10):
            if "That is all" in " ".join(turn.says):
                break
            turn = phone.press(turn, "1")
            heard += turn.says
        assert "That is all" in " ".join(turn.says) and "Press 1" not in " ".join(turn.says)
        assert " ".join(heard).count("closed now") == (1 if moment else 0)
        again = phone.press(turn, "*")
        assert again.says[0].startswith("Bullying is"), again.says[0]
