"""Hostile input: forged signatures, huge or malformed bodies, and random forms.

Whatever arrives, the line answers 2xx or 4xx, never 5xx; a 200 is TwiML that
parses, and on a call it always says something or rings the helpline.
"""

from __future__ import annotations

import string
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from ivr.phone import FAKE_LINE

from .conftest import BASE_URL, TOKEN

FORM = "application/x-www-form-urlencoded"
VOICE_PATHS = ("/voice", "/voice/answer", "/voice/dialled", "/voice/status")
PATHS = (*VOICE_PATHS, "/sms")
CALL = {"CallSid": "CA" + "f" * 32, "From": "+447700900555", "To": FAKE_LINE}
TEXT = {"MessageSid": "SM" + "f" * 32, "From": "+447700900555", "To": FAKE_LINE, "Body": "STALKING"}
HELPLINE = "+448088020300"


def sign(url: str, form: dict[str, str] | object) -> str:
    return RequestValidator(TOKEN).compute_signature(url, form)


def post(client: object, path: str, form: dict[str, str], signature: str | None = None):
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    return client.post(path, data=form, headers=headers)


def signed(client: object, path: str, form: dict[str, str]):
    """POST a form, signed over the URL and fields as the server reads them."""
    return signed_raw(client, path, urlencode(form).encode())


def decoded(path: str, body: bytes) -> tuple[str, object]:
    """The URL and form the server will read from these bytes."""
    path_only, _, query = path.partition("?")
    environ = EnvironBuilder(
        path=path_only, query_string=query, base_url=BASE_URL, method="POST", data=body, content_type=FORM
    ).get_environ()
    request = Request(environ)
    return request.url, request.form


def signed_raw(client: object, path: str, body: bytes):
    """POST raw bytes as Twilio would: signed over the URL it requested and the fields the server reads."""
    _, form = decoded(path, body)
    signature = sign(BASE_URL + path, form)
    return client.post(path, data=body, content_type=FORM, headers={"X-Twilio-Signature": signature})


def check_answer(path: str, response: object) -> ET.Element | None:
    """2xx or 4xx, never 5xx; a 200 parses as TwiML, and a call is never left in silence."""
    status = response.status_code
    assert status < 500, (path, status, response.get_data(as_text=True)[:300])
    assert 200 <= status < 300 or 400 <= status < 500, status
    if status != 200:
        return None
    root = ET.fromstring(response.get_data(as_text=True))
    assert root.tag == "Response"
    if path.startswith("/voice"):
        verbs = {element.tag for element in root.iter()}
        assert "Say" in verbs or "Dial" in verbs, response.get_data(as_text=True)
        dials = [(dial.text or "").strip() for dial in root.iter("Dial")]
        assert all(number == HELPLINE for number in dials), dials
    else:
        assert all(child.tag == "Message" for child in root), response.get_data(as_text=True)
    return root


def assert_refused(response: object) -> None:
    assert response.status_code == 403
    body = response.get_data(as_text=True).lower()
    for detail in ("signature", "traceback", "expected", "validator", "token", "hmac"):
        assert detail not in body, body


# ------------------------------------------------------------------ signatures


@pytest.mark.parametrize("path", ["/voice", "/voice/answer?s=en-GB.menu..0.0", "/voice/status", "/sms"])
def test_unsigned_forged_replayed_and_tampered_requests_are_refused(app: object, path: str) -> None:
    client = app.test_client()
    form = {**TEXT, "Digits": "1"} if path.startswith("/sms") else {**CALL, "Digits": "1"}
    assert_refused(post(client, path, form))
    assert_refused(post(client, path, form, "bm90IGEgc2lnbmF0dXJl"))
    assert_refused(post(client, path, form, ""))
    other = "/voice/dialled?s=en-GB.dial..0.0"
    assert_refused(post(client, path, form, sign(BASE_URL + other, form)))  # replayed to another path
    assert_refused(post(client, path, {**form, "Digits": "0"}, sign(BASE_URL + path, form)))  # tampered
    extra = path + ("&" if "?" in path else "?") + "x=1"
    assert_refused(post(client, path, form, sign(BASE_URL + extra, form)))  # signed with another query
    assert signed(client, path, form).status_code in (200, 204), "the same request, signed, is accepted"


@pytest.mark.parametrize("path", ["/voice/fallback", "/sms/fallback"])
def test_the_fallbacks_answer_unsigned_and_forged_requests_with_public_facts(app: object, path: str) -> None:
    """A rotated token or a wrong PUBLIC_URL must not silence the fallbacks; they change nothing."""
    client = app.test_client()
    form = {**TEXT, "Digits": "1"} if path.startswith("/sms") else {**CALL, "Digits": "1"}
    for signature in (None, "", "bm90IGEgc2lnbmF0dXJl", "\u00e9", sign(BASE_URL + "/voice", form)):
        check_answer(path, post(client, path, form, signature))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("header", ["X-Twilio-Signature", "I-Twilio-Idempotency-Token", "User-Agent", "X-Other"])
