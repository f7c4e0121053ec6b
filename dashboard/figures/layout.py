"""Where every unit of a DEN run is drawn: stable positions for units, inputs and outputs.

Layers run left to right: the input, each hidden layer, the task's head. A small layer is
a column of nodes; a large one (more than ``COLUMN_MAX`` units at task 1) is a block of
square cells, one per stored unit, filled row by row in birth order (task, then origin:
base, expanded, duplicate, then id), so the block grows downwards task by task.

A unit's place is fixed at birth: it depends only on its layer's base (task-1) size and on
the units born before it, never on later ones, so nothing moves when the timeline is
scrubbed, and a new task only appends cells. One exception keeps a heavily grown layer
readable: a block is shaped for its base size until the layer stores more than
``GROWTH_ROOM`` (6) times that, then for twice the base, and so on (the paper preset's
σ = 0.002 grows layer 2 ninefold). The shape comes from the whole record, so a finished
run never moves while scrubbed; a run that is still training is re-laid only at the task
where a layer first passes 6, 12, 24 … times its base. The axes are drawn equal-scaled, so cells and
input images are square on screen. The block sizes and gaps are fixed: a grown MNIST network
(784-1029-459 stored) has about the shape of the plot at 1440 px and fills it; a wider, less
grown one fills the plot's width, and the spare height goes under it.

Why not networkx: its layered layout places a node from the whole current graph, so adding a
unit shifts every other one: exactly the jump this drawing must avoid.

Units pruned at their birth task (ghosts) take the slots after that task's kept units;
they are drawn only at that task, and later units reuse those places.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from dashboard.figures.conv import conv_channels, conv_layers

LAYER_HEIGHT = 1.0
MIN_SLOTS = 6
COLUMN_MAX = 12  # a layer whose base (task-1) size is larger is drawn as a block of cells
GRID_WIDENESS = 2.0  # a base block has about sqrt(2 * base) columns: wider than tall, like the plot
GRID_BASE_HEIGHT = 0.45  # height of a layer's base block; later rows extend it downwards
GROWTH_ROOM = 6  # a block is re-shaped (twice as wide) only when its layer outgrows this many times its shape
CONV_GROWTH_ROOM = 3  # a conv layer has few, large cells: a tower sooner, so it is re-shaped sooner
MAX_PITCH = 0.12
PLOT_ASPECT = 1.8  # width / height of the network chart's plot area at a 1024-1440 px page
MAX_BLOCK_SCALE = 3.0
MAX_INPUT_NODES = 16  # inputs wider than this are drawn as one image block
BLOCK_HEIGHT = 0.6
BLOCK_WIDTH = 0.6
COLUMN_GAP = 1.0  # between layers of a network drawn only with columns (the 2-D toy)
BLOCK_GAP = 0.5  # between layers when any of them is a block: room for the edge bundles
_ORIGIN_RANK = {"base": 0, "expanded": 1, "duplicate": 2}


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


@dataclass(frozen=True)
class LayerGeometry:
    """How one hidden layer is drawn: a column of nodes at x, or a block of cells from x0 to x1."""

    layer: int
    kind: str  # "column" | "grid"
    base: int
    x0: float
    x1: float
    columns: int = 1
    pitch: float = 0.0
    top: float = 0.0
    conv: bool = False

    def slot_xy(self, slot: int) -> tuple[float, float]:
        """Where slot ``slot`` of this layer is drawn."""
        if self.kind == "column":
            return self.x0, slot_y(slot, self.base)
        row, col = divmod(slot, self.columns)
        return self.x0 + (col + 0.5) * self.pitch, self.top - (row + 0.5) * self.pitch

    def cell(self, slot: int) -> tuple[int, int]:
        """(row, column) of a slot in the block."""
        return divmod(slot, self.columns)

    @property
    def centre(self) -> float:
        """The layer's horizontal centre (where its label goes)."""
        return (self.x0 + self.x1) / 2


def hidden_base_sizes(record: dict) -> list[int]:
    """Task-1 size of every hidden layer, conv filters first (``base_sizes``, else the config, else the first
    snapshot)."""
    sizes = record.get("base_sizes") or (record.get("config") or {}).get("hidden_sizes")
    if sizes:
        conv = conv_channels(record)
        tasks = record.get("tasks") or []
        n_layers = len(tasks[0].get("layer_sizes", [0])) - 1 if tasks else len(conv) + len(sizes)
        # ``base_sizes`` names the dense layers only: a conv run's filters come first
        return [int(s) for s in (conv if len(sizes) < n_layers else []) + list(sizes)]
    tasks = record.get("tasks") or []
    if tasks:
        return [int(s) for s in tasks[0].get("layer_sizes", [0])[1:]]
    return []


def n_hidden_layers(record: dict) -> int:
    """Number of hidden layers of the run."""
    return len(hidden_base_sizes(record))


