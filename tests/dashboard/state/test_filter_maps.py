"""A filter's mean activation map, checked against the convolution done by hand on the task's test images."""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from dashboard.state import filter_maps
from den_engine import Trainer, preset
from den_engine.data.benchmarks import load_benchmark
from den_engine.records.store import load_run


def test_mean_map_is_the_pooled_relu_of_the_filter_averaged_over_the_tasks_test_images(tmp_path):
    config = preset("fast", conv_channels=(3,), kernel_size=3, hidden_sizes=(4,), iterations=5, head_iterations=3,
                    device="cpu")  # fmt: skip
    Trainer(config, "permuted-digits", 2, out_dir=tmp_path / "run").run()
    run = load_run(tmp_path / "run")
    w, b = run.weights(2)["hidden.1.weight"], run.weights(2)["hidden.1.bias"]
    units = [u for u in run.tasks[1]["units"] if u["layer"] == 1]
    row = len(units) - 1  # the last filter stored: born at task 2 when the layer grew, else a base one
    x = load_benchmark("permuted-digits", 2, seed=run.data["seed"]).tasks[1].x_test.reshape(-1, 1, 8, 8)
    expected = F.max_pool2d(F.relu(F.conv2d(x, w[row : row + 1], b[row : row + 1], padding="same")), 2, ceil_mode=True)
    got, why = filter_maps.filter_map(str(tmp_path / "run"), 2, 2, 1, row)
    assert why == "" and got.shape == (4, 4)
    np.testing.assert_allclose(got, expected.mean(dim=0)[0].numpy(), rtol=1e-5, atol=1e-6)
    other = load_benchmark("permuted-digits", 2, seed=run.data["seed"]).tasks[0].x_test.reshape(-1, 1, 8, 8)
    first = F.max_pool2d(F.relu(F.conv2d(other, w[:1], b[:1], padding="same")), 2, ceil_mode=True).mean(dim=0)[0]
    np.testing.assert_allclose(filter_maps.filter_map(str(tmp_path / "run"), 2, 1, 1, 0)[0], first.numpy(), atol=1e-6)
    missing, why = filter_maps.filter_map(str(tmp_path / "nothing"), 2, 2, 1, 0)
    assert missing is None and "weights" in why
