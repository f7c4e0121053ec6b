"""A synthetic DEN run record at MNIST scale, for the drawing's benchmark and tests (no training needed).

``grown_record`` builds a record with the shape of a real grown mnist-one-vs-rest run
(784 inputs, 312-128 at task 1, 1029-459 stored after 10 tasks): every task after the
first expands each layer by k units (some pruned by group sparsity), selects units for
retraining, measures drift and splits the units that drifted past σ (the copy is a
duplicate, the original retires). ``grown_weights`` gives a task's weights of the right
shapes, half of them exactly zero. Deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np

INPUT = (28, 28)
BASE = (312, 128)
FINAL = (1029, 459)
SIGMA = 0.005


def _unit(uid: int, layer: int, born: int, origin: str, parent: int | None = None) -> dict:
    return {"id": uid, "layer": layer, "born": born, "origin": origin, "parent": parent, "retired": None}


def grown_record(
    n_tasks: int = 10,
    seed: int = 0,
    k: int = 10,
    pruned: int = 2,
    final: tuple[int, ...] = FINAL,
    base: tuple[int, ...] = BASE,
) -> dict:
    """A run record that grows from 784-312-128 (``base``) to ``final`` (784-1029-459) stored units over
    ``n_tasks`` tasks."""
    rng = np.random.default_rng(seed)
    units: list[dict] = []
    next_id = 0
    layers = range(1, len(base) + 1)
    for layer, size in enumerate(base, start=1):
        for _ in range(size):
            units.append(_unit(next_id, layer, 1, "base"))
            next_id += 1
    tasks = []
    for t in range(1, n_tasks + 1):
        events, ghosts, selected = [], [], [[] for _ in layers]
        if t > 1:
            added = [[] for _ in layers]
            for layer in layers:
                for i in range(k):
                    u = _unit(next_id, layer, t, "expanded")
                    next_id += 1
                    (ghosts if i >= k - pruned else units).append(u)
                    added[layer - 1].append(u["id"])
            kept, gone = [ids[: k - pruned] for ids in added], [ids[k - pruned :] for ids in added]
            events.append({"type": "expansion", "stage": "pruning", "added": added, "kept": kept, "pruned": gone})
            drift, pairs = [], []
            for layer in layers:
                active = [u for u in units if u["layer"] == layer and u["retired"] is None and u["born"] < t]
                stored = sum(1 for u in units if u["layer"] == layer)
                left = final[layer - 1] - stored - (n_tasks - t) * (k - pruned)
                n_split = max(0, left // max(n_tasks - t + 1, 1))
                chosen = rng.choice(len(active), size=min(len(active), n_split + 60), replace=False)
                picked = [active[i] for i in chosen]
                selected[layer - 1] = sorted(u["id"] for u in picked)
                values = rng.uniform(0, SIGMA * 0.9, size=len(picked))
                values[:n_split] = rng.uniform(SIGMA * 1.05, SIGMA * 3, size=min(n_split, len(picked)))
                drift.append({"ids": [u["id"] for u in picked], "values": values.round(6).tolist()})
                for u, v in zip(picked[:n_split], values[:n_split], strict=False):
                    u["retired"] = t
                    units.append(_unit(next_id, layer, t, "duplicate", u["id"]))
                    pairs.append({"layer": layer, "parent": u["id"], "duplicate": next_id, "drift": float(v)})
                    next_id += 1
            events.append({"type": "drift", "stage": "split", "split_threshold": SIGMA, "drift": drift})
            events.append({"type": "split", "stage": "split", "pairs": pairs})
        sizes = [784] + [sum(1 for u in units if u["layer"] == l) for l in layers]
        active = [784] + [sum(1 for u in units if u["layer"] == l and u["retired"] is None) for l in layers]
        tasks.append({
            "task": t, "name": f"digit {t - 1} vs rest", "n_outputs": 1, "layer_sizes": sizes, "active_sizes": active,
            "units": [dict(u) for u in units], "pruned": [dict(g) for g in ghosts],
            "selected": selected if t > 1 else None, "events": events, "sparsity": [0.5] * len(base),
            "params": {"total": 0, "nonzero": 0}, "metrics": {}, "weights": f"weights/task-{t:03d}.safetensors",
        })  # fmt: skip
    return {
        "format": "den-run", "schema_version": 1, "run_id": f"synthetic-{seed}", "method": "den", "preset": "fast",
        "seed": seed, "status": "complete", "created": "", "updated": "", "notes": [],
        "benchmark": {"name": "mnist-one-vs-rest (synthetic)", "n_tasks": n_tasks, "input_dim": 784,
                      "input_shape": list(INPUT), "task_names": [f"digit {d} vs rest" for d in range(n_tasks)],
                      "n_outputs": [1] * n_tasks},
        "config": {"hidden_sizes": list(base), "split_threshold": SIGMA}, "base_sizes": list(base), "tasks": tasks,
    }  # fmt: skip


def grown_weights(record: dict, task: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights of task ``task`` with the record's stored shapes (float32, about half exactly zero)."""
    rng = np.random.default_rng(seed + task)
    sizes = record["tasks"][task - 1]["layer_sizes"]
    out = {}
    for l in range(1, len(sizes)):
        w = rng.normal(0, 0.05, size=(sizes[l], sizes[l - 1])).astype(np.float32)
        w[rng.random(w.shape) < 0.5] = 0.0
        out[f"hidden.{l}.weight"] = w
    for t in range(1, task + 1):
        out[f"head.{t}.weight"] = rng.normal(0, 0.1, size=(1, sizes[-1])).astype(np.float32)
    return out


