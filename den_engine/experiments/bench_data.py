"""``den bench --parts data``: a user's TaskSequence of tensors trains as fast as the same built-in benchmark.

The benchmark's own tensors are handed back as a ``TaskSequence.from_arrays`` (train, val and
test as they are, so both runs see identical data), and the two whole fast-preset runs take
turns, each timed end to end around ``Trainer.run()``. The figure is the ratio of the median
wall times (target: within 5 %); the two records must also agree on every task (every
event's numbers, unit and score; timings aside), or the comparison would not be of the same work.
"""

from __future__ import annotations

import statistics
import time

from den_engine.core.config import preset
from den_engine.core.runner import Trainer
from den_engine.data.benchmarks import load_benchmark
from den_engine.data.sequence import TaskSequence
from den_engine.records.store import strip_timings

TARGET = 1.05
"""A TaskSequence run may take at most 5 % longer than the same data as a built-in benchmark."""


def as_user_data(benchmark: str, n_tasks: int, seed: int) -> TaskSequence:
    """The benchmark's tasks as a user would pass them: tensors per task, 0/1 target matrices."""
    bench = load_benchmark(benchmark, n_tasks, seed=seed)
    keys = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
    tasks = [{k: getattr(t, k) for k in keys} for t in bench.tasks]
    return TaskSequence.from_arrays(tasks, names=[t.name for t in bench.tasks], name=f"{benchmark} as tensors")


def data_source_speed(benchmark: str, n_tasks: int, device: str, rounds: int = 3) -> dict:
    """Median wall time of a whole fast run from the benchmark's name and from the same tensors."""
    config = preset("fast", device=device, seed=0)
    sequence = as_user_data(benchmark, n_tasks, config.seed)
    Trainer(config.replace(iterations=10, head_iterations=10), benchmark, 1).run()  # warm-up, untimed
    times: dict[str, list[float]] = {"benchmark": [], "sequence": []}
    tasks: dict[str, list] = {}
    for _ in range(rounds):
        for kind, source in (("benchmark", benchmark), ("sequence", sequence)):
            start = time.perf_counter()
            record = Trainer(config, source, n_tasks).run()
            times[kind].append(time.perf_counter() - start)
            tasks[kind] = strip_timings(record["tasks"])
    median = {kind: statistics.median(values) for kind, values in times.items()}
    return {
        "benchmark": benchmark,
        "tasks": n_tasks,
        "rounds": rounds,
        "benchmark_s": median["benchmark"],
        "sequence_s": median["sequence"],
        "all_benchmark_s": times["benchmark"],
        "all_sequence_s": times["sequence"],
        "ratio": median["sequence"] / median["benchmark"],
        "same_run": tasks["benchmark"] == tasks["sequence"],
    }


def format_lines(row: dict) -> list[str]:
    """The data-source figure as table lines."""
    ok = "ok" if row["ratio"] <= TARGET and row["same_run"] else "ABOVE" if row["same_run"] else "DIFFERENT RUNS"
    return [
        "",
        f"fast run from a TaskSequence of tensors vs the same data as a benchmark: {row['benchmark']}, "
        f"{row['tasks']} tasks, median of {row['rounds']} rounds",
        f"  benchmark {row['benchmark_s']:.2f} s, TaskSequence {row['sequence_s']:.2f} s: ratio {row['ratio']:.3f} "
        f"(target <= {TARGET}); the same run: {row['same_run']}  {ok}",
    ]
