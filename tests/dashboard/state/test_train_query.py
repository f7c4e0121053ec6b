"""The Train page's address: every unusable parameter is named with its reason, never silently dropped."""

from __future__ import annotations

from dashboard.state import train_query
from dashboard.ui import ALL_FIELDS

METHODS = ("den", "finetune")


def _parse(**query):
    return train_query.parse(query, ALL_FIELDS, METHODS)


def test_good_values_pass_and_bad_ones_are_named():
    values, warnings = _parse(benchmark="toy-2d", tasks="3", seed="7", expand_units="2", hidden_sizes="4,4")
    assert values == {"benchmark": "toy-2d", "n_tasks": 3, "seed": 7, "expand_units": "2", "hidden_sizes": "4,4"}
    assert warnings == []
    values, warnings = _parse(tasks="-1", seed="abc", method="xxx", device="tpu", preset="zzz", loss_threshold="x")
    assert values == {}
    assert [w.split("=")[0] for w in warnings] == ["tasks", "seed", "method", "device", "preset", "loss_threshold"]
    assert "choose one of den, finetune" in warnings[2] and "cannot read 'x'" in warnings[5]


def test_task_count_is_checked_against_the_benchmark_not_clamped():
    values, warnings = _parse(benchmark="toy-2d", tasks="9")
    assert "n_tasks" not in values and warnings == ["tasks='9' ignored: toy-2d has 1 to 6 tasks"]
    values, warnings = _parse(benchmark="nope", tasks="3")
    assert values == {} and warnings[0].startswith("benchmark='nope' ignored: choose one of")


def test_out_of_range_and_unknown_parameters():
    _, warnings = _parse(split_threshold="-1", hidden_sizes="0", colour="red")
    assert warnings == [
        "split_threshold='-1' ignored: must be a number >= 0 (inf = never), got -1.0",
        "hidden_sizes='0' ignored: every layer needs 1..100000 units, got 0",
        "colour='red' ignored: not a setting of this page",
    ]
    assert train_query.unused({"x": "1"}) == ["x='1' ignored: this page takes no settings from its address"]
