"""One JSON line per event, and never a caller's number or words.

Fields are passed with ``extra={"fields": {...}}``; the formatter writes only
those, the message and the level, so a form value can reach the log only if
code puts it there on purpose. Tests grep the output for callers' numbers.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from pathlib import Path


class JsonLines(logging.Formatter):
    """Format a record as one JSON object on one line."""

    _second, _stamp = -1, ""  # the last second written out, and how: one strftime a second, not one a line

    def stamp(self, created: float) -> str:
        """Write a time to the second, working it out once a second."""
        second = int(created)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._stamp

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": self.stamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info and record.exc_info[1] is not None:
            line.update(describe_error(record.exc_info[1]))
        return json.dumps(line, default=str)


def request_line(logger: logging.Logger, fields: dict[str, object]) -> None:
    """Write one request's line as the formatter would, without building a log record for it.

    Every webhook writes one, so the cost of a LogRecord, its handlers and the
    dict it is formatted through shows in the line's CPU per request; the line
    and its privacy rules (only the fields given) are the same.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    formatter = _FORMATTERS.get("ivr")
    if not isinstance(formatter, JsonLines):  # set up otherwise (tests, a host's own logging): the usual path
        logger.info("request", extra={"fields": fields})
        return
    line = {"ts": formatter.stamp(time.time()), "level": "info", "logger": logger.name, "msg": "request", **fields}
    sys.stderr.write(json.dumps(line, default=str) + "\n")


def describe_error(error: BaseException) -> dict[str, object]:
    """Name an error by its type and where it happened, never by its message.

    Error messages often repeat their input (``int('...')``, a KeyError), and the
    input may be a caller's words or a texter's message.
    """
    frames = traceback.extract_tb(error.__traceback__)
    stack = [f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in frames]
    return {"error": type(error).__name__, "stack": stack[-10:]}


_FORMATTERS: dict[str, logging.Formatter | None] = {}  # the "ivr" logger's own JSON formatter, once set up


class StderrHandler(logging.StreamHandler):
    """Write to whatever sys.stderr is when a line is logged, not when logging was set up."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass  # the stream is always the current stderr


def setup(level: int = logging.INFO) -> None:
    """Send the line's logs to stderr as JSON lines, once per process."""
    logger = logging.getLogger("ivr")
    if any(isinstance(handler, StderrHandler) for handler in logger.handlers):
        return
    # Every request logs a line: skip what these lines never show (the caller's source
    # line, found by walking the stack; thread and process names), as logging's HOWTO suggests.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = StderrHandler()
    handler.setFormatter(JsonLines())
    _FORMATTERS["ivr"] = handler.formatter
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
