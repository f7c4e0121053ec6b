"""How fast the network drawing is at MNIST scale: ``python -m dashboard.bench [--json] [--run DIR]``.

Measures, on the final network of a 10-task mnist-one-vs-rest run (784-312-128, fast
preset), the time to build ``network_figure``, the size of that figure as sent to the
browser, and a simulated timeline-slider rerun (load the run, read one task's weights,
build the figure). Without ``--run`` the run is trained once into a cache directory
under the system temp dir (about a minute on a laptop CPU) and reused afterwards.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dashboard.figures import network_figure
from den_engine.core.config import preset
from den_engine.core.errors import RunFileError
from den_engine.core.runner import Trainer
from den_engine.records.store import load_run

BENCHMARK = "mnist-one-vs-rest"
N_TASKS = 10
TARGETS = {"build_ms": 150.0, "json_bytes": 2_000_000, "rerun_ms": 300.0}


def cached_run_dir() -> Path:
    """Where the benchmark run is kept between invocations."""
    return Path(tempfile.gettempdir()) / "den-dashboard-bench" / f"{BENCHMARK}-fast-{N_TASKS}"


def ensure_run(run_dir: Path) -> Path:
    """Train (or finish) the benchmark run in ``run_dir`` unless it is already complete."""
    try:
        run = load_run(run_dir)
        if run.data.get("status") == "complete":
            return run_dir
        print(f"resuming the benchmark run in {run_dir} ...", file=sys.stderr)
        Trainer.resume(run_dir).run()
    except RunFileError:
        print(f"training a {N_TASKS}-task {BENCHMARK} run into {run_dir} (about a minute) ...", file=sys.stderr)
        Trainer(preset("fast"), BENCHMARK, N_TASKS, out_dir=run_dir).run()
    return run_dir


def _weights(run, task: int) -> dict:
    return {k: v.numpy() for k, v in run.weights(task).items() if k != "rng_state"}


def measure(run_dir: Path, repeats: int = 7) -> dict:
    """Median build time, figure JSON size and median slider-rerun time for the run's last task."""
    run = load_run(run_dir)
    task = len(run.tasks)
    weights = _weights(run, task)
    network_figure(run.data, task, weights)  # warm imports and plotly's validators
    builds, reruns = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        fig = network_figure(run.data, task, weights)
        builds.append(time.perf_counter() - start)
    for i in range(repeats):
        start = time.perf_counter()
        fresh = load_run(run_dir)
        t = task - i % min(task, 3)  # scrub over the last few tasks
        network_figure(fresh.data, t, _weights(fresh, t))
        reruns.append(time.perf_counter() - start)
    sizes = run.tasks[-1]["layer_sizes"]
    return {
        "run": str(run_dir),
        "network": "-".join(str(s) for s in sizes),
        "task": task,
        "build_ms": 1000 * statistics.median(builds),
        "json_bytes": len(fig.to_json()),
        "rerun_ms": 1000 * statistics.median(reruns),
    }


def report(result: dict) -> list[dict]:
    """One row per measure: value, target and pass/fail."""
    labels = {
        "build_ms": "build network_figure (median, ms)",
        "json_bytes": "figure JSON sent to the browser (bytes)",
        "rerun_ms": "timeline-slider rerun: load + weights + figure (median, ms)",
    }
    return [
        {"measure": labels[key], "value": result[key], "target": target, "pass": result[key] < target}
        for key, target in TARGETS.items()
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark table (or JSON); exit status 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m dashboard.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--run", type=Path, help="an existing run directory to measure instead of the cached one")
    args = parser.parse_args(argv)
    run_dir = args.run if args.run is not None else ensure_run(cached_run_dir())
    try:
        result = measure(run_dir)
    except RunFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = report(result)
    if args.json:
        print(json.dumps({**result, "rows": rows}, indent=1))
    else:
        print(f"run {result['run']} · network {result['network']} · task {result['task']}")
        print(f"{'measure':<62}{'value':>12}{'target':>12}  result")
        for row in rows:
            verdict = "pass" if row["pass"] else "FAIL"
            print(f"{row['measure']:<62}{row['value']:>12,.0f}{row['target']:>12,.0f}  {verdict}")
    return 0 if all(row["pass"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
