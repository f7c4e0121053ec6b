"""What a network's size counts: the stored entries that some task can use.

A unit is active for tasks born <= tau < retired (den_engine.core.network); the inputs
always are. Entries no task can use stay stored: a unit born at or after a split has an
incoming weight from the retired original (expansion draws it, a duplicate copies its
parent's row), a retired original keeps entries for units born after it, and a head
keeps a column for every top unit visible to its task, retired ones included. No output
depends on them, so parameter totals, non-zero counts and "% of STL" leave them out.

Records written before this rule (their ``params`` have no ``counting`` key) counted
every stored entry; ``parameter_count(net, usable=False)`` reproduces that count.
"""

from __future__ import annotations

from typing import Protocol

import torch

from den_engine.core.layers import spread


class ExpandableNet(Protocol):
    """What counting reads of ``den_engine.core.network.ExpandableNet`` (that module imports this one)."""

    input_dim: int
    device: torch.device
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    heads: dict[int, tuple[torch.Tensor, torch.Tensor]]
    units: list[list]  # per layer, the Unit records (born, retired)


USABLE = "usable"
"""The ``counting`` a record's ``params`` carry when they follow this module's rule."""


def usable_masks(net: ExpandableNet) -> tuple[list[torch.Tensor], dict[int, torch.Tensor]]:
    """Which stored entries some task can use: a bool mask per hidden matrix, a column mask per head.

    ``W_l[j, i]`` (a conv layer: filter j's whole kernel slice over channel i) is usable when
    some task has both unit j and unit i active, i.e.
    max(born_j, born_i) < min(retired_j, retired_i). Head tau's column of top unit i is
    usable when i is active at tau.
    """
    masks: list[torch.Tensor] = []
    below: tuple[torch.Tensor, torch.Tensor] | None = None
    for units, w in zip(net.units, net.weights, strict=True):
        born = torch.tensor([u.born for u in units], dtype=torch.long)
        retired = torch.tensor([u.retired or (1 << 62) for u in units], dtype=torch.long)
        if below is None:
            mask = (born < retired)[:, None].expand(born.numel(), w.shape[1])
        else:
            first = torch.maximum(born[:, None], below[0][None, :])  # (n_l, n_{l-1})
            last = torch.minimum(retired[:, None], below[1][None, :])
            mask = first < last
        masks.append(spread(mask, w).to(net.device))  # kernels count every tap
        below = (born, retired)
    heads: dict[int, torch.Tensor] = {}
    if below is not None:
        for task, (head_w, _) in net.heads.items():
            n = head_w.shape[1]
            heads[task] = ((below[0][:n] <= task) & (below[1][:n] > task)).to(net.device)
    return masks, heads


def parameter_count(net: ExpandableNet, usable: bool = True) -> tuple[int, int]:
    """(total, non-zero) over the usable weight entries, every bias and every head bias.

    With ``usable=False``: every stored entry of every hidden tensor and head (the older rule).
    """
    if not usable:
        tensors = [*net.weights, *net.biases, *(t for pair in net.heads.values() for t in pair)]
        return sum(t.numel() for t in tensors), sum(int(torch.count_nonzero(t)) for t in tensors)
    weight_masks, head_masks = usable_masks(net)
    total = nonzero = 0
    for w, b, mask in zip(net.weights, net.biases, weight_masks, strict=True):
        total += int(mask.sum()) + b.numel()
        nonzero += int(torch.count_nonzero(w[mask])) + int(torch.count_nonzero(b))
    for task, (head_w, head_b) in net.heads.items():
        cols = head_masks[task]
        total += int(cols.sum()) * head_w.shape[0] + head_b.numel()
        nonzero += int(torch.count_nonzero(head_w[:, cols])) + int(torch.count_nonzero(head_b))
    return total, nonzero
