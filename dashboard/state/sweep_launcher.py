"""Sweeps launched from the Compare page: one ``python -m den_engine sweep`` subprocess per launch.

The page keeps the ``SweepProcess`` in ``st.session_state`` (one per browser session) and
polls it; the sweep writes its runs into ``<runs folder>/sweeps/<name>/`` as they finish,
so the page shows them without waiting for the end. The subprocess runs in its own
process group, so Stop ends it and its workers (and nothing else); a stopped sweep
started again with the same settings into the same folder reuses what finished.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dashboard.state.ownership import OwnerLock
from dashboard.state.run_settings import input_dim
from den_engine.core import budget
from den_engine.core.config import parse_value
from den_engine.core.errors import ConfigError
from den_engine.data.benchmarks import BENCHMARKS
from den_engine.experiments.sweep_jobs import SweepJob, expand_grid, parse_grid, parse_seeds
from den_engine.methods import get_method
from den_engine.records.store import RUN_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]
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

    def estimate_seconds(self, out: Path) -> float:
        """Roughly how long the whole sweep takes: every run's estimate, ``workers`` at a time."""
        jobs = self.jobs(out)
        total = sum(budget.estimate_seconds(j.config, input_dim(j.benchmark), j.n_tasks) for j in jobs)
        return total / max(1, min(self.workers or os.cpu_count() or 1, len(jobs)))

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


class SweepProcess:
    """A sweep running in a subprocess of its own process group, logging to ``<out>/sweep.log``."""

    def __init__(self, request: SweepRequest, out: Path) -> None:
        self.request, self.out = request, Path(out)
        self.n_runs = len(request.jobs(self.out))  # validates before anything starts
        self.out.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "den_engine", "sweep", *request.arguments(), "--out", str(self.out)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
        # The sweep process inherits the folder's owner lock and holds it as long as it (or a
        # worker it forked) lives, so its runs read as abandoned once it is gone, however it ended.
        owner = OwnerLock(self.out)
        if not owner.acquire():
            raise ValueError(f"{self.out.name} is being written by another sweep")
        try:
            with open(self.out / LOG_FILE, "ab") as log:
                self.proc = subprocess.Popen(
                    command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, pass_fds=(owner.fileno(),),
                )  # fmt: skip
        finally:
            owner.release()  # this process's copy only; the child's copy keeps the lock
        self.stopped = False

    @property
    def running(self) -> bool:
        """True while the subprocess is alive."""
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once it ended (None while running)."""
        return self.proc.poll()

    def stop(self) -> None:
        """End the sweep and its workers (its own process group); finished runs stay."""
        if self.running:
            self.stopped = True
            os.killpg(self.proc.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> bool:
        """Block until the sweep ends (True) or ``timeout`` seconds pass (False)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

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
