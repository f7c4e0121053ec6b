"""Stage details the paper leaves open, each checked against an independent computation.

docs/algorithm.md fixes them: how the step-size schedule reaches masked and pulled
tensors, which loss (at which scale) the expansion decision compares with tau, how a new
head starts, which edges around new units Eq. 5 trains, and what counts as a unit's group
when pruning. tests/mutation/variants.py lists the wrong engines each test catches.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from tiny_tasks import ctx_for, first_task, make_task, tiny_config

from den_engine.core import den
from den_engine.core.den import TaskContext, train_task
from den_engine.core.network import ExpandableNet
from den_engine.core.training import Trainable, train_stage


def row_mask(net, layer, ids):
    mask = torch.zeros(net.weights[layer].shape[0], dtype=torch.bool)
    for uid in ids:
        mask[net.locate(uid)[1]] = True
    return mask


# --- the step-size schedule on masked and pulled tensors ------------------------------


def test_step_size_schedule_reaches_masked_and_pulled_tensors_as_in_plain_adam():
    # Full batch (batch order cannot matter), the step size halved after every step, and
    # L1 thresholds that follow it (prox_scale_with_lr): whole, masked and pulled tensors
    # must all take plain Adam's step at the current step size, then mu * lr_t / lr_0.
    lr, decay, mu, wd, lam, steps = 0.05, 0.5, 2e-3, 0.01, 1.0, 6
    config = tiny_config(
        learning_rate=lr, lr_decay=decay, batch_size=96, l1_strength=mu, weight_decay=wd, l2_transfer=lam,
        group_lasso=0.0, prox_scale_with_lr=True,
    )  # fmt: skip
    net = ExpandableNet(5, (12, 8), torch.Generator().manual_seed(0))
    net.add_head(1, 1)
    g = torch.Generator().manual_seed(1)
    net.heads[1][0].copy_(torch.randn(1, 8, generator=g))
    w1, w2 = net.weights
    b1, b2 = net.biases
    hw, hb = net.heads[1]
    mask = torch.rand(w2.shape, generator=g) > 0.3
    anchor = b1 + 0.2 * torch.randn(b1.shape, generator=g)
    ref = [t.clone().requires_grad_(True) for t in (w1, w2, b1, hw, hb)]
    fixed_b2 = b2.clone()
    items = [
        Trainable(w1, l1=True),  # whole: Adam's own weight decay
        Trainable(w2, mask, l1=True),  # masked
        Trainable(b1, anchor=anchor.clone()),  # pulled toward ``anchor``
        Trainable(hw, l1=True),
        Trainable(hb),
    ]
    x, y = make_task(3)
    settings = TaskContext(1, x, y, config, torch.Generator()).settings
    train_stage("test", net, 1, x, y, items, settings, steps, torch.Generator().manual_seed(0))

    rw1, rw2, rb1, rhw, rhb = ref
    optimizer = torch.optim.Adam(ref, lr=lr)
    for step in range(steps):
        rate = lr * decay**step
        for group in optimizer.param_groups:
            group["lr"] = rate
        logits = torch.relu(torch.relu(x @ rw1.T + rb1) @ rw2.T + fixed_b2) @ rhw.T + rhb
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(logits, y).backward()
        with torch.no_grad():
            for p in ref:
                p.grad += wd * p
            rb1.grad += lam * (rb1 - anchor)
            rw2.grad *= mask
            optimizer.step()
            threshold = mu * rate / lr
            for p in (rw1, rhw):
                p.copy_(F.softshrink(p, threshold))
            rw2.copy_(torch.where(mask, F.softshrink(rw2, threshold), rw2))
    for name, t, r in zip(
        ("w1", "w2 (masked)", "b1 (pulled)", "head w", "head b"), (w1, w2, b1, hw, hb), ref, strict=True
    ):
        torch.testing.assert_close(t, r.detach(), rtol=0, atol=1e-6, msg=name)
    assert torch.equal(b2, fixed_b2)


# --- the expansion decision -------------------------------------------------------------


def test_expansion_compares_the_mean_data_loss_after_eq4_with_tau(monkeypatch):
    outputs = 3  # the loss is averaged over samples *and* outputs (docs/algorithm.md)
    config = tiny_config(split_threshold=float("inf"))
    net1 = first_task(config, outputs)
    after_eq4 = {}
    original = den.selective_retraining

    def spy(net, prev, ctx):
        selected = original(net, prev, ctx)
        after_eq4["net"] = net.clone()
        return selected

    monkeypatch.setattr(den, "selective_retraining", spy)

    def decide(tau):
        events = []
        train_task(net1, outputs, ctx_for(2, config.replace(loss_threshold=tau), events, outputs))
        decision = next(e for e in events if e["type"] == "expansion_decision")
        return decision, any(e["type"] == "expansion" for e in events)

    decision, expanded = decide(float("inf"))
    assert not expanded
    ctx = ctx_for(2, config, outputs=outputs)
    with torch.no_grad():
        p = torch.sigmoid(after_eq4["net"].forward(ctx.x, 2).double())
    y = ctx.y.double()
    oracle = float(-(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean())  # whole split, every output
    assert decision["loss"] == pytest.approx(oracle, rel=1e-5)
    # the same run, tau just below and just above that loss: expansion follows the oracle
    for tau, expected in ((oracle * 0.98, True), (oracle * 1.02, False)):
        decision, expanded = decide(tau)
        assert decision["expand"] is expected and expanded is expected, (tau, decision)


# --- the new head -----------------------------------------------------------------------


def task_with_rates(seed, positives, n=96):
    """A task whose output j has exactly ``positives[j]`` positive samples of ``n``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = torch.zeros(n, len(positives))
    for j, k in enumerate(positives):
        y[torch.randperm(n, generator=g)[:k], j] = 1.0
    return x, y


