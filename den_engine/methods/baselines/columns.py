"""Column baselines: progressive networks and STL (one network per task) on one ExpandableNet.

Column c is the set of units born at task c (task 1's are the base units). For t > 1,
``expand`` appends a base-size column to every hidden layer; only the new column's
rows and the new head train, so older columns stay bit-identical, and the new units'
outgoing weights into older units (structural zeros) are never trained.

- progressive: the new column's units see every unit of the layer below (lateral
  connections from the frozen older columns); the new head sees every column.
- STL: the new column's weights from older units are zero and frozen, and the new head
  sees column t only, so task t's outputs depend on column t alone: T separate networks.

Parameter counts leave out the structural zeros: only entries a column can use are
counted (``column_parameter_count``), so STL counts exactly T single networks.
"""

from __future__ import annotations

import math

import torch

from den_engine.core.den import TaskContext, sparsity_event
from den_engine.core.layers import spread
from den_engine.core.network import ExpandableNet
from den_engine.core.training import Trainable
from den_engine.methods.baselines.shared import add_task_head


def _column_born(net: ExpandableNet, layer: int) -> torch.Tensor:
    return torch.tensor([u.born for u in net.units[layer]], dtype=torch.long, device=net.device)


def _add_column(net: ExpandableNet, ctx: TaskContext) -> list[torch.Tensor]:
    """Append one base-size column (units born at task t) to every layer; bool row masks."""
    sizes = (*getattr(ctx.config, "conv_channels", ()), *ctx.config.hidden_sizes)  # filters, then units
    added = net.expand(ctx.task, max(sizes), ctx.generator)
    extra = [uid for layer, ids in enumerate(added) for uid in ids[sizes[layer] :]]
    net.prune(extra)  # expand adds the same count everywhere; a column keeps the base sizes
    return [_column_born(net, layer) == ctx.task for layer in range(net.n_layers)]


def _isolate_column(net: ExpandableNet, ctx: TaskContext, rows: list[torch.Tensor]) -> None:
    """STL: zero the new column's weights from older units; redraw its own block as a fresh net's."""
    for layer in range(1, net.n_layers):
        w = net.weights[layer]
        cols = rows[layer - 1]
        fan_in = int(cols.sum())
        taps = math.prod(w.shape[2:])  # a conv kernel's k*k, a first dense layer's map positions; 1 otherwise
        bound = 1.0 / math.sqrt(fan_in * taps)
        block = torch.rand((int(rows[layer].sum()), fan_in, *w.shape[2:]), generator=ctx.generator)
        block = block * (2 * bound) - bound
        new = w[rows[layer]]
        new[:, ~cols] = 0
        new[:, cols] = block.to(w.device, w.dtype)
        w[rows[layer]] = new


def _column_items(net: ExpandableNet, task: int, rows: list[torch.Tensor], lateral: bool) -> list[Trainable]:
    """The new column's rows (with or without lateral inputs), its biases and the new head."""
    items = []
    for layer in range(net.n_layers):
        w, b = net.weights[layer], net.biases[layer]
        mask = spread(rows[layer][:, None], w)
        if layer > 0 and not lateral:
            mask &= spread(rows[layer - 1][None, :], w)
        items += [Trainable(w, mask), Trainable(b, rows[layer].clone())]
    head_w, head_b = net.heads[task]
    top = rows[-1] if not lateral else torch.ones_like(rows[-1])
    items += [Trainable(head_w, top[None, : head_w.shape[1]].expand_as(head_w).clone()), Trainable(head_b)]
    return items


def _train_column(net: ExpandableNet, n_outputs: int, ctx: TaskContext, lateral: bool) -> ExpandableNet:
    net = net.clone()
    add_task_head(net, ctx, n_outputs)
    if ctx.task == 1:
        rows = [torch.ones(w.shape[0], dtype=torch.bool, device=net.device) for w in net.weights]
    else:
        rows = _add_column(net, ctx)
        if not lateral:
            _isolate_column(net, ctx, rows)
    items = _column_items(net, ctx.task, rows, lateral)
    ctx.train("new_column", net, items, ctx.config.iterations)
    ctx.emit(sparsity_event(net, ctx.task))
    return net


def train_progressive(net: ExpandableNet, n_outputs: int, ctx: TaskContext) -> ExpandableNet:
    """Progressive networks: a new column with lateral connections from the frozen older ones."""
    return _train_column(net, n_outputs, ctx, lateral=True)


def train_stl(net: ExpandableNet, n_outputs: int, ctx: TaskContext) -> ExpandableNet:
    """STL: a new, independent column per task (no lateral connections)."""
    return _train_column(net, n_outputs, ctx, lateral=False)


def column_parameter_count(net: ExpandableNet, lateral: bool) -> tuple[int, int]:
    """(total, non-zero) over the entries a column can use, structural zeros left out.

    Entry (r, c) of a hidden matrix above the first counts when unit c's column is
    older than or equal to unit r's (progressive) or the same (STL); head t counts the
    top units of columns <= t (progressive) or of column t (STL). First-layer weights,
    biases and head biases always count.
    """
    total = nonzero = 0
    born = [_column_born(net, layer) for layer in range(net.n_layers)]
    for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        if layer == 0:
            mask = torch.ones_like(w, dtype=torch.bool)
        else:
            rows, cols = born[layer][:, None], born[layer - 1][None, :]
            mask = spread(cols <= rows if lateral else cols == rows, w)  # a kernel counts every tap
        total += int(mask.sum()) + b.numel()
        nonzero += int(torch.count_nonzero(w[mask])) + int(torch.count_nonzero(b))
    for task, (hw, hb) in net.heads.items():
        top = born[-1][: hw.shape[1]]
        cols = top <= task if lateral else top == task
        total += int(cols.sum()) * hw.shape[0] + hb.numel()
        nonzero += int(torch.count_nonzero(hw[:, cols])) + int(torch.count_nonzero(hb))
    return total, nonzero
