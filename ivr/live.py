"""Keep the running line on the newest good script, checking the files cheaply.

Each worker process holds a :class:`LiveScript`. At most every few seconds it
compares the prompt files' sizes and change times with what it loaded; when they
differ it loads them again. A broken edit never reaches callers: the last good
script stays in use, one clear error is logged naming the file, and
:attr:`LiveScript.problems` tells ``/readyz``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .script import Problem, Script, fingerprint, load

log = logging.getLogger("ivr.prompts")
CHECK_SECONDS = 2.0


class LiveScript:
    """The current script, reloaded when its files change."""

    def __init__(
        self, root: Path | str, check_seconds: float = CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic, on_change: Callable[[], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self._on_change = on_change
        self.check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._script: Script | None = None
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._next_check = 0.0
        self.problems: list[Problem] = []
        self._refresh()

    def current(self) -> Script | None:
        """Return the newest good script, or None if none has ever loaded."""
        if self._clock() >= self._next_check and self._lock.acquire(blocking=False):
            try:
                self._refresh()
            finally:
                self._lock.release()
        return self._script

    @property
    def ready(self) -> bool:
        """Say whether the line runs on the current files, with nothing broken."""
        return self._script is not None and not any(not p.warning for p in self.problems)

    def _refresh(self) -> None:
        self._next_check = self._clock() + self.check_seconds
        seen = fingerprint(self.root)
        if seen == self._seen:
            return
        self._seen = seen
        loaded = load(self.root)
        self.problems = loaded.problems
        if loaded.script is None:
            self._report_broken(loaded.errors)
            return
        changed = self._script is not None
        self._script = loaded.script
        if changed and self._on_change is not None:
            self._on_change()
        log.info("prompts %s", "reloaded" if changed else "loaded",
                 extra={"fields": {"version": loaded.script.version, "warnings": len(loaded.problems)}})

    def _report_broken(self, errors: list[Problem]) -> None:
        keeping = "keeping the last good prompts" if self._script else "using the built-in fallback"
        first = str(errors[0]) if errors else f"{self.root}: no prompts found"
        log.error("prompt files are broken, %s: %s (%d problems; run `ivr check`)",
                  keeping, first, len(errors))
