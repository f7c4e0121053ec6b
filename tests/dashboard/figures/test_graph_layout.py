"""Stable unit positions: nothing on screen moves when the network grows or the timeline is scrubbed."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from dashboard import synthetic
from dashboard.figures.layout import (
    axis_ranges,
    block_capacity,
    input_geometry,
    layer_geometries,
    output_positions,
    slot_y,
    unit_positions,
    unit_slots,
)
from dashboard.figures.units import REFERENCE_PLOT
from den_engine.core.config import preset
from den_engine.core.runner import Trainer

TINY = {"hidden_sizes": (8, 8), "iterations": 20, "head_iterations": 10}


@pytest.fixture(scope="module")
def toy_record() -> dict:
    """A 3-task toy-2d run on an 8-8 network."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster, and much faster on a busy machine
    try:
        return Trainer(preset("fast", **TINY), "toy-2d", 3).run()
    finally:
        torch.set_num_threads(threads)


def grown_record() -> dict:
    """Hand-made: 2-unit layers, expansion with pruning at task 2, a split at task 3."""

    def unit(uid, layer, born, origin="base", parent=None, retired=None):
        return {"id": uid, "layer": layer, "born": born, "origin": origin, "parent": parent, "retired": retired}

    t1 = [unit(0, 1, 1), unit(1, 1, 1), unit(2, 2, 1), unit(3, 2, 1)]
    t2 = t1 + [unit(5, 1, 2, "expanded"), unit(7, 2, 2, "expanded")]  # 4 and 6 are pruned ghosts
    t3 = [unit(0, 1, 1, retired=3)] + t2[1:] + [unit(9, 1, 3, "expanded"), unit(10, 1, 3, "duplicate", parent=0)]
    ghosts2 = [
        {"id": 4, "layer": 1, "born": 2, "origin": "expanded"},
        {"id": 6, "layer": 2, "born": 2, "origin": "expanded"},
    ]
    ghosts3 = [{"id": 8, "layer": 1, "born": 3, "origin": "expanded"}]
    snapshots = [(t1, []), (t2, ghosts2), (t3, ghosts3)]
    return {
        "benchmark": {"name": "toy-2d", "input_dim": 2, "input_shape": [2], "n_outputs": [1, 1, 1]},
        "base_sizes": [2, 2],
        "tasks": [{"task": i + 1, "units": u, "pruned": g} for i, (u, g) in enumerate(snapshots)],
    }


def truncated(record: dict, n: int) -> dict:
    out = copy.deepcopy(record)
    out["tasks"] = out["tasks"][:n]
    return out


def test_positions_of_existing_units_never_change_as_tasks_are_added(toy_record):
    for record in (toy_record, grown_record()):
        n = len(record["tasks"])
        full = unit_positions(record)
        for t in range(1, n):
            before, after = unit_positions(truncated(record, t)), unit_positions(truncated(record, t + 1))
            common = before.keys() & after.keys()
            assert common == before.keys()
            assert all(before[uid] == after[uid] == full[uid] for uid in common)


def test_every_unit_and_ghost_has_a_place_and_no_two_share_one_at_a_task(toy_record):
    for record in (toy_record, grown_record()):
        positions = unit_positions(record)
        for snapshot in record["tasks"]:
            ids = [u["id"] for u in snapshot["units"]] + [g["id"] for g in snapshot["pruned"]]
            assert set(ids) <= positions.keys()
            assert len({positions[i] for i in ids}) == len(ids), f"overlap at task {snapshot['task']}"


def test_units_sit_at_their_layer_and_base_units_are_centred():
    record = grown_record()
    positions = unit_positions(record)
    for snapshot in record["tasks"]:
        for u in snapshot["units"] + snapshot["pruned"]:
            assert positions[u["id"]][0] == u["layer"]  # a network of columns only: layer l at x = l
    assert positions[0][1] == -positions[1][1] > 0  # base units of layer 1, top to bottom, around y = 0
    assert positions[2][1] == -positions[3][1] > 0
    # task 2's kept unit takes the first new slot (below), its ghost the next one (above)
    assert positions[5][1] < positions[1][1] and positions[4][1] > positions[0][1]


def test_new_slots_alternate_below_and_above_the_base_block():
    ys = [slot_y(s, 4) for s in range(8)]
    assert ys[:4] == sorted(ys[:4], reverse=True)
    assert ys[4] < ys[3] and ys[5] > ys[0] and ys[6] < ys[4] and ys[7] > ys[5]
    assert abs(sum(ys[:4])) < 1e-12


def test_input_geometry_nodes_for_two_inputs_and_a_block_for_images():
    two = input_geometry({"benchmark": {"input_dim": 2, "input_shape": [2]}})
    assert two.kind == "nodes" and len(two.positions) == 2 and all(x == 0 for x, _ in two.positions)
    mnist = input_geometry({"benchmark": {"input_dim": 784, "input_shape": [28, 28]}})
    assert mnist.kind == "block" and mnist.shape == (28, 28) and mnist.positions == ()
    flat = input_geometry({"benchmark": {"input_dim": 50, "input_shape": [50]}})
    assert flat.kind == "block" and flat.shape[0] * flat.shape[1] >= 50


