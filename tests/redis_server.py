"""A private redis-server for tests that break Redis on purpose.

The shared Redis on 127.0.0.1:6379 must stay up for everyone, so tests that kill,
freeze or pause Redis start their own server on a free port, with no persistence,
and stop it afterwards whatever happened.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

START_SECONDS = 5.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process on one port, which a test may kill and start again."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of database 0 on this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A new client with generous timeouts, for the test's own look at the data."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=5)

    def start(self) -> RedisServer:
        """Start redis-server on this port and wait until it answers PING."""
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not on PATH")
        self.process = subprocess.Popen(
            [
                executable, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tempfile.gettempdir(),
        )
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"redis-server on port {self.port} exited with {code}")
            try:
                with self.client() as probe:
                    probe.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.01)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash or an OOM kill would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=START_SECONDS)
            self.process = None

    def freeze(self) -> None:
        """Stop the server's process (SIGSTOP): connections open, nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server run again (SIGCONT)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server, whatever state it is in."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.kill()  # works on a frozen process too
        process.wait(timeout=START_SECONDS)


@contextmanager
def redis_server(port: int | None = None) -> Iterator[RedisServer]:
    """Run a private redis-server for the length of the block."""
    server = RedisServer(port)
    for _ in range(3):
        try:
            server.start()
            break
        except RuntimeError:
            if port is not None:
                raise
            server = RedisServer()  # another process took the free port first
    else:
        raise RuntimeError("could not start a private redis-server")
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def sentinel_for(primary: RedisServer, service: str = "mymaster") -> Iterator[int]:
    """Run a Redis Sentinel that watches primary as `service`; yield the Sentinel's port."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="ivr-sentinel-")
    config = os.path.join(folder, "sentinel.conf")
    with open(config, "w") as file:
        file.write(f"port {port}\nbind 127.0.0.1\nsentinel monitor {service} 127.0.0.1 {primary.port} 1\n")
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server is not on PATH")
    process = subprocess.Popen([executable, config, "--sentinel"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=folder)
    try:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=port, socket_timeout=1).sentinel_get_master_addr_by_name(service):
                    break
            except redis.RedisError:
                time.sleep(0.05)
        yield port
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)