def layer_spacing(base_size: int) -> float:
    """Vertical distance between neighbouring units of a column whose base size is ``base_size``."""
    return LAYER_HEIGHT / max(int(base_size), MIN_SLOTS)


def slot_y(slot: int, base_size: int) -> float:
    """The y of slot ``slot`` of a column: base slots top to bottom, then alternately below and above."""
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


def unit_slots(record: dict) -> dict[int, tuple[int, int]]:
    """unit id -> (layer, slot) for every unit ever in the record, ghosts included; slots never change."""
    layers, ghosts = _units_by_layer(record)
    slots: dict[int, tuple[int, int]] = {}
    for layer, units in layers.items():
        order = sorted(
            (uid for uid in units if uid not in ghosts),
            key=lambda uid: (int(units[uid]["born"]), _ORIGIN_RANK.get(units[uid].get("origin"), 3), uid),
        )
        slots.update({uid: (layer, slot) for slot, uid in enumerate(order)})
        by_task: dict[int, list[int]] = {}
        for uid in units:
            if uid in ghosts:
                by_task.setdefault(int(units[uid]["born"]), []).append(uid)
        borns = sorted(int(units[uid]["born"]) for uid in order)
        for born, ids in by_task.items():
            first = bisect.bisect_right(borns, born)
            slots.update({uid: (layer, first + i) for i, uid in enumerate(sorted(ids))})
    return slots


def block_capacity(base: int, stored: int, room: int = GROWTH_ROOM) -> int:
    """The size a block is shaped for: its base size, doubled while the layer stores more than
    ``room`` times that (so a layer grown ninefold is not a thin tower)."""
    capacity = max(int(base), 1)
    while stored > room * capacity:
        capacity *= 2
    return capacity


def _grid_shape(base: int, wideness: float = GRID_WIDENESS, scale: float = 1.0) -> tuple[int, float, float]:
    """(columns, pitch, top) of a block layer shaped for ``base`` units."""
    columns = max(2, math.ceil(math.sqrt(wideness * max(base, 1))))
    rows = max(1, math.ceil(base / columns))
    pitch = min(GRID_BASE_HEIGHT / rows, MAX_PITCH) * scale
    return columns, pitch, rows * pitch / 2


def _wideness(n_blocks: int) -> float:
    """How wide a block is shaped: wider than tall for one or two blocks; narrower, down to twice as tall as
    wide, when more of them share the width (the paper's conv network has four)."""
    return GRID_WIDENESS if n_blocks <= 2 else max(0.5, 2 * GRID_WIDENESS / n_blocks**1.5)


def _block_scale(geometries: list[LayerGeometry], counts: list[int], input_width: float, head_room: float) -> float:
    """How much larger to draw every block so the whole drawing has about the plot's shape.

    Gaps between layers are fixed (the edge bundles need them); with many narrow blocks the drawing is a
    thin strip across a tall plot, so the blocks are enlarged until width / height is about
    ``PLOT_ASPECT`` (at most ``MAX_BLOCK_SCALE`` times). One or two blocks, as for MNIST, are never changed.
    """
    grids = [g for g in geometries if g.kind == "grid"]
    if len(grids) <= 2:
        return 1.0
    blocks = input_width + sum(g.x1 - g.x0 for g in grids)
    gaps = geometries[-1].x1 - input_width / 2 - sum(g.x1 - g.x0 for g in grids) + head_room
    height = max(math.ceil(counts[g.layer] / g.columns) * g.pitch for g in grids)
    room = PLOT_ASPECT * height - blocks
    return 1.0 if room <= 0 else float(min(max(gaps / room, 1.0), MAX_BLOCK_SCALE))


def layer_geometries(record: dict, slots: dict[int, tuple[int, int]] | None = None) -> list[LayerGeometry]:
    """Every hidden layer's geometry, left to right after the input."""
    slots = unit_slots(record) if slots is None else slots
    bases = hidden_base_sizes(record)
    n_layers = max([len(bases)] + [layer for layer, _ in slots.values()])
    counts = [0] * (n_layers + 1)
    for layer, slot in slots.values():
        counts[layer] = max(counts[layer], slot + 1)
    # the form depends on the base size alone, so a growing layer never switches form (and nothing jumps)
    n_conv = conv_layers(record)
    kinds = [  # a conv layer is always a framed block of square cells, however few filters it has
        "grid" if l <= n_conv or (bases[l - 1] if l <= len(bases) else counts[l]) > COLUMN_MAX else "column"
        for l in range(1, n_layers + 1)
    ]
    geometry = input_geometry(record)
    gap = COLUMN_GAP if geometry.kind == "nodes" and "grid" not in kinds else BLOCK_GAP
    wideness = _wideness(kinds.count("grid"))

    def lay(scale: float) -> list[LayerGeometry]:
        right = geometry.x1 if geometry.kind == "block" else 0.0
        out = []
        for l, kind in enumerate(kinds, start=1):
            base = bases[l - 1] if l <= len(bases) else counts[l]
            left = right + gap
            if kind == "column":
                out.append(LayerGeometry(l, "column", base, left, left))
            else:
                room = CONV_GROWTH_ROOM if l <= n_conv else GROWTH_ROOM
                columns, pitch, top = _grid_shape(block_capacity(base, counts[l], room), wideness, scale)
                width = columns * pitch
                out.append(LayerGeometry(l, "grid", base, left, left + width, columns, pitch, top, l <= n_conv))
            right = out[-1].x1
        return out

    first = lay(1.0)
    if not first:
        return first
    scale = _block_scale(first, counts, geometry.x1 - geometry.x0 if geometry.kind == "block" else 0.0, 0.4)
    return first if scale == 1.0 else lay(scale)


