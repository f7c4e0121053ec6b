"""DEN's stages on tiny data: frozen means bit-identical, selection, expansion, split."""

import math

import pytest
import torch
from tiny_tasks import make_task, tiny_config

from den_engine.core import den
from den_engine.core.config import preset
from den_engine.core.den import TaskContext, select_units, train_task
from den_engine.core.network import ExpandableNet, masked_compute
from den_engine.core.training import Trainable, data_loss, train_stage


def ctx_for(task, config, seed=None, **hooks):
    x, y = make_task(task if seed is None else seed)
    return TaskContext(task, x, y, config, torch.Generator().manual_seed(100 + task), **hooks)


def two_tasks(config):
    net = ExpandableNet(5, config.hidden_sizes, torch.Generator().manual_seed(0))
    net1 = train_task(net, 1, ctx_for(1, config))
    return net1


def tensors_of(net):
    return [t.clone() for t in (*net.weights, *net.biases)]


# The L1 step mu must stay below the step size (fast: 3e-3): Adam moves a weight by about
# the step size per step, so with mu above it every weight ends at zero after task 1, no
# unit is selected, and a test of Eq. 4 or Eq. 5 passes whatever they train.
SPARSE = dict(l1_strength=1.5e-3, iterations=80)  # task 1 sparse, selection partial


def test_sparse_training_gives_exact_zeros():
    config = tiny_config(l1_strength=2e-3, iterations=150)
    net1 = two_tasks(config)
    hidden = torch.cat([w.flatten() for w in net1.weights])
    zeros = float((hidden == 0).float().mean())
    assert 0.1 < zeros < 0.6, zeros  # exact zeros, yet most weights kept
    assert all(torch.count_nonzero(w) > 0 for w in net1.weights)
    x, y = make_task(1)
    assert data_loss(net1, 1, x, y) < 0.5 * math.log(2)  # and the sparse network still fits task 1


def test_train_task_never_touches_the_callers_network():
    config = tiny_config()
    net1 = two_tasks(config)
    before = tensors_of(net1)
    train_task(net1, 1, ctx_for(2, config))
    assert all(torch.equal(a, b) for a, b in zip(before, tensors_of(net1), strict=True))


def test_eq3_trains_only_the_new_head():
    config = tiny_config()
    net1 = two_tasks(config)
    net = net1.clone()
    net.add_head(2, 1)
    before = tensors_of(net)
    den.train_new_head(net, ctx_for(2, config))
    assert all(torch.equal(a, b) for a, b in zip(before, tensors_of(net), strict=True))
    assert torch.count_nonzero(net.heads[2][0]) > 0


@pytest.mark.parametrize("pull", [True, False])
def test_frozen_entries_are_bit_identical_after_a_masked_stage(pull):
    config = tiny_config(weight_decay=1e-2, l1_strength=1e-3, l2_transfer=1.0)
    net = ExpandableNet(5, (12, 8), torch.Generator().manual_seed(0))
    net.add_head(1, 1)
    anchor = [w.clone() + 0.1 if pull else None for w in net.weights]
    masks = [torch.rand(w.shape, generator=torch.Generator().manual_seed(i)) > 0.5 for i, w in enumerate(net.weights)]
    before = [w.clone() for w in net.weights]
    items = [Trainable(w, m, a, None, l1=True) for w, m, a in zip(net.weights, masks, anchor, strict=True)]
    items.append(Trainable(net.heads[1][0]))
    x, y = make_task(3)
    train_stage("test", net, 1, x, y, items, ctx_for(1, config).settings, 30, torch.Generator().manual_seed(0))
    for w, b, m in zip(net.weights, before, masks, strict=True):
        assert torch.equal(w[~m], b[~m])  # frozen: bit-identical
        assert not torch.equal(w[m], b[m])  # trainable: moved


@pytest.mark.parametrize("masked", [False, True])
def test_weight_decay_acts_on_every_trained_tensor_as_in_plain_adam(masked):
    # A whole tensor leaves its decay to Adam's kernel; a masked one adds it itself. Both must
    # match Adam(weight_decay) on a bare copy, full batch (so only summation order differs).
    config = tiny_config(weight_decay=0.05, l1_strength=0.0, batch_size=96, lr_decay=1.0)
    net = ExpandableNet(5, (12, 8), torch.Generator().manual_seed(0))
    net.add_head(1, 1)
    tensors = [*net.weights, *net.biases, *net.heads[1]]
    copies = [t.clone().requires_grad_(True) for t in tensors]
    items = [Trainable(t, torch.ones_like(t, dtype=torch.bool) if masked else None) for t in tensors]
    x, y = make_task(3)
    train_stage("test", net, 1, x, y, items, ctx_for(1, config).settings, 5, torch.Generator().manual_seed(0))
    w1, w2, b1, b2, hw, hb = copies
    optimizer = torch.optim.Adam(copies, lr=config.learning_rate, weight_decay=0.05)
    for _ in range(5):
        logits = torch.relu(torch.relu(x @ w1.T + b1) @ w2.T + b2) @ hw.T + hb
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(logits, y).backward()
        optimizer.step()
    for t, c in zip(tensors, copies, strict=True):
        torch.testing.assert_close(t, c.detach(), rtol=0, atol=1e-6)


