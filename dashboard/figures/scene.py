"""One task's view of a run, painted in one of three modes: what every drawn unit looks like and why.

A ``Scene`` gathers the units of task t (by layer, in weight-row order), their fixed slots,
which of them compute for t, and the task's events. ``paint`` turns it into one ``Look`` per
drawn unit: fill colour, shape, outline and the legend category it belongs to, for

- ``growth``: colour = birth task, diamond = duplicate, faded = retired, grey x = pruned here;
- ``changes``: what task t did: units added (kept, or pruned = grey x), selected (black
  outline), split (magenta outline on the original, diamond copy), every old unit shaded by
  its drift ρ/σ;
- ``diff``: what differs between task a and task t: units added since a in their birth
  colour, units present at both in light grey, originals retired since a faded and outlined.

Pure: plain dicts in, plain tuples out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from dashboard.figures.base import _events, _num, is_active
from dashboard.figures.encoding import (
    DIFF_SAME,
    GHOST,
    SELECTED_RING,
    SPLIT_RING,
    drift_shade,
    fade,
    task_color,
)
from dashboard.figures.layout import LayerGeometry, Placement
from dashboard.figures.layout import placement as make_placement

MODES = ("growth", "changes", "diff")


@dataclass(frozen=True)
class Look:
    """How one unit is drawn: fill, shape ("circle" | "diamond" | "x"), outline colour (or ""), category."""

    fill: str
    shape: str
    outline: str
    category: str


@dataclass
class Scene:
    """Task ``task`` of a record: its units per layer (weight-row order), their slots, and the task's events."""

    record: Mapping
    task: int
    slots: dict[int, tuple[int, int]]
    geometries: list[LayerGeometry]
    layers: list[list[dict]]  # per layer, the snapshot's units in weight-row order
    ghosts: list[dict]  # units added at this task and pruned by group sparsity
    selected: set[int]
    drift: dict[int, float]  # unit id -> drift / sigma at this task
    splits: list[tuple[int, int]]  # (original, duplicate) split at this task
    split_parents: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, record: Mapping, task: int, placement: Placement | None = None) -> Scene:
        """The scene of task ``task`` (1-based); ``placement`` is reused when given."""
        snapshot = record["tasks"][task - 1]
        placement = make_placement(record) if placement is None else placement
        slots, geometries = placement.slots, placement.geometries
        units = list(snapshot.get("units") or [])
        n_layers = max([len(geometries)] + [int(u["layer"]) for u in units])
        layers: list[list[dict]] = [[] for _ in range(n_layers)]
        for u in units:
            layers[int(u["layer"]) - 1].append(u)
        drift: dict[int, float] = {}
        for event in _events(snapshot, "drift"):
            sigma = _num(event.get("split_threshold"))
            for layer in event.get("drift") or []:
                for uid, value in zip(layer.get("ids") or [], layer.get("values") or [], strict=False):
                    drift[int(uid)] = _num(value) / sigma if sigma and sigma > 0 else math.nan
        splits = [
            (int(p["parent"]), int(p["duplicate"])) for e in _events(snapshot, "split") for p in e.get("pairs") or []
        ]
        return cls(
            record=record,
            task=int(task),
            slots=slots,
            geometries=geometries,
            layers=layers,
            ghosts=[g for g in snapshot.get("pruned") or [] if int(g["id"]) in slots],
            selected={int(i) for ids in snapshot.get("selected") or [] for i in ids or []},
            drift=drift,
            splits=splits,
            split_parents={p for p, _ in splits},
        )

    @property
    def snapshot(self) -> Mapping:
        """The record's snapshot of this task."""
        return self.record["tasks"][self.task - 1]

    def active_rows(self, layer_index: int) -> list[int]:
        """Weight-row indices of the units of a layer (0-based) that compute for this task."""
        return [i for i, u in enumerate(self.layers[layer_index]) if is_active(u, self.task)]


def _growth(u: Mapping, task: int, scene: Scene, show_selected: bool) -> Look:
    born, uid = int(u["born"]), int(u["id"])
    shape = "diamond" if u.get("origin") == "duplicate" else "circle"
    # growth mode outlines nothing unless asked: selection and splits belong to the change view
    outline = SELECTED_RING if show_selected and uid in scene.selected else ""
    if not is_active(u, task):
        return Look(fade(task_color(born)), shape, outline, "retired")
    return Look(task_color(born), shape, outline, f"born:{born}")


