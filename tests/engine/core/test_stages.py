"""Each DEN stage checked against the paper's equations, one property per test.

Every test here is aimed at a wrong variant a re-implementation could write; the list
of variants and the check that each one fails lives in tests/mutation/.
"""

import pytest
import torch
from tiny_tasks import ctx_for, first_task, make_task, tiny_config

from den_engine.core import den, training
from den_engine.core.config import preset
from den_engine.core.den import TaskContext, train_task
from den_engine.core.training import Group, StageSettings, Trainable, group_shrink_


def stage_ends(events):
    return {e["stage"]: e for e in events if e["type"] == "stage_end"}


def test_eq6_runs_after_every_task_even_when_nothing_splits():
    config = tiny_config(split_threshold=float("inf"), loss_threshold=float("inf"))
    net1 = first_task(config)
    events = []
    train_task(net1, 1, ctx_for(2, config, events))
    assert next(e for e in events if e["type"] == "split")["pairs"] == []
    assert stage_ends(events)["split_retraining"]["iterations"] == config.iterations


def test_eq6_moves_the_selected_units_when_nothing_splits(monkeypatch):
    config = tiny_config(split_threshold=float("inf"), loss_threshold=float("inf"))
    net1 = first_task(config)
    after_eq4 = {}
    original = den.split_units

    def spy(net, prev, ctx, touched):
        after_eq4["w"] = [w.clone() for w in net.weights]
        return original(net, prev, ctx, touched)

    monkeypatch.setattr(den, "split_units", spy)
    net2 = train_task(net1, 1, ctx_for(2, config))
    assert any(not torch.equal(a, b) for a, b in zip(after_eq4["w"], net2.weights, strict=True))


def test_every_stage_gets_its_full_budget():
    config = tiny_config(loss_threshold=0.0, split_threshold=0.0)
    events = []
    train_task(first_task(config), 1, ctx_for(2, config, events))
    budgets = {stage: e["iterations"] for stage, e in stage_ends(events).items()}
    assert budgets == {
        "train_head": config.head_iterations,  # Eq. 3 gets a real budget (bug K1: one step)
        "selective_retraining": config.iterations,
        "expansion": config.iterations,
        "split_retraining": config.iterations,
    }


def test_eq3_with_l1_leaves_exact_zeros_in_the_new_head():
    config = tiny_config(l1_strength=1e-3, head_iterations=60)
    net = first_task(config).clone()
    net.add_head(2, 1)
    den.train_new_head(net, ctx_for(2, config))
    head = net.heads[2][0]
    assert 0 < int(torch.count_nonzero(head)) < head.numel()


def fixed_selection(net, fraction=0.5):
    """Ids of the first ``fraction`` of each layer's active units (a partial selection)."""
    ids = [net.active_ids(layer, 2) for layer in range(net.n_layers)]
    return [layer_ids[: max(1, int(len(layer_ids) * fraction))] for layer_ids in ids]


def row_mask(net, layer, ids):
    mask = torch.zeros(net.weights[layer].shape[0], dtype=torch.bool)
    for uid in ids:
        mask[net.locate(uid)[1]] = True
    return mask


def run_eq4(monkeypatch, config, selection=None, first=None):
    """Eq. 3 then Eq. 4 of task 2 with a chosen selection; (net1, head after Eq. 3, net, selection)."""
    net1 = first_task(first or config)
    net = net1.clone()
    net.add_head(2, 1)
    seen = {}

    def choose(n, task):
        seen["head"] = n.heads[task][0].clone()
        seen["selection"] = selection or fixed_selection(n)
        return seen["selection"]

    monkeypatch.setattr(den, "select_units", choose)
    den.selective_retraining(net, net1, ctx_for(2, config))
    return net1, seen["head"], net, seen["selection"]


def test_eq4_trains_exactly_the_block_between_selected_units(monkeypatch):
    net1, head, net, selection = run_eq4(monkeypatch, tiny_config(l1_strength=0.0))
    below = torch.ones(net.input_dim, dtype=torch.bool)  # layer 1 takes every input
    for layer in range(net.n_layers):
        rows = row_mask(net, layer, selection[layer])
        block = rows[:, None] & below[None, :]
        assert torch.equal(net.weights[layer][~block], net1.weights[layer][~block]), layer
        assert not torch.equal(net.weights[layer][block], net1.weights[layer][block]), layer
        assert torch.equal(net.biases[layer][~rows], net1.biases[layer][~rows])
        below = rows
    assert torch.equal(net.heads[2][0][:, ~below], head[:, ~below])  # unselected top units stay out
    assert torch.equal(net.heads[1][0], net1.heads[1][0])


