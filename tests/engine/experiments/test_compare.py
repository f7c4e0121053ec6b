"""The comparison: one run per method x seed, a summary table, finished runs reused."""

import csv
import io

import pytest
from compare_folders import folders, one

from den_engine.cli import main
from den_engine.core.errors import ConfigError, DENError
from den_engine.core.runner import Trainer
from den_engine.experiments.compare import compare, run_config, steps_per_task
from den_engine.records.store import load_run

SETS = {"hidden_sizes": "8,8", "iterations": "15", "batch_size": "64", "device": "cpu"}
METHODS = ["den", "stl", "l2"]


def run_compare(out, methods=METHODS, seeds=(0, 1), sets=SETS, log=None, budget="equal"):
    sets = {**sets, "head_iterations": "10"} if "den" in methods else sets  # a field only DEN has
    return compare("toy-2d", 2, methods, list(seeds), "fast", out, dict(sets), log=log, budget=budget)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    return out, run_compare(out)


def test_every_method_and_seed_has_a_run_record(compared):
    out, _ = compared
    for method in METHODS:
        for seed in (0, 1):
            run = load_run(one(out, f"{method}-seed{seed}"))
            assert run.data["method"] == method and run.data["seed"] == seed and run.data["status"] == "complete"
            assert run.config["hidden_sizes"] == [8, 8]
            # equal budgets: DEN's 15 steps per stage; a baseline gets DEN's stages together, 10 + 3 x 15
            assert run.config["iterations"] == (15 if method == "den" else 55)
            assert run.config.get("head_iterations", 10) == 10


def test_summary_has_one_row_per_method_with_mean_and_std(compared):
    out, rows = compared
    table = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text())))
    assert [r["method"] for r in table] == METHODS and all(r["n_seeds"] == "2" for r in table)
    md = (out / "summary.md").read_text()
    assert sum(line.startswith(f"| {m} |") for m in METHODS for line in md.splitlines()) == len(METHODS)
    for row in table:
        finals = [load_run(one(out, f"{row['method']}-seed{s}")).data["final"] for s in (0, 1)]
        aurocs = [f["average_auroc"] for f in finals]
        assert float(row["average_auroc_mean"]) == pytest.approx(sum(aurocs) / 2)
        assert float(row["average_auroc_std"]) == pytest.approx(abs(aurocs[0] - aurocs[1]) / 2**0.5)
        tasks = [load_run(one(out, f"{row['method']}-seed{s}")).tasks for s in (0, 1)]
        val = [sum(t[-1]["metrics"]["val_auroc"]) / len(t[-1]["metrics"]["val_auroc"]) for t in tasks]
        assert float(row["average_val_auroc_mean"]) == pytest.approx(sum(val) / 2)
        assert val != aurocs  # a different split: the tuning column is not the test column again
        assert float(row["params_total_mean"]) == pytest.approx(sum(f["params"]["total"] for f in finals) / 2)
    stl = next(r for r in table if r["method"] == "stl")
    assert float(stl["relative_to_stl_mean"]) == pytest.approx(100.0)


def test_a_second_invocation_reuses_finished_runs(compared):
    out, rows = compared
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/run.json")}
    lines = []
    again = run_compare(out, log=lines.append)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/run.json")} == before
    assert len(lines) == 6 and all(": reused," in line for line in lines)
    assert again == rows


def test_set_applies_only_where_the_field_exists_and_a_changed_config_retrains(tmp_path):
    lines = []
    run_compare(tmp_path, ["l2", "stl"], seeds=(0,), log=lines.append)
    assert all(": trained," in line for line in lines)
    lines.clear()
    run_compare(tmp_path, ["l2", "stl"], seeds=(0,), sets={**SETS, "l2_transfer": "2.5"}, log=lines.append)
    assert ": trained," in lines[0] and ": reused," in lines[1]  # stl has no l2_transfer
    assert sorted(load_run(p).config["l2_transfer"] for p in folders(tmp_path, "l2-seed0")) == [0.5, 2.5]  # both kept
    assert "l2_transfer" not in load_run(one(tmp_path, "stl-seed0")).config
    lines.clear()
    run_compare(tmp_path, ["l2"], seeds=(0,), sets={**SETS, "l2_transfer": "2.5"}, log=lines.append)
    assert ": reused," in lines[0]  # the changed setting finds its own run again
    with pytest.raises(ConfigError) as info:
        run_compare(tmp_path, ["stl"], seeds=(0,), sets={**SETS, "l2_transfer": "2.5"})
    assert info.value.field == "l2_transfer"


