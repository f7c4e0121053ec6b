"""EWC's pieces: the diagonal Fisher of a task and the running quadratic penalty.

Fisher. The *true* Fisher of the model's own predictive distribution (not the
empirical Fisher of the labels): outputs are independent Bernoullis p_k = sigmoid(z_k),
so for one sample E_{y ~ p}[(d log p(y|x) / d theta)^2] = sum_k p_k (1 - p_k) (dz_k / d theta)^2
exactly (the cross terms have zero mean) — no label sampling, no noise. For a weight
W_l[i, j] the per-sample gradient of z_k is delta_{k,i} a_j, so the squared per-sample
gradients are delta^2 (outer) a^2: one backward pass per output gives every sample's
Fisher at once. F is the mean over the task's training samples.

Penalty. sum_i lambda/2 F_i (W - W*_i)^2 over past tasks i is one quadratic,
lambda/2 (S W^2 - 2 A W + C) with S = sum F_i, A = sum F_i W*_i, C = sum F_i W*_i^2,
kept per tensor in the run state (``ewc.fisher.*``, ``ewc.anchor.*``, ``ewc.const.*``);
its gradient lambda (S W - A) is added in the training step (``Trainable.extra_grad``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from den_engine.core.network import ExpandableNet


def parameter_names(net: ExpandableNet) -> list[tuple[str, torch.Tensor]]:
    """The shared (hidden) tensors EWC protects, by their weights-file names."""
    out = []
    for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        out += [(f"hidden.{layer + 1}.weight", w), (f"hidden.{layer + 1}.bias", b)]
    return out


def _patches(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The input patches a 'same'-padded conv of kernel ``w`` reads: (batch, channels*k*k, positions)."""
    k = w.shape[-1]
    before = (k - 1) // 2  # PyTorch's 'same' padding: the odd pixel goes after
    return F.unfold(F.pad(h, (before, k - 1 - before, before, k - 1 - before)), k)


def fisher_diagonal(net: ExpandableNet, task: int, x: torch.Tensor, chunk: int = 1024) -> dict[str, torch.Tensor]:
    """Diagonal of the true Fisher of task ``task``'s outputs, per hidden tensor, mean over ``x``.

    Dense layers (the first one above conv layers reads its input flattened): a sample's gradient of a
    weight is delta (outer) a, so its square is delta^2 (outer) a^2. Conv layers: a filter's weight is
    shared by every map position, so a sample's gradient is the sum over positions of delta x patch,
    and it is that sum that is squared (not the positions' squares summed).
    """
    plan = net.plan(task)
    fisher = {name: torch.zeros_like(t) for name, t in parameter_names(net)}
    for start in range(0, x.shape[0], chunk):
        xb = net.images(x[start : start + chunk])
        with torch.enable_grad():
            inputs, pre, h = [], [], xb
            for layer, p in enumerate(plan):
                w, b = net.weights[layer][: p.n_out, : p.n_in], net.biases[layer][: p.n_out]
                if w.dim() == 4:
                    inputs.append(_patches(h, w))
                    z = F.conv2d(h, w, b, padding="same")
                else:
                    h = h.flatten(1)  # the first dense layer above conv layers reads every map position
                    inputs.append(h)
                    z = F.linear(h, w.flatten(1), b)
                z.requires_grad_(True)  # per-sample deltas are the gradients at the pre-activations
                pre.append(z)
                h = F.relu(z)
                if w.dim() == 4:
                    h = F.max_pool2d(h, 2, ceil_mode=True)
                if p.mask is not None:
                    h = h * p.mask.view(-1, *([1] * (h.dim() - 2)))
            head_w, head_b = net.heads[task]
            logits = F.linear(h, head_w, head_b)  # (batch, n_outputs)
            p_out = torch.sigmoid(logits.detach())
            weight = p_out * (1 - p_out)  # Bernoulli variance of each output
            for k in range(logits.shape[1]):
                deltas = torch.autograd.grad(logits[:, k].sum(), pre, retain_graph=k + 1 < logits.shape[1])
                for layer, (delta, a) in enumerate(zip(deltas, inputs, strict=True)):
                    name, vk = f"hidden.{layer + 1}", weight[:, k]
                    n_out, n_in = delta.shape[1], plan[layer].n_in
                    a = a.detach()
                    if delta.dim() == 4:  # conv: each sample's gradient, summed over positions, then squared
                        grad = torch.einsum("nop,nqp->noq", delta.flatten(2), a)  # (batch, filters, c*k*k)
                        target = fisher[f"{name}.weight"][:n_out, :n_in]
                        target += torch.einsum("noq,n->oq", grad.square(), vk).view_as(target)
                        fisher[f"{name}.bias"][:n_out] += delta.sum(dim=(2, 3)).square().T @ vk
                        continue
                    d2 = delta.square() * vk[:, None]  # (batch, n_out)
                    target = fisher[f"{name}.weight"][:n_out, :n_in]
                    target += (d2.T @ a.square()).view_as(target)
                    fisher[f"{name}.bias"][:n_out] += d2.sum(dim=0)
    return {name: f / max(x.shape[0], 1) for name, f in fisher.items()}


def accumulate(state: dict, fisher: dict[str, torch.Tensor], net: ExpandableNet) -> dict:
    """The run state with task's Fisher and anchor W* = the current weights added to the sums."""
    state = dict(state)
    for name, w in parameter_names(net):
        f = fisher[name]
        s, a, c = (state.get(f"ewc.{part}.{name}") for part in ("fisher", "anchor", "const"))
        state[f"ewc.fisher.{name}"] = f.clone() if s is None else s + f
        state[f"ewc.anchor.{name}"] = f * w if a is None else a + f * w
        const = (f.double() * w.double().square()).sum().reshape(1)
        state[f"ewc.const.{name}"] = const if c is None else c + const
    return state


def penalty_grad(state: dict, name: str, strength: float):
    """``extra_grad`` for tensor ``name``: lambda (S W - A), or None before any past task."""
    s, a = state.get(f"ewc.fisher.{name}"), state.get(f"ewc.anchor.{name}")
    if s is None or strength == 0:
        return None
    return lambda w: strength * (s * w - a)


def penalty(state: dict, net: ExpandableNet, strength: float) -> float:
    """The penalty's value lambda/2 (S W^2 - 2 A W + C), summed over tensors (float64)."""
    total = 0.0
    for name, w in parameter_names(net):
        s = state.get(f"ewc.fisher.{name}")
        if s is None:
            continue
        a, c = state[f"ewc.anchor.{name}"].double(), state[f"ewc.const.{name}"].double()
        w = w.double()
        total += float((s.double() * w.square() - 2 * a * w).sum() + c.sum())
    return strength / 2 * total
