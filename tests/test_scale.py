"""Two servers behind one address give a caller exactly what one server gives.

Starts two real gunicorn servers from the Procfile's ``web:`` line, on two ports,
sharing one TWILIO_AUTH_TOKEN, SESSION_SECRET, Redis (DB 15) and PUBLIC_URL, as
behind a load balancer. Webhooks are signed for the public address (that is what
the servers check when PUBLIC_URL is set) and sent to 127.0.0.1:<port>, turn and
turn about. A whole call and an SMS conversation walked that way must match the
same walk against one server, and the SMS paging (STALKING, MORE, MORE) must carry
on across servers: the only thing the two processes share is Redis.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlencode, urlsplit

import pytest
import redis
from twilio.request_validator import RequestValidator

from ivr.phone import Phone, Turn

from .server import procfile_server

PUBLIC_URL = "https://ivr.test"
TOKEN = "scale-test-token-0123456789abcdef"
SECRET = "scale-test-session-secret"
from .conftest import REDIS_URL  # noqa: E402

HEALTH_SECONDS = 30.0
# Ofcom drama numbers: never a real person's.
CALLERS = ("+447700900301", "+447700900302")
TEXTERS = ("+447700900311", "+447700900312")


class Balancer:
    """A Transport that sends each webhook for PUBLIC_URL to the next server in turn.

    The Phone signs every webhook for its public URL, as Twilio does; this sends
    it to 127.0.0.1 on the chosen server's port, keeping the public Host header.
    """

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.used: list[int] = []

    def post(self, url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL, f"the line sent Twilio to {url}"
        port = self.ports[len(self.used) % len(self.ports)]
        self.used.append(port)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return send(port, path, form, {**headers, "Host": parts.netloc})


def send(port: int, path: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("POST", path, body=urlencode(form),
                           headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def store() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        client.close()
        pytest.fail("Redis is not running on 127.0.0.1:6379: start it, or run .ci/run")
    before = set(client.scan_iter(match="ivr:*"))
    yield client
    made = [key for key in client.scan_iter(match="ivr:*") if key not in before]
    if made:
        client.delete(*made)
    client.close()


@pytest.fixture(scope="module")
def ports(store: redis.Redis) -> Iterator[list[int]]:
    """Two servers from the Procfile, as behind a load balancer."""
    env = {"TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": REDIS_URL, "SESSION_SECRET": SECRET, "PUBLIC_URL": PUBLIC_URL}
    with ExitStack() as stack:
        bases = [stack.enter_context(procfile_server(env, workers=1, wait=HEALTH_SECONDS)) for _ in range(2)]
        yield [int(urlsplit(base).port or 0) for base in bases]


def walk_call(phone: Phone) -> tuple[list[Turn], int]:
    """A whole call: the menu, a topic and its next part, silence, the menu, words, the helpline."""
    turns = [phone.ring()]
    turns.append(phone.press(turns[-1], "1"))
    turns.append(phone.press(turns[-1], "1"))
    turns.append(phone.wait(turns[-1]))
    turns.append(phone.press(turns[-1], "9"))
    turns.append(phone.say(turns[-1], "harassment please"))
    turns.append(phone.press(turns[-1], "0"))
    if turns[-1].dial_action is not None:
        turns.append(phone.transfer_ends(turns[-1], "no-answer"))
    return turns, phone.hang_up()


def walk_texts(phone: Phone) -> list[Turn]:
    return [phone.text(body) for body in ("STALKING", "MORE", "MORE", "MORE", "MENU")]


def test_two_servers_answer_a_call_as_one_does(ports: list[int]) -> None:
    one = Balancer(ports[:1])
    alone, alone_status = walk_call(Phone(one, PUBLIC_URL, TOKEN, caller=CALLERS[0]))

    both = Balancer(ports)
    shared, shared_status = walk_call(Phone(both, PUBLIC_URL, TOKEN, caller=CALLERS[1]))

    assert set(both.used) == set(ports) and len(both.used) >= 8
    assert all(turn.status == 200 for turn in alone), [turn.status for turn in alone]
    assert alone[0].says and alone[0].waits and alone[0].waits.startswith(PUBLIC_URL + "/voice/answer")
    assert shared == alone
    assert alone_status == shared_status == 204


def test_two_servers_keep_one_sms_conversation(ports: list[int]) -> None:
    alone = walk_texts(Phone(Balancer(ports[:1]), PUBLIC_URL, TOKEN, caller=TEXTERS[0]))
    both = Balancer(ports)
    shared = walk_texts(Phone(both, PUBLIC_URL, TOKEN, caller=TEXTERS[1]))

    assert both.used == [ports[0], ports[1], ports[0], ports[1], ports[0]]
    assert [turn.status for turn in shared] == [200] * 5
    messages = [turn.message for turn in shared]
    assert all(messages), messages
    # STALKING, MORE, MORE: three different pages, none of them the menu (what MORE gets
    # from a server that does not know where the texter is), so the place crossed servers
    assert len(set(messages[:3])) == 3 and messages[4] not in messages[:3], messages
    assert re.search(r"stalking", messages[0] or "", re.IGNORECASE)
    assert messages == [turn.message for turn in alone]


def test_servers_check_signatures_against_the_public_url(ports: list[int]) -> None:
    form = {"CallSid": "CA" + "5" * 32, "From": CALLERS[0], "To": "+441632960000", "CallStatus": "ringing"}
    validator = RequestValidator(TOKEN)
    for port in ports:
        public = validator.compute_signature(PUBLIC_URL + "/voice", form)
        local = validator.compute_signature(f"http://127.0.0.1:{port}/voice", form)
        assert send(port, "/voice", form, {"X-Twilio-Signature": public})[0] == 200
        assert send(port, "/voice", form, {"X-Twilio-Signature": local})[0] == 403
