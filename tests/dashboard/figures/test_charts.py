"""Chart builders (units, sparsity, parameters, metric matrix, drift, loss threshold): drawn from the record exactly."""

from __future__ import annotations

import copy
import math

import numpy as np
import plotly.graph_objects as go
import pytest
from figure_records import handmade, train_run

from dashboard import figures

CHARTS = [
    figures.units_chart,
    figures.sparsity_chart,
    figures.params_chart,
    figures.matrix_heatmap,
    figures.average_metric_chart,
    figures.loss_threshold_chart,
]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A 3-task toy-2d run (2 input nodes, 8-8 hidden) with its weights per task."""
    return train_run(tmp_path_factory, "toy-2d")


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
