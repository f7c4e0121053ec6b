"""Baselines on one fixed network with a head per task: fine-tuning, L2-transfer, EWC, MTL.

None of them grows the network. The sequential ones (fine-tuning, L2, EWC) train every
hidden weight and bias plus the new task's head for ``iterations`` steps; older heads
stay frozen. MTL trains every hidden tensor and every head seen so far on all tasks
1..t jointly (its stage draws one mini-batch per task per step).
"""

from __future__ import annotations

import torch

from den_engine.core.den import TaskContext, sparsity_event
from den_engine.core.network import ExpandableNet
from den_engine.core.training import Trainable, train_stage
from den_engine.methods.baselines import ewc


def add_task_head(net: ExpandableNet, ctx: TaskContext, n_outputs: int) -> None:
    """A new head whose bias starts at the log-odds of each output's base rate (as DEN's)."""
    net.add_head(ctx.task, n_outputs)
    rate = ctx.y.mean(dim=0).clamp(1e-3, 1 - 1e-3)
    net.heads[ctx.task][1].copy_(torch.log(rate / (1 - rate)))


def _hidden_items(net: ExpandableNet, prev: ExpandableNet | None = None, extra=None) -> list[Trainable]:
    """Every hidden tensor, anchored to ``prev``'s values when given, with EWC's gradient hook."""
    items = []
    for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        for kind, tensor in (("weight", w), ("bias", b)):
            anchor = None if prev is None else getattr(prev, "weights" if kind == "weight" else "biases")[layer]
            hook = None if extra is None else extra(f"hidden.{layer + 1}.{kind}")
            items.append(Trainable(tensor, anchor=anchor, extra_grad=hook))
    return items


def _train_sequential(net: ExpandableNet, n_outputs: int, ctx: TaskContext, stage: str, **hidden) -> ExpandableNet:
    net = net.clone()
    add_task_head(net, ctx, n_outputs)
    head_w, head_b = net.heads[ctx.task]
    items = _hidden_items(net, **hidden) + [Trainable(head_w), Trainable(head_b)]
    ctx.train(stage, net, items, ctx.config.iterations)
    ctx.emit(sparsity_event(net, ctx.task))
    return net


def train_finetune(net: ExpandableNet, n_outputs: int, ctx: TaskContext) -> ExpandableNet:
    """Fine-tuning: every hidden tensor and the new head, with weight decay only."""
    return _train_sequential(net, n_outputs, ctx, "finetune")


def train_l2(net: ExpandableNet, n_outputs: int, ctx: TaskContext) -> ExpandableNet:
    """L2-transfer: fine-tuning plus lambda/2 ||W - W^{t-1}||^2 (Trainable anchors)."""
    return _train_sequential(net, n_outputs, ctx, "l2_transfer", prev=net if ctx.task > 1 else None)


def train_ewc(net: ExpandableNet, n_outputs: int, ctx: TaskContext) -> ExpandableNet:
    """EWC: fine-tuning plus sum_i lambda/2 F_i (W - W*_i)^2; then add this task's Fisher."""
    strength = ctx.config.ewc_lambda
    state = ctx.state
    net = _train_sequential(net, n_outputs, ctx, "ewc", extra=lambda name: ewc.penalty_grad(state, name, strength))
    fisher = ewc.fisher_diagonal(net, ctx.task, ctx.x)
    ctx.state.update(ewc.accumulate(state, fisher, net))  # committed with the task
    ctx.emit(
        {
            "type": "fisher",
            "stage": "ewc",
            "mean": [float(fisher[f"hidden.{i + 1}.weight"].mean()) for i in range(net.n_layers)],
            "max": [float(fisher[f"hidden.{i + 1}.weight"].max()) for i in range(net.n_layers)],
            "penalty": ewc.penalty(ctx.state, net, strength),
        }
    )
    return net


def train_mtl(net: ExpandableNet, n_outputs: int, ctx: TaskContext) -> ExpandableNet:
    """MTL: every hidden tensor and heads 1..t trained on tasks 1..t jointly (ctx.history)."""
    net = net.clone()
    add_task_head(net, ctx, n_outputs)
    items = _hidden_items(net) + [Trainable(t) for task in sorted(net.heads) for t in net.heads[task]]
    jobs = [
        (i + 1, d.x_train.to(net.device, net.dtype), d.y_train.to(net.device, net.dtype))
        for i, d in enumerate(ctx.history)
    ]
    result = train_stage(
        "joint_training", net, ctx.task, ctx.x, ctx.y, items, ctx.settings, ctx.config.iterations,
        ctx.generator, None, ctx.on_progress, ctx.should_stop, tasks=jobs,
    )  # fmt: skip
    ctx.emit(
        {
            "type": "stage_end",
            "stage": "joint_training",
            "iterations": result.iterations,
            "loss": result.loss,
            "wall_time_s": result.wall_time_s,
            "samples_per_s": result.samples_per_s,
            "tasks": len(jobs),
        }
    )
    ctx.emit(sparsity_event(net, ctx.task))
    return net