def test_cli_prints_the_table_and_rejects_unknown_names(tmp_path, capsys):
    sets = [a for k, v in SETS.items() for a in ("--set", f"{k}={v}")]
    args = ["compare", "--benchmark", "toy-2d", "--tasks", "2", "--methods", "mtl,finetune", "--seeds", "0"]
    assert main([*args, "--out", str(tmp_path), "--quiet", *sets]) == 0
    printed = capsys.readouterr().out
    assert "| mtl † | 1 |" in printed and "† trained on all tasks" in printed
    assert "| finetune | 1 |" in printed and (tmp_path / "summary.md").is_file()
    assert main(["compare", "--methods", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_steps_per_task_are_measured_from_the_record_and_equal_for_the_baselines(compared):
    out, rows = compared
    by_method = {row["method"]: row for row in rows}
    for method in ("stl", "l2"):
        assert by_method[method]["steps_per_task"] == (55, 0)  # every task, exactly DEN's budget
    den = [load_run(one(out, f"den-seed{s}")).data for s in (0, 1)]
    stages = [[sum(e["iterations"] for e in t["events"] if e["type"] == "stage_end") for t in r["tasks"]] for r in den]
    assert all(task_steps[0] == 15 for task_steps in stages)  # task 1: Eq. 2 alone
    assert all(10 + 15 <= task_steps[1] <= 55 for task_steps in stages)  # Eq. 3 and 4 always; 5 and 6 when they run
    assert [steps_per_task(r) for r in den] == [sum(s) / 2 for s in stages]
    assert by_method["den"]["steps_per_task"][0] == pytest.approx(sum(map(sum, stages)) / 4)
    assert "| steps per task |" in (out / "summary.md").read_text()
    assert "budget: equal steps per task" in (out / "summary.md").read_text()


def test_budget_method_keeps_each_methods_own_steps_and_a_bad_budget_is_named(tmp_path):
    run_compare(tmp_path, ["stl"], seeds=(0,), sets={**SETS, "iterations": "12"}, budget="method")
    assert load_run(one(tmp_path, "stl-seed0")).config["iterations"] == 12
    with pytest.raises(ConfigError) as info:
        run_compare(tmp_path, ["stl"], seeds=(0,), budget="same")
    assert info.value.field == "budget"


def test_a_record_without_a_field_added_later_is_reused_when_that_field_is_at_its_default(tmp_path):
    import json

    run_compare(tmp_path, ["l2"], seeds=(0,))
    path = one(tmp_path, "l2-seed0") / "run.json"
    data = json.loads(path.read_text())
    del data["config"]["l2_transfer"]  # as written before the field existed; 0.5 is its default
    path.write_text(json.dumps(data))
    lines = []
    run_compare(tmp_path, ["l2"], seeds=(0,), log=lines.append)
    assert ": reused," in lines[0]
    run_compare(tmp_path, ["l2"], seeds=(0,), sets={**SETS, "l2_transfer": "2.5"}, log=lines.append)
    assert ": trained," in lines[1]  # not at the default: a different config


def test_a_changed_task_count_or_set_keeps_the_earlier_runs(tmp_path):
    # the reported loss: --tasks 3 after --tasks 2 replaced the 2-task runs
    lines = []
    compare("toy-2d", 2, ["stl"], [0], "fast", tmp_path, dict(SETS), log=lines.append)
    first = one(tmp_path, "stl-seed0")
    before = (first / "run.json").read_bytes()
    compare("toy-2d", 3, ["stl"], [0], "fast", tmp_path, dict(SETS), log=lines.append)
    compare("toy-2d", 2, ["stl"], [0], "fast", tmp_path, {**SETS, "learning_rate": "0.002"}, log=lines.append)
    runs = {p: load_run(p) for p in folders(tmp_path, "stl-seed0")}
    assert len(runs) == 3 and (first / "run.json").read_bytes() == before  # all three kept, the first untouched
    shapes = sorted((r.data["benchmark"]["n_tasks"], r.config["learning_rate"]) for r in runs.values())
    assert shapes == [(2, 0.002), (2, runs[first].config["learning_rate"]), (3, runs[first].config["learning_rate"])]
    compare("toy-2d", 2, ["stl"], [0], "fast", tmp_path, dict(SETS), log=lines.append)
    assert [line.split(": ")[1].split(",")[0] for line in lines] == ["trained", "trained", "trained", "reused"]
    assert (first / "run.json").read_bytes() == before


def test_an_old_style_folder_is_reused_when_it_holds_this_run_and_left_alone_otherwise(tmp_path):
    config = run_config("stl", "fast", 0, dict(SETS), benchmark="toy-2d")
    with Trainer(config, "toy-2d", 2, tmp_path / "stl-seed0", method="stl") as old:  # before folders had a hash
        old.run()
    before = (tmp_path / "stl-seed0" / "run.json").read_bytes()
    lines = []
    compare("toy-2d", 2, ["stl"], [0], "fast", tmp_path, dict(SETS), log=lines.append)
    assert ": reused," in lines[0] and folders(tmp_path, "stl-seed0") == []  # reused where it is
    compare("toy-2d", 1, ["stl"], [0], "fast", tmp_path, dict(SETS), log=lines.append)
    assert ": trained," in lines[1] and load_run(one(tmp_path, "stl-seed0")).data["benchmark"]["n_tasks"] == 1
    assert (tmp_path / "stl-seed0" / "run.json").read_bytes() == before  # the other run is left as it was


def test_a_folder_holding_something_else_is_named_and_left_alone(tmp_path):
    compare("toy-2d", 1, ["stl"], [0], "fast", tmp_path, dict(SETS))
    folder = one(tmp_path, "stl-seed0")
    (folder / "run.json").write_text("{ not json")  # e.g. a record damaged by hand
    with pytest.raises(DENError, match=f"{folder}: holds a damaged run record"):
        compare("toy-2d", 1, ["stl"], [0], "fast", tmp_path, dict(SETS))
    assert (folder / "run.json").read_text() == "{ not json" and (folder / "weights").is_dir()


def test_the_estimate_before_training_counts_only_the_runs_still_to_train(tmp_path):
    costs = []
    compare("toy-2d", 1, ["stl"], [0], "fast", tmp_path, dict(SETS), on_estimate=costs.append)
    compare("toy-2d", 1, ["stl"], [0, 1], "fast", tmp_path, dict(SETS), on_estimate=costs.append)
    assert [(c.to_train, c.reused) for c in costs] == [(1, 0), (1, 1)]  # seed 0 is reused, not trained again
    assert all(c.seconds > 0 for c in costs)