def test_axis_ranges_hold_every_position_and_outputs():
    record = grown_record()
    (x0, x1), (y0, y1) = axis_ranges(record)
    for x, y in [*unit_positions(record).values(), *output_positions(record, 1)]:
        assert x0 < x < x1 and y0 < y < y1


def test_empty_record_has_no_positions_but_ranges():
    assert unit_positions({"tasks": []}) == {}
    (x0, x1), (y0, y1) = axis_ranges({"tasks": [], "base_sizes": [4], "benchmark": {"input_dim": 2}})
    assert x0 < 0 < x1 and y0 < 0 < y1


# --- blocks at MNIST scale ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_like() -> dict:
    """A synthetic record grown to 784-1029-459 stored units over 10 tasks."""
    return synthetic.grown_record()


def test_large_layers_are_blocks_filled_in_birth_order_and_shaped_by_the_base_only(mnist_like):
    full = layer_geometries(mnist_like)
    assert [g.kind for g in full] == ["grid", "grid"]
    first = layer_geometries(truncated(mnist_like, 1))
    for a, b in zip(first, full, strict=True):  # a new task only appends cells: the block's frame is fixed
        assert (a.columns, a.pitch, a.x0, a.top) == (b.columns, b.pitch, b.x0, b.top)
    slots = unit_slots(mnist_like)
    units = {u["id"]: u for s in mnist_like["tasks"] for u in s["units"]}
    rank = {"base": 0, "expanded": 1, "duplicate": 2}
    for layer in (1, 2):
        order = sorted((slot, uid) for uid, (l, slot) in slots.items() if l == layer and uid in units)
        keys = [(units[uid]["born"], rank[units[uid]["origin"]]) for _, uid in order]
        assert keys == sorted(keys), "cells must be filled by birth task, then origin"
        assert [slot for slot, _ in order] == list(range(len(order)))  # no hole, no shared cell


def test_no_two_units_overlap_and_cells_stay_visible_at_mnist_scale(mnist_like):
    positions = unit_positions(mnist_like)
    geometries = {g.layer: g for g in layer_geometries(mnist_like)}
    (x0, x1), (y0, y1) = axis_ranges(mnist_like, positions)
    px = min(REFERENCE_PLOT[0] / (x1 - x0), REFERENCE_PLOT[1] / (y1 - y0))  # the smallest plot it is made for
    for snapshot in (mnist_like["tasks"][0], mnist_like["tasks"][-1]):
        for layer, g in geometries.items():
            ids = [u["id"] for u in snapshot["units"] if u["layer"] == layer]
            xy = np.array([positions[i] for i in ids])
            gaps = np.abs(xy[:, None, :] - xy[None, :, :]).max(axis=2)  # Chebyshev distance between cells
            np.fill_diagonal(gaps, np.inf)
            assert gaps.min() >= g.pitch * (1 - 1e-9)
            assert g.pitch * px >= 4, "a cell must stay at least 4 px wide"
            assert (x0 < xy[:, 0]).all() and (xy[:, 0] < x1).all() and (y0 < xy[:, 1]).all() and (xy[:, 1] < y1).all()
    assert 1.4 < (x1 - x0) / (y1 - y0) < 3.5, "the picture should have about the plot's shape"


def test_small_layers_stay_columns_of_nodes(toy_record):
    assert [g.kind for g in layer_geometries(toy_record)] == ["column", "column"]
    assert input_geometry(toy_record).kind == "nodes"


def test_a_layer_grown_ninefold_is_widened_only_where_it_passes_six_times_its_base():
    record = synthetic.grown_record(final=(1300, 1138))  # the paper preset's growth: layer 2 grows ~9x
    positions = unit_positions(record)
    (x0, x1), (y0, y1) = axis_ranges(record, positions)
    assert 1.4 < (x1 - x0) / (y1 - y0) < 3.5, "a ninefold layer must not make the picture a tower"
    px = min(REFERENCE_PLOT[0] / (x1 - x0), REFERENCE_PLOT[1] / (y1 - y0))
    assert all(g.pitch * px >= 4 for g in layer_geometries(record)), "cells stay visible"
    bases = record["base_sizes"]

    def capacities(n):
        part = truncated(record, n)
        slots = unit_slots(part)
        return [block_capacity(bases[l - 1], 1 + max(s for (ly, s) in slots.values() if ly == l)) for l in (1, 2)]

    moved_at = []
    for t in range(1, len(record["tasks"])):
        before, after = unit_positions(truncated(record, t)), unit_positions(truncated(record, t + 1))
        if any(before[uid] != after[uid] for uid in before):
            moved_at.append(t + 1)
            assert capacities(t) != capacities(t + 1), f"units moved at task {t + 1} with no layer re-shaped"
        else:
            assert capacities(t) == capacities(t + 1)
    assert len(moved_at) == 1, moved_at  # re-laid once, where layer 2 passed 6 times its base
    assert capacities(len(record["tasks"])) == [312, 256]  # layer 2 passed 6 x 128, layer 1 never 6 x 312
