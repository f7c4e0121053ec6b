"""A sweep's time: lanes dealt runs as the launcher deals them, calibrated on measured runs, time left while it runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dashboard.state import sweep_time
from dashboard.state.sweep_launcher import SweepRequest
from den_engine.core.config import DENConfig

SHIPPED = Path(__file__).resolve().parents[3] / "assets" / "runs"
FLOPS = 1e10  # a fixed rate: the numbers below do not depend on this machine


def test_lanes_take_the_next_run_when_free_and_the_busiest_lane_ends_the_sweep():
    assert sweep_time.busiest_lane([4, 1, 1], 2) == 4  # lane 2 takes both short runs meanwhile
    assert sweep_time.busiest_lane([1, 1, 4], 2) == 5  # the long run comes last: it starts after a short one
    assert sweep_time.busiest_lane([1, 1, 1, 1], 2) == 2
    assert sweep_time.busiest_lane([2, 2], 8) == 2  # more lanes than runs
    assert sweep_time.busiest_lane([], 2) == 0


def test_time_left_starts_from_the_estimate_and_moves_to_the_pace(monkeypatch):
    assert sweep_time.remaining_seconds(10, 0, 12, 60) == 50  # nothing learned: the estimate less the time gone
    assert sweep_time.remaining_seconds(30, 6, 12, 60) == pytest.approx(0.5 * 30 + 0.5 * 30)
    assert sweep_time.remaining_seconds(30, 11, 12, 20) == pytest.approx(11 / 12 * 30 / 11)  # late: the pace rules
    assert sweep_time.remaining_seconds(99, 12, 12, 20) == 0


def _measured_run(folder: Path, wall: float) -> Path:
    run = folder / f"run-{wall}"
    shutil.copytree(SHIPPED / "sweeps" / "digits-tau-sigma" / "den-4931836e11", run)
    record = json.loads((run / "run.json").read_text())
    record["compute"] = {"threads": 1}
    for task in record["tasks"]:
        task["wall_time_s"] = wall / len(record["tasks"])
    (run / "run.json").write_text(json.dumps(record))
    return run


def test_the_machine_factor_is_the_median_of_measured_over_model(tmp_path):
    assert sweep_time.measured_factor([tmp_path], FLOPS) == (1.0, 0)  # nothing measured here
    record = json.loads((SHIPPED / "sweeps" / "digits-tau-sigma" / "den-4931836e11" / "run.json").read_text())
    model = sweep_time.model_seconds(DENConfig.from_dict(record["config"]), "digits-one-vs-rest", 5, FLOPS)
    for wall in (2 * model, 3 * model, 10 * model):
        _measured_run(tmp_path, wall)
    factor, n = sweep_time.measured_factor([tmp_path], FLOPS)
    assert n == 3 and factor == pytest.approx(3.0)


def test_the_estimate_scales_the_model_by_the_measured_factor(tmp_path, monkeypatch):
    request = SweepRequest("digits-one-vs-rest", 5, "loss_threshold=0.01,0.1", fixed="hidden_sizes=32x16", workers=2)
    jobs = request.jobs(tmp_path / "sweeps" / "x")
    model = [sweep_time.model_seconds(j.config, j.benchmark, j.n_tasks, FLOPS) for j in jobs]
    monkeypatch.setattr(sweep_time, "load_slowdown", lambda lanes: 1.0)
    cold = sweep_time.estimate_sweep(jobs, 2, [tmp_path], FLOPS)
    assert cold.measured_runs == 0 and cold.seconds == pytest.approx(max(model) + sweep_time.COLD_START_S)
    _measured_run(tmp_path, 4 * model[1])  # this very config (τ=0.01), measured at four times the model
    warm = sweep_time.estimate_sweep(jobs, 2, [tmp_path], FLOPS)
    assert warm.measured_runs == 1 and warm.seconds == pytest.approx(4 * max(model))
    assert "measured on its last 1 finished runs" in warm.words() and "2 runs, 2 at a time" in warm.words()
    one_lane = sweep_time.estimate_sweep(jobs, 1, [tmp_path], FLOPS)
    assert one_lane.seconds == pytest.approx(4 * sum(model))


def test_a_busy_machine_slows_each_new_run_by_its_share_of_the_cores():
    assert sweep_time.load_slowdown(2, load=0.0, cores=2) == 1.0
    assert sweep_time.load_slowdown(2, load=8.0, cores=2) == 5.0
    assert sweep_time.load_slowdown(1, load=0.0, cores=16) == 1.0
