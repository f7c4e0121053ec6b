"""The network figure: what the drawing shows must match the record and the weights exactly."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from figure_reading import drawn_units, is_diamond, traces
from figure_records import TINY, handmade, train_run

from dashboard import figures, synthetic
from dashboard.figures.encoding import EDGE_NEGATIVE, EDGE_POSITIVE, fade, task_color
from dashboard.figures.layout import unit_positions
from den_engine.core.config import preset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A 3-task toy-2d run (2 input nodes, 8-8 hidden) with its weights per task."""
    return train_run(tmp_path_factory, "toy-2d")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A 3-task 8x8-digits run, with a low sigma so that units get split."""
    return train_run(tmp_path_factory, "digits-one-vs-rest", preset("fast", split_threshold=0.005, **TINY))


def drawn_edges(fig: go.Figure) -> list[tuple[float, float, float, float, float]]:
    """(weight, x0, y0, x1, y1) of every edge segment in the figure."""
    out = []
    for t in traces(fig, "edges"):
        xs, ys = np.asarray(t.x, dtype=float), np.asarray(t.y, dtype=float)
        assert np.isnan(xs[2::3]).all()
        for w, x0, y0, x1, y1 in zip(t.meta["weights"], xs[0::3], ys[0::3], xs[1::3], ys[1::3], strict=True):
            out.append((w, x0, y0, x1, y1))
    return out


def candidate_weights(record: dict, task: int, weights: dict) -> np.ndarray:
    """Oracle: every weight task `task` uses between drawn nodes (inputs drawn as nodes, hidden, its head)."""
    snapshot = record["tasks"][task - 1]
    layers = [[u for u in snapshot["units"] if u["layer"] == l] for l in (1, 2)]
    active = [[i for i, u in enumerate(lu) if (u["retired"] or 10**9) > task] for lu in layers]
    blocks = [weights["hidden.1.weight"][active[0]]] if record["benchmark"]["input_dim"] <= 16 else []
    blocks.append(weights["hidden.2.weight"][np.ix_(active[1], active[0])])
    head = weights[f"head.{task}.weight"]
    blocks.append(head[:, [i for i in active[1] if i < head.shape[1]]])
    return np.concatenate([b.ravel() for b in blocks])


# --- network_figure ---------------------------------------------------------------------------------


def test_every_unit_is_drawn_once_and_pruned_ones_only_at_their_task(toy, digits):
    for record, weights in (toy, digits, handmade()):
        for snapshot in record["tasks"]:
            t = snapshot["task"]
            fig = figures.network_figure(record, t, weights.get(t) if t in weights else None)
            ids = [int(i) for tr in traces(fig, "units") for i in tr.customdata]
            expected = [u["id"] for u in snapshot["units"]] + [g["id"] for g in snapshot["pruned"]]
            assert sorted(ids) == sorted(expected)
            hidden = figures.network_figure(record, t, show_pruned=False)
            shown = {int(i) for tr in traces(hidden, "units") for i in tr.customdata}
            assert shown == {u["id"] for u in snapshot["units"]}


def test_duplicates_are_diamonds_linked_to_their_parent(digits):
    for record in (digits[0], handmade()[0]):
        positions = unit_positions(record)
        n_dups = 0
        for snapshot in record["tasks"]:
            t = snapshot["task"]
            fig = figures.network_figure(record, t)
            segments = set()
            for tr in traces(fig, "duplicate_links"):
                xs, ys = np.asarray(tr.x, dtype=float), np.asarray(tr.y, dtype=float)
                starts = zip(xs[0::3], ys[0::3], strict=True)
                segments |= set(zip(starts, zip(xs[1::3], ys[1::3], strict=True), strict=True))
            dups = [u for u in snapshot["units"] if u["origin"] == "duplicate"]
            n_dups += len(dups)
            linked = dups if len(dups) <= 40 else []  # at scale, links belong to the change view
            assert {(positions[u["parent"]], positions[u["id"]]) for u in linked} == segments
            looks = drawn_units(fig)
            for u in snapshot["units"]:
                active = u["retired"] is None or u["retired"] > t
                if looks[u["id"]]["shape"] != "cell" or active:  # faded retired cells carry no glyph
                    assert is_diamond(looks[u["id"]]) == (u["origin"] == "duplicate"), u
        assert n_dups > 0, "the fixture should contain a split"


def test_colour_is_the_birth_task_and_retired_originals_are_faded(digits):
    for record in (handmade()[0], digits[0], synthetic.grown_record(n_tasks=3)):  # columns, then blocks of cells
        for snapshot in record["tasks"]:
            t = snapshot["task"]
            looks = drawn_units(figures.network_figure(record, t))
            for u in snapshot["units"]:
                active = u["retired"] is None or u["retired"] > t
                assert looks[u["id"]]["colour"] == (task_color(u["born"]) if active else fade(task_color(u["born"])))


@pytest.mark.parametrize("max_edges", [1, 5, 40, 10_000])
def test_edges_drawn_are_the_strongest_nonzero_weights(toy, max_edges):
    record, all_weights = toy
    for task in (1, 2, 3):
        weights = all_weights[task]
        fig = figures.network_figure(record, task, weights, max_edges=max_edges)  # columns only: single edges
        drawn = np.array(sorted(abs(e[0]) for e in drawn_edges(fig)))
        candidates = candidate_weights(record, task, weights)
        nonzero = np.abs(candidates[candidates != 0])
        assert len(drawn) == min(max_edges, nonzero.size)
        np.testing.assert_allclose(drawn, np.sort(nonzero)[::-1][: len(drawn)][::-1], atol=1e-5)


def test_edges_are_coloured_by_sign_and_join_the_right_units():
    record, weights = handmade()
    fig = figures.network_figure(record, 2, weights, max_edges=100)
    positions = unit_positions(record)
    by_sign = {EDGE_POSITIVE: [], EDGE_NEGATIVE: []}
    for tr in traces(fig, "edges"):
        by_sign[tr.line.color] += [float(w) for w in tr.meta["weights"]]
    assert all(w > 0 for w in by_sign[EDGE_POSITIVE]) and all(w < 0 for w in by_sign[EDGE_NEGATIVE])
    # retired unit 0 (row 0 of hidden.1, column 0 of hidden.2) is not part of task 2's pass: 9.0 is not drawn
    assert 9.0 not in by_sign[EDGE_POSITIVE]
    assert sorted(by_sign[EDGE_POSITIVE]) == [0.05, 0.1, 0.2, 0.3, 0.6, 0.75, 0.8, 0.9, 1.0, 1.5]
    assert sorted(by_sign[EDGE_NEGATIVE]) == [-2.0, -1.1, -0.7, -0.4, -0.3, -0.01]
    edge = next(e for e in drawn_edges(fig) if e[0] == -1.1)  # hidden.2 row 2 (unit 7), column 4 (unit 8)
    assert (edge[1], edge[2]) == positions[8] and (edge[3], edge[4]) == positions[7]


def test_bundles_carry_the_sum_of_abs_weights_between_birth_task_groups():
    record, weights = handmade()
    fig = figures.network_figure(record, 2, weights, edges="bundled")
    sums = sorted(s for tr in traces(fig, "bundles") for s in tr.meta["sums"])
    w1, w2, head = weights["hidden.1.weight"], weights["hidden.2.weight"], weights["head.2.weight"]
    # task 2: active layer-1 rows 1, 2 (born 1) and 3, 4 (born 2); layer-2 rows 0, 1 (born 1) and 2 (born 2)
    oracle = [abs(w1[rows, i]).sum() for rows in ([1, 2], [3, 4]) for i in (0, 1)]  # each input node: a group
    oracle += [abs(w2[np.ix_(r, c)]).sum() for r in ([0, 1], [2]) for c in ([1, 2], [3, 4])]
    oracle += [abs(head[0, c]).sum() for c in ([0, 1], [2])]
    np.testing.assert_allclose(sums, sorted(v for v in oracle if v > 0), rtol=1e-9)
    widths = {tr.line.width for tr in traces(fig, "bundles")}
    assert len(widths) > 1, "width must follow the sum"
    hover = next(iter(traces(fig, "bundle_hover")))
    assert any("Σ|w|" in text for text in hover.hovertext)


def test_bundles_are_the_default_once_a_layer_is_a_block(digits):
    record, weights = digits
    fig = figures.network_figure(record, 3, weights[3])
    assert traces(fig, "bundles") and not traces(fig, "edges")
    strongest = figures.network_figure(record, 3, weights[3], edges="strongest", max_edges=50)
    assert len(drawn_edges(strongest)) == 50 and not traces(strongest, "bundles")


def test_hover_card_names_id_origin_drift_and_incoming_sparsity():
    record, weights = handmade()
    fig = figures.network_figure(record, 3, {**weights, "head.3.weight": np.ones((1, 3))})
    cards = {uid: text for tr in traces(fig, "units") for uid, text in zip(tr.customdata, tr.hovertext, strict=True)}
    for u in record["tasks"][2]["units"]:
        assert f"unit {u['id']}" in cards[u["id"]] and u["origin"] in cards[u["id"]]
    assert "drift t2: 0.3" in cards[0] and "σ = 0.1" in cards[0] and "retired at task 2" in cards[0]
    assert "parent: 0" in cards[8]
    assert "incoming zeros: 50% (1/2)" in cards[1]  # row [0.0, 1.0]
    assert "incoming zeros: 50% (2/4)" in cards[7]  # row 2 of hidden.2 over the 4 active layer-1 units


def test_legend_names_exactly_what_is_drawn(digits):
    for record, task, mode in ((digits[0], 3, "growth"), (digits[0], 3, "changes"), (handmade()[0], 2, "changes"),
                               (handmade()[0], 2, "growth"), (digits[0], 3, "diff")):  # fmt: skip
        snapshot = record["tasks"][task - 1]
        fig = figures.network_figure(record, task, mode=mode, since=1)
        looks = drawn_units(fig)
        units = {u["id"]: u for u in snapshot["units"] + snapshot["pruned"]}
        entries = {tr.meta["key"]: tr for tr in traces(fig, "legend")}
        colours = {look["colour"] for look in looks.values()}
        for key, entry in entries.items():
            if key.startswith("born:"):
                born = int(key[5:])
                assert entry.marker.color in colours and any(units[i]["born"] == born for i in looks)
            elif key in ("duplicate", "split_copy"):
                assert any(is_diamond(look) for look in looks.values())
            elif key == "pruned":
                assert snapshot["pruned"]
            elif key in ("selected", "split_original", "retired_since"):
                glyph = "selected" if key == "selected" else "split"
                assert any(
                    glyph in look["glyphs"] or look["outline"] not in (None, "#ffffff") for look in looks.values()
                )
            else:
                assert entry.marker.color in colours, key
        if mode == "growth":  # conversely, every birth colour drawn has its entry
            for uid, look in looks.items():
                u = units[uid]
                if look["colour"] == task_color(u["born"]):
                    assert f"born:{u['born']}" in entries
        drawn_lines = [tr for tr in fig.data if tr.mode == "lines" and tr.showlegend is not False]
        assert all(tr.x is not None and len(tr.x) for tr in drawn_lines)


def test_axis_ranges_are_fixed_across_the_timeline_and_the_axes_equal(toy):
    record, weights = toy
    figs = [figures.network_figure(record, t, weights[t]) for t in (1, 2, 3)]
    assert len({(tuple(f.layout.xaxis.range), tuple(f.layout.yaxis.range)) for f in figs}) == 1
    assert all(f.layout.yaxis.scaleanchor == "x" and f.layout.yaxis.scaleratio == 1 for f in figs)


@pytest.mark.parametrize("shape", [(8, 8), (28, 28)])
def test_image_inputs_are_square_and_shade_first_layer_usage(digits, shape):
    if shape == (8, 8):
        record, weights = digits[0], digits[1][3]
        task = 3
    else:
        record = synthetic.grown_record(n_tasks=2)
        weights, task = synthetic.grown_weights(record, 2), 2
    fig = figures.network_figure(record, task, weights)
    (image,) = traces(fig, "input")
    xs, ys = np.asarray(image.x, dtype=float), np.asarray(image.y, dtype=float)
    assert (len(ys), len(xs)) == shape
    np.testing.assert_allclose(np.diff(xs), np.diff(ys))  # square pixels in data units ...
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1  # ... and on screen
    snapshot = record["tasks"][task - 1]
    rows = [i for i, u in enumerate(u for u in snapshot["units"] if u["layer"] == 1) if u["retired"] is None]
    expected = np.abs(weights["hidden.1.weight"][rows]).sum(axis=0).reshape(shape)
    np.testing.assert_allclose(np.asarray(image.z, dtype=float)[::-1], expected, rtol=1e-5)  # row 0 on top


def test_a_clicked_first_layer_unit_shows_its_weights_as_an_image_and_its_own_edges(digits):
    record, weights = digits[0], digits[1][3]
    snapshot = record["tasks"][2]
    layer1 = [u for u in snapshot["units"] if u["layer"] == 1]
    row = next(i for i, u in enumerate(layer1) if u["retired"] is None)
    uid = layer1[row]["id"]
    fig = figures.network_figure(record, 3, weights, focus=uid)
    (image,) = traces(fig, "input")
    assert image.meta["focus"] == uid
    np.testing.assert_allclose(np.asarray(image.z, dtype=float)[::-1].ravel(), weights["hidden.1.weight"][row])
    out = weights["hidden.2.weight"][:, row]
    active2 = [i for i, u in enumerate(u for u in snapshot["units"] if u["layer"] == 2) if u["retired"] is None]
    drawn = sorted(float(w) for tr in traces(fig, "focus_edges") for w in tr.meta["weights"])
    np.testing.assert_allclose(drawn, sorted(v for v in out[active2] if v != 0), atol=1e-5)
    assert fig.layout.meta["focus"] == uid
    assert figures.network_figure(record, 3, weights, focus=10**6).layout.meta["focus"] is None


def test_title_names_task_and_sizes():
    record, _ = handmade()
    title = figures.network_figure(record, 2).layout.title.text
    assert "task 2" in title and "shape 2" in title and "2-4-3" in title and "2-5-3" in title


def test_tiny_figure_json_is_small(toy):
    record, weights = toy
    assert len(figures.network_figure(record, 3, weights[3]).to_json()) < 60_000


def test_bad_task_mode_and_empty_records_give_a_message_not_an_error():
    record, weights = handmade()
    for fig in (
        figures.network_figure({}, 1),
        figures.network_figure({"tasks": []}, 1, weights),
        figures.network_figure(record, 7),
        figures.network_figure(record, 0),
        figures.network_figure(record, 1, mode="sideways"),
        figures.network_figure(record, 1, edges="curly"),
    ):
        assert fig.layout.annotations and fig.layout.annotations[0].text


def test_mismatched_weights_draw_no_edges_instead_of_failing():
    record, weights = handmade()
    for edges in ("strongest", "bundled"):
        bad = {"hidden.1.weight": np.ones((2, 2)), "hidden.2.weight": np.ones((1, 1))}
        fig = figures.network_figure(record, 2, bad, edges=edges)
        assert not traces(fig, "edges") and not traces(fig, "bundles")