def test_eq4_l1_leaves_biases_alone(monkeypatch):
    config = tiny_config(l1_strength=10.0, weight_decay=0.0)
    net1, _, net, selection = run_eq4(monkeypatch, config, first=tiny_config())
    below = torch.ones(net.input_dim, dtype=torch.bool)
    for layer in range(net.n_layers):
        rows = row_mask(net, layer, selection[layer])
        block = rows[:, None] & below[None, :]
        assert torch.count_nonzero(net.weights[layer][block]) == 0  # a huge L1 step zeroes every weight
        below = rows
        assert torch.count_nonzero(net.biases[layer][rows]) == torch.count_nonzero(net1.biases[layer][rows]) > 0


def distance(net, prev):
    return sum(
        float(torch.linalg.vector_norm(w[: p.shape[0], : p.shape[1]] - p))
        for w, p in zip(net.weights, prev.weights, strict=True)
    )


def test_eq4_pulls_retrained_weights_toward_their_previous_values(monkeypatch):
    moved = {}
    for l2 in (0.0, 200.0):
        net1, _, net, _ = run_eq4(monkeypatch, tiny_config(l2_transfer=l2))
        moved[l2] = distance(net, net1)
    assert moved[200.0] < 0.5 * moved[0.0], moved


def test_eq6_pulls_old_weights_toward_their_previous_values(monkeypatch):
    config = tiny_config(split_threshold=float("inf"), loss_threshold=float("inf"))
    net1, _, net, selection = run_eq4(monkeypatch, config.replace(l2_transfer=200.0))
    moved = {}
    for l2 in (0.0, 200.0):
        copy = net.clone()
        den.split_units(copy, net1, ctx_for(2, config.replace(l2_transfer=l2)), selection)
        moved[l2] = distance(copy, net)  # how far Eq. 6 alone moved the old weights
    assert moved[200.0] < 0.5 * moved[0.0], moved


def test_drift_is_the_l2_norm_of_each_units_incoming_change(monkeypatch):
    net1, _, net, selection = run_eq4(monkeypatch, tiny_config())
    for layer, record in enumerate(den.measure_drift(net, net1, 2)):
        for uid, value in zip(record["ids"], record["values"], strict=True):
            i = net.locate(uid)[1]
            old = net1.weights[layer][i]
            expected = float(torch.linalg.vector_norm(net.weights[layer][i, : old.numel()] - old))
            assert value == pytest.approx(expected, rel=1e-6, abs=1e-9)
        assert any(v > 0 for v in record["values"])


def test_split_keeps_every_output_until_eq6_and_gives_old_tasks_the_originals(monkeypatch):
    config = tiny_config(split_threshold=0.0, loss_threshold=float("inf"), l2_transfer=0.0)
    net1, _, net, selection = run_eq4(monkeypatch, config, selection=None)
    eq4 = net.clone()
    stages = []
    monkeypatch.setattr(TaskContext, "train", lambda self, stage, *args, **kwargs: stages.append(stage))
    ctx = ctx_for(2, config, events := [])
    den.split_units(net, net1, ctx, selection)
    assert stages == ["split_retraining"]
    pairs = next(e for e in events if e["type"] == "split")["pairs"]
    assert pairs
    probe = eq4.clone()  # what old tasks must see: Eq. 4's weights with every split unit restored
    for pair in pairs:
        layer, i = net.locate(pair["parent"])
        j = net.locate(pair["duplicate"])[1]
        old = net1.weights[layer][i]
        assert net.units[layer][i].retired == 2 and net.units[layer][j].parent == pair["parent"]
        assert torch.equal(net.weights[layer][i, : old.numel()], old)  # original: t-1 weights
        assert torch.equal(net.biases[layer][i], net1.biases[layer][i])
        assert torch.equal(net.weights[layer][j, : eq4.weights[layer].shape[1]], eq4.weights[layer][i])  # K4
        assert torch.equal(net.biases[layer][j], eq4.biases[layer][i])  # K6
        probe.weights[layer][i, : old.numel()] = old
        probe.biases[layer][i] = net1.biases[layer][i]
    x, _ = make_task(9)
    torch.testing.assert_close(net.forward(x, 2), eq4.forward(x, 2), rtol=0, atol=1e-5)
    torch.testing.assert_close(net.forward(x, 1), probe.forward(x, 1), rtol=0, atol=1e-5)


