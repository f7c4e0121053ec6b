"""The thread policy: small work one thread, large work every core it may use, overrides recorded."""

import torch

from den_engine.core import threads
from den_engine.core.config import preset
from den_engine.core.runner import Trainer


def test_small_networks_use_one_thread_and_the_paper_preset_on_mnist_uses_every_core():
    assert threads.choose_threads(64, preset("fast"), cores=2)["threads"] == 1  # digits
    assert threads.choose_threads(784, preset("fast"), cores=2)["threads"] == 1  # a short MNIST stage
    assert threads.choose_threads(64, preset("paper"), cores=2)["threads"] == 1  # a small network
    big = threads.choose_threads(784, preset("paper"), cores=2)
    assert big == {"threads": 2, "chosen_by": "policy", "cores": 2, "step_work": big["step_work"]}
    assert threads.choose_threads(784, preset("paper"), cores=4)["threads"] == 4


def test_the_config_overrides_and_the_run_records_the_choice():
    assert threads.choose_threads(784, preset("fast", threads=3), cores=2)["threads"] == 3
    config = preset("fast", hidden_sizes=(8,), iterations=3, head_iterations=2, threads=2, device="cpu")
    before = torch.get_num_threads()
    seen = []
    trainer = Trainer(config, "toy-2d", 1)
    trainer.callbacks.on_progress = lambda *args: seen.append(torch.get_num_threads())
    torch.set_num_threads(3)  # the caller's own setting, unlike the run's
    try:
        trainer.run()
        assert torch.get_num_threads() == 3  # restored after the run
    finally:
        torch.set_num_threads(before)
    assert trainer.record["compute"] == {"threads": 2, "threads_chosen_by": "config"}
    assert set(seen) == {2}  # the run's choice while it trains
    assert Trainer(config.replace(threads=0), "toy-2d", 1).record["compute"]["threads"] == 1


def test_a_sweep_worker_cap_limits_the_cores_a_run_may_use():
    try:
        threads.limit_cores(1)
        assert threads.cores_available() == 1
        assert threads.choose_threads(784, preset("paper"))["threads"] == 1
    finally:
        threads.limit_cores(0)
    assert threads.cores_available() >= 1
