"""Conv layers in the expandable network: DEN's steps with a filter as the unit.

Tiny images (1 x 6 x 6, 3 x 3 kernels) keep every test to a second or two. Each test is
aimed at a wrong variant listed in tests/mutation/variants.py (the "conv-" entries).
"""

import pytest
import torch
import torch.nn.functional as F

from den_engine.core import den, training
from den_engine.core.config import preset
from den_engine.core.den import TaskContext, train_task
from den_engine.core.errors import ConfigError
from den_engine.core.network import ExpandableNet, masked_compute
from den_engine.core.training import Group, group_shrink_

SHAPE = (1, 6, 6)
DIM = 36


def conv_config(**overrides):
    values = dict(conv_channels=(3, 4), kernel_size=3, hidden_sizes=(6,), iterations=30, head_iterations=20)
    values.update(batch_size=32, seed=0, expand_units=2, expand_filters=2)
    values.update(overrides)
    return preset("fast", **values)


def conv_net(config, seed=0):
    conv = dict(conv_channels=config.conv_channels, kernel_size=config.kernel_size, input_shape=SHAPE)
    return ExpandableNet(DIM, config.hidden_sizes, torch.Generator().manual_seed(seed), **conv)


def task_data(task, n=96):
    g = torch.Generator().manual_seed(task)
    x = torch.rand(n, DIM, generator=g)
    images = x.view(n, 6, 6)
    # a label that needs space: is the left half brighter than the right (flipped per task)
    y = ((images[:, :, :3].sum((1, 2)) > images[:, :, 3:].sum((1, 2))) ^ bool(task % 2)).float()[:, None]
    return x, y


def ctx_for(task, config, events=None):
    x, y = task_data(task)
    hook = None if events is None else events.append
    return TaskContext(task, x, y, config, torch.Generator().manual_seed(100 + task), on_event=hook)


def two_tasks(**overrides):
    """A conv net after tasks 1 and 2 (expansion forced, nothing pruned), and after task 1."""
    config = conv_config(loss_threshold=0.0, group_lasso=0.0, split_threshold=float("inf"), **overrides)
    net1 = train_task(conv_net(config), 1, ctx_for(1, config))
    return net1, train_task(net1, 1, ctx_for(2, config))


def test_forward_is_a_plain_conv_net():
    net = conv_net(conv_config())
    net.add_head(1, 1)
    net.heads[1][0].normal_(generator=torch.Generator().manual_seed(1))
    x = task_data(1)[0]
    h = x.view(-1, *SHAPE)
    for w, b in zip(net.weights[:2], net.biases[:2], strict=True):
        h = F.max_pool2d(F.relu(F.conv2d(h, w, b, padding=1)), 2, ceil_mode=True)
    assert h.shape[1:] == (4, 2, 2)  # 6 -> 3 -> 2: small images survive two conv layers
    h = F.relu(h.flatten(1) @ net.weights[2].flatten(1).T + net.biases[2])
    expected = h @ net.heads[1][0].T + net.heads[1][1]
    assert torch.allclose(net.forward(x, 1), expected, atol=1e-6)
    with masked_compute():
        assert torch.allclose(net.forward(x, 1), expected, atol=1e-6)


def test_conv_on_inputs_that_are_not_images_is_a_config_error():
    with pytest.raises(ConfigError, match="conv_channels"):
        ExpandableNet(2, (4,), conv_channels=(3,), input_shape=(2,))


def test_a_filter_born_at_task_2_changes_only_tasks_from_2_on():
    _, net = two_tasks()
    assert [len(u) for u in net.units][:2] == [5, 6]  # 2 filters added to each conv layer
    x = task_data(3)[0]
    before = {t: net.forward(x, t) for t in (1, 2)}
    g = torch.Generator().manual_seed(7)
    for layer in (0, 1):
        born_2 = [i for i, u in enumerate(net.units[layer]) if u.born == 2]
        i = born_2[0]
        net.weights[layer][i] = torch.randn(net.weights[layer][i].shape, generator=g)
        net.biases[layer][i] = 1.0
        nxt = net.weights[layer + 1]
        nxt[:, i] = torch.randn(nxt[:, i].shape, generator=g)  # every unit above reads it
    for compute in (False, True):
        with masked_compute(compute):
            assert torch.equal(net.forward(x, 1), before[1])  # task 1 never sees a filter born after it
            assert not torch.allclose(net.forward(x, 2), before[2])


