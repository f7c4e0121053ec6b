"""The memory check: sizes at their largest, the field that makes a network large, refusal before training."""

from __future__ import annotations

import pytest

from den_engine import ConfigError, preset
from den_engine.core import budget


def test_largest_network_counts_every_expansion_and_every_head():
    config = preset("fast", hidden_sizes=(10, 5), expand_units=2)
    assert budget.largest_sizes(config, 3) == [14, 9]
    est = budget.estimate(config, input_dim=4, n_tasks=3)
    assert est.parameters == (4 * 14 + 14) + (14 * 9 + 9) + 3 * (9 + 1)
    assert est.bytes_needed == (est.parameters * budget.COPIES + 256 * (4 + 14 + 9) * 3) * 4


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"expand_units": 1_000_000}, "expand_units"), ({"hidden_sizes": (100_000, 128)}, "hidden_sizes")],
)
def test_a_network_that_does_not_fit_is_refused_naming_the_field(changes, field):
    config = preset("fast", **changes)
    with pytest.raises(ConfigError, match="would need about") as caught:
        budget.check_fits(config, 784, 10, "cpu", available=1 << 30)
    assert caught.value.field == field and "1.0 GB is free" in str(caught.value)


def test_a_small_network_fits_and_the_limit_is_the_free_memory():
    config = preset("fast", hidden_sizes=(312, 128))
    need = budget.check_fits(config, 784, 10, "cpu", available=1 << 30).bytes_needed
    budget.check_fits(config, 784, 10, "cpu", available=need)  # exactly enough
    with pytest.raises(ConfigError):
        budget.check_fits(config, 784, 10, "cpu", available=need - 1)
    assert budget.available_bytes("cpu") > 0


def test_human_bytes():
    assert budget.human_bytes(512) == "512 bytes" and budget.human_bytes(1536) == "1.5 KB"
    assert budget.human_bytes(4_000_032_000_000) == "3.6 TB"


def test_the_time_estimate_counts_every_stage_of_every_task_at_the_network_s_size_then():
    config = preset("fast", hidden_sizes=(10, 5), expand_units=2, iterations=100, head_iterations=10, batch_size=8)
    assert budget.steps_per_run(config, 1) == 100  # Eq. 2 only
    assert budget.steps_per_run(config, 3) == 100 + 2 * (3 * 100 + 10)  # then Eq. 3 to 6 per task
    flops = 1e9

    def per_step(task):  # the network after task - 1 expansions of k units a layer
        params = budget.estimate(config, 4, task).parameters
        return budget.STEP_OVERHEAD_S + 6 * 8 * params / (flops * budget.MATMUL_EFFICIENCY)

    expected = 100 * per_step(1) + 310 * per_step(2) + 310 * per_step(3)
    assert budget.estimate_seconds(config, 4, 3, flops=flops) == pytest.approx(expected)
    assert per_step(3) > per_step(1)  # the growth is priced
    assert budget.machine_flops() > 1e7  # timed on this machine: at least 10 MFLOP/s
    assert budget.human_seconds(75) == "1 min 15 s" and budget.human_seconds(7300) == "2 h 1 min"


def test_runs_one_after_another_add_up_each_at_the_threads_it_would_choose(monkeypatch):
    monkeypatch.setattr(budget, "machine_flops", lambda threads=1, size=256: 1e9)
    one = preset("fast", hidden_sizes=(10, 5), iterations=100, head_iterations=10, batch_size=8)
    two = one.replace(threads=2)  # a run that asks for two threads steps 1.6 times as fast
    seconds = budget.serial_seconds([(one, 4, 3), (two, 4, 2)])
    expected = budget.estimate_seconds(one, 4, 3, flops=1e9) + budget.estimate_seconds(two, 4, 2, flops=1.6e9)
    assert seconds == pytest.approx(expected) and budget.serial_seconds([]) == 0


def test_a_conv_network_s_kernels_maps_and_multiply_adds_are_counted_at_their_largest():
    config = preset("fast", conv_channels=(2, 3), kernel_size=3, hidden_sizes=(4,), expand_units=1, expand_filters=1)
    cost = budget.network_cost(config, (1, 8, 8), n_tasks=2)  # 3 and 4 filters after one expansion
    kernels = (3 * 1 * 9 + 3) + (4 * 3 * 9 + 4)
    dense = (4 * 2 * 2) * 5 + 5 + 2 * (5 + 1)  # the pooled 4 x 2 x 2 maps into 4 + 1 units, two heads
    assert cost.parameters == kernels + dense and cost.dense_macs == dense
    assert cost.conv_macs == 3 * 1 * 9 * 8 * 8 + 4 * 3 * 9 * 4 * 4  # every kernel tap at every map position
    assert cost.values == 64 + 3 * 64 + 4 * 16 + 16 + 5  # images, maps, the flattened maps, the units
    assert budget.network_cost(config, 64, 2) == cost  # a flat width of a square image reads as that image
    assert budget.network_cost(config, 3 * 4 * 4, 1).conv_macs == 2 * 3 * 9 * 16 + 3 * 2 * 9 * 4  # 3 channels


def test_the_time_estimate_prices_the_convolutions():
    config = preset("fast", conv_channels=(8, 16), hidden_sizes=(64,), batch_size=64, iterations=100)
    cost = budget.network_cost(config, (1, 28, 28), 1)
    work = cost.dense_macs / budget.MATMUL_EFFICIENCY + cost.conv_macs / budget.CONV_EFFICIENCY
    expected = 100 * (budget.STEP_OVERHEAD_S + 6 * 64 * work / 1e9)
    assert budget.estimate_seconds(config, 784, 1, flops=1e9) == pytest.approx(expected)
    flat = budget.estimate_seconds(config.replace(conv_channels=()), 784, 1, flops=1e9)
    assert expected > 5 * flat  # the 784-8-16-64 conv net costs far more than a 784-64 MLP of fewer weights


def test_a_conv_network_that_does_not_fit_is_refused_naming_its_field():
    config = preset("fast", conv_channels=(2048, 2048), hidden_sizes=(64,))
    with pytest.raises(ConfigError, match="would need about") as caught:
        budget.check_fits(config, (1, 28, 28), 3, "cpu", available=1 << 30)
    assert caught.value.field == "conv_channels"
    grown = preset("fast", conv_channels=(8, 16), hidden_sizes=(64,), expand_filters=5000)
    with pytest.raises(ConfigError) as caught:
        budget.check_fits(grown, (1, 28, 28), 3, "cpu", available=1 << 30)
    assert caught.value.field == "expand_filters"
