"""Config: defaults, presets, validation messages that name the field, parsing, run ids."""

import math

import pytest

from den_engine.core.config import ConfigError, DENConfig, field_help, parse_value, preset


def test_defaults_are_the_reference_values():
    c = DENConfig()
    assert c.hidden_sizes == (312, 128)
    assert (c.learning_rate, c.lr_decay, c.batch_size, c.iterations) == (1e-3, 0.95, 256, 4300)
    assert (c.l1_strength, c.weight_decay, c.group_lasso, c.l2_transfer) == (1e-5, 1e-4, 1e-3, 0.5)
    assert (c.expand_units, c.loss_threshold, c.split_threshold) == (10, 0.01, 0.05)


def test_presets_record_their_name_and_differ_where_documented():
    assert preset("paper").split_threshold == 0.002
    assert preset("reference").split_threshold == 0.05
    fast = preset("fast")
    assert fast.preset == "fast" and fast.iterations < preset("paper").iterations
    assert preset("fast", seed=3).seed == 3


@pytest.mark.parametrize(
    "field,value",
    [
        ("loss_threshold", -0.1),
        ("loss_threshold", math.nan),
        ("split_threshold", -1),
        ("split_threshold", "0.1"),
        ("expand_units", 0),
        ("expand_units", 2.5),
        ("hidden_sizes", ()),
        ("hidden_sizes", (10, 0)),
        ("hidden_sizes", (10, True)),
        ("learning_rate", 0.0),
        ("learning_rate", math.inf),
        ("lr_decay", 1.5),
        ("decay_samples", -1),
        ("decay_samples", 2.5),
        ("batch_size", 0),
        ("iterations", -5),
        ("head_iterations", -1),
        ("head_iterations", 0),
        ("max_splits_per_layer", 0),
        ("prox_scale_with_lr", 1),
        ("l1_strength", -1e-5),
        ("group_lasso", math.nan),
        ("l2_transfer", math.inf),
        ("weight_decay", None),
        ("device", "tpu"),
        ("max_splits_per_layer", -1),
        ("seed", -1),
        ("seed", True),
    ],
)
def test_bad_values_are_rejected_naming_the_field(field, value):
    with pytest.raises(ConfigError) as info:
        DENConfig(**{field: value})
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_infinite_thresholds_mean_never():
    c = DENConfig(loss_threshold=math.inf, split_threshold=math.inf)
    assert c.loss_threshold == math.inf


def test_unknown_preset_and_unknown_field():
    with pytest.raises(ConfigError, match="preset"):
        preset("turbo")
    with pytest.raises(ConfigError, match="bogus"):
        preset("fast", bogus=1)
    with pytest.raises(ConfigError, match="bogus"):
        DENConfig.from_dict({"bogus": 1})


def test_dict_round_trip_and_run_id():
    c = preset("fast", hidden_sizes=(8, 4), loss_threshold=0.2)
    again = DENConfig.from_dict(c.to_dict())
    assert again == c
    assert again.run_id() == c.run_id()
    assert c.replace(seed=1).run_id() != c.run_id()
    assert c.replace(device="cpu").run_id() == c.replace(device="auto").run_id()


def test_parse_value_uses_the_fields_type():
    assert parse_value("hidden_sizes", "64,32") == (64, 32)
    assert parse_value("expand_units", "5") == 5
    assert parse_value("split_threshold", "inf") == math.inf
    assert parse_value("max_splits_per_layer", "none") is None
    with pytest.raises(ConfigError, match="expand_units"):
        parse_value("expand_units", "five")
    with pytest.raises(ConfigError, match="nope"):
        parse_value("nope", "1")


def test_every_field_has_help():
    help_text = field_help()
    assert set(help_text) == set(DENConfig.__dataclass_fields__)
    assert "tau" in help_text["loss_threshold"]


def test_baseline_configs_have_help_for_inherited_fields():
    from den_engine.methods import get_method

    config_class = get_method("l2").config_class
    assert set(field_help(config_class)) == set(config_class.__dataclass_fields__)