def test_selection_follows_nonzero_weights_breadth_first():
    net = ExpandableNet(3, (4, 3), torch.Generator().manual_seed(0))
    net.add_head(1, 1)
    net.add_head(2, 2)
    net.weights[1].zero_()
    net.weights[1][0, 1] = 0.5  # top unit 0 <- bottom unit 1
    net.weights[1][2, 3] = -0.2  # top unit 2 <- bottom unit 3 (top unit 2 not selected)
    head = torch.zeros(2, 3)
    head[1, 0] = 1.0  # only the second output uses top unit 0 (bug K2: any output counts)
    net.heads[2] = (head, torch.zeros(2))
    selected = select_units(net, 2)
    assert selected[1] == [net.units[1][0].id]
    assert selected[0] == [net.units[0][1].id]


def test_selective_retraining_changes_only_the_selected_subnetwork():
    config = tiny_config(**SPARSE)
    net1 = two_tasks(config)
    net = net1.clone()
    net.add_head(2, 1)
    selected = den.selective_retraining(net, net1, ctx_for(2, config))
    for layer in range(net.n_layers):
        sel = torch.zeros(net.weights[layer].shape[0], dtype=torch.bool)
        for uid in selected[layer]:
            sel[net.locate(uid)[1]] = True
        assert 0 < int(sel.sum()) < sel.numel(), (layer, selected)  # a real, partial selection
        assert torch.equal(net.weights[layer][~sel], net1.weights[layer][~sel])
        assert torch.equal(net.biases[layer][~sel], net1.biases[layer][~sel])
        assert not torch.equal(net.weights[layer][sel], net1.weights[layer][sel])  # Eq. 4 trained them


def test_expansion_fires_only_above_tau_and_old_weights_stay_frozen():
    config = tiny_config(loss_threshold=0.0, split_threshold=float("inf"), **SPARSE)
    net1 = two_tasks(config)
    events = []
    net2 = train_task(net1, 1, ctx_for(2, config, on_event=events.append))
    decision = next(e for e in events if e["type"] == "expansion_decision")
    assert decision["expand"] is True
    expansion = next(e for e in events if e["type"] == "expansion")
    kept = sum(len(ids) for ids in expansion["kept"])
    assert net2.sizes() == [s + len(k) for s, k in zip(net1.sizes(), expansion["kept"], strict=True)]
    assert kept + sum(len(ids) for ids in expansion["pruned"]) == 2 * config.expand_units
    # Old weights outside the selected block (selected units x selected units below) are
    # bit-identical after the whole task: Eq. 4, Eq. 5 and Eq. 6 all leave them alone.
    selected = next(e for e in events if e["type"] == "selection")["selected"]
    below, n_frozen = torch.ones(net1.input_dim, dtype=torch.bool), 0
    for layer, ids in enumerate(selected):
        assert 0 < len(ids) < len(net1.units[layer]), selected  # a real, partial selection
        rows = torch.zeros(net1.sizes()[layer], dtype=torch.bool)
        rows[[net1.locate(uid)[1] for uid in ids]] = True
        frozen = ~(rows[:, None] & below[None, :])
        old = net1.weights[layer]
        n_frozen += int(frozen.sum())
        assert torch.equal(net2.weights[layer][: old.shape[0], : old.shape[1]][frozen], old[frozen])
        assert torch.equal(net2.biases[layer][: old.shape[0]][~rows], net1.biases[layer][~rows])
        below = rows
    assert n_frozen > 0
    assert torch.equal(net2.heads[1][0], net1.heads[1][0]) and torch.equal(net2.heads[1][1], net1.heads[1][1])
    never = tiny_config(loss_threshold=float("inf"), split_threshold=float("inf"))
    events = []
    net2b = train_task(net1, 1, ctx_for(2, never, on_event=events.append))
    assert net2b.sizes() == net1.sizes()
    assert not any(e["type"] == "expansion" for e in events)


def test_units_born_at_task_2_do_not_change_task_1_outputs():
    config = tiny_config(loss_threshold=0.0, split_threshold=float("inf"), l2_transfer=0.0)
    net1 = two_tasks(config)
    net2 = train_task(net1, 1, ctx_for(2, config))
    x, _ = make_task(9)
    # with no split, task 1 changes only through retrained old weights: rebuild net2 with
    # the old weights of net1 and check the new units have no effect on task 1
    probe = net2.clone()
    for layer in range(probe.n_layers):
        rows, cols = net1.weights[layer].shape
        probe.weights[layer][:rows, :cols] = net1.weights[layer]
        probe.biases[layer][:rows] = net1.biases[layer]
    assert torch.equal(probe.forward(x, 1), net1.forward(x, 1))


