"""The tables of a run, read straight from its record: the R matrices, decisions, units and tasks.

``matrix``     one row per (trained task, evaluated task, split, metric): the R matrices, long form
``decisions``  one row per decision DEN took (task, stage, decision, the numbers behind it)
``units``      the unit registry after every task (id, layer, birth task, origin, parent, retired)
``tasks``      one row per task: sizes, parameters, sparsity, average scores, training time

Rows are plain dicts of numbers and strings; a missing or non-finite number is None. The writers
(CSV, Parquet, TensorBoard) are den_engine.records.export and den_engine.records.tensorboard.
"""

from __future__ import annotations

import math

TABLES = ("matrix", "decisions", "units", "tasks")
SPLITS = (("test", ""), ("val", "val_"))  # (split, prefix of its metric lists in a snapshot's metrics)
METRICS = ("auroc", "accuracy")


def _number(value):
    """A finite float, or None (JSON null, NaN and infinities alike: every format stores a missing value)."""
    if value is None or isinstance(value, bool):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def matrix_rows(record: dict) -> list[dict]:
    """The R matrices in long form: score on ``evaluated_task`` after training ``trained_task``."""
    names = record["benchmark"].get("task_names") or []
    rows = []
    for snap in record["tasks"]:
        metrics = snap["metrics"]
        for split, prefix in SPLITS:
            for metric in METRICS:
                for j, value in enumerate(metrics.get(prefix + metric) or [], start=1):
                    name = names[j - 1] if j <= len(names) else f"task {j}"
                    rows.append({"trained_task": snap["task"], "evaluated_task": j, "evaluated_name": name,
                                 "split": split, "metric": metric, "value": _number(value)})  # fmt: skip
    return rows


def _row(snap: dict, stage: str, decision: str, **numbers) -> dict:
    row = {"task": snap["task"], "task_name": snap.get("name", ""), "stage": stage, "decision": decision}
    row.update({"layer": None, "unit": None, "new_unit": None, "count": None, "of": None, "value": None,
                "threshold": None, "units": ""})  # fmt: skip
    row.update(numbers)
    return row


def _expansion_rows(snap: dict, event: dict) -> list[dict]:
    """Per layer: the new units kept and the new units pruned, with the loss after expansion."""
    rows, loss = [], _number(event.get("loss"))
    for layer, (added, pruned) in enumerate(zip(event["added"], event["pruned"], strict=True), 1):
        kept = [unit for unit in added if unit not in pruned]
        for decision, ids in (("keep new units", kept), ("prune new units", pruned)):
            units = " ".join(map(str, ids))
            rows.append(_row(snap, event["stage"], decision, layer=layer, count=len(ids), of=len(added), value=loss,
                             units=units))  # fmt: skip
    return rows


def _decisions_of(snap: dict) -> list[dict]:
    """One task's decisions, in the order DEN took them."""
    rows = []
    events = snap.get("events") or []
    drift = next((e for e in events if e.get("type") == "drift"), {})
    for event in events:
        kind, stage = event.get("type"), event.get("stage", "")
        if kind == "selection":  # Eq. 4: which units reach the new output
            for layer, ((n, total), ids) in enumerate(zip(event["counts"], event["selected"], strict=True), 1):
                units = " ".join(map(str, ids))
                rows.append(_row(snap, stage, "retrain selected units", layer=layer, count=n, of=total, units=units))
        elif kind == "expansion_decision":  # loss after selective retraining against tau
            decision = "expand" if event["expand"] else "keep size"
            rows.append(_row(snap, stage, decision, value=_number(event["loss"]),
                             threshold=_number(event["loss_threshold"])))  # fmt: skip
        elif kind == "expansion":  # Eq. 5: group sparsity prunes some of the k new units per layer
            rows += _expansion_rows(snap, event)
        elif kind == "split":  # Eq. 6: a unit whose drift passed sigma gets a duplicate
            sigma = _number(drift.get("split_threshold"))
            for pair in event["pairs"]:
                numbers = {"unit": pair["parent"], "new_unit": pair["duplicate"], "value": _number(pair["drift"])}
                rows.append(_row(snap, stage, "split", layer=pair["layer"], threshold=sigma, **numbers))
            per_layer = drift.get("drift") or []
            for layer, entry in enumerate(per_layer, 1):
                n_split = sum(1 for p in event["pairs"] if p["layer"] == layer)
                rows.append(_row(snap, stage, "keep units unsplit", layer=layer, count=len(entry["ids"]) - n_split,
                                 of=len(entry["ids"]), threshold=sigma))  # fmt: skip
        elif kind == "stage_end":
            rows.append(_row(snap, stage, "stage finished", count=event.get("iterations"),
                             value=_number(event.get("loss"))))  # fmt: skip
    return rows


def decision_rows(record: dict) -> list[dict]:
    """Every decision of every task: selection, expansion, pruning, split, and each stage's final loss."""
    return [row for snap in record["tasks"] for row in _decisions_of(snap)]


def unit_rows(record: dict) -> list[dict]:
    """The unit registry after every task; ``active`` is False once a unit is retired."""
    rows = []
    for snap in record["tasks"]:
        for unit in snap["units"]:
            retired = unit.get("retired")
            rows.append({"task": snap["task"], "id": unit["id"], "layer": unit["layer"], "born": unit["born"],
                         "origin": unit["origin"], "parent": unit.get("parent"), "retired": retired,
                         "active": retired is None or retired > snap["task"]})  # fmt: skip
    return rows


def task_rows(record: dict) -> list[dict]:
    """One row per task: hidden sizes, parameters, sparsity per layer, average scores, time."""
    rows = []
    for snap in record["tasks"]:
        params, metrics = snap.get("params") or {}, snap.get("metrics") or {}
        row = {"task": snap["task"], "task_name": snap.get("name", ""),
               "active_sizes": "-".join(map(str, snap["active_sizes"][1:])),
               "params_total": params.get("total"), "params_nonzero": params.get("nonzero"),
               "relative_to_mtl": _number(params.get("relative_to_mtl")),
               "relative_to_stl": _number(params.get("relative_to_stl")),
               "average_auroc": _number(metrics.get("average_auroc")),
               "average_accuracy": _number(metrics.get("average_accuracy")),
               "wall_time_s": _number(snap.get("wall_time_s"))}  # fmt: skip
        for layer, value in enumerate(snap.get("sparsity") or [], 1):
            row[f"sparsity_layer_{layer}"] = _number(value)
        for layer, size in enumerate(snap["active_sizes"][1:], 1):
            row[f"units_layer_{layer}"] = size
        rows.append(row)
    return rows


def tables(record: dict) -> dict[str, list[dict]]:
    """All four tables of a run, by name."""
    return {"matrix": matrix_rows(record), "decisions": decision_rows(record), "units": unit_rows(record),
            "tasks": task_rows(record)}  # fmt: skip


def columns(rows: list[dict]) -> list[str]:
    """The column names of a table, in first-seen order."""
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    return names
