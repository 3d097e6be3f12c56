"""Working directories for step attempts: made fresh, filled with inputs, emptied of results,
removed after the attempt, and swept when their attempt died with its worker.

An attempt's directory is locked (flock) from its making to its removal, by the worker that runs
it: the kernel drops the lock when that worker dies, however it dies. A directory nobody locks is
therefore no running attempt's, on this worker or any other sharing the root (over NFS too, where
the client maps flock to NFS locks); the one instant it is nobody's, between its making and its
locking, is covered by `make_workdir` checking that it still exists once locked.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import functools
import mimetypes
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from app.errors import AppError

# The names execution gives working directories: aa-<submission>-<step>-<attempt>-<random>.
_ATTEMPT_DIR = re.compile(r"aa-[0-9a-f]{8}-.+-[0-9]+-")
_KEPT = ".aa-kept"  # left in a directory kept for inspection (AA_KEEP_WORKDIRS): never swept
_locks: dict[Path, int] = {}  # working directory -> the descriptor that holds its lock
_guard = threading.Lock()
_roots: set[str] = set()  # the roots this process has made working directories in


def make_workdir(root: str | None, prefix: str) -> Path:
    """A new private directory under `root` (the system temporary directory if None), locked
    until `remove_workdir`."""
    if os.sep in prefix or (os.altsep and os.altsep in prefix):
        raise AppError("a working directory name may not contain a path separator")
    root = root or tempfile.gettempdir()
    while True:
        try:
            workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=_base(root)))
        except FileNotFoundError:  # the root was removed since: make it again
            _base.cache_clear()
            workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=_base(root)))
        # Swept in the instant before it was locked (it was nobody's): made again.
        try:
            descriptor = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)  # not inherited by the step's programs
        except FileNotFoundError:
            continue
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # waits for a sweep that took it an instant ago
        if _still_there(workdir, descriptor):
            break
        os.close(descriptor)
    with _guard:
        _locks[workdir] = descriptor
        _roots.add(root)
    return workdir


def _still_there(path: Path, descriptor: int) -> bool:
    """Whether `path` is still the directory open as `descriptor`."""
    try:
        named, held = os.stat(path), os.fstat(descriptor)
    except FileNotFoundError:
        return False
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


@functools.cache
def _base(root: str) -> str:
    """`root` resolved and made once per process (a syscall saved on every attempt)."""
    base = Path(root).resolve()
    base.mkdir(parents=True, exist_ok=True)
    return str(base)


def remove_workdir(workdir: Path, keep: bool) -> None:
    """Remove (or keep, marked as kept) an attempt's directory, then release its lock."""
    try:
        if keep:
            (workdir / _KEPT).touch()
        else:
            try:
                os.rmdir(workdir)  # the common case, a step that left nothing: one syscall, not a tree walk
            except OSError:
                shutil.rmtree(workdir, ignore_errors=True)
    finally:
        with _guard:
            descriptor = _locks.pop(workdir, None)
        if descriptor is not None:
            os.close(descriptor)


def sweep_roots(default: str | None) -> set[str]:
    """The roots to sweep: `default` (the system temporary directory if None) and those used."""
    with _guard:
        return {default or tempfile.gettempdir(), *_roots}


def sweep(roots: Iterable[str]) -> int:
    """Remove the attempts' directories under `roots` that no running attempt holds (their worker
    died), except those kept for inspection; return how many were removed."""
    removed = 0
    for root in roots:
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                if _ATTEMPT_DIR.match(entry.name) and entry.is_dir(follow_symlinks=False):
                    removed += _remove_unheld(entry.path)
    return removed


def _remove_unheld(path: str) -> int:
    """Remove `path` if nobody holds its lock and it was not kept: 1 if removed."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a running attempt's
            return 0
        if os.path.lexists(os.path.join(path, _KEPT)):
            return 0
        for _ in range(3):  # a program of the dead attempt may have been writing there until killed
            shutil.rmtree(path, ignore_errors=True)  # holding the lock: no other sweep takes it meanwhile
            if not os.path.lexists(path):
                return 1
        return 0
    finally:
        os.close(descriptor)


def stage(workdir: Path, files: list[tuple[str, bytes]]) -> list[str]:
    """Write files into `workdir`; return their relative names (a name taken twice goes in a subfolder)."""
    placed: list[str] = []
    for index, (name, data) in enumerate(files):
        relative = name if name not in placed else f"{index}/{name}"
        path = workdir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        placed.append(relative)
    return placed


def matching(names: list[str], glob: str) -> list[str]:
    """Names ending with the suffix `glob` (multi-dot suffixes such as `.hs-pred.out` included)."""
    return [name for name in names if name.endswith(glob)]


def collect(workdir: Path, out_globs: list[str], staged: list[str]) -> list[Path]:
    """Files the step produced that match its out_globs, in name order."""
    if not out_globs:
        return []
    taken = set(staged)
    found = []
    for path in sorted(p for p in workdir.iterdir() if p.is_file() and not p.is_symlink()):
        if path.name not in taken and any(path.name.endswith(glob) for glob in out_globs):
            found.append(path)
    return found


def result_name(stem: str, step: str, name: str) -> str:
    """A result's name, unique within its submission because it holds its step's name (step names
    have no dots and no dashes): `<stem>.<step><rest>` for a file named `<stem><rest>`, else
    `<step>.<name>`. Always inserted, so that two files of one step never map to one name."""
    return f"{stem}.{step}{name[len(stem):]}" if name.startswith(stem) else f"{step}.{name}"


def missing(out_globs: list[str], names: list[str]) -> list[str]:
    """The out_globs that no produced file matches."""
    return [glob for glob in out_globs if not matching(names, glob)]


def media_type(name: str, data: bytes) -> str:
    """A content type for a result file: by suffix, else text if it decodes as UTF-8."""
    guessed, _ = mimetypes.guess_type(name)
    if guessed:
        return guessed
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data[:65536], final=False)
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain; charset=utf-8"