@dataclass(frozen=True)
class Placement:
    """Everything about where a record is drawn, computed once per figure."""

    slots: dict[int, tuple[int, int]]
    geometries: list[LayerGeometry]
    positions: dict[int, tuple[float, float]]
    head_x: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]


def placement(record: dict) -> Placement:
    """Slots, layer geometries, unit positions, the head's x and the fixed axis ranges of ``record``."""
    slots = unit_slots(record)
    geometries = layer_geometries(record, slots)
    by_layer = {g.layer: g for g in geometries}
    positions = {uid: by_layer[layer].slot_xy(slot) for uid, (layer, slot) in slots.items()}
    head_x = _output_x(record, geometries)
    x_range, y_range = _ranges(record, positions, geometries, head_x)
    return Placement(slots, geometries, positions, head_x, x_range, y_range)


def unit_positions(record: dict) -> dict[int, tuple[float, float]]:
    """(x, y) of every hidden unit ever in the record, pruned ghosts included; stable as the run grows."""
    slots = unit_slots(record)
    geometries = {g.layer: g for g in layer_geometries(record, slots)}
    return {uid: geometries[layer].slot_xy(slot) for uid, (layer, slot) in slots.items()}


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
    if len(shape) == 3 and shape[0] == 1:  # one channel (C, H, W): the picture is H x W
        shape = shape[1:]
    if len(shape) == 2 and shape[0] * shape[1] == dim:
        rows, cols = shape
    else:
        rows = max(int(math.sqrt(dim)), 1)
        cols = math.ceil(dim / rows)
    height = BLOCK_HEIGHT * min(1.0, rows / cols)  # pixels are square: the image keeps its aspect
    width = BLOCK_WIDTH * min(1.0, cols / rows)
    return InputGeometry("block", dim, (rows, cols), (), -width / 2, width / 2, -height / 2, height / 2)


def output_x(record: dict) -> float:
    """The x of the task's head, right of the top hidden layer."""
    return _output_x(record, layer_geometries(record))


def _output_x(record: dict, geometries: list[LayerGeometry]) -> float:
    if not geometries:
        return 1.0
    gap = COLUMN_GAP if all(g.kind == "column" for g in geometries) and input_geometry(record).kind == "nodes" else 0.4
    if gap < COLUMN_GAP and geometries[-1].kind == "column":
        gap = 0.6  # a top column's title ("18 active / 19 stored") is wider than the column: keep it off the head's
    return geometries[-1].x1 + gap


def output_positions(record: dict, n_outputs: int, x: float | None = None) -> list[tuple[float, float]]:
    """(x, y) of a head's ``n_outputs`` output nodes, right of the top hidden layer (at ``x`` when given)."""
    x = output_x(record) if x is None else x
    return [(x, slot_y(i, n_outputs)) for i in range(n_outputs)]


def axis_ranges(
    record: dict, positions: dict[int, tuple[float, float]] | None = None
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Fixed (x range, y range) that hold every position of the whole record, so scrubbing never rescales.

    ``positions`` saves recomputing ``unit_positions(record)`` when the caller has it already.
    """
    geometries = layer_geometries(record)
    positions = positions if positions is not None else unit_positions(record)
    return _ranges(record, positions, geometries, _output_x(record, geometries))


def _ranges(record, positions, geometries, head_x, margin: float = 0.06):
    geometry = input_geometry(record)
    pitch = max([g.pitch for g in geometries] + [0.0])
    ys = [geometry.y0, geometry.y1] + [y for _, y in positions.values()]
    if all(g.kind == "column" for g in geometries):
        ys += [-LAYER_HEIGHT / 2, LAYER_HEIGHT / 2]  # a column network keeps its full height from task 1
    n_outputs = [int(n) for n in (record.get("benchmark") or {}).get("n_outputs") or [1]]
    ys += [slot_y(i, max(n_outputs, default=1)) for i in range(max(n_outputs, default=1))]
    low, high = min(ys) - pitch / 2, max(ys) + pitch / 2
    pad = margin * max(high - low, LAYER_HEIGHT)
    return (min(geometry.x0, -0.1) - 0.2, head_x + 0.3), (low - pad, high + pad)
