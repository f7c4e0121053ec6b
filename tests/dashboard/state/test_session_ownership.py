"""A session holds its run only while a job trains it: a closed tab frees the run, a stale session reloads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.state import liveness
from dashboard.state.ownership import is_owned, is_resumable, run_state
from dashboard.state.session import TrainingSession, build_spec

WAIT_S = 120
ROOT = Path(__file__).resolve().parents[3]


def _spec(runs: Path, n_tasks: int = 3):
    values = {
        "benchmark": "toy-2d", "n_tasks": n_tasks, "method": "den", "preset": "fast", "hidden_sizes": "4,4",
        "seed": 0, "device": "cpu", "params": {"iterations": "10", "head_iterations": "5"},
    }  # fmt: skip
    return build_spec(values, runs)


def _record(run_dir) -> dict:
    return json.loads((Path(run_dir) / "run.json").read_text())


def test_the_run_is_locked_while_a_job_trains_and_free_between_jobs(tmp_path):
    session = TrainingSession(sync=False)
    seen = []
    real = session._on_progress

    def watch(stage, iteration, total, loss):
        real(stage, iteration, total, loss)
        run_dir = session.status().run_dir
        if run_dir and not seen:
            seen.append(is_owned(run_dir))

    session._on_progress = watch
    assert session.submit(_spec(tmp_path), 1) and session.wait(WAIT_S)
    run_dir = session.status().run_dir
    assert seen == [True]  # nobody else may write it while it trains
    assert not is_owned(run_dir)  # between clicks anyone may resume it
    assert run_state(_record(run_dir)["status"], 1, run_dir) == "interrupted after task 1"
    assert session.submit(_spec(tmp_path), 1) and session.wait(WAIT_S)  # the session takes it again
    assert session.status().tasks_done == 2 and len(_record(run_dir)["tasks"]) == 2


def test_a_job_whose_tab_closed_stops_and_anyone_can_resume_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(liveness, "GRACE_S", 0.0)  # gone at the second look: before task 2 or 3 starts
    monkeypatch.setattr(liveness, "CHECK_EVERY_S", 0.0)
    session = TrainingSession(sync=False)
    connected = [True]
    session.connected = lambda: connected[0]
    real = session._on_task_end

    def close_tab_after_task_one(snapshot):
        real(snapshot)
        connected[0] = False

    session._on_task_end = close_tab_after_task_one
    assert session.submit(_spec(tmp_path), None) and session.wait(WAIT_S)
    status = session.status()
    assert status.tasks_done in (1, 2) and "tab was closed" in status.message[1], status.message
    run_dir, kept = status.run_dir, status.tasks_done
    assert not is_owned(run_dir) and len(_record(run_dir)["tasks"]) == kept
    assert is_resumable(run_state(_record(run_dir)["status"], kept, run_dir))  # nobody trains it
    other = TrainingSession(sync=True)
    assert other.resume(run_dir) == kept
    other.submit(other.status().spec, None)
    assert len(_record(run_dir)["tasks"]) == 3 and _record(run_dir)["status"] == "complete"


def test_a_session_whose_run_went_on_elsewhere_reloads_it_instead_of_overwriting(tmp_path):
    mine, theirs = TrainingSession(sync=True), TrainingSession(sync=True)
    mine.submit(_spec(tmp_path), 1)
    run_dir = mine.status().run_dir
    theirs.resume(run_dir)
    assert not is_owned(run_dir)  # taking a run over claims it only while a job trains it
    theirs.submit(theirs.status().spec, 1)  # task 2, trained by the other session
    task_two = _record(run_dir)["tasks"][1]
    mine.submit(_spec(tmp_path), 1)  # my trainer in memory still stands after task 1
    record = _record(run_dir)
    assert len(record["tasks"]) == 3 and record["tasks"][1] == task_two
    assert mine.status().tasks_done == 3 and mine.status().message[0] == "success"


HOLD = (
    "import sys, time; sys.path.insert(0, sys.argv[1]);"
    "from dashboard.state.ownership import OwnerLock;"
    "lock = OwnerLock(sys.argv[2]); assert lock.acquire(); print('held', flush=True); time.sleep(120)"
)


@pytest.fixture
def held_by_another_process():
    """Hold a folder's owner lock from a live process of its own (as `den run` or a sweep would)."""
    procs = []

    def hold(folder: Path) -> None:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(ROOT), str(folder)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait(10)


def test_a_run_a_live_process_trains_is_refused_to_every_session(tmp_path, held_by_another_process):
    mine = TrainingSession(sync=True)
    mine.submit(_spec(tmp_path), 1)
    run_dir = Path(mine.status().run_dir)
    before = (run_dir / "run.json").read_bytes()
    held_by_another_process(run_dir)
    with pytest.raises(ValueError, match="being trained by another session or process"):
        TrainingSession(sync=True).resume(run_dir)
    mine.submit(_spec(tmp_path), 1)  # my own paused run, taken by the process meanwhile
    status = mine.status()
    assert status.message[0] == "error" and "being trained by another session or process" in status.message[1]
    assert status.tasks_done == 1 and (run_dir / "run.json").read_bytes() == before  # nothing written
