"""Property tests: random configs and random or damaged run files either load or raise
the project's own error — never anything else."""

import json
import math
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from den_engine.core.config import ConfigError, DENConfig, parse_value
from den_engine.core.errors import RunFileError
from den_engine.core.runner import Trainer
from den_engine.records.store import load_run

ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.tuples(st.integers(-5, 500), st.integers(-5, 500)),
    st.lists(st.integers(-5, 50), max_size=3),
)
FIELDS = list(DENConfig.__dataclass_fields__)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), ANY, max_size=5))
def test_random_configs_are_accepted_or_rejected_with_a_config_error(values):
    try:
        config = DENConfig(**values)
    except ConfigError as exc:
        assert exc.field in FIELDS
        return
    # whatever was accepted is a usable config
    assert len(config.hidden_sizes) >= 1 and config.learning_rate > 0
    assert not math.isnan(config.loss_threshold) and not math.isnan(config.split_threshold)
    assert DENConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FIELDS), st.text(max_size=12))
def test_random_set_strings_parse_or_raise_a_config_error(name, text):
    try:
        value = parse_value(name, text)
        DENConfig(**{name: value})
    except ConfigError:
        pass


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    from den_engine.core.config import preset

    out = tmp_path_factory.mktemp("prop") / "run"
    Trainer(preset("fast", hidden_sizes=(4, 4), iterations=5, head_iterations=5, device="cpu"), "toy-2d", 2, out).run()
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=10**6), st.binary(max_size=64))
def test_truncated_or_spliced_run_json_loads_or_raises_run_file_error(good_run, tmp_path_factory, cut, junk):
    target = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(good_run, target)
    text = (good_run / "run.json").read_bytes()
    cut = cut % (len(text) + 1)
    (target / "run.json").write_bytes(text[:cut] + junk)
    try:
        run = load_run(target)
    except RunFileError:
        return
    for task in range(1, len(run.tasks) + 1):
        try:
            run.network(task)
        except RunFileError:
            pass


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["format", "schema_version", "method", "config", "benchmark", "tasks"]), JSON_VALUES)
def test_any_value_in_a_required_field_loads_or_raises_run_file_error(good_run, tmp_path_factory, field, value):
    target = tmp_path_factory.mktemp("field") / "run"
    shutil.copytree(good_run, target)
    data = json.loads((good_run / "run.json").read_text())
    data[field] = value
    (target / "run.json").write_text(json.dumps(data))
    try:
        load_run(target)
    except RunFileError:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=2000), st.binary(max_size=32))
def test_damaged_weights_raise_run_file_error(good_run, tmp_path_factory, cut, junk):
    target = tmp_path_factory.mktemp("weights") / "run"
    shutil.copytree(good_run, target)
    path = target / "weights" / "task-002.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: cut % len(data)] + junk)
    try:
        load_run(target).network(2)
    except RunFileError:
        pass
