"""``den bench --parts data``: a user's TaskSequence of tensors trains as fast as the same built-in benchmark.

The benchmark's own tensors are handed back as a ``TaskSequence.from_arrays`` (train, val and
test as they are, so both runs see identical data), and the two whole fast-preset runs take
turns on one torch thread, each timed end to end around ``Trainer.run()``: wall time, and the
CPU time of this process, which other jobs on a shared machine leave nearly untouched (wall
time there measures them). The figures are ratios of medians (target: within 5 %, judged on
CPU time); the two records must also agree on every task (every event's numbers, unit and
score; timings aside), or the comparison would not be of the same work.
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
    # the benchmark's own preset values, for both: a TaskSequence gets no values of its own
    config = preset("fast", benchmark=benchmark, device=device, seed=0, threads=1)
    sequence = as_user_data(benchmark, n_tasks, config.seed)
    Trainer(config.replace(iterations=10, head_iterations=10), benchmark, 1).run()  # warm-up, untimed
    times: dict[str, list[float]] = {"benchmark": [], "sequence": []}
    cpu: dict[str, list[float]] = {"benchmark": [], "sequence": []}
    tasks: dict[str, list] = {}
    for _ in range(rounds):
        for kind, source in (("benchmark", benchmark), ("sequence", sequence)):
            start, start_cpu = time.perf_counter(), time.process_time()
            record = Trainer(config, source, n_tasks).run()
            times[kind].append(time.perf_counter() - start)
            cpu[kind].append(time.process_time() - start_cpu)
            tasks[kind] = strip_timings(record["tasks"])
    median = {kind: statistics.median(values) for kind, values in times.items()}
    median_cpu = {kind: statistics.median(values) for kind, values in cpu.items()}
    return {
        "benchmark": benchmark,
        "tasks": n_tasks,
        "rounds": rounds,
        "benchmark_s": median["benchmark"],
        "sequence_s": median["sequence"],
        "all_benchmark_s": times["benchmark"],
        "all_sequence_s": times["sequence"],
        "ratio": median["sequence"] / median["benchmark"],
        "benchmark_cpu_s": median_cpu["benchmark"],
        "sequence_cpu_s": median_cpu["sequence"],
        "all_benchmark_cpu_s": cpu["benchmark"],
        "all_sequence_cpu_s": cpu["sequence"],
        "cpu_ratio": median_cpu["sequence"] / median_cpu["benchmark"],
        "same_run": tasks["benchmark"] == tasks["sequence"],
    }


def format_lines(row: dict) -> list[str]:
    """The data-source figure as table lines."""
    ok = "ok" if row["cpu_ratio"] <= TARGET and row["same_run"] else "ABOVE" if row["same_run"] else "DIFFERENT RUNS"
    return [
        "",
        f"fast run from a TaskSequence of tensors vs the same data as a benchmark: {row['benchmark']}, "
        f"{row['tasks']} tasks, 1 thread, median of {row['rounds']} rounds",
        f"  CPU time: benchmark {row['benchmark_cpu_s']:.2f} s, TaskSequence {row['sequence_cpu_s']:.2f} s: "
        f"ratio {row['cpu_ratio']:.3f} (target <= {TARGET}); the same run: {row['same_run']}  {ok}",
        f"  wall time: benchmark {row['benchmark_s']:.2f} s, TaskSequence {row['sequence_s']:.2f} s: "
        f"ratio {row['ratio']:.3f}",
    ]
