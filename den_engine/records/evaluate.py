"""Recompute a run's metrics from its saved weights and check them against run.json.

Scores are compared for every record. Parameter counts are recomputed with the current
rule (den_engine.core.counting) and compared only with a record that says it used the
same rule (``params.counting``); an older record keeps its stored numbers, and the report
gives both side by side.
"""

from __future__ import annotations

import math
from pathlib import Path

from den_engine.core.errors import ConfigError
from den_engine.core.runner import count_parameters, evaluate_tasks
from den_engine.data.sources import DataSource, sequence_for_record
from den_engine.methods import get_method
from den_engine.records import metrics
from den_engine.records.store import load_run

TOLERANCE = 1e-9


def _max_difference(a: list[list[float]], b: list[list[float]]) -> float:
    worst = 0.0
    for row_a, row_b in zip(a, b, strict=True):
        for x, y in zip(row_a, row_b, strict=True):
            x = math.nan if x is None else x
            y = math.nan if y is None else y
            if math.isnan(x) and math.isnan(y):
                continue
            worst = max(worst, abs(x - y)) if not (math.isnan(x) or math.isnan(y)) else math.inf
    return worst


def evaluate_run(run_dir: str | Path, data: DataSource | None = None) -> dict:
    """Every metric of every finished task, recomputed from the weights files.

    A run on a user's data reads it from ``data`` (a path or the TaskSequence) or from the
    recorded path; data whose hash differs from the record's is refused (a DataError).
    """
    run = load_run(run_dir)
    bench = run.data["benchmark"]
    benchmark = sequence_for_record(bench, run.data["seed"], bench["n_tasks"], data)
    matrices: dict[str, list[list[float]]] = {"auroc": [], "accuracy": [], "val_auroc": [], "val_accuracy": []}
    for task in range(1, len(run.tasks) + 1):
        net = run.network(task)
        test = evaluate_tasks(net, benchmark, task, "test")
        val = evaluate_tasks(net, benchmark, task, "val")
        matrices["auroc"].append(test["auroc"])
        matrices["accuracy"].append(test["accuracy"])
        matrices["val_auroc"].append(val["auroc"])
        matrices["val_accuracy"].append(val["accuracy"])
    recorded = {key: [t["metrics"][key] for t in run.tasks] for key in matrices}
    difference = max((_max_difference(matrices[k], recorded[k]) for k in matrices), default=0.0)
    params = _recount(run, benchmark) if run.tasks else None
    report = {
        "run": str(run.path),
        "method": run.data["method"],
        "benchmark": bench["name"],
        "tasks_evaluated": len(run.tasks),
        "auroc_matrix": matrices["auroc"],
        "accuracy_matrix": matrices["accuracy"],
        "val_auroc_matrix": matrices["val_auroc"],
        "val_accuracy_matrix": matrices["val_accuracy"],
        "max_abs_difference": difference,
        "agrees_with_record": difference <= TOLERANCE and (params is None or params["agrees"] is not False),
    }
    if params is not None:
        report["params"] = params
    if run.tasks:
        report.update(
            average_auroc=metrics.average_final(matrices["auroc"]),
            average_accuracy=metrics.average_final(matrices["accuracy"]),
            backward_transfer_auroc=metrics.backward_transfer(matrices["auroc"]),
            forgetting_auroc=metrics.forgetting(matrices["auroc"]),
        )
    return report


def _recount(run, benchmark) -> dict:
    """The last task's parameter counts, recomputed; compared when the record used the same rule."""
    last = run.tasks[-1]
    stored = last.get("params") or {}
    try:
        method = get_method(run.data["method"])
        config = method.config_class.from_dict(run.config)
    except ConfigError:
        return {
            "recorded": stored,
            "recorded_counting": stored.get("counting", "stored"),
            "recomputed": None,
            "agrees": None,
        }
    n_outputs = [t.n_outputs for t in benchmark.tasks[: len(run.tasks)]]
    params = count_parameters(method, run.network(len(run.tasks)), config, n_outputs)
    same_rule = stored.get("counting") == params["counting"]
    agrees = all(stored.get(k) == params[k] for k in ("total", "nonzero")) if same_rule else None
    # "stored": written before the usable rule, every stored entry counted
    return {
        "recorded": stored,
        "recorded_counting": stored.get("counting", "stored"),
        "recomputed": params,
        "agrees": agrees,
    }
