"""Start the real server the way production does: the Procfile's web line under gunicorn."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import requests

ROOT = Path(__file__).resolve().parent.parent
# The line's own settings: a test server gets only those the test gives it.
LINE_SETTINGS = ("TWILIO_AUTH_TOKEN", "PUBLIC_URL", "REDIS_URL", "PROMPTS_DIR", "SESSION_SECRET", "IVR_DEV_MODE",
                 "PROMETHEUS_MULTIPROC_DIR", "IVR_OPERATORS_FILE", "IVR_OPERATORS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise AssertionError("Procfile has no web: line")


MASTERS: dict[str, int] = {}  # base URL -> the gunicorn master's pid, for tests that kill workers


@contextmanager
def procfile_server(
    env: dict[str, str], workers: int = 2, wait: float = 20.0, log_to: IO[str] | None = None
) -> Iterator[str]:
    """Run the Procfile's web process on a free port; yield its base URL. log_to receives what it prints."""
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    inherited = {key: value for key, value in os.environ.items() if key not in LINE_SETTINGS}
    full_env = {
        **inherited, **env, "PORT": str(port), "WEB_CONCURRENCY": str(workers),
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
    }
    log = log_to or tempfile.NamedTemporaryFile("w+", prefix=f"ivr-server-{port}-", suffix=".log")  # noqa: SIM115
    process = subprocess.Popen(
        ["bash", "-c", procfile_web()], cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            _wait_up(base, process, wait)
        except AssertionError as error:
            log.seek(0)
            raise AssertionError(f"{error}; the server said:\n{log.read()[-3000:]}") from None
        MASTERS[base] = process.pid
        yield base
    finally:
        MASTERS.pop(base, None)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if log_to is None:
            log.close()


def _wait_up(base: str, process: subprocess.Popen[bytes], wait: float) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # workers still starting
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer /healthz within {wait} s")
