"""The expandable network: hidden layers that grow, one head per task, a unit registry.

Layout. Hidden layer ``l`` (0-based here, 1-based in records) holds ``weights[l]`` of
shape (n_l, n_{l-1}) and ``biases[l]`` of shape (n_l,); layer -1 is the input. Units
are only ever appended, so the units born at or before task tau are a *prefix* of
every layer: task tau's forward pass uses the top-left block of every matrix (the
timestamp of the paper, Section 3). A unit split at task t is *retired* from task t
on: the tasks before t keep using it (restored to its t-1 weights) and task t uses its
duplicate instead.

Compute. A task's forward pass runs on the dense sub-network it uses: where a layer
holds retired units, their rows and columns are gathered away (``layout``), so retired
originals and units born later cost nothing. ``masked_compute()`` switches back to the
earlier implementation (the visible prefix, retired units masked after the ReLU), kept
to check that both give the same records.

Every hidden unit has a stable id given at birth; ids never change or get reused.

Layer kinds (den_engine.core.layers): the first layers may be convolutional, with a filter
(output channel) as the unit; the timestamps, splits, pruning and gathers above apply to
filters exactly as to units, because every weight keeps units on its dims 0 and 1.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from den_engine.core import growth
from den_engine.core.errors import ConfigError
from den_engine.core.layers import apply_layer, fan_in, image_shape, map_positions, unit_mask

NEVER = 1 << 30  # "retired at" value of a unit that is never retired

_MASKED = [False]  # the compute switch (see the module docstring)


@contextmanager
def masked_compute(on: bool = True) -> Iterator[None]:
    """Within the block, compute on the visible prefix with retired units masked (the old path)."""
    before = _MASKED[0]
    _MASKED[0] = on
    try:
        yield
    finally:
        _MASKED[0] = before


def is_masked() -> bool:
    """True inside ``masked_compute()``."""
    return _MASKED[0]


def take(t: torch.Tensor, rows: int | torch.Tensor, cols: int | torch.Tensor | None = None) -> torch.Tensor:
    """Rows (and columns) of ``t``: a prefix slice for an int, a gathered copy for an index."""
    t = t[:rows] if isinstance(rows, int) else t.index_select(0, rows)
    if cols is None:
        return t
    return t[:, :cols] if isinstance(cols, int) else t.index_select(1, cols)


@dataclass(frozen=True)
class Unit:
    """One hidden unit's identity: who it is, when and how it was born."""

    id: int
    layer: int  # 1-based hidden layer
    born: int  # task (1-based) that created it
    origin: str  # "base" | "expanded" | "duplicate"
    parent: int | None = None  # the unit a duplicate was split from
    retired: int | None = None  # first task that no longer uses it (split originals)

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class LayerPlan:
    """What one layer of a task's forward pass uses: a prefix and an optional mask."""

    n_out: int
    n_in: int
    mask: torch.Tensor | None  # (n_out,) float 1/0; None when no unit is retired


