"""The local backend of a sweep: worker processes started as ``python -m den_engine.experiments.sweep_workers``.

Each worker is a fresh interpreter that imports only the engine. Unlike multiprocessing's spawn
and forkserver starts, it never runs the caller's script again, so ``run_sweep(jobs, workers=2)``
works from a plain script without an ``if __name__ == "__main__":`` guard; and nothing is
forked, so threaded callers (the dashboard) are safe. The parent writes one job per line to a
worker's stdin (JSON); the worker answers on its stdout with the job's progress events and, last,
its outcome row, one JSON object a line. A worker that dies fails the job it held (a row saying
so) and is replaced while jobs remain.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

from den_engine.experiments.sweep_jobs import WORKER_THREADS, ProgressFn, SweepJob, outcome_row, run_job
from den_engine.methods import get_method

PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder holding den_engine/
STOP_GRACE_S = 10
"""Seconds a worker gets to exit after its stdin closes before it is killed."""


def job_to_json(job: SweepJob) -> str:
    """One line of JSON that ``job_from_json`` turns back into the same job."""
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in job.values.items()}
    data = {
        "index": job.index, "method": job.method, "benchmark": job.benchmark, "n_tasks": job.n_tasks,
        "config": job.config.to_dict(), "run_dir": job.run_dir, "values": values, "stop": job.stop,
    }  # fmt: skip
    return json.dumps(data)


def job_from_json(text: str) -> SweepJob:
    """The job that ``job_to_json`` wrote (tuples come back as tuples)."""
    data = json.loads(text)
    config = get_method(data["method"]).config_class.from_dict(data["config"])
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data["values"].items()}
    return SweepJob(data["index"], data["method"], data["benchmark"], data["n_tasks"], config, data["run_dir"], values,
                    data.get("stop"))  # fmt: skip


def worker_main() -> None:
    """Body of a worker process: run each job read from stdin, its events and row written to stdout."""
    import torch

    from den_engine.core.threads import limit_cores

    torch.set_num_threads(WORKER_THREADS)
    limit_cores(WORKER_THREADS)  # each run's thread policy sees only this worker's share
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else written to stdout (a print, a library) goes to stderr: the channel stays JSON
    sys.stdout = sys.stderr

    def send(event: dict) -> None:
        channel.write(json.dumps(event) + "\n")
        channel.flush()

    try:
        for line in sys.stdin:
            job = job_from_json(line)
            try:
                row = run_job(job, send)
            except Exception as exc:  # noqa: BLE001 - a bug in one job fails that job, not the worker
                row = outcome_row(job, None, f"failed: {type(exc).__name__}: {exc}")
            send({"type": "row", "index": job.index, "row": row})
    except KeyboardInterrupt:  # Ctrl-C reaches every worker too: the sweep itself says "interrupted"
        sys.exit(130)


class _Worker:
    """One worker process and the thread that reads its answers into the pool's queue."""

    def __init__(self, answers: queue.Queue, env: dict[str, str]) -> None:
        command = [sys.executable, "-m", "den_engine.experiments.sweep_workers"]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.job: SweepJob | None = None
        threading.Thread(target=self._read, args=(answers,), daemon=True).start()

    def _read(self, answers: queue.Queue) -> None:
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not ours: the channel carries only JSON objects
            if isinstance(message, dict) and "type" in message:
                answers.put((self, message))
        answers.put((self, None))  # the worker's stdout closed: it has ended

    def give(self, job: SweepJob) -> None:
        self.job = job
        try:
            self.proc.stdin.write(job_to_json(job) + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # the worker has died: its reader reports the end, and the job fails then

    def close(self) -> None:
        try:
            self.proc.stdin.close()  # end of jobs: the worker's loop ends
        except OSError:
            pass


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(WORKER_THREADS)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_PARENT), env.get("PYTHONPATH", "")) if p)
    return env


def run_local(jobs: list[SweepJob], workers: int, progress: ProgressFn) -> list[dict]:
    """Run every job on ``workers`` worker processes; returns one row per job (in the order they finished)."""
    answers: queue.Queue = queue.Queue()
    env = _worker_env()
    todo = deque(jobs)
    pool: list[_Worker] = []
    rows: list[dict] = []

    def assign(worker: _Worker) -> None:
        if todo:
            worker.give(todo.popleft())
        else:
            worker.job = None
            worker.close()

    def finish(job: SweepJob, row: dict) -> None:
        rows.append(row)
        progress({"type": "done", "index": job.index, "row": row})

    try:
        for _ in range(min(workers, len(jobs))):
            pool.append(_Worker(answers, env))
            assign(pool[-1])
        while len(rows) < len(jobs):
            worker, message = answers.get()
            if message is None:  # the worker ended; if it held a job, that job failed
                status = worker.proc.wait()
                if worker.job is not None:
                    finish(worker.job, outcome_row(worker.job, None, f"failed: its worker process ended ({status})"))
                    worker.job = None
                if todo:
                    pool.append(_Worker(answers, env))
                    assign(pool[-1])
            elif message["type"] == "row":
                finish(worker.job, message["row"])
                assign(worker)
            else:
                progress(message)
    finally:
        for worker in pool:
            worker.close()
        for worker in pool:
            try:
                worker.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                worker.proc.kill()  # only on an error or an interrupt of the sweep itself
                worker.proc.wait()
    return rows


if __name__ == "__main__":
    worker_main()
