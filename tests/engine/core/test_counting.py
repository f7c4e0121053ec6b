"""Parameter counts and sparsity count only the entries some task can use (brute force over tasks as the oracle)."""

import pytest
import torch

from den_engine.core.config import preset
from den_engine.core.counting import parameter_count, usable_masks
from den_engine.core.den import TaskContext, train_task
from den_engine.core.network import ExpandableNet


def active(unit, task: int) -> bool:
    """The paper's timestamp rule, unit by unit: born at or before the task, not yet retired."""
    return unit.born <= task and (unit.retired is None or task < unit.retired)


def brute_force(net: ExpandableNet) -> tuple[int, int]:
    """(total, non-zero) over every stored entry that some task 1..T reads, found task by task."""
    tasks = sorted(net.heads)
    total = nonzero = 0
    for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        below = net.units[layer - 1] if layer else None
        rows, bias = w.tolist(), b.tolist()
        for j, unit in enumerate(net.units[layer]):
            for i, value in enumerate(rows[j]):
                if any(active(unit, t) and (below is None or active(below[i], t)) for t in tasks):
                    total += 1
                    nonzero += int(value != 0)
            total += 1  # every unit's bias serves the tasks it is active for
            nonzero += int(bias[j] != 0)
    top = net.units[-1]
    for task, (head_w, head_b) in net.heads.items():
        for c in range(head_w.shape[1]):
            if active(top[c], task):
                total += head_w.shape[0]
                nonzero += int(torch.count_nonzero(head_w[:, c]))
        total += head_b.numel()
        nonzero += int(torch.count_nonzero(head_b))
    return total, nonzero


def brute_sparsity(net: ExpandableNet, task: int) -> list[float]:
    """Per layer, the zero fraction over the entries task ``task`` reads: both ends active at it."""
    out = []
    for layer, w in enumerate(net.weights):
        below = net.units[layer - 1] if layer else None
        rows = w.tolist()
        used = [
            value
            for j, unit in enumerate(net.units[layer])
            if active(unit, task)
            for i, value in enumerate(rows[j])
            if below is None or active(below[i], task)
        ]
        out.append(sum(v == 0 for v in used) / len(used))
    return out


def hand_made() -> ExpandableNet:
    """Three tasks: expansion and splits in both layers at task 2, a duplicate split again at task 3."""
    g = torch.Generator().manual_seed(0)
    net = ExpandableNet(3, (4, 3), g)
    net.add_head(1, 2)
    net.add_head(2, 2)
    net.expand(2, 2, g)
    net.split(1, 2, torch.ones(3), torch.tensor(0.5))  # layer 1: unit 1 retired from task 2 on
    net.split(5, 2, torch.ones(4), torch.tensor(0.5))  # layer 2: unit 5 retired from task 2 on
    net.add_head(3, 1)
    duplicate = net.units[0][-1].id
    net.split(duplicate, 3, torch.ones(net.weights[0].shape[1]), torch.tensor(0.5))  # born 2, retired 3
    net.expand(3, 1, g)
    # every stored entry non-zero, then a fixed third zeroed, usable or not
    for tensors in (net.weights, net.biases, *([w, b] for w, b in net.heads.values())):
        for t in tensors:
            t.copy_(torch.rand(t.shape, generator=g) + 0.1)
            t[torch.rand(t.shape, generator=g) < 0.33] = 0.0
    return net


def grown_by_den() -> ExpandableNet:
    """A real DEN run on tiny data with splits at every task after the first."""
    config = preset(
        "fast", hidden_sizes=(12, 8), iterations=30, head_iterations=20, batch_size=32, split_threshold=0.02
    )
    net = ExpandableNet(5, config.hidden_sizes, torch.Generator().manual_seed(0))
    for task in (1, 2, 3):
        g = torch.Generator().manual_seed(task)
        x = torch.randn(96, 5, generator=g)
        y = (x @ torch.randn(5, 1, generator=g) > 0).float()
        net = train_task(net, 1, TaskContext(task, x, y, config, torch.Generator().manual_seed(100 + task)))
    assert any(u.retired for units in net.units for u in units), "the run must split to test anything"
    return net


@pytest.mark.parametrize("build", [hand_made, grown_by_den])
def test_parameter_count_is_the_entries_some_task_uses(build):
    net = build()
    expected = brute_force(net)
    assert net.parameter_count() == parameter_count(net) == expected
    stored = net.parameter_count(usable=False)
    assert stored == (
        sum(t.numel() for t in net.state_tensors().values()),
        sum(int(torch.count_nonzero(t)) for t in net.state_tensors().values()),
    )
    assert stored[0] > expected[0]  # the old rule counted entries no task can read


@pytest.mark.parametrize("build", [hand_made, grown_by_den])
def test_sparsity_of_a_task_is_over_the_entries_it_uses(build):
    net = build()
    for task in sorted(net.heads):
        assert net.sparsity(task) == pytest.approx(brute_sparsity(net, task), abs=1e-12)


def test_unusable_entries_do_not_change_any_output_and_usable_ones_do():
    """The oracle behind the rule: perturbing an entry no task uses leaves every task's logits unchanged."""
    net = hand_made()
    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(1))
    before = {t: net.forward(x, t).clone() for t in net.heads}
    masks, heads = usable_masks(net)
    for w, mask in zip(net.weights, masks, strict=True):
        w[~mask] += 7.0
    for task, (head_w, _) in net.heads.items():
        head_w[:, ~heads[task]] += 7.0
    assert all(torch.equal(before[t], net.forward(x, t)) for t in net.heads)
    net.weights[1][masks[1]] += 7.0  # and the usable ones do matter
    assert not all(torch.equal(before[t], net.forward(x, t)) for t in net.heads)


def test_a_network_that_never_split_counts_every_stored_entry():
    g = torch.Generator().manual_seed(0)
    net = ExpandableNet(3, (4, 3), g)
    net.add_head(1, 2)
    net.add_head(2, 1)
    net.expand(2, 2, g)
    assert net.parameter_count() == net.parameter_count(usable=False)
