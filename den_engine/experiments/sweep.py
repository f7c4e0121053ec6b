"""Sweeps: run a list of sweep jobs on a backend, one run record each, in parallel.

The jobs themselves (the grid, run names, reuse and resume) are den_engine.experiments.sweep_jobs.
Backends: ``local`` (a pool of worker processes), ``serial`` (this process) or ``ray``
(den_engine.experiments.sweep_ray, imported only then). Every run uses one torch thread, so a
record does not depend on how many ran side by side.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import torch

from den_engine.core import threads as thread_policy
from den_engine.core.errors import ConfigError, RunFileError
from den_engine.experiments.sweep_jobs import WORKER_THREADS, ProgressFn, SweepJob, outcome_row, plan, run_job

BACKENDS = ("local", "serial", "ray")


# --- backends ------------------------------------------------------------------------------------

_QUEUE = None  # a worker process's channel back to the sweep (set by _init_worker)


def _init_worker(threads: int, queue) -> None:
    global _QUEUE
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    thread_policy.limit_cores(threads)  # each run's thread policy sees only this worker's share
    _QUEUE = queue


def _worker_job(job: SweepJob) -> dict:
    return run_job(job, _QUEUE.put if _QUEUE is not None else None)


def _run_local(jobs: list[SweepJob], workers: int, progress: ProgressFn) -> list[dict]:
    """Each job in a pool of ``workers`` fresh processes (spawned: safe from threaded callers)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    rows = []

    def drain() -> None:
        while not queue.empty():
            progress(queue.get())

    with ProcessPoolExecutor(workers, context, _init_worker, (WORKER_THREADS, queue)) as pool:
        pending = {pool.submit(_worker_job, job): job for job in jobs}
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for future in done:
                job = pending.pop(future)
                try:
                    row = future.result()
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its job, not the sweep
                    row = outcome_row(job, None, f"failed: {type(exc).__name__}: {exc}")
                rows.append(row)
                progress({"type": "done", "index": job.index, "row": row})
    drain()
    return rows


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
) -> list[dict]:
    """Run every job (finished ones are reused without a worker); returns the rows in grid order.

    ``workers`` defaults to every core; ``address`` is a Ray cluster for ``backend="ray"``.
    """
    if backend not in BACKENDS:
        raise ConfigError("backend", f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
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
            rows += _run_local(todo, min(workers, len(todo)), progress)
    order = {job.name: job.index for job in jobs}
    return sorted(rows, key=lambda row: order[row["run"]])
