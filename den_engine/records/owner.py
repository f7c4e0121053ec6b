"""Who trains a run: an advisory lock file held by the live trainer, so an abandoned run says so.

A trainer (``den run``, a sweep job, a browser session's trainer, a sweep launched from the
Compare page) holds an exclusive ``flock`` on ``<run dir>/OWNER_FILE`` (for a whole sweep
folder, on the folder's) for as long as it may write the run. The operating system drops the
lock when the holding process ends, however it ends, so a run whose record says "running"
while nobody holds its lock was abandoned. The file's text (pid, host, start time) is for
people; only the lock counts. The dashboard reads it (dashboard/state/ownership.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

OWNER_FILE = ".owner.lock"


class OwnerLock:
    """An exclusive lock on a folder's owner file, held until ``release`` (or process exit)."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / OWNER_FILE
        self._file = None

    def acquire(self) -> bool:
        """Take the lock; False when another trainer holds it."""
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat()}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(info) + "\n")
        handle.flush()
        self._file = handle
        return True

    def fileno(self) -> int:
        """The locked file's descriptor (a child process given it keeps the lock alive)."""
        if self._file is None:
            raise RuntimeError("the lock is not held")
        return self._file.fileno()

    def release(self) -> None:
        """Drop the lock (the file stays, unlocked)."""
        if self._file is not None:
            self._file.close()  # closing the last descriptor releases the flock
            self._file = None

    def __del__(self) -> None:
        self.release()


def is_held(path: Path) -> bool:
    """True while some process holds the lock on owner file ``path``."""
    try:
        with open(path, encoding="utf-8") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def has_owner_file(run_dir: str | Path) -> bool:
    """True when the run (or the sweep folder around it) was started by an owner-aware trainer."""
    run_dir = Path(run_dir)
    return (run_dir / OWNER_FILE).is_file() or (run_dir.parent / OWNER_FILE).is_file()


def is_owned(run_dir: str | Path) -> bool:
    """True while a live trainer holds the run's lock (or its sweep folder's)."""
    run_dir = Path(run_dir)
    return is_held(run_dir / OWNER_FILE) or is_held(run_dir.parent / OWNER_FILE)


def run_state(status: str, tasks_done: int, run_dir: str | Path) -> str:
    """What a run's status means now: 'running' only while someone trains it, else how far it got.

    A record that says "running" (or "interrupted", written on Ctrl-C) while nobody holds
    its lock was abandoned: the process ended however it ended. Reading the lock is
    immediate, so a dead trainer's run reads "interrupted" as soon as its process is gone.
    """
    if status == "interrupted" or (status == "running" and has_owner_file(run_dir) and not is_owned(run_dir)):
        return "interrupted before task 1" if tasks_done == 0 else f"interrupted after task {tasks_done}"
    return status


def is_interrupted(state: str) -> bool:
    """True for the states ``run_state`` gives abandoned runs."""
    return state.startswith("interrupted")
