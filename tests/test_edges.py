"""What an attacker and a careful reviewer found at the edges: each finding, reproduced."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from twilio.request_validator import RequestValidator

from ivr.phone import FAKE_LINE
from ivr.store import BREAKER_SECONDS, RedisStore

from .conftest import BASE_URL, TOKEN

CALL_SID = "CA" + "1a" * 16
MESSAGE_SID = "SM" + "2b" * 16
ACCOUNT_SID = "AC" + "3c" * 16
CALL = {"CallSid": CALL_SID, "AccountSid": ACCOUNT_SID, "From": "+447700900321", "To": FAKE_LINE}
TEXT = {"MessageSid": MESSAGE_SID, "AccountSid": ACCOUNT_SID, "From": "+447700900321", "To": FAKE_LINE,
        "Body": "STALKING"}


def signed(client: object, path: str, form: dict[str, str], token: str = TOKEN) -> object:
    signature = RequestValidator(token).compute_signature(BASE_URL + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})  # type: ignore[attr-defined]


def log_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# ------------------------------------------------------------------ signatures


@pytest.mark.parametrize("path", ["/voice", "/voice/answer?s=en-GB.menu..0.0", "/voice/status", "/sms"])
@pytest.mark.parametrize("signature", ["\u00e9t\u00e9", "sig\u2603nature=", "\U0001f600"])
def test_a_non_ascii_signature_is_a_plain_403_and_no_error(
    client: object, ivr_log: Callable[[], str], path: str, signature: str
) -> None:
    form = TEXT if path == "/sms" else CALL
    response = client.post(path, data=form, headers={"X-Twilio-Signature": signature})  # type: ignore[attr-defined]
    assert response.status_code == 403
    levels = [line["level"] for line in log_lines(ivr_log())]
    assert "error" not in levels, levels


RE_SPLIT = [
    ("/voice/answer?s=en-GB.menu..0.0", {"CallSid": CALL_SID + "Digits1", "From": "+447700900321"}),
    ("/voice", {"CallSid": "CA1", "From": "+447700900321"}),
    ("/voice", {"CallSid": "ca" + "1a" * 16}),
    ("/voice", {"CallSid": "CA" + "1A" * 15 + "zz"}),
    ("/voice", {"CallSid": CALL_SID + "\n"}),
    ("/voice", {"CallSid": CALL_SID, "AccountSid": "AC1"}),
    ("/voice/status", {"CallSid": CALL_SID + "CallStatuscompleted"}),
    ("/voice/dialled?s=en-GB.dial..0.0", {"CallSid": "CA" + "\u0661" * 32}),
    ("/sms", {"MessageSid": MESSAGE_SID + "BodySTOP", "From": "+447700900321"}),
    ("/sms", {"MessageSid": "SM1", "Body": "MENU"}),
    ("/sms", {"MessageSid": "XX" + "2b" * 16, "Body": "MENU"}),
    ("/sms", {"MessageSid": MESSAGE_SID, "AccountSid": ACCOUNT_SID + "0"}),
]


@pytest.mark.parametrize(("path", "form"), RE_SPLIT)
def test_a_signed_request_with_a_misshapen_identifier_is_refused_with_400(
    client: object, path: str, form: dict[str, str]
) -> None:
    response = signed(client, path, form)
    assert response.status_code == 400, response.get_data(as_text=True)  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/voice", "/voice/answer?s=en-GB.menu..0.0", "/voice/status"])
def test_well_formed_identifiers_are_accepted(client: object, path: str) -> None:
    assert signed(client, path, {**CALL, "CallStatus": "completed"}).status_code in (200, 204)  # type: ignore[attr-defined]
    mms = {**TEXT, "MessageSid": "MM" + "2b" * 16}
    assert signed(client, "/sms", mms).status_code == 200  # type: ignore[attr-defined]


UNICODE_DIGITS = ["\u00b2", "\u2460", "\u0661", "\uff11", "\U0001d7d9", "1\u00b2"]


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
@pytest.mark.parametrize("state", ["en-GB.lang..0.0", "en-GB.menu..0.0", "en-GB.topic.stalking.0.0",
                                   "en-GB.after..0.0", "en-GB.closed..0.0", "en-GB.dial..0.0"])
def test_unicode_digits_are_not_keys_and_never_raise(
    client: object, ivr_log: Callable[[], str], digits: str, state: str
) -> None:
    response = signed(client, f"/voice/answer?s={state}", {**CALL, "Digits": digits})
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert ET.fromstring(response.get_data(as_text=True)).tag == "Response"  # type: ignore[attr-defined]
    assert all(line["level"] != "error" for line in log_lines(ivr_log()))


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
def test_unicode_digits_in_a_text_are_not_keys(client: object, ivr_log: Callable[[], str], digits: str) -> None:
    response = signed(client, "/sms", {**TEXT, "Body": digits})
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert all(line["level"] != "error" for line in log_lines(ivr_log()))


# ------------------------------------------------------------------ logs


@pytest.mark.parametrize("path", ["/voice/+447700900123", "/+447700900123", "/sms/07700900123/x"])
def test_an_unknown_path_is_logged_as_unknown_never_as_sent(
    client: object, ivr_log: Callable[[], str], path: str
) -> None:
    response = client.post(path, data=CALL)  # type: ignore[attr-defined]
    assert response.status_code in (404, 405)
    logged = ivr_log()
    assert "7700900123" not in logged, logged
    assert any(line.get("path") == "unknown" for line in log_lines(logged)), logged


def test_a_known_path_is_logged_by_its_route(client: object, ivr_log: Callable[[], str]) -> None:
    signed(client, "/voice", CALL)
    assert any(line.get("path") == "/voice" for line in log_lines(ivr_log()))


# ------------------------------------------------------------------ fallbacks


@pytest.mark.parametrize(("path", "form"), [("/voice/fallback", CALL), ("/sms/fallback", TEXT)])
@pytest.mark.parametrize("how", ["wrong token", "unsigned", "non-ascii", "wrong url"])
def test_the_fallbacks_answer_even_when_the_signature_check_fails(
    client: object, ivr_log: Callable[[], str], path: str, form: dict[str, str], how: str
) -> None:
    validator = RequestValidator("rotated-token-0123456789abcdef01" if how == "wrong token" else TOKEN)
    url = "https://old.example.org" + path if how == "wrong url" else BASE_URL + path
    signature = {"unsigned": "", "non-ascii": "\u00e9"}.get(how, validator.compute_signature(url, form))
    response = client.post(path, data=form, headers={"X-Twilio-Signature": signature})  # type: ignore[attr-defined]
    assert response.status_code == 200
    root = ET.fromstring(response.get_data(as_text=True))  # type: ignore[attr-defined]
    if path.startswith("/voice"):
        assert [(dial.text or "").strip() for dial in root.iter("Dial")] == ["+448088020300"]
    else:
        assert "0808 802 0300" in (root.findtext("Message") or "")
    lines = log_lines(ivr_log())
    assert any("signature" in str(line["msg"]) and line["level"] == "warning" for line in lines), lines
    assert all(line["level"] != "error" for line in lines)


@pytest.mark.parametrize("path", ["/voice/fallback", "/sms/fallback"])
def test_the_fallbacks_answer_a_signed_request_with_a_misshapen_identifier(client: object, path: str) -> None:
    response = signed(client, path, {"CallSid": "CA1", "MessageSid": "SM1"})
    assert response.status_code == 200  # type: ignore[attr-defined]


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
def test_the_engine_takes_no_unicode_digit_as_a_language_choice(script: object, digits: str) -> None:
    from ivr import engine
    from ivr.engine import Call, Heard

    from .conftest import OPEN

    reply = engine.answer(script, Call.decode("en-GB.lang..0.0"), Heard(digits=digits, speech=""), OPEN)
    assert reply.call.lang == "en-GB"


# ------------------------------------------------------------------ readiness


def test_readyz_is_not_ready_while_redis_refuses_writes(make_app: Callable[..., object]) -> None:
    """Out of memory with noeviction, Redis still answers PING but refuses every write."""
    from .redis_server import redis_server

    with redis_server() as server:
        moment = [0.0]
        store = RedisStore(server.url, clock=lambda: moment[0])
        client = make_app(REDIS_URL=server.url, STORE=store).test_client()  # type: ignore[attr-defined]
        assert client.get("/readyz").status_code == 200
        with server.client() as admin:
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", "1")
            assert admin.ping()
        response = client.get("/readyz")
        assert response.status_code == 503, response.get_json()
        assert response.get_json()["store"]["ok"] is False
        with server.client() as admin:
            admin.config_set("maxmemory", "0")
        moment[0] += BREAKER_SECONDS + 1  # past the breaker the refused write tripped
        assert client.get("/readyz").status_code == 200
        assert all(0 < ttl <= 10 for ttl in map(server.client().ttl, server.client().keys("ivr:*")))


# ------------------------------------------------------------------ the real server


def test_the_procfile_server_holds_these_edges(tmp_path: Path) -> None:
    """Signature header, unknown paths, fallbacks with a rotated token, and readiness, under gunicorn."""
    from .redis_server import redis_server
    from .server import procfile_server

    with (tmp_path / "server.log").open("w+") as log_file, redis_server() as redis, procfile_server(
        {"TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": redis.url, "SESSION_SECRET": "s"}, workers=1, log_to=log_file
    ) as base:
        odd = requests.post(base + "/voice", data=CALL, headers={"X-Twilio-Signature": "\u00e9t\u00e9".encode()},
                            timeout=5)
        assert odd.status_code == 403
        assert requests.post(base + "/voice/+447700900123", data=CALL, timeout=5).status_code == 404
        rotated = RequestValidator("f" * 32)
        for path in ("/voice/fallback", "/sms/fallback"):
            url = base + path
            form = TEXT if path.startswith("/sms") else CALL
            signature = rotated.compute_signature(url, form)
            response = requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=5)
            assert response.status_code == 200 and ("0808" in response.text or "oh eight oh eight" in response.text)
        main = requests.post(base + "/voice", data=CALL, headers={"X-Twilio-Signature": "x"}, timeout=5)
        assert main.status_code == 403, "the main webhooks stay strict"
        assert requests.get(base + "/readyz", timeout=5).status_code == 200
        with redis.client() as admin:
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", "1")
        assert requests.get(base + "/readyz", timeout=5).status_code == 503
        log_file.seek(0)
        logged = log_file.read()
    assert "7700900123" not in logged
    lines = log_lines(logged)
    assert not [line for line in lines if line["level"] == "error"], logged
    assert any(line.get("path") == "unknown" and line.get("status") == 404 for line in lines), logged
    assert sum("signature check failed" in str(line["msg"]) for line in lines) == 2, logged


# ------------------------------------------------------------------ configuration


def test_twilios_statuses_are_listed_once() -> None:
    import re

    root = Path(__file__).resolve().parent.parent / "ivr"
    listed = re.compile(r"\(\s*\"(completed|busy|answered)\",")
    found = [str(path.relative_to(root)) for path in root.rglob("*.py") if listed.search(path.read_text())]
    assert found == ["twilio_status.py"], found


# ------------------------------------------------------------------ development mode


def _line_free_env(**extra: str) -> dict[str, str]:
    import os
    import sys

    from .server import LINE_SETTINGS

    env = {key: value for key, value in os.environ.items() if key not in LINE_SETTINGS}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return {**env, **extra}


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.0.2.10", "[::]"])
def test_development_mode_refuses_to_listen_beyond_this_machine(bind: str) -> None:
    import subprocess

    from .server import ROOT, procfile_web

    command = procfile_web().replace("--bind 0.0.0.0:", f"--bind {bind}:")
    result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=_line_free_env(IVR_DEV_MODE="1", PORT="0"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "listens on 127.0.0.1 only" in result.stdout + result.stderr


def test_make_run_listens_on_127_0_0_1_only(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from .server import ROOT, _wait_up, free_port

    port = free_port()
    venv = sys.prefix  # this test's own environment, taken as installed (-o): no pip run from a test
    command = ["make", "-s", "-o", f"{venv}/.installed", "run", f"VENV={venv}", f"PORT={port}"]
    with (tmp_path / "run.log").open("w+") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=_line_free_env(),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_up(f"http://127.0.0.1:{port}", process, 30)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        log.seek(0)
        said = log.read()
    assert f"Listening at: http://127.0.0.1:{port}" in said, said
    assert "0.0.0.0" not in said
    assert f"The line is starting on http://127.0.0.1:{port}" in said, "the banner is true"


def test_the_procfile_server_refuses_oversized_request_lines_and_headers() -> None:
    from .server import procfile_server, procfile_web

    assert "--limit-request-line" in procfile_web() and "--limit-request-fields" in procfile_web()
    with procfile_server({"TWILIO_AUTH_TOKEN": TOKEN}, workers=1) as base:
        long_line = requests.post(base + "/voice?s=" + "x" * 3000, data=CALL, timeout=5)
        assert long_line.status_code in (400, 414)
        many = {f"X-Filler-{n}": "x" for n in range(60)}
        assert requests.post(base + "/voice", data=CALL, headers=many, timeout=5).status_code in (400, 431)
        huge = {"X-Filler": "x" * 9000}
        assert requests.post(base + "/voice", data=CALL, headers=huge, timeout=5).status_code in (400, 431)
        assert requests.get(base + "/healthz", timeout=5).status_code == 200
