"""Sweeps launched from the Compare page, trained run by run by the server's worker pool.

The page keeps the ``SweepLauncher`` in ``st.session_state`` (one per browser session) and
polls it; the sweep writes its runs into ``<runs folder>/sweeps/<name>/`` as they finish,
so the page shows them without waiting for the end. Stop drops the runs still waiting and
stops the one training at its next step; a stopped sweep started again with the same
settings into the same folder reuses what finished. ``den sweep`` on the command line
writes the same folder layout.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dashboard.state.ownership import OwnerLock
from dashboard.state.sweep_time import SweepEstimate, estimate_sweep, remaining_seconds
from den_engine.core.config import parse_value
from den_engine.core.errors import ConfigError
from den_engine.data.benchmarks import BENCHMARKS
from den_engine.experiments.sweep_jobs import SweepJob, expand_grid, parse_grid, parse_seeds
from den_engine.methods import get_method
from den_engine.records.store import RUN_FILE

SWEEPS = "sweeps"
LOG_FILE = "sweep.log"


@dataclass(frozen=True)
class SweepRequest:
    """What the page's form asks for, as text (validated by ``jobs``)."""

    benchmark: str
    n_tasks: int
    grid: str  # one axis per line (or separated by spaces): name=v1,v2
    seeds: str = "0"
    preset: str = "fast"
    fixed: str = ""  # name=value per line, e.g. hidden_sizes=32x16
    workers: int | None = None
    method: str = "den"

    def grid_items(self) -> list[str]:
        """The grid axes, one ``name=v1,v2`` string each."""
        return [item for item in self.grid.split() if item.strip()]

    def fixed_items(self) -> list[str]:
        """The fixed values, one ``name=value`` string each."""
        return [item for item in self.fixed.split() if item.strip()]

    def jobs(self, out: Path) -> list[SweepJob]:
        """Every run of the sweep (ConfigError / BenchmarkError naming the bad field)."""
        config_class = get_method(self.method).config_class
        info = BENCHMARKS.get(self.benchmark)
        if info is not None and not 1 <= self.n_tasks <= info.max_tasks:
            limit = f"{self.benchmark} has 1 to {info.max_tasks}"
            raise ConfigError("tasks", f"{self.n_tasks} tasks is not possible; {limit}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError("parallel runs", f"{self.workers} is not possible; use 1 or more")
        fixed = {}
        for item in self.fixed_items():
            if "=" not in item:
                raise ConfigError(item, "fixed values are name=value, e.g. hidden_sizes=32x16")
            name, text = item.split("=", 1)
            fixed[name.strip()] = parse_value(name.strip(), text, config_class)
        grid = parse_grid(self.grid_items(), config_class)
        seeds = parse_seeds(self.seeds)
        return expand_grid(self.benchmark, self.n_tasks, grid, seeds, out, self.method, self.preset, fixed)

    def estimate(self, runs_dir: Path, lanes: int | None = None) -> SweepEstimate:
        """How long the whole sweep takes on this machine, ``workers`` runs at a time (see ``sweep_time``)."""
        jobs = self.jobs(Path(runs_dir) / SWEEPS / "estimate")  # validates; nothing is written
        lanes = lanes or self.workers or os.cpu_count() or 1
        return estimate_sweep(jobs, lanes, [Path(runs_dir)])

    def estimate_seconds(self, runs_dir: Path) -> float:
        """The estimate's seconds (checks every field first)."""
        return self.estimate(runs_dir).seconds

    def arguments(self) -> list[str]:
        """The flags of ``python -m den_engine sweep`` (without --out)."""
        args = ["--benchmark", self.benchmark, "--tasks", str(self.n_tasks), "--seeds", self.seeds]
        args += ["--preset", self.preset, "--method", self.method]
        if self.grid_items():
            args += ["--grid", *self.grid_items()]
        for item in self.fixed_items():
            args += ["--set", item]
        if self.workers:
            args += ["--jobs", str(self.workers)]
        return args


def new_sweep_dir(runs_dir: Path) -> Path:
    """A fresh folder ``<runs folder>/sweeps/sweep-<timestamp>``."""
    base = Path(runs_dir).resolve() / SWEEPS / f"sweep-{datetime.now():%Y%m%d-%H%M%S}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def sweep_dirs(runs_dir: Path) -> list[Path]:
    """Sweep folders under ``<runs folder>/sweeps``, newest first."""
    root = Path(runs_dir) / SWEEPS
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)


