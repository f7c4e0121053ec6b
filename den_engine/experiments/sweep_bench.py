"""Speed of a parallel sweep: the same grid with ``--jobs 1`` and with ``--jobs N``, in one invocation.

``python -m den_engine.experiments.sweep_bench --benchmark digits-one-vs-rest --tasks 5 \\
    --grid loss_threshold=0.01,0.1,inf split_threshold=0.002,0.05 --seeds 0,1 --jobs 2``

Both sweeps start from empty temporary directories (nothing is reused), both run in
worker processes with one torch thread each, and their records are checked to be the
same (timings aside); it prints both wall times and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from den_engine.experiments.sweep import run_sweep
from den_engine.experiments.sweep_cli import add_arguments, jobs_from_args
from den_engine.records.store import load_run, strip_timings


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished (reaped) worker processes
    return usage.ru_utime + usage.ru_stime


def timed_sweep(args: argparse.Namespace, workers: int, out: Path) -> tuple[float, float, list[dict]]:
    """Wall time and workers' CPU time of a fresh sweep into ``out`` with ``workers`` processes, and its records."""
    jobs, _ = jobs_from_args(args, out)
    cpu, start = _children_cpu_s(), time.perf_counter()
    rows = run_sweep(jobs, workers, "local")
    seconds, cpu = time.perf_counter() - start, _children_cpu_s() - cpu
    failed = [r for r in rows if r["how"].startswith("failed")]
    if failed:
        raise SystemExit(f"error: {failed[0]['run']}: {failed[0]['how']}")
    return seconds, cpu, [strip_timings(load_run(job.run_dir).data) for job in jobs]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m den_engine.experiments.sweep_bench", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    workers = args.jobs or 2
    with tempfile.TemporaryDirectory(prefix="den-sweep-bench-") as scratch:
        n_jobs = len(jobs_from_args(args, scratch)[0])
        print(f"{n_jobs} configurations, --jobs 1 then --jobs {workers} ...", file=sys.stderr, flush=True)
        serial_s, serial_cpu, serial = timed_sweep(args, 1, Path(scratch) / "jobs-1")
        parallel_s, parallel_cpu, parallel = timed_sweep(args, workers, Path(scratch) / f"jobs-{workers}")
    result = {
        "configurations": n_jobs,
        "jobs_1_s": round(serial_s, 2),
        f"jobs_{workers}_s": round(parallel_s, 2),
        "speedup": round(serial_s / parallel_s, 2),
        # cores the workers kept busy on average: below ``workers`` when the machine was shared
        "jobs_1_cores_used": round(serial_cpu / serial_s, 2),
        f"jobs_{workers}_cores_used": round(parallel_cpu / parallel_s, 2),
        "same_records": serial == parallel,
    }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        speedup = serial_s / parallel_s
        print(
            f"{n_jobs} configurations on {args.benchmark}: --jobs 1 {serial_s:.1f} s, --jobs {workers} "
            f"{parallel_s:.1f} s, speed-up x{speedup:.2f}; records identical: {serial == parallel}\n"
            f"cores the workers used on average: {serial_cpu / serial_s:.2f} with --jobs 1, "
            f"{parallel_cpu / parallel_s:.2f} with --jobs {workers} (about {workers} on a machine nothing else uses)"
        )
    return 0 if serial == parallel else 1


if __name__ == "__main__":
    sys.exit(main())
