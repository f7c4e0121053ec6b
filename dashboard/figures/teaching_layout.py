"""Where the Learn page's network puts each neuron: layers as bands, a wide layer wrapped onto rows (pure).

A layer of 20+ neurons in one row leaves each picture ~25 px wide on a projector. Here a
layer is a band of rows of at most ``columns`` pictures; the band's first row holds its
base neurons and later rows hold what the layer grew, so the eye reads growth upwards.
``columns`` is chosen for the plot's size in pixels (``choose_columns``): the number that
makes the pictures largest, given how many neurons each layer will hold.

A neuron's place comes from its slot in ``layout.unit_slots`` (birth order, fixed at
birth, ghosts included), so it never changes as the run grows. The rows a band reserves
and the width of the drawing are planned for the whole sequence (the base size plus k per
later task, or what the record already holds if more), so the scale stays the same from
task 1 to the last task and the bands rarely move. A band narrower than a row is centred
on what its layer holds so far: it re-centres (by half a slot per neuron) while it grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dashboard.figures.layout import hidden_base_sizes, unit_slots

SIDE = 0.88
"""A picture's side, in slots (one slot per neuron): the rest of the slot is the gap to its neighbour."""
BADGE_ROOM = 0.36
"""Room above each picture for its badges (R, ◇), in slots: a badge never covers a picture."""
PITCH = SIDE + BADGE_ROOM + 0.05
"""Distance between two rows of one layer's band."""
LAYER_GAP = 0.42
"""Extra room between two layers' bands, where their edges run."""
INPUT_SIDE = 0.8
OUT_SIDE = 1.1
"""The output picture (the task's decision region) is a little bigger than a neuron."""
MIN_WIDTH = 2.6
"""The inputs (two pictures) and the output need this many slots across."""


@dataclass(frozen=True)
class Plan:
    """The planned drawing: columns per row, rows per layer, and every neuron's (x, y) in slots."""

    columns: int
    rows: tuple[int, ...]
    positions: dict[int, tuple[float, float]]
    inputs: tuple[tuple[float, float], ...]
    output: tuple[float, float]
    x_range: tuple[float, float]
    y_range: tuple[float, float]


def planned_sizes(record: dict) -> list[int]:
    """Neurons each layer will store: its base plus k per later task of the sequence, or what it already stores."""
    bases = hidden_base_sizes(record) or [1]
    n_tasks = int((record.get("benchmark") or {}).get("n_tasks") or len(record.get("tasks") or []) or 1)
    k = int((record.get("config") or {}).get("expand_units") or 0)
    stored = [0] * len(bases)
    for layer, slot in unit_slots(record).values():
        if 0 < layer <= len(stored):
            stored[layer - 1] = max(stored[layer - 1], slot + 1)
    return [max(b + k * (n_tasks - 1), s) for b, s in zip(bases, stored, strict=True)]


def _height(rows: list[int]) -> float:
    """Slots from the bottom of the inputs to the top of the output."""
    bands = sum(SIDE + BADGE_ROOM + (r - 1) * PITCH for r in rows)
    return INPUT_SIDE + (len(rows) + 0.5) * LAYER_GAP + bands + OUT_SIDE + 0.1


def choose_columns(sizes: list[int], width_px: float, height_px: float) -> int:
    """The number of pictures per row that makes them largest in a plot of ``width_px`` x ``height_px``."""
    widest = max(sizes or [1])
    best, best_slot = 1, -1.0
    for columns in range(1, widest + 1):
        rows = [math.ceil(n / columns) for n in sizes]
        slot = min(width_px / max(columns + 0.2, MIN_WIDTH), height_px / _height(rows))
        if slot > best_slot + 1e-9:
            best, best_slot = columns, slot
    return best


def slot_pixels(sizes: list[int], columns: int, width_px: float, height_px: float) -> float:
    """How many pixels one slot takes when the plan of ``sizes`` at ``columns`` fills the plot."""
    rows = [math.ceil(n / columns) for n in sizes]
    return min(width_px / max(columns + 0.2, MIN_WIDTH), height_px / _height(rows))


def plan(record: dict, columns: int) -> Plan:
    """Every neuron's place, rows of ``columns`` per layer band, inputs at the bottom, the output on top."""
    sizes = planned_sizes(record)
    columns = max(1, min(columns, max(sizes)))
    rows = [math.ceil(n / columns) for n in sizes]
    slots = unit_slots(record)
    held = [0] * len(sizes)  # what each layer stores so far: a narrow band is centred on it
    for layer, slot in slots.values():
        if 0 < layer <= len(held):
            held[layer - 1] = max(held[layer - 1], slot + 1)
    bottoms, cursor = [], INPUT_SIDE / 2 + LAYER_GAP
    for r in rows:
        bottoms.append(cursor + SIDE / 2)
        cursor += SIDE + BADGE_ROOM + (r - 1) * PITCH + LAYER_GAP
    positions = {}
    for uid, (layer, slot) in slots.items():
        if not 0 < layer <= len(sizes):
            continue
        row, col = divmod(slot, columns)
        across = min(columns, held[layer - 1])
        positions[uid] = (col - (across - 1) / 2, bottoms[layer - 1] + row * PITCH)
    out_y = cursor - LAYER_GAP / 2 + OUT_SIDE / 2
    half = max(columns + 0.2, MIN_WIDTH) / 2
    y_range = (-INPUT_SIDE / 2 - 0.05, out_y + OUT_SIDE / 2 + 0.05)
    return Plan(columns, tuple(rows), positions, ((-0.6, 0.0), (0.6, 0.0)), (0.0, out_y), (-half, half), y_range)
