"""Figure builders: what the drawing shows must match the record and the weights exactly."""

from __future__ import annotations

import copy
import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from figure_reading import drawn_units, is_diamond, traces

from dashboard import figures, synthetic
from dashboard.figures.encoding import EDGE_NEGATIVE, EDGE_POSITIVE, fade, task_color
from dashboard.figures.layout import unit_positions
from den_engine.core.config import preset
from den_engine.core.runner import Trainer
from den_engine.records.store import load_run

TINY = {"hidden_sizes": (8, 8), "iterations": 20, "head_iterations": 10}
CHARTS = [
    figures.units_chart,
    figures.sparsity_chart,
    figures.params_chart,
    figures.matrix_heatmap,
    figures.average_metric_chart,
    figures.loss_threshold_chart,
]


def _train(tmp_path_factory, benchmark: str, config=None):
    out = tmp_path_factory.mktemp(benchmark)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster, and much faster on a busy machine
    try:
        Trainer(config or preset("fast", **TINY), benchmark, 3, out_dir=out).run()
    finally:
        torch.set_num_threads(threads)
    run = load_run(out)
    weights = {t: {k: v.numpy() for k, v in run.weights(t).items() if k != "rng_state"} for t in (1, 2, 3)}
    return run.data, weights


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A 3-task toy-2d run (2 input nodes, 8-8 hidden) with its weights per task."""
    return _train(tmp_path_factory, "toy-2d")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A 3-task 8x8-digits run, with a low sigma so that units get split."""
    return _train(tmp_path_factory, "digits-one-vs-rest", preset("fast", split_threshold=0.005, **TINY))


def unit(uid, layer, born, origin="base", parent=None, retired=None):
    return {"id": uid, "layer": layer, "born": born, "origin": origin, "parent": parent, "retired": retired}


def handmade() -> tuple[dict, dict]:
    """2 inputs, layers 3-2; task 2 expands (ghost 6), splits unit 0 into 8; task 3 has missing metrics."""
    t1 = [unit(0, 1, 1), unit(1, 1, 1), unit(2, 1, 1), unit(3, 2, 1), unit(4, 2, 1)]
    t2 = [unit(0, 1, 1, retired=2)] + t1[1:3] + [unit(5, 1, 2, "expanded"), unit(8, 1, 2, "duplicate", parent=0)]
    t2 += t1[3:] + [unit(7, 2, 2, "expanded")]
    drift = {"ids": [0, 1, 2], "values": [0.3, 0.01, None]}
    events2 = [
        {
            "type": "expansion_decision",
            "stage": "selective_retraining",
            "loss": 0.4,
            "loss_threshold": 0.1,
            "expand": True,
        },
        {
            "type": "drift",
            "stage": "split",
            "split_threshold": 0.1,
            "drift": [drift, {"ids": [3, 4], "values": [0.02, 0]}],
        },
        {"type": "split", "stage": "split", "pairs": [{"layer": 1, "parent": 0, "duplicate": 8, "drift": 0.3}]},
    ]
    events3 = [{"type": "expansion_decision", "stage": "x", "loss": 0.05, "loss_threshold": 0.1, "expand": False}]

    def snap(task, units, events, metrics, pruned=(), selected=None):
        sizes = [2] + [sum(u["layer"] == l for u in units) for l in (1, 2)]
        active = [2] + [sum(u["layer"] == l and (u["retired"] or 99) > task for u in units) for l in (1, 2)]
        return {
            "task": task,
            "name": f"shape {task}",
            "n_outputs": 1,
            "layer_sizes": sizes,
            "active_sizes": active,
            "units": units,
            "pruned": list(pruned),
            "selected": selected,
            "events": events,
            "sparsity": [0.1 * task, None],
            "params": {"total": 30 * task, "nonzero": 20 * task, "mtl_params": 25, "stl_params": 25 * task},
            "metrics": metrics,
            "weights": f"weights/task-00{task}.safetensors",
        }

    record = {
        "run_id": "hand",
        "benchmark": {"name": "toy-2d", "input_dim": 2, "input_shape": [2], "n_outputs": [1, 1, 1]},
        "base_sizes": [3, 2],
        "tasks": [
            snap(1, t1, [], {"auroc": [0.9], "accuracy": [0.8], "average_auroc": 0.9, "average_accuracy": 0.8}),
            snap(
                2,
                t2,
                events2,
                {"auroc": [0.91, 0.7], "accuracy": [0.8, 0.6], "average_auroc": 0.805},
                pruned=[{"id": 6, "layer": 1, "born": 2, "origin": "expanded"}],
                selected=[[1, 2], [3]],
            ),
            snap(3, t2, events3, {"auroc": [0.9, None, float("nan")], "accuracy": [0.8, 0.6, 0.5]}),
        ],
    }
    w1 = np.array([[0.5, -0.25], [0.0, 1.0], [-2.0, 0.0], [0.75, 0.1], [0.3, -0.3]])  # rows: units 0,1,2,5,8
    w2 = np.array([[9.0, 0.2, -0.4, 0.0, 0.6], [0.0, -0.7, 0.8, 0.05, 0.0], [0.0, 0.0, 0.0, 0.9, -1.1]])
    weights = {"hidden.1.weight": w1, "hidden.2.weight": w2, "head.2.weight": np.array([[1.5, -0.01, 0.0]])}
    return record, weights


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


