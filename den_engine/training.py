"""One training stage: Adam over exactly the trainable entries, plus proximal steps.

Every DEN stage is "train these entries of these tensors, with these regularisers, for
this many steps". A stage gets a *fresh* Adam over exactly the tensors it trains.
Entries outside a tensor's mask are frozen bit for bit: their gradient (weight decay
and transfer pull included) is zeroed before Adam sees it, so Adam's moments and its
update stay exactly zero there, and the proximal steps only touch masked entries.

Order of the updates in one step (fixed, reference bug K7):
  1. gradient of the data loss (autograd), plus weight decay w and the L2-transfer
     pull lambda (w - w_prev), added analytically;
  2. the gradient is masked; Adam steps;
  3. L1 soft-threshold (mu per step) on masked weight entries;
  4. group-lasso shrinkage per unit (its incoming row and bias), gamma per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from den_engine.errors import TrainingDiverged, TrainingStopped
from den_engine.network import ExpandableNet

ProgressFn = Callable[[str, int, int, float], None]


@dataclass
class Trainable:
    """One tensor a stage trains, which of its entries, and its regularisers."""

    tensor: torch.Tensor
    mask: torch.Tensor | None = None  # bool, same shape; None = every entry
    anchor: torch.Tensor | None = None  # values to pull toward (lambda), same shape
    anchor_mask: torch.Tensor | None = None  # which entries the pull acts on
    l1: bool = False  # apply the proximal L1 step


@dataclass
class Group:
    """Group-lasso groups: rows ``rows`` of ``weight`` together with ``bias[rows]``."""

    weight: torch.Tensor
    bias: torch.Tensor
    rows: torch.Tensor  # long (n_groups,)


@dataclass
class StageSettings:
    """Optimisation settings shared by every stage of a run."""

    learning_rate: float
    lr_decay: float
    batch_size: int
    weight_decay: float
    l1_strength: float
    group_lasso: float
    l2_transfer: float
    check_every: int = 10  # steps between finiteness checks and progress reports


@dataclass
class StageResult:
    """What a stage did: its budget, final loss and speed."""

    stage: str
    iterations: int
    loss: float
    wall_time_s: float
    samples_per_s: float
    extra: dict = field(default_factory=dict)


def data_loss(net: ExpandableNet, task: int, x: torch.Tensor, y: torch.Tensor, chunk: int = 4096) -> float:
    """Mean sigmoid cross-entropy of task ``task`` on a whole split (no gradient)."""
    plan = net.plan(task)
    total = 0.0
    with torch.no_grad():
        for start in range(0, x.shape[0], chunk):
            logits = net.forward(x[start : start + chunk], task, plan)
            target = y[start : start + chunk]
            total += float(F.binary_cross_entropy_with_logits(logits, target, reduction="sum"))
    return total / max(y.numel(), 1)


def _batches(n: int, batch_size: int, generator: torch.Generator, device: torch.device):
    """Endless mini-batch indices: a fresh permutation (from ``generator``) per epoch."""
    while True:
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size], start + batch_size >= n


def _prepare(items: list[Trainable]) -> list[Trainable]:
    """Turn masks into multiplicative float masks and precompute pull masks."""
    prepared = []
    for item in items:
        mask = None if item.mask is None else item.mask.to(item.tensor.dtype)
        pull = None
        if item.anchor is not None:
            pull = mask if item.anchor_mask is None else item.anchor_mask.to(item.tensor.dtype)
            if mask is not None and item.anchor_mask is not None:
                pull = pull * mask
        prepared.append(Trainable(item.tensor, mask, item.anchor, pull, item.l1))
    return prepared


def _soft_threshold_(t: torch.Tensor, amount: float, mask: torch.Tensor | None) -> None:
    """In-place proximal L1 step on the masked entries of ``t``."""
    shrunk = t.sign() * (t.abs() - amount).clamp_min_(0)
    if mask is None:
        t.copy_(shrunk)
    else:
        t.copy_(torch.where(mask.bool(), shrunk, t))


def group_shrink_(group: Group, amount: float) -> None:
    """In-place proximal group-lasso step: g <- max(0, 1 - amount / ||g||) g per row."""
    w = group.weight.index_select(0, group.rows)  # (groups, n_in)
    b = group.bias.index_select(0, group.rows)  # (groups,)
    norm = torch.sqrt((w * w).sum(dim=1) + b * b)
    scale = (1 - amount / norm.clamp_min(1e-30)).clamp_min_(0)
    group.weight.index_copy_(0, group.rows, w * scale[:, None])
    group.bias.index_copy_(0, group.rows, b * scale)


def train_stage(
    stage: str,
    net: ExpandableNet,
    task: int,
    x: torch.Tensor,
    y: torch.Tensor,
    items: list[Trainable],
    settings: StageSettings,
    iterations: int,
    generator: torch.Generator,
    groups: list[Group] | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> StageResult:
    """Run one stage: a fresh Adam over exactly ``items``' tensors for ``iterations`` steps."""
    items = _prepare(items)
    tensors = [item.tensor for item in items]
    start = time.perf_counter()
    if not tensors or iterations == 0:
        loss = data_loss(net, task, x, y)
        return StageResult(stage, 0, loss, time.perf_counter() - start, 0.0)
    for t in tensors:
        t.requires_grad_(True)
    optimizer = torch.optim.Adam(tensors, lr=settings.learning_rate)
    plan = net.plan(task)
    steps_per_epoch = max(1, math.ceil(x.shape[0] / settings.batch_size))
    batches = _batches(x.shape[0], settings.batch_size, generator, x.device)
    seen = 0
    running = torch.zeros((), device=x.device)
    try:
        for it in range(1, iterations + 1):
            if should_stop is not None and should_stop():
                raise TrainingStopped(f"stopped during '{stage}' at step {it} of {iterations}")
            idx, _ = next(batches)
            logits = net.forward(x[idx], task, plan)
            loss = F.binary_cross_entropy_with_logits(logits, y[idx])
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            _step(optimizer, items, groups, settings)
            seen += idx.numel()
            running += loss.detach()
            if it % steps_per_epoch == 0 and settings.lr_decay != 1.0:
                for group in optimizer.param_groups:
                    group["lr"] *= settings.lr_decay  # staircase decay per epoch
            if it % settings.check_every == 0 or it == iterations:
                steps = settings.check_every if it % settings.check_every == 0 else it % settings.check_every
                mean = float(running) / steps
                running.zero_()
                if not math.isfinite(mean):
                    raise TrainingDiverged(stage, it, mean)
                if on_progress is not None:
                    on_progress(stage, it, iterations, mean)
    finally:
        for t in tensors:
            t.requires_grad_(False)
            t.grad = None
    final = data_loss(net, task, x, y)
    if not math.isfinite(final):
        raise TrainingDiverged(stage, iterations, final)
    wall = time.perf_counter() - start
    return StageResult(stage, iterations, final, wall, seen / max(wall, 1e-9))


def _step(optimizer: torch.optim.Optimizer, items: list[Trainable], groups, settings: StageSettings) -> None:
    """Regularise and mask the gradients, step Adam, then apply the proximal steps."""
    with torch.no_grad():
        for item in items:
            grad = item.tensor.grad
            if settings.weight_decay:
                grad.add_(item.tensor, alpha=settings.weight_decay)
            if item.anchor is not None and settings.l2_transfer:
                diff = item.tensor - item.anchor
                if item.anchor_mask is not None:
                    diff.mul_(item.anchor_mask)
                grad.add_(diff, alpha=settings.l2_transfer)
            if item.mask is not None:
                grad.mul_(item.mask)
        optimizer.step()
        if settings.l1_strength:
            for item in items:
                if item.l1:
                    _soft_threshold_(item.tensor, settings.l1_strength, item.mask)
        if groups and settings.group_lasso:
            for group in groups:
                group_shrink_(group, settings.group_lasso)
