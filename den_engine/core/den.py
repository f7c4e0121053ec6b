"""The DEN algorithm: one small function per stage, composed per task (Algorithm 1).

Task numbers are 1-based, as in the paper. Each stage trains the network in place and
returns the events that explain what it decided, with the numbers behind the decision.
``train_task`` works on a copy of the network, so a stopped or diverged task leaves the
caller's network exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from den_engine.core.config import DENConfig
from den_engine.core.layers import spread
from den_engine.core.network import ExpandableNet
from den_engine.core.training import (
    Group,
    ProgressFn,
    StageResult,
    StageSettings,
    Trainable,
    data_loss,
    train_stage,
)

Event = dict


@dataclass
class TaskContext:
    """Everything a stage needs besides the network: task data, settings, hooks."""

    task: int
    x: torch.Tensor  # (n, input_dim) training inputs, on the run's device
    y: torch.Tensor  # (n, n_outputs) 0/1 targets
    config: DENConfig
    generator: torch.Generator
    on_progress: ProgressFn | None = None
    should_stop: Callable[[], bool] | None = None
    on_event: Callable[[Event], None] | None = None
    events: list[Event] = field(default_factory=list)
    history: list = field(default_factory=list)  # TaskData of tasks 1..task (for baselines that need it)
    state: dict = field(default_factory=dict)  # tensors a method keeps across tasks (saved with the weights)

    @property
    def settings(self) -> StageSettings:
        c = self.config
        return StageSettings(
            c.learning_rate,
            c.lr_decay,
            c.batch_size,
            c.weight_decay,
            getattr(c, "l1_strength", 0.0),
            getattr(c, "group_lasso", 0.0),
            getattr(c, "l2_transfer", 0.0),
            decay_samples=getattr(c, "decay_samples", 0),
            prox_scale_with_lr=getattr(c, "prox_scale_with_lr", False),
        )

    def emit(self, event: Event) -> Event:
        """Record an event and pass it to the caller's hook."""
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def train(self, stage: str, net: ExpandableNet, items, iterations: int, groups=None) -> StageResult:
        """Run one training stage and emit its ``stage_end`` event."""
        result = train_stage(
            stage, net, self.task, self.x, self.y, items, self.settings, iterations,
            self.generator, groups, self.on_progress, self.should_stop,
        )  # fmt: skip
        self.emit(
            {
                "type": "stage_end",
                "stage": stage,
                "iterations": result.iterations,
                "loss": result.loss,
                "wall_time_s": result.wall_time_s,
                "samples_per_s": result.samples_per_s,
                "step_samples_per_s": result.step_samples_per_s,
                "shape": [net.input_dim, *(net.visible(layer, self.task) for layer in range(net.n_layers))],
                "active_shape": [net.input_dim, *(int(net.active(i, self.task).sum()) for i in range(net.n_layers))],
            }
        )
        return result


# --- helpers -------------------------------------------------------------------


