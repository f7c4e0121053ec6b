"""Where every unit of a DEN run is drawn: stable positions for units, inputs and outputs.

Layers run left to right (input at x = 0, hidden layer l at x = l, the task's head at
x = L + 1); units stack vertically. A unit's place is fixed at birth: it depends only on
its layer, the layer's base (task-1) size and the units of that layer born no later than
it, so nothing moves when the network grows or when the timeline is scrubbed.

Why not networkx: its layered layout (``multipartite_layout``) places a node from the
whole current graph, so adding a unit shifts every other one: exactly the jump this
drawing must avoid. The arithmetic below is a few lines, deterministic and O(units).

Slots. Base units fill slots 0..B-1 of their layer, centred on y = 0 and spanning
``LAYER_HEIGHT`` (small layers are not stretched: spacing is at most 1/MIN_SLOTS).
Later units take the next free slots in id order (ids are global and increase with
time), alternately just below and just above the block, so a layer stays centred as it
grows. Units pruned at their birth task (ghosts) take slots after that task's kept
units; they are only ever drawn at that task, and later units reuse those places.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LAYER_HEIGHT = 1.0
MIN_SLOTS = 6
MAX_INPUT_NODES = 16  # inputs wider than this are drawn as one image block
BLOCK_HEIGHT = 0.6
BLOCK_WIDTH = 0.6


@dataclass(frozen=True)
class InputGeometry:
    """How the input layer is drawn: a few nodes, or one image block of shape (rows, cols)."""

    kind: str  # "nodes" | "block"
    dim: int
    shape: tuple[int, int]
    positions: tuple[tuple[float, float], ...]  # one per input for "nodes"; empty for "block"
    x0: float
    x1: float
    y0: float
    y1: float


def hidden_base_sizes(record: dict) -> list[int]:
    """Task-1 size of every hidden layer (``base_sizes``, else the config, else the first snapshot)."""
    sizes = record.get("base_sizes") or (record.get("config") or {}).get("hidden_sizes")
    if sizes:
        return [int(s) for s in sizes]
    tasks = record.get("tasks") or []
    if tasks:
        return [int(s) for s in tasks[0].get("layer_sizes", [0])[1:]]
    return []


def n_hidden_layers(record: dict) -> int:
    """Number of hidden layers of the run."""
    return len(hidden_base_sizes(record))


def layer_spacing(base_size: int) -> float:
    """Vertical distance between neighbouring units of a layer whose base size is ``base_size``."""
    return LAYER_HEIGHT / max(int(base_size), MIN_SLOTS)


def slot_y(slot: int, base_size: int) -> float:
    """The y of slot ``slot`` of a layer: base slots top to bottom, then alternately below and above."""
    s = layer_spacing(base_size)
    top = (base_size - 1) / 2 * s
    if slot < base_size:
        return top - slot * s
    extra = slot - base_size
    step = (extra // 2 + 1) * s
    return -(top + step) if extra % 2 == 0 else top + step


def _units_by_layer(record: dict) -> tuple[dict[int, dict[int, dict]], set[int]]:
    """Every unit ever seen in the record (snapshot units and ghosts), per layer by id; and the ghost ids."""
    layers: dict[int, dict[int, dict]] = {}
    ghosts: set[int] = set()
    for snapshot in record.get("tasks") or []:
        for unit in snapshot.get("units") or []:
            layers.setdefault(int(unit["layer"]), {})[int(unit["id"])] = unit
        for unit in snapshot.get("pruned") or []:
            layers.setdefault(int(unit["layer"]), {}).setdefault(int(unit["id"]), unit)
            ghosts.add(int(unit["id"]))
    return layers, ghosts


def unit_positions(record: dict) -> dict[int, tuple[float, float]]:
    """(x, y) of every hidden unit ever in the record, pruned ghosts included; stable as the run grows."""
    bases = hidden_base_sizes(record)
    layers, ghosts = _units_by_layer(record)
    positions: dict[int, tuple[float, float]] = {}
    for layer, units in layers.items():
        base = bases[layer - 1] if 0 < layer <= len(bases) else sum(1 for u in units.values() if u["born"] == 1)
        kept = sorted(uid for uid in units if uid not in ghosts)
        for slot, uid in enumerate(kept):
            positions[uid] = (float(layer), slot_y(slot, base))
        by_task: dict[int, list[int]] = {}
        for uid in units:
            if uid in ghosts:
                by_task.setdefault(int(units[uid]["born"]), []).append(uid)
        for born, ids in by_task.items():
            first = sum(1 for uid in kept if units[uid]["born"] <= born)
            for i, uid in enumerate(sorted(ids)):
                positions[uid] = (float(layer), slot_y(first + i, base))
    return positions


def input_geometry(record: dict) -> InputGeometry:
    """The input layer at x = 0: one node per input when there are few, else one image block."""
    bench = record.get("benchmark") or {}
    dim = int(bench.get("input_dim") or 0)
    shape = [int(s) for s in bench.get("input_shape") or [] if int(s) > 0]
    if dim <= MAX_INPUT_NODES:
        s = LAYER_HEIGHT / max(dim + 1, 3)  # a few inputs: spread them, they are the biggest nodes
        ys = [(dim - 1) / 2 * s - i * s for i in range(dim)]
        half = max((dim - 1) / 2 * s, 0.0) + s / 2
        return InputGeometry("nodes", dim, (dim, 1), tuple((0.0, y) for y in ys), -0.05, 0.05, -half, half)
    if len(shape) == 2 and shape[0] * shape[1] == dim:
        rows, cols = shape
    else:
        rows = max(int(math.sqrt(dim)), 1)
        cols = math.ceil(dim / rows)
    height = BLOCK_HEIGHT * min(1.0, rows / cols)
    width = BLOCK_WIDTH * min(1.0, cols / rows)
    return InputGeometry("block", dim, (rows, cols), (), -width / 2, width / 2, -height / 2, height / 2)


def output_positions(record: dict, n_outputs: int) -> list[tuple[float, float]]:
    """(x, y) of a head's ``n_outputs`` output nodes, right of the top hidden layer."""
    x = float(n_hidden_layers(record) + 1)
    return [(x, slot_y(i, n_outputs)) for i in range(n_outputs)]


def axis_ranges(
    record: dict, positions: dict[int, tuple[float, float]] | None = None, margin: float = 0.08
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Fixed (x range, y range) that hold every position of the whole record, so scrubbing never rescales.

    ``positions`` saves recomputing ``unit_positions(record)`` when the caller has it already.
    """
    geometry = input_geometry(record)
    ys = [geometry.y0, geometry.y1, -LAYER_HEIGHT / 2, LAYER_HEIGHT / 2]
    ys += [y for _, y in (positions if positions is not None else unit_positions(record)).values()]
    n_outputs = [int(n) for n in (record.get("benchmark") or {}).get("n_outputs") or [1]]
    ys += [y for _, y in output_positions(record, max(n_outputs, default=1))]
    x_max = n_hidden_layers(record) + 1
    low, high = min(ys), max(ys)
    pad = margin * max(high - low, LAYER_HEIGHT)
    return (min(geometry.x0, -0.1) - 0.25, x_max + 0.35), (low - pad, high + 2.5 * pad)
