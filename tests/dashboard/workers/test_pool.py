"""The training pool: fair turns across sessions, stop, closed tabs, lost workers, real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dashboard.workers.pool import Job, JobPool

WAIT_S = 60


class ThreadSlot:
    """A stand-in worker: a unit is ``steps`` steps of ``step_s`` seconds in a thread, stoppable between steps."""

    kind = "thread"

    def __init__(self, index, on_message):
        self.index, self.on_message = index, on_message
        self._stop = threading.Event()
        self.restarts = 0

    def run(self, kind, payload, cores):
        self._stop.clear()
        threading.Thread(target=self._unit, args=(payload,), daemon=True).start()

    def _unit(self, payload):
        if payload.get("die"):
            self.on_message(self, "lost", {"exitcode": -9})
            return
        for step in range(payload["steps"]):
            if self._stop.is_set():
                self.on_message(self, "done", {"stopped": True})
                return
            self.on_message(self, "progress", step)
            time.sleep(payload.get("step_s", 0.01))
        self.on_message(self, "done", {"stopped": False, "name": payload["name"]})

    def stop(self):
        self._stop.set()

    def restart(self):
        self.restarts += 1

    def close(self):
        self._stop.set()


class Log:
    """Units in the order they started, across every job."""

    def __init__(self):
        self.lock, self.started = threading.Lock(), []

    def job(self, owner, name, units=1, steps=3, step_s=0.01, gone=None, pause_s=0.0, die=False):
        left = [units]

        def payload():
            with self.lock:
                self.started.append(name)
            return {"name": name, "steps": steps, "step_s": step_s, "die": die}

        def unit_done(result):
            left[0] -= 1
            return left[0] > 0

        return Job(owner, "test", payload, unit_done=unit_done, gone=gone, pause_s=pause_s)


@pytest.fixture
def pool():
    p = JobPool(1, ThreadSlot)
    yield p
    p.close()


def test_sessions_take_turns_between_units(pool):
    log = Log()
    play = log.job("a", "play", units=3, step_s=0.05)
    pool.submit(play)
    while not log.started:  # play's first unit is training
        time.sleep(0.005)
    others = [log.job("b", "b"), log.job("c", "c")]
    for job in others:
        pool.submit(job)
    assert all(job.wait(WAIT_S) for job in (play, *others))
    assert log.started == ["play", "b", "c", "play", "play"]  # not play, play, play, b, c
    assert play.outcome.how == "done" and play.outcome.units_done == 3


def test_stop_drops_a_waiting_job_at_once_and_stops_a_running_one(pool):
    log = Log()
    running, waiting = log.job("a", "running", steps=10_000, step_s=0.01), log.job("b", "waiting")
    pool.submit(running)
    pool.submit(waiting)
    while not log.started:
        time.sleep(0.005)
    assert pool.place(waiting) is not None and pool.place(running) is None
    pool.stop(waiting)
    assert waiting.wait(0) and waiting.outcome.how == "stopped" and not waiting.outcome.mid_unit
    assert len(pool.queue) == 0 and pool.place(waiting) is None  # out of the line: nobody waits behind it
    pool.stop(running)
    assert running.wait(WAIT_S) and running.outcome.how == "stopped" and running.outcome.mid_unit
    assert log.started == ["running"]  # the dropped job never trained


def test_a_stop_that_comes_while_a_unit_is_being_sent_stops_that_unit(pool):
    """Stop pressed between two units: the dispatcher has taken the job, its worker has not the unit yet."""
    sent = []

    def payload():
        sent.append(len(sent) + 1)
        if len(sent) == 2:  # the press lands while unit 2's payload is built
            pool.stop(job)
        return {"name": "play", "steps": 1 if len(sent) == 1 else 10_000, "step_s": 0.01}

    job = Job("a", "test", payload, unit_done=lambda result: True)
    pool.submit(job)
    assert job.wait(WAIT_S), "unit 2 trained on (10,000 steps) after Stop"
    assert job.outcome.how == "stopped" and job.outcome.mid_unit and job.outcome.units_done == 2
    assert sent == [1, 2]  # no unit after the stopped one


def test_a_job_whose_tab_has_gone_is_dropped_or_stopped(pool):
    log = Log()
    gone = [False]
    running = log.job("a", "running", steps=10_000, gone=lambda: gone[0])
    waiting = log.job("b", "waiting", gone=lambda: gone[0])
    pool.submit(running)
    pool.submit(waiting)
    while not log.started:
        time.sleep(0.005)
    gone[0] = True
    assert running.wait(WAIT_S) and waiting.wait(WAIT_S)
    assert running.outcome.how == "gone" and running.outcome.mid_unit
    assert waiting.outcome.how == "gone" and log.started == ["running"]


def test_a_lost_worker_fails_its_job_only_and_is_replaced(pool):
    log = Log()
    doomed, next_one = log.job("a", "doomed", die=True), log.job("b", "next")
    pool.submit(doomed)
    pool.submit(next_one)
    assert doomed.wait(WAIT_S) and doomed.outcome.how == "lost"
    assert next_one.wait(WAIT_S) and next_one.outcome.how == "done"
    assert pool.slots[0].restarts == 1


def test_the_place_in_line_counts_the_jobs_ahead(pool):
    log = Log()
    jobs = [log.job(owner, owner, steps=10_000) for owner in "abcd"]
    for job in jobs:
        pool.submit(job)
    while not log.started:
        time.sleep(0.005)
    places = [pool.place(job) for job in jobs]
    assert places[0] is None and [p[0] for p in places[1:]] == [0, 1, 2]
    assert places[1][1] < places[2][1] < places[3][1]  # the estimate grows with the place
    for job in jobs:
        pool.stop(job)
    assert all(job.wait(WAIT_S) for job in jobs)


@pytest.mark.slow
def test_real_workers_train_in_their_own_processes_and_survive_a_kill(tmp_path):
    """Two spawned workers train Train-page units; one killed mid-task is replaced and its job fails alone."""
    from dashboard.state.session import RunSpec
    from den_engine import preset

    pool = JobPool(2)
    try:
        pids = []

        def slot_pids():
            return [slot.pid for slot in pool.slots]

        spec = RunSpec(preset("fast", benchmark="toy-2d", iterations=20, head_iterations=5, device="cpu"), "toy-2d",
                       2, tmp_path)  # fmt: skip
        results = []
        job = Job("a", "train", lambda: {"spec": spec, "run_dir": str(tmp_path / "r"), "create": not results},
                  unit_done=lambda r: results.append(r) or not r["finished"])  # fmt: skip
        pool.submit(job)
        assert job.wait(WAIT_S * 2) and job.outcome.how == "done", job.outcome
        assert results[-1]["tasks_done"] == 2 and results[-1]["finished"]
        pids = slot_pids()
        assert os.getpid() not in pids and None not in pids
        long = RunSpec(preset("fast", benchmark="toy-2d", iterations=10**6, device="cpu"), "toy-2d", 2, tmp_path)
        progress = threading.Event()
        slow = Job("b", "train", lambda: {"spec": long, "run_dir": str(tmp_path / "slow"), "create": True},
                   message=lambda kind, data: progress.set() if kind == "progress" else None)  # fmt: skip
        pool.submit(slow)
        assert progress.wait(WAIT_S * 2)
        victim = next(slot for slot in pool.slots if pool._running.get(slot.index) is slow)
        os.kill(victim.process.pid, 9)
        assert slow.wait(WAIT_S) and slow.outcome.how == "lost"
        again = Job("c", "train", lambda: {"spec": spec, "run_dir": str(tmp_path / "again"), "create": True},
                    unit_done=lambda r: False)  # fmt: skip
        pool.submit(again)
        assert again.wait(WAIT_S * 2) and again.outcome.how == "done", again.outcome
    finally:
        pool.close()


@pytest.mark.slow
def test_a_worker_process_a_server_thread_and_inline_training_give_the_same_run(tmp_path):
    """The three ways a unit runs (DEN_WORKERS=N, DEN_WORKERS=0, DEN_SYNC_TRAINING) train the same network."""
    from dashboard.state.session import RunSpec
    from dashboard.workers.inprocess import ThreadSlot
    from dashboard.workers.pool import run_inline
    from den_engine import load_run, preset

    spec = RunSpec(preset("fast", benchmark="toy-2d", iterations=30, head_iterations=5, device="cpu"), "toy-2d", 2,
                   tmp_path)  # fmt: skip

    def job(run_dir):
        made = []
        return Job("a", "train", lambda: {"spec": spec, "run_dir": str(run_dir), "create": not made},
                   unit_done=lambda r: made.append(r) or not r["finished"])  # fmt: skip

    inline = job(tmp_path / "inline")
    run_inline(inline, {}, threading.Event())
    outcomes = [inline.outcome]
    for name, factory in (("thread", ThreadSlot), ("process", None)):
        pool = JobPool(1, factory)
        try:
            j = job(tmp_path / name)
            pool.submit(j)
            assert j.wait(WAIT_S * 2)
            outcomes.append(j.outcome)
        finally:
            pool.close()
    assert [o.how for o in outcomes] == ["done"] * 3 and [o.units_done for o in outcomes] == [2] * 3
    finals = [load_run(tmp_path / name).data["tasks"][-1] for name in ("inline", "thread", "process")]
    assert finals[0]["metrics"] == finals[1]["metrics"] == finals[2]["metrics"]
    assert finals[0]["layer_sizes"] == finals[1]["layer_sizes"] == finals[2]["layer_sizes"]


def test_a_lost_worker_is_named_by_its_exit_code_or_rays_reason():
    from dashboard.workers.pool import _lost_words

    assert _lost_words({"exitcode": -9}) == "exit code -9"
    assert _lost_words({"exitcode": None, "reason": "ActorDiedError: gone"}) == "ActorDiedError: gone"
    assert _lost_words({}) == "no exit code"


def _exited(pid: int) -> bool:
    """True once ``pid`` is gone or a zombie (an orphan's new parent may be slow to reap it)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return True


@pytest.mark.slow
def test_a_worker_whose_server_was_killed_stops_training_and_exits(tmp_path):
    """A SIGKILLed server leaves no worker training on for nobody: it stops at its next step and exits."""
    driver = subprocess.Popen([sys.executable, str(Path(__file__).with_name("orphan_driver.py")), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    worker = None
    try:
        worker = int(driver.stdout.readline())  # printed once the worker is training
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + WAIT_S
        while not _exited(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _exited(worker), "the worker trained on after its server was killed"
    finally:
        driver.kill()
        if worker is not None and not _exited(worker):
            os.kill(worker, 9)
