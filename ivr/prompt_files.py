"""Read the prompt folder safely, and parse YAML into plain data with plain-word errors.

Nothing an operator (or anyone who can write to the folder) puts there may hang,
crash or slow the line: a pipe or device named ``x.yaml``, a link to a file
outside the folder, a huge file, text that is not UTF-8, YAML nested thousands
deep or built from aliases. Each becomes a :class:`Problem` naming the file and
line in plain words. The texts that were read are kept as a :class:`Files`, a
plain mapping of relative path to text, which is also what the last-good
snapshot stores, so a snapshot is loaded by exactly the same code as the folder.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 200
MAX_DEPTH = 12  # lists and mappings inside each other; the shipped files use 4
MAX_EVENTS = 50_000
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong (or worth knowing) in the prompt files.

    ``message`` is for operators at a terminal and may quote the file; ``reason``
    is a short phrase that never repeats the file's content, for ``/readyz``.
    """

    path: str
    line: int
    message: str
    warning: bool = False
    reason: str = field(default="", compare=False)

    def __str__(self) -> str:
        kind = "warning: " if self.warning else ""
        return f"{self.path}:{self.line}: {kind}{self.message}"

    def public(self) -> str:
        """Say where the problem is and what kind it is, without the file's content."""
        return f"{self.path}:{self.line}: {self.reason or 'see ivr check'}"


@dataclass(frozen=True)
class Files:
    """The prompt texts one load reads: relative POSIX path to text."""

    name: str  # how problems name the folder, e.g. "prompts"
    texts: Mapping[str, str] = field(repr=False)

    @property
    def version(self) -> str:
        """Identify these texts: the same files give the same version on every worker and server."""
        digest = hashlib.sha256()
        for path in sorted(self.texts):
            digest.update(path.encode() + b"\0" + self.texts[path].encode() + b"\0")
        return digest.hexdigest()[:12]

    def display(self, rel: str) -> str:
        """Name a file as operators see it, like prompts/en-GB/menu.yaml."""
        return f"{self.name}/{rel}" if rel else self.name

    def has(self, rel: str) -> bool:
        """Say whether a file was read."""
        return rel in self.texts

    def folders(self) -> list[str]:
        """List the top-level folders that hold a menu.yaml: the languages."""
        menus = (rel for rel in self.texts if rel.count("/") == 1 and rel.endswith("/menu.yaml"))
        return sorted({rel.split("/", 1)[0] for rel in menus})

    def topic_files(self, folder: str) -> list[str]:
        """List a language's topic files, in name order."""
        prefix = f"{folder}/topics/"
        return sorted(rel for rel in self.texts if rel.startswith(prefix) and "/" not in rel[len(prefix):])


def frozen(name: str, texts: Mapping[str, str]) -> Files:
    """Wrap texts as an immutable Files."""
    return Files(name, MappingProxyType(dict(texts)))


def read_folder(root: Path) -> tuple[Files, list[Problem]]:
    """Read every prompt file under root, refusing what is unsafe, never raising."""
    name = root.name or str(root)
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    try:
        real_root = os.path.realpath(root)
        paths = _prompt_paths(real_root)
        if len(paths) > MAX_FILES:
            problems.append(_problem(name, 1, f"holds {len(paths)} prompt files; the most is {MAX_FILES}: "
                                     "move files that are not prompts out of the folder", "too many files"))
        for rel in paths[:MAX_FILES]:
            text = _read_one(real_root, rel, f"{name}/{rel}", problems)
            if text is not None:
                texts[rel] = text
    except (OSError, RecursionError, MemoryError) as error:
        problems.append(_problem(name, 1, f"the folder cannot be read ({_os_reason(error)})", "folder unreadable"))
    return frozen(name, texts), problems


