"""Sweeps: grid expansion, reuse of finished runs, resume after an interruption, serial == parallel."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from den_engine import cli
from den_engine.core.config import preset
from den_engine.core.errors import ConfigError
from den_engine.core.runner import Trainer
from den_engine.experiments import sweep, sweep_jobs
from den_engine.records.store import load_run, strip_timings

ROOT = Path(__file__).resolve().parents[3]
BENCH, TASKS = "toy-2d", 3
FIXED = {"hidden_sizes": (8, 8), "iterations": 15, "head_iterations": 10, "device": "cpu"}
GRID = {"loss_threshold": [0.01, math.inf]}
SEEDS = [0, 1]
CLI_FLAGS = [
    "--benchmark", BENCH, "--tasks", str(TASKS), "--grid", "loss_threshold=0.01,inf", "--seeds", "0,1",
    "--set", "hidden_sizes=8x8", "--set", "iterations=15", "--set", "head_iterations=10", "--set", "device=cpu",
]  # fmt: skip


def _jobs(out: Path) -> list[sweep_jobs.SweepJob]:
    return sweep_jobs.expand_grid(BENCH, TASKS, GRID, SEEDS, out, fixed=FIXED)


def _records(jobs: list[sweep_jobs.SweepJob]) -> dict[str, dict]:
    return {job.name: strip_timings(load_run(job.run_dir).data) for job in jobs}


def _same_weights(a: Path, b: Path, n_tasks: int = TASKS) -> bool:
    for task in range(1, n_tasks + 1):
        wa, wb = load_run(a).weights(task), load_run(b).weights(task)
        if wa.keys() != wb.keys() or not all(torch.equal(wa[k], wb[k]) for k in wa):
            return False
    return True


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[sweep_jobs.SweepJob]:
    """The grid swept serially in this process, never interrupted."""
    jobs = _jobs(tmp_path_factory.mktemp("reference"))
    rows = sweep.run_sweep(jobs, backend="serial")
    assert [r["how"] for r in rows] == ["trained"] * len(jobs)
    return jobs


def test_grid_expands_to_every_combination(tmp_path):
    grid = sweep_jobs.parse_grid(
        ["loss_threshold=0.01,0.05,inf", "split_threshold=0.002,0.05", "hidden_sizes=8x8,16x8"]
    )
    assert grid == {
        "loss_threshold": [0.01, 0.05, math.inf],
        "split_threshold": [0.002, 0.05],
        "hidden_sizes": [(8, 8), (16, 8)],
    }
    jobs = sweep_jobs.expand_grid(BENCH, TASKS, grid, [0, 3], tmp_path, fixed={"iterations": 7})
    combos = [(j.config.loss_threshold, j.config.split_threshold, j.config.hidden_sizes, j.config.seed) for j in jobs]
    assert combos == list(itertools.product(*grid.values(), [0, 3]))  # every combination once, seeds fastest
    assert all(j.config.iterations == 7 and j.config.l1_strength == preset("fast").l1_strength for j in jobs)
    assert all(j.values == dict(zip([*grid, "seed"], c, strict=True)) for j, c in zip(jobs, combos, strict=True))
    assert len({j.run_dir for j in jobs}) == len(jobs) == 24
    assert [j.index for j in jobs] == list(range(24))
    again = sweep_jobs.expand_grid(BENCH, TASKS, grid, [0, 3], tmp_path, fixed={"iterations": 7})
    assert [j.run_dir for j in again] == [j.run_dir for j in jobs]  # names are a hash of the config
    other = sweep_jobs.expand_grid(BENCH, TASKS - 1, grid, [0, 3], tmp_path, fixed={"iterations": 7})
    assert not {j.run_dir for j in other} & {j.run_dir for j in jobs}  # the task count is part of the name


@pytest.mark.parametrize(
    ("items", "field"),
    [
        (["nonsense=1,2"], "nonsense"),
        (["loss_threshold=0.1,abc"], "loss_threshold"),
        (["loss_threshold=-1"], "loss_threshold"),
        (["seed=0,1"], "seed"),
        (["split_threshold=0.1,0.1"], "split_threshold"),
        (["hidden_sizes=8,8"], "hidden_sizes"),
        (["iterations"], "iterations"),
    ],
)
def test_bad_grid_names_the_field(items, field, tmp_path):
    with pytest.raises(ConfigError) as info:
        grid = sweep_jobs.parse_grid(items)
        sweep_jobs.expand_grid(BENCH, TASKS, grid, [0], tmp_path)
    assert info.value.field == field


def test_fixed_value_cannot_also_be_an_axis(tmp_path):
    with pytest.raises(ConfigError, match="loss_threshold"):
        sweep_jobs.expand_grid(BENCH, TASKS, GRID, [0], tmp_path, fixed={"loss_threshold": 0.1})
    with pytest.raises(ConfigError, match="seeds"):
        sweep_jobs.parse_seeds("0,x")


def test_finished_config_is_not_retrained(reference, monkeypatch):
    before = {job.name: (Path(job.run_dir) / "run.json").read_bytes() for job in reference}

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(sweep_jobs, "Trainer", no_training)
    rows = sweep.run_sweep(reference, backend="serial")
    assert [r["how"] for r in rows] == ["reused"] * len(reference)
    assert {job.name: (Path(job.run_dir) / "run.json").read_bytes() for job in reference} == before
    assert all(r["status"] == "complete" and r["tasks_done"] == TASKS for r in rows)


def test_interrupted_sweep_resumes_to_the_same_records(reference, tmp_path):
    jobs = _jobs(tmp_path)
    torch.set_num_threads(sweep_jobs.WORKER_THREADS)  # as the sweep's own runs
    sweep_jobs.run_job(jobs[0])  # finished before the interruption
    partial = Trainer(jobs[1].config, BENCH, TASKS, jobs[1].run_dir)
    partial.train_next()  # killed after its first task
    partial.close()  # a killed process lets go of its lock
    Trainer(jobs[2].config, BENCH, TASKS, jobs[2].run_dir).close()  # killed during its first task
    rows = sweep.run_sweep(jobs, backend="serial")
    assert [r["how"] for r in rows] == ["reused", "resumed", "trained", "trained"]
    assert _records(jobs) == _records(reference)
    for job, ref in zip(jobs, reference, strict=True):
        assert _same_weights(Path(job.run_dir), Path(ref.run_dir))


def test_parallel_and_serial_sweeps_give_identical_records(reference, tmp_path):
    jobs = _jobs(tmp_path)
    events = []
    rows = sweep.run_sweep(jobs, workers=2, backend="local", progress=events.append)
    assert [r["how"] for r in rows] == ["trained"] * len(jobs)
    assert _records(jobs) == _records(reference)
    for job, ref in zip(jobs, reference, strict=True):
        assert _same_weights(Path(job.run_dir), Path(ref.run_dir))
    assert sorted(e["index"] for e in events if e["type"] == "done") == list(range(len(jobs)))
    assert sum(e["type"] == "task" for e in events) == TASKS * len(jobs)  # progress from inside the workers


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process of process group ``pgid`` remains."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # gone meanwhile
        if int(group) == pgid and state != "Z":
            return True
    return False


def test_cli_sweep_killed_mid_way_resumes(reference, tmp_path, capsys):
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "den_engine", "sweep", *CLI_FLAGS, "--jobs", "1", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, text=True)
    first = out / reference[0].name / "run.json"
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if first.is_file() and json.loads(first.read_text())["status"] == "complete":
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker, mid-way
    proc.wait()
    deadline = time.monotonic() + 30
    while _group_alive(proc.pid) and time.monotonic() < deadline:  # the worker dies a moment after its parent
        time.sleep(0.05)  # poll interval of a bounded wait
    assert not _group_alive(proc.pid)
    statuses = [(out / j.name / "run.json").is_file() and load_run(out / j.name).data["status"] for j in reference]
    assert statuses[0] == "complete" and statuses.count("complete") < len(reference), statuses
    assert cli.main(command[3:-4] + ["--backend", "serial", "--out", str(out)]) == 0  # started again
    printed = capsys.readouterr().out
    jobs = _jobs(out)
    assert _records(jobs) == _records(reference)
    table = (out / "sweep.md").read_text()
    assert all(job.name in table for job in jobs) and "| loss_threshold | seed |" in table
    lines = (out / "sweep.csv").read_text().splitlines()
    assert lines[0].startswith("run,loss_threshold,seed,how,status") and len(lines) == 1 + len(jobs)
    assert "| reused |" in printed and "failed" not in printed
    rows = list(csv.DictReader(io.StringIO((out / "sweep.csv").read_text())))
    for job, row in zip(jobs, rows, strict=True):
        val = load_run(out / job.name).tasks[-1]["metrics"]["val_auroc"]
        assert float(row["average_val_auroc"]) == pytest.approx(sum(val) / len(val))
    assert "| inf | 1 |" in printed


def test_a_foreign_run_in_the_way_fails_only_its_job(reference, tmp_path):
    jobs = _jobs(tmp_path)[:2]
    with Trainer(preset("fast", **FIXED, seed=7), BENCH, 1, jobs[0].run_dir) as foreign:  # someone else's run
        foreign.run()
    rows = sweep.run_sweep(jobs, backend="serial", failure_rows=True)
    assert rows[0]["how"].startswith("failed") and "different run" in rows[0]["how"]
    assert rows[1]["how"] == "trained" and load_run(jobs[0].run_dir).data["config"]["seed"] == 7  # left alone


def test_files_that_are_no_run_are_left_alone_and_a_failed_job_raises_after_the_others(tmp_path):
    jobs = _jobs(tmp_path)[:2]
    Path(jobs[0].run_dir, "weights").mkdir(parents=True)
    Path(jobs[0].run_dir, "notes.txt").write_text("mine")  # not a run record: a sweep once deleted these
    with pytest.raises(sweep.SweepFailed) as info:
        sweep.run_sweep(jobs, backend="serial")
    assert jobs[0].name in str(info.value) and "holds no run" in str(info.value) and "\n" not in str(info.value)
    assert [r["how"].split(":")[0] for r in info.value.rows] == ["failed", "trained"]  # the other job still ran
    assert load_run(jobs[1].run_dir).data["status"] == "complete"
    assert Path(jobs[0].run_dir, "notes.txt").read_text() == "mine" and not Path(jobs[0].run_dir, "run.json").exists()


def test_an_address_without_the_ray_backend_is_refused(tmp_path):
    with pytest.raises(ConfigError) as info:
        sweep.run_sweep(_jobs(tmp_path), backend="serial", address="127.0.0.1:6379")
    assert info.value.field == "address"


PLAIN_SCRIPT = r"""
from pathlib import Path
from den_engine.experiments.sweep import run_sweep
from den_engine.experiments.sweep_jobs import expand_grid