@pytest.mark.parametrize("value", ["\u00e9t\u00e9", "\u2603", "\U0001f600", "\x80\xff"])
def test_non_ascii_headers_never_cause_a_5xx(app: object, path: str, header: str, value: str) -> None:
    client = app.test_client()
    form = TEXT if path == "/sms" else CALL
    if header == "X-Twilio-Signature":
        assert_refused(client.post(path, data=form, headers={header: value}))
        return
    signature = sign(BASE_URL + path, form)
    response = client.post(path, data=form, headers={header: value, "X-Twilio-Signature": signature})
    assert response.status_code in (200, 204)
    check_answer(path, response)


RE_SPLITS = [
    {"CallSid": CALL["CallSid"] + "Digits1", "From": CALL["From"]},
    {"CallSid": CALL["CallSid"][:-1], "From": CALL["From"] + "Digits" + "1"},
    {"CallSid": CALL["CallSid"] + "CallStatuscompleted"},
    {"CallSid": CALL["CallSid"], "AccountSid": "AC" + "f" * 31 + "Digits0"},
    {"MessageSid": TEXT["MessageSid"] + "BodySTOP", "From": TEXT["From"]},
    {"MessageSid": TEXT["MessageSid"][:-4], "From": TEXT["From"], "Body": "STOP"},
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("form", RE_SPLITS)
def test_re_split_fields_are_refused_with_400(app: object, path: str, form: dict[str, str]) -> None:
    """Twilio signs names and values joined: a captured request re-split must not pass as another."""
    if ("MessageSid" in form) != (path == "/sms"):
        form = {**form, **({"CallSid": "CA1"} if path != "/sms" else {"MessageSid": "SM1"})}
    assert signed(app.test_client(), path, form).status_code == 400


UNICODE_DIGITS = ("\u00b2", "\u2460", "\u0661", "\uff11", "\U0001d7d9", "\u0c67", "1\u00b2", "\u2070")
KEY_STATES = ("en-GB.lang..0.0", "en-GB.menu..0.0", "en-GB.topic.stalking.1.0", "en-GB.after..0.0",
              "en-GB.closed..0.0", "en-GB.dial..0.0")


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
def test_unicode_digits_in_every_field_that_holds_a_key(app: object, digits: str) -> None:
    client = app.test_client()
    for state in KEY_STATES:
        for name in ("Digits", "SpeechResult"):
            path = f"/voice/answer?s={state}"
            check_answer(path, signed(client, path, {**CALL, name: digits}))
    check_answer("/voice/dialled", signed(client, "/voice/dialled?s=en-GB.dial..0.0",
                                          {**CALL, "DialCallStatus": digits}))
    check_answer("/sms", signed(client, "/sms", {**TEXT, "Body": digits}))
    check_answer("/voice", signed(client, f"/voice/answer?s=en-GB.topic.stalking.{digits}.0", {**CALL, "Digits": "1"}))


@pytest.mark.parametrize("public_url", ["", "https://ivr.example.org"])
def test_a_signed_url_with_a_percent_encoded_query_is_accepted(
    make_app: Callable[..., object], public_url: str
) -> None:
    """Twilio signs the URL exactly as it requested it, escapes and all."""
    client = make_app(PUBLIC_URL=public_url).test_client()
    path = "/voice?campaign=caf%C3%A9%20line"
    response = post(client, path, CALL, sign((public_url or BASE_URL) + path, CALL))
    assert response.status_code == 200, "a genuine Twilio request must not be refused"
    check_answer(path, response)


# ------------------------------------------------------------------ sizes and shapes


@pytest.mark.parametrize("path", ["/voice/answer?s=en-GB.menu..0.0", "/sms"])
def test_an_oversized_body_is_refused_with_413(app: object, path: str) -> None:
    form = {**CALL, **TEXT, "Body": "x" * (65 * 1024), "Digits": "1"}
    response = signed(app.test_client(), path, form)
    assert response.status_code == 413
    assert "traceback" not in response.get_data(as_text=True).lower()


MARKUP = "<Say>x</Say>"


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/voice/answer?s=en-GB.menu..0.0", {**CALL, "Digits": MARKUP}),
        ("/voice/answer?s=en-GB.menu..0.0", {**CALL, "Digits": "1" * 5000}),
        ("/voice/answer?s=en-GB.topic.stalking.0.0", {**CALL, "SpeechResult": MARKUP + " next"}),
        ("/voice/answer?s=en-GB.topic.stalking.0.0", {**CALL, "SpeechResult": "w\u00f6rds " * 1000}),
        ("/voice/answer?s=en-GB.menu..0.0", {**CALL, "Digits": "\x00\x01\x1b[31m"}),
        ("/voice/dialled?s=en-GB.dial..0.0", {**CALL, "DialCallStatus": MARKUP}),
        ("/voice/answer?s=en-GB.topic.stalking.0.0.0.0", {**CALL, "Digits": "1"}),
        ("/voice/answer?s=en-GB.topic.stalking.-1.0", {**CALL, "Digits": "1"}),
        ("/voice/answer?s=en-GB.topic.stalking.99.99", {**CALL, "Digits": "1"}),
        ("/voice/answer?s=en-GB.topic.nosuchtopic.3.0", {**CALL, "Digits": "1"}),
        ("/voice/answer?s=en-GB.menu..0.0%0A", {**CALL, "Digits": "1"}),
        ("/voice/answer?s=en-GB.menu..0.0", {"Digits": "1"}),  # no From, no CallSid
        ("/voice", {}),
        ("/voice/answer", {}),
        ("/voice/dialled", {}),
        ("/voice/status", {}),
        ("/voice/status", {"CallSid": "", "CallStatus": "completed"}),
        ("/sms", {**TEXT, "Body": "MENU\x00\x00STALKING\x00"}),
        ("/sms", {**TEXT, "Body": "<Message>pwned</Message>"}),
        ("/sms", {**TEXT, "Body": "\u202e\ufeff\U0001f600" * 500}),
        ("/sms", {"Body": "STALKING"}),  # no From
        ("/sms", {"From": "+447700900555"}),  # no Body
        ("/sms", {}),
    ],
)
def test_malformed_fields_never_cause_a_5xx_or_silence(app: object, path: str, form: dict[str, str]) -> None:
    response = signed(app.test_client(), path, form)
    root = check_answer(path.partition("?")[0], response)
    assert response.status_code in (200, 204)
    if root is not None:
        texts = [element.text or "" for element in root.iter()]
        assert not any(text.strip() in ("x", "pwned") for text in texts), "caller input is never echoed"
        assert "\x00" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/sms", "/voice/answer?s=en-GB.menu..0.0"])
