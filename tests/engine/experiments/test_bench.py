"""The engine's bench: its throughput part on a tiny benchmark (its figures are timings: only their shape is tested)."""

from __future__ import annotations

from den_engine.experiments import bench


def test_throughput_compares_every_stage_with_a_bare_mlp_of_its_active_shape_over_rounds():
    results = bench.run_bench("toy-2d", iterations=5, device="cpu", parts=("throughput",))
    result = results["throughput"]
    assert result["rounds"] == bench.ROUNDS >= 3
    stages = [row["stage"] for row in result["stages"]]
    assert stages == ["sparse_training", "train_head", "selective_retraining", "expansion", "split_retraining"]
    for row in result["stages"]:
        assert row["samples_per_s"] > 0 and row["bare_mlp_samples_per_s"] > 0
        assert abs(row["ratio_to_bare_mlp"] - row["samples_per_s"] / row["bare_mlp_samples_per_s"]) < 1e-12
        # the steps alone are faster than the whole stage, which adds the closing whole-split loss
        assert row["samples_per_s"] > row["stage_samples_per_s"] > 0
        assert abs(row["stage_ratio_to_bare_mlp"] - row["stage_samples_per_s"] / row["bare_mlp_samples_per_s"]) < 1e-12
        assert row["shape"][0] == 2  # the active shape starts at the input
    split = result["stages"][-1]
    assert split["stored_shape"] != split["shape"]  # split retraining computes fewer units than are stored
    table = bench.format_table(results)
    assert f"median of {bench.ROUNDS} rounds" in table and "split_retraining" in table


def test_data_part_times_the_same_data_from_a_task_sequence_and_from_the_benchmark():
    results = bench.run_bench("toy-2d", full_run_tasks=1, device="cpu", parts=("data",))
    row = results["data_source"]
    assert row["tasks"] == 1 and len(row["all_benchmark_s"]) == len(row["all_sequence_s"]) == row["rounds"]
    assert row["same_run"] is True  # the same tensors through both doors: the same run
    assert abs(row["ratio"] - row["sequence_s"] / row["benchmark_s"]) < 1e-12
    assert abs(row["cpu_ratio"] - row["sequence_cpu_s"] / row["benchmark_cpu_s"]) < 1e-12
    assert "TaskSequence" in bench.format_table(results)
