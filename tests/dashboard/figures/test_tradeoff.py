"""The trade-off chart and the knob heatmap: every run visible and labelled by what differs, seeds as error bars."""

from __future__ import annotations

import copy
import json
import statistics
from pathlib import Path

import pytest

from dashboard.figures import compare as cf
from dashboard.figures import tradeoff as tf

SHIPPED = Path(__file__).resolve().parents[3] / "assets" / "runs"
SWEEP = SHIPPED / "sweeps" / "digits-tau-sigma"


@pytest.fixture(scope="module")
def digits() -> dict:
    return json.loads((SHIPPED / "digits-den-fast" / "run.json").read_text())


def _variant(record: dict, *, accuracy: float, stl: float, auroc: float = 0.99, **config) -> dict:
    out = copy.deepcopy(record)
    out["config"].update(config)
    out["final"].update(average_accuracy=accuracy, average_auroc=auroc)
    for t in out["tasks"]:
        t["params"]["relative_to_stl"] = stl
    return out


def _runs(records: list[dict]) -> list[tuple[str, dict]]:
    return list(zip(cf.run_labels(records, [f"run{i}" for i in range(len(records))]), records, strict=True))


def _markers(fig):
    return next(t for t in fig.data if t.mode == "markers")


def _labels(fig, name: str = "label") -> list[str]:
    return [a.text for a in fig.layout.annotations if a.name == name]


@pytest.fixture(scope="module")
def tau4(digits) -> list[tuple[str, dict]]:
    """A 4-value τ sweep where two settings end on exactly the same numbers (as τ=0.001 and 0.01 do on digits)."""
    return _runs(
        [
            _variant(digits, accuracy=0.9933, stl=0.729, loss_threshold=0.001),
            _variant(digits, accuracy=0.9933, stl=0.729, loss_threshold=0.01),
            _variant(digits, accuracy=0.9915, stl=0.641, loss_threshold=0.1),
            _variant(digits, accuracy=0.9653, stl=0.277, loss_threshold=1.0),
        ]
    )


def test_coinciding_runs_share_one_marker_that_names_and_counts_them_all(tau4):
    fig = tf.tradeoff_figure(tau4)
    markers = _markers(fig)
    assert len(markers.x) == 3 and fig.layout.meta["runs"] == 4  # no run dropped, none hidden under another
    assert sorted(_labels(fig)) == ["τ=0.001, τ=0.01 (2 settings)", "τ=0.1", "τ=1"]
    shared = _labels(fig).index("τ=0.001, τ=0.01 (2 settings)")
    assert "2 runs here" in markers.customdata[shared]
    assert "τ=0.001" in markers.customdata[shared] and "τ=0.01" in markers.customdata[shared]
    assert _labels(fig, "count") == ["<b>2</b>"]  # the count inside the shared marker


def test_near_markers_merge_and_distinct_ones_do_not(digits):
    runs = _runs(
        [
            _variant(digits, accuracy=0.95, stl=0.500, loss_threshold=0.01),
            _variant(digits, accuracy=0.95, stl=0.505, loss_threshold=0.02),  # 1/80 of the width away: covered
            _variant(digits, accuracy=0.90, stl=0.900, loss_threshold=0.03),
            _variant(digits, accuracy=0.95, stl=0.900, loss_threshold=0.04),
        ]
    )
    points, _ = tf.tradeoff_points(runs)
    assert sorted(len(p.runs) for p in points) == [1, 1, 2]
    merged = next(p for p in points if len(p.runs) == 2)
    assert merged.labels == ["τ=0.01", "τ=0.02"] and merged.x == pytest.approx(50.25)


def test_labels_name_only_the_settings_that_differ_and_seeds_become_error_bars(digits):
    runs = _runs(
        [
            _variant(digits, accuracy=a, stl=s, loss_threshold=tau, split_threshold=0.05, seed=seed)
            for tau, seed, a, s in [(0.01, 0, 0.9, 0.5), (0.01, 1, 0.94, 0.6), (0.1, 0, 0.97, 0.8), (0.1, 1, 0.97, 0.8)]
        ]
    )  # fmt: skip
    points = tf.settings(runs)
    assert [p.labels for p in points] == [["τ=0.01"], ["τ=0.1"]]  # σ is the same everywhere; seeds are repeats
    low = points[0]
    assert low.seeds == 2 and low.y == pytest.approx(0.92) and low.y_sd == pytest.approx(statistics.stdev([0.9, 0.94]))
    assert low.x == pytest.approx(55.0) and low.x_sd == pytest.approx(statistics.stdev([50.0, 60.0]))
    assert len(low.runs) == 2  # both seeds listed on hover
    fig = tf.tradeoff_figure(runs)
    markers = _markers(fig)
    assert markers.error_y.visible and list(markers.error_y.array) == pytest.approx([low.y_sd, 0.0])
    assert "mean ± sd of 2 seeds" in markers.customdata[0]


