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
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import redis
from twilio.request_validator import RequestValidator

from ivr.phone import Phone, Turn

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin").is_dir() else Path(sys.executable).parent
PUBLIC_URL = "http://ivr.test"
TOKEN = "scale-test-token-0123456789abcdef"
SECRET = "scale-test-session-secret"
REDIS_URL = "redis://127.0.0.1:6379/15"
HEALTH_SECONDS = 30.0
# Ofcom drama numbers: never a real person's.
CALLERS = ("+447700900301", "+447700900302")
TEXTERS = ("+447700900311", "+447700900312")


def web_line() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    pytest.fail("the Procfile has no web: line")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One gunicorn from the Procfile, in its own process group."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.log = folder / f"server-{port}.log"
        path = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        if shutil.which("gunicorn", path=path) is None:
            pytest.fail(f"gunicorn is not installed (looked in {VENV_BIN} and PATH): run `make test`")
        env = {k: v for k, v in os.environ.items() if k not in ("IVR_DEV_MODE", "PROMPTS_DIR")}
        metrics = folder / f"metrics-{port}"
        metrics.mkdir()
        env.update({
            "PORT": str(port), "WEB_CONCURRENCY": "1", "TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": REDIS_URL,
            "SESSION_SECRET": SECRET, "PUBLIC_URL": PUBLIC_URL, "PATH": path,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        })
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["bash", "-c", web_line()], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_healthy(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                pytest.fail(f"the server on port {self.port} exited with {code}:\n{self.tail()}")
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.1)
        pytest.fail(f"the server on port {self.port} did not answer /healthz in {HEALTH_SECONDS:.0f} s:\n"
                    f"{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                self.proc.wait(timeout=5)


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
def ports(store: redis.Redis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Two servers from the Procfile, as behind a load balancer."""
    folder = tmp_path_factory.mktemp("scale")
    servers: list[Server] = []
    try:
        for _ in range(2):
            servers.append(Server(free_port(), folder))
        deadline = time.monotonic() + HEALTH_SECONDS
        for server in servers:
            server.wait_healthy(deadline)
        yield [server.port for server in servers]
    finally:
        for server in servers:
            server.stop()


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
