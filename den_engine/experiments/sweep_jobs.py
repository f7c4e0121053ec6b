"""Sweep jobs: every combination of a grid of config values, and how one job runs.

``expand_grid`` turns axes (``loss_threshold=0.01,0.1``) and seeds into one ``SweepJob``
per combination; each job's run directory is named by a hash of its method, benchmark,
task count and config, so running the same sweep again finds its runs. ``run_sweep``
reuses a finished run, resumes a partial one (``Trainer.resume``) and trains the rest, on a
backend: ``local`` (worker processes), ``serial`` (this process) or ``ray``
(den_engine.experiments.sweep_ray, imported only then); a folder that holds anything else is
left alone and fails its job (nothing is ever deleted). Every run uses one torch thread, so
a record does not depend on how many ran side by side: serial and parallel sweeps give
identical records for the same seeds. The command line (flags, progress, the ``sweep.md`` /
``sweep.csv`` outcome table) is den_engine.experiments.sweep_cli.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from den_engine.core.config import parse_value, preset
from den_engine.core.errors import ConfigError, DENError, RunFileError, TrainingDiverged, TrainingStopped
from den_engine.core.runner import Callbacks, Trainer, final_metrics
from den_engine.data.benchmarks import BenchmarkError
from den_engine.data.sources import data_info, data_key, record_key
from den_engine.methods import get_method
from den_engine.records.store import RUN_FILE, clean_json, load_run, write_run_json

WORKER_THREADS = 1
"""torch threads per run: records then do not depend on the number of parallel jobs."""

ProgressFn = Callable[[dict], None]
"""Receives {"type": "start"|"task"|"done", "index", ...} as a sweep goes on."""


@dataclass(frozen=True)
class SweepJob:
    """One combination of a sweep: what to train and where its run directory is."""

    index: int
    method: str
    benchmark: str
    n_tasks: int
    config: Any  # the method's frozen config dataclass
    run_dir: str
    values: dict = field(default_factory=dict)  # the grid values of this combination, seed included
    stop: dict | None = None  # a search's early-stopping rule (den_engine.experiments.search_rule.stop_reason)

    @property
    def name(self) -> str:
        """The run directory's name."""
        return Path(self.run_dir).name


# --- the grid --------------------------------------------------------------------------------


def parse_grid(items: list[str], config_class: type | None = None) -> dict[str, list]:
    """``["loss_threshold=0.01,0.1", ...]`` -> {field: [values]}; a bad field or value is a ConfigError.

    Values are separated by commas; a tuple field writes each value with ``x``
    (``hidden_sizes=8x8,16x8``).
    """
    grid: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(item, "a grid axis is name=v1,v2,..., e.g. loss_threshold=0.01,0.05,0.1")
        name, text = (part.strip() for part in item.split("=", 1))
        if name == "seed":
            raise ConfigError("seed", "give seeds with --seeds 0,1,... rather than as a grid axis")
        if name in grid:
            raise ConfigError(name, "this axis is given twice")
        values = [parse_value(name, part, config_class) for part in text.split(",") if part.strip()]
        if not values:
            raise ConfigError(name, "a grid axis needs at least one value")
        for i, value in enumerate(values):
            if value in values[:i]:
                hint = "; write each tuple with x, e.g. 8x8,16x8" if isinstance(value, tuple) else ""
                raise ConfigError(name, f"value {value!r} is listed twice{hint}")
        grid[name] = values
    return grid


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2] (distinct integers >= 0)."""
    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise ConfigError("seeds", f"expected comma-separated integers, got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError("seeds", f"expected distinct integers >= 0, got {text!r}")
    return seeds


def run_hash(method: str, benchmark: str, n_tasks: int, config) -> str:
    """Short hash of what makes a run: method, benchmark, task count and the whole config (seed included)."""
    key = f"{method}:{data_key(benchmark)}:{n_tasks}:{config.run_id()}"  # a data file: its name and hash
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def run_name(method: str, benchmark: str, n_tasks: int, config) -> str:
    """Directory name of a sweep run: the method and ``run_hash``."""
    return f"{method}-{run_hash(method, benchmark, n_tasks, config)}"


def resolve_tasks(benchmark: str, n_tasks: int | None) -> int:
    """The task count a run of ``benchmark`` will have (None: the benchmark's default); a BenchmarkError if invalid."""
    info = data_info(benchmark)  # a benchmark, or a .npz file read and checked
    n_tasks = info.default_tasks if n_tasks is None else n_tasks
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, int) or not 1 <= n_tasks <= info.max_tasks:
        raise BenchmarkError(f"--tasks {n_tasks!r} is invalid for {benchmark!r}; use 1 to {info.max_tasks}")
    return n_tasks