# --- charts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("build", CHARTS)
def test_charts_handle_zero_one_and_many_tasks(build, toy):
    record, _ = handmade()
    empty = build({"tasks": []})
    assert empty.layout.annotations[0].text.startswith("No task")
    assert isinstance(build({}), go.Figure)
    one = copy.deepcopy(record)
    one["tasks"] = one["tasks"][:1]
    for r in (one, record, toy[0]):
        assert isinstance(build(r), go.Figure)
        build(r).to_json()


def test_heatmap_cells_carry_the_matrix_values():
    record, _ = handmade()
    for metric in ("auroc", "accuracy"):
        fig = figures.matrix_heatmap(record, metric)
        z, text = np.asarray(fig.data[0].z, dtype=float), fig.data[0].text
        for i, snapshot in enumerate(record["tasks"]):
            row = snapshot["metrics"][metric]
            for j in range(3):
                value = row[j] if j <= i and row[j] is not None else math.nan
                if j > i or math.isnan(value):
                    assert math.isnan(z[i][j]) and text[i][j] in ("", "–")
                else:
                    assert z[i][j] == value and text[i][j] == f"{value:.3f}"
    assert fig.layout.xaxis.title.text == "evaluated on task j" and fig.layout.yaxis.title.text == "after task i"


def test_units_chart_stacks_to_the_active_sizes(toy):
    for record in (toy[0], handmade()[0]):
        fig = figures.units_chart(record)
        bars = [tr for tr in fig.data if isinstance(tr, go.Bar)]
        n_layers = len(record["tasks"][0]["layer_sizes"]) - 1
        for l in range(n_layers):
            axis = "x" if l == 0 else f"x{l + 1}"
            stacked = np.sum([tr.y for tr in bars if tr.xaxis == axis], axis=0)
            assert list(stacked) == [t["active_sizes"][l + 1] for t in record["tasks"]]


def test_drift_histogram_names_split_units_and_sigma():
    record, _ = handmade()
    fig = figures.drift_histogram(record, 2, 1)
    assert sorted(fig.data[0].x) == [0.01, 0.3]  # the None value is left out
    assert "σ = 0.1" in fig.layout.annotations[0].text and "split: 0" in fig.layout.title.text
    assert fig.layout.shapes[0].x0 == 0.1
    assert "Task 1" in figures.drift_histogram(record, 1, 1).layout.annotations[0].text
    assert figures.drift_histogram(record, 2, 5).layout.annotations[0].text.startswith("No drift")
    assert figures.drift_histogram(record, 3, 1).layout.annotations[0].text.startswith("No drift")


def test_loss_threshold_chart_colours_bars_by_the_decision():
    record, _ = handmade()
    fig = figures.loss_threshold_chart(record)
    bars = {tr.name: (list(tr.x), list(tr.y)) for tr in fig.data if isinstance(tr, go.Bar)}
    assert bars["expanded (loss > τ)"] == ([2], [0.4]) and bars["not expanded (loss ≤ τ)"] == ([3], [0.05])
    tau = next(tr for tr in fig.data if tr.name.startswith("τ"))
    assert list(tau.y) == [0.1, 0.1]


def test_missing_numbers_become_gaps():
    record, _ = handmade()
    average = figures.average_metric_chart(record)
    assert list(average.data[1].y) == [0.8, None, None]
    assert list(figures.sparsity_chart(record).data[1].y) == [None, None, None]


def test_loss_threshold_chart_is_linear_with_a_tau_dash_per_bar_and_the_inspected_task_outlined():
    record, _ = handmade()
    fig = figures.loss_threshold_chart(record, task=3)
    assert fig.layout.yaxis.type == "linear" and fig.layout.yaxis.rangemode == "tozero"
    tau = next(tr for tr in fig.data if tr.name.startswith("τ"))
    assert tau.mode == "markers" and tau.marker.symbol == "line-ew"  # a dash on each bar, no line across them
    widths = {tr.name: list(tr.marker.line.width) for tr in fig.data if isinstance(tr, go.Bar)}
    assert widths == {"expanded (loss > τ)": [0], "not expanded (loss ≤ τ)": [3]}  # task 3 is outlined
    assert fig.layout.annotations[0].text == "task 3"
