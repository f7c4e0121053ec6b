"""Where a search's trials run: a job at a time handed to the sweep backends, answers as they come.

A sweep knows all its jobs up front (den_engine.experiments.sweep); a search decides its next
trial from the answers so far, so it needs a pool it can feed one job at a time: ``submit``
a job, ``wait`` for any finished one. ``local`` uses the sweep's worker processes
(den_engine.experiments.sweep_workers: one fresh interpreter per worker, one torch thread per
run), ``serial`` runs a job in this process when it is waited for, and ``ray`` sends each job
as one Ray task (den_engine.experiments.sweep_ray: the files of a partial run go with it, the
run's files come back into the search folder). The jobs, rows and records are the sweep's own.
"""

from __future__ import annotations

import queue
import subprocess
from collections import deque
from pathlib import Path

from den_engine.core.errors import ConfigError
from den_engine.experiments.sweep_jobs import ProgressFn, SweepJob, outcome_row, plan, run_job
from den_engine.experiments.sweep_workers import STOP_GRACE_S, _Worker, _worker_env

BACKENDS = ("local", "serial", "ray")


class Pool:
    """Runs submitted jobs on a backend; ``wait`` returns (job, outcome row) of the next one to finish."""

    def __init__(self, backend: str, workers: int, address: str | None = None, progress: ProgressFn | None = None):
        if backend not in BACKENDS:
            raise ConfigError("backend", f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
        if address is not None and backend != "ray":
            raise ConfigError("address", f"is a Ray cluster's address: it needs backend 'ray', not {backend!r}")
        self.backend, self.workers = backend, max(1, workers)
        self.progress = progress or (lambda event: None)
        self.waiting: deque[SweepJob] = deque()
        self.answers: queue.Queue = queue.Queue()
        self.idle: list[_Worker] = []
        self.busy: list[_Worker] = []
        self.pending: dict = {}
        self.ray = self.remote = None
        self.started_ray = False
        if backend == "ray":
            from den_engine.experiments.sweep_ray import MAX_RETRIES, _start_ray, ray_task  # Ray only when asked

            self.ray, self.started_ray = _start_ray(address)
            self.remote = self.ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(ray_task)
        elif backend == "local":
            self.env = _worker_env()

    @property
    def running(self) -> int:
        """Jobs submitted and not yet returned by ``wait``."""
        return len(self.waiting) + len(self.busy) + len(self.pending)

    def submit(self, job: SweepJob) -> None:
        """Queue a job; it starts as soon as a worker is free."""
        if self.backend == "ray":
            from den_engine.experiments.sweep_ray import read_files

            files = read_files(Path(job.run_dir)) if plan(job) == "resume" else {}
            self.pending[self.remote.remote(job, files)] = job
            self.progress({"type": "start", "index": job.index, "how": "ray"})
            return
        self.waiting.append(job)
        if self.backend == "local":
            self._start_waiting()

    def _start_waiting(self) -> None:
        while self.waiting and len(self.busy) < self.workers:
            worker = self.idle.pop() if self.idle else _Worker(self.answers, self.env)
            worker.give(self.waiting.popleft())
            self.busy.append(worker)

    def wait(self) -> tuple[SweepJob, dict]:
        """Block until a submitted job finishes; its job and outcome row (a failed job is a row saying so)."""
        if self.backend == "serial":
            job = self.waiting.popleft()
            return job, run_job(job, self.progress)
        if self.backend == "ray":
            return self._wait_ray()
        while True:
            worker, message = self.answers.get()
            if message is None:  # the worker ended; the job it held failed
                status = worker.proc.wait()
                self.idle = [w for w in self.idle if w is not worker]
                if worker in self.busy:
                    self.busy.remove(worker)
                    job = worker.job
                    self._start_waiting()
                    if job is not None:
                        return job, outcome_row(job, None, f"failed: its worker process ended ({status})")
            elif message["type"] == "row":
                job = worker.job
                worker.job = None
                self.busy.remove(worker)
                self.idle.append(worker)
                self._start_waiting()
                return job, message["row"]
            else:
                self.progress(message)

    def _wait_ray(self) -> tuple[SweepJob, dict]:
        from den_engine.experiments.sweep_ray import write_files

        ready, _ = self.ray.wait(list(self.pending), num_returns=1)
        job = self.pending.pop(ready[0])
        try:
            row, files = self.ray.get(ready[0])
            write_files(Path(job.run_dir), files)
        except Exception as exc:  # noqa: BLE001 - a task lost past its retries fails its job, not the search
            row = outcome_row(job, None, f"failed: {type(exc).__name__}: {exc}")
        row["run"] = job.name
        return job, row

    def close(self) -> None:
        """End the workers (they finish nothing more) and a Ray instance this pool started."""
        for worker in self.idle + self.busy:
            worker.close()
        for worker in self.idle + self.busy:
            try:
                worker.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                worker.proc.kill()  # only when the search itself ends on an error or an interrupt
                worker.proc.wait()
        self.idle, self.busy = [], []
        if self.started_ray:
            self.ray.shutdown()