def _prompt_paths(real_root: str) -> list[str]:
    """List the .yaml files below a folder, following links only to folders inside it."""
    found: list[str] = []
    seen: set[str] = set()
    for folder, dirs, files in os.walk(real_root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen or not _inside(real, real_root):
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel_folder = os.path.relpath(folder, real_root)
        for file in sorted(files):
            if file.endswith(SUFFIXES) and not file.startswith("."):
                found.append(file if rel_folder == "." else f"{rel_folder}/{file}".replace(os.sep, "/"))
    return found


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _read_one(real_root: str, rel: str, shown: str, problems: list[Problem]) -> str | None:
    """Read one file as UTF-8 text, or note why it cannot be used."""
    full = os.path.join(real_root, rel)
    target = os.path.realpath(full)
    if not _inside(target, real_root):
        problems.append(_problem(shown, 1, "is a link to a file outside the prompts folder: "
                                 "copy the file into the folder instead", "links outside the prompts folder"))
        return None
    try:
        raw = _read_capped(target)
    except _Refused as refused:
        problems.append(_problem(shown, 1, refused.message, refused.reason))
        return None
    except (OSError, MemoryError) as error:
        problems.append(_problem(shown, 1, f"cannot be read ({_os_reason(error)})", "cannot be read"))
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        problems.append(_problem(shown, line, "is not saved as UTF-8 text: save it as UTF-8 in your editor",
                                 "not UTF-8 text"))
        return None


class _Refused(Exception):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message, self.reason = message, reason


def _read_capped(path: str) -> bytes:
    """Read a regular file of at most MAX_FILE_BYTES; never wait on a pipe or device."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Refused("is not an ordinary file (it is a pipe, device or folder): replace it with a text file",
                           "not an ordinary file")
        if info.st_size > MAX_FILE_BYTES:
            raise _Refused(f"is {info.st_size // 1024} KB; a prompt file may be at most {MAX_FILE_BYTES // 1024} KB: "
                           "split it into smaller files", "file too large")
        chunks, left = [], MAX_FILE_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > MAX_FILE_BYTES:
            raise _Refused(f"is over {MAX_FILE_BYTES // 1024} KB: split it into smaller files", "file too large")
        return data
    finally:
        os.close(fd)


def _os_reason(error: BaseException) -> str:
    if isinstance(error, PermissionError):
        return "permission denied: make it readable by the user the line runs as"
    if isinstance(error, MemoryError):
        return "it is too large"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return type(error).__name__


def _problem(path: str, line: int, message: str, reason: str) -> Problem:
    return Problem(path, line, message, False, reason)


def fingerprint(root: Path) -> tuple[tuple[Any, ...], ...]:
    """Return a cheap signature of the prompt files: names, sizes, change times and permissions."""
    out: list[tuple[Any, ...]] = []
    try:
        real_root = os.path.realpath(root)
        for rel in _prompt_paths(real_root)[:MAX_FILES]:
            try:
                info = os.stat(os.path.join(real_root, rel))
            except OSError:
                out.append((rel, "gone"))
                continue
            out.append((rel, info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_mode, info.st_ino))
    except (OSError, RecursionError):
        out.append(("?", "unreadable"))
    return tuple(out)


# ---------------------------------------------------------------- YAML


class YamlProblem(Exception):
    """A file that is not YAML the line can use; says where and why in plain words."""

    def __init__(self, line: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.line, self.message, self.reason = line, message, reason


def parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document into plain data and its node tree, or raise YamlProblem."""
    try:
        _check_shape(text)
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as error:
        raise YamlProblem(_line_of_error(error), plain_yaml_error(error), "not valid YAML") from None
    except (yaml.YAMLError, ValueError, TypeError) as error:
        raise YamlProblem(1, f"is not valid YAML ({type(error).__name__}): check the quotes, colons and indentation",
                          "not valid YAML") from None
    except (RecursionError, MemoryError):
        raise YamlProblem(1, "is too deeply nested or too large to read", "too deeply nested") from None
    return data, node


def _line_of_error(error: yaml.MarkedYAMLError) -> int:
    """Point at the line an operator should look at: where an unclosed quote or bracket opened."""
    opened = error.context_mark is not None and (error.context or "").startswith(
        ("while scanning a quoted", "while parsing a flow"))
    mark = error.context_mark if opened else error.problem_mark or error.context_mark
    return mark.line + 1 if mark else 1


def _check_shape(text: str) -> None:
    """Refuse aliases, deep nesting and huge files before building anything from them."""
    depth = events = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        events += 1
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise YamlProblem(line, "uses a YAML alias (*name), which prompt files do not allow: "
                              "write the words out in full", "uses a YAML alias")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlProblem(line, f"has lists or sections nested more than {MAX_DEPTH} deep: "
                                  "check the brackets and indentation", "too deeply nested")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if events > MAX_EVENTS:
            raise YamlProblem(line, "has too many entries for a prompt file: split it", "too many entries")


PLAIN_YAML = (
    ("mapping values are not allowed", "a colon ( : ) here starts a new key where none is expected: "
     "put the whole sentence in double quotes, or check the indentation"),
    ("did not find expected key", "this line is indented differently from the one above: "
     "line up keys that belong together with the same number of spaces"),
    ("could not find expected ':'", "a key here has no colon after it, or a sentence needs double quotes"),
    ("found character '\\t'", "there is a tab character here: indent with spaces only"),
    ("found a tab character", "there is a tab character here: indent with spaces only"),
    ("while scanning a quoted scalar", "a quote opened here is never closed"),
    ("found unexpected end of stream", "a quote or bracket opened here is never closed"),
    ("while parsing a flow sequence", "a list opened with [ here is never closed with ], "
     "or a sentence starting with [ needs double quotes"),
    ("while parsing a flow mapping", "a section opened with { here is never closed with }, "
     "or a sentence starting with { needs double quotes"),
    ("did not find expected '-' indicator", "this list item is indented differently from the ones above"),
    ("expected <block end>", "this line is indented differently from the one above: "
     "line up keys that belong together with the same number of spaces"),
    ("expected a single document", "holds more than one document (a line of ---): keep one per file"),
    ("found duplicate anchor", "uses a YAML anchor (&name) twice: write the words out in full"),
    ("found undefined alias", "uses a YAML alias (*name): write the words out in full"),
    ("that cannot start any token", "starts a value with a character YAML reserves ( @ ` % ): "
     "put the sentence in double quotes"),
)


def plain_yaml_error(error: yaml.MarkedYAMLError) -> str:
    """Word a YAML syntax error for an operator."""
    said = f"{error.context or ''} {error.problem or ''}"
    for clue, plain in PLAIN_YAML:
        if clue in said:
            return f"is not valid YAML: {plain}"
    return "is not valid YAML here: check the quotes, colons and indentation"


def iter_problems(problems: list[Problem]) -> Iterator[Problem]:
    """Yield errors first, then warnings, each group in file and line order."""
    yield from sorted(problem for problem in problems if not problem.warning)
    yield from sorted(problem for problem in problems if problem.warning)
