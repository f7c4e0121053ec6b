"""Per-user training state: one Train run per browser session, trained by the server's worker pool.

A ``TrainingSession`` lives in ``st.session_state`` (never in a shared cache), so two
browser tabs never share a network. A click becomes a job of the pool
(``dashboard.workers.pool``): it waits its session's turn, then a worker process trains
one task at a time into the run's folder and reports progress here, where the page reads
a consistent copy (``status``). The web server itself never trains. The engine commits a
task in one step, so a stop (or any error) drops only the task in flight.

The worker holds the run folder's owner lock only while it trains a task: between tasks
and clicks the run is free, so a tab that closed (or sits idle) never blocks anyone from
resuming it; a worker reloads the run from disk if someone else trained it meanwhile. A
job whose tab has gone away is dropped or stopped by the pool (``liveness.Watchdog``).

Set ``DEN_SYNC_TRAINING=1`` to run the same units in the calling thread instead (used by
AppTest, so a click has finished training when the script run ends).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dashboard.state.job_messages import end_message, queue_words  # noqa: F401 - the pages import queue_words
from dashboard.state.liveness import Watchdog
from dashboard.state.run_settings import (  # noqa: F401 - the pages import these from here
    METHODS,
    RunSpec,
    build_spec,
    preset_config,
    spec_of_record,
)
from dashboard.workers.pool import Job, JobPool, Outcome, get_pool, run_inline
from den_engine import Trainer
from den_engine.records.claim import RunFolderError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO_ROOT / "assets" / "runs"
DEFAULT_EXAMPLE = "digits-den-fast"

STAGE_WORDS = {
    "queued": "waiting for a free trainer",
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
    if str(benchmark).lower().endswith(".npz"):  # a data file in the runs folder: the run is named by its stem
        benchmark = Path(benchmark).stem
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
    queued: tuple[int, float] | None = None
    """While the job waits for a worker: (jobs that start before it, estimated seconds until it starts)."""


@dataclass
class RunRef:
    """What the server knows of a Train run that the workers train: its folder and how far it got."""

    out_dir: Path
    tasks_done: int
    n_tasks: int
    finished: bool = False


POLL_TRAINING_S = 0.5
"""How often a page asks for the progress of a job that trains (the bar moves smoothly)."""
POLL_QUEUED_S = 2.0
"""How often a page asks about a job that waits for a worker: its place in line changes slowly, and with
thirty tabs waiting, polls at the training rate would keep the web server busy doing nothing else."""


def poll_seconds(status: Status) -> float | None:
    """The progress fragment's interval for this state: None when no job waits or trains."""
    if not status.busy:
        return None
    return POLL_QUEUED_S if status.queued is not None else POLL_TRAINING_S


