"""Ready loggers that follow a run while it trains: a TensorBoard event file and a CSV log.

Pass them in ``Callbacks(loggers=[...])``; the trainer calls ``begin(record)`` before each
task and each logger's ``on_progress``, ``on_event`` and ``on_task_end`` beside the caller's
own hooks. Every write is appended and flushed at once, so a reader sees a task's numbers
as soon as the task is saved, not when the run ends.

Two kinds of steps, with the same tags in both files:

``train_loss/<stage>``  the mean training loss at every progress report of a stage; step =
                        optimisation steps taken so far in the run (a resumed run counts on
                        from its finished tasks)
every per-task tag of   ``R_<metric>_<split>/task_NN`` (the R matrix, one curve per task),
``den export``          ``average/*``, ``params/*``, ``units/*``, ``sparsity/*``, ``loss/*``; step = task
"""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

from den_engine.core.errors import DENError
from den_engine.records.outputs import check_path
from den_engine.records.store import RUN_FILE
from den_engine.records.tables import decision_rows
from den_engine.records.tensorboard import FILE_VERSION, event_record, scalar_value, task_scalars, task_values

KINDS = ("tensorboard", "csv")
CSV_COLUMNS = ("run_id", "task", "tag", "step", "value", "wall_time")


def _writable_ancestor(path: Path) -> str | None:
    """Why ``path`` could not be created here (nearest existing ancestor not a writable folder), or None."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                return "a part of this path is a file, not a folder"
            return None if os.access(folder, os.W_OK | os.X_OK) else "permission denied"
    return None


def check_target(kind: str, path: str | os.PathLike) -> Path:
    """``path`` for a logger of ``kind``, checked without writing anything; a DENError naming ``--log``."""
    flag = f"--log {kind}"
    if kind not in KINDS:
        raise DENError(f"--log: unknown kind {kind!r}; choose one of {', '.join(KINDS)} (e.g. --log tensorboard DIR)")
    target = check_path(str(path), flag, "folder" if kind == "tensorboard" else "file")
    if kind == "tensorboard":
        if target.exists() and not target.is_dir():
            raise DENError(f"{flag} {target}: is a file, not a folder")
        reason = _writable_ancestor(target)
    else:
        if target.is_dir():
            raise DENError(f"{flag} {target}: is a folder; give a file name, e.g. {flag} log.csv")
        if target.name == RUN_FILE:
            raise DENError(f"{flag} {target}: is a run's record's name; give another file name")
        reason = _writable_ancestor(target.parent)
        if reason is None and target.exists() and not os.access(target, os.W_OK):
            reason = "permission denied"
    if reason:
        raise DENError(f"{flag} {target}: cannot write here ({reason})")
    return target


class _Logger:
    """Turns the trainer's hooks into (tag, step, value) rows; subclasses write them."""

    def __init__(self) -> None:
        self.record: dict | None = None
        self.task = 0
        self._done = 0  # optimisation steps of the stages finished before the current one
        self._stage: tuple[str, int] | None = None  # (stage, last iteration reported)

    def begin(self, record: dict) -> None:
        """Follow ``record`` (the trainer's own, updated in place); called before every task."""
        if self.record is not record:
            self.record = record
            self._done = sum(
                e.get("iterations") or 0 for s in record["tasks"] for e in s["events"] if e.get("type") == "stage_end"
            )
            self._stage = None
            self._start(record)
        self.task = len(record["tasks"]) + 1

    def on_progress(self, stage: str, iteration: int, total: int, loss: float) -> None:
        """A stage's mean training loss since the last report."""
        if self._stage is not None and (self._stage[0] != stage or iteration <= self._stage[1]):
            self._done += self._stage[1]  # a new stage began: the last one's steps are done
        self._stage = (stage, iteration)
        self._scalars(self.task, self._done + iteration, {f"train_loss/{stage}": loss})

    def on_event(self, event: dict) -> None:
        """Events are logged with their task (``on_task_end``); nothing to do here."""

    def on_task_end(self, snapshot: dict) -> None:
        """Every per-task scalar of the finished task, at step = task."""
        if self._stage is not None:
            self._done += self._stage[1]
            self._stage = None
        self._task_end(snapshot)

    def _start(self, record: dict) -> None:
        """First write for a newly followed run."""

    def _scalars(self, task: int, step: int, values: dict[str, float]) -> None:
        raise NotImplementedError

    def _task_end(self, snapshot: dict) -> None:
        self._scalars(snapshot["task"], snapshot["task"], task_scalars(self.record or {}, snapshot))


class TensorBoardLogger(_Logger):
    """Appends to a TensorBoard event file in ``folder`` while the run trains (no TensorFlow needed)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        """Log into ``folder`` (created at the first write); nothing is written before the run starts."""
        super().__init__()
        self.folder = check_target("tensorboard", folder)
        self.path: Path | None = None

    def _write(self, data: bytes) -> None:
        with open(self.path, "ab") as handle:
            handle.write(data)
            handle.flush()

    def _start(self, record: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # "tfevents" makes TensorBoard read it; ".live" keeps it apart from a later `den export tensorboard`
        name = f"events.out.tfevents.{int(time.time())}.den-{record.get('run_id', 'run')}.live"
        self.path = self.folder / name
        self._write(event_record(time.time(), 0, file_version=FILE_VERSION))

    def _scalars(self, task: int, step: int, values: dict[str, float]) -> None:
        self._write(event_record(time.time(), step, [scalar_value(tag, v) for tag, v in values.items()]))

    def _task_end(self, snapshot: dict) -> None:
        record = self.record or {"tasks": [snapshot]}
        decisions = decision_rows({"tasks": [snapshot]})
        self._write(event_record(time.time(), snapshot["task"], task_values(record, snapshot, decisions, True)))


class CSVLogger(_Logger):
    """Appends rows ``run_id, task, tag, step, value, wall_time`` to a CSV file while the run trains."""

    def __init__(self, file: str | os.PathLike) -> None:
        """Log into ``file`` (created at the first write, appended to when it exists)."""
        super().__init__()
        self.file = check_target("csv", file)

    def _start(self, record: dict) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        if not self.file.exists() or self.file.stat().st_size == 0:
            self._append([CSV_COLUMNS])

    def _append(self, rows: list) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        with open(self.file, "a", encoding="utf-8", newline="") as handle:
            handle.write(text.getvalue())
            handle.flush()

    def _scalars(self, task: int, step: int, values: dict[str, float]) -> None:
        run_id = (self.record or {}).get("run_id", "")
        now = f"{time.time():.3f}"
        self._append([(run_id, task, tag, step, repr(float(v)), now) for tag, v in values.items()])


def logger(kind: str, path: str | os.PathLike) -> _Logger:
    """A logger of ``kind`` ('tensorboard' or 'csv') writing to ``path``; a DENError names a bad one."""
    check_target(kind, path)
    return TensorBoardLogger(path) if kind == "tensorboard" else CSVLogger(path)
