"""The Ray backend: a local Ray instance gives the same records as the local backend, and resumes partial runs.

Ray is optional (requirements-ray.txt). Without it this module is skipped with the reason
shown in pytest's summary (``-ra``); with it, a Ray instance is started here.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from den_engine.core.runner import Trainer
from den_engine.experiments import sweep, sweep_jobs
from den_engine.records.store import load_run, strip_timings

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")

BENCH, TASKS = "toy-2d", 2
FIXED = {"hidden_sizes": (8, 8), "iterations": 12, "head_iterations": 8, "device": "cpu"}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _jobs(out: Path) -> list[sweep_jobs.SweepJob]:
    return sweep_jobs.expand_grid(BENCH, TASKS, {"loss_threshold": [0.01, math.inf]}, [0], out, fixed=FIXED)


def _state(jobs: list[sweep_jobs.SweepJob]) -> dict:
    out = {}
    for job in jobs:
        run = load_run(job.run_dir)
        weights = [run.weights(t) for t in range(1, TASKS + 1)]
        out[job.name] = (strip_timings(run.data), [{k: v.tolist() for k, v in w.items()} for w in weights])
    return out


def test_ray_backend_gives_the_local_backends_records_and_resumes(local_ray, tmp_path):
    local = _jobs(tmp_path / "local")
    assert [r["how"] for r in sweep.run_sweep(local, workers=1, backend="local")] == ["trained", "trained"]
    remote = _jobs(tmp_path / "ray")
    torch.set_num_threads(sweep_jobs.WORKER_THREADS)
    with Trainer(remote[0].config, BENCH, TASKS, remote[0].run_dir) as killed:  # a run killed after task 1
        killed.train_next()
    events = []
    rows = sweep.run_sweep(remote, backend="ray", progress=events.append)
    assert [r["how"] for r in rows] == ["resumed", "trained"]
    assert [r["run"] for r in rows] == [j.name for j in remote]
    assert _state(remote) == _state(local)
    assert sorted(e["index"] for e in events if e["type"] == "done") == [0, 1]
    again = sweep.run_sweep(remote, backend="ray")
    assert [r["how"] for r in again] == ["reused", "reused"]
