"""A stage's dense sub-network: the units a task uses, gathered, trained, written back.

A stage trains some entries of the stored tensors (``Trainable`` masks). Here every
hidden layer is gathered down to the units the task uses (retired originals and units
born later drop out), its rows ordered *trainable first*: a row is trainable when any
of its entries or its bias is. The trainable rows are then a contiguous prefix of the
dense copy, and the optimiser holds exactly that prefix (a view), so the backward pass
computes weight gradients for those rows only (``_PrefixLinear``; a layer trained
whole takes autograd's own linear, which skips a Python call per step); frozen rows
cost a forward pass and nothing more. After the stage the trainable rows are written back;
every other stored entry is never touched, so frozen means bit-identical.

Entries a stage trains outside the dense block get no data gradient (their input is a
retired unit, masked to zero in the old path), but weight decay, the transfer pull and
group lasso still move them. Such entries of trainable rows ride along as a *side*
tensor with a zero data gradient, so the arithmetic per entry is the old path's. A
stage this module cannot express (an unknown tensor, an extra-gradient hook, live
entries in rows the task does not use, tasks with different sub-networks) raises
``Unsupported`` and the caller falls back to the masked path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from den_engine.core.layers import apply_layer, spread
from den_engine.core.network import ExpandableNet


class Unsupported(Exception):
    """This stage needs the masked path (the message says why)."""


class _PrefixLinear(torch.autograd.Function):
    """``h @ weight.T + bias`` whose gradient reaches only the first ``n`` rows (``w_head``, ``b_head``)."""

    @staticmethod
    def forward(ctx, h, w_head, b_head, weight, bias, n):  # noqa: D102 - autograd protocol
        ctx.save_for_backward(h, weight)
        ctx.n = n
        return torch.addmm(bias, h, weight.t())

    @staticmethod
    def backward(ctx, grad):  # noqa: D102 - autograd protocol
        h, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        top = grad[:, : ctx.n]
        grad_h = grad @ weight if need[0] else None
        grad_w = top.t() @ h if need[1] else None
        grad_b = top.sum(0) if need[2] else None
        return grad_h, grad_w, grad_b, None, None, None


@dataclass
class _Dense:
    """One gathered tensor: its stored original, where it came from, the dense copy."""

    stored: torch.Tensor
    rows: torch.Tensor | None  # stored row of each dense row (None: every row, in order)
    cols: torch.Tensor | None  # stored column of each dense column (None: every column)
    dense: torch.Tensor
    n_write: int  # dense rows written back after the stage (the trainable prefix)

    def write_back(self) -> None:
        block = self.dense[: self.n_write]
        if self.n_write == 0:
            return
        rows = self.rows[: self.n_write] if self.rows is not None else None
        if self.cols is None:
            if rows is None:
                self.stored[: self.n_write] = block
            else:
                self.stored.index_copy_(0, rows, block)
        else:
            r = rows if rows is not None else torch.arange(self.n_write, device=block.device)
            self.stored[r[:, None], self.cols[None, :]] = block


@dataclass
class DenseGroup:
    """A group-lasso group in dense coordinates: a weight row, its bias, its side row."""

    weight: torch.Tensor  # dense trainable rows
    bias: torch.Tensor  # dense bias (full)
    rows: torch.Tensor  # dense positions of the groups
    side: torch.Tensor | None = None  # training.group_shrink_ includes it in each unit's norm
    side_rows: torch.Tensor | None = None


def _joined(stored: torch.Tensor, param: torch.Tensor | None, n: int) -> torch.Tensor:
    """A dense tensor whose first ``n`` rows are the trainable ``param`` (gradients reach those rows only)."""
    if param is None or n == 0:
        return stored
    return param if n == stored.shape[0] else torch.cat([param, stored[n:]])


def _mask(item, shape, device) -> torch.Tensor:
    return item.mask if item.mask is not None else torch.ones(shape, dtype=torch.bool, device=device)


def _gather(t: torch.Tensor | None, rows, cols) -> torch.Tensor | None:
    if t is None:
        return None
    out = t if rows is None else t.index_select(0, rows)
    return out if cols is None else out.index_select(1, cols)


def _trimmed(mask: torch.Tensor | None) -> torch.Tensor | None:
    """None when every entry is trainable (fewer passes per step)."""
    return None if mask is None or bool(mask.all()) else mask


class DenseStage:
    """The gathered sub-network of one stage: its trainables, groups, forward and write-back."""

    def __init__(self, net: ExpandableNet, tasks: list[int], items: list, groups: list | None, l2_transfer: float):
        self.net = net
        roles = {id(w): ("w", i) for i, w in enumerate(net.weights)}
        roles.update({id(b): ("b", i) for i, b in enumerate(net.biases)})
        for t, (hw, hb) in net.heads.items():
            roles.update({id(hw): ("hw", t), id(hb): ("hb", t)})
        by_role: dict = {}
        for item in items:
            role = roles.get(id(item.tensor))
            if role is None or role in by_role:
                raise Unsupported("a trainable tensor is not one of the network's, or is given twice")
            if item.extra_grad is not None:
                raise Unsupported("an extra-gradient hook needs the stored tensor")
            by_role[role] = item
        layouts = [[net.active(layer, t) for layer in range(net.n_layers)] for t in tasks]
        if any(any(not torch.equal(a, b) for a, b in zip(lay, layouts[0], strict=True)) for lay in layouts[1:]):
            raise Unsupported("the tasks of this stage use different sub-networks")
        self.tensors: list[_Dense] = []
        self._dense_layers: list[tuple[_Dense, _Dense, int]] = []
        consumed: set = set()
        self.trainables: list = []
        self.layers: list[tuple[torch.Tensor, torch.Tensor, int, torch.Tensor | None, torch.Tensor | None]] = []
        self._side: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # layer -> (side tensor, stored rows)
        group_rows = self._group_rows(groups or [])
        device = net.device
        cols: torch.Tensor | None = None
        for layer, active in enumerate(layouts[0]):
            w, b = net.weights[layer], net.biases[layer]
            wi, bi = by_role.get(("w", layer)), by_role.get(("b", layer))
            act = active.nonzero().squeeze(1).to(device)
            train = torch.zeros(act.numel(), dtype=torch.bool, device=device)
            if wi is not None:
                train |= _gather(_mask(wi, w.shape, device), act, cols).flatten(1).any(dim=1)
            if bi is not None:
                train |= _mask(bi, b.shape, device).index_select(0, act)
            order = torch.cat([act[train], act[~train]])
            n = int(train.sum())
            dw = _Dense(w, order, cols, _gather(w, order, cols).contiguous(), n)
            db = _Dense(b, order, None, b.index_select(0, order).contiguous(), n)
            self.tensors += [dw, db]
            self._dense_layers.append((dw, db, n))
            # the optimiser's tensors are views of the trainable prefix, passed as such to the forward
            w_param = b_param = None
            if wi is not None:
                w_param = self._weight_item(layer, wi, dw, n, cols, group_rows.get(layer), l2_transfer)
            if bi is not None:
                self._check_outside(bi, b, torch.zeros_like(b, dtype=torch.bool).index_fill_(0, act, True), l2_transfer)
                if n:
                    b_param = db.dense[:n]
                    self.trainables.append(self._dense_item(bi, b_param, order[:n], None))
            self.layers.append((dw.dense, db.dense, n, w_param, b_param))
            used = {("w", layer), ("b", layer)}
            consumed |= used
            cols = order
        self.heads: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for t in tasks:
            hw, hb = net.heads[t]
            if cols.numel() and int(cols.max()) >= hw.shape[1]:
                raise Unsupported("a head is narrower than its task's top layer")
            dhw = _Dense(hw, None, cols, hw.index_select(1, cols).contiguous(), hw.shape[0])
            dhb = _Dense(hb, None, None, hb.clone(), hb.shape[0])
            self.heads[t] = (dhw.dense, dhb.dense)
            hwi, hbi = by_role.get(("hw", t)), by_role.get(("hb", t))
            if hwi is not None:
                inside = torch.zeros_like(hw, dtype=torch.bool)
                inside[:, cols] = True
                self._check_outside(hwi, hw, inside, l2_transfer)
                self.trainables.append(self._dense_item(hwi, dhw.dense, None, cols))
                self.tensors.append(dhw)
            if hbi is not None:
                self.trainables.append(replace(hbi, tensor=dhb.dense))
                self.tensors.append(dhb)
            consumed |= {("hw", t), ("hb", t)}
        if set(by_role) - consumed:
            raise Unsupported("a trainable head belongs to a task this stage does not fit")
        self.groups = self._dense_groups(groups or [])

    # --- building ------------------------------------------------------------------

    def _group_rows(self, groups: list) -> dict[int, torch.Tensor]:
        """Stored rows of every group, per layer (they need their whole row: side entries too)."""
        out = {}
        for g in groups:
            layer = next((i for i, w in enumerate(self.net.weights) if w is g.weight), None)
            if layer is None or g.bias is not self.net.biases[layer]:
                raise Unsupported("a group-lasso group is not a hidden layer of the network")
            out[layer] = torch.cat([out[layer], g.rows]) if layer in out else g.rows
        return out

    def _dense_item(self, item, dense: torch.Tensor, rows, cols):
        """``item`` with its tensor, mask and anchors gathered to the dense block."""
        return replace(
            item,
            tensor=dense,
            mask=_trimmed(_gather(item.mask, rows, cols)),
            anchor=_gather(item.anchor, rows, cols),
            anchor_mask=_gather(item.anchor_mask, rows, cols),
        )

    def _live(self, item, stored: torch.Tensor, outside: torch.Tensor, l2_transfer: float) -> torch.Tensor:
        """Trainable entries outside the dense block that would move: non-zero, or pulled to non-zero."""
        live = outside & (stored != 0)
        if item.anchor is not None and l2_transfer:
            pulled = item.anchor != 0
            if item.anchor_mask is not None:
                pulled &= item.anchor_mask
            live |= outside & pulled
        return live

    def _check_outside(self, item, stored, inside, l2_transfer) -> None:
        outside = _mask(item, stored.shape, stored.device) & ~inside
        if bool(self._live(item, stored, outside, l2_transfer).any()):
            raise Unsupported("live trainable entries outside the units the task uses")

    def _weight_item(self, layer, item, dw: _Dense, n, cols, group_rows, l2_transfer) -> torch.Tensor | None:
        """The trainable prefix of a hidden weight, plus a side tensor for its live outside entries."""
        w = dw.stored
        order = dw.rows
        param = dw.dense[:n] if n else None
        if n:
            self.trainables.append(self._dense_item(item, param, order[:n], cols))
        if cols is None:
            outside_cols = torch.zeros(0, dtype=torch.long, device=w.device)
        else:
            keep = torch.ones(w.shape[1], dtype=torch.bool, device=w.device)
            keep[cols] = False
            outside_cols = keep.nonzero().squeeze(1)
        inside_rows = torch.zeros(w.shape[0], dtype=torch.bool, device=w.device)
        inside_rows[order] = True
        mask = _mask(item, w.shape, w.device)
        # entries of rows the task does not use: they must stay put
        self._check_outside(item, w, spread(inside_rows[:, None], w), l2_transfer)
        if outside_cols.numel() == 0:
            return param
        outside = torch.zeros_like(mask)
        outside[:, outside_cols] = mask[:, outside_cols]
        live_rows = self._live(item, w, outside, l2_transfer).flatten(1).any(dim=1)
        if group_rows is not None:
            live_rows[group_rows] = True
        side_rows = live_rows.nonzero().squeeze(1)
        if side_rows.numel() == 0:
            return param
        trainable_rows = torch.zeros(w.shape[0], dtype=torch.bool, device=w.device)
        trainable_rows[order[:n]] = True
        if not bool(trainable_rows[side_rows].all()):
            raise Unsupported("live entries in a row that is not trained")
        side = _gather(w, side_rows, outside_cols).contiguous()
        self.tensors.append(_Dense(w, side_rows, outside_cols, side, side_rows.numel()))
        self.trainables.append(self._dense_item(item, side, side_rows, outside_cols))
        self._side[layer] = (side, side_rows)
        return param

    def _dense_groups(self, groups: list) -> list[DenseGroup]:
        out = []
        for g in groups:
            layer = next(i for i, w in enumerate(self.net.weights) if w is g.weight)
            dw, db, n = self._dense_layers[layer]
            where = torch.full((g.weight.shape[0],), -1, dtype=torch.long, device=g.rows.device)
            where[dw.rows[:n]] = torch.arange(n, device=g.rows.device)
            rows = where[g.rows]
            if bool((rows < 0).any()):
                raise Unsupported("a group-lasso unit is not trained in this stage")
            side, side_rows = self._side.get(layer, (None, None))
            at = None
            if side is not None:
                pos = torch.full((g.weight.shape[0],), -1, dtype=torch.long, device=g.rows.device)
                pos[side_rows] = torch.arange(side_rows.numel(), device=g.rows.device)
                at = pos[g.rows]
            out.append(DenseGroup(dw.dense[:n], db.dense, rows, side, at))
        return out

    # --- use -------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """Logits of ``task`` through the dense sub-network; gradients reach trainable rows only."""
        h = self.net.images(x)
        for weight, bias, n, w_param, b_param in self.layers:
            if weight.dim() == 4:  # a conv layer: the trainable filters first, the frozen ones after
                h = apply_layer(h, _joined(weight, w_param, n), _joined(bias, b_param, n))
                continue
            if weight.dim() == 3:  # the first dense layer reads the maps of the conv layer below, flattened
                h, weight = h.flatten(1), weight.flatten(1)
                w_param = None if w_param is None else w_param.flatten(1)
            if n == 0 or n == weight.shape[0]:  # no row trainable, or every row: autograd's own linear
                z = F.linear(h, weight if w_param is None else w_param, bias if b_param is None else b_param)
            else:
                z = _PrefixLinear.apply(h, w_param, b_param, weight, bias, n)
            h = F.relu(z)
        head_w, head_b = self.heads[task]
        return F.linear(h, head_w, head_b)

    def write_back(self) -> None:
        """Copy every trained entry into the stored tensors (frozen ones are never written)."""
        with torch.no_grad():
            for t in self.tensors:
                t.write_back()
