"""Bench parts that need a grown network or a busy machine (used by ``python -m den_engine bench``).

``paper_step_times``: the paper preset's time per optimisation step at task 2 and at
task 10. The network is grown through tasks 1-9 with the paper's thresholds but short
stages (sigma = 0.002 still splits most units, so the stored layers grow task after
task); tasks 2 and 10 are then timed with the paper's settings on shorter stages. The
step time does not depend on the number of steps, so the ratio is the paper run's.

``under_load``: fast-preset runs on a quiet machine against the same runs while one and
then two processes started here keep cores busy (each is a Python busy loop; the bench
stops them itself). Conditions alternate within each round, so a machine whose load
drifts does not favour one; the worst ratio over the rounds is reported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from den_engine.core.config import preset
from den_engine.core.runner import Callbacks, Trainer
from den_engine.core.threads import choose_threads

LOAD_RUNS = (("digits-one-vs-rest", 5), ("mnist-one-vs-rest", 5))
BUSY_TARGETS = {1: 1.5, 2: 2.5}


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages (zeros where the system has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return [0.0, 0.0, 0.0]


def paper_step_times(
    benchmark: str, device: str, grow_iterations: int = 60, timed_iterations: int = 150, tasks: int = 10
) -> dict:
    """Milliseconds per step of the paper preset at task 2 and at the last task of a grown network."""
    paper = preset("paper", device=device)
    grow = paper.replace(iterations=grow_iterations, head_iterations=max(1, grow_iterations // 10))
    timed = paper.replace(iterations=timed_iterations, head_iterations=max(1, timed_iterations // 10))
    events: list[dict] = []
    trainer = Trainer(grow, benchmark, tasks, callbacks=Callbacks(on_event=events.append))
    trainer.compute = choose_threads(trainer.benchmark.input_dim, paper)  # the paper run's thread count
    rows = []
    for task in range(1, tasks + 1):
        measured = task in (2, tasks)
        trainer.config = timed if measured else grow
        events.clear()
        load = load_average()
        trainer.train_next()
        if measured:
            stages = [e for e in events if e["type"] == "stage_end"]
            wall = sum(e["wall_time_s"] for e in stages)
            steps = sum(e["iterations"] for e in stages)
            net = trainer.net
            rows.append(
                {
                    "task": task,
                    "step_ms": 1000 * wall / max(steps, 1),
                    "steps": steps,
                    "stored": [net.input_dim, *net.sizes()],
                    "active": [net.input_dim, *(len(net.active_ids(i, task)) for i in range(net.n_layers))],
                    "load": load,
                }
            )
    return {
        "benchmark": benchmark,
        "threads": trainer.compute["threads"],
        "grow_iterations": grow_iterations,
        "timed_iterations": timed_iterations,
        "tasks": rows,
        "ratio": rows[-1]["step_ms"] / rows[0]["step_ms"],
    }


def _busy_loops(n: int) -> list[subprocess.Popen]:
    """``n`` processes that each keep one core busy until stopped."""
    code = "while True:\n    pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=10)


def _timed_run(benchmark: str, tasks: int, device: str, busy: int) -> tuple[float, int]:
    """Wall seconds of a fast-preset run while ``busy`` other processes spin."""
    procs = _busy_loops(busy)
    try:
        time.sleep(0.3 if busy else 0)  # let the busy loops start
        trainer = Trainer(preset("fast", device=device), benchmark, tasks)
        start = time.perf_counter()
        trainer.run()
        return time.perf_counter() - start, trainer.compute["threads"]
    finally:
        _stop(procs)


def under_load(device: str, rounds: int = 2, runs: tuple = LOAD_RUNS) -> dict:
    """Fast runs quiet, with one core busy and with two busy; worst ratios over ``rounds``."""
    out = []
    for benchmark, tasks in runs:
        _timed_run(benchmark, 1, device, 0)  # warm-up: data loading, first-call costs
        times: dict[int, list[float]] = {0: [], 1: [], 2: []}
        loads, threads = [], 1
        for _ in range(rounds):
            for busy in (0, 1, 2):
                loads.append(load_average())
                seconds, threads = _timed_run(benchmark, tasks, device, busy)
                times[busy].append(seconds)
        ratio1 = max(b / q for b, q in zip(times[1], times[0], strict=True))
        ratio2 = max(b / q for b, q in zip(times[2], times[0], strict=True))
        ok = ratio1 <= BUSY_TARGETS[1] and ratio2 <= BUSY_TARGETS[2]
        out.append(
            {
                "benchmark": benchmark,
                "tasks": tasks,
                "threads": threads,
                "quiet_s": min(times[0]),
                "busy1_s": max(times[1]),
                "busy2_s": max(times[2]),
                "times_s": {str(k): v for k, v in times.items()},
                "ratio1": ratio1,
                "ratio2": ratio2,
                "loads": loads,
                "verdict": "ok" if ok else "ABOVE",
            }
        )
    return {"rounds": rounds, "rows": out}
