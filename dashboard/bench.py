"""How fast the network drawing is at MNIST scale: ``python -m dashboard.bench [--json] [--run DIR]``.

By default measures a synthetic 10-task record grown to 784-1029-459 stored units (see
``dashboard.synthetic``; written with its weights to a temporary run directory), so the
numbers need no training; ``--run DIR`` measures a real run's last task instead. Reports the
median time to build the figure (growth view with bundled edges; the change view; 300
strongest edges), its size as sent to the browser, a timeline rerun (load the run, read one
task's weights, build the figure), a step forward along the timeline (the same, plus the two
in-between pictures of the arriving units, without the pauses between them) and the growth film
with every task's frames.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from dashboard.figures import arrival, network_figure
from dashboard.figures.animation import growth_animation
from dashboard.synthetic import grown_record, grown_weights
from den_engine.core.errors import RunFileError
from den_engine.records.store import load_run, write_run_json, write_weights

TARGETS = {
    "build_ms": 150.0,
    "changes_ms": 150.0,
    "strongest_ms": 150.0,
    "json_bytes": 2_000_000,
    "rerun_ms": 300.0,
    "film_bytes": 5_000_000,
    "step_ms": 300.0,
    "step_bytes": 5_000_000,
}
LABELS = {
    "build_ms": "build the figure: growth view, bundled edges (median, ms)",
    "changes_ms": "build the figure: change view (median, ms)",
    "strongest_ms": "build the figure: 300 strongest edges (median, ms)",
    "json_bytes": "figure JSON sent to the browser (bytes)",
    "rerun_ms": "timeline rerun: load run + weights + figure (median, ms)",
    "film_bytes": "growth film, every task's frames (bytes)",
    "film_ms": "build the growth film (ms, cached per run by the app)",
    "step_ms": "timeline step: rerun + 2 in-between pictures (median, ms)",
    "step_bytes": "timeline step: its 3 pictures' JSON (bytes)",
}


def write_synthetic(run_dir: Path, record: dict | None = None, weights_of=grown_weights) -> Path:
    """Write the synthetic grown record (or ``record``, with ``weights_of(record, task)``) and its weights as a
    run directory."""
    record = grown_record() if record is None else record
    for snapshot in record["tasks"]:
        tensors = {k: torch.from_numpy(v) for k, v in weights_of(record, snapshot["task"]).items()}
        write_weights(run_dir, snapshot["task"], tensors)
    write_run_json(run_dir, record)
    return run_dir


def _weights(run, task: int) -> dict:
    return {k: v.numpy() for k, v in run.weights(task).items() if k != "rng_state"}


def _median_ms(build, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        build()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def measure(run_dir: Path, repeats: int = 7) -> dict:
    """Median build times, figure and film sizes and median rerun time for the run's last task."""
    run = load_run(run_dir)
    task = len(run.tasks)
    weights = _weights(run, task)
    fig = network_figure(run.data, task, weights)  # warm imports and plotly's validators
    result = {"run": str(run_dir), "network": "-".join(str(s) for s in run.tasks[-1]["layer_sizes"]), "task": task}
    result["build_ms"] = _median_ms(lambda: network_figure(run.data, task, weights), repeats)
    result["changes_ms"] = _median_ms(lambda: network_figure(run.data, task, weights, mode="changes"), repeats)
    result["strongest_ms"] = _median_ms(lambda: network_figure(run.data, task, weights, edges="strongest"), repeats)
    result["json_bytes"] = len(fig.to_json())
    scrub = iter(range(10 * repeats))

    def rerun() -> None:
        fresh = load_run(run_dir)
        t = task - next(scrub) % min(task, 3)  # scrub over the last few tasks
        network_figure(fresh.data, t, _weights(fresh, t))

    result["rerun_ms"] = _median_ms(rerun, repeats)

    def step() -> list:  # one step forward: what the app builds, without its 0.2 s pauses
        fresh = load_run(run_dir)
        w = _weights(fresh, task)
        shown = [network_figure(fresh.data, task, w, arrive=a) for a in arrival.amounts()]
        return [*shown, network_figure(fresh.data, task, w)]

    result["step_ms"] = _median_ms(step, repeats)
    result["step_bytes"] = sum(len(f.to_json()) for f in step())
    start = time.perf_counter()
    film = growth_animation(run.data)
    result["film_ms"] = 1000 * (time.perf_counter() - start)
    result["film_bytes"] = len(film.to_json())
    return result


def report(result: dict) -> list[dict]:
    """One row per measure: value, target (None where there is none) and pass/fail."""
    return [
        {"measure": LABELS[key], "value": result[key], "target": TARGETS.get(key),
         "pass": key not in TARGETS or result[key] <= TARGETS[key]}
        for key in LABELS
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark table (or JSON); exit status 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m dashboard.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--run", type=Path, help="a run directory to measure instead of the synthetic record")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="den-bench-") as tmp:
        run_dir = args.run if args.run is not None else write_synthetic(Path(tmp))
        try:
            result = measure(run_dir)
        except RunFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.run is None:
        result["run"] = "synthetic grown record (dashboard.synthetic)"
    rows = report(result)
    if args.json:
        print(json.dumps({**result, "rows": rows}, indent=1))
    else:
        print(f"run {result['run']} · network {result['network']} (stored) · task {result['task']}")
        print(f"| {'measure':<60} | {'value':>11} | {'target':>11} | result |")
        print(f"|{'-' * 62}|{'-' * 13}|{'-' * 13}|--------|")
        for row in rows:
            target = "—" if row["target"] is None else f"{row['target']:,.0f}"
            verdict = "pass" if row["pass"] else "FAIL"
            print(f"| {row['measure']:<60} | {row['value']:>11,.0f} | {target:>11} | {verdict:<6} |")
    return 0 if all(row["pass"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
