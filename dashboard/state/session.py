"""Per-user training state: one background trainer per browser session, and the runs folder.

A ``TrainingSession`` lives in ``st.session_state`` (never in a shared cache), so two
browser tabs never share a network. It runs the engine's ``Trainer`` in a daemon thread
and exposes a copy of its progress for the page to poll. The engine commits a task in
one step, so a stop (or any error) drops only the task in flight.

A session holds its run folder's owner lock only while a job trains it: between clicks the
run is free, so a tab that closed (or sits idle) never blocks anyone from resuming the run.
The next job takes the lock again, and reloads the run from disk if someone else trained it
meanwhile. A job whose tab has gone away stops by itself (``liveness.Watchdog``).

Set ``DEN_SYNC_TRAINING=1`` to train in the calling thread instead (used by AppTest, so a
click has finished training when the script run ends).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dashboard.state.liveness import Watchdog
from dashboard.state.run_settings import (  # noqa: F401 - the pages import these from here
    METHODS,
    RunSpec,
    build_spec,
    preset_config,
    spec_of_record,
)
from den_engine import Callbacks, DENError, Trainer, TrainingDiverged, TrainingStopped
from den_engine.data.benchmarks import BenchmarkError
from den_engine.records.claim import RunFolderError, claim_run_folder
from den_engine.records.store import RUN_FILE

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO_ROOT / "assets" / "runs"
DEFAULT_EXAMPLE = "digits-den-fast"

STAGE_WORDS = {
    "starting": "starting",
    "loading": "loading the benchmark",
    "sparse_training": "training the first network with L1 sparsity",
    "train_head": "training the new task's output head alone (Eq. 3)",
    "selective_retraining": "selectively retraining the units that reach the new task (Eq. 4)",
    "expansion": "adding k units per layer, pruning them with group sparsity (Eq. 5)",
    "split_retraining": "splitting drifted units and retraining (Eq. 6)",
}


def sync_training() -> bool:
    """True when DEN_SYNC_TRAINING asks for training inside the script run (tests)."""
    return os.environ.get("DEN_SYNC_TRAINING", "").strip().lower() in ("1", "true", "yes")


def examples_dir() -> Path:
    """Folder of shipped example runs (DEN_EXAMPLES_DIR overrides assets/runs)."""
    return Path(os.environ.get("DEN_EXAMPLES_DIR") or EXAMPLES_DIR).expanduser().resolve()


def runs_root() -> Path:
    """Folder that saved runs go into (DEN_RUNS_DIR, else runs/ in the repository)."""
    return Path(os.environ.get("DEN_RUNS_DIR") or REPO_ROOT / "runs").expanduser().resolve()


def resolve_runs_dir(text: str, root: Path | None = None) -> Path:
    """The runs folder typed by the user; a ValueError when it lies outside ``root``."""
    root = (root or runs_root()).resolve()
    text = (text or "").strip()
    bad = next((c for c in text if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:  # the OS would refuse it with "embedded null byte" or worse
        raise ValueError(f"runs folder: {text[:40]!r} contains the control character {bad!r}; type a folder name "
                         "without it")  # fmt: skip
    path = Path(text).expanduser() if text else root
    path = path if path.is_absolute() else root / path
    if len(str(path).encode()) > 4000 or any(len(part.encode()) > 255 for part in path.parts):
        raise ValueError(f"runs folder: {text[:40]!r}… is too long; each folder name may have at most 255 characters")
    path = path.resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"runs folder: {text!r} is outside {root}; set DEN_RUNS_DIR to save elsewhere")
    return path


def new_run_dir(runs_dir: Path, benchmark: str, method: str, run_id: str) -> Path:
    """A fresh directory name ``<benchmark>-<method>-<run_id>-<timestamp>`` inside ``runs_dir``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{benchmark}-{method}-{run_id}-{stamp}")
    runs_dir = Path(runs_dir).resolve()
    candidate, n = runs_dir / base, 1
    while candidate.exists():
        n += 1
        candidate = runs_dir / f"{base}-{n}"
    if not candidate.resolve().is_relative_to(runs_dir):
        raise ValueError(f"run directory {candidate} escapes the runs folder {runs_dir}")
    return candidate


@dataclass
class Status:
    """A consistent copy of a session's state for one page render."""

    busy: bool = False
    stage: str = ""
    task: int = 0
    iteration: int = 0
    total: int = 0
    loss: float | None = None
    tasks_done: int = 0
    n_tasks: int = 0
    run_dir: str | None = None
    spec: RunSpec | None = None
    message: tuple[str, str] | None = None  # (kind: success|info|warning|error, text)
    details: str = ""
    version: int = 0
    extra: dict = field(default_factory=dict)