def test_the_score_switch_and_the_front(tau4):
    accuracy, auroc = tf.tradeoff_figure(tau4, "accuracy"), tf.tradeoff_figure(tau4, "auroc")
    assert sorted(_markers(accuracy).y) == pytest.approx([0.9653, 0.9915, 0.9933])
    assert list(_markers(auroc).y) == pytest.approx([0.99] * 3)
    assert "accuracy" in accuracy.layout.yaxis.title.text and "AUROC" in auroc.layout.yaxis.title.text
    # on accuracy every setting is a trade-off (leaner and worse); on AUROC the leanest wins outright
    assert list(_markers(accuracy).marker.symbol) == ["star"] * 3
    assert sorted(_markers(auroc).marker.symbol) == ["circle", "circle", "star"]
    front = next(t for t in accuracy.data if t.name == "Pareto front")
    assert list(front.x) == pytest.approx([27.7, 64.1, 72.9, 72.9])
    absolute = tf.tradeoff_figure(tau4, size="params")
    assert "parameters" == absolute.layout.xaxis.title.text and absolute.layout.xaxis.ticksuffix == ""


def test_size_axis_goes_log_only_when_it_spans_a_decade(digits, tau4):
    assert tf.tradeoff_figure(tau4).layout.xaxis.type == "linear"  # 27.7% to 72.9%
    lean, large = (_variant(digits, accuracy=0.9, stl=0.05, expand_units=1),
                   _variant(digits, accuracy=0.95, stl=0.9, expand_units=50))  # fmt: skip
    wide = _runs([lean, large])
    assert tf.tradeoff_figure(wide).layout.xaxis.type == "log"


def test_every_run_of_the_shipped_sweep_is_a_labelled_marker():
    records = [json.loads(p.read_text()) for p in sorted(SWEEP.glob("*/run.json"))]
    runs = _runs(records)
    for score in ("accuracy", "auroc"):
        fig = tf.tradeoff_figure(runs, score)
        assert len(_markers(fig).x) == 4
        assert sorted(_labels(fig)) == ["τ=0.01 σ=0.002", "τ=0.01 σ=0.05", "τ=0.1 σ=0.002", "τ=0.1 σ=0.05"]


def test_heatmap_averages_each_pair_of_knob_values_in_numeric_order(digits):
    runs = _runs(
        [
            _variant(digits, accuracy=a, stl=0.5, loss_threshold=tau, split_threshold=sigma, seed=seed)
            for tau, sigma, seed, a in [(0.1, 0.002, 0, 0.9), (0.1, 0.002, 1, 0.8), (0.01, 0.002, 0, 0.7),
                                        (None, 0.05, 0, 0.6), (0.01, 0.05, 0, 0.5)]
        ]
    )  # fmt: skip
    assert tf.knob_choices(runs) == ["loss_threshold", "split_threshold"]
    fig = tf.knob_heatmap(runs, "loss_threshold", "split_threshold")
    heat = fig.data[0]
    assert list(heat.x) == ["0.01", "0.1", "inf"] and list(heat.y) == ["0.002", "0.05"]
    assert heat.z[0][:2] == pytest.approx([0.7, 0.85])  # τ=0.1 σ=0.002 is the mean of its two seeds
    assert heat.z[0][2] is None and heat.z[1][0] == pytest.approx(0.5) and heat.z[1][2] == pytest.approx(0.6)
    assert "2 runs" in heat.text[0][1]
    assert tf.knob_heatmap(runs, "loss_threshold", "loss_threshold").layout.annotations  # a message, no chart


def test_labels_of_close_markers_cover_neither_each_other_nor_a_marker():
    from dashboard.figures import label_place as lp

    width, height = lp.PLOT_PX
    where = [(0.05, 0.1), (0.1, 0.55), (0.92, 0.75), (0.97, 0.9)]  # the shipped sweep's two large settings are close
    texts = ["τ=0.1 σ=0.05", "τ=0.01 σ=0.05", "τ=0.1 σ=0.002", "τ=0.01 σ=0.002"]
    offsets = lp.place_labels(where, texts)
    pixels = [(x * width, (1 - y) * height) for x, y in where]
    boxes = [lp._box(px + ax, py + ay, t) for (px, py), (ax, ay), t in zip(pixels, offsets, texts, strict=True)]
    marks = [(px - lp.MARKER_PX, py - lp.MARKER_PX, px + lp.MARKER_PX, py + lp.MARKER_PX) for px, py in pixels]
    for i, box in enumerate(boxes):
        assert all(lp._overlap(box, other) == 0 for other in boxes[:i] + boxes[i + 1 :]), (i, offsets)
        assert all(lp._overlap(box, mark) == 0 for mark in marks), (i, offsets)
        assert box[0] >= 0 and box[2] <= width  # inside the plot's width
