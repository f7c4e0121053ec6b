"""One training stage: Adam over exactly the trainable entries, plus proximal steps.

Every DEN stage is "train these entries of these tensors, with these regularisers, for
this many steps". A stage gets a *fresh* Adam over exactly the tensors it trains.
Entries outside a tensor's mask are frozen bit for bit: their gradient (weight decay
and transfer pull included) is zeroed before Adam sees it, so Adam's moments and its
update stay exactly zero there, and the proximal steps only touch masked entries.

A stage normally fits one task's data; given ``tasks`` it fits several jointly (MTL):
every step draws one mini-batch per task and averages their losses.

Where it can, a stage computes on the dense sub-network its task uses
(den_engine.core.subnet): retired units and units born later are gathered away and
only the trainable rows get weight gradients; the trained entries are written back at
the end. Inside ``network.masked_compute()`` (or for a stage the dense path cannot
express) it runs on the stored tensors with masks, as before; ``PATHS`` counts both.

Order of the updates in one step (fixed, reference bug K7):
  1. gradient of the data loss (autograd), plus weight decay w, the L2-transfer
     pull lambda (w - w_prev) and a Trainable's ``extra_grad`` (e.g. EWC's penalty),
     added analytically;
  2. the gradient is masked; Adam steps;
  3. L1 soft-threshold (mu per step) on masked weight entries;
  4. group-lasso shrinkage per unit (its incoming row and bias), gamma per step.
With ``prox_scale_with_lr`` both thresholds are multiplied by the current step size over
the stage's starting one (proximal gradient: the threshold follows the step), so a
decaying schedule no longer leaves the sparsity steps acting unopposed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from den_engine.core.errors import TrainingDiverged, TrainingStopped
from den_engine.core.network import ExpandableNet, is_masked
from den_engine.core.subnet import DenseStage, Unsupported

ProgressFn = Callable[[str, int, int, float], None]

PATHS = {"dense": 0, "masked": 0}
"""Stages run on each path in this process (a check that DEN's stages never fall back)."""


@dataclass
class Trainable:
    """One tensor a stage trains, which of its entries, and its regularisers."""

    tensor: torch.Tensor
    mask: torch.Tensor | None = None  # bool, same shape; None = every entry
    anchor: torch.Tensor | None = None  # values to pull toward (lambda), same shape
    anchor_mask: torch.Tensor | None = None  # which entries the pull acts on
    l1: bool = False  # apply the proximal L1 step
    extra_grad: Callable[[torch.Tensor], torch.Tensor] | None = None  # gradient of an extra penalty at the tensor


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
    decay_samples: int = 0  # training samples between two step-size decays; 0 = one epoch
    prox_scale_with_lr: bool = False  # thresholds times (current step size / starting step size)


@dataclass
class StageResult:
    """What a stage did: its budget, final loss and speed (``samples_per_s``: the whole stage, with its closing
    whole-split loss; ``step_samples_per_s``: set-up and steps only, what a bare training loop does)."""

    stage: str
    iterations: int
    loss: float
    wall_time_s: float
    samples_per_s: float
    extra: dict = field(default_factory=dict)
    step_samples_per_s: float = 0.0


def data_loss(net: ExpandableNet, task: int, x: torch.Tensor, y: torch.Tensor, chunk: int = 4096) -> float:
    """Mean sigmoid cross-entropy of task ``task`` on a whole split (no gradient).

    It costs the task's active shape (the gathered forward), not the stored one: at the
    paper preset's task 10 the stored layers are several times what the task uses.
    """
    total = 0.0
    with torch.no_grad():
        for start in range(0, x.shape[0], chunk):
            logits = net.forward(x[start : start + chunk], task)
            target = y[start : start + chunk]
            total += float(F.binary_cross_entropy_with_logits(logits, target, reduction="sum"))
    return total / max(y.numel(), 1)


def _batches(n: int, batch_size: int, generator: torch.Generator, device: torch.device):
    """Endless mini-batch indices: a fresh permutation (from ``generator``) per epoch."""
    while True:
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size], start + batch_size >= n


