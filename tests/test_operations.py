"""`ivr setup-number` against a local stub of Twilio's REST API, and `ivr doctor`.

No test here talks to the real Twilio: every `setup-number` run is handed an
HTTP client (twilio-python's `http_client` seam) that sends to the stub below.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click
import pytest
from click.testing import CliRunner, Result
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

from ivr.operations import register

from .conftest import PROMPTS, REDIS_URL

ACCOUNT = "AC" + "0" * 32
AUTH = "stub-auth-token-never-printed"
NUMBER = "+441234567890"
PN = "PN" + "1" * 32
PUBLIC = "https://ivr.example.org"
EXPECTED_POST = {
    "VoiceUrl": f"{PUBLIC}/voice",
    "VoiceMethod": "POST",
    "VoiceFallbackUrl": f"{PUBLIC}/voice/fallback",
    "VoiceFallbackMethod": "POST",
    "StatusCallback": f"{PUBLIC}/voice/status",
    "StatusCallbackMethod": "POST",
    "SmsUrl": f"{PUBLIC}/sms",
    "SmsMethod": "POST",
    "SmsFallbackUrl": f"{PUBLIC}/sms/fallback",
    "SmsFallbackMethod": "POST",
}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def a_number(**fields: Any) -> dict[str, Any]:
    """An IncomingPhoneNumber resource as Twilio's REST API returns it."""
    resource = {
        "account_sid": ACCOUNT, "sid": PN, "phone_number": NUMBER, "friendly_name": "helpline",
        "voice_url": "https://old.example.org/answer", "voice_method": "GET",
        "voice_fallback_url": "", "voice_fallback_method": "POST",
        "status_callback": "", "status_callback_method": "POST",
        "sms_url": "https://demo.twilio.com/welcome/sms/reply", "sms_method": "POST",
        "sms_fallback_url": "", "sms_fallback_method": "POST",
        "voice_application_sid": "", "sms_application_sid": "", "trunk_sid": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/{PN}.json",
    }
    resource.update(fields)
    return resource


@dataclass
class TwilioStub:
    """What the stub holds and what it was asked."""

    url: str = ""
    numbers: list[dict[str, Any]] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)
    posted: list[dict[str, str]] = field(default_factory=list)


