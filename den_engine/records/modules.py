"""A trained network as a ``torch.nn.Module``: one task's network, or the whole network.

``task_module(run, t)`` is the plain network task t computes: at every layer exactly the
units t uses (born at or before t, and not retired by a split at or before t — an
older task keeps the restored original, the newer ones its duplicate), and task t's
head. Its weights are copies gathered from the stored tensors, so the module is an
ordinary stack of ``nn.Conv2d`` (a filter is a unit) and ``nn.Linear`` layers:
``state_dict``, ``.to``, TorchScript and ``torch.export`` all work on it.
``network_module(run)`` keeps the stored tensors (every unit of every task) as
parameters and gathers task t's rows in ``forward(x, t)``.
Both compute what the record's evaluation computes (``ExpandableNet.forward``).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from den_engine.core.errors import ConfigError
from den_engine.core.layers import map_positions
from den_engine.core.network import ExpandableNet
from den_engine.records.store import RunRecord, load_run

Source = str | os.PathLike | RunRecord | ExpandableNet


def _network(source: Source, after: int | None) -> ExpandableNet:
    """The network of a run folder, a loaded run or an ``ExpandableNet`` (after task ``after``; default the last)."""
    if isinstance(source, ExpandableNet):
        if after is not None:
            raise ConfigError("after", "is for a run; an ExpandableNet is already one moment of a run")
        return source
    run = source if isinstance(source, RunRecord) else load_run(source)
    done = len(run.tasks)
    if done == 0:
        raise ConfigError("run", f"{run.path} has no finished task yet; there is no network to export")
    if after is None:
        after = done
    if isinstance(after, bool) or not isinstance(after, int) or not 1 <= after <= done:
        raise ConfigError("after", f"{run.path} has finished tasks 1 to {done}, not {after!r}")
    return run.network(after)


def _check_task(net: ExpandableNet, task: int) -> None:
    if isinstance(task, bool) or not isinstance(task, int) or task not in net.heads:
        raise ConfigError("task", f"this network has tasks {sorted(net.heads)}, not {task!r}")


def _rows(net: ExpandableNet, layer: int, task: int) -> torch.Tensor:
    """Stored row of every unit ``task`` uses in ``layer``, in storage order (CPU, int64)."""
    return net.active(layer, task).nonzero().squeeze(1)


Conv = tuple[tuple[int, int, int], int, int]  # (input image (C, H, W), conv layers, kernel size)


class TaskModule(nn.Module):
    """One task's network: ``nn.Conv2d`` + ReLU + 2x2 max-pool layers if any, ``nn.Linear`` + ReLU, the head."""

    __jit_unused_properties__ = ["sizes"]  # plain Python: TorchScript compiles ``forward`` only
    __jit_ignored_attributes__ = ["unit_ids"]

    def __init__(self, input_dim: int, hidden_sizes: list[int], n_outputs: int, conv: Conv | None = None) -> None:
        """An untrained module of this shape (``load_state_dict`` fills it); the first ``conv[1]`` sizes are filters."""
        super().__init__()
        image, n_conv, kernel = conv if conv is not None else ((), 0, 0)
        self.image = [int(v) for v in image] if conv is not None else [0, 0, 0]  # (C, H, W); zeros: no conv
        channels = [image[0], *hidden_sizes[:n_conv]] if n_conv else []
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c_out, kernel, padding="same") for c_in, c_out in zip(channels, channels[1:], strict=False)
        )
        width = channels[-1] * map_positions(tuple(image), n_conv) if n_conv else input_dim
        sizes = [width, *hidden_sizes[n_conv:]]
        self.hidden = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes, sizes[1:], strict=False))
        self.head = nn.Linear(sizes[-1], n_outputs)
        self.input_dim = input_dim
        self.kernel_size = kernel
        self.task = 0  # the task these weights belong to (set by ``task_module``)
        self.unit_ids = [[] for _ in hidden_sizes]  # stable unit id of every hidden row (list per layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the task's head: (batch, n_outputs); conv modules take flat rows or (batch, C, H, W)."""
        h = x
        if self.image[0] > 0:
            h = h.reshape(h.shape[0], self.image[0], self.image[1], self.image[2])
            for conv in self.convs:
                h = F.max_pool2d(F.relu(conv(h)), 2, ceil_mode=True)
            h = h.flatten(1)
        for layer in self.hidden:
            h = F.relu(layer(h))
        return self.head(h)

    @property
    def sizes(self) -> tuple[int, list[int], int, Conv | None]:
        """(input_dim, hidden sizes, n_outputs, conv): the arguments that build an empty module of this shape."""
        hidden = [conv.out_channels for conv in self.convs] + [layer.out_features for layer in self.hidden]
        conv = (tuple(self.image), len(self.convs), self.kernel_size) if self.image[0] > 0 else None
        return self.input_dim, hidden, self.head.out_features, conv