def expand_grid(
    benchmark: str,
    n_tasks: int | None,
    grid: dict[str, list],
    seeds: list[int],
    out: str | Path,
    method: str = "den",
    preset_name: str = "fast",
    fixed: dict | None = None,
) -> list[SweepJob]:
    """One job per combination of the grid's values and the seeds (seeds vary fastest).

    Every config is built (and validated) before anything trains.
    """
    n_tasks = resolve_tasks(benchmark, n_tasks)
    config_class = get_method(method).config_class
    fixed = dict(fixed or {})
    both = sorted(set(fixed) & set(grid))
    if both:
        raise ConfigError(both[0], "is both a grid axis and a fixed --set value")
    if "seed" in fixed:
        raise ConfigError("seed", "give seeds with --seeds")
    jobs, names = [], set()
    axes = list(grid)
    for combo in itertools.product(*(grid[a] for a in axes), seeds):
        values = dict(zip([*axes, "seed"], combo, strict=True))
        config = preset(preset_name, config_class, benchmark, **fixed, **values)  # the benchmark's own values
        name = run_name(method, benchmark, n_tasks, config)
        if name in names:  # e.g. an axis value equal to a fixed one: the same run twice
            continue
        names.add(name)
        jobs.append(SweepJob(len(jobs), method, benchmark, n_tasks, config, str(Path(out) / name), values))
    return jobs


# --- one job -----------------------------------------------------------------------------------


def existing_run(job: SweepJob):
    """The job's run record on disk (None when there is none yet); RunFileError when it is someone else's."""
    run_dir = Path(job.run_dir)
    if not (run_dir / RUN_FILE).is_file():
        return None
    run = load_run(run_dir)
    expected = clean_json(get_method(job.method).prepare(job.config).to_dict())
    expected.pop("device", None)
    recorded = {k: v for k, v in run.config.items() if k != "device"}
    bench = run.data["benchmark"]
    if (run.data["method"], recorded, record_key(bench), bench["n_tasks"]) != (
        job.method,
        expected,
        data_key(job.benchmark),
        job.n_tasks,
    ):
        raise RunFileError(f"{run_dir}: holds a different run than this sweep's; move it away")
    return run


def plan(job: SweepJob) -> str:
    """What a job needs: "reuse" (finished or diverged), "resume" (some tasks done) or "train"."""
    return _plan(existing_run(job))


def _plan(run) -> str:
    if run is None:
        return "train"
    if run.data["status"] in ("complete", "diverged"):
        return "reuse"
    return "resume" if run.tasks else "train"