def owner_key() -> str:
    """Whose job it is for the fair queue: the browser session running this script (a fresh id outside one)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
    except ImportError:  # pragma: no cover - Streamlit is a dependency of the dashboard
        ctx = None
    return ctx.session_id if ctx is not None else uuid.uuid4().hex


class TrainingSession:
    """One user's Train run, trained by the worker pool (or inline when ``sync``)."""

    kind = "train"

    def __init__(self, sync: bool | None = None, pool: JobPool | None = None) -> None:
        self.sync = sync_training() if sync is None else sync
        self._pool = pool
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._job: Job | None = None
        self._cache: dict = {}  # the inline units' loaded runs (sync only)
        self.trainer = None
        """The run: a RunRef here, a PairTrainer on the Learn page; None before the first task."""
        self._resumed = False  # the run was taken over from disk: it goes on whatever the settings say
        self._pending: tuple | None = None  # (spec, folder) of a run a worker is creating
        self._trained = 0  # tasks the current job has learned
        self._job_started = False  # a unit of the current job has started on a worker
        self._status = Status()
        self.owner = owner_key()
        self.connected: Callable[[], bool] | None = None
        """Set by the page: whether the browser tab of this session is still connected."""
        self._watchdog = Watchdog(None)

    @property
    def pool(self) -> JobPool:
        """The pool this session's jobs go to (the server's own unless a test gave one)."""
        return self._pool or get_pool()

    # --- reading -----------------------------------------------------------------

    def status(self) -> Status:
        """A copy of the current state (safe to read while training runs)."""
        job = self._job
        queued = self.pool.place(job) if job is not None and not self.sync and not job.finished.is_set() else None
        with self._lock:
            s = self._status
            copy = Status(**{**s.__dict__, "extra": dict(s.extra)})
        copy.queued = queued if copy.busy else None
        return copy

    @property
    def busy(self) -> bool:
        """True while a training job waits or runs."""
        with self._lock:
            return self._status.busy

    @property
    def stopping(self) -> bool:
        """True between a Stop and the end of the job it stops."""
        return self.busy and self._stop.is_set()

    def wait(self, timeout: float) -> bool:
        """Block until the job ends (True) or ``timeout`` seconds pass (False)."""
        job = self._job
        return True if job is None else job.wait(timeout)

    # --- commands ----------------------------------------------------------------

    def submit(self, spec, count: int | None, pause_s: float = 0.0) -> bool:
        """Train ``count`` more tasks (None = all remaining); False if a job is already waiting or running."""
        with self._lock:
            if self._status.busy:
                return False
            self._status.busy = True
            self._status.message = None
            self._status.details = ""
            s = self._status
            s.stage, s.iteration, s.total, s.loss, s.task = "queued", 0, 0, None, 0
        self._stop.clear()
        self._watchdog = Watchdog(None if self.sync else self.connected)
        self._trained, self._job_started = 0, False

        def unit_done(result: dict) -> bool:
            if result.get("trained", not result.get("stopped")):
                self._trained += 1
            finished = self._take_result(result)
            return not finished and (count is None or self._trained < count) and not self._stop.is_set()

        job = Job(self.owner, self.kind, lambda: self._payload(spec), self._on_message, unit_done, self._on_end,
                  gone=self._watchdog.check, pause_s=pause_s, unit_guess_s=self._unit_guess(spec))  # fmt: skip
        self._job = job
        if self.sync:
            run_inline(job, self._cache, self._stop)
        else:
            self.pool.submit(job)
        return True

    def stop(self) -> None:
        """Drop the waiting job at once, or stop the running one at its next step (its task is dropped)."""
        self._stop.set()
        job = self._job
        if job is not None and not self.sync and not job.finished.is_set():
            self.pool.stop(job)
        elif not self.sync:
            log.info("stop asked by session %s with no job in flight", self.owner[:8])

    def reset(self) -> bool:
        """Forget the run (it stays on disk); False while a job waits or runs."""
        with self._lock:
            if self._status.busy:
                return False
            self.trainer, self._resumed, self._pending = None, False, None
            self._status = Status(version=self._status.version + 1)
        return True

    def resume(self, run_dir: str | Path) -> int:
        """Take over a saved, unfinished run nobody is training; returns its finished tasks.

        Raises ValueError while a job runs or when another trainer holds the run. The run is
        checked here; each task a worker trains claims it again.
        """
        if self.busy:
            raise ValueError("a task is training; stop it before resuming another run")
        try:
            trainer = Trainer.resume(run_dir)  # claims it: refused while another trainer holds it
        except RunFolderError as exc:
            raise ValueError(f"{Path(run_dir).name} is being trained by another session or process") from exc
        try:
            spec = spec_of_record(trainer.record, run_dir)
        finally:
            trainer.close()  # free until a job trains it
        if trainer.finished:
            raise ValueError(f"{Path(run_dir).name} has learned all its tasks; there is nothing to resume")
        n_tasks = len(trainer.benchmark.tasks)
        with self._lock:
            self.trainer = RunRef(Path(run_dir), trainer.tasks_done, n_tasks)
            self._resumed, self._pending = True, None
            self._status = Status(version=self._status.version + 1, spec=spec, run_dir=str(run_dir))
            self._status.n_tasks, self._status.tasks_done = n_tasks, trainer.tasks_done
        return trainer.tasks_done

    # --- the job's side, on the pool's threads ---------------------------------------------

    def _unit_guess(self, spec) -> float:
        """Seconds one task may take, for the queue's estimate before the pool has measured any."""
        try:
            from dashboard.state.run_settings import input_dim
            from den_engine.core import budget

            return budget.estimate_seconds(spec.config, input_dim(spec.benchmark), 1)
        except Exception:  # noqa: BLE001 - a guess only: the pool replaces it with measured times
            return 5.0

    def _payload(self, spec) -> dict:
        """The next task's unit: the run this session trains, or a fresh folder for a new one."""
        with self._lock:
            run = self.trainer
            if run is not None and (run.tasks_done > 0 or self._status.spec == spec or self._resumed):
                return {"spec": spec, "run_dir": str(run.out_dir), "create": False}  # goes on with its own config
            self._status.stage = "loading"
        out_dir = new_run_dir(spec.runs_dir, spec.benchmark, spec.method, spec.config.run_id())
        with self._lock:
            self._pending = (spec, out_dir)
        return {"spec": spec, "run_dir": str(out_dir), "create": True}

    def _on_message(self, kind: str, data) -> None:
        if kind == "progress":
            self._on_progress(*data)
        elif kind == "task_start":
            with self._lock:
                self._status.task = int(data)
                self._started_job()
        elif kind == "task":
            self._on_task_end(data)
        elif kind == "created":
            self._on_created(data)

    def _started_job(self) -> None:
        """Under the lock, when a unit starts: the job's first unit makes the page redraw once, so it polls
        at the training rate from now on (``poll_seconds``); a queued job's page polls slowly."""
        if not self._job_started:
            self._job_started = True
            self._status.version += 1

    def _on_created(self, data: dict) -> None:
        with self._lock:
            spec, out_dir = self._pending
            self.trainer, self._resumed, self._pending = RunRef(out_dir, 0, data["n_tasks"]), False, None
            s = self._status
            s.spec, s.run_dir, s.n_tasks, s.tasks_done = spec, str(out_dir), data["n_tasks"], 0
            s.version += 1

    def _on_progress(self, stage: str, iteration: int, total: int, loss: float) -> None:
        with self._lock:
            s = self._status
            s.stage, s.iteration, s.total, s.loss = stage, iteration, total, loss

    def _on_task_end(self, snapshot: dict) -> None:
        with self._lock:
            self._status.tasks_done = snapshot["task"]
            if self.trainer is not None:
                self.trainer.tasks_done = snapshot["task"]
            self._status.version += 1

    def _take_result(self, result: dict) -> bool:
        """A unit's result: the run as the worker left it. True when the run has learned every task."""
        with self._lock:
            run = self.trainer
            run.tasks_done, run.n_tasks, run.finished = result["tasks_done"], result["n_tasks"], result["finished"]
            self._status.tasks_done, self._status.n_tasks = run.tasks_done, run.n_tasks
            return run.finished

    def _end_message(self, outcome: Outcome) -> tuple[str, str]:
        """What the page says once a job has ended."""
        s = self._status
        finished = self.trainer is not None and self.trainer.finished
        return end_message(outcome, s.tasks_done, s.n_tasks, s.run_dir, finished, self._trained)

    def _on_end(self, outcome: Outcome) -> None:
        error = outcome.error or {}
        if outcome.how == "error" and self.sync and not error.get("user") and error.get("trace"):
            log.error("a training unit failed:\n%s", error["trace"])
        elif outcome.how == "error":
            log.warning("training failed: %s: %s", error.get("type"), error.get("message"))
        with self._lock:
            message = self._end_message(outcome)
            s = self._status
            s.busy, s.message, s.details, s.stage = False, message, "", ""
            s.version += 1