def test_a_new_head_starts_at_zero_weights_and_each_outputs_log_odds(monkeypatch):
    config = tiny_config(loss_threshold=float("inf"), split_threshold=float("inf"))
    starts = {}

    def spy_on(original):
        def spy(net, ctx):
            weight, bias = net.heads[ctx.task]
            starts[ctx.task] = (weight.clone(), bias.clone(), net.visible(net.n_layers - 1, ctx.task))
            return original(net, ctx)

        return spy

    for name in ("sparse_training", "train_new_head"):  # the first stage that trains each head
        monkeypatch.setattr(den, name, spy_on(getattr(den, name)))
    positives = {1: [0, 12, 48, 90, 96], 2: [30, 3, 96, 0, 60]}  # 0 and 96 hit the 1e-3 clamp
    net = ExpandableNet(5, config.hidden_sizes, torch.Generator().manual_seed(0))
    for task in (1, 2):
        x, y = task_with_rates(task, positives[task])
        net = train_task(net, 5, TaskContext(task, x, y, config, torch.Generator().manual_seed(task)))
    for task, counts in positives.items():
        weight, bias, width = starts[task]
        assert weight.shape == (5, width) and torch.count_nonzero(weight) == 0
        rates = [min(max(k / 96, 1e-3), 1 - 1e-3) for k in counts]
        assert bias.tolist() == pytest.approx([math.log(r / (1 - r)) for r in rates], rel=1e-5)


# --- Eq. 5: the edges around new units ----------------------------------------------------


