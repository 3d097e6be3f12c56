"""Working directories for step attempts: made fresh, filled with inputs, emptied of results."""

from __future__ import annotations

import codecs
import functools
import mimetypes
import os
import shutil
import tempfile
from pathlib import Path

from app.errors import AppError


def make_workdir(root: str | None, prefix: str) -> Path:
    """A new private directory under `root` (the system temporary directory if None)."""
    if os.sep in prefix or (os.altsep and os.altsep in prefix):
        raise AppError("a working directory name may not contain a path separator")
    root = root or tempfile.gettempdir()
    try:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=_base(root)))
    except FileNotFoundError:  # the root was removed since: make it again
        _base.cache_clear()
        return Path(tempfile.mkdtemp(prefix=prefix, dir=_base(root)))


@functools.cache
def _base(root: str) -> str:
    """`root` resolved and made once per process (a syscall saved on every attempt)."""
    base = Path(root).resolve()
    base.mkdir(parents=True, exist_ok=True)
    return str(base)


def remove_workdir(workdir: Path, keep: bool) -> None:
    if keep:
        return
    try:
        os.rmdir(workdir)  # the common case, a step that left nothing: one syscall, not a tree walk
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)


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
