"""Who trains a run: an advisory lock file held by the live trainer, so an abandoned run says so.

The lock itself is den_engine/records/owner.py. A trainer (``den run``, a sweep job, a
browser session's, or a sweep launched from the Compare page) holds an
exclusive ``flock`` on ``<run dir>/OWNER_FILE`` (for a sweep, on the sweep folder's) for
as long as it may write the run. The operating system drops the lock when the holding
process ends, however it ends, so a run whose record says "running" while nobody holds
its lock was abandoned: the server stopped, the machine rebooted, the sweep was killed.
The file's text (pid, host, start time) is for people; only the lock counts.
"""

from __future__ import annotations

from pathlib import Path

from den_engine.records.owner import OWNER_FILE, OwnerLock, is_held

__all__ = ["OWNER_FILE", "OwnerLock", "has_owner_file", "is_interrupted", "is_owned", "is_resumable", "run_state"]


def has_owner_file(run_dir: str | Path) -> bool:
    """True when the run (or the sweep folder around it) was started by an owner-aware trainer."""
    run_dir = Path(run_dir)
    return (run_dir / OWNER_FILE).is_file() or (run_dir.parent / OWNER_FILE).is_file()


def is_owned(run_dir: str | Path) -> bool:
    """True while a live trainer holds the run's lock (or its sweep folder's)."""
    run_dir = Path(run_dir)
    return is_held(run_dir / OWNER_FILE) or is_held(run_dir.parent / OWNER_FILE)


def run_state(status: str, tasks_done: int, run_dir: str | Path) -> str:
    """What a run's status means now: 'running' only while someone trains it, else how far it got."""
    if status != "running" or not has_owner_file(run_dir) or is_owned(run_dir):
        return status
    if tasks_done == 0:
        return "interrupted before task 1"
    return f"interrupted after task {tasks_done}"


def is_interrupted(state: str) -> bool:
    """True for the states ``run_state`` gives abandoned runs."""
    return state.startswith("interrupted")


def is_resumable(state: str) -> bool:
    """True for a run nobody trains that has tasks left: abandoned, or stopped (and its tab closed)."""
    return is_interrupted(state) or state == "stopped"