def test_split_units_restore_old_tasks_and_record_pairs():
    config = tiny_config(split_threshold=0.0, loss_threshold=float("inf"), l2_transfer=0.0)
    net1 = two_tasks(config)
    events = []
    net2 = train_task(net1, 1, ctx_for(2, config, on_event=events.append))
    split = next(e for e in events if e["type"] == "split")
    drift = next(e for e in events if e["type"] == "drift")
    moved = sum(v > 0 for layer in drift["drift"] for v in layer["values"])
    assert len(split["pairs"]) == moved > 0  # sigma = 0: every unit that moved is split (bug K5)
    for pair in split["pairs"]:
        layer, i = net2.locate(pair["parent"])
        assert net2.units[layer][i].retired == 2
        assert net2.units[layer][net2.locate(pair["duplicate"])[1]].parent == pair["parent"]
        # the split original is back at its t-1 incoming weights, for task 1
        old = net1.weights[layer][i]
        assert torch.equal(net2.weights[layer][i, : old.numel()], old)


def test_drift_of_a_split_unit_is_recorded_against_sigma():
    config = tiny_config(split_threshold=0.05, loss_threshold=float("inf"))
    net1 = two_tasks(config)
    events = []
    train_task(net1, 1, ctx_for(2, config, on_event=events.append))
    drift = next(e for e in events if e["type"] == "drift")
    split = next(e for e in events if e["type"] == "split")
    over = {uid for layer in drift["drift"] for uid, v in zip(layer["ids"], layer["values"], strict=True) if v > 0.05}
    assert {p["parent"] for p in split["pairs"]} == over
    assert drift["split_threshold"] == 0.05


def test_split_cap_keeps_the_most_drifted():
    config = tiny_config(split_threshold=0.0, loss_threshold=float("inf"), max_splits_per_layer=2)
    net1 = two_tasks(config)
    events = []
    train_task(net1, 1, ctx_for(2, config, on_event=events.append))
    drift = next(e for e in events if e["type"] == "drift")["drift"]
    pairs = next(e for e in events if e["type"] == "split")["pairs"]
    for layer, record in enumerate(drift, start=1):
        chosen = {p["parent"] for p in pairs if p["layer"] == layer}
        top2 = {uid for _, uid in sorted(zip(record["values"], record["ids"], strict=True), reverse=True)[:2]}
        assert chosen == top2


def test_optimizer_holds_exactly_the_trainable_tensors(monkeypatch):
    seen = []
    original = torch.optim.Adam

    def spy(params, *args, **kwargs):
        params = list(params)
        seen.append([p for g in params for p in g["params"]] if params and isinstance(params[0], dict) else params)
        return original(params, *args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", spy)
    config = tiny_config(loss_threshold=0.0, split_threshold=0.0)
    net1 = two_tasks(config)
    with masked_compute():  # the stored tensors themselves (test_dense_path checks the dense path's)
        net2 = train_task(net1, 1, ctx_for(2, config))
    # every stage got a fresh optimizer over tensors of the network's current shapes
    assert len(seen) >= 5
    final = {id(t) for t in (*net2.weights, *net2.biases, *net2.heads[2])}
    last = seen[-1]
    assert {id(t) for t in last} <= final
    shapes = {tuple(t.shape) for t in (*net2.weights, *net2.biases, *net2.heads[2])}
    for params in seen:
        assert all(p.is_leaf for p in params)
    assert {tuple(p.shape) for p in last} <= shapes


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_divergence_is_detected(bad):
    from den_engine.core.errors import TrainingDiverged

    config = tiny_config()
    net = ExpandableNet(5, (12, 8), torch.Generator().manual_seed(0))
    x, y = make_task(1)
    x[0, 0] = bad
    with pytest.raises(TrainingDiverged):
        train_task(net, 1, TaskContext(1, x, y, config, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize(("decay_samples", "every"), [(0, 3), (96, 3), (160, 5), (10, 1)])
def test_step_size_decays_once_per_epoch_or_per_decay_samples(monkeypatch, decay_samples, every):
    rates = []
    original = torch.optim.Adam

    class Spy(original):
        def step(self, *args, **kwargs):
            rates.append(self.param_groups[0]["lr"])
            return super().step(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", Spy)
    config = tiny_config(learning_rate=0.1, lr_decay=0.5, decay_samples=decay_samples)
    net = ExpandableNet(5, config.hidden_sizes, torch.Generator().manual_seed(0))
    net.add_head(1, 1)
    x, y = make_task(1)  # 96 samples, batches of 32: an epoch is 3 steps
    ctx = TaskContext(1, x, y, config, torch.Generator().manual_seed(0))
    train_stage("s", net, 1, x, y, [Trainable(net.weights[0])], ctx.settings, 12, torch.Generator())
    assert rates == pytest.approx([0.1 * 0.5 ** (i // every) for i in range(12)])


def test_the_paper_preset_keeps_the_papers_schedule_on_smaller_data():
    config = preset("paper")
    assert config.decay_samples == 10_000 and preset("reference").decay_samples == 0
    assert TaskContext(1, *make_task(1), config, torch.Generator()).settings.decay_samples == 10_000
