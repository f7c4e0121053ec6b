"""AppTest of every bad field on the Train, Runs and Learn pages: a message naming it, its buttons disabled.

And the run's cost: a network too big for memory is refused, a run of over an hour shows its
estimate and trains only once confirmed. Nothing is written while a field is bad.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.state.session import TrainingSession
from den_engine import Trainer, preset
from den_engine.core import budget

APP = str(Path(__file__).resolve().parents[3] / "dashboard" / "app.py")
TIMEOUT = 60


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("examples") / "toy-example"
    Trainer(preset("fast", hidden_sizes=(4, 4), iterations=10, head_iterations=5), "toy-2d", 2, out_dir=folder).run()
    return folder


@pytest.fixture
def env(monkeypatch, tmp_path, example) -> Path:
    runs = tmp_path / "runs"
    monkeypatch.setenv("DEN_EXAMPLES_DIR", str(example.parent))
    monkeypatch.setenv("DEN_RUNS_DIR", str(runs))
    monkeypatch.setenv("DEN_SYNC_TRAINING", "1")
    return runs


@pytest.fixture
def submitted(monkeypatch) -> list:
    """Specs the Train page submitted (training itself is not needed to test a refusal)."""
    captured = []
    monkeypatch.setattr(TrainingSession, "submit", lambda self, spec, count: captured.append(spec) or True)
    return captured


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def _blocked(at: AppTest) -> bool:
    return at.button(key="next_task").disabled and at.button(key="run_all").disabled


def _set(at: AppTest, key: str, value) -> AppTest:
    widget = at.number_input(key=key) if key in ("cfg_n_tasks", "cfg_seed") else at.text_input(key=key)
    (widget.set_value(value) if key in ("cfg_n_tasks", "cfg_seed") else widget.input(value)).run()
    return at


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("cfg_n_tasks", 0, "n_tasks: 0 tasks is not possible; toy-2d has 1 to 6"),
        ("cfg_n_tasks", 7, "n_tasks: 7 tasks"),
        ("cfg_seed", -1, "seed:"),
        ("cfg_hidden_sizes", "32,,16", "hidden_sizes: '32,,16' is not a list of layer sizes"),
        ("cfg_hidden_sizes", "32,16,", "hidden_sizes:"),
        ("cfg_loss_threshold", "-1", "loss_threshold:"),
        ("cfg_split_threshold", "−1", "split_threshold: cannot read"),  # a typographic minus
        ("cfg_iterations", "1,000,000", "iterations: cannot read"),
        ("cfg_iterations", "0", "iterations:"),
        ("cfg_batch_size", "-5", "batch_size:"),
    ],
)
def test_each_bad_field_is_named_and_blocks_training(env, submitted, caplog, key, value, named):
    at = _app()
    assert not _blocked(at)
    with caplog.at_level(logging.INFO, logger="dashboard"):
        _set(at, key, value)
    assert not at.exception
    (message,) = [e.value for e in at.error]
    assert named in message and "Traceback" not in message
    assert _blocked(at) and "check the settings first" in at.button(key="next_task").help
    assert any(named in r.getMessage() for r in caplog.records)  # the server log has the detail
    at.session_state["train_action"] = "next_task"  # a click that slipped through (a stale page) trains nothing
    at.run()
    assert submitted == [] and not env.exists()
    assert (at.number_input(key=key).value if key in ("cfg_n_tasks", "cfg_seed") else at.text_input(key=key).value) \
        == value  # the field keeps what was typed: nothing replaced behind the user's back  # fmt: skip


def test_every_bad_field_is_listed_at_once(env, submitted):
    at = _app()
    _set(at, "cfg_n_tasks", 0)
    _set(at, "cfg_hidden_sizes", "8,,8")
    _set(at, "cfg_split_threshold", "-1")
    (message,) = [e.value for e in at.error]
    assert all(f"- {field}:" in message for field in ("n_tasks", "hidden_sizes", "split_threshold")), message
    _set(at, "cfg_n_tasks", 2)
    _set(at, "cfg_hidden_sizes", "8,8")
    _set(at, "cfg_split_threshold", "0.05")
    assert not at.error and not _blocked(at)
    at.button(key="next_task").click().run()
    assert len(submitted) == 1 and submitted[0].n_tasks == 2 and submitted[0].config.hidden_sizes == (8, 8)


def test_a_nul_byte_in_the_runs_folder_is_named_on_both_pages(env, submitted):
    at = _app().switch_page("app_pages/runs.py").run()
    at.text_input(key="cfg_runs_folder").input("mine\x00x").run()
    assert not at.exception
    (message,) = [e.value for e in at.error]
    assert "control character '\\x00'" in message and "embedded null byte" not in message
    at.switch_page("app_pages/train.py").run()
    assert not at.exception and _blocked(at)
    (message,) = [e.value for e in at.error]
    assert "runs folder" in message and "set on the Runs page" in message
    assert submitted == [] and not env.exists()


def test_a_run_of_over_an_hour_shows_its_estimate_and_waits_for_a_yes(env, submitted):
    at = _app()
    _set(at, "cfg_iterations", "1000000")
    assert not at.exception and not at.error
    (warning,) = [w.value for w in at.warning if "would take" in w.value]
    steps = budget.steps_per_run(preset("fast", benchmark="toy-2d", iterations=1_000_000), 6)
    assert re.search(r"take about \d+ h \d+ min", warning) and f"{steps:,} training steps" in warning
    assert _blocked(at) and "confirm the long run" in at.button(key="next_task").help
    (box,) = at.checkbox
    box.check().run()
    assert not _blocked(at)
    at.button(key="run_all").click().run()
    assert len(submitted) == 1 and submitted[0].config.iterations == 1_000_000
    _set(at, "cfg_iterations", "2000000")  # another setting: asked again
    assert _blocked(at) and not at.checkbox[0].value


def test_huge_layers_are_refused_or_confirmed_before_any_training(env, submitted, monkeypatch):
    at = _app()
    at.selectbox(key="cfg_benchmark").set_value("digits-one-vs-rest").run()
    monkeypatch.setattr(budget, "available_bytes", lambda device: 64 << 30)  # a machine where it fits
    _set(at, "cfg_hidden_sizes", "10000,10000")
    assert not at.error and _blocked(at)
    assert any("would take about" in w.value and " h" in w.value for w in at.warning)
    monkeypatch.setattr(budget, "available_bytes", lambda device: 1 << 30)  # one where it does not
    _set(at, "cfg_hidden_sizes", "10000,10001")
    (message,) = [e.value for e in at.error]
    assert "hidden_sizes" in message and "would need about" in message and "1.0 GB is free" in message
    assert _blocked(at) and not at.checkbox
    assert submitted == [] and not env.exists()


def _learn() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("app_pages/learn.py")
    return at.run()


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("learn_loss_threshold", -1.0, "τ: must be between 0.0 and 10.0"),
        ("learn_split_threshold", 11.0, "σ: must be between 0.0 and 10.0"),
        ("learn_group_lasso", 2.0, "γ: must be between 0.0 and 1.0"),
        ("learn_iterations", 5, "Steps per stage: must be between 20 and 2000"),
        ("learn_seed", -3, "Seed: must be between 0 and"),
        ("learn_hidden_sizes", "32,,16", "Hidden units per layer: “32,,16” is not a list of whole numbers"),
    ],
)
def test_each_bad_learn_field_is_named_and_blocks_training(env, key, value, named):
    at = _learn()
    assert not at.button(key="learn_next").disabled
    widget = at.text_input(key=key) if key == "learn_hidden_sizes" else at.number_input(key=key)
    (widget.input(value) if key == "learn_hidden_sizes" else widget.set_value(value)).run()
    assert not at.exception
    assert any(named in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="learn_next").disabled and at.button(key="learn_play").disabled
    assert widget.value == value  # shown as typed, not put back to the last good value
