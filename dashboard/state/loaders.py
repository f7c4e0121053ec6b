"""Cached loaders: every input is an argument (a path plus its modification time), every output plain data."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import streamlit as st

from den_engine.core.errors import ConfigError, DENError, RunFileError
from den_engine.data.benchmarks import BenchmarkError
from den_engine.records.store import RUN_FILE, load_run, read_weights

USER_ERRORS = (ConfigError, BenchmarkError, RunFileError, DENError, ValueError)
"""Errors that carry a message for the user: shown on the page, never as a traceback."""


def run_mtime(run_dir: str | Path) -> float:
    """Modification time of a run's run.json (0.0 when it is missing), used as a cache key."""
    try:
        return (Path(run_dir) / RUN_FILE).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(max_entries=16, show_spinner=False)
def load_record(run_dir: str, mtime: float) -> dict:
    """The run.json dict of ``run_dir`` (validated by the engine; RunFileError if broken)."""
    del mtime  # part of the cache key only
    return load_run(run_dir).data


@st.cache_data(max_entries=32, show_spinner=False)
def load_weights(run_dir: str, mtime: float, weights_file: str) -> dict[str, np.ndarray]:
    """A task's tensors as numpy arrays (the RNG state left out)."""
    del mtime
    tensors = read_weights(Path(run_dir) / weights_file)
    return {k: v.numpy() for k, v in tensors.items() if k != "rng_state"}


