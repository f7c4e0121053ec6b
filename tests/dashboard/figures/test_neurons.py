"""Neuron pictures come from the model: each equals a direct evaluation of its unit on the grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dashboard.figures import neurons
from dashboard.state.learn_session import make_trainer
from den_engine import preset

RES = 17


@pytest.fixture(scope="module")
def trained():
    """Two toy tasks on a 4-4 network, with σ = 0 so every drifted unit splits (retired originals exist)."""
    config = preset("fast", hidden_sizes=(4, 4), iterations=30, head_iterations=10, expand_units=2,
                    group_lasso=0.0, split_threshold=0.0, loss_threshold=0.0)  # fmt: skip
    trainer = make_trainer(config, ("moons", "circles"), "den")
    trainer.run()
    return trainer.net


def _direct(net, task: int) -> list[np.ndarray]:
    """Every layer's activations on the grid, computed by hand in numpy from the raw weights."""
    _, _, points = neurons.input_grid(RES)
    h = points.numpy().astype(np.float64)
    out = []
    for layer in range(net.n_layers):
        n = net.visible(layer, task)
        w = net.weights[layer][:n, : h.shape[1]].numpy()
        h = np.maximum(h @ w.T + net.biases[layer][:n].numpy(), 0.0)
        h = h * net.active(layer, task).numpy()  # retired units are silent for this task
        out.append(h)
    return out


def test_grid_covers_the_toy_plane_rows_are_y():
    xs, ys, points = neurons.input_grid(5)
    assert xs[0] == -1.5 and xs[-1] == 1.5 and points.shape == (25, 2)
    assert points[1].tolist() == [xs[1], ys[0]] and points[5].tolist() == [xs[0], ys[1]]


def test_each_picture_equals_the_unit_evaluated_on_the_grid(trained):
    net = trained
    pictures = neurons.unit_pictures(net, 2, RES)
    direct = {2: _direct(net, 2), 1: _direct(net, 1)}
    retired = 0
    for layer in range(net.n_layers):
        for i, unit in enumerate(net.units[layer]):
            timestamp = 2 if unit.retired is None else unit.retired - 1  # the originals: as the old task sees them
            retired += unit.retired is not None
            expected = direct[timestamp][layer][:, i].reshape(RES, RES)
            np.testing.assert_allclose(pictures[unit.id], expected, rtol=1e-5, atol=1e-5)
    assert retired > 0  # the split path was exercised
    assert set(pictures) == {u.id for units in net.units for u in units}
    assert any(float(p.max()) > 0 for p in pictures.values())


def test_task_one_sees_only_its_own_units(trained):
    pictures = neurons.unit_pictures(trained, 1, RES)
    assert set(pictures) == {u.id for units in trained.units for u in units if u.born == 1}


def test_a_picture_changes_when_its_incoming_weights_change(trained):
    net = trained.clone()
    unit = net.units[1][0]
    before = neurons.unit_pictures(net, 2, RES)
    net.weights[1][0] = net.weights[1][0] + 0.5  # only this unit's incoming row
    net.biases[1][0] = net.biases[1][0] + 0.5
    after = neurons.unit_pictures(net, 2, RES)
    assert not np.allclose(before[unit.id], after[unit.id])
    assert all(np.array_equal(before[k], after[k]) for k in before if k != unit.id)


def test_decision_region_is_the_heads_probability(trained):
    _, _, points = neurons.input_grid(RES)
    for task in (1, 2):
        with torch.no_grad():
            expected = torch.sigmoid(trained.forward(points, task)[:, 0]).numpy().reshape(RES, RES)
        np.testing.assert_allclose(neurons.decision_region(trained, task, RES), expected, rtol=1e-6)


def test_frame_holds_pictures_regions_and_weights(trained):
    frame = neurons.frame(trained, 2, RES)
    assert frame["task"] == 2 and len(frame["regions"]) == 2
    assert frame["weights"]["hidden.1.weight"].shape == tuple(trained.weights[0].shape)
    assert all(p.shape == (RES, RES) for p in frame["pictures"].values())


def test_each_field_is_the_input_of_its_relu(trained):
    """max(field, 0) is the picture, and the field goes negative where the unit is silent."""
    pictures, fields = neurons.unit_pictures(trained, 2, RES), neurons.unit_fields(trained, 2, RES)
    assert set(fields) == set(pictures)
    for uid, field in fields.items():
        np.testing.assert_allclose(np.maximum(field, 0.0), pictures[uid], rtol=1e-5, atol=1e-5)
    assert any(float(f.min()) < 0 for f in fields.values())  # the silent side is kept, not clipped
