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