@dataclass
class _Prepared:
    """A Trainable turned into the few fused tensors one step needs."""

    tensor: torch.Tensor
    mask: torch.Tensor | None  # float 0/1, or None for every entry
    coef: torch.Tensor | float  # weight decay + lambda * pull, per entry
    offset: torch.Tensor | None  # lambda * pull * anchor (subtracted from the gradient)
    l1: bool
    extra_grad: Callable[[torch.Tensor], torch.Tensor] | None = None  # Trainable.extra_grad
    decay_in_adam: bool = False  # plain weight decay, left to Adam's fused kernel (same arithmetic)


def _prepare(items: list[Trainable], weight_decay: float, l2_transfer: float) -> list[_Prepared]:
    """Fold weight decay and the transfer pull into one affine term: g += coef * w - offset.

    A tensor trained whole, with no pull and no extra gradient, leaves its weight decay
    to Adam (``decay_in_adam``): the fused kernel adds ``weight_decay * w`` to the
    gradient first, which is this step's arithmetic bit for bit, in no extra pass.
    Fewer passes over each tensor per step keeps DEN's step at or above a bare MLP's.
    """
    prepared = []
    for item in items:
        mask = None if item.mask is None else item.mask.to(item.tensor.dtype)
        pulled = item.anchor is not None and bool(l2_transfer)
        if mask is None and not pulled and item.extra_grad is None:
            prepared.append(_Prepared(item.tensor, None, 0.0, None, item.l1, None, decay_in_adam=True))
            continue
        coef: torch.Tensor | float = weight_decay
        offset = None
        if pulled:
            pull = item.anchor_mask.to(item.tensor.dtype) if item.anchor_mask is not None else None
            if pull is None:
                pull = torch.ones_like(item.tensor) if mask is None else mask
            elif mask is not None:
                pull = pull * mask
            coef = weight_decay + l2_transfer * pull
            offset = l2_transfer * pull * item.anchor
        prepared.append(_Prepared(item.tensor, mask, coef, offset, item.l1, item.extra_grad))
    return prepared


def _soft_threshold_(t: torch.Tensor, amount: float, mask: torch.Tensor | None) -> None:
    """In-place proximal L1 step on the masked entries of ``t``: w <- sign(w) max(|w| - amount, 0).

    Unmasked, it is one pass (``softshrink`` written over ``t``): the same values as
    ``w - clamp(w, -amount, amount)``, except that an entry shrunk to zero from below
    keeps its sign (-0.0, which compares equal to 0).
    """
    if mask is None:
        torch.ops.aten.softshrink.out(t, amount, out=t)
    else:
        t.addcmul_(t.clamp(-amount, amount), mask, value=-1.0)


def group_shrink_(group: Group, amount: float) -> None:
    """In-place proximal group-lasso step: g <- max(0, 1 - amount / ||g||) g per row."""
    shape = group.weight.shape
    w = group.weight.index_select(0, group.rows).flatten(1)  # (groups, n_in): a filter's whole kernel is one group
    b = group.bias.index_select(0, group.rows)  # (groups,)
    norm = torch.sqrt((w * w).sum(dim=1) + b * b)
    side = getattr(group, "side", None)  # a dense stage's entries of these rows outside its block
    if side is not None:
        s = side.index_select(0, group.side_rows)
        norm = torch.hypot(norm, torch.linalg.vector_norm(s.flatten(1), dim=1))
    scale = (1 - amount / norm.clamp_min(1e-30)).clamp_min_(0)
    group.weight.index_copy_(0, group.rows, (w * scale[:, None]).view(-1, *shape[1:]))
    group.bias.index_copy_(0, group.rows, b * scale)
    if side is not None:
        side.index_copy_(0, group.side_rows, s * scale.view(-1, *[1] * (s.dim() - 1)))


