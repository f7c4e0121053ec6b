"""The CUDA path (runs only where a GPU is: den_engine.experiments.gpu_check runs it)."""

import pytest
import torch

from den_engine.core.config import preset
from den_engine.core.network import masked_compute
from den_engine.core.runner import Trainer
from den_engine.records.store import strip_timings

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def config(device: str):
    return preset("fast", hidden_sizes=(10, 8), iterations=12, head_iterations=6, batch_size=64,
                  loss_threshold=0.0, split_threshold=0.0, device=device)  # fmt: skip


def test_a_cuda_run_makes_the_cpu_runs_decisions_in_float64():
    from test_dense_path import assert_same, double_trainer  # this folder is on the path under pytest

    cpu = strip_timings(double_trainer(config("cpu"), "digits-one-vs-rest", 3).run())
    gpu_trainer = double_trainer(config("cuda"), "digits-one-vs-rest", 3)
    assert gpu_trainer.net.weights[0].is_cuda
    gpu = strip_timings(gpu_trainer.run())
    cpu.pop("device", None), gpu.pop("device", None)
    assert_same(gpu, cpu)


def test_dense_and_masked_forward_agree_on_cuda():
    trainer = Trainer(config("cuda"), "digits-one-vs-rest", 3)
    trainer.run()
    for task in (1, 2, 3):
        x = trainer.benchmark.tasks[task - 1].x_test.cuda()
        with masked_compute():
            masked = trainer.net.forward(x, task)
        torch.testing.assert_close(trainer.net.forward(x, task), masked, rtol=1e-4, atol=1e-5)
