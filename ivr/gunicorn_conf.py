"""Gunicorn settings the Procfile loads: shared metrics, counts sent at a worker's exit, a safe development mode.

Prometheus counters live in each worker's memory; with a folder shared through
``PROMETHEUS_MULTIPROC_DIR`` every worker writes its counts there and ``/metrics``
adds them up. The folder is made fresh when the server starts.

Development mode (``IVR_DEV_MODE=1``) checks no signatures, so the server refuses
to start in it on any address but this machine's own (``make run`` binds 127.0.0.1).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

OWN_FOLDER = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if OWN_FOLDER:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ivr-metrics-")


def on_starting(server: Any) -> None:
    """Refuse development mode on a public address; start each server with empty counters."""
    from ivr import config as settings  # imported here: gunicorn reads every module name as a setting

    dev_mode = settings.from_environ(os.environ)["DEV_MODE"]
    problem = settings.dev_bind_problem(server.cfg.bind) if dev_mode else None
    if problem:
        server.log.error(problem)
        on_exit(server)
        sys.exit(1)
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def worker_exit(server: Any, worker: Any) -> None:
    """Send this worker's last anonymous counts before it goes (a graceful restart loses none)."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", {})
    if "ivr" in extensions:
        extensions["ivr"].batch.close()


def child_exit(server: Any, worker: Any) -> None:
    """Let a finished worker's live gauges go; its counts stay in the total."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """Remove the metrics folder this server made for itself."""
    if OWN_FOLDER:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
