"""Conv layers in the network picture: filter cells coloured by birth, their kernels, their cards, the frame."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.figures import network_figure
from dashboard.figures.base import is_active
from dashboard.figures.encoding import fade, task_color
from dashboard.figures.filters import filter_figure
from dashboard.figures.layout import placement
from dashboard.synthetic import grown_conv_record, grown_conv_weights
from tests.dashboard.figures.figure_reading import drawn_units, traces

TASKS = 4


@pytest.fixture(scope="module")
def record() -> dict:
    return grown_conv_record(TASKS, base=(4, 6, 20), final=(12, 14, 40), k=3, pruned=1)


@pytest.fixture(scope="module")
def weights(record) -> dict:
    return grown_conv_weights(record, TASKS)


def _layer(record, task, layer):
    """The snapshot's units of ``layer`` in weight-row order."""
    return [u for u in record["tasks"][task - 1]["units"] if u["layer"] == layer]


def test_filters_are_cells_coloured_by_birth_task_and_retired_ones_faded(record, weights):
    fig = network_figure(record, TASKS, weights)
    drawn = drawn_units(fig)
    filters = _layer(record, TASKS, 1) + _layer(record, TASKS, 2)
    assert {u["born"] for u in filters} >= {1, 2, 3, 4} and any(not is_active(u, TASKS) for u in filters)
    for u in filters:
        expected = task_color(u["born"]) if is_active(u, TASKS) else fade(task_color(u["born"]))
        assert drawn[u["id"]]["shape"] == "cell" and drawn[u["id"]]["colour"] == expected, u
    # a conv layer is a framed block even with 4 base filters (a dense layer that small would be a column)
    assert [g.kind for g in placement(record).geometries[:2]] == ["grid", "grid"]
    frames = [s for s in fig.layout.shapes if s.type == "rect"]
    geometries = placement(record).geometries
    for g in geometries[:2]:
        assert any(f.x0 < g.x0 and f.x1 > g.x1 for f in frames)
    titles = [a.text for a in fig.layout.annotations]
    assert "conv 1 · 5×5<br>10 filters<br>(12 stored)" in titles and any(t.startswith("conv 2 · 5×5") for t in titles)
    assert any(t.startswith("layer 3<br>") for t in titles)


def _drawn_xy(fig) -> dict[int, tuple[float, float]]:
    out = {}
    for tr in traces(fig, "units"):
        out.update({int(i): (x, y) for i, x, y in zip(tr.customdata, tr.x, tr.y, strict=True)})
    return out


def test_filters_stay_where_they_were_born_while_the_timeline_is_scrubbed(record, weights):
    last = _drawn_xy(network_figure(record, TASKS, weights))
    for t in range(1, TASKS):
        earlier = _drawn_xy(network_figure(record, t, grown_conv_weights(record, t)))
        filters = {u["id"] for u in record["tasks"][t - 1]["units"] if u["layer"] <= 2}
        assert filters and all(earlier[uid] == last[uid] for uid in filters)


def _kernel_of(fig, uid, slot_xy):
    """The k×k picture drawn in filter ``uid``'s cell, read back from the kernel heatmaps."""
    for tr in traces(fig, "kernels"):
        if uid not in tr.meta["ids"]:
            continue
        k, xs, ys, z = tr.meta["k"], np.asarray(tr.x), np.asarray(tr.y), np.asarray(tr.z, dtype=float)
        cx, cy = slot_xy
        col = int(np.argmin(np.abs(xs - cx)))  # the cell's centre step: the kernel's middle tap
        row = int(np.argmin(np.abs(ys - cy)))
        h = k // 2
        block = z[row - h : row + h + 1, col - h : col + h + 1]
        return block[::-1], tr.meta["active"]  # heatmap rows run upwards; a kernel's row 0 is its top
    return None, None


def test_first_layer_kernels_are_each_filters_own_and_retired_ones_are_faded(record, weights):
    fig = network_figure(record, TASKS, weights)
    where = placement(record)
    w = weights["hidden.1.weight"].mean(axis=1)
    units = _layer(record, TASKS, 1)
    assert any(u["id"] != i for i, u in enumerate(units))  # ids are not rows: a kernel found by id would be wrong
    for row, u in enumerate(units):
        picture, active = _kernel_of(fig, u["id"], where.positions[u["id"]])
        assert picture is not None, u
        np.testing.assert_allclose(picture, w[row] / np.abs(w[row]).max(), rtol=1e-5, atol=1e-6)
        assert active == is_active(u, TASKS)
    retired = next(tr for tr in traces(fig, "kernels") if not tr.meta["active"])
    assert retired.opacity < 0.5
    assert not traces(network_figure(record, TASKS, weights, arrive=0.5), "kernels")  # in-between pictures: cells


