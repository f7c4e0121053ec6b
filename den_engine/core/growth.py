"""Changes of shape of an ``ExpandableNet``: expansion, splits and pruning (Algorithms 3 and 4).

Every change keeps the network's invariants: units are only appended (so a task's units
stay a prefix of every layer), a new unit's outgoing weights reach only the layer above
and the current task's head, and every output of every task is unchanged until a stage
trains. ``ExpandableNet.expand``, ``split`` and ``prune`` call these; the registry's
lookup tables are rebuilt after each.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from den_engine.core.layers import fan_in

# ``net`` below is always an ``ExpandableNet``; it is typed as the module it is, since network.py imports this
# file (a type-only import back would be a circle in the import graph, which tests/test_import_graph.py refuses)
ExpandableNet = nn.Module


def expand(net: ExpandableNet, task: int, k: int | list[int], generator: torch.Generator | None) -> list[list[int]]:
    """Append k units to every hidden layer (or k[l] to layer l; Algorithm 3); returns their ids per layer.

    A new unit's incoming weights are random; its outgoing weights (into the next
    layer and into task ``task``'s head) start at zero, so expansion alone leaves
    every output unchanged. Old heads never see new units.
    """
    added: list[list[int]] = []
    ks = k
    for layer in range(net.n_layers):
        w, k = net.weights[layer], (ks if isinstance(ks, int) else ks[layer])
        rows = net._uniform((k, *w.shape[1:]), fan_in(w.shape), generator)
        net.weights[layer] = torch.cat([w, rows], dim=0)
        net.biases[layer] = torch.cat([net.biases[layer], net._zeros(k)])
        new = [net._new_unit(layer, task, "expanded") for _ in range(k)]
        net.units[layer].extend(new)
        added.append([u.id for u in new])
        _append_outgoing(net, layer, task, None, k)
    net._refresh()
    return added


def _append_outgoing(net: ExpandableNet, layer: int, task: int, columns: torch.Tensor | None, k: int) -> None:
    """Append k input columns for layer+1 (or the head of ``task``); zeros unless given."""
    if layer + 1 < net.n_layers:
        nxt = net.weights[layer + 1]
        cols = _outgoing(net, columns, nxt.shape[0], k, nxt.shape[2:])
        net.weights[layer + 1] = torch.cat([nxt, cols], dim=1)
    else:
        head_w, head_b = net.heads[task]
        cols = _outgoing(net, columns, head_w.shape[0], k)
        net.heads[task] = (torch.cat([head_w, cols], dim=1), head_b)


def _outgoing(net: ExpandableNet, columns: torch.Tensor | None, n_rows: int, k: int, extra=()) -> torch.Tensor:
    if columns is not None and columns.numel() > 0:
        return columns
    return net._zeros(n_rows, k, *extra)


def split(net: ExpandableNet, unit_id: int, task: int, old_row: torch.Tensor, old_bias: torch.Tensor) -> int:
    """Split a drifted unit (Algorithm 4); returns the duplicate's id.

    The duplicate takes the unit's current (drifted) incoming weights and bias and
    copies of its outgoing weights for task ``task``; the original gets back its
    t-1 incoming weights ``old_row`` and bias and is retired from task ``task`` on.
    Before any retraining, every task's outputs are therefore unchanged.
    """
    layer, i = net.locate(unit_id)
    w, b = net.weights[layer], net.biases[layer]
    net.weights[layer] = torch.cat([w, w[i : i + 1]], dim=0)
    net.biases[layer] = torch.cat([b, b[i : i + 1]])
    if layer + 1 < net.n_layers:
        column = net.weights[layer + 1][:, i : i + 1].clone()
    else:
        column = net.heads[task][0][:, i : i + 1].clone()
    _append_outgoing(net, layer, task, column, 1)
    restored = net._zeros(*w.shape[1:])
    restored[: old_row.shape[0]] = old_row
    net.weights[layer][i] = restored
    net.biases[layer][i] = old_bias
    duplicate = net._new_unit(layer, task, "duplicate", parent=unit_id)
    original = net.units[layer][i]
    net.units[layer][i] = replace(original, retired=task)
    net.units[layer].append(duplicate)
    net._refresh()
    return duplicate.id


def prune(net: ExpandableNet, unit_ids: list[int]) -> None:
    """Remove units everywhere: their rows, biases, outgoing columns and head columns."""
    by_layer: dict[int, list[int]] = {}
    for uid in unit_ids:
        layer, i = net.locate(uid)
        by_layer.setdefault(layer, []).append(i)
    for layer, rows in by_layer.items():
        keep = torch.ones(net.weights[layer].shape[0], dtype=torch.bool)
        keep[rows] = False
        idx = keep.nonzero().squeeze(1).to(net.device)
        net.weights[layer] = net.weights[layer].index_select(0, idx)
        net.biases[layer] = net.biases[layer].index_select(0, idx)
        if layer + 1 < net.n_layers:
            net.weights[layer + 1] = net.weights[layer + 1].index_select(1, idx)
        else:
            for task, (hw, hb) in net.heads.items():
                width = hw.shape[1]
                head_idx = idx[idx < width]
                net.heads[task] = (hw.index_select(1, head_idx), hb)
        net.units[layer] = [u for u, k in zip(net.units[layer], keep.tolist(), strict=True) if k]
    net._refresh()