def test_selection_follows_nonzero_kernels_through_every_conv_layer():
    net = conv_net(conv_config(conv_channels=(4, 4), hidden_sizes=(5,)))
    for w in net.weights:
        w.zero_()
    net.add_head(1, 1)
    net.add_head(2, 1)
    head, dense, conv2, conv1 = net.heads[2][0], net.weights[2], net.weights[1], net.weights[0]
    head[0, [0, 2]] = 1.0  # top units 0 and 2 matter for task 2
    dense[0, 1, 3] = 0.5  # unit 0 reads filter 1 at the last position of its map only
    dense[2, 3, 0] = 0.5  # unit 2 reads filter 3 at the first position
    dense[1, 0, :] = 0.5  # unit 1 is not selected: what it reads does not count
    conv2[1, 0, 2, 2] = 0.5  # filter 1 reads channel 0 through one corner tap
    conv2[3, 2, 0, 1] = 0.5  # filter 3 reads channel 2 through another tap
    conv2[0, 1, 1, 1] = 0.5  # filter 0 is not selected
    conv1[:, 0, 1, 1] = 0.5  # every first-layer filter reads the image
    selected = den.select_units(net, 2)
    ids = [[u.id for u in units] for units in net.units]
    assert selected == [[ids[0][0], ids[0][2]], [ids[1][1], ids[1][3]], [ids[2][0], ids[2][2]]]


def test_eq4_trains_selected_kernels_over_selected_channels_only(monkeypatch):
    config = conv_config(l1_strength=0.0)
    net1 = train_task(conv_net(config), 1, ctx_for(1, config))
    net = net1.clone()
    net.add_head(2, 1)
    ids = [[u.id for u in units] for units in net.units]
    selection = [[ids[0][0], ids[0][2]], [ids[1][1], ids[1][3]], [ids[2][1], ids[2][4]]]
    monkeypatch.setattr(den, "select_units", lambda n, task: selection)
    den.selective_retraining(net, net1, ctx_for(2, config))
    below = torch.ones(1, dtype=torch.bool)  # the first conv layer reads the one image channel
    for layer, chosen in enumerate(selection):
        rows = torch.tensor([u.id in chosen for u in net.units[layer]])
        block = rows[:, None] & below[None, :]
        block = block.view(*block.shape, *[1] * (net.weights[layer].dim() - 2)).expand_as(net.weights[layer])
        assert torch.equal(net.weights[layer][~block], net1.weights[layer][~block]), layer  # bit-identical
        assert not torch.equal(net.weights[layer][block], net1.weights[layer][block]), layer
        assert torch.equal(net.biases[layer][~rows], net1.biases[layer][~rows])
        below = rows
    assert torch.equal(net.heads[1][0], net1.heads[1][0])


def batched_shrink(group: Group, amount: float) -> None:
    """The stage's path: groups of consecutive rows shrunk together, in place through views."""
    shrink = training._GroupShrink([group])
    assert not shrink.others  # consecutive filters: the batched path, not group_shrink_
    shrink(amount)


@pytest.mark.parametrize("shrink", [group_shrink_, batched_shrink])
def test_group_lasso_shrinks_each_new_filter_by_its_own_kernel_and_bias(shrink):
    w = torch.zeros(3, 2, 2, 2)
    w[0, 0, 0, 0], w[0, 1, 1, 1] = 3.0, 4.0  # kernel norm 5
    w[1, 1, 0, 1] = 0.03
    w[2] = 1.0
    b = torch.tensor([0.0, 0.04, 0.0])  # filter 1: kernel and bias together have norm 0.05
    shrink(Group(w, b, torch.tensor([0, 1])), 0.1)
    assert float(w[0, 0, 0, 0]) == pytest.approx(3.0 * 0.98) and float(w[0, 1, 1, 1]) == pytest.approx(4.0 * 0.98)
    assert float(w[1].abs().sum()) == 0.0 and float(b[1]) == 0.0  # the whole filter reached zero: pruned later
    assert torch.equal(w[2], torch.ones(2, 2, 2))  # an old filter is no group