def finished_runs(folder: Path) -> list[Path]:
    """Run directories in ``folder`` whose run.json says complete."""
    out = []
    for run_dir in sorted(Path(folder).glob(f"*/{RUN_FILE}")):
        try:
            if json.loads(run_dir.read_text(encoding="utf-8")).get("status") == "complete":
                out.append(run_dir.parent)
        except (OSError, ValueError):
            continue  # being written or broken: not finished
    return out


class SweepLauncher:
    """A sweep trained by the server's worker pool, run by run, writing ``<out>/sweep.log`` as it goes.

    The sweep is ``lanes`` jobs of the pool (its "parallel runs"), each taking the next run of
    the grid when its last one ends. They share their session's turn in the fair queue: while
    other sessions wait, a sweep trains one run at a time; on an idle server, ``lanes`` at once.
    The server holds the sweep folder's owner lock until the last lane ends, so another sweep
    cannot write into it; every run's own folder is claimed by the worker that trains it.
    """

    def __init__(self, request: SweepRequest, out: Path, owner: str | None = None, gone=None,
                 pool=None, sync: bool | None = None) -> None:  # fmt: skip
        from dashboard.state.session import owner_key, sync_training
        from dashboard.workers.pool import Job, get_pool, run_inline

        self.request, self.out = request, Path(out)
        jobs = request.jobs(self.out)  # validates before anything starts
        self.n_runs = len(jobs)
        self._todo = deque(jobs)
        self._rows: list[dict] = []
        self._lock = threading.Lock()
        self._failed = False
        self.stopped = False
        self._owner = OwnerLock(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if not self._owner.acquire():
            raise ValueError(f"{self.out.name} is being written by another sweep")
        (self.out / "sweep.json").write_text(json.dumps({"request": dataclasses.asdict(request)}, indent=1),
                                             encoding="utf-8")  # fmt: skip
        self._log(f"sweep of {self.n_runs} runs: {' '.join(request.arguments())}")
        sync = sync_training() if sync is None else sync
        self._pool = None if sync else (pool or get_pool())
        lanes = 1 if sync else max(1, min(request.workers or self._pool.size, self.n_runs))
        owner = owner or owner_key()
        self.estimate = request.estimate(self.out.parent.parent, lanes)  # the runs folder measures the machine
        self.started = time.monotonic()
        self.ended: float | None = None  # monotonic time the last lane ended
        self._tasks_total = sum(job.n_tasks for job in jobs)
        self._learned: dict[int, int] = {}  # tasks learned per run (index), from the runs' messages
        self._index = {job.name: job.index for job in jobs}
        guess = self.estimate.seconds * self.estimate.lanes / max(1, self.n_runs)
        self._lanes = [Job(owner, "sweep", self._next, self._on_message, self._unit_done, self._lane_ended,
                           gone=gone, unit_guess_s=guess) for _ in range(lanes)]  # fmt: skip
        self._left = lanes
        for lane in self._lanes:
            if sync:
                run_inline(lane, {}, threading.Event())
            else:
                self._pool.submit(lane)

    # --- what the page reads ---------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while a run of the sweep waits or trains."""
        return any(not lane.finished.is_set() for lane in self._lanes)

    @property
    def returncode(self) -> int | None:
        """None while running; 0 when every run finished; 1 when one failed or the sweep was stopped."""
        if self.running:
            return None
        return 1 if (self._failed or self.stopped) else 0

    def stop(self) -> None:
        """Stop the sweep: waiting runs are dropped, training ones stop at their next step; finished runs stay."""
        if self.running:
            self.stopped = True
            for lane in self._lanes:
                if self._pool is not None:
                    self._pool.stop(lane)

    def wait(self, timeout: float) -> bool:
        """Block until the sweep ends (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        return all(lane.wait(max(0.0, deadline - time.monotonic())) for lane in self._lanes)

    def tasks(self) -> tuple[int, int]:
        """(tasks learned, tasks in all) over every run of the sweep."""
        with self._lock:
            return sum(self._learned.values()), self._tasks_total

    def seconds_left(self) -> float:
        """Estimated seconds until the sweep ends (the pace so far once a task is learned)."""
        learned, total = self.tasks()
        return remaining_seconds(time.monotonic() - self.started, learned, total, self.estimate.seconds)

    def done(self) -> int:
        """How many of its runs are complete."""
        return len(finished_runs(self.out))

    def log_tail(self, lines: int = 12) -> str:
        """The last lines of the sweep's log."""
        try:
            text = (self.out / LOG_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])

    # --- the lanes, on the pool's threads ------------------------------------------------

    def _log(self, line: str) -> None:
        with self._lock, open(self.out / LOG_FILE, "a", encoding="utf-8") as log:
            log.write(f"{datetime.now():%H:%M:%S} {line}\n")

    def _next(self) -> dict:
        with self._lock:
            job = self._todo.popleft() if self._todo else None
        if job is not None:
            self._log(f"run {job.index + 1}/{self.n_runs} {job.name}: starting")
        return {"job": job}

    def _on_message(self, kind: str, data) -> None:
        if kind == "sweep" and data.get("type") == "task":
            with self._lock:
                self._learned[data["index"]] = max(self._learned.get(data["index"], 0), int(data["task"]))
            self._log(f"run {data['index'] + 1}/{self.n_runs}: task {data['task']} of {data['n_tasks']} learned")

    def _unit_done(self, result: dict) -> bool:
        row = result.get("row")
        if row is not None:
            with self._lock:
                self._rows.append(row)
                if row["run"] in self._index:  # a reused run sent no task messages
                    self._learned[self._index[row["run"]]] = int(row.get("tasks_done") or 0)
                self._failed |= row["how"].startswith("failed")
            extra = f" ({row['how']})" if row["how"].startswith("failed") else ""
            self._log(f"{row['run']}: {row['status']}, {row['tasks_done']} tasks{extra}")
        with self._lock:
            return bool(self._todo)

    def _lane_ended(self, outcome) -> None:
        if outcome.how in ("stopped", "gone"):
            self.stopped = True
            self._log(
                "stopped: finished runs are kept" + (" (the browser tab closed)" if outcome.how == "gone" else "")
            )
        elif outcome.how in ("error", "lost"):
            self._failed = True
            self._log(f"error: {(outcome.error or {}).get('message')}")
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self.ended = time.monotonic()
            self._finish()

    def _finish(self) -> None:
        """The last lane ended: write the outcome table and let go of the sweep folder."""
        from den_engine.experiments.sweep_cli import write_outcomes

        try:
            axes = [item.split("=", 1)[0].strip() for item in self.request.grid_items()]
            rows = sorted(self._rows, key=lambda r: r["run"])
            title = f"{self.request.benchmark}, {self.request.n_tasks} tasks, {self.request.method}, " \
                    f"preset {self.request.preset}, seeds {self.request.seeds}"  # fmt: skip
            write_outcomes(self.out, rows, [*axes, "seed"], title)
            self._log(f"{len(rows)} of {self.n_runs} runs; table in sweep.md and sweep.csv")
        except OSError as exc:
            self._log(f"error: could not write the outcome table: {exc}")
        finally:
            self._owner.release()
