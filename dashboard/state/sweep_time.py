"""How long a sweep takes: an estimate before it starts, and the time left while it runs.

Before: every run is costed by the engine's model (``den_engine.core.budget``: its
optimiser steps at this machine's measured matrix-product rate, one thread, as a sweep's
runs train), then scaled by what this machine has *measured*: the median ratio of wall
time to that model over the latest finished runs in the runs folder and its sweeps
(their records keep each run's wall time). The runs are then dealt to the sweep's
parallel lanes as the launcher deals them (the next run to the first lane free), and the
sweep takes as long as its busiest lane.

With nothing measured yet, the model is scaled by the machine's load instead
(``load_slowdown``) and each lane's first run pays a cold start.

While it runs: a blend of the estimate less the time gone and the pace so far (the wall
time so far, scaled by the tasks still to learn over the tasks learned; every task counts
alike, since a run's first task pays its start), the pace counting for more as more of
the sweep is done.
"""

from __future__ import annotations

import heapq
import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from dashboard.state.run_settings import input_dim
from den_engine.core import budget
from den_engine.methods import get_method
from den_engine.records.store import RUN_FILE

CALIBRATION_RUNS = 12
"""How many of the latest finished runs set the machine's factor."""
COLD_START_S = 1.5
"""A worker's first run trains its first steps slower (lazy set-up in torch and the engine): 6.4 s against
0.66 s for the same task 1 of digits (32x16, fast) run next in the same process, at load 9.7 on 2 cores."""
FACTOR_RANGE = (0.5, 20.0)
"""A factor outside this is a record from elsewhere (or a stopped clock): clamped."""


@dataclass(frozen=True)
class SweepEstimate:
    """The estimated wall time of a sweep, and what it rests on."""

    seconds: float
    runs: int
    lanes: int
    factor: float
    """Measured wall time over the model's, on this machine (1.0 when nothing was measured yet)."""
    measured_runs: int
    """How many finished runs the factor comes from."""

    def words(self) -> str:
        """One line for the page: the estimate and its basis."""
        basis = (
            f"this machine's speed measured on its last {self.measured_runs} finished runs"
            if self.measured_runs
            else "this machine's matrix-product speed (no finished run here to measure yet)"
        )
        return (
            f"about {budget.human_seconds(self.seconds)} for {self.runs} runs, {self.lanes} at a time "
            f"(from the benchmark, preset and tasks, and {basis})"
        )


def model_seconds(config, benchmark: str, n_tasks: int, flops: float) -> float:
    """The engine's model of one run's wall time on one thread at ``flops``."""
    return budget.estimate_seconds(config, input_dim(benchmark), n_tasks, flops=flops)


def _finished_records(folders: list[Path]) -> list[Path]:
    files = []
    for folder in folders:
        folder = Path(folder)
        files += list(folder.glob(f"*/{RUN_FILE}")) + list(folder.glob(f"sweeps/*/*/{RUN_FILE}"))
    files = [f for f in files if f.is_file()]
    return sorted(files, key=lambda f: f.stat().st_mtime, reverse=True)


def measured_factor(folders: list[Path], flops: float) -> tuple[float, int]:
    """Median of (measured wall time / model) over the latest finished runs in ``folders``; (1.0, 0) if none."""
    ratios = []
    for path in _finished_records(folders):
        if len(ratios) >= CALIBRATION_RUNS:
            break
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("status") != "complete" or (record.get("compute") or {}).get("threads") != 1:
                continue  # a sweep's runs train on one thread: only those tell its speed
            tasks = record["tasks"]
            measured = sum(float(t["wall_time_s"]) for t in tasks)
            method = get_method(record.get("method", "den"))
            bench = record["benchmark"]["name"]
            config = method.prepare(method.config_class.from_dict(record["config"]))  # as it trained
            model = model_seconds(config, bench, len(tasks), flops)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # unreadable, or made by another version: it tells nothing
        if model > 0 and measured > 0:
            ratios.append(measured / model)
    if not ratios:
        return 1.0, 0
    low, high = FACTOR_RANGE
    return min(high, max(low, statistics.median(ratios))), len(ratios)


def busiest_lane(seconds: list[float], lanes: int) -> float:
    """Wall time of runs taken in order by ``lanes`` lanes, each taking the next run as soon as it is free."""
    free = [0.0] * max(1, min(lanes, len(seconds)))
    for s in seconds:
        heapq.heappush(free, heapq.heappop(free) + s)
    return max(free, default=0.0)


def load_slowdown(lanes: int, load: float | None = None, cores: int | None = None) -> float:
    """How much slower each of ``lanes`` new runs trains while the machine is busy: (load + lanes) / cores, at least 1.

    The matrix-product probe takes the best of a few milliseconds, so it sees the machine's
    speed between the other processes' turns; a run that trains for seconds shares the cores.
    """
    load = os.getloadavg()[0] if load is None else load
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1.0, (load + lanes) / max(1, cores))


def estimate_sweep(jobs, lanes: int, folders: list[Path], flops: float | None = None) -> SweepEstimate:
    """The wall time of ``jobs`` (SweepJob) on ``lanes`` parallel lanes, calibrated on the runs in ``folders``."""
    flops = budget.machine_flops(1) if flops is None else flops
    lanes = max(1, min(lanes, len(jobs))) if jobs else 1
    factor, measured = measured_factor(folders, flops)
    start = 0.0
    if not measured:  # the model alone: this machine's load, and each lane's first run starting cold
        factor = load_slowdown(lanes)
        start = COLD_START_S * factor
    seconds = [factor * model_seconds(j.config, j.benchmark, j.n_tasks, flops) for j in jobs]
    return SweepEstimate(busiest_lane(seconds, lanes) + start, len(jobs), lanes, factor, measured)


def remaining_seconds(elapsed: float, tasks_done: int, tasks_total: int, estimate: float) -> float:
    """Seconds still to go: the pace so far over the tasks left, or the estimate less the time gone."""
    if tasks_total <= 0 or tasks_done >= tasks_total:
        return 0.0
    planned = max(0.0, estimate - elapsed)
    if tasks_done <= 0:
        return planned
    pace = elapsed * (tasks_total - tasks_done) / tasks_done
    done = tasks_done / tasks_total  # the pace counts for more as more of the sweep is behind it
    return done * pace + (1 - done) * planned