CONV_BASE = (20, 50, 800, 500)  # the paper preset's LeNet-style conv net: conv 20, 50, then 800-500 dense units
CONV_FINAL = (120, 260, 1700, 1300)
KERNEL = 5


def grown_conv_record(
    n_tasks: int = 10,
    seed: int = 0,
    base: tuple[int, ...] = CONV_BASE,
    final: tuple[int, ...] = CONV_FINAL,
    k: int = 10,
    pruned: int = 2,
) -> dict:
    """A grown record of the paper preset's conv network (conv 20, 50 of 5×5 kernels, 800-500 dense) on 28×28:
    two conv layers, then the dense ones of ``base``."""
    record = grown_record(n_tasks, seed, k=k, pruned=pruned, final=final, base=base)
    record["config"].update(conv_channels=list(base[:2]), kernel_size=KERNEL, hidden_sizes=list(base[2:]))
    record["base_sizes"] = list(base[2:])  # as the engine writes it: the dense layers only
    record["benchmark"]["name"] = "mnist-one-vs-rest (synthetic conv)"
    for snapshot in record["tasks"]:
        snapshot["layer_kinds"] = ["conv", "conv"] + ["dense"] * (len(base) - 2)
    return record


def grown_conv_weights(record: dict, task: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights of task ``task`` with a conv record's stored shapes: 4-D kernels, a 3-D first dense layer."""
    rng = np.random.default_rng(seed + task)
    sizes = record["tasks"][task - 1]["layer_sizes"]
    k = int(record["config"].get("kernel_size") or KERNEL)
    shapes = [(sizes[1], 1, k, k), (sizes[2], sizes[1], k, k), (sizes[3], sizes[2], 49)]  # 28 → 14 → 7: 49 positions
    shapes += [(sizes[l], sizes[l - 1]) for l in range(4, len(sizes))]
    out = {}
    for l, shape in enumerate(shapes, start=1):
        w = rng.normal(0, 0.05, size=shape).astype(np.float32)
        w[rng.random(w.shape) < 0.5] = 0.0
        out[f"hidden.{l}.weight"] = w
    for t in range(1, task + 1):
        out[f"head.{t}.weight"] = rng.normal(0, 0.1, size=(1, sizes[-1])).astype(np.float32)
    return out
