"""Gunicorn settings the Procfile loads: a shared metrics folder for all workers.

Prometheus counters live in each worker's memory; with a folder shared through
``PROMETHEUS_MULTIPROC_DIR`` every worker writes its counts there and ``/metrics``
adds them up. The folder is made fresh when the server starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

OWN_FOLDER = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if OWN_FOLDER:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ivr-metrics-")


def on_starting(server: Any) -> None:
    """Start each server with empty counters."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Let a finished worker's live gauges go; its counts stay in the total."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """Remove the metrics folder this server made for itself."""
    if OWN_FOLDER:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