def run_job(job: SweepJob, progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None) -> dict:
    """Train, resume or reuse one job's run; returns its outcome row. Never raises for a failed run.

    ``should_stop`` (asked at every step) ends the run early: TrainingStopped is raised, the
    finished tasks stay in the run's folder and the next sweep resumes it.

    Nothing is deleted: a folder holding another run, or files that are no run, fails the job
    (``existing_run``, or the Trainer's claim of the folder: den_engine.records.claim).
    """
    start = time.perf_counter()
    emit = progress or (lambda event: None)
    try:
        run = existing_run(job)
        how = _plan(run)
        if how == "reuse":
            record = run.data
        else:
            emit({"type": "start", "index": job.index, "how": how})

            def on_task_end(snapshot: dict) -> None:
                emit({"type": "task", "index": job.index, "task": snapshot["task"], "n_tasks": job.n_tasks})

            callbacks = Callbacks(on_task_end=on_task_end, should_stop=should_stop)
            if how == "resume":
                trainer = Trainer.resume(job.run_dir, callbacks)
            else:  # no record, or this very run killed before its first task ended: started over
                trainer = Trainer(job.config, job.benchmark, job.n_tasks, job.run_dir, callbacks, method=job.method,
                                  overwrite=run is not None)  # fmt: skip
            try:  # the trainer holds the run's lock: a killed sweep's runs read "interrupted", not "running"
                record = trainer.run() if job.stop is None else _run_or_stop(trainer, job.stop)
            except TrainingDiverged:
                record = trainer.record
            finally:
                trainer.close()
            how = {"train": "trained", "resume": "resumed"}[how]
            how = "stopped early" if stopped_early(record) else how
        row = outcome_row(job, record, "reused" if how == "reuse" else how)
    except TrainingStopped:
        raise  # asked for: not a failed run
    except (DENError, BenchmarkError, ValueError, OSError) as exc:
        row = outcome_row(job, None, f"failed: {exc}")
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def _run_or_stop(trainer: Trainer, stop: dict) -> dict:
    """Train task by task; after each, stop when the search's rule says the trial is clearly dominated.

    The stopped run's record says so: status "stopped" and a note ``{"type": "stopped", "by":
    "search", "message": why}``. The last finished task is checked first, so a trial killed
    right after a task that dominated it stops on resume rather than training on. A search's
    step (``stop["until"]``: a task number) decides only at the task it starts from, whose
    references are complete, then trains up to task ``until`` and returns the running record.
    """
    from den_engine.experiments.search_rule import record_points, stop_reason

    n_tasks = len(trainer.benchmark.tasks)
    until = stop.get("until")
    first = True
    while True:
        points = record_points(trainer.record, stop.get("score", "auroc"), stop.get("size", "stl"))
        decide = points and (until is None or first)  # a step's later tasks are decided by the next step
        reason = stop_reason(stop, len(points), n_tasks, points[-1]) if decide else None
        first = False
        if reason is not None:
            trainer.record["status"] = "stopped"
            note = {"type": "stopped", "by": "search", "task": len(points), "message": reason}
            trainer.record["notes"].append({**note, "time": datetime.now(UTC).isoformat(timespec="seconds")})
            if trainer.out_dir is not None:
                write_run_json(trainer.out_dir, trainer.record)
            return trainer.record
        if trainer.finished or (until is not None and len(points) >= until):
            return trainer.record
        trainer.train_next()


def stopped_early(record: dict | None) -> str | None:
    """The reason a search stopped this run early, or None when it did not."""
    notes = [n for n in (record or {}).get("notes") or [] if n.get("by") == "search" and n.get("type") == "stopped"]
    return notes[-1]["message"] if notes and (record or {}).get("status") == "stopped" else None


def outcome_row(job: SweepJob, record: dict | None, how: str) -> dict:
    """One line of the outcome table: the combination, what happened and the final numbers."""
    row: dict[str, Any] = {"run": job.name, **{k: _plain(v) for k, v in job.values.items()}, "how": how}
    tasks = (record or {}).get("tasks") or []
    final = final_metrics(record) if (record or {}).get("final") else {}  # recomputed: older records lack fields
    last = tasks[-1] if tasks else {}
    params = last.get("params") or {}
    row.update(
        status=(record or {}).get("status", "failed"),
        tasks_done=len(tasks),
        hidden_units=sum(last.get("active_sizes", [0])[1:]),
        params=params.get("total"),
        nonzero_params=params.get("nonzero"),
        relative_to_stl=params.get("relative_to_stl"),
        average_auroc=final.get("average_auroc", (last.get("metrics") or {}).get("average_auroc")),
        average_val_auroc=final.get("average_val_auroc"),
        average_accuracy=final.get("average_accuracy", (last.get("metrics") or {}).get("average_accuracy")),
        backward_transfer_auroc=final.get("backward_transfer_auroc"),
        train_time_s=sum(t.get("wall_time_s", 0.0) for t in tasks),
    )
    return row


def _plain(value):
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return value