@pytest.mark.parametrize("body", [
    b"Body=\xff\xfe\x00MORE&From=%2B447700900555", b"From=%2B44770090&Body=%FF%FE",
    b"\x00\x00\x00", b"", b"=&&=&Body", b"Body=" + b"%" * 300,
])
def test_undecodable_bodies_signed_as_read(app: object, path: str, body: bytes) -> None:
    response = signed_raw(app.test_client(), path, body)
    assert response.status_code == 200, "a body signed as the server reads it is accepted"
    check_answer(path, response)


@pytest.mark.parametrize("path", ["/sms", "/voice/answer?s=en-GB.menu..0.0", "/voice/dialled"])
def test_undecodable_bodies_in_development_mode(make_app: Callable[..., object], path: str) -> None:
    client = make_app(DEV_MODE=True, TWILIO_AUTH_TOKEN="").test_client()
    for body in (b"Body=\xff\xfe\x00MORE&From=%2B447700900555&CallSid=CA\xc3\x28", b"\xff" * 100, b""):
        response = client.post(path, data=body, content_type=FORM)
        assert response.status_code == 200, "development mode does not check signatures"
        check_answer(path, response)


# ------------------------------------------------------------------ property tests

TWILIO_KEYS = (
    "Digits", "SpeechResult", "Body", "From", "CallSid", "MessageSid", "DialCallStatus", "CallStatus",
)
MEANINGFUL = ("", "0", "1", "9", "*", "#", "12", "completed", "busy", "no-answer", "canceled", "failed",
              "STALKING", "MORE", "CALL", "MENU", "FORGET", "STOP", "english", "helpline", "next",
              "+447700900000", "CA" + "0" * 32)
values = st.one_of(
    st.sampled_from(MEANINGFUL),
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=200),
    st.text(st.characters(max_codepoint=0x1F), max_size=40),  # control characters, NUL included
    st.text(alphabet="0123456789*#<>&;\"' ", min_size=1, max_size=3000),
)
keys = st.one_of(st.sampled_from(TWILIO_KEYS), st.text(max_size=20))
forms = st.dictionaries(keys, values, max_size=8)
VALID_STATES = (
    "en-GB.menu..0.0", "en-GB.topic.stalking.4.0", "en-GB.topic.bullying.99.2", "en-GB.dial..0.0",
    "en-GB.after..0.0", "en-GB.closed..0.9", "lang...0.0", "xx.topic.nothing.1.1", "en-GB.lang..0.0",
)
states = st.one_of(
    st.sampled_from(VALID_STATES),
    st.text(alphabet=string.ascii_letters + string.digits + ".-_", max_size=60),
    st.text(max_size=80),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=forms, state=states)
def test_any_signed_form_gets_an_answer_never_a_5xx(app: object, form: dict[str, str], state: str) -> None:
    client = app.test_client()
    body = urlencode(form).encode()
    for path in PATHS:
        target = f"{path}?s={quote(state, safe='')}"
        response = signed_raw(client, target, body)
        if decoded(target, body)[0] == BASE_URL + target:  # see test_a_signed_url_with_a_percent_encoded...
            assert response.status_code != 403, "a request signed as Twilio signs it is never refused"
        if len(body) <= 64 * 1024:
            assert response.status_code != 413
        check_answer(path, response)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=forms, signature=st.text(alphabet=string.ascii_letters + string.digits + "+/=", max_size=40))
def test_any_unsigned_form_is_refused_without_detail(
    app: object, form: dict[str, str], signature: str
) -> None:
    client = app.test_client()
    for path in PATHS:
        response = post(client, path, form, signature or None)
        assert_refused(response)