class ExpandableNet:
    """A network whose hidden layers (conv filters, then dense units) grow, with one output head per task."""

    def __init__(
        self,
        input_dim: int,
        hidden_sizes: tuple[int, ...],
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        init: bool = True,
        conv_channels: tuple[int, ...] = (),
        kernel_size: int = 5,
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.input_dim = input_dim
        self.input_shape = image_shape(input_shape, input_dim) if conv_channels else None  # (C, H, W) or None
        self.device = torch.device(device)
        self.dtype = dtype
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        self.heads: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.units: list[list[Unit]] = [[] for _ in (*conv_channels, *hidden_sizes)]
        self.next_id = 0
        if init:
            below: tuple[int, ...] = (input_dim,)
            if conv_channels:
                below = (self.input_shape[0], kernel_size, kernel_size)
            for layer, size in enumerate((*conv_channels, *hidden_sizes)):
                if layer == len(conv_channels) and conv_channels:  # the first dense layer reads whole maps
                    below = (below[0], map_positions(self.input_shape, len(conv_channels)))
                shape = (size, *below)
                self.weights.append(self._uniform(shape, fan_in(shape), generator))
                self.biases.append(self._zeros(size))
                self.units[layer] = [self._new_unit(layer, 1, "base") for _ in range(size)]
                below = (size, kernel_size, kernel_size) if layer + 1 < len(conv_channels) else (size,)
        self._refresh()

    # --- construction helpers ---------------------------------------------------

    def _uniform(self, shape: tuple[int, ...], fan_in: int, generator) -> torch.Tensor:
        # PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn on the
        # CPU generator so CPU and CUDA runs start from the same numbers.
        bound = 1.0 / math.sqrt(max(fan_in, 1))
        w = torch.rand(shape, generator=generator, dtype=torch.float32) * (2 * bound) - bound
        return w.to(device=self.device, dtype=self.dtype)

    def _zeros(self, *shape: int) -> torch.Tensor:
        return torch.zeros(shape, device=self.device, dtype=self.dtype)

    def _new_unit(self, layer: int, born: int, origin: str, parent: int | None = None) -> Unit:
        unit = Unit(self.next_id, layer + 1, born, origin, parent)
        self.next_id += 1
        return unit

    def _refresh(self) -> None:
        """Rebuild the per-layer lookup tables after any change of the registry."""
        self._born = [[u.born for u in units] for units in self.units]
        self._retired = [torch.tensor([u.retired or NEVER for u in units], dtype=torch.long) for units in self.units]
        self._index = {u.id: (layer, i) for layer, units in enumerate(self.units) for i, u in enumerate(units)}

    # --- shape queries ----------------------------------------------------------

    @property
    def n_layers(self) -> int:
        """Number of hidden layers."""
        return len(self.weights)

    def layer_kinds(self) -> list[str]:
        """'conv' or 'dense' per hidden layer, bottom up."""
        return ["conv" if w.dim() == 4 else "dense" for w in self.weights]

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """Flat inputs (batch, input_dim) as the first layer reads them: images (batch, C, H, W) for conv."""
        return x if self.input_shape is None else x.reshape(x.shape[0], *self.input_shape)

    def sizes(self) -> list[int]:
        """Units stored per hidden layer (every task's units, retired ones included)."""
        return [w.shape[0] for w in self.weights]

    def visible(self, layer: int, task: int) -> int:
        """Units of ``layer`` born at or before ``task`` (a prefix of the layer)."""
        return bisect.bisect_right(self._born[layer], task)

    def active(self, layer: int, task: int) -> torch.Tensor:
        """Bool mask over the visible prefix: units task ``task`` uses."""
        n = self.visible(layer, task)
        return self._retired[layer][:n] > task

    def active_ids(self, layer: int, task: int) -> list[int]:
        """Ids of the units task ``task`` uses in ``layer``."""
        mask = self.active(layer, task).tolist()
        return [u.id for u, keep in zip(self.units[layer], mask, strict=False) if keep]

    def locate(self, unit_id: int) -> tuple[int, int]:
        """(layer, row index) of a unit id."""
        return self._index[unit_id]

    def layout(self, task: int) -> list[int | torch.Tensor]:
        """Per layer, the units task ``task`` uses: a prefix length, or their row indices."""
        out: list[int | torch.Tensor] = []
        for layer in range(self.n_layers):
            keep = self.active(layer, task)
            out.append(keep.numel() if bool(keep.all()) else keep.nonzero().squeeze(1).to(self.device))
        return out

    def plan(self, task: int) -> list[LayerPlan]:
        """The slices and masks task ``task``'s forward pass uses."""
        plans, n_in = [], (self.weights[0].shape[1] if self.weights else self.input_dim)
        for layer in range(self.n_layers):
            n_out = self.visible(layer, task)
            keep = self.active(layer, task)
            mask = None if bool(keep.all()) else keep.to(self.device, self.dtype)
            plans.append(LayerPlan(n_out, n_in, mask))
            n_in = n_out
        return plans

    # --- forward ----------------------------------------------------------------

    def hidden(self, x: torch.Tensor, task: int, plan: list[LayerPlan] | None = None) -> list[torch.Tensor]:
        """Activations of every hidden layer for task ``task``: a list of (batch, n_l)."""
        plan = plan or self.plan(task)
        outs, h = [], self.images(x)
        for layer, p in enumerate(plan):
            w = self.weights[layer][: p.n_out, : p.n_in]
            h = apply_layer(h, w, self.biases[layer][: p.n_out])
            if p.mask is not None:
                h = h * unit_mask(p.mask, h)
            outs.append(h)
        return outs

    def forward(self, x: torch.Tensor, task: int, plan: list[LayerPlan] | None = None) -> torch.Tensor:
        """Logits of task ``task``'s head, using only units born at or before it."""
        if task not in self.heads:
            raise ConfigError("task", f"this network has heads for tasks {sorted(self.heads)}, not for {task!r}")
        if x.shape[-1] != self.input_dim:
            raise ConfigError("x", f"inputs have {x.shape[-1]} features; this network takes {self.input_dim}")
        if plan is None and not is_masked():
            return self._dense_forward(x, task)
        plan = plan or self.plan(task)
        h = self.images(x)
        for layer, p in enumerate(plan):
            w = self.weights[layer][: p.n_out, : p.n_in]
            h = apply_layer(h, w, self.biases[layer][: p.n_out])
            if p.mask is not None:
                h = h * unit_mask(p.mask, h)
        head_w, head_b = self.heads[task]
        return F.linear(h, head_w, head_b)

    __call__ = forward

    def _dense_forward(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """``forward`` on the gathered sub-network: retired and later units are never computed."""
        h, cols = self.images(x), None
        for layer, rows in enumerate(self.layout(task)):
            h = apply_layer(h, take(self.weights[layer], rows, cols), take(self.biases[layer], rows))
            cols = rows
        head_w, head_b = self.heads[task]
        return F.linear(h, head_w if isinstance(cols, int) else head_w.index_select(1, cols), head_b)

    # --- growth -----------------------------------------------------------------

    def add_head(self, task: int, n_outputs: int) -> None:
        """A zero-initialised head for ``task`` over the top units visible to it."""
        width = self.visible(self.n_layers - 1, task)
        self.heads[task] = (self._zeros(n_outputs, width), self._zeros(n_outputs))

    def expand(self, task: int, k: int | list[int], generator: torch.Generator | None) -> list[list[int]]:
        """Append k units to every hidden layer (or k[l] to layer l; Algorithm 3); returns their ids per layer."""
        return growth.expand(self, task, k, generator)

    def split(self, unit_id: int, task: int, old_row: torch.Tensor, old_bias: torch.Tensor) -> int:
        """Split a drifted unit (Algorithm 4): the original restored and retired, a duplicate; returns its id."""
        return growth.split(self, unit_id, task, old_row, old_bias)

    def prune(self, unit_ids: list[int]) -> None:
        """Remove units everywhere: their rows, biases, outgoing columns and head columns."""
        growth.prune(self, unit_ids)

    # --- copies, counts, state ----------------------------------------------------

    def clone(self) -> ExpandableNet:
        """A deep copy (tensors cloned, registry copied)."""
        other = ExpandableNet(self.input_dim, (), device=self.device, dtype=self.dtype, init=False)
        other.input_shape = self.input_shape
        other.weights = [w.detach().clone() for w in self.weights]
        other.biases = [b.detach().clone() for b in self.biases]
        other.heads = {t: (w.detach().clone(), b.detach().clone()) for t, (w, b) in self.heads.items()}
        other.units = [list(units) for units in self.units]
        other.next_id = self.next_id
        other._refresh()
        return other

    def parameter_count(self, usable: bool = True) -> tuple[int, int]:
        """(total, non-zero) parameters: the entries some task can use, or every stored one (core.counting)."""
        from den_engine.core.counting import parameter_count  # the module that owns what counts

        return parameter_count(self, usable)

    def sparsity(self, task: int) -> list[float]:
        """Fraction of exact zeros per layer among the weights task ``task`` uses: its active rows and columns."""
        out, cols = [], None
        for layer, rows in enumerate(self.layout(task)):
            block = take(self.weights[layer], rows, cols)
            out.append(1.0 - int(torch.count_nonzero(block)) / max(block.numel(), 1))
            cols = rows
        return out

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor by a stable name, on the CPU (for safetensors)."""
        state = {}
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            state[f"hidden.{layer + 1}.weight"] = w.detach().cpu().contiguous()
            state[f"hidden.{layer + 1}.bias"] = b.detach().cpu().contiguous()
        for task, (w, b) in self.heads.items():
            state[f"head.{task}.weight"] = w.detach().cpu().contiguous()
            state[f"head.{task}.bias"] = b.detach().cpu().contiguous()
        return state

    def registry(self) -> list[dict]:
        """Every hidden unit as plain data, layer by layer, in storage order."""
        return [u.to_dict() for units in self.units for u in units]

    @classmethod
    def from_state(
        cls,
        input_dim: int,
        units: list[dict],
        tensors: dict[str, torch.Tensor],
        device: torch.device | str = "cpu",
        input_shape: tuple[int, ...] | None = None,
    ) -> ExpandableNet:
        """Rebuild a network from ``registry()`` and ``state_tensors()`` output (conv layers need ``input_shape``)."""
        n_layers = max((u["layer"] for u in units), default=0)
        net = cls(input_dim, (), device=device, init=False)
        net.units = [[] for _ in range(n_layers)]
        for u in units:
            net.units[u["layer"] - 1].append(Unit(**u))
        net.next_id = max((u["id"] for u in units), default=-1) + 1
        net.weights = [tensors[f"hidden.{i + 1}.weight"].to(device) for i in range(n_layers)]
        net.biases = [tensors[f"hidden.{i + 1}.bias"].to(device) for i in range(n_layers)]
        heads = sorted(int(k.split(".")[1]) for k in tensors if k.startswith("head.") and k.endswith(".weight"))
        net.heads = {t: (tensors[f"head.{t}.weight"].to(device), tensors[f"head.{t}.bias"].to(device)) for t in heads}
        net.dtype = net.weights[0].dtype if net.weights else torch.float32
        if any(w.dim() > 2 for w in net.weights):
            net.input_shape = image_shape(input_shape, input_dim)
        net._refresh()
        return net
