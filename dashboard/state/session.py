"""Per-user training state: one background trainer per browser session, and the runs folder.

A ``TrainingSession`` lives in ``st.session_state`` (never in a shared cache), so two
browser tabs never share a network. It runs the engine's ``Trainer`` in a daemon thread
and exposes a copy of its progress for the page to poll. The engine commits a task in
one step, so a stop (or any error) drops only the task in flight.

Set ``DEN_SYNC_TRAINING=1`` to train in the calling thread instead (used by AppTest, so a
click has finished training when the script run ends).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

from den_engine import Callbacks, ConfigError, DENConfig, DENError, Trainer, TrainingDiverged, TrainingStopped
from den_engine.core import budget
from den_engine.core.config import PRESETS, parse_value, preset
from den_engine.data.benchmarks import BENCHMARKS, BenchmarkError
from den_engine.methods import get_method, method_names
from den_engine.records.claim import RunFolderError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO_ROOT / "assets" / "runs"
DEFAULT_EXAMPLE = "digits-den-fast"
METHODS = tuple(method_names())
"""Methods the Train page offers: DEN, its ablations and every baseline the engine registers."""

STAGE_WORDS = {
    "starting": "starting",
    "loading": "loading the benchmark",
    "sparse_training": "training the first network with L1 sparsity",
    "train_head": "training the new task's output head alone (Eq. 3)",
    "selective_retraining": "selectively retraining the units that reach the new task (Eq. 4)",
    "expansion": "adding k units per layer, pruning them with group sparsity (Eq. 5)",
    "pre_split_retraining": "retraining before measuring drift (Eq. 6, the paper's order)",
    "split_retraining": "splitting drifted units and retraining (Eq. 6)",
}


def preset_config(name: str, benchmark: str, config_class: type | None = None, **overrides):
    """The preset's config for ``benchmark``: the one place the dashboard reads preset values."""
    return preset(name, config_class, benchmark=benchmark, **overrides)


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


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to start a run: the config, the task sequence and where to save it."""

    config: DENConfig  # or a baseline's config class
    benchmark: str
    n_tasks: int
    runs_dir: Path
    method: str = "den"


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


def build_spec(values: dict, runs_dir: Path) -> RunSpec:
    """Validate the Train page's raw values into a RunSpec; ConfigError/BenchmarkError name the field."""
    method = values.get("method", "den")
    if method not in METHODS:
        raise ConfigError("method", f"unknown method {method!r}; choose one of {list(METHODS)}")
    name = values.get("benchmark")
    if name not in BENCHMARKS:
        raise BenchmarkError(f"benchmark name {name!r} is unknown; choose one of {list(BENCHMARKS)}")
    n_tasks = values.get("n_tasks")
    if not isinstance(n_tasks, int) or not 1 <= n_tasks <= BENCHMARKS[name].max_tasks:
        raise BenchmarkError(f"n_tasks={n_tasks!r} is invalid for {name!r}; use 1 to {BENCHMARKS[name].max_tasks}")
    base_name = values.get("preset", "fast")
    if base_name not in PRESETS:
        raise ConfigError("preset", f"unknown preset {base_name!r}; choose one of {sorted(PRESETS)}")
    config_class = get_method(method).config_class
    known = {f.name for f in fields(config_class)}
    # a baseline ignores DEN's own hyperparameters (tau, sigma, k, ...) but keeps the budget
    params = {
        field: parse_value(field, str(text), config_class)
        for field, text in values.get("params", {}).items()
        if field in known
    }
    params["hidden_sizes"] = parse_value("hidden_sizes", str(values.get("hidden_sizes", "")))
    base = preset_config(base_name, name, config_class)
    changed = any(getattr(base, field) != value for field, value in params.items())
    config = preset_config(
        base_name,
        name,
        config_class,
        **params,
        seed=values.get("seed", 0),
        device=values.get("device", "auto"),
        preset=f"{base_name}-custom" if changed else base_name,
    )
    input_dim = 1
    for n in BENCHMARKS[name].input_shape:
        input_dim *= n
    device = config.device if config.device != "auto" else ("cuda" if _has_cuda() else "cpu")
    budget.check_fits(config, input_dim, n_tasks, device)
    return RunSpec(config, name, n_tasks, Path(runs_dir), method)


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def spec_of_record(record: dict, run_dir: str | Path) -> RunSpec:
    """The RunSpec a saved run was trained with (for resuming it)."""
    method = record.get("method", "den")
    config = get_method(method).config_class.from_dict(record["config"])
    bench = record["benchmark"]
    return RunSpec(config, bench["name"], int(bench["n_tasks"]), Path(run_dir).parent, method)


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
        self._status = Status()

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
            self.trainer = None
            self._status = Status(version=self._status.version + 1)
        return True

    def resume(self, run_dir: str | Path) -> int:
        """Take over a saved, unfinished run nobody is training; returns its finished tasks.

        Raises ValueError while a job runs or when another trainer holds the run.
        """
        if self.busy:
            raise ValueError("a task is training; stop it before resuming another run")
        callbacks = Callbacks(
            on_progress=self._on_progress, on_task_end=self._on_task_end, should_stop=self._stop.is_set
        )
        try:
            trainer = Trainer.resume(run_dir, callbacks)  # claims the folder: refused while another trainer holds it
        except RunFolderError as exc:
            raise ValueError(f"{Path(run_dir).name} is being trained by another session or process") from exc
        try:
            spec = spec_of_record(trainer.record, run_dir)
        except BaseException:
            trainer.close()
            raise
        self._release()
        with self._lock:
            self.trainer = trainer
            self._status = Status(version=self._status.version + 1, spec=spec, run_dir=str(run_dir))
            self._status.n_tasks, self._status.tasks_done = len(trainer.benchmark.tasks), trainer.tasks_done
        return trainer.tasks_done

    def _release(self) -> None:
        if self.trainer is not None:
            self.trainer.close()

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
        if current is not None and (current.tasks_done > 0 or self._status.spec == spec):
            return current  # an unfinished run goes on with its own config
        with self._lock:
            self._status.stage = "loading"
        out_dir = new_run_dir(spec.runs_dir, spec.benchmark, spec.method, spec.config.run_id())
        callbacks = Callbacks(
            on_progress=self._on_progress, on_task_end=self._on_task_end, should_stop=self._stop.is_set
        )
        trainer = Trainer(  # claims the fresh folder: the trainer holds it until it is closed
            spec.config, spec.benchmark, spec.n_tasks, out_dir=out_dir, callbacks=callbacks, method=spec.method
        )
        self._release()
        with self._lock:
            self.trainer = trainer
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
            elif self._stop.is_set():
                message = ("warning", f"Stopped; {kept}.")
            else:
                total = len(trainer.benchmark.tasks)
                done_all = " The sequence is complete; Reset starts a new run." if trainer.finished else ""
                message = ("success", f"Learned task {n} of {total}.{done_all}")
        except TrainingStopped:
            n = self.trainer.tasks_done if self.trainer else 0
            message = ("warning", f"Stopped: task {n + 1} was dropped; {_kept(n)}.")
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
        with self._lock:
            s = self._status
            s.busy, s.message, s.details, s.stage = False, message, details, ""
            if self.trainer is not None:
                s.tasks_done = self.trainer.tasks_done
            s.version += 1
