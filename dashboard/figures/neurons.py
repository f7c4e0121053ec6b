"""What every neuron of a 2-D network computes: activation pictures over the input plane (no Streamlit).

A picture is the unit's activation at every point of a square grid over the toy-2d plane,
computed by the engine's own forward pass (``ExpandableNet.hidden``) through a task's
timestamp. Arrays are indexed ``[row, column] = [y, x]`` with y increasing with the row,
as ``go.Heatmap`` draws them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from den_engine.core.network import ExpandableNet
from den_engine.data.toy2d import TOY_2D_EXTENT

RESOLUTION = 40
"""Grid points per side of a picture: fine enough for a 60-pixel thumbnail, cheap to evaluate."""


def input_grid(
    resolution: int = RESOLUTION, extent: tuple[float, float] = TOY_2D_EXTENT
) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """(xs, ys, points): the grid's axes and its (resolution², 2) points, row by row (y outer)."""
    xs = np.linspace(extent[0], extent[1], resolution)
    ys = np.linspace(extent[0], extent[1], resolution)
    gx, gy = np.meshgrid(xs, ys)  # (rows = y, cols = x)
    points = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32))
    return xs, ys, points


def _as_picture(values: torch.Tensor, resolution: int) -> np.ndarray:
    return values.detach().cpu().to(torch.float32).numpy().reshape(resolution, resolution)


def unit_pictures(net: ExpandableNet, task: int, resolution: int = RESOLUTION) -> dict[int, np.ndarray]:
    """id -> (resolution, resolution) activation of every unit stored after ``task`` and visible to it.

    A unit ``task`` uses is evaluated through ``task``'s timestamp; a retired original through
    the last task that still uses it (its meaning for the old tasks).
    """
    _, _, points = input_grid(resolution)
    points = points.to(net.device, net.dtype)
    passes: dict[int, list[torch.Tensor]] = {}

    def activations(timestamp: int) -> list[torch.Tensor]:
        if timestamp not in passes:
            with torch.no_grad():
                passes[timestamp] = net.hidden(points, timestamp)
        return passes[timestamp]

    pictures = {}
    for layer in range(net.n_layers):
        for i, unit in enumerate(net.units[layer][: net.visible(layer, task)]):
            timestamp = task if unit.retired is None or unit.retired > task else unit.retired - 1
            pictures[unit.id] = _as_picture(activations(timestamp)[layer][:, i], resolution)
    return pictures


def unit_fields(net: ExpandableNet, task: int, resolution: int = RESOLUTION) -> dict[int, np.ndarray]:
    """id -> the unit's input before its ReLU over the grid (negative = silent there), as ``unit_pictures``.

    The sign is what a diverging colour map shows: where the unit fires and where it is
    off, with the white line between them the unit's own boundary. Its ReLU is
    ``max(field, 0)``, the picture ``unit_pictures`` returns.
    """
    _, _, points = input_grid(resolution)
    points = points.to(net.device, net.dtype)
    passes: dict[int, list[torch.Tensor]] = {}

    def fields(timestamp: int) -> list[torch.Tensor]:
        if timestamp not in passes:
            plan = net.plan(timestamp)
            with torch.no_grad():
                hidden = net.hidden(points, timestamp, plan)
                inputs = [points] + hidden[:-1]
                passes[timestamp] = [
                    F.linear(inputs[layer], net.weights[layer][: p.n_out, : p.n_in], net.biases[layer][: p.n_out])
                    for layer, p in enumerate(plan)
                ]
        return passes[timestamp]

    result = {}
    for layer in range(net.n_layers):
        for i, unit in enumerate(net.units[layer][: net.visible(layer, task)]):
            timestamp = task if unit.retired is None or unit.retired > task else unit.retired - 1
            result[unit.id] = _as_picture(fields(timestamp)[layer][:, i], resolution)
    return result


def decision_region(net: ExpandableNet, task: int, resolution: int = RESOLUTION) -> np.ndarray:
    """(resolution, resolution) probability of the positive class under task ``task``'s head."""
    _, _, points = input_grid(resolution)
    with torch.no_grad():
        logits = net.forward(points.to(net.device, net.dtype), task)[:, 0]
    return _as_picture(torch.sigmoid(logits), resolution)


def frame(net: ExpandableNet, task: int, resolution: int = RESOLUTION) -> dict:
    """Everything the Learn page draws after ``task``: unit pictures and fields, every task's region, the weights."""
    return {
        "task": task,
        "pictures": unit_pictures(net, task, resolution),
        "fields": unit_fields(net, task, resolution),
        "regions": [decision_region(net, t, resolution) for t in range(1, task + 1)],
        "weights": {name: t.numpy() for name, t in net.state_tensors().items()},
    }


def regions_only(net: ExpandableNet, task: int, resolution: int = RESOLUTION) -> list[np.ndarray]:
    """Every learned task's decision region after ``task`` (for a comparison method's network)."""
    return [decision_region(net, t, resolution) for t in range(1, task + 1)]
