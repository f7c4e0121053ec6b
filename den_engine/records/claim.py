"""Who may write a run folder: a new run only into a new or empty folder, never over another run.

Every writer of a run (``den run``, ``Trainer`` in Python, sweep and compare jobs, the
dashboard) claims the folder here before it writes a byte, in one of three modes:

- ``new``: the folder must be missing or empty. A folder holding a run is refused with
  one line that says what run it holds and offers ``--resume`` or ``--overwrite``; a folder
  holding anything else is refused outright (its files are not ours to touch).
- ``resume``: the folder must hold a run record.
- ``overwrite``: the folder must hold a run record (or be empty); its contents are removed
  whole once the lock is held, so no file of the old run is left beside the new one.

The claim is the owner lock of den_engine/records/owner.py: while one writer holds it,
every other writer, in this process or another, is refused with the holder's pid. The
checks run again once the lock is held, so two writers racing for one empty folder
cannot both pass.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from den_engine.core.errors import DENError, RunFileError
from den_engine.records.outputs import check_path
from den_engine.records.owner import OWNER_FILE, OwnerLock, is_held, run_state
from den_engine.records.store import RUN_FILE, load_run

MODES = ("new", "resume", "overwrite")


class RunFolderError(DENError):
    """A run folder cannot be written in the asked mode (it holds a run, foreign files, or a live trainer)."""


_PARTIAL = re.compile(r"^\.(run\.json|task-\d+\.safetensors)\.[A-Za-z0-9_]+\.tmp$")
"""A file the store was writing atomically (``.run.json.k2x9q1ab.tmp``) when its process was killed."""


def _entries(folder: Path) -> list[str]:
    """What a folder holds, apart from our own (possibly stale) owner file and our own half-written files.

    A run killed while writing its first record leaves only a temporary file: that folder holds
    no run and nothing of anyone else's, so it is as good as empty (the file is left as it is).
    """
    return sorted(p.name for p in folder.iterdir() if p.name != OWNER_FILE and not _PARTIAL.match(p.name))


def describe_run(folder: Path) -> str:
    """One phrase naming the run a folder holds: 'a complete 5-task digits-one-vs-rest run (den, seed 0)'."""
    try:
        data = load_run(folder).data
    except RunFileError as exc:
        return f"a damaged run record ({exc})"
    bench = data["benchmark"]
    done = len(data["tasks"])
    state = run_state(str(data.get("status", "?")), done, folder)
    of = f"{done} of {bench.get('n_tasks', '?')}"
    return f"a {state} {bench['name']} run ({data['method']}, seed {data.get('seed', '?')}, {of} tasks learned)"


def _holder(folder: Path) -> str:
    """'process 1234 on host' from the owner file's text (for people; only the lock counts)."""
    try:
        info = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8").splitlines()[0])
        return f"process {info['pid']} on {info['host']}"
    except (OSError, ValueError, KeyError, IndexError):
        return "another process"


def _check_folder(folder: Path) -> None:
    """Refuse a path that can never be a run folder, naming it (a file, a bad name, no permission)."""
    try:
        check_path(str(folder), "run folder", "folder")
    except DENError as exc:
        raise RunFolderError(str(exc)) from None
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"{folder}: exists and is not a folder")
    parent = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise RunFolderError(f"{folder}: {parent} is a file, not a folder")
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise RunFolderError(f"{folder}: no permission to write in {parent}")


def _refuse_contents(folder: Path, mode: str) -> None:
    """Raise unless the folder's contents allow ``mode`` (the caller holds the lock or is about to take it)."""
    if not folder.is_dir():
        if mode == "resume":
            raise RunFolderError(f"{folder}: no such run folder to resume")
        return
    entries = _entries(folder)
    holds_run = RUN_FILE in entries
    if mode == "resume":
        if not holds_run:
            raise RunFolderError(f"{folder}: not a run folder (no {RUN_FILE}); nothing to resume")
        return
    if not entries:
        return
    if not holds_run:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise RunFolderError(f"{folder}: not empty and holds no run ({shown}); choose a new or empty folder")
    if mode == "new":
        raise RunFolderError(
            f"{folder}: already holds {describe_run(folder)}; continue it with --resume {folder}, "
            "replace it with --overwrite, or choose another --out"
        )


def claim_run_folder(folder: str | os.PathLike, mode: str = "new") -> OwnerLock:
    """Take the folder's owner lock for writing a run in ``mode``; RunFolderError (one line) when refused."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    folder = Path(folder)
    _check_folder(folder)
    if (folder / OWNER_FILE).is_file() and is_held(folder / OWNER_FILE):
        raise RunFolderError(f"{folder}: being trained by {_holder(folder)}; wait for it or stop it first")
    _refuse_contents(folder, mode)  # before the lock file is created: a foreign folder gets nothing of ours
    owner = OwnerLock(folder)
    try:
        acquired = owner.acquire()
    except OSError as exc:
        raise RunFolderError(f"{folder}: cannot be written ({exc.strerror or exc})") from exc
    if not acquired:
        raise RunFolderError(f"{folder}: being trained by {_holder(folder)}; wait for it or stop it first")
    try:
        _refuse_contents(folder, mode)  # again, now that nobody else can write it
        if mode == "overwrite":
            _clear(folder)
    except BaseException:
        owner.release()
        raise
    return owner


def _clear(folder: Path) -> None:
    """Remove everything of the old run (we hold its lock), keeping only the lock file itself."""
    for entry in folder.iterdir():
        if entry.name == OWNER_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