def test_filter_cards_give_kernel_norms_per_channel_and_drift(record, weights):
    fig = network_figure(record, TASKS, weights)
    cards = {}
    for tr in traces(fig, "units"):
        cards.update(dict(zip((int(i) for i in tr.customdata), tr.hovertext, strict=True)))
    w2 = weights["hidden.2.weight"]
    for row, u in enumerate(_layer(record, TASKS, 2)):
        card = cards[u["id"]]
        assert card.startswith(f"<b>filter {u['id']}</b> · conv layer 2")
        norms = np.sqrt((w2[row].astype(np.float64) ** 2).sum(axis=(1, 2)))
        best = int(np.argmax(norms))
        assert f"c{best + 1}: {norms[best]:.3g}" in card
    drifted = {uid for e in record["tasks"][TASKS - 1]["events"] if e["type"] == "drift" for d in e["drift"]
               for uid in d["ids"]}  # fmt: skip
    filter_ids = {u["id"] for u in _layer(record, TASKS, 1)}
    assert any("drift" in cards[uid] and f"t{TASKS}:" in cards[uid] for uid in drifted & filter_ids)
    assert "filter" not in cards[_layer(record, TASKS, 3)[0]["id"]]  # a dense unit keeps its unit card


def test_edges_and_focus_read_every_tap_of_a_filter(record, weights):
    fig = network_figure(record, TASKS, weights, edges="bundled")
    hover = traces(fig, "bundle_hover")[0].hovertext
    into_2 = [h for h in hover if "→ layer 2, born at task 1" in h and "layer 1, born at task 1" in h][0]
    units1, units2 = _layer(record, TASKS, 1), _layer(record, TASKS, 2)
    rows = [i for i, u in enumerate(units2) if u["born"] == 1 and is_active(u, TASKS)]
    cols = [i for i, u in enumerate(units1) if u["born"] == 1 and is_active(u, TASKS)]
    block = weights["hidden.2.weight"][np.ix_(rows, cols)]
    assert f"{block.size:,} weights" in into_2 and f"Σ|w| = {np.abs(block).sum():.3g}" in into_2
    focused = network_figure(record, TASKS, weights, focus=units2[0]["id"])
    assert traces(focused, "focus_edges")


def test_filter_figure_draws_the_kernel_and_the_map_given():
    kernel = np.arange(2 * 9, dtype=float).reshape(2, 3, 3) - 8
    activation = np.array([[0.0, 1.0], [2.0, 3.0]])
    fig = filter_figure(kernel, activation, uid=7, layer=2, task=3)
    drawn = {tr.meta["kind"]: tr for tr in fig.data}
    np.testing.assert_allclose(np.asarray(drawn["kernel"].z), kernel.mean(axis=0))
    np.testing.assert_allclose(np.asarray(drawn["norms"].y), np.sqrt((kernel**2).sum(axis=(1, 2))))
    np.testing.assert_allclose(np.asarray(drawn["activation"].z), activation)
    missing = filter_figure(kernel[:1], None, uid=7, layer=1, task=3, note="no test images")
    assert {tr.meta["kind"] for tr in missing.data} == {"kernel"}
    assert any("no test images" in a.text for a in missing.layout.annotations)


def test_a_paper_size_conv_network_fills_the_plot_instead_of_a_thin_strip():
    from dashboard.figures import layout
    from dashboard.synthetic import grown_conv_record, grown_record

    conv = grown_conv_record(10)  # four blocks: conv 20-50 grown to 120-260 filters, dense 800-500 grown
    (x0, x1), (y0, y1) = layout.axis_ranges(conv)
    assert (x1 - x0) / (y1 - y0) < 2.2  # about the plot's shape (it was a 3.6 : 1 strip)
    mnist = grown_record()  # one or two blocks are never reshaped: the MNIST picture stays as it was
    counts: dict[int, int] = {}
    for layer, slot in layout.unit_slots(mnist).values():
        counts[layer] = max(counts.get(layer, 0), slot + 1)
    for g in layout.layer_geometries(mnist):
        columns, pitch, _ = layout._grid_shape(layout.block_capacity(g.base, counts[g.layer]))  # wide, unscaled
        assert (g.columns, g.pitch) == (columns, pitch)
