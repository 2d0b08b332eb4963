"""Counters for Prometheus, summed across every worker process.

Under gunicorn, ``ivr/gunicorn_conf.py`` gives the workers a shared folder
(``PROMETHEUS_MULTIPROC_DIR``) so that ``/metrics`` reports the whole server, not
the one worker that answered. Labels carry topic names and outcomes only, never
a number or a message.
"""

from __future__ import annotations

import os
from functools import lru_cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

CALLS = Counter("ivr_calls", "Calls answered.")
MESSAGES = Counter("ivr_messages", "Texts received, by channel (sms, whatsapp).", ["channel"])
TOPICS = Counter("ivr_topic_selected", "Topics chosen, by topic and channel.", ["topic", "channel"])
TRANSFERS = Counter(
    "ivr_transfers", "Transfers to the helpline, by outcome (closed: asked for while closed).", ["status"]
)
REPROMPTS = Counter("ivr_reprompts", "Times a caller was asked again after silence or an unknown key.")
STORE_ERRORS = Counter("ivr_store_errors", "Requests answered, or count batches held back, without the session store.")
COUNTS_DROPPED = Counter(
    "ivr_counts_dropped", "Anonymous counts dropped, oldest first, because the store was away too long."
)
LATENCY = Histogram(
    "ivr_request_seconds", "Time to answer a request, by endpoint.", ["endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


@lru_cache(maxsize=64)  # endpoints are the app's own names: a handful
def latency(endpoint: str) -> Histogram:
    """The latency histogram of one endpoint, looked up once rather than on every request."""
    return LATENCY.labels(endpoint=endpoint)


def count_event(event: str, channel: str) -> None:
    """Count what the engine said happened on a call or in a text."""
    if event.startswith("topic:"):
        TOPICS.labels(topic=event.removeprefix("topic:"), channel=channel).inc()
    elif event.startswith("transfer:"):
        TRANSFERS.labels(status=event.removeprefix("transfer:")).inc()
    elif event == "reprompt":
        REPROMPTS.inc()


def exposition() -> tuple[bytes, str]:
    """Render every worker's metrics in the Prometheus text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
