"""Baselines on DEN's conv backbone: the same records, STL's columns of filters kept apart."""

import pytest
import torch

from den_engine.cli import main
from den_engine.core.config import preset
from den_engine.core.errors import ConfigError
from den_engine.core.layers import body_parameter_count
from den_engine.core.runner import Trainer
from den_engine.methods import get_method
from den_engine.records.evaluate import evaluate_run

CONV = dict(conv_channels=(2, 3), kernel_size=3, hidden_sizes=(6,), iterations=10, batch_size=64, device="cpu")


def conv_config(method):
    return preset("fast", get_method(method).config_class, **CONV)


@pytest.mark.parametrize("method", ["finetune", "l2", "mtl", "stl", "progressive"])
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


def test_ewc_on_conv_layers_is_refused_with_the_field_named():
    with pytest.raises(ConfigError, match="conv_channels"):
        conv_config("ewc")


def test_l2_pulls_conv_kernels_toward_the_previous_task_as_it_pulls_dense_weights():
    drift = {}
    for method, extra in (("finetune", {}), ("l2", {"l2_transfer": 50.0})):
        config = preset("fast", get_method(method).config_class, **{**CONV, "iterations": 30, **extra})
        trainer = Trainer(config, "digits-one-vs-rest", 2, method=method)
        trainer.train_next()
        before = [w.clone() for w in trainer.net.weights]
        trainer.train_next()
        drift[method] = [float((w - b).norm()) for w, b in zip(trainer.net.weights, before, strict=True)]
    for layer, (free, pulled) in enumerate(zip(drift["finetune"], drift["l2"], strict=True)):
        assert pulled < 0.5 * free, (layer, drift)  # every layer, the conv kernels included


@pytest.mark.parametrize("command", ["run", "compare"])
def test_ewc_on_conv_layers_from_the_command_line_is_one_error_line_and_writes_nothing(command, tmp_path, capsys):
    out = tmp_path / "out"
    methods = ["--method", "ewc"] if command == "run" else ["--methods", "stl,ewc", "--quiet"]
    argv = [command, "--benchmark", "digits-one-vs-rest", "--tasks", "1", *methods, "--set", "conv_channels=2,3"]
    status = main([*argv, "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: conv_channels: EWC "), lines
    assert not out.exists()
