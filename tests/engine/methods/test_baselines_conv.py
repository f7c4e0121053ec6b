"""Baselines on DEN's conv backbone: the same records, STL's columns of filters kept apart, EWC's Fisher of
shared kernels."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from den_engine.core.config import preset
from den_engine.core.layers import body_parameter_count
from den_engine.core.network import ExpandableNet
from den_engine.core.runner import Trainer
from den_engine.methods import get_method
from den_engine.methods.baselines import ewc as ewc_lib
from den_engine.records.evaluate import evaluate_run

CONV = dict(conv_channels=(2, 3), kernel_size=3, hidden_sizes=(6,), iterations=10, batch_size=64, device="cpu")


def conv_config(method):
    return preset("fast", get_method(method).config_class, **CONV)


@pytest.mark.parametrize("method", ["finetune", "l2", "ewc", "mtl", "stl", "progressive"])
def test_a_baseline_trains_on_conv_layers_and_evaluates_as_recorded(method, tmp_path):
    with Trainer(conv_config(method), "digits-one-vs-rest", 2, tmp_path / "run", method=method) as trainer:
        trainer.run()
        net = trainer.net
    assert net.layer_kinds() == ["conv", "conv", "dense"]
    report = evaluate_run(tmp_path / "run")
    assert report["agrees_with_record"] and report["params"]["agrees"] is True
    if method in ("stl", "progressive"):  # a column of filters per task
        assert [w.shape[0] for w in net.weights] == [4, 6, 12]
    body = body_parameter_count((1, 8, 8), (2, 3), 3, (6,))
    assert trainer.record["tasks"][-1]["params"]["mtl_params"] == body + 2 * 7


def test_stl_columns_of_filters_never_read_each_other():
    trainer = Trainer(conv_config("stl"), "digits-one-vs-rest", 2, method="stl")
    trainer.run()
    net = trainer.net
    x = trainer.benchmark.tasks[0].x_test
    before = net.forward(x, 2)
    for layer in range(net.n_layers):  # scramble every filter and unit of task 1's column
        old = torch.tensor([u.born == 1 for u in net.units[layer]])
        net.weights[layer][old] = torch.randn(net.weights[layer][old].shape)
    assert torch.equal(net.forward(x, 2), before)


def _tiny_conv_net(kernel: int):
    """Two conv layers (2 and 3 filters) and a dense layer over 5x5 images, a head of 2 outputs, a retired filter."""
    gen = torch.Generator().manual_seed(5)
    net = ExpandableNet(25, (3,), gen, conv_channels=(2, 3), kernel_size=kernel, input_shape=(1, 5, 5))
    for w, b in zip(net.weights, net.biases, strict=True):  # biases too: every tensor's Fisher is non-trivial
        b.copy_(torch.randn(b.shape, generator=gen) * 0.1)
        w.mul_(2.0)
    net.add_head(1, 2)
    net.heads[1] = (torch.randn(2, 3, generator=gen), torch.randn(2, generator=gen))
    return net, torch.randn(4, 25, generator=gen)


@pytest.mark.parametrize("kernel", [3, 2])  # odd and even kernels: PyTorch's 'same' padding is uneven for 2
def test_fisher_of_conv_kernels_matches_a_direct_per_sample_computation(kernel):
    net, x = _tiny_conv_net(kernel)
    fisher = ewc_lib.fisher_diagonal(net, 1, x, chunk=3)
    names = ewc_lib.parameter_names(net)
    direct = {name: torch.zeros_like(t) for name, t in names}
    for n in range(x.shape[0]):  # E_{y ~ model} of the squared score, enumerating every label vector
        for y in itertools.product((0.0, 1.0), repeat=2):
            tensors = [t.clone().requires_grad_(True) for _, t in names]
            probe = net.clone()
            probe.weights, probe.biases = tensors[0::2], tensors[1::2]
            log_p = -F.binary_cross_entropy_with_logits(
                probe.forward(x[n : n + 1], 1), torch.tensor([y]), reduction="sum"
            )
            grads = torch.autograd.grad(log_p, tensors)
            for (name, _), g in zip(names, grads, strict=True):
                direct[name] += float(log_p.detach().exp()) * g.square() / x.shape[0]
    assert [w.dim() for w in net.weights] == [4, 4, 3]
    for name, _ in names:
        torch.testing.assert_close(fisher[name], direct[name], rtol=1e-4, atol=1e-8)
    assert all(float(f.sum()) > 0 for f in fisher.values())


def _task_2_drift(method: str, **extra) -> list[float]:
    """How far task 2 moves each layer's weights from where task 1 left them."""
    config = preset("fast", get_method(method).config_class, **{**CONV, "iterations": 30, **extra})
    trainer = Trainer(config, "digits-one-vs-rest", 2, method=method)
    trainer.train_next()
    before = [w.clone() for w in trainer.net.weights]
    trainer.train_next()
    return [float((w - b).norm()) for w, b in zip(trainer.net.weights, before, strict=True)]


@pytest.mark.parametrize("method, extra", [("l2", {"l2_transfer": 50.0}), ("ewc", {"ewc_lambda": 1e6})])
def test_l2_and_ewc_hold_conv_kernels_as_they_hold_dense_weights(method, extra):
    free, held = _task_2_drift("finetune"), _task_2_drift(method, **extra)
    for layer, (moved, kept) in enumerate(zip(free, held, strict=True)):
        assert kept < 0.5 * moved, (layer, free, held)  # every layer, the conv kernels included
