"""Anonymous statistics and metrics, proven by making known calls and texts first."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime

import redis
import requests
from click.testing import CliRunner

from ivr.cli import main
from ivr.phone import HttpTransport, Phone

from .conftest import CLOSED, LONDON, REDIS_URL, TOKEN
from .server import procfile_server


def make_known_traffic(phone: Phone, clock: list) -> None:
    """Three calls and four texts with known outcomes, all on Monday 30 November 2026."""
    first = phone.ring()
    first = phone.press(first, "1")
    first = phone.press(first, "1")
    first = phone.press(first, "0")
    phone.transfer_ends(first, "busy")
    phone.hang_up()
    second = Phone(phone.transport, phone.base_url, TOKEN, caller="+447700900111")
    turn = second.ring()
    turn = second.wait(turn)
    second.press(turn, "0")
    second.hang_up()
    third = Phone(phone.transport, phone.base_url, TOKEN, caller="+447700900222")
    turn = third.press(third.ring(), "3")
    turn = third.press(turn, "2")  # an unknown key inside a topic: a reprompt
    third.press(turn, "9")
    third.hang_up()
    for body in ("hello", "stalked", "MORE", "harassment"):
        phone.text(body)


def test_stats_counts_exactly_what_happened(phone: Phone, clock: list, redis_client: redis.Redis) -> None:
    make_known_traffic(phone, clock)
    retried = phone.ring()  # a Twilio retry of the same webhook (the same idempotency token) is not counted again
    phone.post("/voice", {"CallSid": phone.call_sid, "From": phone.caller, "CallStatus": "ringing"}, phone.last_token)
    form = {"CallSid": phone.call_sid, "From": phone.caller, "Digits": "2"}
    phone.post(retried.waits or "", form, "retry-token-1")
    phone.post(retried.waits or "", form, "retry-token-1")
    phone.hang_up()
    result = CliRunner().invoke(main, ["stats", "--until", "2026-11-30", "--days", "2", "--json",
                                       "--redis-url", REDIS_URL])
    assert result.exit_code == 0, result.output
    before, day = json.loads(result.stdout)
    assert before["calls"] == 0 and before["date"] == "2026-11-29"
    assert day["date"] == "2026-11-30"
    assert day["calls"] == 4
    assert day["texts"] == 4
    assert day["calls_without_topic"] == 1
    assert day["reprompts"] == 2
    assert day["topics"] == {
        "stalking": {"voice": 1, "sms": 1}, "bullying": {"voice": 1}, "harassment": {"voice": 1, "sms": 1},
    }
    assert day["transfers"] == {"completed": 0, "busy": 1, "no-answer": 0, "failed": 0, "canceled": 0, "closed": 0}
    for key in redis_client.scan_iter(match="ivr:stats:*"):
        assert 0 < redis_client.ttl(key) <= 400 * 24 * 3600


class TwiceToEach:
    """A Transport that delivers every webhook to one server, then again (Twilio's retry, same token) to the next."""

    def __init__(self, public: str, *bases: str) -> None:
        self.public, self.bases, self.sent = public, bases, 0

    def post(self, url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        path = url.removeprefix(self.public)
        first = self.bases[self.sent % 2] + path
        self.sent += 1
        answer = HttpTransport().post(first, form, headers)
        retry = HttpTransport().post(self.bases[self.sent % 2] + path, form, headers)
        assert retry == answer, "a retried delivery gets the same answer, wherever it lands"
        return answer


def test_counts_stay_exact_across_two_servers_of_two_workers_retries_and_a_graceful_restart(
    always_open: object, redis_client: redis.Redis
) -> None:
    """Every webhook delivered twice, to two servers; the servers stop at once: the batches are sent as they go."""
    env = {"TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": REDIS_URL, "PROMPTS_DIR": str(always_open),
           "PUBLIC_URL": "https://ivr.test"}
    with procfile_server(env, workers=2) as one, procfile_server(env, workers=2) as other:
        transport = TwiceToEach("https://ivr.test", one, other)
        make_known_traffic(Phone(transport, "https://ivr.test", TOKEN), [])
    today = datetime.now(LONDON).date().isoformat()
    result = CliRunner().invoke(main, ["stats", "--until", today, "--days", "1", "--json", "--redis-url", REDIS_URL])
    (day,) = json.loads(result.stdout)
    assert (day["calls"], day["texts"], day["calls_without_topic"], day["reprompts"]) == (3, 4, 1, 2)
    assert day["topics"] == {
        "stalking": {"voice": 1, "sms": 1}, "bullying": {"voice": 1}, "harassment": {"sms": 1},
    }
    assert day["transfers"]["busy"] == 1 and sum(day["transfers"].values()) == 1
    assert not list(redis_client.scan_iter(match="ivr:call:*")), "no call left a record"


def test_a_transfer_asked_for_while_closed_is_counted(phone: Phone, clock: list) -> None:
    clock[0] = CLOSED
    phone.press(phone.ring(), "0")
    phone.hang_up()
    result = CliRunner().invoke(main, ["stats", "--until", "2026-11-29", "--days", "1", "--json",
                                       "--redis-url", REDIS_URL])
    (day,) = json.loads(result.stdout)
    assert day["transfers"]["closed"] == 1 and day["calls_without_topic"] == 1


def test_stats_table_and_errors(phone: Phone) -> None:
    phone.text("bullying")
    table = CliRunner().invoke(main, ["stats", "--until", "2026-11-30", "--redis-url", REDIS_URL])
    assert table.exit_code == 0
    header, *rows = table.stdout.splitlines()
    assert "calls" in header and "bullying" in header and len(rows) == 7
    missing = CliRunner().invoke(main, ["stats"], env={"REDIS_URL": ""})
    assert missing.exit_code == 1 and "set REDIS_URL" in missing.output
    dead = CliRunner().invoke(main, ["stats", "--redis-url", "redis://127.0.0.1:1/0"])
    assert dead.exit_code == 1 and "did not answer" in dead.output


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for_counts(base: str, name: str, expected: float, seconds: float = 15.0) -> None:
    """Read /metrics until the workers' batches have sent the counts (or give up and let the test say so)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if metric(requests.get(base + "/metrics", timeout=5).text, name) >= expected:
            return
        time.sleep(0.2)


def test_metrics_add_up_across_two_gunicorn_workers(always_open: object, redis_client: redis.Redis) -> None:
    env = {"TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": REDIS_URL, "PROMPTS_DIR": str(always_open)}
    with procfile_server(env, workers=2) as base:
        for index in range(12):
            phone = Phone(HttpTransport(), base, TOKEN, caller=f"+4477009003{index:02}")
            turn = phone.press(phone.ring(), "2")
            phone.hang_up()
            assert turn.waits
            phone.text("bullying")
        wait_for_counts(base, "ivr_calls_total", 12)  # each worker sends its counts about once a second
        for _ in range(20):  # /metrics is answered by either worker: the total is the same
            response = requests.get(base + "/metrics", timeout=5)
            assert response.status_code == 200
            text = response.text
            assert metric(text, "ivr_calls_total") == 12, "every worker's calls, whichever answers"
            assert metric(text, 'ivr_messages_total{channel="sms"}') == 12
            assert metric(text, 'ivr_topic_selected_total{channel="voice",topic="harassment"}') == 12
        assert "ivr_request_seconds_bucket" in text
        assert not re.search(r"\+?44?7700900", text), "no number in any label"


def test_a_webhook_after_the_call_ended_is_counted_once_and_leaves_nothing(
    phone: Phone, redis_client: redis.Redis
) -> None:
    menu = phone.ring()
    assert phone.hang_up() == 204
    late = phone.press(menu, "2")  # Twilio's action arrives after the status callback
    token = phone.last_token
    assert late.status == 200 and late.says
    assert phone.hang_up() == 204, "a repeated status callback is harmless"
    form = {"CallSid": phone.call_sid, "From": phone.caller, "Digits": "2"}
    again = phone.post(menu.waits or "", form, token)  # and Twilio retries the late delivery
    assert again[0] == 200
    assert not list(redis_client.scan_iter(match="ivr:call:*")), "no call record, during or after"
    result = CliRunner().invoke(main, ["stats", "--until", "2026-11-30", "--days", "1", "--json",
                                       "--redis-url", REDIS_URL])
    (day,) = json.loads(result.stdout)
    assert day["calls"] == 1
    assert day["topics"] == {"harassment": {"voice": 1}}, "the late choice is counted, once"
    assert day["calls_without_topic"] == 0
