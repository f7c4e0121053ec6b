"""Compare-page builders: labels, Pareto front, overlays, scatter, parallel coordinates, networks, diff."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from dashboard.figures import compare as cf
from dashboard.figures import tradeoff as tf

SHIPPED = Path(__file__).resolve().parents[3] / "assets" / "runs"


@pytest.fixture(scope="module")
def digits() -> dict:
    return json.loads((SHIPPED / "digits-den-fast" / "run.json").read_text())


def _variant(record: dict, *, final_auroc: float, stl: float, **config) -> dict:
    """A copy of ``record`` with other config values and final numbers (every task's capacity scaled)."""
    out = copy.deepcopy(record)
    out["config"].update(config)
    out["final"]["average_auroc"] = final_auroc
    for t in out["tasks"]:
        t["params"]["relative_to_stl"] = stl
    return out


@pytest.fixture(scope="module")
def sweep(digits) -> list[tuple[str, dict]]:
    records = [
        _variant(digits, final_auroc=0.90, stl=0.50, loss_threshold=0.01, seed=0),
        _variant(digits, final_auroc=0.95, stl=0.80, loss_threshold=0.1, seed=0),
        _variant(digits, final_auroc=0.85, stl=0.90, loss_threshold=None, seed=0),  # tau = inf (null in JSON)
        _variant(digits, final_auroc=0.90, stl=0.70, loss_threshold=0.01, seed=1),
    ]
    labels = cf.run_labels(records, [f"run{i}" for i in range(len(records))])
    return list(zip(labels, records, strict=True))


def test_labels_name_the_differing_hyperparameters(sweep, digits):
    assert [label for label, _ in sweep] == ["τ=0.01 seed=0", "τ=0.1 seed=0", "τ=inf seed=0", "τ=0.01 seed=1"]
    same = cf.run_labels([digits, copy.deepcopy(digits)], ["a", "b"])
    assert same == ["a", "b"]  # nothing differs: the directory names
    other = copy.deepcopy(digits)
    other["config"]["device"] = "cuda"  # the device is not a hyperparameter
    assert cf.varying_fields([digits, other]) == []


def test_pareto_front_keeps_exactly_the_undominated_runs():
    capacity = [0.5, 0.8, 0.9, 0.7, 0.5, math.nan]
    score = [0.90, 0.95, 0.85, 0.90, 0.90, 0.99]
    # 2 is beaten by 1 (leaner and better), 3 by 0 (leaner, as good); 0 and 4 tie; NaN is never on it
    assert cf.pareto_front(capacity, score) == [0, 4, 1]


def test_overlays_draw_every_run_and_layer_from_the_records(sweep):
    fig = cf.units_overlay(sweep)
    n_layers = len(sweep[0][1]["tasks"][0]["active_sizes"]) - 1
    assert len(fig.data) == n_layers * len(sweep)
    first = fig.data[0]
    assert list(first.y) == [t["active_sizes"][1] for t in sweep[0][1]["tasks"]]
    assert [t.name for t in fig.data if t.showlegend] == [label for label, _ in sweep]
    params = cf.params_overlay(sweep)
    assert list(params.data[1].y) == [t["params"]["total"] for t in sweep[1][1]["tasks"]]
    auroc = cf.auroc_overlay(sweep)
    assert list(auroc.data[2].x) == list(range(1, len(sweep[2][1]["tasks"]) + 1))
    rows = cf.curves_table(sweep)
    assert len(rows) == sum(len(r["tasks"]) for _, r in sweep) and "units_layer_2" in rows[0]
    assert cf.units_overlay([]).layout.annotations  # an empty figure with a message


def test_parallel_coordinates_put_infinity_above_the_finite_values_on_a_log_axis(sweep):
    fig = tf.parallel_coordinates(sweep, "auroc")
    dims = {d.label: d for d in fig.data[0].dimensions}
    tau = dims["τ loss_threshold (log)"]  # 0.01 and 0.1 span a decade
    assert list(tau.ticktext) == ["0.01", "0.1", "inf"] and tau.values[2] > tau.values[1] > tau.values[0]
    assert list(tau.values[:2]) == pytest.approx([-2.0, -1.0])  # evenly spaced decades, not crowded at 0
    assert list(dims["seed"].values) == [0, 0, 0, 1]
    assert list(dims["AUROC"].values) == [0.90, 0.95, 0.85, 0.90]
    assert list(fig.data[0].line.color) == [0.90, 0.95, 0.85, 0.90]
    val = [sum(v) / len(v) for v in (r["tasks"][-1]["metrics"]["val_auroc"] for _, r in sweep)]
    assert list(dims["val AUROC"].values) == pytest.approx(val)  # the validation split, not the test split
    assert [row["average_val_auroc"] for row in cf.outcomes_table(sweep)] == pytest.approx(val)
    assert tf.parallel_coordinates(sweep[:1]).layout.annotations


def test_compared_network_is_large_titled_and_has_its_legend(sweep):
    label, record = sweep[0]
    fig = cf.compared_network(record, label)
    assert fig.layout.height >= 600 and fig.layout.showlegend is True
    assert any(t.showlegend is not False and t.name for t in fig.data)  # the legend names what is drawn
    assert label in fig.layout.title.text and f"after task {len(record['tasks'])}" in fig.layout.title.text


def test_decision_table_and_grid_highlight_the_first_difference(digits):
    rows, diff = cf.decision_table(digits, digits)
    assert diff["first"] is None and not any(r["differs"] or r["first"] for r in rows)
    other = copy.deepcopy(digits)
    split = next(e for e in other["tasks"][2]["events"] if e["type"] == "split")
    split["pairs"].append({"layer": 2, "parent": 40, "duplicate": 999, "drift": 1.0})
    rows, diff = cf.decision_table(digits, other)
    flagged = [r for r in rows if r["differs"]]
    assert len(flagged) == 1 and flagged[0]["first"] and flagged[0]["task"] == 3
    assert flagged[0]["decision"] == "units split (drift > sigma)" and flagged[0]["layers"] == "2"
    fig = cf.decision_diff_figure(digits, other)
    z = fig.data[0].z
    assert sum(map(sum, z)) == 1 and z[cf.DECISIONS.index("split")][2] == 1
    box = fig.layout.shapes[0]
    assert (box.x0, box.x1) == (2.5, 3.5)


def test_capacity_is_a_percentage_on_both_views_and_legends_sit_below_the_plots(sweep):
    points, _ = tf.tradeoff_points(sweep, "auroc")
    parcoords = tf.parallel_coordinates(sweep)
    axis = next(d for d in parcoords.data[0].dimensions if d.label == "% of STL")
    assert sorted(axis.values) == pytest.approx([50, 70, 80, 90])
    assert sorted(x for p in points for x in [p.x]) == pytest.approx([60, 80, 90])  # τ=0.01 is seeds 0 and 1
    for fig in (cf.units_overlay(sweep), cf.params_overlay(sweep), cf.auroc_overlay(sweep)):
        assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0  # long names never squeeze
        assert fig.layout.height >= 380 + 26 * len(sweep)
