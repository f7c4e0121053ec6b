"""A conv run's record: filters saved as units, weights loaded back, ``den evaluate`` agreeing."""

import pytest
import torch

from den_engine.core.config import preset
from den_engine.core.errors import ConfigError
from den_engine.core.layers import body_parameter_count
from den_engine.core.runner import Trainer
from den_engine.records.evaluate import evaluate_run
from den_engine.records.store import load_run


def conv_config(**overrides):
    values = dict(conv_channels=(3, 4), kernel_size=3, hidden_sizes=(8,), iterations=12, head_iterations=6)
    values.update(batch_size=64, loss_threshold=0.0, split_threshold=1e-4, device="cpu", **overrides)
    return preset("fast", **values)


def test_a_conv_run_saves_filters_as_units_and_evaluates_as_recorded(tmp_path):
    config = conv_config()
    with Trainer(config, "digits-one-vs-rest", 2, tmp_path / "run") as trainer:
        trainer.run()
        x = trainer.benchmark.tasks[1].x_test
        expected = {t: trainer.net.forward(x, t) for t in (1, 2)}
    run = load_run(tmp_path / "run")
    last = run.tasks[-1]
    assert last["layer_kinds"] == ["conv", "conv", "dense"]
    units = [u for u in last["units"] if u["layer"] in (1, 2)]
    assert {u["origin"] for u in units} >= {"base", "expanded"}
    born_2 = [u for u in units if u["born"] == 2]
    assert born_2 and all(set(u) == {"id", "layer", "born", "origin", "parent", "retired"} for u in units)
    assert last["layer_sizes"][1:3] == [len([u for u in units if u["layer"] == i]) for i in (1, 2)]
    net = run.network(2)
    assert net.layer_kinds() == ["conv", "conv", "dense"] and net.weights[0].shape[1:] == (1, 3, 3)
    for t in (1, 2):
        assert torch.equal(net.forward(x, t), expected[t])
    report = evaluate_run(tmp_path / "run")
    assert report["agrees_with_record"] and report["params"]["agrees"] is True
    params = last["params"]
    body = body_parameter_count((1, 8, 8), (3, 4), 3, (8,))  # 3*9+3 + 4*3*9+4 + 8*(4 maps of 2x2)+8 = 278
    assert body == 278 and params["mtl_params"] == body + 2 * (8 + 1)
    kernels = sum(int(w.numel()) for w in net.weights[:2])
    assert params["total"] > kernels  # kernels count


def test_conv_on_a_benchmark_without_images_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="conv_channels"):
        Trainer(conv_config(), "toy-2d", 2, tmp_path / "run")
    assert not (tmp_path / "run").exists()
