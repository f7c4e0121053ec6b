"""AppTest of a newcomer's walk: presets that mean what they say, refusals before training, honest run states.

Training runs inside the script run (DEN_SYNC_TRAINING=1) or is captured before it starts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from streamlit.runtime.memory_media_file_storage import _calculate_file_id
from streamlit.testing.v1 import AppTest

from dashboard.state.ownership import OWNER_FILE
from dashboard.state.session import TrainingSession, preset_config
from den_engine import Trainer, preset
from den_engine.data.benchmarks import BENCHMARKS

ROOT = Path(__file__).resolve().parents[3]
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 60


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """A shipped-style example whose settings differ from the fast preset (they must not leak)."""
    folder = tmp_path_factory.mktemp("examples") / "toy-example"
    config = preset("fast", hidden_sizes=(8, 8), iterations=20, head_iterations=10, expand_units=6)
    Trainer(config, "toy-2d", 3, out_dir=folder).run()
    return folder


@pytest.fixture
def env(monkeypatch, tmp_path, example) -> Path:
    runs = tmp_path / "runs"
    monkeypatch.setenv("DEN_EXAMPLES_DIR", str(example.parent))
    monkeypatch.setenv("DEN_RUNS_DIR", str(runs))
    monkeypatch.setenv("DEN_SYNC_TRAINING", "1")
    return runs


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def _expected_fast(benchmark: str):
    """The fast preset's values for a benchmark, straight from the engine."""
    return preset("fast", benchmark=benchmark)


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_an_untouched_fast_run_is_exactly_the_fast_preset(env, monkeypatch, benchmark):
    captured = []
    monkeypatch.setattr(TrainingSession, "submit", lambda self, spec, count: captured.append(spec) or True)
    at = _app()
    assert at.selectbox(key="cfg_preset").value == "fast"
    if benchmark != "toy-2d":  # the example's benchmark: the first screen's controls
        at.selectbox(key="cfg_benchmark").set_value(benchmark).run()
    at.button(key="next_task").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    config = captured[-1].config
    assert captured[-1].benchmark == benchmark and config.preset == "fast"
    assert config == _expected_fast(benchmark).replace(device="auto", seed=0)


def test_the_first_run_records_preset_fast_and_its_values(env):
    at = _app()
    at.button(key="next_task").click().run()
    assert not at.exception and not at.error
    (run_dir,) = env.iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    k = _expected_fast("toy-2d").expand_units
    assert record["preset"] == "fast" and record["config"]["expand_units"] == k != 6  # the example's k did not leak
    assert record["config"] == {**_expected_fast("toy-2d").to_dict(), "device": "auto"}


def test_a_network_too_big_for_memory_is_refused_naming_the_field(env, monkeypatch):
    at = _app()
    at.text_input(key="cfg_expand_units").input("1000000").run()
    assert not at.exception
    (message,) = [e.value for e in at.error]
    assert "expand_units" in message and "would need about" in message and "TB" in message
    assert at.button(key="next_task").disabled and at.button(key="run_all").disabled
    assert not env.exists()


def test_junk_in_the_address_is_listed_with_reasons(env):
    query = {"benchmark": "nope", "tasks": "-1", "seed": "abc", "method": "xxx", "device": "tpu", "preset": "zzz"}
    at = _app({**query, "split_threshold": "-3", "colour": "red"})
    assert not at.exception and not at.error
    (warning,) = [w.value for w in at.warning if "From the address" in w.value]
    for key in [*query, "split_threshold", "colour"]:
        assert f"{key}=" in warning
    assert "must be a number >= 0" in warning and "not a setting of this page" in warning
    at = _app({"benchmark": "digits-one-vs-rest", "tasks": "999"})
    (warning,) = [w.value for w in at.warning if "From the address" in w.value]
    assert "tasks='999' ignored: digits-one-vs-rest has 1 to 10 tasks" in warning
    assert at.number_input(key="cfg_n_tasks").value == 10  # the benchmark's default, not a silent clamp
    at = _app({"benchmark": "toy-2d", "tasks": "2", "expand_units": "3"})
    assert not [w for w in at.warning if "From the address" in w.value]
    assert at.number_input(key="cfg_n_tasks").value == 2 and at.text_input(key="cfg_expand_units").value == "3"


