"""Runs the figure tests draw: a tiny trained run (3 tasks) and a handmade record whose every number is known."""

from __future__ import annotations

import numpy as np
import torch

from den_engine.core.config import preset
from den_engine.core.runner import Trainer
from den_engine.records.store import load_run

TINY = {"hidden_sizes": (8, 8), "iterations": 20, "head_iterations": 10}


def train_run(tmp_path_factory, benchmark: str, config=None):
    """A 3-task run on `benchmark` (TINY fast preset unless `config`): its record and its weights per task."""
    out = tmp_path_factory.mktemp(benchmark)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster, and much faster on a busy machine
    try:
        Trainer(config or preset("fast", **TINY), benchmark, 3, out_dir=out).run()
    finally:
        torch.set_num_threads(threads)
    run = load_run(out)
    weights = {t: {k: v.numpy() for k, v in run.weights(t).items() if k != "rng_state"} for t in (1, 2, 3)}
    return run.data, weights


def unit(uid, layer, born, origin="base", parent=None, retired=None):
    return {"id": uid, "layer": layer, "born": born, "origin": origin, "parent": parent, "retired": retired}


def handmade() -> tuple[dict, dict]:
    """2 inputs, layers 3-2; task 2 expands (ghost 6), splits unit 0 into 8; task 3 has missing metrics."""
    t1 = [unit(0, 1, 1), unit(1, 1, 1), unit(2, 1, 1), unit(3, 2, 1), unit(4, 2, 1)]
    t2 = [unit(0, 1, 1, retired=2)] + t1[1:3] + [unit(5, 1, 2, "expanded"), unit(8, 1, 2, "duplicate", parent=0)]
    t2 += t1[3:] + [unit(7, 2, 2, "expanded")]
    drift = {"ids": [0, 1, 2], "values": [0.3, 0.01, None]}
    events2 = [
        {
            "type": "expansion_decision",
            "stage": "selective_retraining",
            "loss": 0.4,
            "loss_threshold": 0.1,
            "expand": True,
        },
        {
            "type": "drift",
            "stage": "split",
            "split_threshold": 0.1,
            "drift": [drift, {"ids": [3, 4], "values": [0.02, 0]}],
        },
        {"type": "split", "stage": "split", "pairs": [{"layer": 1, "parent": 0, "duplicate": 8, "drift": 0.3}]},
    ]
    events3 = [{"type": "expansion_decision", "stage": "x", "loss": 0.05, "loss_threshold": 0.1, "expand": False}]

    def snap(task, units, events, metrics, pruned=(), selected=None):
        sizes = [2] + [sum(u["layer"] == l for u in units) for l in (1, 2)]
        active = [2] + [sum(u["layer"] == l and (u["retired"] or 99) > task for u in units) for l in (1, 2)]
        return {
            "task": task,
            "name": f"shape {task}",
            "n_outputs": 1,
            "layer_sizes": sizes,
            "active_sizes": active,
            "units": units,
            "pruned": list(pruned),
            "selected": selected,
            "events": events,
            "sparsity": [0.1 * task, None],
            "params": {"total": 30 * task, "nonzero": 20 * task, "mtl_params": 25, "stl_params": 25 * task},
            "metrics": metrics,
            "weights": f"weights/task-00{task}.safetensors",
        }

    record = {
        "run_id": "hand",
        "benchmark": {"name": "toy-2d", "input_dim": 2, "input_shape": [2], "n_outputs": [1, 1, 1]},
        "base_sizes": [3, 2],
        "tasks": [
            snap(1, t1, [], {"auroc": [0.9], "accuracy": [0.8], "average_auroc": 0.9, "average_accuracy": 0.8}),
            snap(
                2,
                t2,
                events2,
                {"auroc": [0.91, 0.7], "accuracy": [0.8, 0.6], "average_auroc": 0.805},
                pruned=[{"id": 6, "layer": 1, "born": 2, "origin": "expanded"}],
                selected=[[1, 2], [3]],
            ),
            snap(3, t2, events3, {"auroc": [0.9, None, float("nan")], "accuracy": [0.8, 0.6, 0.5]}),
        ],
    }
    w1 = np.array([[0.5, -0.25], [0.0, 1.0], [-2.0, 0.0], [0.75, 0.1], [0.3, -0.3]])  # rows: units 0,1,2,5,8
    w2 = np.array([[9.0, 0.2, -0.4, 0.0, 0.6], [0.0, -0.7, 0.8, 0.05, 0.0], [0.0, 0.0, 0.0, 0.9, -1.1]])
    weights = {"hidden.1.weight": w1, "hidden.2.weight": w2, "head.2.weight": np.array([[1.5, -0.01, 0.0]])}
    return record, weights
