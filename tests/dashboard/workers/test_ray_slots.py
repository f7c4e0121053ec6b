"""The training pool on a two-node Ray cluster (DEN_WORKERS=ray://HOST:PORT).

One cluster for the module (tests/engine/experiments/ray_cluster.py: two nodes of one CPU in a
private network namespace, token authentication). The server's side runs inside that namespace
(``ray_pool_driver.py``): a Train job of 2 tasks and a Learn task side by side, a stopped unit,
an actor killed mid-unit, then a late stop followed by two more jobs. The records it gets back
must equal an inline run's of the same spec.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from den_engine.core.errors import DENError
from den_engine.records.store import RUN_FILE, load_run, strip_timings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "engine" / "experiments"))
from ray_cluster import running_cluster  # noqa: E402

pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")
pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("ray_pool_driver.py")
DRIVER_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(["head", "node2"]) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def driven(cluster, tmp_path_factory):
    """What the driver saw, and the folder its runs landed in."""
    root = tmp_path_factory.mktemp("ray-pool")
    out, runs = root / "report.json", root / "runs"
    runs.mkdir()
    env = {**cluster.env, "DEN_WORKERS": f"ray://{cluster.address}", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*cluster.enter, sys.executable, str(DRIVER), str(out), str(runs)], env=env,
                          capture_output=True, text=True, timeout=DRIVER_TIMEOUT_S)  # fmt: skip
    assert done.returncode == 0 and out.is_file(), done.stderr[-4000:]
    return json.loads(out.read_text()), runs


def _inline(kind: str, payload_fn, units: int) -> list[dict]:
    """Run a job in this thread (the pool's inline path), returning its unit results."""
    from dashboard.workers.pool import Job, run_inline

    results: list[dict] = []
    job = Job("x", kind, lambda: payload_fn(results),
              unit_done=lambda r: results.append(r) or len(results) < units)  # fmt: skip
    run_inline(job, {}, threading.Event())
    assert job.outcome.how == "done", job.outcome
    return results


def _state(run_dir: Path) -> tuple:
    run = load_run(run_dir)
    weights = [{k: v.tolist() for k, v in run.weights(t).items()} for t in range(1, len(run.tasks) + 1)]
    return strip_timings(run.data), weights


def test_a_train_job_on_the_cluster_writes_the_inline_runs_records_on_the_server(driven, tmp_path):
    from ray_pool_driver import train_spec

    report, runs = driven
    assert report["size"] == 2 and report["slot_kinds"] == ["ray", "ray"]  # one slot per CPU of the cluster
    train = report["train"]
    assert train["how"] == "done", train
    assert [r["tasks_done"] for r in train["results"]] == [1, 2] and train["results"][-1]["finished"]
    assert {"progress", "task_start", "created", "task"} <= set(train["kinds"])
    spec = train_spec(tmp_path)
    _inline("train", lambda done: {"spec": spec, "run_dir": str(tmp_path / "r"), "create": not done}, 2)
    assert _state(runs / "train") == _state(tmp_path / "r")
    assert not list((runs / "train").glob(".*.tmp"))  # every file landed whole


def test_a_learn_task_comes_back_learned_as_inline(driven):
    import torch
    from ray_pool_driver import learn_spec

    learn = driven[0]["learn"]
    assert learn["how"] == "done" and learn["results"] == [{"stopped": False}], learn
    assert {"progress", "task_start", "event"} <= set(learn["kinds"])
    record = learn["record"]
    assert len(record["tasks"]) == 1 and record["tasks"][0]["metrics"]["average_accuracy"] > 0.9
    pair = _inline("learn", lambda done: {"spec": learn_spec(), "pair": done[-1]["pair"] if done else None}, 1)[0]
    assert strip_timings(json.loads(json.dumps(pair["pair"].den.record))) == strip_timings(record)
    for name, value in pair["pair"].den.net.state_tensors().items():
        assert torch.equal(value, torch.tensor(learn["weights"][name], dtype=value.dtype)), name


def test_a_sweeps_runs_resume_from_the_servers_files_and_match_local_runs(driven, tmp_path):
    from ray_pool_driver import sweep_jobs

    from den_engine.experiments.sweep_jobs import run_job

    report, runs = driven
    sweep = report["sweep"]
    assert sweep["how"] == "done" and [r["how"] for r in sweep["rows"]] == ["resumed", "trained"], sweep
    assert "sweep" in sweep["kinds"]
    for job in sweep_jobs(tmp_path):
        assert run_job(job)["how"] == "trained"
        assert _state(runs / "sweep" / job.name) == _state(Path(job.run_dir))


def test_stop_ends_the_running_unit_at_its_next_step(driven):
    stop = driven[0]["stop"]
    assert stop["how"] == "stopped" and stop["mid_unit"], stop
    assert stop["results"] == [{"stopped": True, "trained": False, "tasks_done": 0, "n_tasks": 2, "finished": False}]
    assert stop["stop_s"] < 30  # a million-step stage: only the stop ended it


def test_a_killed_actor_loses_its_unit_only_and_a_late_stop_misses_the_next_units(driven):
    report, runs = driven
    assert report["kill"]["how"] == "lost", report["kill"]
    after = report["after"]
    assert [a["how"] for a in after] == ["done", "done"], after  # the fresh actor trains; no stale stop hit them
    assert all(a["results"][0]["tasks_done"] == 1 for a in after)
    assert all(len(load_run(runs / f"after-{owner}").tasks) == 1 for owner in "ef")


def test_an_actor_that_died_while_idle_is_back_for_the_next_unit(driven):
    later = driven[0]["idle_kill"]
    assert [a["how"] for a in later] == ["done", "done"], later  # both slots, the killed one included


def test_runs_trained_on_both_nodes_and_travelled_back(driven, cluster):
    # each node keeps its scratch copies of the runs it trained under its own TMPDIR
    for node in ("head", "node2"):
        assert list((cluster.root / f"{node}-tmp").glob(f"den-pool-*/*/*/{RUN_FILE}")), node


def test_a_wrong_address_is_one_line_naming_it():
    from dashboard.workers.ray_slots import ray_slot_factory

    with pytest.raises(DENError) as caught:
        ray_slot_factory("127.0.0.1:1")
    assert str(caught.value).startswith("DEN_WORKERS=ray://127.0.0.1:1: no Ray cluster there")
    with pytest.raises(DENError, match="is not a Ray cluster's HOST:PORT"):
        ray_slot_factory("no-port")


def test_a_server_without_the_clusters_token_gets_one_line_naming_the_address(cluster):
    # den-dashboard joins the cluster before the server starts; Ray alone prints pages of logs
    env = {k: v for k, v in cluster.env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    cmd = [sys.executable, "-m", "dashboard.launch", "--headless", "--workers", f"ray://{cluster.address}"]
    done = subprocess.run([*cluster.enter, *cmd], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[3])  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith(f"error: --workers ray://{cluster.address}: the Ray cluster refused")
    assert "RAY_AUTH_MODE=token" in lines[0]