def test_expansion_prunes_filters_whose_group_is_zero_everywhere():
    config = conv_config(loss_threshold=0.0, group_lasso=10.0, split_threshold=float("inf"))
    net1 = train_task(conv_net(config), 1, ctx_for(1, config))
    events = []
    net = train_task(net1, 1, ctx_for(2, config, events))
    expansion = next(e for e in events if e["type"] == "expansion")
    assert [len(p) for p in expansion["pruned"]] == [2, 2, 2]  # so strong a gamma zeroes every group
    assert [w.shape[:2] for w in net.weights] == [w.shape[:2] for w in net1.weights]


def test_drift_of_a_filter_is_the_norm_of_its_kernel_and_bias_change():
    config = conv_config(conv_channels=(4, 4))
    prev = conv_net(config)
    net = prev.clone()
    net.weights[1][1, 0, 0, 0] += 0.3
    net.weights[1][1, 3, 2, 1] -= 0.4  # filter 1: kernel moved by 0.5
    net.biases[1][2] += 0.2  # filter 2: only its bias moved
    net.weights[1][0, 2, 1, 1] += 0.01  # filter 0: a little
    drift = den.measure_drift(net, prev, 1)
    assert drift[1]["values"] == pytest.approx([0.01, 0.5, 0.2, 0.0], abs=1e-6)
    assert drift[0]["values"] == [0.0] * 4 and drift[2]["values"] == [0.0] * 6


def test_split_filter_gives_old_tasks_the_original_and_keeps_every_output():
    _, net = two_tasks()
    prev = net.clone()
    x = task_data(3)[0]
    net.add_head(3, 1)
    net.heads[3][0].normal_(generator=torch.Generator().manual_seed(3))
    before = {t: net.forward(x, t) for t in (1, 2, 3)}
    drifted = net.weights[1][0] + 0.5  # filter 0 of conv layer 2 (born at task 1) drifts during task 3
    net.weights[1][0] = drifted
    dup = net.split(net.units[1][0].id, 3, prev.weights[1][0], prev.biases[1][0])
    assert torch.equal(net.weights[1][0], prev.weights[1][0])  # the original is restored for tasks 1, 2
    assert torch.equal(net.weights[1][net.locate(dup)[1]], drifted)  # the duplicate carries the drift
    for t in (1, 2):
        assert torch.equal(net.forward(x, t), before[t])
    changed = net.forward(x, 3)
    assert not torch.allclose(changed, before[3])  # task 3 reads the drifted duplicate


def test_presets_keep_their_mlp_values_and_add_conv_ones_only_when_asked():
    assert preset("paper").conv_channels == () and preset("paper").hidden_sizes == (312, 128)
    paper = preset("paper", conv_channels=(20, 50))
    assert paper.hidden_sizes == (800, 500) and paper.kernel_size == 5
    assert preset("paper", conv_channels=(20, 50), hidden_sizes=(100,)).hidden_sizes == (100,)
    assert preset("fast").run_id() == preset("fast").replace(conv_channels=()).run_id()
    fast = preset("fast", benchmark="mnist-variation", conv_channels=(8, 16))
    assert fast.hidden_sizes == (64,) and fast.batch_size == 64


def test_conv_stages_run_on_the_gathered_path_and_match_the_masked_one():
    config = conv_config(loss_threshold=0.0, split_threshold=5e-4)
    runs = {}
    for masked in (False, True):
        before = dict(training.PATHS)
        with masked_compute(masked):
            net = train_task(conv_net(config), 1, ctx_for(1, config))
            events = []
            net = train_task(net, 1, ctx_for(2, config, events))
        path = "masked" if masked else "dense"
        assert training.PATHS[path] - before[path] == 5  # no stage fell back to the other path
        runs[masked] = (net, events)
    (dense, dense_events), (masked, masked_events) = runs[False], runs[True]
    assert dense.registry() == masked.registry()
    pairs = next(e for e in dense_events if e["type"] == "split")["pairs"]
    other = next(e for e in masked_events if e["type"] == "split")["pairs"]
    # the same filters split into the same duplicates; the drifts agree to float rounding (with two threads the
    # two paths' convolution gradients sum in another order)
    assert pairs and [{**p, "drift": None} for p in pairs] == [{**p, "drift": None} for p in other]
    assert [p["drift"] for p in pairs] == pytest.approx([p["drift"] for p in other], rel=1e-4)
    for a, b in zip(dense.weights, masked.weights, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
