"""DEN on a user's data, end to end: sklearn tasks from Python and through ``den run --data``,
then evaluate, resume, export, report, compare and sweep; other data is refused, naming it."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs, make_circles, make_moons

import den_engine as den
from den_engine.cli import main
from den_engine.core.runner import run_id
from den_engine.data.sources import data_key
from den_engine.records.evaluate import evaluate_run

TINY = dict(hidden_sizes=(8, 8), iterations=20, head_iterations=5, batch_size=64)
FLAGS = ["--preset", "fast", "--quiet", "--device", "cpu", "--set", "hidden_sizes=8,8", "--set", "iterations=20",
         "--set", "head_iterations=5", "--set", "batch_size=64"]  # fmt: skip


def split(x, y, seed=0):
    order = np.random.default_rng(seed).permutation(len(x))
    n = int(0.7 * len(x))
    return {"x_train": x[order[:n]], "y_train": y[order[:n]], "x_test": x[order[n:]], "y_test": y[order[n:]]}


def shape_tasks():
    return [
        split(*make_moons(200, noise=0.2, random_state=0)),
        split(*make_circles(200, noise=0.1, factor=0.5, random_state=0)),
        split(*make_blobs(200, centers=2, random_state=0)),
    ]


def write_digit_pairs(path, scale=1.0):
    """Three tasks of 8x8 digit images, (n, H, W): 0 vs 1, 2 vs 3, 4 vs 5."""
    digits = load_digits()
    arrays = {}
    for t, (a, b) in enumerate([(0, 1), (2, 3), (4, 5)], start=1):
        keep = (digits.target == a) | (digits.target == b)
        task = split((digits.images[keep] / 16 * scale).astype(np.float32), (digits.target[keep] == b).astype(int))
        arrays.update({f"{k}_{t}": v for k, v in task.items()})
    np.savez(path, task_names=np.array(["0 vs 1", "2 vs 3", "4 vs 5"]), **arrays)


def test_python_run_on_sklearn_tasks_evaluates_only_with_the_same_data(tmp_path):
    seq = den.TaskSequence.from_arrays(shape_tasks(), names=["moons", "circles", "blobs"], name="shapes")
    config = den.preset("fast", **TINY)
    with den.Trainer(config, seq, out_dir=tmp_path / "run") as trainer:
        record = trainer.run()
    assert record["benchmark"]["task_names"] == ["moons", "circles", "blobs"]
    assert record["benchmark"]["data"]["kind"] == "memory" and record["final"]["average_auroc"] > 0.6
    report = evaluate_run(tmp_path / "run", data=seq)
    assert report["agrees_with_record"] and report["max_abs_difference"] == 0.0
    with pytest.raises(den.DataError, match="in-memory data"):
        evaluate_run(tmp_path / "run")
    other = shape_tasks()
    other[1]["x_test"] = other[1]["x_test"] * 2
    with pytest.raises(den.DataError, match="differs from the data this run was trained on"):
        evaluate_run(tmp_path / "run", data=den.TaskSequence.from_arrays(other, name="shapes"))


def test_cli_run_on_a_file_then_evaluate_resume_export_report_and_refuse_a_changed_file(tmp_path, capsys):
    data, run = tmp_path / "pairs.npz", tmp_path / "run"
    write_digit_pairs(data)
    assert main(["run", "--data", str(data), "--tasks", "2", "--out", str(run), *FLAGS]) == 0
    assert main(["run", "--resume", str(run), "--tasks", "3", "--quiet"]) == 0  # the file found at its path
    capsys.readouterr()
    record = json.loads((run / "run.json").read_text())
    bench = record["benchmark"]
    assert bench["input_shape"] == [8, 8] and bench["task_names"] == ["0 vs 1", "2 vs 3", "4 vs 5"]
    assert bench["data"]["file"] == "pairs.npz" and bench["data"]["path"] == str(data.resolve())
    assert bench["data"]["arrays"]["x_train_1"]["shape"][1:] == [8, 8]
    assert record["status"] == "complete" and len(record["tasks"]) == 3

    assert main(["evaluate", str(run)]) == 0
    assert json.loads(capsys.readouterr().out)["agrees_with_record"] is True
    assert main(["export", str(run), "-o", str(tmp_path / "csv")]) == 0
    assert (tmp_path / "csv" / "matrix.csv").is_file()
    assert main(["report", str(run), "-o", str(tmp_path / "report.html")]) == 0
    assert "0 vs 1" in (tmp_path / "report.html").read_text()
    capsys.readouterr()

    moved = tmp_path / "moved.npz"
    data.rename(moved)
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert "pairs.npz" in err and "no longer at" in err and "--data" in err, err
    assert main(["evaluate", str(run), "--data", str(moved)]) == 0
    assert main(["run", "--resume", str(run), "--quiet"]) == 2  # the file is not where the record says
    assert main(["run", "--resume", str(run), "--quiet", "--data", str(moved)]) == 0  # given again: found
    exports = (
        ["export", str(run), "-o", str(tmp_path / "csv2")],
        ["report", str(run), "-o", str(tmp_path / "r2.html")],
    )
    for argv in exports:
        capsys.readouterr()
        assert main(argv) == 2  # export and report need the same file too
        err = capsys.readouterr().err
        assert "pairs.npz" in err and "no longer at" in err and err.count("\n") == 1, err
        assert main([*argv, "--data", str(moved)]) == 0
    assert (tmp_path / "csv2" / "matrix.csv").is_file() and (tmp_path / "r2.html").is_file()
    capsys.readouterr()

    write_digit_pairs(data, scale=0.5)  # same name, other content
    before = (run / "run.json").read_text()
    exports = (
        ["export", str(run), "-o", str(tmp_path / "csv3")],
        ["report", str(run), "-o", str(tmp_path / "r3.html")],
    )
    for argv in (["evaluate", str(run)], ["run", "--resume", str(run), "--tasks", "3", "--quiet"], *exports):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {data.resolve()}: this file differs") and err.count("\n") == 1, err
    assert (run / "run.json").read_text() == before
    assert not (tmp_path / "csv3").exists() and not (tmp_path / "r3.html").exists()  # nothing written


def test_other_data_gets_another_run_id_and_compare_and_sweep_take_data(tmp_path, capsys):
    one, two = tmp_path / "a" / "pairs.npz", tmp_path / "b" / "pairs.npz"  # one name, other content
    one.parent.mkdir(), two.parent.mkdir()
    write_digit_pairs(one)
    write_digit_pairs(two, scale=0.5)
    config = den.preset("fast", **TINY)
    assert run_id("den", config, data_key(str(one)), 3) != run_id("den", config, data_key(str(two)), 3)

    out = tmp_path / "cmp"
    argv = ["compare", "--data", str(one), "--tasks", "2", "--methods", "den", "--out", str(out), "--quiet",
            "--device", "cpu", "--set", "hidden_sizes=8,8", "--set", "iterations=20",
            "--set", "head_iterations=5"]  # fmt: skip
    assert main(argv) == 0
    assert "pairs.npz, 2 tasks" in (out / "summary.md").read_text()
    capsys.readouterr()
    assert main(argv) == 0  # the same data: the finished run is reused, not trained again
    assert "reused" in capsys.readouterr().err
    assert main([*argv[:2], str(two), *argv[3:]]) == 0  # other data: a run of its own beside the first
    assert len([p for p in out.iterdir() if p.is_dir()]) == 2

    sweep = tmp_path / "sweep"
    assert main(["sweep", "--data", str(one), "--tasks", "2", "--grid", "loss_threshold=0.01,1", "--backend",
                 "serial", "--out", str(sweep), "--quiet", "--set", "hidden_sizes=8,8", "--set", "iterations=20",
                 "--set", "head_iterations=5"]) == 0  # fmt: skip
    records = [json.loads(p.read_text()) for p in sweep.glob("*/run.json")]
    assert len(records) == 2 and all(r["benchmark"]["data"]["path"] == str(one) for r in records)
