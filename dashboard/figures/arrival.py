"""A task's arrival on the network picture: the in-between pictures of one step along the timeline.

When the timeline moves from task t-1 to t, the graph shows a few pictures of task t with its
new units part of the way in before the finished one: each unit born at t (kept, or pruned as
a grey x) is mixed from white towards its colour by ``amount``, and a split's copy (its diamond,
or its node in a column layer) travels from its original to its own place. Everything else
(cells, edges, inputs, the head, the legend, the axes) is the finished picture's, so the last
step changes nothing but the arriving units. Pure: looks and traces in, looks and traces out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from dashboard.figures.encoding import mix
from dashboard.figures.scene import Look, Scene

STEPS = 3  # pictures per step: two in-between, then the finished one
FRAME_SECONDS = 0.2  # how long each in-between picture stays


def amounts(steps: int = STEPS) -> list[float]:
    """How far the new units have arrived in each in-between picture (the finished one is 1)."""
    return [k / steps for k in range(1, steps)]


def _born_now(scene: Scene) -> set[int]:
    ids = {int(u["id"]) for lu in scene.layers for u in lu if int(u["born"]) == scene.task}
    return ids | {int(g["id"]) for g in scene.ghosts if int(g["born"]) == scene.task}


def arriving_looks(scene: Scene, looks: Mapping[int, Look], amount: float) -> dict[int, Look]:
    """``looks`` with every unit born at the scene's task mixed ``amount`` of the way from white."""
    new = _born_now(scene)
    return {uid: replace(lk, fill=mix("#ffffff", lk.fill, amount)) if uid in new else lk for uid, lk in looks.items()}


def travel(scene: Scene, positions: Mapping[int, tuple[float, float]], amount: float) -> dict[int, np.ndarray]:
    """Where each copy split off at the scene's task is drawn: ``amount`` of the way from its original."""
    out = {}
    for lu in scene.layers:
        for u in lu:
            parent = u.get("parent")
            if int(u["born"]) != scene.task or u.get("origin") != "duplicate" or parent is None:
                continue
            if int(parent) in positions and int(u["id"]) in positions:
                start, end = np.array(positions[int(parent)]), np.array(positions[int(u["id"])])
                out[int(u["id"])] = start + amount * (end - start)
    return out


def move_copies(traces: list[dict], moved: Mapping[int, np.ndarray]) -> None:
    """Move the copies' diamonds (block layers) and nodes (column layers) in ``traces`` to ``moved``."""
    if not moved:
        return
    for t in traces:
        meta = t.get("meta") or {}
        if meta.get("kind") == "glyphs" and meta.get("glyph") == "diamond":
            ids = meta.get("ids") or []
        elif meta.get("kind") == "units" and meta.get("form") == "column":
            ids = list(t.get("customdata", []))
        else:
            continue
        x, y = np.array(t["x"], dtype=float), np.array(t["y"], dtype=float)
        for i, uid in enumerate(ids):
            if int(uid) in moved:
                x[i], y[i] = moved[int(uid)]
        t["x"], t["y"] = x, y