def _summary(run_dir: Path) -> dict | None:
    try:
        data = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
        tasks = data.get("tasks") or []
        last = tasks[-1] if tasks else {}
        return {
            "name": run_dir.name,
            "benchmark": data["benchmark"]["name"],
            "method": data.get("method", "?"),
            "preset": data.get("preset", "?"),
            "status": data.get("status", "?"),
            "tasks": f"{len(tasks)} / {data['benchmark'].get('n_tasks', '?')}",
            "layer sizes": "-".join(str(n) for n in last.get("layer_sizes", [])),
            "average AUROC": (last.get("metrics") or {}).get("average_auroc"),
            "updated": data.get("updated", ""),
            "config": data.get("config") or {},  # names a sweep's runs by their differing settings
            "path": str(run_dir),
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {"name": run_dir.name, "status": "unreadable run.json", "path": str(run_dir)}


@st.cache_data(max_entries=8, show_spinner=False, ttl=5)
def list_runs(folder: str, mtime: float) -> list[dict]:
    """One summary row per run directory in ``folder`` (newest first); unreadable runs say so."""
    del mtime
    root = Path(folder)
    if not root.is_dir():
        return []
    dirs = [p for p in root.iterdir() if p.is_dir() and (p / RUN_FILE).is_file()]
    dirs.sort(key=lambda p: run_mtime(p), reverse=True)
    return [row for row in (_summary(p) for p in dirs) if row is not None]


def runs_mtime(folder: str | Path) -> float:
    """The latest change in a folder of runs: the folder, or any run.json in it (a run written or finished)."""
    times = [folder_mtime(folder)]
    for record in Path(folder).glob(f"*/{RUN_FILE}"):
        try:
            times.append(record.stat().st_mtime)
        except OSError:
            continue  # gone while we looked
    return max(times)


def folder_mtime(folder: str | Path) -> float:
    """Modification time of a folder (changes when a run is added), 0.0 when missing."""
    try:
        return Path(folder).stat().st_mtime
    except OSError:
        return 0.0


# --- plain tables (lists of row dicts) for views and CSV downloads ----------------------------


def event_of(snapshot: dict, kind: str) -> dict | None:
    """The first event of type ``kind`` in a snapshot, or None."""
    return next((e for e in snapshot.get("events", []) if e.get("type") == kind), None)


def tasks_table(record: dict) -> list[dict]:
    """One row per finished task: sizes, decisions, capacity and metrics."""
    rows = []
    for snap in record.get("tasks", []):
        decision = event_of(snap, "expansion_decision") or {}
        expansion = event_of(snap, "expansion") or {}
        split = event_of(snap, "split") or {}
        params, metrics = snap.get("params", {}), snap.get("metrics", {})
        rows.append(
            {
                "task": snap["task"],
                "name": snap.get("name", ""),
                "layer_sizes": "-".join(map(str, snap.get("layer_sizes", []))),
                "active_sizes": "-".join(map(str, snap.get("active_sizes", []))),
                "loss_after_retraining": decision.get("loss"),
                "tau": decision.get("loss_threshold"),
                "expanded": decision.get("expand"),
                "units_added": sum(len(ids) for ids in expansion.get("added", [])),
                "units_pruned": sum(len(ids) for ids in expansion.get("pruned", [])),
                "units_split": len(split.get("pairs", [])),
                "params_total": params.get("total"),
                "params_nonzero": params.get("nonzero"),
                "relative_to_stl": params.get("relative_to_stl"),
                "relative_to_mtl": params.get("relative_to_mtl"),
                "average_auroc": metrics.get("average_auroc"),
                "average_accuracy": metrics.get("average_accuracy"),
                "wall_time_s": snap.get("wall_time_s"),
            }
        )
    return rows


def units_table(record: dict, task: int) -> list[dict]:
    """Every stored unit after ``task``: id, layer, birth, origin, parent, retirement."""
    snap = record["tasks"][task - 1]
    keys = ("id", "layer", "born", "origin", "parent", "retired")
    return [{k: unit.get(k) for k in keys} for unit in snap.get("units", [])]


def matrix_table(record: dict, metric: str = "auroc") -> list[dict]:
    """R[i][j] as rows: after task i, the metric on each task j <= i."""
    rows = []
    for snap in record.get("tasks", []):
        values = snap.get("metrics", {}).get(metric, [])
        rows.append({"after_task": snap["task"], **{f"task_{j + 1}": v for j, v in enumerate(values)}})
    return rows


def expansion_table(snapshot: dict) -> list[dict]:
    """Units added at this task, each marked kept or pruned by group sparsity."""
    event = event_of(snapshot, "expansion")
    if event is None:
        return []
    pruned = {uid for ids in event.get("pruned", []) for uid in ids}
    return [
        {"layer": layer + 1, "unit": uid, "fate": "pruned" if uid in pruned else "kept"}
        for layer, ids in enumerate(event.get("added", []))
        for uid in ids
    ]


def split_table(snapshot: dict) -> list[dict]:
    """Units split at this task: the drifted original, its duplicate and the drift against sigma."""
    drift = event_of(snapshot, "drift") or {}
    split = event_of(snapshot, "split") or {}
    sigma = drift.get("split_threshold")
    return [
        {
            "layer": p["layer"],
            "original": p["parent"],
            "duplicate": p["duplicate"],
            "drift": p.get("drift"),
            "sigma": sigma,
        }
        for p in split.get("pairs", [])
    ]


def selection_table(snapshot: dict) -> list[dict]:
    """Per layer, how many units were selected for retraining out of the candidates."""
    event = event_of(snapshot, "selection")
    if event is None:
        return []
    return [
        {"layer": i + 1, "selected": n, "of": total, "ids": ", ".join(map(str, ids))}
        for i, ((n, total), ids) in enumerate(zip(event.get("counts", []), event.get("selected", []), strict=False))
    ]


def edge_weights(run_dir, snapshot: dict, edges: int) -> dict | None:
    """One task's weights for drawing edges; None (with a warning on the page) when unreadable."""
    if not edges:
        return None
    import streamlit as st

    try:
        return load_weights(run_dir, run_mtime(run_dir), snapshot["weights"])
    except USER_ERRORS as exc:
        logging.getLogger("dashboard").warning("edges not drawn for %s: %s", run_dir, exc)
        st.warning(f"Edges not drawn: {exc}")
        return None
