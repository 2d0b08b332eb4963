"""The last good prompts, kept on disk so that every worker and a restarted server answer with them.

On every good load a worker writes the prompt texts it loaded to one JSON file
(plain data, never pickle), atomically: a new file beside the old, then a
rename. A worker that starts while the files are broken (after a crash, a
deploy, a reboot) loads this snapshot with the same loader and checks, so it
answers with the newest good prompts rather than the bare fallback, and workers
whose files are broken follow it, so every caller hears the same version.

The file is ``.last-good.json`` inside the prompts folder (ignored by the
loader and by git), or ``PROMPTS_SNAPSHOT`` when set. When that place cannot
be written, a file in the system's temporary folder named after the prompts
folder is used instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .prompt_files import MAX_FILE_BYTES, MAX_FILES, Files, frozen

log = logging.getLogger("ivr.prompts")
FORMAT = 1
NAME = ".last-good.json"
MAX_SNAPSHOT_BYTES = MAX_FILES * MAX_FILE_BYTES


@dataclass(frozen=True)
class Saved:
    """A snapshot read back: the prompt texts, and when they were saved."""

    files: Files
    saved: float


class Snapshot:
    """Where one prompts folder's last good texts are kept."""

    def __init__(self, root: Path | str, path: Path | str | None = None) -> None:
        root = Path(root)
        self.places = [Path(path)] if path else [root / NAME]
        digest = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:16]
        self.places.append(Path(tempfile.gettempdir()) / f"ivr-last-good-{digest}.json")
        self._warned = False

    def save(self, files: Files) -> bool:
        """Write the texts atomically to the first place that can be written; never raises."""
        body = json.dumps({"format": FORMAT, "version": files.version, "saved": time.time(), "name": files.name,
                           "files": dict(files.texts)}, ensure_ascii=False, sort_keys=True)
        for place in self.places:
            try:
                _write_atomically(place, body)
                return True
            except OSError as error:
                self._warn(place, error)
        return False

    def _warn(self, place: Path, error: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning("cannot keep the last good prompts at %s (%s): trying the next place",
                        place, error.strerror or type(error).__name__)

    def stamp(self) -> tuple[float, ...]:
        """Return the snapshot files' change times, cheaply, to see whether to read them again."""
        stamps = []
        for place in self.places:
            try:
                stamps.append(place.stat().st_mtime)
            except OSError:
                stamps.append(0.0)
        return tuple(stamps)

    def read(self) -> Saved | None:
        """Return the newest readable snapshot, or None; never raises."""
        found = [saved for saved in (_read(place) for place in self.places) if saved is not None]
        return max(found, key=lambda saved: saved.saved, default=None)


def _write_atomically(place: Path, body: str) -> None:
    fd, temporary = tempfile.mkstemp(prefix=".last-good-", suffix=".tmp", dir=place.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(body)
        os.replace(temporary, place)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _read(place: Path) -> Saved | None:
    try:
        if place.stat().st_size > MAX_SNAPSHOT_BYTES:
            return None
        data = json.loads(place.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    texts, saved, name = data.get("files"), data.get("saved"), data.get("name")
    if not isinstance(texts, dict) or not isinstance(saved, int | float) or not isinstance(name, str):
        return None
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in texts.items()):
        return None
    return Saved(frozen(name, texts), float(saved))
