"""Sweeps: run a list of sweep jobs on a backend, one run record each, in parallel.

The jobs themselves (the grid, run names, reuse and resume) are den_engine.experiments.sweep_jobs.
Backends: ``local`` (worker processes, den_engine.experiments.sweep_workers), ``serial`` (this
process) or ``ray`` (den_engine.experiments.sweep_ray, imported only then). Every run uses one
torch thread, so a record does not depend on how many ran side by side. A job that fails makes
``run_sweep`` raise ``SweepFailed`` once every other job has finished (its ``rows`` hold all the
outcomes), unless the caller asks for failure rows with ``failure_rows=True``.
"""

from __future__ import annotations

import os

import torch

from den_engine.core import threads as thread_policy
from den_engine.core.errors import ConfigError, DENError, RunFileError
from den_engine.experiments.sweep_jobs import WORKER_THREADS, ProgressFn, SweepJob, outcome_row, plan, run_job
from den_engine.experiments.sweep_workers import run_local

BACKENDS = ("local", "serial", "ray")


class SweepFailed(DENError):
    """Some jobs of a sweep failed; ``rows`` holds every job's outcome row, the failed ones included."""

    def __init__(self, rows: list[dict]) -> None:
        failed = [row for row in rows if row["how"].startswith("failed")]
        details = "; ".join(f"{row['run']}: {row['how']}" for row in failed[:3])
        more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
        super().__init__(f"{len(failed)} of {len(rows)} sweep runs failed: {details}{more}")
        self.rows = rows


# --- backends ------------------------------------------------------------------------------------


def _run_serial(jobs: list[SweepJob], progress: ProgressFn) -> list[dict]:
    """Each job in this process, one after the other, with the workers' thread setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(WORKER_THREADS)
    thread_policy.limit_cores(WORKER_THREADS)
    rows = []
    try:
        for job in jobs:
            row = run_job(job, progress)
            rows.append(row)
            progress({"type": "done", "index": job.index, "row": row})
    finally:
        torch.set_num_threads(threads)
        thread_policy.limit_cores(0)
    return rows


def run_sweep(
    jobs: list[SweepJob],
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    progress: ProgressFn | None = None,
    failure_rows: bool = False,
) -> list[dict]:
    """Run every job (finished ones are reused without a worker); returns the rows in grid order.

    ``workers`` defaults to every core; ``address`` is a Ray cluster for ``backend="ray"``. A
    failed job raises ``SweepFailed`` after the others finish, unless ``failure_rows`` is True:
    then its row says ``how="failed: ..."``.
    """
    if backend not in BACKENDS:
        raise ConfigError("backend", f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ConfigError("address", f"is a Ray cluster's address: it needs backend 'ray', not {backend!r}")
    if workers is not None and workers < 1:
        raise ConfigError("jobs", f"must be >= 1, got {workers}")
    workers = workers or os.cpu_count() or 1
    progress = progress or (lambda event: None)
    rows, todo = [], []
    for job in jobs:  # a finished run never goes to a worker
        try:
            finished = plan(job) == "reuse"
        except RunFileError as exc:
            row = outcome_row(job, None, f"failed: {exc}")
            rows.append(row)
            progress({"type": "done", "index": job.index, "row": row})
            continue
        if finished:
            row = run_job(job)
            rows.append(row)
            progress({"type": "done", "index": job.index, "row": row})
        else:
            todo.append(job)
    if todo:
        if backend == "ray":
            from den_engine.experiments.sweep_ray import run_ray  # Ray is optional: imported only when asked for

            rows += run_ray(todo, address=address, progress=progress)
        elif backend == "serial":
            rows += _run_serial(todo, progress)
        else:
            rows += run_local(todo, workers, progress)
    order = {job.name: job.index for job in jobs}
    rows = sorted(rows, key=lambda row: order[row["run"]])
    if not failure_rows and any(row["how"].startswith("failed") for row in rows):
        raise SweepFailed(rows)
    return rows
