"""Invariants of the expandable network: timestamps, expansion, splits, pruning, state."""

import pytest
import torch

from den_engine.core.errors import ConfigError
from den_engine.core.network import ExpandableNet


def make_net(sizes=(6, 5), input_dim=4, seed=0) -> ExpandableNet:
    g = torch.Generator().manual_seed(seed)
    net = ExpandableNet(input_dim, sizes, g)
    net.add_head(1, 2)
    net.heads[1] = (torch.randn(2, sizes[-1], generator=g), torch.randn(2, generator=g))
    return net


def x_batch(n=7, d=4, seed=1):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_ids_are_unique_and_stable_across_growth():
    net = make_net()
    before = [u.id for units in net.units for u in units]
    net.add_head(2, 1)
    net.expand(2, 3, torch.Generator().manual_seed(3))
    after = [u.id for units in net.units for u in units]
    assert after[: len(before[:6])] == before[:6]  # layer 1 prefix unchanged
    assert len(set(after)) == len(after)
    assert [u.born for u in net.units[0]] == [1] * 6 + [2] * 3


def test_units_born_later_do_not_change_earlier_task_outputs_exactly():
    net = make_net()
    x = x_batch()
    out1 = net.forward(x, 1).clone()
    net.add_head(2, 1)
    net.expand(2, 4, torch.Generator().manual_seed(5))
    # give every new weight a large value: task 1 must still not see any of it
    for layer in range(net.n_layers):
        net.weights[layer][6 if layer == 0 else 5 :].normal_(0, 10)
    net.weights[1][:, 6:].normal_(0, 10)
    assert torch.equal(net.forward(x, 1), out1)


def test_expansion_alone_leaves_current_task_outputs_unchanged():
    net = make_net()
    net.add_head(2, 1)
    net.heads[2] = (torch.randn(1, 5), torch.randn(1))
    x = x_batch()
    before = net.forward(x, 2).clone()
    net.expand(2, 3, torch.Generator().manual_seed(7))
    assert net.heads[2][0].shape == (1, 8)
    torch.testing.assert_close(net.forward(x, 2), before, rtol=0, atol=1e-6)


def test_split_before_retraining_leaves_every_task_unchanged():
    net = make_net()
    prev = net.clone()
    net.add_head(2, 1)
    net.heads[2] = (torch.randn(1, 5), torch.randn(1))
    # drift two units of layer 1 and one of layer 2, as selective retraining would
    net.weights[0][[1, 3]] += 0.5
    net.biases[0][1] += 0.2
    net.weights[1][2] -= 0.3
    x = x_batch()
    task2_before = net.forward(x, 2).clone()
    task1_at_t_minus_1 = prev.forward(x, 1)
    for uid in (net.units[0][1].id, net.units[0][3].id, net.units[1][2].id):
        layer, i = net.locate(uid)
        net.split(uid, 2, prev.weights[layer][i], prev.biases[layer][i])
    # old task: back to its t-1 function exactly; new task: unchanged (up to summation order)
    torch.testing.assert_close(net.forward(x, 1), task1_at_t_minus_1, rtol=0, atol=1e-6)
    torch.testing.assert_close(net.forward(x, 2), task2_before, rtol=0, atol=1e-6)
    dups = [u for units in net.units for u in units if u.origin == "duplicate"]
    assert {u.parent for u in dups} == {net.units[0][1].id, net.units[0][3].id, net.units[1][2].id}
    assert net.units[0][1].retired == 2 and net.units[0][0].retired is None


def test_split_duplicate_carries_drifted_weights_and_bias():
    net = make_net()
    prev = net.clone()
    net.add_head(2, 1)
    net.weights[0][2] += 1.0
    net.biases[0][2] = 0.7
    drifted_row, drifted_bias = net.weights[0][2].clone(), net.biases[0][2].clone()
    uid = net.units[0][2].id
    dup = net.split(uid, 2, prev.weights[0][2], prev.biases[0][2])
    _, j = net.locate(dup)
    assert torch.equal(net.weights[0][j], drifted_row)
    assert torch.equal(net.biases[0][j], drifted_bias)  # copied, not random (bug K6)
    assert torch.equal(net.weights[0][2], prev.weights[0][2])  # original restored (bug K4)
    assert torch.equal(net.weights[1][:, j], net.weights[1][:, 2])


def test_pruned_units_are_gone_from_every_tensor_and_head():
    net = make_net()
    net.add_head(2, 3)
    added = net.expand(2, 4, torch.Generator().manual_seed(1))
    doomed = [added[0][1], added[0][3], added[1][0]]
    shapes = [w.shape for w in net.weights]
    net.prune(doomed)
    assert net.weights[0].shape == (shapes[0][0] - 2, shapes[0][1])
    assert net.biases[0].shape == (shapes[0][0] - 2,)
    assert net.weights[1].shape == (shapes[1][0] - 1, shapes[1][1] - 2)
    assert net.heads[2][0].shape == (3, net.weights[1].shape[0])
    assert net.heads[1][0].shape == (2, 5)  # the old head never saw new units
    ids = {u.id for units in net.units for u in units}
    assert ids.isdisjoint(doomed)
    net.forward(x_batch(), 2)  # shapes still chain


def test_pruning_a_zero_group_unit_keeps_outputs():
    net = make_net()
    net.add_head(2, 1)
    added = net.expand(2, 2, torch.Generator().manual_seed(2))
    net.heads[2][0].normal_()
    _, i = net.locate(added[0][0])
    net.weights[0][i] = 0
    net.biases[0][i] = 0
    x = x_batch()
    before = net.forward(x, 2).clone()
    net.prune([added[0][0]])
    torch.testing.assert_close(net.forward(x, 2), before, rtol=0, atol=1e-6)


def test_state_round_trip_rebuilds_the_same_function():
    net = make_net()
    net.add_head(2, 1)
    net.expand(2, 2, torch.Generator().manual_seed(2))
    prev = make_net()
    net.split(net.units[0][0].id, 2, prev.weights[0][0], prev.biases[0][0])
    other = ExpandableNet.from_state(4, net.registry(), net.state_tensors())
    x = x_batch()
    for task in (1, 2):
        assert torch.equal(other.forward(x, task), net.forward(x, task))
    assert other.registry() == net.registry()
    assert other.next_id == net.next_id


def test_sparsity_counts_exact_zeros_of_the_units_a_task_uses():
    net = make_net(sizes=(4, 2), input_dim=3)
    net.weights[0].fill_(1.0)
    net.weights[0][0, :2] = 0.0  # 2 of 12
    net.weights[1].fill_(0.0)
    assert net.sparsity(1) == pytest.approx([2 / 12, 1.0])


def test_a_task_without_a_head_or_inputs_of_the_wrong_width_are_named():
    net = ExpandableNet(4, (3, 2), torch.Generator().manual_seed(0))
    net.add_head(1, 1)
    with pytest.raises(ConfigError, match=r"heads for tasks \[1\], not for 6") as info:
        net(torch.zeros(2, 4), 6)
    assert info.value.field == "task"
    with pytest.raises(ConfigError, match="inputs have 5 features; this network takes 4"):
        net(torch.zeros(2, 5), 1)