def test_eq5_trains_only_new_weights_and_old_heads_never_change():
    config = tiny_config(loss_threshold=0.0, group_lasso=1e-3)
    net1 = first_task(config)
    net = net1.clone()
    net.add_head(2, 1)
    ctx = ctx_for(2, config)
    den.train_new_head(net, ctx)
    before = net.clone()
    loss_before = den.data_loss(net, 2, ctx.x, ctx.y)
    kept = den.dynamic_expansion(net, ctx)
    assert any(kept)
    for layer in range(net.n_layers):
        rows, cols = before.weights[layer].shape
        assert torch.equal(net.weights[layer][:rows, :cols], before.weights[layer])  # old block frozen
        assert torch.equal(net.biases[layer][:rows], before.biases[layer])
    assert torch.equal(net.heads[1][0], net1.heads[1][0]) and torch.equal(net.heads[1][1], net1.heads[1][1])
    x, _ = make_task(9)
    assert torch.equal(net.forward(x, 1), net1.forward(x, 1))  # task 1 never sees the new units
    assert den.data_loss(net, 2, ctx.x, ctx.y) < loss_before  # the new units learned something


def test_eq5_prunes_every_unit_whose_group_reached_zero():
    config = tiny_config(loss_threshold=0.0, group_lasso=10.0)
    net1 = first_task(config)
    net = net1.clone()
    net.add_head(2, 1)
    events = []
    ctx = ctx_for(2, config, events)
    den.train_new_head(net, ctx)
    kept = den.dynamic_expansion(net, ctx)
    pruned = next(e for e in events if e["type"] == "expansion")["pruned"]
    assert kept == [[], []] and [len(p) for p in pruned] == [config.expand_units] * 2
    assert net.sizes() == net1.sizes()
    assert [tuple(w.shape) for w in net.weights] == [tuple(w.shape) for w in net1.weights]
    assert net.heads[2][0].shape[1] == net1.sizes()[-1]


# --- the proximal steps -------------------------------------------------------------


def batched_shrink(group: Group, amount: float) -> None:
    """The stage's path: groups of consecutive rows shrunk together, in place through views."""
    shrink = training._GroupShrink([group])
    assert not shrink.others  # consecutive rows: the batched path, not group_shrink_
    shrink(amount)


@pytest.mark.parametrize("shrink", [group_shrink_, batched_shrink])
def test_group_lasso_shrinks_each_unit_by_its_own_norm(shrink):
    w = torch.tensor([[3.0, 4.0], [0.03, 0.04], [1.0, 0.0]])
    b = torch.zeros(3)
    shrink(Group(w, b, torch.tensor([0, 1])), 0.1)
    assert w[0].tolist() == pytest.approx([3.0 * 0.98, 4.0 * 0.98])  # norm 5: scaled by 1 - 0.1 / 5
    assert w[1].tolist() == [0.0, 0.0]  # norm 0.05 < 0.1: the whole unit is zero
    assert w[2].tolist() == [1.0, 0.0]  # not a group: untouched


def one_prox_step(weight, bias, lr_now, **settings):
    """One step with a zero gradient, so only the proximal steps move the tensors."""
    weight.grad = torch.zeros_like(weight)
    optimizer = torch.optim.Adam([weight], lr=lr_now)
    values = dict(learning_rate=0.1, lr_decay=1.0, batch_size=1, weight_decay=0.0, l2_transfer=0.0)
    values.update(settings)
    items = training._prepare([Trainable(weight, l1=True)], 0.0, 0.0)
    shrink = training._GroupShrink([Group(weight, bias, torch.tensor([0]))])
    training._step(optimizer, items, shrink, StageSettings(**values))


def test_l1_runs_before_group_lasso_within_a_step():
    w, b = torch.tensor([[0.2]]), torch.tensor([1.0])
    one_prox_step(w, b, 0.1, l1_strength=0.1, group_lasso=0.5)
    # L1 first: w 0.2 -> 0.1; then the group (0.1, 1.0) shrinks by 1 - 0.5 / ||(0.1, 1.0)||.
    scale = 1 - 0.5 / (0.1**2 + 1.0) ** 0.5
    assert float(w) == pytest.approx(0.1 * scale) and float(b) == pytest.approx(scale)


@pytest.mark.parametrize(("follow", "factor"), [(False, 1.0), (True, 0.25)])
def test_proximal_thresholds_follow_the_step_size_when_asked(follow, factor):
    w, b = torch.tensor([[0.5]]), torch.tensor([0.0])
    one_prox_step(w, b, 0.025, l1_strength=0.1, group_lasso=0.0, prox_scale_with_lr=follow)
    assert float(w) == pytest.approx(0.5 - 0.1 * factor)  # lr 0.025 of 0.1: a quarter of mu
    w, b = torch.tensor([[0.0]]), torch.tensor([2.0])
    one_prox_step(w, b, 0.025, l1_strength=0.0, group_lasso=0.4, prox_scale_with_lr=follow)
    assert float(b) == pytest.approx(2.0 - 0.4 * factor)


def test_the_paper_preset_scales_its_proximal_steps():
    config = preset("paper")
    assert config.prox_scale_with_lr and not preset("fast").prox_scale_with_lr
    assert TaskContext(1, *make_task(1), config, torch.Generator()).settings.prox_scale_with_lr