with open(Path(__file__).with_name("ran.txt"), "a") as mark:
    mark.write("top level\n")
jobs = expand_grid("toy-2d", 2, {"loss_threshold": [0.01, 0.1]}, seeds=[0], out=Path(__file__).with_name("sweep"),
                   fixed={"hidden_sizes": (8, 8), "iterations": 10, "head_iterations": 5, "device": "cpu"})
rows = run_sweep(jobs, workers=2)
print(",".join(row["how"] for row in rows))
"""


def test_a_parallel_sweep_runs_from_a_plain_script_without_a_main_guard(tmp_path):
    # the docs' snippet saved as a script: workers must not run the script again
    script = tmp_path / "my_sweep.py"
    script.write_text(PLAIN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "trained,trained"
    assert (tmp_path / "ran.txt").read_text() == "top level\n"  # the script ran once, in its own process


def test_sweep_imports_neither_ray_nor_a_ui_library_until_asked():
    code = (
        "import sys, den_engine.experiments.sweep, den_engine.experiments.diff, den_engine.cli;"
        "den_engine.cli.build_parser();"
        "print(','.join(m for m in ('ray', 'streamlit', 'plotly', 'pandas', 'dashboard') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_a_sweep_starts_from_the_benchmarks_own_fast_values(tmp_path):
    # mnist-variation's fast preset has its own mu and gamma (chosen on validation data):
    # a sweep over tau keeps them, and a grid axis or --set still wins over them
    jobs = sweep_jobs.expand_grid("mnist-variation", 2, {"loss_threshold": [0.01, 0.1]}, [0], tmp_path)
    own = preset("fast", benchmark="mnist-variation")
    assert own.group_lasso != preset("fast").group_lasso  # the benchmark really has its own value
    assert {(j.config.l1_strength, j.config.group_lasso) for j in jobs} == {(own.l1_strength, own.group_lasso)}
    jobs = sweep_jobs.expand_grid(
        "mnist-variation", 2, {"group_lasso": [0.05]}, [0], tmp_path, fixed={"l1_strength": 3e-3}
    )
    assert (jobs[0].config.l1_strength, jobs[0].config.group_lasso) == (3e-3, 0.05)
