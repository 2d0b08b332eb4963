"""Health checks for a load balancer."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .. import metrics
from ..store import StoreDown
from .common import line

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Say the process is up."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Say whether the prompts are loaded cleanly and the store takes a write."""
    resources = line()
    # Where and what kind, never the file's words: this page answers anyone.
    errors = [problem.public() for problem in resources.live.problems if not problem.warning]
    try:
        store = {"ok": True, "ms": round(resources.store.ping() * 1000, 2)}
    except StoreDown as error:
        store = {"ok": False, "error": str(error)}
    prompts = {
        "ok": resources.live.ready,
        "fallback": resources.live.current() is None,
        "source": resources.live.source,
        "version": getattr(resources.live.current(), "version", None),
        "problems": errors[:10],
    }
    ready = prompts["ok"] and store["ok"]
    return jsonify(status="ready" if ready else "not ready", prompts=prompts, store=store), (
        200 if ready else 503
    )


@bp.get("/metrics")
def prometheus() -> Response:
    """Expose counters and latencies for Prometheus, across every worker (this one's waiting counts sent first)."""
    line().batch.flush()
    body, content_type = metrics.exposition()
    return Response(body, mimetype=content_type.split(";")[0], content_type=content_type)