def _changes(u: Mapping, task: int, scene: Scene) -> Look:
    born, uid = int(u["born"]), int(u["id"])
    shape = "diamond" if u.get("origin") == "duplicate" else "circle"
    if born == task and is_active(u, task):
        return Look(task_color(task), shape, "", "added" if shape == "circle" else "split_copy")
    if uid in scene.split_parents:
        return Look(drift_shade(scene.drift.get(uid, 1.0)), shape, SPLIT_RING, "split_original")
    if not is_active(u, task):
        return Look(fade(DIFF_SAME, 0.75), shape, "", "retired")
    outline = SELECTED_RING if uid in scene.selected else ""
    return Look(drift_shade(scene.drift.get(uid, math.nan)), shape, outline, "old")


def _diff(u: Mapping, task: int, since: int) -> Look:
    born = int(u["born"])
    shape = "diamond" if u.get("origin") == "duplicate" else "circle"
    retired = u.get("retired")
    if retired is not None and since < int(retired) <= task:
        return Look(fade(task_color(born), 0.55), shape, SPLIT_RING, "retired_since")
    if not is_active(u, task) or not is_active(u, since) and born <= since:
        return Look(fade(DIFF_SAME, 0.6), shape, "", "retired")
    if born > since:
        return Look(task_color(born), shape, "", f"born:{born}")
    return Look(DIFF_SAME, shape, "", "same")


def paint(scene: Scene, mode: str = "growth", *, since: int | None = None, show_selected: bool = False) -> dict:
    """unit id -> Look for every unit drawn at this task (ghosts included) in ``mode``."""
    if mode not in MODES:
        raise ValueError(f"unknown graph mode {mode!r}: choose one of {', '.join(MODES)}")
    looks = {}
    for lu in scene.layers:
        for u in lu:
            if mode == "growth":
                looks[int(u["id"])] = _growth(u, scene.task, scene, show_selected)
            elif mode == "changes":
                looks[int(u["id"])] = _changes(u, scene.task, scene)
            else:
                looks[int(u["id"])] = _diff(u, scene.task, int(since or 1))
    if mode != "diff":
        for g in scene.ghosts:
            looks[int(g["id"])] = Look("#f1f1f1", "x", "", "pruned")
    return looks


def layer_counts(scene: Scene, mode: str, since: int | None = None) -> list[str]:
    """Per hidden layer, one short line of what changed (change and diff modes) or '' (growth)."""
    lines = []
    for l, lu in enumerate(scene.layers):
        if mode == "changes":
            added = sum(1 for u in lu if int(u["born"]) == scene.task and u.get("origin") != "duplicate")
            pruned = sum(1 for g in scene.ghosts if int(g["layer"]) == l + 1)
            selected = sum(1 for u in lu if int(u["id"]) in scene.selected)
            split = sum(1 for u in lu if int(u["born"]) == scene.task and u.get("origin") == "duplicate")
            lines.append(f"+{added} kept · {pruned} pruned · {selected} selected · {split} split")
        elif mode == "diff":
            a = int(since or 1)
            added = sum(1 for u in lu if int(u["born"]) > a and is_active(u, scene.task))
            gone = sum(1 for u in lu if u.get("retired") is not None and a < int(u["retired"]) <= scene.task)
            lines.append(f"+{added} since task {a} · {gone} retired")
        else:
            lines.append("")
    return lines


LEGEND_NAMES = {
    "retired": "retired original (faded: kept for old tasks)",
    "pruned": "added here, pruned (grey x)",
    "added": "added at this task",
    "split_copy": "split copy (diamond), added at this task",
    "split_original": "split original (magenta outline)",
    "old": "older unit: shade = drift ρ/σ (dark = at σ)",
    "same": "present at both tasks",
    "retired_since": "original retired by a split since (magenta outline)",
    "duplicate": "duplicate (diamond)",
    "selected": "selected for retraining (black outline)",
}


def legend_name(category: str) -> str:
    """The legend's words for a category key."""
    if category.startswith("born:"):
        return f"born at task {category.split(':')[1]}"
    return LEGEND_NAMES.get(category, category)


def ghost_colour() -> str:
    """The colour of the x marking a pruned unit."""
    return GHOST