def stub_handler(stub: TwilioStub) -> type[BaseHTTPRequestHandler]:
    """A request handler answering the two REST calls `setup-number` makes."""
    base = f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers"
    expected_auth = "Basic " + base64.b64encode(f"{ACCOUNT}:{AUTH}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

        def reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorised(self) -> bool:
            if self.headers.get("Authorization") == expected_auth:
                return True
            self.reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return False

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            stub.seen.append(("GET", parts.path))
            if not self.authorised():
                return
            if parts.path != f"{base}.json":
                return self.reply(404, {"code": 20404, "message": "not found", "status": 404})
            wanted = parse_qs(parts.query).get("PhoneNumber", [""])[0]
            # Like Twilio, PhoneNumber also matches part of a number.
            found = [number for number in stub.numbers if wanted in number["phone_number"]]
            self.reply(200, {
                "incoming_phone_numbers": found, "end": len(found) - 1, "first_page_uri": f"{base}.json",
                "next_page_uri": None, "page": 0, "page_size": 50, "previous_page_uri": None,
                "start": 0, "uri": f"{base}.json",
            })

        def do_POST(self) -> None:  # noqa: N802
            stub.seen.append(("POST", self.path))
            if not self.authorised():
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            form = {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}
            stub.posted.append(form)
            for number in stub.numbers:
                if self.path == f"{base}/{number['sid']}.json":
                    number.update({snake(key): value for key, value in form.items()})
                    return self.reply(200, number)
            self.reply(404, {"code": 20404, "message": "not found", "status": 404})

    return Handler


@pytest.fixture
def stub() -> Iterator[TwilioStub]:
    """A local stand-in for https://api.twilio.com on a free port, holding one number."""
    state = TwilioStub(numbers=[a_number()])
    server = ThreadingHTTPServer(("127.0.0.1", 0), stub_handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


class StubHttpClient(TwilioHttpClient):
    """twilio-python's HTTP client, sending each request to the same path on the stub."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=5)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        return super().request(method, self.base_url + parts.path + (f"?{parts.query}" if parts.query else ""),
                               *args, **kwargs)


def invoke(args: list[str], env: dict[str, str | None], obj: dict[str, object] | None = None) -> Result:
    group = click.Group()
    register(group)
    return CliRunner().invoke(group, args, env=env, obj=obj)


def setup_env(stub: TwilioStub, **overrides: str | None) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": AUTH,
        "PUBLIC_URL": None, "TWILIO_EDGE": None, "TWILIO_REGION": None, "TWILIO_API_BASE": None,
    }
    env.update(overrides)
    return env


def setup(stub: TwilioStub, *args: str, **env: str | None) -> Result:
    return invoke(["setup-number", *args], setup_env(stub, **env), {"twilio_http_client": StubHttpClient(stub.url)})


# ---------------------------------------------------------------- setup-number


def test_dry_run_prints_the_changes_and_changes_nothing(stub: TwilioStub) -> None:
    result = setup(stub, NUMBER, "--public-url", PUBLIC, "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{NUMBER} ({PN})" in out
    assert re.search(rf"voice_url: +https://old\.example\.org/answer -> {PUBLIC}/voice\n", out)
    assert re.search(r"voice_method: +GET -> POST\n", out)
    assert re.search(rf"voice_fallback_url: +\(none\) -> {PUBLIC}/voice/fallback\n", out)
    assert re.search(rf"status_callback: +\(none\) -> {PUBLIC}/voice/status\n", out)
    assert re.search(rf"sms_fallback_url: +\(none\) -> {PUBLIC}/sms/fallback\n", out)
    assert re.search(r"sms_method: +POST \(unchanged\)\n", out)
    assert "dry run: nothing changed" in out and "updated" not in out
    assert [method for method, _ in stub.seen] == ["GET"], "a dry run never POSTs"
    assert stub.numbers[0]["voice_url"] == "https://old.example.org/answer"


def test_a_real_run_posts_exactly_the_five_urls_and_their_methods(stub: TwilioStub) -> None:
    result = setup(stub, NUMBER, PUBLIC_URL=PUBLIC + "/")
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("updated")
    assert stub.posted == [EXPECTED_POST]
    assert stub.seen[-1] == ("POST", f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/{PN}.json")
    again = setup(stub, NUMBER, PUBLIC_URL=PUBLIC)
    assert again.exit_code == 0, again.output
    assert again.stdout.count("(unchanged)") == len(EXPECTED_POST)
    assert "nothing to change" in again.stdout
    assert len(stub.posted) == 1, "nothing changed, so nothing is posted"


def test_an_attached_application_is_detached_so_the_urls_apply(stub: TwilioStub) -> None:
    stub.numbers[0]["voice_application_sid"] = "AP" + "2" * 32
    result = setup(stub, NUMBER, "--public-url", PUBLIC)
    assert result.exit_code == 0, result.output
    assert re.search(r"voice_application_sid: +AP2+ -> \(none\)\n", result.stdout)
    assert stub.posted == [{**EXPECTED_POST, "VoiceApplicationSid": ""}]


def test_a_number_on_a_sip_trunk_is_refused(stub: TwilioStub) -> None:
    stub.numbers[0]["trunk_sid"] = "TK" + "3" * 32
    result = setup(stub, NUMBER, "--public-url", PUBLIC)
    assert result.exit_code == 1
    assert "is on SIP trunk TK" in result.output
    assert stub.posted == []


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])
def test_a_missing_credential_is_named(stub: TwilioStub, missing: str) -> None:
    result = setup(stub, NUMBER, "--public-url", PUBLIC, **{missing: None})
    assert result.exit_code == 1
    assert f"Error: {missing} is not set" in result.output
    assert "Traceback" not in result.output
    assert stub.seen == []


@pytest.mark.parametrize("number", ["+447700900999", "+44123456789"])
def test_a_number_not_in_the_account(stub: TwilioStub, number: str) -> None:
    result = setup(stub, number, "--public-url", PUBLIC)
    assert result.exit_code == 1
    assert f"Error: no number {number} in this account" in result.output
    assert stub.posted == []


@pytest.mark.parametrize("number", ["01234 567890", "441234567890", "+44 1234 567890", "+0441234567890"])
def test_a_number_not_in_e164_is_refused(stub: TwilioStub, number: str) -> None:
    result = setup(stub, number, "--public-url", PUBLIC)
    assert result.exit_code == 1
    assert "is not an E.164 number" in result.output
    assert stub.seen == []


@pytest.mark.parametrize("url", ["http://ivr.example.org", "ivr.example.org", "https://", "https://x.org/?a=1"])
def test_a_public_url_that_is_not_plain_https_is_refused(stub: TwilioStub, url: str) -> None:
    result = setup(stub, NUMBER, "--public-url", url)
    assert result.exit_code == 1
    assert "the public URL is not" in result.output and "write it like https://" in result.output
    assert stub.seen == []


def test_a_missing_public_url_is_named(stub: TwilioStub) -> None:
    result = setup(stub, NUMBER)
    assert result.exit_code == 1
    assert "set PUBLIC_URL or pass --public-url" in result.output


def test_wrong_credentials_say_so_without_printing_the_token(stub: TwilioStub) -> None:
    wrong = "wrong-token-also-never-printed"
    result = setup(stub, NUMBER, "--public-url", PUBLIC, TWILIO_AUTH_TOKEN=wrong)
    assert result.exit_code == 1
    assert "Twilio refused the credentials (HTTP 401)" in result.output
    assert wrong not in result.output and "Traceback" not in result.output


def test_the_token_is_never_printed(stub: TwilioStub) -> None:
    result = setup(stub, NUMBER, "--public-url", PUBLIC)
    assert AUTH not in result.output


def test_no_environment_variable_sends_the_credentials_to_another_host(stub: TwilioStub) -> None:
    """TWILIO_API_BASE is gone: only Twilio's own host is asked, and here nothing answers for it."""
    env = setup_env(stub, TWILIO_API_BASE=stub.url, PUBLIC_URL=PUBLIC)
    result = invoke(["setup-number", NUMBER], env)
    assert stub.seen == [], "the stub was never contacted"
    assert "Traceback" not in result.output
    hidden = invoke(["setup-number", NUMBER, "--api-base", stub.url], env)
    assert hidden.exit_code == 2 and "no such option" in hidden.output.lower()


# ---------------------------------------------------------------------- doctor


TOKEN = "d0c7" * 8  # shaped like Twilio's: 32 hex characters
GOOD_ENV: dict[str, str | None] = {
    "TWILIO_AUTH_TOKEN": TOKEN,
    "PUBLIC_URL": PUBLIC,
    "REDIS_URL": REDIS_URL,
    "PROMPTS_DIR": str(PROMPTS),
    "SESSION_SECRET": "a-session-secret",
    "WEB_CONCURRENCY": "2",
    "IVR_DEV_MODE": None,
}


def doctor(**overrides: str | None) -> Result:
    result = invoke(["doctor"], {**GOOD_ENV, **overrides})
    assert TOKEN not in result.output, "the auth token is never printed"
    assert "a-session-secret" not in result.output
    return result


def lines(result: Result, status: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(f"{status}  ")]


def test_doctor_passes_a_good_deployment() -> None:
    result = doctor()
    assert result.exit_code == 0, result.output
    assert lines(result, "FAIL") == [] and lines(result, "WARN") == []
    out = result.stdout
    assert "PASS  TWILIO_AUTH_TOKEN is set\n" in out
    assert f"PASS  PUBLIC_URL is https: {PUBLIC}\n" in out
    assert re.search(r"PASS  Redis is reachable: [0-9.]+ ms round trip\n", out)
    assert f"PASS  prompt files in {PROMPTS} are valid" in out
    assert "PASS  SESSION_SECRET is set\n" in out
    assert "ok: ready to run (0 warning(s))" in out


def test_doctor_fails_an_http_public_url() -> None:
    result = doctor(PUBLIC_URL="http://ivr.example.org")
    assert result.exit_code == 1
    assert lines(result, "FAIL") == ["FAIL  PUBLIC_URL is not https: http://ivr.example.org"]
    assert "Error: 1 check(s) failed" in result.output


def test_doctor_fails_an_unset_public_url_and_token() -> None:
    result = doctor(PUBLIC_URL=None, TWILIO_AUTH_TOKEN=None)
    assert result.exit_code == 1
    assert "FAIL  TWILIO_AUTH_TOKEN is not set" in result.stdout
    assert "FAIL  PUBLIC_URL is not set" in result.stdout


def test_doctor_fails_a_dead_redis_without_showing_its_password() -> None:
    result = doctor(REDIS_URL="redis://:hunter2@127.0.0.1:1/0")
    assert result.exit_code == 1
    assert lines(result, "FAIL") == ["FAIL  Redis is unreachable at redis://127.0.0.1:1/0 (ConnectionError)"]
    assert "hunter2" not in result.output


def test_doctor_fails_a_redis_url_that_is_not_one() -> None:
    result = doctor(REDIS_URL="127.0.0.1:6379")
    assert result.exit_code == 1
    assert "FAIL  REDIS_URL is not a Redis URL" in result.stdout


def test_doctor_fails_broken_prompts_and_names_the_file(prompts_copy: Path) -> None:
    topic = prompts_copy / "en-GB/topics/bullying.yaml"
    topic.write_text(topic.read_text().replace("title: bullying", "title: bullying\ncolour: red"))
    result = doctor(PROMPTS_DIR=str(prompts_copy))
    assert result.exit_code == 1
    [failed] = lines(result, "FAIL")
    assert "1 error(s)" in failed
    assert "en-GB/topics/bullying.yaml:2: colour: is not a known key" in failed


def test_doctor_warns_without_a_session_secret() -> None:
    result = doctor(SESSION_SECRET=None)
    assert result.exit_code == 0, result.output
    assert lines(result, "WARN") == [
        "WARN  SESSION_SECRET is not set: derived from the auth token, so rotating the token forgets sessions"
    ]
    assert "ok: ready to run (1 warning(s))" in result.stdout


def test_doctor_warns_of_the_embedded_store_for_one_worker() -> None:
    result = doctor(REDIS_URL=None, WEB_CONCURRENCY="1")
    assert result.exit_code == 0, result.output
    assert lines(result, "WARN") == ["WARN  REDIS_URL is not set: embedded store: one process only"]


@pytest.mark.parametrize(
    "workers, shown", [("4", "WEB_CONCURRENCY is 4"), (None, "WEB_CONCURRENCY is 2 (the Procfile's default)")]
)
def test_doctor_fails_several_workers_without_redis(workers: str | None, shown: str) -> None:
    result = doctor(REDIS_URL=None, WEB_CONCURRENCY=workers)
    assert result.exit_code == 1
    [failed] = lines(result, "FAIL")
    assert failed.startswith(f"FAIL  {shown}")
    assert "the embedded store cannot be shared" in failed


def test_doctor_fails_development_mode() -> None:
    result = doctor(IVR_DEV_MODE="1")
    assert result.exit_code == 1
    assert lines(result, "FAIL") == ["FAIL  IVR_DEV_MODE=1: Twilio signatures are not checked (development only)"]


@pytest.mark.parametrize("token", ["dev", "x" * 32, "D0C7" * 8, "d0c7" * 8 + "0", " "])
def test_doctor_fails_a_token_that_cannot_be_twilios(token: str) -> None:
    result = doctor(TWILIO_AUTH_TOKEN=token)
    assert result.exit_code == 1
    assert [line.split(":")[0] for line in lines(result, "FAIL")] in (
        ["FAIL  TWILIO_AUTH_TOKEN is not 32 hex characters, so it is not a Twilio Auth Token"],
        ["FAIL  TWILIO_AUTH_TOKEN is not set"],
    ), result.output


@pytest.mark.parametrize("url", ["https://203.0.113.7", "https://ivr.example.org:5000", "https://localhost",
                                 "https://[2001:db8::1]:8443"])
def test_doctor_repeats_the_buffering_proxy_advice_when_public_url_is_the_server_itself(url: str) -> None:
    result = doctor(PUBLIC_URL=url, PORT="5000")
    assert result.exit_code == 0, result.output
    (warning,) = lines(result, "WARN")
    assert "buffering proxy" in warning and "proxy_request_buffering on" in warning


def test_doctor_gives_no_proxy_advice_for_a_named_host() -> None:
    assert lines(doctor(PUBLIC_URL=PUBLIC, PORT="5000"), "WARN") == []


PUBLIC_URLS = ["https://ivr.example.org", "http://ivr.example.org", "https://ivr.example.org/?a=1",
               "https://user:pw@ivr.example.org", "ftp://ivr.example.org", "https://", "ivr.example.org",
               "https://ivr.example.org/#top", "https://ivr.example.org/line/"]


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_the_server_and_the_doctor_agree_on_public_url(url: str) -> None:
    from ivr import config

    settings = config.from_environ({"TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_URL": url})
    try:
        config.check(settings)
        server_starts = True
    except config.ConfigError as error:
        server_starts = False
        assert "pw" not in str(error)
    doctor_passes = not [line for line in lines(doctor(PUBLIC_URL=url), "FAIL") if "PUBLIC_URL" in line]
    assert server_starts == doctor_passes, url


@pytest.mark.parametrize("number", ["+441234567890", "+4412", "441234567890", "+0441234567890", "+44 1234 567890",
                                    "+441234567890\n", "+4412345678901234"])
def test_setup_number_and_the_prompt_schema_agree_on_e164(stub: TwilioStub, number: str) -> None:
    from pydantic import ValidationError

    from ivr.schema import Helpline

    result = setup(stub, number, "--public-url", PUBLIC, "--dry-run")
    refused_by_setup = "is not an E.164 number" in result.output
    try:
        Helpline.model_validate({"name": "x", "e164": number.strip(), "written": "0808 802 0300", "spoken": "oh"})
        refused_by_schema = False
    except ValidationError as error:
        refused_by_schema = "is not an E.164 number" in str(error)
    assert refused_by_setup == refused_by_schema, (number, result.output)
