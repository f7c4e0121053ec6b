"""Per-user training sessions: background training, stop keeps finished tasks, runs-folder safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.state.session import RunSpec, TrainingSession, build_spec, new_run_dir, resolve_runs_dir
from den_engine import ConfigError, load_run, preset
from den_engine.data.benchmarks import BenchmarkError

WAIT_S = 120


def _values(**changes) -> dict:
    values = {
        "benchmark": "toy-2d", "n_tasks": 3, "method": "den", "preset": "fast", "hidden_sizes": "8,8",
        "seed": 0, "device": "cpu", "params": {"iterations": "20", "head_iterations": "10"},
    }  # fmt: skip
    values.update(changes)
    return values


def _spec(tmp_path: Path, n_tasks: int = 3) -> RunSpec:
    return build_spec(_values(n_tasks=n_tasks), tmp_path)


def test_build_spec_applies_preset_and_overrides(tmp_path):
    spec = build_spec(_values(), tmp_path)
    assert spec.config.hidden_sizes == (8, 8) and spec.config.iterations == 20
    assert spec.config.l1_strength == preset("fast").l1_strength
    assert spec.config.preset == "fast-custom"
    assert build_spec(_values(params={}, hidden_sizes="16,16"), tmp_path).config.preset == "fast-custom"
    untouched = build_spec(_values(params={}), tmp_path).config  # toy-2d's fast sizes are 8,8
    assert untouched.preset == "fast" and untouched == preset("fast", benchmark="toy-2d", device="cpu")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hidden_sizes": "abc"}, "hidden_sizes"),
        ({"hidden_sizes": ""}, "hidden_sizes"),
        ({"params": {"split_threshold": "-1"}}, "split_threshold"),
        ({"params": {"loss_threshold": "lots"}}, "loss_threshold"),
        ({"method": "sgd-magic"}, "method"),
        ({"preset": "turbo"}, "preset"),
    ],
)
def test_bad_values_name_the_field(tmp_path, changes, field):
    with pytest.raises(ConfigError) as info:
        build_spec(_values(**changes), tmp_path)
    assert info.value.field == field and str(info.value).startswith(f"{field}:")


def test_bad_task_count_is_a_benchmark_error(tmp_path):
    with pytest.raises(BenchmarkError, match="n_tasks"):
        build_spec(_values(n_tasks=99), tmp_path)


def test_runs_folder_cannot_escape_its_root(tmp_path):
    root = tmp_path / "runs"
    assert resolve_runs_dir("", root) == root.resolve()
    assert resolve_runs_dir("mine", root) == (root / "mine").resolve()
    for bad in ("..", "../elsewhere", "/etc", "mine/../../x"):
        with pytest.raises(ValueError, match="outside"):
            resolve_runs_dir(bad, root)


def test_run_dir_name_and_uniqueness(tmp_path):
    first = new_run_dir(tmp_path, "toy-2d", "den", "abc123")
    assert first.parent == tmp_path.resolve() and first.name.startswith("toy-2d-den-abc123-")
    first.mkdir()
    second = new_run_dir(tmp_path, "toy-2d", "den", "abc123")
    assert second != first and second.parent == tmp_path.resolve()


def test_background_next_task_commits_one_task_and_saves_it(tmp_path):
    session = TrainingSession(sync=False)
    assert session.submit(_spec(tmp_path), 1)
    assert session.wait(WAIT_S)
    status = session.status()
    assert not status.busy and status.tasks_done == 1 and status.message[0] == "success"
    assert len(load_run(status.run_dir).tasks) == 1
    assert session.submit(_spec(tmp_path), 1) and session.wait(WAIT_S)
    status = session.status()
    assert status.tasks_done == 2 and len(load_run(status.run_dir).tasks) == 2
    assert len(list(tmp_path.iterdir())) == 1  # the second click continued the same run


def test_stop_drops_the_task_in_flight_and_keeps_finished_ones(tmp_path):
    session = TrainingSession(sync=False)
    real, armed = session._on_progress, [True]

    def stop_during_task_two(stage, iteration, total, loss):
        real(stage, iteration, total, loss)
        if armed[0] and session.trainer is not None and session.trainer.tasks_done == 1 and iteration >= 3:
            armed[0] = False
            session.stop()

    session._on_progress = stop_during_task_two
    session.submit(_spec(tmp_path), None)
    assert session.wait(WAIT_S)
    status = session.status()
    assert status.tasks_done == 1 and status.message[0] == "warning" and "task 2 was dropped" in status.message[1]
    run = load_run(status.run_dir)
    assert len(run.tasks) == 1 and run.data["status"] == "stopped"
    assert session.submit(_spec(tmp_path), 1) and session.wait(WAIT_S)  # the run goes on after a stop
    assert session.status().tasks_done == 2


def test_sessions_are_independent_and_reset_forgets(tmp_path):
    one, two = TrainingSession(sync=True), TrainingSession(sync=True)
    one.submit(_spec(tmp_path), 1)
    assert one.status().tasks_done == 1 and two.status().tasks_done == 0 and two.trainer is None
    assert one.reset() and one.trainer is None and one.status().run_dir is None
    one.submit(_spec(tmp_path), 1)
    assert one.status().tasks_done == 1 and len(list(tmp_path.iterdir())) == 2


def test_engine_errors_become_messages(tmp_path):
    session = TrainingSession(sync=True)
    spec = RunSpec(preset("fast", hidden_sizes=(4,), device="cuda"), "toy-2d", 2, tmp_path)
    session.submit(spec, 1)
    status = session.status()
    if status.tasks_done:  # a machine with CUDA trains instead
        pytest.skip("CUDA is available here")
    assert status.message[0] == "error" and "device" in status.message[1] and not status.busy


def test_a_baseline_gets_its_own_config_and_ignores_den_thresholds(tmp_path):
    spec = build_spec(_values(method="ewc", params={"loss_threshold": "0.3", "iterations": "7"}), tmp_path)
    assert spec.method == "ewc" and type(spec.config).__name__ == "EWCConfig"
    assert spec.config.iterations == 7 and not hasattr(spec.config, "loss_threshold")


def test_a_waiting_job_polls_slowly_and_its_start_redraws_the_page_once(tmp_path):
    from dashboard.state.session import POLL_QUEUED_S, POLL_TRAINING_S, Status, poll_seconds

    assert poll_seconds(Status(busy=False)) is None
    assert poll_seconds(Status(busy=True, queued=(3, 20.0))) == POLL_QUEUED_S > POLL_TRAINING_S
    assert poll_seconds(Status(busy=True)) == POLL_TRAINING_S
    session, bumps = TrainingSession(sync=True), []
    real = session._on_message

    def counting(kind, data):
        before = session.status().version
        real(kind, data)
        if kind == "task_start":
            bumps.append(session.status().version - before)

    session._on_message = counting
    session.submit(_spec(tmp_path, n_tasks=2), None)
    assert bumps == [1, 0]  # the job's first unit redraws the page (its poll speeds up); the next does not
    session.submit(_spec(tmp_path, n_tasks=2), None)
    assert bumps == [1, 0, 1]  # a new job: once more