def test_a_benchmark_gets_its_own_preset_values_and_overrides_still_win():
    from den_engine.core.config import BENCHMARK_PRESETS
    from den_engine.methods.baselines.configs import EWCConfig

    tuned = BENCHMARK_PRESETS["fast"]["mnist-variation"]
    config = preset("fast", benchmark="mnist-variation")
    assert config.preset == "fast" and all(getattr(config, k) == v for k, v in tuned.items())
    assert any(getattr(preset("fast"), k) != v for k, v in tuned.items())  # the values do change something
    assert preset("paper", benchmark="mnist-variation") == preset("paper")  # no values listed: the preset as it is
    first = next(iter(tuned))
    assert getattr(preset("fast", benchmark="mnist-variation", **{first: 0.5}), first) == 0.5
    assert preset("fast", EWCConfig, benchmark="mnist-variation") == preset("fast", EWCConfig)  # DEN fields only
    with pytest.raises(ConfigError) as info:
        preset("fast", benchmark="mnist-variations")
    assert info.value.field == "benchmark"


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [("head_iterations", 0, "selects no unit"), ("max_splits_per_layer", 0, "split_threshold=inf")],
)
def test_settings_that_would_silently_do_nothing_are_refused_with_the_reason(field, value, why):
    with pytest.raises(ConfigError) as info:
        preset("fast", **{field: value})
    assert info.value.field == field and why in str(info.value)


def test_switches_parse_from_the_command_line_or_are_refused():
    assert parse_value("prox_scale_with_lr", "true") is True
    assert parse_value("prox_scale_with_lr", "off") is False
    with pytest.raises(ConfigError) as info:
        parse_value("prox_scale_with_lr", "maybe")
    assert info.value.field == "prox_scale_with_lr"


def test_a_preset_built_in_python_gives_the_same_config_as_the_command_line_on_every_benchmark():
    from den_engine.core.config import BENCHMARK_PRESETS, PRESETS
    from den_engine.core.runner import Trainer, bind_preset
    from den_engine.data.benchmarks import BENCHMARKS

    assert any(BENCHMARK_PRESETS.values())  # some benchmark has values of its own: the test can fail
    for name in PRESETS:
        for benchmark in BENCHMARKS:
            cli = preset(name, benchmark=benchmark, seed=3)
            assert bind_preset(preset(name, seed=3), benchmark) == cli, (name, benchmark)
    # a value the caller chose stays; the Trainer binds what it is given
    custom = bind_preset(preset("fast", l1_strength=0.123), "mnist-variation")
    assert custom.l1_strength == 0.123
    trainer = Trainer(preset("fast", hidden_sizes=(4, 4), iterations=5), "toy-2d", 1)
    assert trainer.config.expand_units == preset("fast", benchmark="toy-2d").expand_units != preset("fast").expand_units


def test_a_value_the_caller_set_is_never_taken_back_even_when_it_equals_the_general_one():
    """A tuned or --set value equal to the preset's general value stays (it once became toy-2d's 4)."""
    from den_engine.core.runner import Trainer, bind_preset

    general = preset("fast").expand_units
    assert preset("fast", benchmark="toy-2d").expand_units != general  # the binding would change it
    explicit = preset("fast", expand_units=general, hidden_sizes=(4, 4))  # built in Python, set by hand
    assert bind_preset(explicit, "toy-2d").expand_units == general
    tuned = preset("fast", benchmark="toy-2d").replace(expand_units=general)  # the tuner's copy of a trial
    assert bind_preset(tuned, "toy-2d").expand_units == general
    assert Trainer(tuned.replace(iterations=5), "toy-2d", 1).config.expand_units == general
    untouched = bind_preset(preset("fast", hidden_sizes=(4, 4)), "toy-2d")  # not set: still the benchmark's
    assert untouched.expand_units == preset("fast", benchmark="toy-2d").expand_units
    assert tuned == preset("fast", benchmark="toy-2d", expand_units=general)  # equality and ids ignore the marks
    assert tuned.run_id() == preset("fast", benchmark="toy-2d", expand_units=general).run_id()