class _GroupShrink:
    """Every group-lasso step of a stage, its groups of consecutive rows done together.

    A group whose rows are consecutive (new units are appended, and a dense stage puts
    its trainable rows first) and that has no side entries is a view of its weight rows
    and bias; the step then runs as one list operation per arithmetic step over every
    such group (``torch._foreach_*``: per tensor, the very arithmetic of ``group_shrink_``,
    in place), not a dozen tensor calls per group. Expansion shrinks one group per layer
    every step, and those calls, not the arithmetic, were its cost against a bare net.
    """

    def __init__(self, groups: list) -> None:
        self.rows: list[torch.Tensor] = []  # (groups, n_in) views of consecutive weight rows
        self.biases: list[torch.Tensor] = []  # (groups,) views of their biases
        self.others: list = []  # groups done one at a time by group_shrink_
        with torch.no_grad():
            for group in groups:
                span = _span(group.rows)
                if span is None or getattr(group, "side", None) is not None or not group.weight.is_contiguous():
                    self.others.append(group)
                    continue
                start, stop = span
                self.rows.append(group.weight[start:stop].flatten(1))
                self.biases.append(group.bias[start:stop])

    def __call__(self, amount: float) -> None:
        """One proximal step of strength ``amount`` on every group."""
        for group in self.others:
            group_shrink_(group, amount)
        if not self.rows:
            return
        squares = torch._foreach_mul(self.rows, self.rows)
        norms = torch._foreach_add([sq.sum(dim=1) for sq in squares], torch._foreach_mul(self.biases, self.biases))
        torch._foreach_sqrt_(norms)
        torch._foreach_clamp_min_(norms, 1e-30)
        torch._foreach_reciprocal_(norms)  # amount / norm, computed as torch computes a number over a tensor
        torch._foreach_mul_(norms, amount)
        torch._foreach_neg_(norms)
        torch._foreach_add_(norms, 1.0)  # 1 - amount / norm
        torch._foreach_clamp_min_(norms, 0.0)
        torch._foreach_mul_(self.rows, [scale.unsqueeze(1) for scale in norms])
        torch._foreach_mul_(self.biases, norms)


def _span(rows: torch.Tensor) -> tuple[int, int] | None:
    """(start, stop) when ``rows`` are consecutive and increasing, else None."""
    if rows.numel() == 0:
        return None
    start = int(rows[0])
    expected = torch.arange(start, start + rows.numel(), device=rows.device, dtype=rows.dtype)
    return (start, start + rows.numel()) if torch.equal(rows, expected) else None


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
    tasks: list[tuple[int, torch.Tensor, torch.Tensor]] | None = None,
) -> StageResult:
    """Run one stage: a fresh Adam over exactly ``items``' tensors for ``iterations`` steps.

    ``tasks`` (task, x, y) replaces the single ``task, x, y`` by a joint objective: the
    mean of one mini-batch loss per task; the final loss is the mean over the tasks.
    """
    jobs = tasks or [(task, x, y)]
    start = time.perf_counter()
    if not items or iterations == 0:
        loss = _joint_data_loss(net, jobs)
        return StageResult(stage, 0, loss, time.perf_counter() - start, 0.0)
    dense = None
    if not is_masked():
        try:
            dense = DenseStage(net, [t for t, _, _ in jobs], items, groups, settings.l2_transfer)
        except Unsupported:
            dense = None  # the masked path below computes the same stage
    PATHS["masked" if dense is None else "dense"] += 1
    if dense is not None:
        items, groups, forward = dense.trainables, dense.groups, dense.forward
    else:
        plans = {t: net.plan(t) for t, _, _ in jobs}

        def forward(xb: torch.Tensor, t: int) -> torch.Tensor:
            return net.forward(xb, t, plans[t])

    items = _prepare(items, settings.weight_decay, settings.l2_transfer)
    tensors = [item.tensor for item in items]
    for t in tensors:
        t.requires_grad_(True)
    # A fresh Adam per stage over exactly the trainable tensors; the fused kernel does
    # the whole update in one pass (same arithmetic as the default implementation).
    in_adam = [item.tensor for item in items if item.decay_in_adam]
    rest = [item.tensor for item in items if not item.decay_in_adam]
    param_groups = [{"params": in_adam, "weight_decay": settings.weight_decay}] if in_adam else []
    param_groups += [{"params": rest, "weight_decay": 0.0}] if rest else []
    optimizer = torch.optim.Adam(param_groups, lr=settings.learning_rate, fused=_fused_ok(tensors))
    shrink = _GroupShrink(groups or [])
    decay_every = max(1, math.ceil((settings.decay_samples or jobs[0][1].shape[0]) / settings.batch_size))
    batches = [_batches(xt.shape[0], settings.batch_size, generator, xt.device) for _, xt, _ in jobs]
    seen = 0
    running = torch.zeros((), device=x.device)
    try:
        for it in range(1, iterations + 1):
            if should_stop is not None and should_stop():
                raise TrainingStopped(f"stopped during '{stage}' at step {it} of {iterations}")
            losses = []
            for (t, xt, yt), stream in zip(jobs, batches, strict=True):
                idx, _ = next(stream)
                losses.append(F.binary_cross_entropy_with_logits(forward(xt[idx], t), yt[idx]))
                seen += idx.numel()
            loss = losses[0] if len(losses) == 1 else torch.stack(losses).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            _step(optimizer, items, shrink, settings)
            running += loss.detach()
            if it % decay_every == 0 and settings.lr_decay != 1.0:
                for group in optimizer.param_groups:
                    group["lr"] *= settings.lr_decay  # staircase decay per epoch (or per decay_samples)
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
        if dense is not None:
            dense.write_back()
    steps = time.perf_counter() - start
    final = _joint_data_loss(net, jobs)
    if not math.isfinite(final):
        raise TrainingDiverged(stage, iterations, final)
    wall = time.perf_counter() - start
    speed, step_speed = seen / max(wall, 1e-9), seen / max(steps, 1e-9)
    return StageResult(stage, iterations, final, wall, speed, step_samples_per_s=step_speed)