def _kept(n: int) -> str:
    return "no task had finished yet" if n == 0 else "task 1 is kept" if n == 1 else f"tasks 1–{n} are kept"


class TrainingSession:
    """One user's trainer, trained in a background thread (or inline when ``sync``)."""

    def __init__(self, sync: bool | None = None) -> None:
        self.sync = sync_training() if sync is None else sync
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.trainer: Trainer | None = None
        self._stamp: tuple[int, int] | None = None  # run.json as this session last left it
        self._resumed = False  # the trainer was taken over from disk: it goes on whatever the settings say
        self._status = Status()
        self.connected: Callable[[], bool] | None = None
        """Set by the page: whether the browser tab of this session is still connected."""
        self._watchdog = Watchdog(None)

    # --- reading -----------------------------------------------------------------

    def status(self) -> Status:
        """A copy of the current state (safe to read while training runs)."""
        with self._lock:
            s = self._status
            return Status(**{**s.__dict__, "extra": dict(s.extra)})

    @property
    def busy(self) -> bool:
        """True while a training job is running."""
        with self._lock:
            return self._status.busy

    @property
    def stopping(self) -> bool:
        """True between a Stop and the end of the job it stops."""
        return self.busy and self._stop.is_set()

    def wait(self, timeout: float) -> bool:
        """Block until the running job ends (True) or ``timeout`` seconds pass (False)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # --- commands ----------------------------------------------------------------

    def submit(self, spec: RunSpec, count: int | None) -> bool:
        """Train ``count`` more tasks (None = all remaining); False if a job is running."""
        with self._lock:
            if self._status.busy:
                return False
            self._status.busy = True
            self._status.message = None
            self._status.details = ""
            s = self._status
            s.stage, s.iteration, s.total, s.loss, s.task = "starting", 0, 0, None, 0
        self._stop.clear()
        self._watchdog = Watchdog(None if self.sync else self.connected)
        if self.sync:
            self._job(spec, count)
        else:
            self._thread = threading.Thread(target=self._job, args=(spec, count), daemon=True, name="den-trainer")
            self._thread.start()
        return True

    def stop(self) -> None:
        """Ask the running job to stop at the next step boundary (its task is dropped)."""
        self._stop.set()

    def reset(self) -> bool:
        """Forget the trainer (its saved run stays on disk); False while a job is running."""
        with self._lock:
            if self._status.busy:
                return False
            self._release()
            self.trainer, self._stamp, self._resumed = None, None, False
            self._status = Status(version=self._status.version + 1)
        return True

    def resume(self, run_dir: str | Path) -> int:
        """Take over a saved, unfinished run nobody is training; returns its finished tasks.

        Raises ValueError while a job runs or when another trainer holds the run. The run is
        checked and loaded here; the lock is taken again by each job that trains it.
        """
        if self.busy:
            raise ValueError("a task is training; stop it before resuming another run")
        try:
            trainer = Trainer.resume(run_dir, self._callbacks())  # claims it: refused while another trainer holds it
        except RunFolderError as exc:
            raise ValueError(f"{Path(run_dir).name} is being trained by another session or process") from exc
        try:
            spec = spec_of_record(trainer.record, run_dir)
        finally:
            trainer.close()  # free until a job trains it
        if trainer.finished:
            raise ValueError(f"{Path(run_dir).name} has learned all its tasks; there is nothing to resume")
        self._release()
        with self._lock:
            self.trainer, self._stamp, self._resumed = trainer, _stamp(run_dir), True
            self._status = Status(version=self._status.version + 1, spec=spec, run_dir=str(run_dir))
            self._status.n_tasks, self._status.tasks_done = len(trainer.benchmark.tasks), trainer.tasks_done
        return trainer.tasks_done

    def _release(self) -> None:
        """Free the run folder (the trainer stays in memory for the next job)."""
        if self.trainer is not None:
            self.trainer.close()

    def _callbacks(self) -> Callbacks:
        return Callbacks(on_progress=self._on_progress, on_task_end=self._on_task_end, should_stop=self._should_stop)

    def _should_stop(self) -> bool:
        """Stop when asked, or when the tab that started the job has gone (nobody would see it)."""
        if not self._stop.is_set() and self._watchdog.check():
            log.warning("the browser tab of a training job went away; stopping it so the run can be resumed")
            self._stop.set()
        return self._stop.is_set()

    def _claim(self, trainer: Trainer) -> Trainer:
        """Claim the trainer's run folder for this job; reload the run if another trainer changed it meanwhile."""
        run_dir = trainer.out_dir
        if run_dir is None or trainer.owner is not None:
            return trainer
        try:
            owner = claim_run_folder(run_dir, "resume")
            if _stamp(run_dir) != self._stamp:  # resumed and trained elsewhere since our last task
                owner.release()
                trainer = Trainer.resume(run_dir, self._callbacks())
            else:
                trainer.owner = owner
        except RunFolderError as exc:
            raise ValueError(f"{run_dir.name} is being trained by another session or process now; "
                             "Reset starts a new run of your own") from exc  # fmt: skip
        with self._lock:
            self.trainer = trainer
            self._status.n_tasks, self._status.tasks_done = len(trainer.benchmark.tasks), trainer.tasks_done
            self._status.version += 1
        return trainer

    def _unclaim(self) -> None:
        """After a job: remember how the run was left, and free its folder for anyone."""
        trainer = self.trainer
        if trainer is not None and getattr(trainer, "owner", None) is not None and trainer.out_dir is not None:
            self._stamp = _stamp(trainer.out_dir)
        self._release()

    # --- the job -----------------------------------------------------------------

    def _on_progress(self, stage: str, iteration: int, total: int, loss: float) -> None:
        with self._lock:
            s = self._status
            s.stage, s.iteration, s.total, s.loss = stage, iteration, total, loss

    def _on_task_end(self, snapshot: dict) -> None:
        with self._lock:
            self._status.tasks_done = snapshot["task"]
            self._status.version += 1

    def _trainer_for(self, spec: RunSpec) -> Trainer:
        current = self.trainer
        if current is not None and (current.tasks_done > 0 or self._status.spec == spec or self._resumed):
            return self._claim(current)  # an unfinished (or resumed) run goes on with its own config
        with self._lock:
            self._status.stage = "loading"
        out_dir = new_run_dir(spec.runs_dir, spec.benchmark, spec.method, spec.config.run_id())
        trainer = Trainer(  # claims the fresh folder and holds it until the job ends
            spec.config, spec.benchmark, spec.n_tasks, out_dir=out_dir, callbacks=self._callbacks(),
            method=spec.method,
        )  # fmt: skip
        self._release()
        with self._lock:
            self.trainer, self._stamp, self._resumed = trainer, None, False
            self._status.spec, self._status.run_dir = spec, str(out_dir)
            self._status.n_tasks, self._status.tasks_done = len(trainer.benchmark.tasks), 0
            self._status.version += 1
        return trainer

    def _job(self, spec: RunSpec, count: int | None) -> None:
        message, details, done = None, "", 0
        try:
            trainer = self._trainer_for(spec)
            while not trainer.finished and (count is None or done < count) and not self._stop.is_set():
                with self._lock:
                    self._status.task = trainer.tasks_done + 1
                trainer.train_next()
                done += 1
            n = trainer.tasks_done
            kept = _kept(n)
            if trainer.finished and done == 0:
                message = ("info", f"All {n} tasks are learned. Press Reset to start a new run.")
            elif self._watchdog.gone:
                message = ("warning", f"Stopped because this tab was closed; {kept}.")
            elif self._stop.is_set():
                message = ("warning", f"Stopped; {kept}.")
            else:
                total = len(trainer.benchmark.tasks)
                done_all = " The sequence is complete; Reset starts a new run." if trainer.finished else ""
                message = ("success", f"Learned task {n} of {total}.{done_all}")
        except TrainingStopped:
            n = self.trainer.tasks_done if self.trainer else 0
            why = " because this tab was closed" if self._watchdog.gone else ""
            message = ("warning", f"Stopped{why}: task {n + 1} was dropped; {_kept(n)}.")
        except TrainingDiverged as exc:
            log.warning("training diverged: %s", exc)
            message = ("error", f"Task dropped, finished tasks kept: {exc}")
        except (DENError, BenchmarkError, ValueError, OSError) as exc:
            log.warning("training failed: %s: %s", type(exc).__name__, exc)
            message = ("error", str(exc))
        except Exception as exc:  # noqa: BLE001 - a worker thread must never die silently
            log.exception("unexpected error while training")
            message = ("error", f"Unexpected error while training: {type(exc).__name__}: {exc}. "
                                "Finished tasks are kept; the server log has the details.")  # fmt: skip
        self._unclaim()
        with self._lock:
            s = self._status
            s.busy, s.message, s.details, s.stage = False, message, details, ""
            if self.trainer is not None:
                s.tasks_done = self.trainer.tasks_done
            s.version += 1


def _stamp(run_dir: str | Path) -> tuple[int, int] | None:
    """(mtime, size) of a run's run.json: changes whenever any trainer commits a task to it."""
    try:
        info = (Path(run_dir) / RUN_FILE).stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
