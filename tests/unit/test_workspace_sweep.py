"""The sweep removes the working directories of attempts that died, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from app.services import workspace

# Holds the lock of the directory it is given, as the worker running that attempt does, until killed.
HOLDER = "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); " \
         "print('held', flush=True); time.sleep(60)"


def _age(path: Path, seconds: float = 3600) -> Path:
    past = time.time() - seconds
    os.utime(path, (past, past))
    return path


def _attempt_dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir()
    (path / "out.txt").write_text("left behind")
    return _age(path)


def test_sweep_removes_only_the_unheld_directories_of_attempts(tmp_path):
    dead = _attempt_dir(tmp_path, "aa-0123abcd-sort-1-x1y2z3")
    running = _attempt_dir(tmp_path, "aa-0123abcd-count-2-a1b2c3")  # another worker's running attempt
    kept = _attempt_dir(tmp_path, "aa-0123abcd-sort-4-k1k2k3")
    (kept / ".aa-kept").touch()
    _age(kept)
    unrelated = [_attempt_dir(tmp_path, name) for name in ("aa-test-pg-abc123", "aa-notes", "results")]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(running)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert workspace.sweep([str(tmp_path)]) == 1
        assert not dead.exists()
        assert all(p.exists() for p in (running, kept, *unrelated))
        holder.kill()  # its worker dies: the kernel drops the lock
        holder.wait()
        assert workspace.sweep([str(tmp_path)]) == 1
        assert not running.exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_directory_is_held_from_its_making_to_its_removal(tmp_path):
    workdir = workspace.make_workdir(str(tmp_path), "aa-0123abcd-sort-1-")
    _age(workdir)
    assert workspace.sweep([str(tmp_path)]) == 0 and workdir.exists()
    workspace.remove_workdir(workdir, keep=False)
    assert not workdir.exists()


def test_a_kept_directory_is_never_swept(tmp_path):
    workdir = workspace.make_workdir(str(tmp_path), "aa-0123abcd-sort-1-")
    workspace.remove_workdir(workdir, keep=True)
    assert workspace.sweep([str(tmp_path)]) == 0 and workdir.exists()


def test_a_sweep_never_takes_a_directory_being_made(tmp_path):
    """Between its making and its locking a directory is nobody's: a sweep may take it then, and
    make_workdir makes another. Many makings against sweeps running all the time."""
    done = threading.Event()
    sweeper = threading.Thread(target=lambda: [workspace.sweep([str(tmp_path)]) for _ in iter(done.is_set, True)])
    sweeper.start()
    try:
        for _ in range(500):
            workdir = workspace.make_workdir(str(tmp_path), "aa-0123abcd-sort-1-")
            workspace.stage(workdir, [("in.txt", b"x")])
            assert (workdir / "in.txt").read_bytes() == b"x"
            workspace.remove_workdir(workdir, keep=False)
    finally:
        done.set()
        sweeper.join()


def test_the_roots_swept_are_the_default_and_those_used(tmp_path):
    used = tmp_path / "custom"
    workspace.remove_workdir(workspace.make_workdir(str(used), "aa-0123abcd-sort-1-"), keep=False)
    assert {str(tmp_path / "default"), str(used)} <= workspace.sweep_roots(str(tmp_path / "default"))