def _joint_data_loss(net: ExpandableNet, jobs: list[tuple[int, torch.Tensor, torch.Tensor]]) -> float:
    """Mean of the tasks' whole-split data losses (one task: exactly its data loss)."""
    losses = [data_loss(net, t, xt, yt) for t, xt, yt in jobs]
    return losses[0] if len(losses) == 1 else sum(losses) / len(losses)


def _fused_ok(tensors: list[torch.Tensor]) -> bool:
    return all(t.dtype in (torch.float32, torch.float64, torch.float16) for t in tensors) and all(
        t.device.type in ("cpu", "cuda") for t in tensors
    )


def _regularise_(items: list[_Prepared]) -> None:
    """Add weight decay, the transfer pull and extra gradients to every gradient, then mask it.

    Per tensor the order is fixed (decay or pull, offset, extra gradient, mask); the plain
    weight decay and the masks run as one list operation over every tensor that has them
    (per tensor the same arithmetic as ``grad.add_`` and ``grad.mul_``, in fewer calls).
    """
    by_coef: dict[float, tuple[list, list]] = {}
    for item in items:
        if item.tensor.grad is None:  # a tensor outside the loss's graph (a side tensor): no data gradient
            item.tensor.grad = torch.zeros_like(item.tensor)
        if not isinstance(item.coef, torch.Tensor) and item.coef:
            grads, tensors = by_coef.setdefault(item.coef, ([], []))
            grads.append(item.tensor.grad)
            tensors.append(item.tensor)
    for coef, (grads, tensors) in by_coef.items():
        torch._foreach_add_(grads, tensors, alpha=coef)
    for item in items:
        grad = item.tensor.grad
        if isinstance(item.coef, torch.Tensor):
            grad.addcmul_(item.coef, item.tensor)
        if item.offset is not None:
            grad.sub_(item.offset)
        if item.extra_grad is not None:
            grad.add_(item.extra_grad(item.tensor))
    masked = [item for item in items if item.mask is not None]
    if masked:  # frozen entries: zero gradient, so Adam leaves them exactly
        torch._foreach_mul_([item.tensor.grad for item in masked], [item.mask for item in masked])


def _step(
    optimizer: torch.optim.Optimizer, items: list[_Prepared], shrink: _GroupShrink, settings: StageSettings
) -> None:
    """Regularise and mask the gradients, step Adam, then apply the proximal steps."""
    with torch.no_grad():
        _regularise_(items)
        optimizer.step()
        # Proximal steps follow the step size when asked: threshold = mu * lr_t / lr_0.
        scale = optimizer.param_groups[0]["lr"] / settings.learning_rate if settings.prox_scale_with_lr else 1.0
        if settings.l1_strength:
            for item in items:
                if item.l1:
                    _soft_threshold_(item.tensor, settings.l1_strength * scale, item.mask)
        if settings.group_lasso:
            shrink(settings.group_lasso * scale)
