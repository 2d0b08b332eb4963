"""Measure the line against the Twilio-docs reference and bare Flask: `make bench` (or `bench/run.py --quick`).

What it does, in order:

1. Finds wrk (installs it with apt-get when missing) and checks Redis answers.
2. Builds the app in this process and posts N signed webhooks per scenario through
   Flask's test client, counting what goes to Redis on the wire: round trips (each
   write to the socket, which is what a pipeline saves) and commands (parsed from
   the bytes sent). This also walks one call to learn the real webhook addresses.
3. Starts the real server from the Procfile's ``web:`` line (PORT, WEB_CONCURRENCY=2,
   TWILIO_AUTH_TOKEN, REDIS_URL=redis://127.0.0.1:6379/14, PUBLIC_URL unset) and
   times it until /healthz answers; then the reference, ``bench/reference.py`` (the
   webhook written from Twilio's docs), and the floor, ``bench/floor.py`` (one view
   returning constant TwiML), under the same gunicorn command line.
4. Sends every baked request once and stops unless each gets 200 (204 for
   /voice/status) with real TwiML: a benchmark of 403s would be worthless.
5. For each scenario, replays the same signed requests at the three servers in
   alternating slices with ``wrk -t2 -c16 --latency -s bench/replay.lua`` and prints
   requests/s, p50, p99 and the workers' CPU per request (from /proc/<pid>/stat), the
   ratios to the reference and the floor, and whether the targets hold.
6. Reads each gunicorn worker's RSS, stops the servers and deletes ``ivr:*`` in DB 14.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import redis
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "replay.lua"
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin").is_dir() else Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/14"
TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "0" * 32
FAKE_LINE = "+441632960000"  # Ofcom drama number
# Ofcom's drama range for mobiles, 07700 900000-900999: never a real person's number.
FAKE_NUMBERS = tuple(f"+447700900{n:03d}" for n in range(1000))
SMS_LIMIT = "20 replies per 10 minutes per From number"
TARGET_RATIO = 1.0  # every voice webhook against the Twilio-docs reference
TARGET_SMS_RATIO = 0.8
TARGET_P99_MS = 25.0
TARGET_START_S = 1.0
HEALTH_TIMEOUT_S = 30.0


class BenchError(Exception):
    """The benchmark cannot give an honest figure; the message says why."""


def say(text: str = "") -> None:
    print(text, flush=True)


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class Hook:
    """One webhook as Twilio would send it: a path (with query) and a form."""

    path: str
    form: dict[str, str]

    def signature(self, validator: RequestValidator, base: str) -> str:
        return validator.compute_signature(base + self.path, self.form)

    @property
    def expected(self) -> int:
        return 204 if self.path.startswith("/voice/status") else 200


@dataclass
class Scenario:
    name: str
    label: str
    hooks: list[Hook]
    stride: int = 1  # requests per walk; each wrk thread starts at a walk's beginning
    result: dict[str, Any] = field(default_factory=dict)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)  # floor, reference, line
    voice: bool = True  # held to the voice targets (else the SMS target)
    trips: dict[str, Any] = field(default_factory=dict)
    commands_per_request: float | None = None
    log_problems: Counter[str] = field(default_factory=Counter)


def call_form(n: int, **extra: str) -> dict[str, str]:
    """The fields Twilio posts with every voice webhook, for fake call n."""
    number = FAKE_NUMBERS[n % len(FAKE_NUMBERS)]
    form = {
        "AccountSid": ACCOUNT, "ApiVersion": "2010-04-01", "CallSid": f"CA{n:032x}",
        "CallStatus": "in-progress", "Direction": "inbound",
        "Called": FAKE_LINE, "CalledCity": "", "CalledCountry": "GB", "CalledState": "", "CalledZip": "",
        "Caller": number, "CallerCity": "", "CallerCountry": "GB", "CallerState": "", "CallerZip": "",
        "From": number, "FromCity": "", "FromCountry": "GB", "FromState": "", "FromZip": "",
        "To": FAKE_LINE, "ToCity": "", "ToCountry": "GB", "ToState": "", "ToZip": "",
    }
    form.update(extra)
    return form


def sms_form(n: int, body: str) -> dict[str, str]:
    """The fields Twilio posts with an incoming text, for fake message n."""
    number = FAKE_NUMBERS[n % len(FAKE_NUMBERS)]
    sid = f"SM{n:032x}"
    return {
        "AccountSid": ACCOUNT, "ApiVersion": "2010-04-01", "Body": body, "From": number,
        "FromCity": "", "FromCountry": "GB", "FromState": "", "FromZip": "",
        "MessageSid": sid, "NumMedia": "0", "NumSegments": "1", "SmsMessageSid": sid, "SmsSid": sid,
        "SmsStatus": "received", "To": FAKE_LINE, "ToCity": "", "ToCountry": "GB", "ToState": "", "ToZip": "",
    }


def discover_walk(app: Any) -> list[Hook]:
    """Walk one call in process to learn the webhooks Twilio would post, in order.

    The walk: a new call, 1 (first topic), 1 (go on), 9 (menu), 0 (helpline),
    the transfer's result (completed), and the status callback.
    """
    from dataclasses import replace

    from ivr.engine import Call
    from ivr.phone import FlaskTransport, Phone

    base = "http://127.0.0.1"
    sent: list[tuple[str, dict[str, str]]] = []
    inner = FlaskTransport(app)

    class Recorder:
        def post(self, url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
            sent.append((url, dict(form)))
            return inner.post(url, form, headers)

    phone = Phone(Recorder(), base, TOKEN, caller=FAKE_NUMBERS[0])
    turn = phone.ring()
    if turn.waits is None:
        raise BenchError(f"a new call did not wait for a key: {turn}")
    menu = turn.waits
    for key in "1190":
        if turn.waits is None:
            raise BenchError(f"the call ended before key {key}: {turn}")
        turn = phone.press(turn, key)
    if turn.dial_action is not None:  # the helpline is open: the line rang it
        phone.transfer_ends(turn, "completed")
    else:  # closed: Twilio would never post it, but the webhook still answers
        state = parse_qs(urlsplit(menu).query).get("s", [""])[0]
        dial = replace(Call.decode(state), node="dial").encode()
        form = {"CallSid": phone.call_sid, "From": phone.caller, "To": FAKE_LINE,
                "DialCallStatus": "completed"}
        phone.post(f"/voice/dialled?s={dial}", form)
    phone.hang_up()
    steps = []
    for url, form in sent:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = {k: v for k, v in form.items() if k not in ("CallSid", "From", "To")}
        steps.append(Hook(path, extra))
    if len(steps) != 7:
        raise BenchError(f"expected a walk of 7 webhooks, got {[s.path for s in steps]}")
    return steps


def build_scenarios(walk: list[Hook]) -> list[Scenario]:
    menu_path = walk[1].path  # where the new call's Gather sends the first key
    dialled_path = walk[5].path  # where the transfer's result goes
    calls = 150
    return [
        Scenario("new-call", "new call: POST /voice",
                 [Hook("/voice", call_form(n, CallStatus="ringing")) for n in range(1000)]),
        Scenario("menu", f"menu choice: POST {menu_path} Digits=1",
                 [Hook(menu_path, call_form(n, Digits="1", FinishedOnKey="", msg="Gather End"))
                  for n in range(1000)]),
        Scenario("speech", f"menu choice said: POST {menu_path} SpeechResult=harassment",
                 [Hook(menu_path, call_form(n, SpeechResult="harassment", Confidence="0.92", msg="Gather End"))
                  for n in range(1000)]),
        Scenario("dialled", f"transfer result: POST {dialled_path} DialCallStatus=busy",
                 [Hook(dialled_path, call_form(n, DialCallStatus="busy", DialCallSid=f"CA{n + 1:032x}"))
                  for n in range(1000)]),
        Scenario("sms", "SMS keyword: POST /sms Body=STALKING",
                 [Hook("/sms", sms_form(n, "STALKING")) for n in range(len(FAKE_NUMBERS))], voice=False),
        Scenario("mix", "whole calls: 7 webhooks a call",
                 [Hook(step.path, call_form(10_000 + n, **step.form)) for n in range(calls) for step in walk],
                 stride=len(walk)),
    ]


# ---------------------------------------------------------------- Redis on the wire


def parse_commands(packed: bytes) -> list[str]:
    """Name the commands in bytes sent to Redis (RESP arrays of bulk strings)."""
    names, at = [], 0
    while at < len(packed):
        end = packed.index(b"\r\n", at)
        count, at = int(packed[at + 1 : end]), end + 2
        args = []
        for _ in range(count):
            end = packed.index(b"\r\n", at)
            size, at = int(packed[at + 1 : end]), end + 2
            args.append(packed[at : at + size])
            at += size + 2
        names.append(args[0].decode().upper() if args else "?")
    return names


@contextmanager
def wire_tap() -> Iterator[list[list[str]]]:
    """Record each write to a Redis socket (one round trip) and the commands in it."""
    from redis.connection import Connection

    writes: list[list[str]] = []
    original = Connection.send_packed_command

    def tapped(self: Any, command: Any, check_health: bool = True) -> None:
        items = [command] if isinstance(command, bytes | bytearray | memoryview | str) else command
        data = b"".join(item.encode() if isinstance(item, str) else bytes(item) for item in items)
        writes.append(parse_commands(data))
        return original(self, command, check_health)

    Connection.send_packed_command = tapped  # type: ignore[method-assign]
    try:
        yield writes
    finally:
        Connection.send_packed_command = original  # type: ignore[method-assign]


def build_app() -> Any:
    from ivr import create_app

    logging.getLogger("ivr.prompts").setLevel(logging.WARNING)  # no "prompts loaded" line here
    app = create_app({
        "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_URL": "", "REDIS_URL": REDIS_URL, "SESSION_SECRET": "",
        "PROMPTS_DIR": str(ROOT / "prompts"), "DEV_MODE": False,
        "COUNTS_FLUSH_SECONDS": 3600,  # no batch sent while requests are counted on the wire: theirs only
    })
    logging.getLogger("ivr").setLevel(logging.WARNING)  # no request lines; warnings still show
    return app


def measure_round_trips(app: Any, scenarios: list[Scenario], client: redis.Redis, per: int) -> None:
    """Post `per` signed requests per scenario in process and count Redis traffic for each."""
    validator = RequestValidator(TOKEN)
    base = "http://localhost"
    test = app.test_client()
    for scenario in scenarios:
        clear_keys(client)
        count = per - per % scenario.stride or scenario.stride
        hooks = scenario.hooks[:count]
        by_path: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        spent = 0.0
        # one untimed request first: the pool's connect and handshake are not per request
        warm = hooks[0]
        test.post(warm.path, data=warm.form, headers={"X-Twilio-Signature": warm.signature(validator, base)})
        clear_keys(client)
        with wire_tap() as writes:
            for hook in hooks:
                before = len(writes)
                started = time.perf_counter()
                response = test.post(
                    hook.path, data=hook.form,
                    headers={"X-Twilio-Signature": hook.signature(validator, base)},
                )
                spent += time.perf_counter() - started
                if response.status_code != hook.expected:
                    raise BenchError(f"in process, {hook.path} answered {response.status_code}")
                mine = writes[before:]
                route = hook.path.split("?")[0]
                by_path.setdefault(route, []).append(
                    (len(mine), tuple(name for write in mine for name in write))
                )
        trips = [n for rows in by_path.values() for n, _ in rows]
        commands = [len(names) for rows in by_path.values() for _, names in rows]
        scenario.trips = {
            "requests": len(trips),
            "round_trips": sum(trips) / len(trips),
            "max": max(trips),
            "commands": sum(commands) / len(commands),
            "ms": spent / len(trips) * 1000,
            "paths": {
                route: (sum(n for n, _ in rows) / len(rows), Counter(n for _, n in rows).most_common(1)[0][0])
                for route, rows in by_path.items()
            },
        }
    clear_keys(client)


def clear_keys(client: redis.Redis) -> int:
    keys = list(client.scan_iter(match="ivr:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    return len(keys)


def command_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k not in ("cmdstat_info",))


# ---------------------------------------------------------------- servers


def web_line() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise BenchError("the Procfile has no web: line")


def floor_line(web: str, module: str = "floor") -> str:
    """The Procfile's web command with the app swapped for bench/<module>.py (the floor or the reference).

    The line's own gunicorn config module (``--config python:ivr...``) is dropped:
    it would import the line into the other app's master process.
    """
    spec = next((t for t in shlex.split(web) if re.fullmatch(r"[\w.]+:[\w.]+(\(.*\))?", t)), None)
    if spec is None:
        raise BenchError(f"cannot find the app in the Procfile's web line: {web}")
    for raw in (f'"{spec}"', f"'{spec}'", spec):
        if raw in web:
            web = web.replace(raw, f"{module}:app --chdir {shlex.quote(str(BENCH))}", 1)
            break
    else:
        raise BenchError(f"cannot find the app in the Procfile's web line: {web}")
    own_config = r"\s+(?:--config|-c)(?:=|\s+)[\"']?python:ivr[\w.]*[\"']?(?=\s|$)"
    return re.sub(own_config, "", web)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One gunicorn, started in its own process group, logging to a file."""

    def __init__(self, name: str, command: str, port: int, workers: int, logdir: Path) -> None:
        self.name, self.command, self.port = name, command, port
        self.log = logdir / f"{name}.log"
        env = {k: v for k, v in os.environ.items()
               if k not in ("IVR_DEV_MODE", "PUBLIC_URL", "SESSION_SECRET", "PROMPTS_DIR")}
        metrics = logdir / f"metrics-{name}"  # the line's multiprocess metrics, removed with logdir
        metrics.mkdir(exist_ok=True)
        env.update({
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            "PORT": str(port), "WEB_CONCURRENCY": str(workers), "TWILIO_AUTH_TOKEN": TOKEN,
            "REDIS_URL": REDIS_URL, "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        })
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None
        self.start_times: list[float] = []
        self.cwd = ROOT

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start the server and return the seconds until /healthz answered."""
        with open(self.log, "wb") as log:
            started = time.perf_counter()
            self.proc = subprocess.Popen(
                ["bash", "-c", self.command], cwd=self.cwd, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        while time.perf_counter() - started < HEALTH_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if self.healthy():
                self.start_times.append(time.perf_counter() - started)
                return self.start_times[-1]
            time.sleep(0.01)
        raise BenchError(f"{self.name} did not answer /healthz in {HEALTH_TIMEOUT_S:.0f} s:\n{self.tail()}")

    def healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def log_problems(self, since: int) -> Counter[str]:
        """Count what makes a timed run worthless, logged after byte `since`.

        Request lines answered without Redis (the breaker), refused or rate-limited, and errors.
        """
        found: Counter[str] = Counter()
        with open(self.log, "rb") as log:
            log.seek(since)
            for raw in log:
                if not raw.startswith(b"{"):
                    continue
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if line.get("store") == "down":
                    found["store down"] += 1
                if line.get("level") in ("error", "critical"):
                    found["errors"] += 1
                if line.get("status") == 403:
                    found["403"] += 1
                if line.get("event") == "rate-limited":
                    found["rate-limited"] += 1
        return found

    def processes(self) -> list[tuple[int, str, int, int]]:
        """(pid, role, RSS, PSS in KiB) for the gunicorn master and each worker."""
        if self.proc is None:
            return []
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
        found = []
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            kids = children.get(pid, [])
            todo.extend(kids)
            role = "master" if kids else "worker"
            found.append((pid, role, rss_kib(pid), pss_kib(pid)))
        return sorted(found, key=lambda row: (row[1] != "master", row[0]))

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass


def rss_kib(pid: int) -> int:
    return _proc_kib(f"/proc/{pid}/status", "VmRSS:")


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages split between the processes sharing them."""
    return _proc_kib(f"/proc/{pid}/smaps_rollup", "Pss:")


def _proc_kib(path: str, label: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(label):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def post(base: str, hook: Hook, validator: RequestValidator) -> tuple[int, str, str]:
    host, port = urlsplit(base).hostname, urlsplit(base).port
    connection = http.client.HTTPConnection(host or "127.0.0.1", port, timeout=15)
    try:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": hook.signature(validator, base),
        }
        connection.request("POST", hook.path, body=urlencode(hook.form), headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read().decode()
    finally:
        connection.close()


def verify(server: Server, scenario: Scenario) -> None:
    """Send one walk (or three requests) of the scenario; stop unless each gets real TwiML."""
    from ivr.phone import parse_voice

    validator = RequestValidator(TOKEN)
    for hook in scenario.hooks[: max(3, scenario.stride)]:
        status, kind, body = post(server.base, hook, validator)
        if status != hook.expected:
            hint = " (the signature was refused: check the signed URL)" if status == 403 else ""
            raise BenchError(f"{scenario.name}: POST {hook.path} answered {status}, "
                             f"not {hook.expected}{hint}:\n{body[:300]}")
        if status == 204:
            continue
        if "xml" not in kind:
            raise BenchError(f"{scenario.name}: POST {hook.path} answered {kind}, not TwiML")
        if hook.path.startswith("/sms"):
            if "<Message>" not in body:
                raise BenchError(f"{scenario.name}: the text got no reply:\n{body[:300]}")
        else:
            turn = parse_voice(body)
            if turn.waits is None and turn.dials is None and not turn.hung_up:
                raise BenchError(f"{scenario.name}: POST {hook.path} neither waits, dials nor hangs up:\n"
                                 f"{body[:300]}")


# ---------------------------------------------------------------- wrk


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    say("wrk is not installed: installing it with `apt-get install -y wrk`")
    apt = shutil.which("apt-get")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"] if shutil.which("sudo") else None
    if apt is None or sudo is None:
        raise BenchError("wrk is missing and cannot be installed here (needs apt-get, and root or sudo): "
                         "install wrk (https://github.com/wg/wrk) and run again")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install, update = [*sudo, apt, "install", "-y", "wrk"], [*sudo, apt, "update"]
    for command in (install, update, install):
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode == 0 and command[-1] == "wrk":
            break
    found = shutil.which("wrk")
    if not found:
        raise BenchError("`apt-get install -y wrk` failed; install wrk by hand and run again:\n"
                         + (done.stderr or done.stdout)[-800:])
    return found


def write_requests(path: Path, base: str, hooks: list[Hook]) -> None:
    """Bake signed requests, each with its own idempotency token as Twilio sends (the line counts each once)."""
    validator = RequestValidator(TOKEN)
    with open(path, "w") as out:
        for n, hook in enumerate(hooks):
            token = f"{path.stem}-{n}"
            out.write(f"{hook.path}\t{hook.signature(validator, base)}\t{urlencode(hook.form)}\t{token}\n")


def run_wrk(wrk: str, args: argparse.Namespace, server: Server, requests: Path, stride: int,
            seconds: int) -> dict[str, Any]:
    command = [
        wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--latency", "-s", str(LUA),
        server.base, "--", str(requests), str(stride),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            result = json.loads(line.removeprefix("BENCH "))
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            return result
    raise BenchError(f"wrk gave no figures (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


APPS = ("floor", "reference", "line")  # timed in this order in every slice


def worker_pids(server: Server) -> list[int]:
    return [pid for pid, role, _, _ in server.processes() if role == "worker"]


def cpu_ticks(pids: list[int]) -> int:
    """User plus system CPU ticks used so far by these processes (/proc/<pid>/stat fields 14 and 15)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def time_scenario(wrk: str, args: argparse.Namespace, scenario: Scenario, servers: dict[str, Server],
                  requests: dict[str, Path], client: redis.Redis) -> None:
    """Time the floor, the reference and the line in alternating slices, so all see the same noise.

    The machine's other work comes and goes; taking the three slices back to back,
    and medians over the slices, keeps one burst from deciding the figure. Each
    app's worker CPU per request is read from /proc before and after its slices.
    """
    slice_s = 2 if args.duration >= 4 else 1
    rounds = max(1, round(args.duration / slice_s))
    for name in APPS:  # warm up all three
        clear_keys(client)
        run_wrk(wrk, args, servers[name], requests[name], scenario.stride, 1)
    line = servers["line"]
    since, used, redis_s = line.log_size(), 0, 0.0
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in APPS}
    ticks = dict.fromkeys(APPS, 0)
    pids = {name: worker_pids(servers[name]) for name in APPS}
    for _ in range(rounds):
        for name in APPS:
            clear_keys(client)
            calls, cpu, before = command_calls(client), redis_cpu(client), cpu_ticks(pids[name])
            runs[name].append(run_wrk(wrk, args, servers[name], requests[name], scenario.stride, slice_s))
            ticks[name] += cpu_ticks(pids[name]) - before
            if name == "line":
                used += command_calls(client) - calls
                redis_s += redis_cpu(client) - cpu
    clear_keys(client)
    tick = os.sysconf("SC_CLK_TCK")
    for name in APPS:
        result = combine(runs[name])
        result["cpu_us"] = ticks[name] / tick / max(1, result["requests"]) * 1e6
        scenario.apps[name] = result
    scenario.result = scenario.apps["line"]
    scenario.result["redis_cpu_us"] = redis_s / max(1, scenario.result["requests"]) * 1e6
    pairs = zip(runs["reference"], runs["line"], strict=True)
    scenario.result["ratio"] = statistics.median(mine["rps"] / theirs["rps"] for theirs, mine in pairs)
    pairs = zip(runs["floor"], runs["line"], strict=True)
    scenario.result["floor_ratio"] = statistics.median(mine["rps"] / theirs["rps"] for theirs, mine in pairs)
    scenario.result["slices"] = f"{rounds} x {slice_s} s"
    scenario.commands_per_request = used / max(1, scenario.result["requests"])
    scenario.log_problems = line.log_problems(since)


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the counts of several wrk runs; requests/s over their total time; median latencies."""
    total: dict[str, Any] = {key: sum(run[key] for run in runs) for key in runs[0] if key.endswith(
        ("requests", "ok", "refused", "failed", "messages", "errors", "timeouts", "duration_us"))}
    total["rps"] = total["requests"] / (total["duration_us"] / 1e6)
    for key in ("p50_us", "p90_us", "p99_us"):
        total[key] = statistics.median(run[key] for run in runs)
    total["max_us"] = max(run["max_us"] for run in runs)
    return total


# ---------------------------------------------------------------- report


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


Memory = dict[str, list[tuple[int, str, int, int]]]


def missed_targets(s: Scenario) -> list[str]:
    """Name the targets this scenario misses (none: it holds them all)."""
    line, reference = s.result, s.apps["reference"]
    p99 = line["p99_us"] / 1000
    missed = []
    if line["refused"] or line["failed"] or s.log_problems:
        missed.append("invalid run")
    if p99 >= TARGET_P99_MS:
        missed.append(f"p99 < {TARGET_P99_MS:g} ms")
    if not s.voice:
        trips = s.trips.get("max", 0)
        if line["ratio"] < TARGET_SMS_RATIO:
            missed.append(f"x ref >= {TARGET_SMS_RATIO}")
        if trips > 1:
            missed.append(f"1 Redis round trip (has {trips})")
        return missed
    if line["ratio"] < TARGET_RATIO:
        missed.append(f"x ref >= {TARGET_RATIO}")
    if line["cpu_us"] > reference["cpu_us"]:
        missed.append("CPU <= ref")
    if line["p99_us"] > reference["p99_us"]:
        missed.append("p99 <= ref")
    return missed


def report(scenarios: list[Scenario], servers: dict[str, Server], memory: Memory,
           args: argparse.Namespace, cleared: int) -> bool:
    held = True
    say()
    slices = scenarios[0].result.get("slices", "")
    say(f"== Throughput: wrk -t{args.threads} -c{args.connections} --latency on loopback, {args.workers} "
        f"gunicorn workers each, the same signed requests to all three, {slices} slices each, alternating ==")
    header = (f"{'scenario':<9} {'app':<9} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10} | "
              f"{'x ref':>5} {'x floor':>7} {'Redis us/req':>12} {'cmds/req':>8}  targets")
    say(header)
    say("-" * len(header))
    for s in scenarios:
        for name in APPS:
            run = s.apps[name]
            cells = (f"{s.name if name == 'floor' else '':<9} {name:<9} {run['rps']:>6.0f} "
                     f"{run['p50_us'] / 1000:>7.2f} {run['p99_us'] / 1000:>7.2f} {run['cpu_us']:>10.0f} |")
            if name != "line":
                say(cells)
                continue
            missed = missed_targets(s)
            held = held and not missed
            cmds = f"{s.commands_per_request:.2f}" if s.commands_per_request is not None else "?"
            say(f"{cells} {run['ratio']:>5.2f} {run['floor_ratio']:>7.2f} {run['redis_cpu_us']:>12.0f} "
                f"{cmds:>8}  {'ok' if not missed else 'MISSED: ' + ', '.join(missed)}")
    say()
    for s in scenarios:
        line = s.result
        notes = [f"{line['requests']} requests", f"{line['ok']} answered 200/204"]
        if line["refused"] or line["failed"]:
            notes.append(f"INVALID: {line['refused']} refused (403), {line['failed']} other statuses")
        errors = sum(line[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
        if errors:
            notes.append(f"{errors} socket errors/timeouts")
        if s.name == "sms":
            notes.append(f"{line['messages']} replies carried a <Message>")
        if s.log_problems:
            shown = ", ".join(f"{n} {k}" for k, n in s.log_problems.items())
            notes.append(f"INVALID: server log shows {shown}")
        say(f"  {s.name:<9} {s.label}: " + "; ".join(notes))
    say("  The SMS scenario cycles From over 1000 fake numbers (+447700900000..+447700900999, Ofcom's drama")
    say(f"  range) and Redis DB 14 is emptied before each timed run, so the line's limit ({SMS_LIMIT})")
    say("  is never reached and every request is a real reply: the count of <Message> replies shows it.")
    say("  Bodies carry the ~20 fields Twilio posts; every request is signed (X-Twilio-Signature) for")
    say("  http://127.0.0.1:<port><path> of the server it goes to. 'cmds/req' = server-wide INFO commandstats")
    say("  calls during the line's timed runs / requests (batched flushes included); 'Redis us/req' = the")
    say("  redis-server's CPU (INFO cpu) over the line's runs / requests; other clients' work counts too.")
    say("  floor (bench/floor.py): constant TwiML for every POST, no form parsing, no signature check: the limit.")
    say("  reference (bench/reference.py): the webhook written from Twilio's docs: RequestValidator.validate,")
    say("  a VoiceResponse built anew with a 5-<Say> Gather and a Redirect, no state store.")
    say("  CPU us/req = the workers' utime+stime (/proc/<pid>/stat) over their slices / requests answered.")
    say("  req/s = all slices' requests / their time; p50, p99 = median over slices; x ref, x floor = median")
    say("  over slices of line req/s / the other's req/s in the same round.")
    flight, need = args.connections, args.connections / (TARGET_P99_MS / 1000) * 1.5
    say(f"  wrk keeps {flight} requests in flight, so latency here is mostly queueing: p50 is about")
    say(f"  {flight} / req/s (Little's law), and p99 < {TARGET_P99_MS:g} ms at this concurrency needs")
    say(f"  roughly {need:.0f}+ req/s, not a faster single request.")

    say()
    say("== Redis per request, counted on the wire in process (Flask test client, same app, same Redis) ==")
    say("  round trip = one write of packed commands to the socket (a whole pipeline is one).")
    say(f"  {'scenario':<10} {'requests':>8} {'round trips/req':>15} {'max':>4} {'commands/req':>12} "
        f"{'app ms/req':>10}  per webhook")
    for s in scenarios:
        t = s.trips
        paths = "; ".join(f"{route} {n:.0f} [{' '.join(names)}]" for route, (n, names) in t["paths"].items())
        say(f"  {s.name:<10} {t['requests']:>8} {t['round_trips']:>15.2f} {t['max']:>4} "
            f"{t['commands']:>12.2f} {t['ms']:>10.2f}  {paths}")
    say("  app ms/req: wall time through Flask's test client in this one process, no HTTP server.")
    say("  target: no round trip on a voice webhook (counts go in batches); 1 for a text.")

    say()
    say("== Start-up (process start until /healthz answers) and memory after the run ==")
    for name, server in servers.items():
        took = server.started_in or 0.0
        ok = took < TARGET_START_S
        if name == "line":
            held = held and ok
        target = f"  (target < {TARGET_START_S:g} s: {mark(ok)})" if name == "line" else ""
        each = ", ".join(f"{t:.2f}" for t in server.start_times)
        say(f"  {name:<9} started in {took:.2f} s (median of {each}){target}")
    for name, rows in memory.items():
        workers = [(rss, pss) for _, role, rss, pss in rows if role == "worker"]
        masters = [(rss, pss) for _, role, rss, pss in rows if role == "master"]
        each = ", ".join(f"{rss / 1024:.1f}" for rss, _ in workers)
        shares = ", ".join(f"{pss / 1024:.1f}" for _, pss in workers)
        master = f"{sum(r for r, _ in masters) / 1024:.1f} (PSS {sum(p for _, p in masters) / 1024:.1f})"
        say(f"  {name:<9} worker VmRSS MiB: {each}; PSS: {shares}; master VmRSS {master} MiB")
    say("  (RSS counts pages shared with the master and the other worker in full; PSS splits them)")
    say(f"  cleaned up: all servers stopped, {cleared} ivr:* keys deleted from Redis DB 14")
    say()
    say("targets " + ("HELD" if held else "NOT all held") + f": voice webhooks >= {TARGET_RATIO}x the reference's "
        f"req/s with no more CPU per request and a p99 no worse; /sms >= {TARGET_SMS_RATIO}x with 1 Redis round "
        f"trip; p99 < {TARGET_P99_MS:g} ms; start-up < {TARGET_START_S:g} s; no refused or failed requests")
    return held


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of timing per server per scenario")
    parser.add_argument("--quick", action="store_true", help="3 s per timed run")
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY for both servers (default 2)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per", type=int, default=70, help="requests per scenario for the round-trip count")
    parser.add_argument("--starts", type=int, default=3, help="start-ups to time per server (median)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = 3
    try:
        return run(args)
    except BenchError as error:
        say(f"\nbench: {error}")
        return 1
    except KeyboardInterrupt:
        say("\nbench: interrupted")
        return 130


def run(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    wrk = ensure_wrk()
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        raise BenchError("Redis does not answer on 127.0.0.1:6379 "
                         f"({error}): start it with `redis-server --daemonize yes --bind 127.0.0.1 "
                         "--port 6379 --save \"\" --appendonly no`") from None
    cleared = 0
    servers: dict[str, Server] = {}
    stack: list[Callable[[], None]] = []
    logdir = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    finished = False
    try:
        say("building the app in process: learning a call's webhooks and counting Redis round trips ...")
        app = build_app()
        clear_keys(client)  # no rate limit left over from an earlier run
        walk = discover_walk(app)
        scenarios = build_scenarios(walk)
        measure_round_trips(app, scenarios, client, args.per)
        say("  the call walk: " + " -> ".join(f"{h.path} {_step(h)}".strip() for h in walk))

        web = web_line()
        servers["line"] = Server("line", web, free_port(), args.workers, logdir)
        servers["reference"] = Server("reference", floor_line(web, "reference"), free_port(), args.workers, logdir)
        servers["floor"] = Server("floor", floor_line(web), free_port(), args.workers, logdir)
        for name, server in servers.items():
            stack.append(server.stop)
            say(f"starting {name}: PORT={server.port} WEB_CONCURRENCY={args.workers} "
                f"bash -c {server.command!r}")
            for _ in range(args.starts - 1):  # the machine is noisy: time a few starts, keep the last
                server.start()
                server.stop()
            server.start()
            server.started_in = statistics.median(server.start_times)
            say("  /healthz answered after " + ", ".join(f"{t:.2f}" for t in server.start_times) + " s")
        line = servers["line"]

        for scenario in scenarios:
            clear_keys(client)
            verify(line, scenario)
        say("verified: every kind of request gets 200 (204 for /voice/status) with real TwiML, not 403")

        for scenario in scenarios:
            requests = {name: logdir / f"{scenario.name}-{name}.tsv" for name in APPS}
            for name, path in requests.items():  # signed for each server's own address
                write_requests(path, servers[name].base, scenario.hooks)
            say(f"timing {scenario.name}: {scenario.label} ...")
            time_scenario(wrk, args, scenario, servers, requests, client)

        memory = {name: server.processes() for name, server in servers.items()}
        finished = True
    finally:
        for stop in reversed(stack):
            stop()
        try:
            cleared += clear_keys(client)
        finally:
            client.close()
        if finished and not args.keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            say(f"server logs and request lists kept in {logdir}")
    held = report(scenarios, servers, memory, args, cleared)
    say(f"(took {time.perf_counter() - began:.0f} s)")
    return 2 if args.strict and not held else 0


def _step(hook: Hook) -> str:
    shown = ("Digits", "DialCallStatus", "CallStatus")
    return " ".join(f"{k}={hook.form[k]}" for k in shown if k in hook.form)


if __name__ == "__main__":
    sys.exit(main())