def task_module(source: Source, task: int, after: int | None = None) -> TaskModule:
    """Task ``task``'s network as a ``TaskModule``, from a run folder, a loaded run or an ExpandableNet.

    ``after`` picks the network after that task (default: after the last finished one),
    so ``task_module(run, t, after=k)`` gives the outputs behind the record's R[k][t].
    """
    net = _network(source, after)
    _check_task(net, task)
    rows = [_rows(net, layer, task) for layer in range(net.n_layers)]
    head_w, head_b = net.heads[task]
    n_conv = net.layer_kinds().count("conv")
    conv = (net.input_shape, n_conv, net.weights[0].shape[-1]) if n_conv else None
    module = TaskModule(net.input_dim, [r.numel() for r in rows], head_w.shape[0], conv)
    cols = None
    with torch.no_grad():
        for layer, (target, r) in enumerate(zip([*module.convs, *module.hidden], rows, strict=True)):
            w = net.weights[layer].cpu().index_select(0, r)
            w = w if cols is None else w.index_select(1, cols)
            target.weight.copy_(w.flatten(1) if w.dim() == 3 else w)  # the first dense layer reads flattened maps
            target.bias.copy_(net.biases[layer].cpu().index_select(0, r))
            cols = r
        hw = head_w.cpu()
        module.head.weight.copy_(hw if cols is None else hw.index_select(1, cols))
        module.head.bias.copy_(head_b.cpu())
    module.task = task
    module.unit_ids = [[net.units[layer][i].id for i in r.tolist()] for layer, r in enumerate(rows)]
    return module.to(dtype=net.dtype)


class _StoredLayer(nn.Module):
    """A hidden layer's stored tensors and, per task, the rows that task uses (padded with zeros)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, rows: list[torch.Tensor]) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(bias.clone())
        width = max((r.numel() for r in rows), default=0)
        padded = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            padded[i, : r.numel()] = r
        self.register_buffer("rows", padded)
        self.register_buffer("counts", torch.tensor([r.numel() for r in rows], dtype=torch.long))

    def task_rows(self, index: int) -> torch.Tensor:
        """Rows of the task at position ``index`` (task - 1)."""
        return self.rows[index, : int(self.counts[index])]


class NetworkModule(nn.Module):
    """The whole network: every stored unit as parameters, one head per task; ``forward(x, task)``."""

    def __init__(self, net: ExpandableNet) -> None:
        """The module of ``net`` (weights copied; later changes to ``net`` do not reach it)."""
        super().__init__()
        tasks = sorted(net.heads)
        if tasks != list(range(1, len(tasks) + 1)):
            raise ConfigError("network", f"heads must be tasks 1 to {len(tasks)}, got {tasks}")
        self.n_tasks = len(tasks)
        self.input_dim = net.input_dim
        self.image = list(net.input_shape) if net.input_shape is not None else [0, 0, 0]  # (C, H, W); zeros: no conv
        self.hidden = nn.ModuleList(
            _StoredLayer(w.detach().cpu(), b.detach().cpu(), [_rows(net, layer, t) for t in tasks])
            for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True))
        )
        self.heads = nn.ModuleList()
        for t in tasks:
            head_w, head_b = net.heads[t]
            head = nn.Linear(head_w.shape[1], head_w.shape[0])
            with torch.no_grad():
                head.weight.copy_(head_w.detach().cpu())
                head.bias.copy_(head_b.detach().cpu())
            self.heads.append(head)
        self.to(dtype=net.dtype)

    def forward(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """Logits of task ``task`` (1-based) through the units it uses: (batch, n_outputs of the task)."""
        if task < 1 or task > self.n_tasks:
            raise ValueError(f"task must be 1 to {self.n_tasks}")
        index = task - 1
        h = x
        if self.image[0] > 0:
            h = h.reshape(h.shape[0], self.image[0], self.image[1], self.image[2])
        cols = torch.empty(0, dtype=torch.long, device=x.device)
        first = True
        for layer in self.hidden:
            rows = layer.task_rows(index)
            w = layer.weight.index_select(0, rows)
            if not first:
                w = w.index_select(1, cols)
            b = layer.bias.index_select(0, rows)
            if w.dim() == 4:  # a conv layer: filters over the maps below, ReLU, 2x2 max-pool
                h = F.max_pool2d(F.relu(F.conv2d(h, w, b, padding="same")), 2, ceil_mode=True)
            else:
                if w.dim() == 3:  # the first dense layer reads every position of the maps below
                    h, w = h.flatten(1), w.flatten(1)
                h = F.relu(F.linear(h, w, b))
            cols = rows
            first = False
        out = torch.empty(0, device=x.device, dtype=x.dtype)
        for i, head in enumerate(self.heads):
            if i == index:
                w = head.weight if first else head.weight.index_select(1, cols)
                out = F.linear(h, w, head.bias)
        return out


def network_module(source: Source, after: int | None = None) -> NetworkModule:
    """The whole network as a ``NetworkModule`` (``forward(x, task)``), from a run folder, a run or a net."""
    return NetworkModule(_network(source, after))