def test_a_too_long_runs_folder_is_a_field_message_and_logged(env, caplog):
    at = _app().switch_page("app_pages/runs.py").run()
    with caplog.at_level(logging.WARNING, logger="dashboard"):
        at.text_input(key="cfg_runs_folder").input("x" * 300).run()
    assert not at.exception
    (message,) = [e.value for e in at.error]
    assert message.startswith("runs folder:") and "255 characters" in message
    assert "Traceback" not in message and not [e for e in at.expander if "bug report" in e.label]
    assert any("255 characters" in r.getMessage() for r in caplog.records)


def test_downloads_are_of_the_picked_run(env, example):
    other = env / "other-run"
    Trainer(preset("fast", hidden_sizes=(4,), iterations=5, head_iterations=2), "toy-2d", 1, out_dir=other).run()
    at = _app().switch_page("app_pages/runs.py").run()
    at.selectbox(key="run_pick").set_value(str(other)).run()
    assert not at.exception and not at.error
    assert any("Download the picked run: other-run" in h.value for h in at.subheader)
    data = (other / "run.json").read_bytes()
    urls = [d.proto.url for d in at.get("download_button")]
    assert any(_calculate_file_id(data, "application/json", "other-run.json") in url for url in urls)


def test_an_abandoned_run_says_so_and_resumes(env):
    run_dir = env / "abandoned"
    trainer = Trainer(preset("fast", hidden_sizes=(4, 4), iterations=10, head_iterations=5), "toy-2d", 3, run_dir)
    trainer.train_next()
    trainer.close()  # the trainer's process is gone (its lock with it); run.json still says "running"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    at = _app().switch_page("app_pages/runs.py").run()
    table = at.dataframe[0].value
    assert table.loc[table["name"] == "abandoned", "status"].item() == "interrupted after task 1"
    at.selectbox(key="run_pick").set_value(str(run_dir)).run()
    assert any("was interrupted after task 1" in w.value for w in at.warning)
    at.button(key="resume_run").click().run()
    assert not at.exception and not at.error
    at.switch_page("app_pages/train.py").run()  # AppTest stays on the page it ran; a browser follows switch_page
    assert "status running" in next(c.value for c in at.caption if "abandoned" in c.value)
    at.button(key="next_task").click().run()
    assert not at.exception and not at.error
    record = json.loads((run_dir / "run.json").read_text())
    assert len(record["tasks"]) == 2 and record["config"]["hidden_sizes"] == [4, 4]  # its own settings
    assert (run_dir / OWNER_FILE).is_file()
    table = _app().switch_page("app_pages/runs.py").run().dataframe[0].value
    assert table.loc[table["name"] == "abandoned", "status"].item() == "running"  # owned by the live session


def test_an_unexpected_error_is_logged_with_its_traceback_not_shown(env, monkeypatch, caplog):
    from dashboard import figures

    def broken(record):
        raise RuntimeError("chart exploded")

    monkeypatch.setattr(figures, "units_chart", broken)
    with caplog.at_level(logging.ERROR, logger="dashboard"):
        at = _app()
    (message,) = [e.value for e in at.error]
    assert "chart exploded" in message and "server log" in message
    assert not [e for e in at.expander if "bug report" in e.label] and "Traceback" not in message
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged and logged[0].exc_info is not None
    assert logged[0].getMessage().split("reference ")[1].rstrip(")") in message


def test_the_first_screen_says_what_den_is_and_labels_its_example(env):
    at = _app()
    assert any("grows its own network" in m.value for m in at.markdown)
    assert "Number of tasks (1 to 6)" == at.number_input(key="cfg_n_tasks").label
    mnist = ROOT / "assets" / "runs" / "mnist-den-fast"
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["view_path"] = str(mnist)
    at.run()
    (caption,) = [c.value for c in at.caption if "mnist-den-fast" in c.value]
    expected = "-".join(map(str, preset_config("fast", "mnist-one-vs-rest").hidden_sizes))
    assert "starts with 100-50 hidden units" in caption and f"a new fast run: {expected}" in caption


def test_a_run_of_a_benchmark_this_version_does_not_know_still_draws(env, example, tmp_path):
    """The run caption compares sizes with the preset's only when the benchmark is known; it never errors."""
    import shutil

    renamed = tmp_path / "runs" / "renamed"
    shutil.copytree(example, renamed)
    data = json.loads((renamed / "run.json").read_text())
    data["benchmark"]["name"] = "toy-2d (from another version)"
    (renamed / "run.json").write_text(json.dumps(data))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["view_path"] = str(renamed)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("starts with 8-8 hidden units." in c.value for c in at.caption)