def test_eq5_trains_exactly_the_edges_around_new_units(monkeypatch):
    # No L1 and no group lasso: no entry is zeroed and no unit pruned, so Eq. 5's result can
    # be compared entry by entry with the network right after expansion.
    config = tiny_config(loss_threshold=0.0, l1_strength=0.0, group_lasso=0.0, weight_decay=1e-3)
    net1 = first_task(tiny_config())
    net = net1.clone()
    net.add_head(2, 1)
    ctx = ctx_for(2, config)
    den.train_new_head(net, ctx)
    grown = {}
    original = ExpandableNet.expand

    def spy(self, task, k, generator):
        grown["added"] = original(self, task, k, generator)
        grown["net"] = self.clone()
        return grown["added"]

    monkeypatch.setattr(ExpandableNet, "expand", spy)
    kept = den.dynamic_expansion(net, ctx)
    before, added = grown["net"], grown["added"]
    assert kept == added
    new_below = torch.zeros(net.input_dim, dtype=torch.bool)  # inputs are never new
    for layer in range(net.n_layers):
        new = row_mask(before, layer, added[layer])
        # documented edge set: a new unit's incoming weights from every unit below (old and
        # new), and a new unit's outgoing weights into every unit above (old and new)
        edges = new[:, None] | new_below[None, :]
        w0, w = before.weights[layer], net.weights[layer]
        assert w.shape == w0.shape
        assert torch.equal(w[~edges], w0[~edges]), layer  # everything else: bit-identical
        moved = w != w0
        blocks = {
            "new units from old units below": new[:, None] & ~new_below[None, :],
            "new units from new units below": new[:, None] & new_below[None, :],
            "old units from new units below": ~new[:, None] & new_below[None, :],
        }
        for what, block in blocks.items():
            assert not block.any() or moved[block].any(), (layer, what)
        assert torch.equal(net.biases[layer][~new], before.biases[layer][~new])
        assert not torch.equal(net.biases[layer][new], before.biases[layer][new]), layer
        new_below = new
    head, head0 = net.heads[2][0], before.heads[2][0]
    assert not torch.equal(head[:, ~new_below], head0[:, ~new_below])  # the current head: old columns
    assert not torch.equal(head[:, new_below], head0[:, new_below])  # and the new units' columns
    assert torch.equal(net.heads[1][0], net1.heads[1][0]) and torch.equal(net.heads[1][1], net1.heads[1][1])


# --- pruning: what a unit's group is ----------------------------------------------------


def test_pruning_removes_exactly_the_new_units_whose_weights_and_bias_are_zero(monkeypatch):
    config = tiny_config(loss_threshold=0.0, expand_units=4)
    net1 = first_task(config)
    net = net1.clone()
    net.add_head(2, 1)
    events = []
    ctx = ctx_for(2, config, events)
    den.train_new_head(net, ctx)
    x, _ = make_task(9)
    old_unit = net.units[0][0].id
    seen = {"dead": []}

    def fake_eq5(self, stage, net, items, iterations, groups=None):
        """Instead of training, leave the new units in every state pruning must tell apart."""
        for layer in range(net.n_layers):
            ids = [u.id for u in net.units[layer] if u.born == 2]
            a, b, c, d = (net.locate(uid)[1] for uid in ids)
            above = net.weights[layer + 1] if layer + 1 < net.n_layers else net.heads[2][0]
            above[:, [a, b, c, d]] = 0.5  # every new unit feeds the layer above
            net.weights[layer][[a, b, d]] = 0.0
            net.biases[layer][[a, d]] = 0.0  # a, d: the whole group is zero (d also feeds above)
            net.biases[layer][b] = 0.3  # zero weights but ReLU(0.3) > 0 reaches the layer above
            net.biases[layer][c] = 0.0  # non-zero weights, zero bias
            seen["dead"].append([ids[0], ids[3]])
        net.weights[0][0] = 0.0  # an old unit with a zero group is not Eq. 5's to remove
        net.biases[0][0] = 0.0
        seen["out"], seen["sizes"] = net.forward(x, 2).clone(), net.sizes()

    monkeypatch.setattr(TaskContext, "train", fake_eq5)
    kept = den.dynamic_expansion(net, ctx)
    assert next(e for e in events if e["type"] == "expansion")["pruned"] == seen["dead"]
    assert [len(ids) for ids in kept] == [2, 2]
    assert net.sizes() == [n - 2 for n in seen["sizes"]]
    assert net.units[0][0].id == old_unit
    torch.testing.assert_close(net.forward(x, 2), seen["out"], rtol=0, atol=1e-6)  # pruning changes no output
