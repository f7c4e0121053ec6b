"""The dense sub-network path against the masked path it replaced: same records, less compute."""

import math

import pytest
import torch

from den_engine.core import training
from den_engine.core.config import preset
from den_engine.core.den import TaskContext, _block_items, _rows, train_task
from den_engine.core.network import ExpandableNet, masked_compute
from den_engine.core.runner import Trainer
from den_engine.core.subnet import DenseStage
from den_engine.data.benchmarks import BENCHMARKS
from den_engine.methods import get_method
from den_engine.records.store import strip_timings

# Floats may differ where a sum runs in another order (gathered rows, trainable rows
# first); every decision (selection, expansion, pruning, splits) must be identical.
REL, ABS = 1e-9, 1e-12


def small(**overrides):
    values = dict(hidden_sizes=(10, 8), iterations=12, head_iterations=6, batch_size=64, device="cpu")
    values.update(overrides)
    return preset("fast", **values)


def assert_same(a, b, path="record"):
    """Equal structure and exact non-floats; floats within REL / ABS."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert isinstance(b, float), path
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=REL, abs_tol=ABS), (path, a, b)
    else:
        assert a == b, (path, a, b)


def double_trainer(config, benchmark: str, n_tasks: int, method: str = "den") -> Trainer:
    """A Trainer whose network computes in float64 (same initial numbers as float32's)."""
    trainer = Trainer(config, benchmark, n_tasks, method=method)
    net = trainer.net
    net.weights = [w.double() for w in net.weights]
    net.biases = [b.double() for b in net.biases]
    net.dtype = torch.float64
    return trainer


def run_both(benchmark: str, config, n_tasks: int, method: str = "den"):
    dense_before = training.PATHS["masked"]
    dense = double_trainer(config, benchmark, n_tasks, method).run()
    fell_back = training.PATHS["masked"] - dense_before
    with masked_compute():
        masked = double_trainer(config, benchmark, n_tasks, method).run()
    return strip_timings(dense), strip_timings(masked), fell_back


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_every_benchmark_gives_the_masked_paths_record(benchmark):
    # tau = 0 expands on every task and a small sigma splits: task 3 then computes
    # around retired units and trains new units whose inputs include retired ones.
    config = small(loss_threshold=0.0, split_threshold=0.0)
    dense, masked, fell_back = run_both(benchmark, config, 3)
    assert fell_back == 0  # every DEN stage ran on the dense sub-network
    retired = [u for u in dense["tasks"][-1]["units"] if u["retired"] is not None]
    assert retired, "the run must exercise retired units"
    assert_same(dense, masked)


@pytest.mark.parametrize("method", ["progressive", "mtl"])
def test_baselines_give_the_masked_paths_record(method):
    config = preset("fast", get_method(method).config_class, hidden_sizes=(10, 8), iterations=12, batch_size=64)
    dense, masked, fell_back = run_both("toy-2d", config, 3, method)
    assert fell_back == 0
    assert_same(dense, masked, method)


@pytest.fixture(scope="module")
def grown():
    """A digits network after three tasks with many splits (retired units in both layers)."""
    config = small(loss_threshold=0.0, split_threshold=0.0)
    trainer = Trainer(config, "digits-one-vs-rest", 4)
    for _ in range(3):
        trainer.train_next()
    return trainer, config


def test_the_dense_stage_computes_only_active_units_and_trains_only_trainable_rows(grown):
    trainer, config = grown
    net = trainer.net
    stored = net.sizes()
    active = [len(net.active_ids(layer, 3)) for layer in range(net.n_layers)]
    assert all(a < s for a, s in zip(active, stored, strict=True))  # retired units exist in every layer
    rows = [_rows(net, layer, net.active_ids(layer, 3)[:4]) for layer in range(net.n_layers)]
    items = _block_items(net, None, 3, rows, l1=True)
    stage = DenseStage(net, [3], items, None, 0.5)
    for (weight, bias, n, w_param, b_param), a in zip(stage.layers, active, strict=True):
        assert weight.shape[0] == a and bias.shape[0] == a  # retired units are not computed
        assert n == 4 and w_param.shape[0] == 4 and b_param.shape[0] == 4  # gradients for 4 rows only
        assert w_param.data_ptr() == weight.data_ptr()  # the optimiser updates the computed weights in place


def test_frozen_entries_stay_bit_identical_on_a_grown_network(grown):
    trainer, config = grown
    prev = trainer.net
    data = trainer.benchmark.tasks[3]
    ctx = TaskContext(4, data.x_train, data.y_train, config, torch.Generator().manual_seed(4))
    net = train_task(prev, 1, ctx)
    selected = next(e["selected"] for e in ctx.events if e["type"] == "selection")
    touched = set().union(*selected) | {u.id for units in net.units for u in units if u.born == 4}
    for layer in range(net.n_layers):
        old = prev.weights[layer]
        now = net.weights[layer][: old.shape[0], : old.shape[1]]
        for i, unit in enumerate(prev.units[layer]):
            if unit.id not in touched:
                assert torch.equal(now[i], old[i]), unit  # untouched rows: bit for bit
    for task in (1, 2, 3):
        x = trainer.benchmark.tasks[task - 1].x_test
        assert torch.equal(net.forward(x, task), prev.forward(x, task))  # old tasks unchanged


def test_dense_forward_equals_the_masked_forward(grown):
    trainer, _ = grown
    for task in (1, 2, 3):
        x = trainer.benchmark.tasks[task - 1].x_test
        with masked_compute():
            masked = trainer.net.forward(x, task)
        torch.testing.assert_close(trainer.net.forward(x, task), masked, rtol=1e-5, atol=1e-6)


def test_a_stages_loss_costs_the_active_units_not_the_stored_ones(grown, monkeypatch):
    trainer, _ = grown
    net = trainer.net
    widths = []
    linear = torch.nn.functional.linear

    def spy(h, weight, bias=None):
        widths.append(weight.shape[0])
        return linear(h, weight, bias)

    monkeypatch.setattr(torch.nn.functional, "linear", spy)
    data = trainer.benchmark.tasks[2]
    loss = training.data_loss(net, 3, data.x_train, data.y_train)
    active = [len(net.active_ids(layer, 3)) for layer in range(net.n_layers)]
    assert widths[: net.n_layers] == active and active != net.sizes()  # retired units are not computed
    monkeypatch.setattr(torch.nn.functional, "linear", linear)
    with masked_compute():
        assert loss == pytest.approx(training.data_loss(net, 3, data.x_train, data.y_train), rel=1e-5)


def test_a_stage_the_dense_path_cannot_express_falls_back():
    net = ExpandableNet(5, (6, 4), torch.Generator().manual_seed(0))
    net.add_head(1, 1)
    stray = torch.zeros(3)
    x, y = torch.randn(32, 5), torch.ones(32, 1)
    settings = TaskContext(1, x, y, small(), torch.Generator()).settings
    before = training.PATHS["masked"]
    items = [training.Trainable(net.weights[0]), training.Trainable(stray)]
    training.train_stage("s", net, 1, x, y, items, settings, 3, torch.Generator().manual_seed(0))
    assert training.PATHS["masked"] == before + 1
