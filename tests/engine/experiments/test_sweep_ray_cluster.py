"""Sweeps and searches on a real two-node Ray cluster: ``ray start --head``, a second node with ``ray start --address``.

The sweep runs as a user would run it, ``python -m den_engine sweep --backend ray --address ...``,
so the package is shipped to the cluster (``py_modules``) and every record travels back to the
driver. The cluster (tests/engine/experiments/ray_cluster.py) lives in a private network
namespace holding only a loopback device and uses token authentication with a token of its own.
Everything is stopped at the end.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import pytest
from ray_cluster import running_cluster

from den_engine.core.runner import Trainer
from den_engine.experiments import sweep, sweep_jobs
from den_engine.records.store import load_run, strip_timings

pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")
pytestmark = pytest.mark.slow

SWEEP_TIMEOUT_S = 240
BENCH = "toy-2d"
FIXED = {"hidden_sizes": (8, 8), "iterations": 12, "head_iterations": 8, "device": "cpu"}
# Sweep B's runs must outlast the kill: after a job's first task is seen, its other tasks
# take about a second (12-step stages finished them before node 2 was down).
LONG = {**FIXED, "iterations": 150, "head_iterations": 100}


def _args(tasks: int, grid: str, fixed: dict) -> list[str]:
    sets = [f"{k}={'x'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in fixed.items()]
    return ["--tasks", str(tasks), "--grid", grid, *[a for s in sets for a in ("--set", s)]]


SWEEP_A = _args(2, "loss_threshold=0.01,inf", FIXED)  # one run resumed, one trained
SWEEP_B = _args(4, "split_threshold=0.05,inf", LONG)  # long enough to lose a node mid-run


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(["head", "node2"]) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def local_records(tmp_path_factory):
    """Both sweeps' runs on the local backend: the records the cluster must reproduce."""
    out = tmp_path_factory.mktemp("local")
    jobs = _jobs(out / "a", SWEEP_A) + _jobs(out / "b", SWEEP_B)
    rows = sweep.run_sweep([dataclasses.replace(j, index=i) for i, j in enumerate(jobs)], workers=2, backend="local")
    assert [r["how"] for r in rows] == ["trained"] * 4
    return out


def _jobs(out: Path, args: list[str]) -> list[sweep_jobs.SweepJob]:
    tasks = int(args[args.index("--tasks") + 1])
    axis, values = args[args.index("--grid") + 1].split("=")
    grid = {axis: [math.inf if v == "inf" else float(v) for v in values.split(",")]}
    fixed = LONG if args == SWEEP_B else FIXED
    return sweep_jobs.expand_grid(BENCH, tasks, grid, [0], out, fixed=fixed)


def _state(run_dir: Path) -> tuple:
    run = load_run(run_dir)
    weights = [{k: v.tolist() for k, v in run.weights(t).items()} for t in range(1, len(run.tasks) + 1)]
    return strip_timings(run.data), weights


def _outcomes(out: Path) -> list[str]:
    lines = (out / "sweep.csv").read_text().splitlines()
    column = lines[0].split(",").index("how")
    return [line.split(",")[column] for line in lines[1:]]


def test_a_sweep_on_two_nodes_gives_the_local_records_and_resumes(cluster, local_records, tmp_path):
    out = tmp_path / "a"
    jobs = _jobs(out, SWEEP_A)
    with Trainer(jobs[0].config, BENCH, 2, jobs[0].run_dir) as killed:  # a run killed after task 1: resumed remotely
        killed.train_next()
    proc = cluster.sweep(out, ["--benchmark", BENCH, *SWEEP_A])
    assert proc.returncode == 0, proc.stdout.read()
    assert _outcomes(out) == ["resumed", "trained"]
    for job in jobs:
        assert _state(Path(job.run_dir)) == _state(local_records / "a" / job.name)


def test_a_driver_without_the_clusters_token_gets_one_line_naming_the_address(cluster, tmp_path):
    # the reported failure: 64 lines and three tracebacks from Ray, no word of what to set
    args = ["sweep", "--backend", "ray", "--address", cluster.address, "--benchmark", BENCH, "--quiet", *SWEEP_A]
    start = time.monotonic()
    done = cluster.driver(
        [*args, "--out", str(tmp_path / "s")], {"RAY_AUTH_MODE": None, "RAY_AUTH_TOKEN_PATH": None}, 120
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith(
        f"error: --address {cluster.address}: the Ray cluster refused this driver's authentication"
    )
    assert "RAY_AUTH_MODE=token" in lines[0] and time.monotonic() - start < 60


def test_a_sweep_survives_losing_a_node_mid_run(cluster, local_records, tmp_path):
    out = tmp_path / "b"
    jobs = {job.name: job for job in _jobs(out, SWEEP_B)}
    proc = cluster.sweep(out, ["--benchmark", BENCH, *SWEEP_B], wait=False)
    try:
        deadline = time.monotonic() + SWEEP_TIMEOUT_S
        on_node2 = []
        while not on_node2:  # a job on node 2 has finished its first task and goes on with the next
            assert proc.poll() is None, f"the sweep ended before node 2 was lost:\n{proc.stdout.read()}"
            assert time.monotonic() < deadline, "no job ran on node 2"
            on_node2 = list((cluster.root / "node2-tmp").glob("den-sweep-*/*/weights/task-001.safetensors"))
            time.sleep(0.05)  # poll interval of a bounded wait
        lost = on_node2[0].parents[1].name
        cluster.kill("node2")
        assert not (out / lost / "run.json").exists()  # the driver never got that run back from node 2
        proc.wait(SWEEP_TIMEOUT_S)
        log = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, log
    assert _outcomes(out) == ["trained", "trained"]
    for name in jobs:
        assert _state(out / name) == _state(local_records / "b" / name)


SEARCH = ["--benchmark", BENCH, "--tasks", "2", "--trials", "3", "--jobs", "2", "--quiet",
          "--space", "tau=1e-3:1:log,sigma=1e-3:1:log", "--margin-score", "0", "--margin-size", "0",
          *_args(2, "unused=0", FIXED)[4:]]  # fmt: skip
"""A small search; with both margins 0 a trial plainly dominated at task 1 of 2 stops early."""


def _trial_records(out: Path) -> dict:
    found = {}
    for run in sorted(out.glob("trial-*")):
        state = _state(run)
        state[0]["notes"] = [{k: v for k, v in n.items() if k != "time"} for n in state[0]["notes"]]
        found[run.name] = state
    return found


def test_a_search_on_two_nodes_gives_the_local_searchs_trials_and_records(cluster, tmp_path):
    pytest.importorskip("optuna", reason="den search needs Optuna")
    from den_engine.cli import main

    assert main(["search", *SEARCH, "--out", str(tmp_path / "local")]) == 0
    done = cluster.driver(["search", *SEARCH, "--backend", "ray", "--address", cluster.address,
                           "--out", str(tmp_path / "ray")], {}, SWEEP_TIMEOUT_S)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    local, remote = _trial_records(tmp_path / "local"), _trial_records(tmp_path / "ray")
    assert len(local) == 3 and local == remote