def _padded(old: torch.Tensor, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
    """``old`` zero-padded to ``shape``, and a bool mask of the entries it covers."""
    anchor = torch.zeros(shape, dtype=old.dtype, device=old.device)
    mask = torch.zeros(shape, dtype=torch.bool, device=old.device)
    index = tuple(slice(0, n) for n in old.shape)
    anchor[index] = old
    mask[index] = True
    return anchor, mask


def _block_items(
    net: ExpandableNet, prev: ExpandableNet | None, task: int, rows: list[torch.Tensor], l1: bool
) -> list[Trainable]:
    """Trainables for a sub-network given per-layer bool row selections.

    Layer l trains W[l][rows_l, rows_{l-1}] (all inputs for the first layer) and
    b[l][rows_l]; the head of ``task`` trains the columns of the selected top units.
    With ``prev``, entries that existed at t-1 are pulled toward their t-1 values.
    """
    items = []
    device = net.device
    below = torch.ones(net.weights[0].shape[1], dtype=torch.bool, device=device)  # every input (channel)
    for layer in range(net.n_layers):
        w, b = net.weights[layer], net.biases[layer]
        sel = rows[layer].to(device)
        full_below = torch.zeros(w.shape[1], dtype=torch.bool, device=device)
        full_below[: below.numel()] = below
        mask = sel[:, None] & full_below[None, :]
        mask = spread(mask, w)  # a conv filter's block: every tap of its kernel over the selected channels
        anchor_w = anchor_b = pull_w = pull_b = None
        if prev is not None:
            anchor_w, pull_w = _padded(prev.weights[layer], w.shape)
            anchor_b, pull_b = _padded(prev.biases[layer], b.shape)
        items.append(Trainable(w, mask, anchor_w, pull_w, l1=l1))
        items.append(Trainable(b, sel.clone(), anchor_b, pull_b, l1=False))
        below = sel
    head_w, head_b = net.heads[task]
    top = torch.zeros(head_w.shape[1], dtype=torch.bool, device=device)
    n = min(head_w.shape[1], below.numel())
    top[:n] = below[:n]
    items.append(Trainable(head_w, top[None, :].expand_as(head_w).clone(), l1=l1))
    items.append(Trainable(head_b))
    return items


def _rows(net: ExpandableNet, layer: int, ids: list[int]) -> torch.Tensor:
    """Bool row mask of ``layer`` for the given unit ids."""
    mask = torch.zeros(net.weights[layer].shape[0], dtype=torch.bool)
    for uid in ids:
        mask[net.locate(uid)[1]] = True
    return mask


def sparsity_event(net: ExpandableNet, task: int) -> Event:
    """Fraction of exact zeros per layer among the weights task ``task`` uses."""
    return {"type": "sparsity", "stage": "summary", "per_layer": net.sparsity(task)}


# --- stages ----------------------------------------------------------------------


def sparse_training(net: ExpandableNet, ctx: TaskContext) -> None:
    """Task 1 (Eq. 2): train every weight with a proximal L1 step for exact zeros."""
    items = []
    for w, b in zip(net.weights, net.biases, strict=True):
        items += [Trainable(w, l1=True), Trainable(b)]
    head_w, head_b = net.heads[ctx.task]
    items += [Trainable(head_w, l1=True), Trainable(head_b)]
    ctx.train("sparse_training", net, items, ctx.config.iterations)
    ctx.emit(sparsity_event(net, ctx.task))


def train_new_head(net: ExpandableNet, ctx: TaskContext) -> None:
    """Eq. 3: every hidden layer frozen; fit the new task's head alone, with L1."""
    head_w, head_b = net.heads[ctx.task]
    top = net.active(net.n_layers - 1, ctx.task)
    mask = top[None, :].expand_as(head_w).clone().to(net.device)  # retired units stay out
    items = [Trainable(head_w, mask, l1=True), Trainable(head_b)]
    ctx.train("train_head", net, items, ctx.config.head_iterations)


def select_units(net: ExpandableNet, task: int) -> list[list[int]]:
    """Breadth-first selection (Algorithm 2): ids of the units task ``task`` relies on.

    Top layer: units with a non-zero weight in the new head (any output, bug K2).
    Layer l: units with a non-zero weight into a selected unit of layer l+1.
    """
    top = net.n_layers - 1
    head_w = net.heads[task][0]
    used = (head_w != 0).any(dim=0).cpu() & net.active(top, task)
    selected: list[list[int]] = [[] for _ in range(net.n_layers)]
    selected[top] = [u.id for u, s in zip(net.units[top], used.tolist(), strict=False) if s]
    for layer in range(top - 1, -1, -1):
        n = net.visible(layer, task)
        above = _rows(net, layer + 1, selected[layer + 1])[: net.weights[layer + 1].shape[0]]
        into = net.weights[layer + 1][above.to(net.device), :n]  # (selected above, n[, taps or map positions])
        if into.dim() > 2:  # filter i feeds unit j when any tap of W[j, i] (any position of its map) is non-zero
            into = into.flatten(2).abs().amax(dim=2)
        used = (into != 0).any(dim=0).cpu() & net.active(layer, task)
        selected[layer] = [u.id for u, s in zip(net.units[layer], used.tolist(), strict=False) if s]
    return selected


def selective_retraining(net: ExpandableNet, prev: ExpandableNet, ctx: TaskContext) -> list[list[int]]:
    """Algorithm 2: Eq. 3, selection, then Eq. 4 on the selected sub-network only."""
    train_new_head(net, ctx)
    selected = select_units(net, ctx.task)
    candidates = [net.active_ids(layer, ctx.task) for layer in range(net.n_layers)]
    ctx.emit(
        {
            "type": "selection",
            "stage": "selective_retraining",
            "selected": selected,
            "counts": [[len(s), len(c)] for s, c in zip(selected, candidates, strict=True)],
        }
    )
    rows = [_rows(net, layer, ids) for layer, ids in enumerate(selected)]
    items = _block_items(net, prev, ctx.task, rows, l1=True)
    ctx.train("selective_retraining", net, items, ctx.config.iterations)  # Eq. 4
    return selected


def dynamic_expansion(net: ExpandableNet, ctx: TaskContext) -> list[list[int]]:
    """Algorithm 3: add k units per layer, train them with group lasso (Eq. 5), prune.

    Only the new units' weights (and the task's own head) train; old weights are
    frozen. Returns the ids of the new units that survived, per layer.
    """
    k, filters = ctx.config.expand_units, getattr(ctx.config, "expand_filters", None)
    added = net.expand(ctx.task, [filters or k if kind == "conv" else k for kind in net.layer_kinds()], ctx.generator)
    items, groups = [], []
    for layer in range(net.n_layers):
        w, b = net.weights[layer], net.biases[layer]
        new_rows = _rows(net, layer, added[layer]).to(net.device)
        mask = spread(new_rows[:, None], w)
        if layer > 0:
            mask[:, _rows(net, layer - 1, added[layer - 1]).to(net.device)] = True
        items += [Trainable(w, mask, l1=True), Trainable(b, new_rows.clone())]
        groups.append(Group(w, b, new_rows.nonzero().squeeze(1)))
    head_w, head_b = net.heads[ctx.task]
    items += [Trainable(head_w, l1=True), Trainable(head_b)]
    ctx.train("expansion", net, items, ctx.config.iterations, groups)
    dead = [uid for layer, ids in enumerate(added) for uid in ids if _group_is_zero(net, uid)]
    net.prune(dead)
    kept = [[uid for uid in ids if uid not in set(dead)] for ids in added]
    pruned = [[uid for uid in ids if uid in set(dead)] for ids in added]
    ctx.emit(
        {
            "type": "expansion",
            "stage": "pruning",
            "added": added,
            "pruned": pruned,
            "kept": kept,
            "loss": float(_loss(net, ctx)),
        }
    )
    return kept


def _group_is_zero(net: ExpandableNet, unit_id: int) -> bool:
    layer, i = net.locate(unit_id)
    return bool((net.weights[layer][i] == 0).all()) and float(net.biases[layer][i]) == 0.0


def _loss(net: ExpandableNet, ctx: TaskContext) -> float:
    return data_loss(net, ctx.task, ctx.x, ctx.y)


def measure_drift(net: ExpandableNet, prev: ExpandableNet, task: int) -> list[dict]:
    """rho_i = ||w_i^t - w_i^{t-1}||_2 over the incoming weights of every old unit (a filter: kernel and bias)."""
    drift = []
    for layer in range(net.n_layers):
        old = prev.weights[layer]  # (n_old, n_in_old[, k, k])
        now = net.weights[layer][: old.shape[0], : old.shape[1]]
        change = (now - old).flatten(1)  # one row per unit: every incoming entry (a filter's whole kernel)
        if old.dim() == 4:  # a filter is its kernel and its bias (den-spec, "Convolutional layers")
            change = torch.cat([change, (net.biases[layer][: old.shape[0]] - prev.biases[layer])[:, None]], dim=1)
        values = torch.linalg.vector_norm(change, dim=1).cpu()
        keep = net.active(layer, task)[: old.shape[0]]
        ids = [u.id for u, k in zip(net.units[layer][: old.shape[0]], keep.tolist(), strict=True) if k]
        drift.append({"ids": ids, "values": [float(v) for v, k in zip(values, keep.tolist(), strict=True) if k]})
    return drift


def retrain_before_split(net: ExpandableNet, prev: ExpandableNet, ctx: TaskContext, touched: list[list[int]]) -> int:
    """Eq. 6 before drift is measured (Algorithm 4 in the paper's order); returns the steps left for after the split.

    Eq. 6's budget of ``iterations`` steps is shared, half before the split and the rest
    after it, so both orders take the same optimiser steps per task. It trains what the
    Eq. 6 after the split trains: the units this task touched and the head, pulled toward t-1.
    """
    first = max(1, ctx.config.iterations // 2)
    rows = [_rows(net, layer, ids) for layer, ids in enumerate(touched)]
    items = _block_items(net, prev, ctx.task, rows, l1=True)
    ctx.train("pre_split_retraining", net, items, first)  # Eq. 6, first pass
    return max(1, ctx.config.iterations - first)


def split_units(net: ExpandableNet, prev: ExpandableNet, ctx: TaskContext, touched: list[list[int]]) -> None:
    """Algorithm 4: split every old unit that drifted past sigma, then retrain (Eq. 6).

    Splits run layer by layer from the bottom, so an upper duplicate copies the
    columns of lower duplicates. Eq. 6 runs after every task t > 1, whether or not a
    unit split (Algorithm 4 retrains unconditionally): it trains the units this task
    touched (selected, expanded, duplicated) and the head, pulling old weights toward t-1.
    With ``split_order="paper"`` a first Eq. 6 runs before drift is measured, as the
    paper's Algorithm 4 has it; by default drift is measured after Eq. 4/5, as in the
    authors' code.
    """
    sigma, cap = ctx.config.split_threshold, ctx.config.max_splits_per_layer
    budget = ctx.config.iterations
    if getattr(ctx.config, "split_order", "reference") == "paper":
        budget = retrain_before_split(net, prev, ctx, touched)
    drift = measure_drift(net, prev, ctx.task)
    pairs = []
    for layer, record in enumerate(drift):
        over = sorted(
            ((v, uid) for uid, v in zip(record["ids"], record["values"], strict=True) if v > sigma),
            key=lambda item: (-item[0], item[1]),  # most drifted first (bug K5)
        )
        if cap is not None:
            over = over[:cap]
        for value, uid in sorted(over, key=lambda item: net.locate(item[1])[1]):
            _, i = net.locate(uid)
            dup = net.split(uid, ctx.task, prev.weights[layer][i], prev.biases[layer][i])
            pairs.append({"layer": layer + 1, "parent": uid, "duplicate": dup, "drift": value})
    ctx.emit({"type": "drift", "stage": "split", "split_threshold": sigma, "drift": drift})
    ctx.emit({"type": "split", "stage": "split", "pairs": pairs})
    duplicates = {p["duplicate"] for p in pairs}
    split = {p["parent"] for p in pairs}
    rows = []
    for layer in range(net.n_layers):
        ids = [uid for uid in touched[layer] if uid not in split]
        ids += [u.id for u in net.units[layer] if u.id in duplicates]
        rows.append(_rows(net, layer, ids))
    items = _block_items(net, prev, ctx.task, rows, l1=True)
    ctx.train("split_retraining", net, items, budget)  # Eq. 6


# --- the per-task routine (Algorithm 1) -------------------------------------------------


def train_task(net: ExpandableNet, n_outputs: int, ctx: TaskContext) -> ExpandableNet:
    """Learn task ``ctx.task`` on a copy of ``net``; returns the grown copy."""
    prev, net = net, net.clone()
    net.add_head(ctx.task, n_outputs)
    # Start the head at the log-odds of each output's base rate, so that short budgets
    # spend their steps on features rather than on learning the class balance.
    rate = ctx.y.mean(dim=0).clamp(1e-3, 1 - 1e-3)
    net.heads[ctx.task][1].copy_(torch.log(rate / (1 - rate)))
    if ctx.task == 1:
        sparse_training(net, ctx)  # Eq. 2
        return net
    selected = selective_retraining(net, prev, ctx)  # Algorithm 2, Eq. 3-4
    loss = _loss(net, ctx)
    expand = loss > ctx.config.loss_threshold
    ctx.emit(
        {
            "type": "expansion_decision",
            "stage": "selective_retraining",
            "loss": loss,
            "loss_threshold": ctx.config.loss_threshold,
            "expand": bool(expand),
        }
    )
    touched = [list(ids) for ids in selected]
    if expand:
        kept = dynamic_expansion(net, ctx)  # Algorithm 3, Eq. 5
        touched = [a + b for a, b in zip(touched, kept, strict=True)]
    split_units(net, prev, ctx, touched)  # Algorithm 4, Eq. 6
    ctx.emit(sparsity_event(net, ctx.task))
    return net
