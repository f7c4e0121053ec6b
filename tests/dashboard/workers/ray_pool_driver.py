"""The server side of test_ray_slots.py: a JobPool on the test cluster, run inside the cluster's network namespace.

``python ray_pool_driver.py OUT RUNS`` joins the cluster named by ``DEN_WORKERS`` through
``get_pool()`` (from a thread, as a Streamlit script thread would), runs the scenarios below
one after another on the same pool and writes what it saw to ``OUT`` as JSON; the run
folders land in ``RUNS``. The test asserts on both.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

WAIT_S = 180
STOP_WAIT_S = 60  # a stop ends the unit at its next step: well under a second, on a busy machine too

# tests/dashboard/workers/ -> the checkout, wherever the driver was started from
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from dashboard.state.learn_session import LearnSpec  # noqa: E402
from dashboard.state.run_settings import RunSpec  # noqa: E402
from dashboard.workers.pool import Job, get_pool  # noqa: E402
from den_engine import preset  # noqa: E402


def train_spec(runs: Path, iterations: int = 20) -> RunSpec:
    """The Train-page spec the test also trains inline (toy-2d, 2 tasks)."""
    return RunSpec(preset("fast", benchmark="toy-2d", iterations=iterations, head_iterations=5, device="cpu"),
                   "toy-2d", 2, runs)  # fmt: skip


def sweep_jobs(out: Path) -> list:
    """Two runs of a sweep (toy-2d, 2 tasks), as the Compare page's launcher makes them."""
    from den_engine.experiments.sweep_jobs import expand_grid

    fixed = {"hidden_sizes": (8, 8), "iterations": 12, "head_iterations": 8, "device": "cpu"}
    return expand_grid("toy-2d", 2, {"loss_threshold": [0.01, float("inf")]}, [0], out, fixed=fixed)


def learn_spec() -> LearnSpec:
    """The Learn-page spec the test also trains inline."""
    config = preset("fast", benchmark="toy-2d", hidden_sizes=(6, 6), iterations=150, device="cpu")
    return LearnSpec(config, ("blobs", "moons"), "den", "finetune")


class Seen:
    """What one job reported: message kinds in order, unit results, the outcome."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.results: list[dict] = []
        self.progress = threading.Event()

    def message(self, kind: str, data) -> None:
        self.kinds.append(kind)
        if kind == "progress":
            self.progress.set()


def train_job(owner: str, spec: RunSpec, run_dir: Path, units: int = 99) -> tuple[Job, Seen]:
    seen = Seen()

    def unit_done(result: dict) -> bool:
        seen.results.append(result)
        return not result["finished"] and len(seen.results) < units

    job = Job(owner, "train", lambda: {"spec": spec, "run_dir": str(run_dir), "create": not seen.results},
              message=seen.message, unit_done=unit_done)  # fmt: skip
    return job, seen


def summary(job: Job, seen: Seen) -> dict:
    outcome = job.outcome
    return {"how": outcome.how if outcome else None, "mid_unit": outcome.mid_unit if outcome else None,
            "error": outcome.error if outcome else None, "kinds": sorted(set(seen.kinds)),
            "results": [{k: v for k, v in r.items() if k != "pair"} for r in seen.results]}  # fmt: skip


def main(out: Path, runs: Path) -> None:
    report: dict = {}
    holder: list = []
    starter = threading.Thread(target=lambda: holder.append(get_pool()))  # as a Streamlit script thread
    starter.start()
    starter.join()
    pool = holder[0]
    report["size"] = pool.size
    report["slot_kinds"] = [slot.kind for slot in pool.slots]
    try:
        # a Train job of 2 tasks and a Learn task, side by side on the two slots
        train, train_seen = train_job("a", train_spec(runs), runs / "train")
        learn_seen = Seen()
        pairs: list = []
        learn = Job("b", "learn", lambda: {"spec": learn_spec(), "pair": pairs[-1] if pairs else None},
                    message=learn_seen.message,
                    unit_done=lambda r: learn_seen.results.append(r) or pairs.append(r["pair"]) or False)  # fmt: skip
        pool.submit(train)
        pool.submit(learn)
        assert train.wait(WAIT_S) and learn.wait(WAIT_S), "train or learn did not end"
        report["train"] = summary(train, train_seen)
        report["learn"] = summary(learn, learn_seen)
        if pairs:
            den = pairs[-1].den
            report["learn"]["record"] = den.record
            report["learn"]["weights"] = {k: v.tolist() for k, v in den.net.state_tensors().items()}
        report["nodes"] = sorted({slot.node for slot in pool.slots if slot.node})

        # a sweep's two runs, the first resumed from a partial run only the server's disk holds
        from den_engine import Trainer

        jobs = sweep_jobs(runs / "sweep")
        with Trainer(jobs[0].config, jobs[0].benchmark, jobs[0].n_tasks, jobs[0].run_dir) as partial:
            partial.train_next()
        left, rows, sweep_seen = list(jobs), [], Seen()
        lane = Job("g", "sweep", lambda: {"job": left.pop(0) if left else None}, message=sweep_seen.message,
                   unit_done=lambda r: rows.append(r["row"]) or bool(left))  # fmt: skip
        pool.submit(lane)
        assert lane.wait(WAIT_S), "the sweep did not end"
        report["sweep"] = {**summary(lane, sweep_seen), "rows": rows}

        # Stop of a running unit: it ends at its next step, mid-unit
        stop, stop_seen = train_job("c", train_spec(runs, iterations=10**6), runs / "stopped")
        pool.submit(stop)
        assert stop_seen.progress.wait(WAIT_S), "the long unit never reported progress"
        started = time.monotonic()
        pool.stop(stop)
        assert stop.wait(STOP_WAIT_S), "a stopped unit did not end"
        report["stop"] = {**summary(stop, stop_seen), "stop_s": time.monotonic() - started}

        # an actor killed mid-unit: its job is lost, the slot gets a fresh actor
        kill, kill_seen = train_job("d", train_spec(runs, iterations=10**6), runs / "killed")
        pool.submit(kill)
        assert kill_seen.progress.wait(WAIT_S), "the long unit never reported progress"
        import ray

        victim = next(slot for slot in pool.slots if pool._running.get(slot.index) is kill)
        pid, _ = ray.get(victim._actor.where.remote())
        os.kill(pid, signal.SIGKILL)
        assert kill.wait(WAIT_S), "a unit whose actor was killed did not end"
        report["kill"] = summary(kill, kill_seen)

        # a late stop (its unit has ended) must not hit the next units; both slots train again
        for slot in pool.slots:
            slot.stop()
        after = [train_job(owner, train_spec(runs), runs / f"after-{owner}", units=1) for owner in ("e", "f")]
        for job, _ in after:
            pool.submit(job)
        assert all(job.wait(WAIT_S) for job, _ in after), "a job after the late stop did not end"
        report["after"] = [summary(job, seen) for job, seen in after]

        # an actor killed while idle: the next unit on that slot trains as if nothing happened
        idle = pool.slots[0]
        pid, _ = ray.get(idle._actor.where.remote())
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            time.sleep(0.05)  # poll interval of a bounded wait: SIGKILL ends it at once
        later = [train_job(owner, train_spec(runs), runs / f"later-{owner}", units=1) for owner in ("h", "i")]
        for job, _ in later:
            pool.submit(job)
        assert all(job.wait(WAIT_S) for job, _ in later), "a job after an idle actor's death did not end"
        report["idle_kill"] = [summary(job, seen) for job, seen in later]
    finally:
        pool.close()
        out.write_text(json.dumps(report, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
