"""Decision diff of two runs: task by task, where DEN decided differently, and the first place it did.

A task's decisions are read from its snapshot's events, in the order the algorithm makes
them: how many units were selected for retraining per layer (Algorithm 2), whether it
expanded (loss against tau), how many units were added and pruned per layer
(Algorithm 3), and how many were split per layer (Algorithm 4). Two runs "decide
differently" at a task when any of these differ; the first difference is the earliest
task, and within it the earliest decision, lowest layer first.
"""

from __future__ import annotations

from typing import Any

DECISIONS = ("selected", "expanded", "added", "pruned", "split")
"""Decisions in the order the algorithm takes them within a task."""

LABELS = {
    "selected": "units selected for retraining",
    "expanded": "expanded (loss > tau)",
    "added": "units added",
    "pruned": "units pruned (group sparsity)",
    "split": "units split (drift > sigma)",
}


def _event(snapshot: dict, kind: str) -> dict | None:
    return next((e for e in snapshot.get("events", []) if e.get("type") == kind), None)


def decisions(snapshot: dict) -> dict[str, Any]:
    """One task's decisions: per-layer counts (lists) and whether it expanded (None when not asked)."""
    n_layers = max(len(snapshot.get("layer_sizes", [])) - 1, 0)
    selection = _event(snapshot, "selection")
    expansion = _event(snapshot, "expansion") or {}
    decision = _event(snapshot, "expansion_decision")
    split = _event(snapshot, "split") or {}
    per_layer_split = [0] * n_layers
    for pair in split.get("pairs", []):
        layer = int(pair["layer"])
        per_layer_split += [0] * (layer - len(per_layer_split))
        per_layer_split[layer - 1] += 1
    return {
        "selected": None if selection is None else [int(n) for n, _ in selection.get("counts", [])],
        "expanded": None if decision is None else bool(decision.get("expand")),
        "added": [len(ids) for ids in expansion.get("added", [])] or [0] * n_layers,
        "pruned": [len(ids) for ids in expansion.get("pruned", [])] or [0] * n_layers,
        "split": per_layer_split,
    }


def _pad(values: list | None, n: int) -> list:
    values = list(values or [])
    return values + [0] * (n - len(values))


def task_differences(a: dict, b: dict) -> list[dict]:
    """Where two tasks' decisions differ: [{what, layer (1-based, None for a whole-task decision), a, b}]."""
    da, db = decisions(a), decisions(b)
    out = []
    for what in DECISIONS:
        va, vb = da[what], db[what]
        if what == "expanded" or va is None or vb is None:
            if va != vb:
                out.append({"what": what, "layer": None, "a": va, "b": vb})
            continue
        n = max(len(va), len(vb))
        for layer, (x, y) in enumerate(zip(_pad(va, n), _pad(vb, n), strict=True), start=1):
            if x != y:
                out.append({"what": what, "layer": layer, "a": x, "b": y})
    return out


def decision_diff(a: dict, b: dict) -> dict:
    """Compare two run records task by task.

    Returns ``{"tasks": [{task, name_a, name_b, decisions_a, decisions_b, differences}],
    "first": {task, what, layer, a, b} or None, "extra_tasks": {"a": n, "b": n}}``; the runs
    are compared over the tasks both have finished.
    """
    ta, tb = a.get("tasks") or [], b.get("tasks") or []
    tasks, first = [], None
    for sa, sb in zip(ta, tb, strict=False):
        diffs = task_differences(sa, sb)
        tasks.append(
            {
                "task": sa["task"],
                "name_a": sa.get("name", ""),
                "name_b": sb.get("name", ""),
                "decisions_a": decisions(sa),
                "decisions_b": decisions(sb),
                "differences": diffs,
            }
        )
        if first is None and diffs:
            first = {"task": sa["task"], **diffs[0]}
    common = len(tasks)
    return {"tasks": tasks, "first": first, "extra_tasks": {"a": len(ta) - common, "b": len(tb) - common}}


def diff_rows(diff: dict) -> list[dict]:
    """The differences as table rows (task, decision, layer, run A, run B, first), for views and CSV."""
    rows = []
    first = diff.get("first")
    for entry in diff["tasks"]:
        for d in entry["differences"]:
            is_first = first is not None and (entry["task"], d["what"], d["layer"]) == (
                first["task"],
                first["what"],
                first["layer"],
            )
            rows.append(
                {
                    "task": entry["task"],
                    "decision": LABELS[d["what"]],
                    "layer": d["layer"],
                    "run A": d["a"],
                    "run B": d["b"],
                    "first": is_first,
                }
            )
    return rows


def describe_first(diff: dict) -> str:
    """One sentence naming where the two runs first decided differently (or that they never did)."""
    first = diff.get("first")
    extra = diff.get("extra_tasks", {})
    more = ""
    if extra.get("a") or extra.get("b"):
        longer, n = ("A", extra["a"]) if extra.get("a") else ("B", extra["b"])
        more = f" (run {longer} has {n} more task(s), not compared)"
    if first is None:
        return f"The two runs took the same decisions on every task they share{more}."
    where = "" if first["layer"] is None else f" in layer {first['layer']}"
    what = LABELS[first["what"]]
    return f"First difference: task {first['task']}, {what}{where}: run A {first['a']}, run B {first['b']}{more}."
