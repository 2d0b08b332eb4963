"""Keep the running line on the newest good script, watching the files in the background.

Each worker process holds a :class:`LiveScript`. A background thread compares
the prompt files' names, sizes, change times and permissions every second; when
they differ it loads them again (reading, checking and rehearsing the whole
line) and swaps the new script in with one assignment. A webhook only reads
:meth:`LiveScript.current`, so no load, however slow or broken the files, ever
runs inside a webhook.

A broken edit never reaches callers: the last good script stays in use, one
clear error is logged naming the file, and :attr:`LiveScript.problems` tells
``/readyz``. Every good load is kept as a snapshot (:mod:`ivr.snapshot`); a
worker that starts while the files are broken loads it, and a worker whose
files are broken moves to it when another worker saved a newer one, so every
worker answers with the same, newest good prompts.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from .prompt_files import Problem, fingerprint
from .script import Loaded, Script, load, load_files
from .snapshot import Snapshot

log = logging.getLogger("ivr.prompts")
CHECK_SECONDS = 1.0
_WATCHED: weakref.WeakSet[LiveScript] = weakref.WeakSet()


class LiveScript:
    """The current script, reloaded in the background when its files change."""

    def __init__(
        self, root: Path | str, check_seconds: float = CHECK_SECONDS,
        on_change: Callable[[], None] | None = None, snapshot: Snapshot | None = None,
    ) -> None:
        self.root = Path(root)
        self.check_seconds = check_seconds
        self._on_change = on_change
        self._snapshot = snapshot or Snapshot(self.root)
        self._lock = threading.Lock()
        self._script: Script | None = None
        self._since = 0.0  # when the current script was saved or loaded (wall clock)
        self._seen: object = None
        self._snapshot_seen: tuple[float, ...] | None = None
        self.problems: list[Problem] = []
        self.source = "none"  # "files", "snapshot" or "none"
        self._stop = threading.Event()
        self.refresh()
        if check_seconds > 0:
            _WATCHED.add(self)
            self._start_watching()

    def current(self) -> Script | None:
        """Return the newest good script, or None if none has ever loaded; never does I/O."""
        return self._script

    @property
    def ready(self) -> bool:
        """Say whether the line runs on the current files, with nothing broken."""
        return self._script is not None and not any(not p.warning for p in self.problems)

    def close(self) -> None:
        """Stop watching the files."""
        self._stop.set()

    def refresh(self) -> None:
        """Look at the files (and the snapshot, while they are broken); swap in a newer good script."""
        with self._lock:
            seen = fingerprint(self.root)
            if seen != self._seen:
                self._seen = seen
                self._load_files()
            elif not self.ready:
                self._follow_snapshot()

    def _load_files(self) -> None:
        started = time.time()
        loaded = _safe_load(self.root)
        self.problems = loaded.problems
        if loaded.script is None:
            self._report_broken(loaded.errors)
            self._follow_snapshot(force=True)
            return
        self._use(loaded.script, "files", started)
        if loaded.script.files is not None:
            self._snapshot.save(loaded.script.files)

    def _follow_snapshot(self, force: bool = False) -> None:
        """While the files are broken, answer with the newest good prompts any worker saved."""
        stamp = self._snapshot.stamp()
        if stamp == self._snapshot_seen and not force:
            return
        self._snapshot_seen = stamp
        saved = self._snapshot.read()
        if saved is None or saved.saved <= self._since:
            return
        current = self._script
        if current is not None and current.files is not None and current.files.version == saved.files.version:
            self._since = saved.saved
            return
        loaded = load_files(saved.files)
        if loaded.script is not None:
            self._use(loaded.script, "snapshot", saved.saved)

    def _use(self, script: Script, source: str, since: float) -> None:
        old, self._script = self._script, script  # one assignment: a webhook sees the old or the new
        self._since, self.source = since, source
        if old is not None:
            _log_removed(old, script)
            if self._on_change is not None:
                self._on_change()
        log.info("prompts %s", "reloaded" if old else "loaded",
                 extra={"fields": {"version": script.version, "from": source}})

    def _report_broken(self, errors: list[Problem]) -> None:
        keeping = "keeping the last good prompts" if self._script else "using the last good snapshot if there is one"
        first = errors[0].public() if errors else f"{self.root}: no prompts found"
        log.error("prompt files are broken, %s: %s (%d problems; run `ivr check`)", keeping, first, len(errors))

    def _start_watching(self) -> None:
        self._stop = threading.Event()
        thread = threading.Thread(
            target=_watch, args=(weakref.ref(self), self.check_seconds, self._stop),
            name="ivr-prompts", daemon=True,
        )
        thread.start()


def _safe_load(root: Path) -> Loaded:
    """Load the files; whatever happens, return problems rather than raise."""
    try:
        return load(root)
    except Exception as error:  # noqa: BLE001 - a prompt file must never take a worker down
        problem = Problem(str(root), 1, f"the prompts could not be loaded ({type(error).__name__}): run `ivr check`",
                          False, "could not be loaded")
        return Loaded(None, [problem])


def _watch(ref: weakref.ref[LiveScript], seconds: float, stop: threading.Event) -> None:
    """Refresh one LiveScript every few seconds until it is closed or gone."""
    while not stop.wait(seconds):
        live = ref()
        if live is None:
            return
        try:
            live.refresh()
        except Exception:  # noqa: BLE001 - the watcher must outlive any one bad look at the files
            log.exception("watching the prompt files failed; trying again")
        del live


def _log_removed(old: Script, new: Script) -> None:
    """Warn, by name, about languages and topics that a reload took away."""
    for code, language in old.languages.items():
        if code not in new.languages:
            log.warning("the language %s was removed: callers in it go back to the menu", code)
            continue
        kept = {topic.name for topic in new.languages[code].topics}
        for topic in language.topics:
            if topic.name not in kept:
                log.warning("the topic %s (%s) was removed: callers in it go back to the menu", topic.name, code)


def _restart_watchers() -> None:
    """A forked worker gets no threads: start its own watchers again."""
    for live in list(_WATCHED):
        live._start_watching()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_watchers)
