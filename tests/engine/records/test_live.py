"""Live loggers: TensorBoard events and CSV rows are on disk while the run is still training.

The files are read back with TensorBoard's own reader (which checks every CRC) and the
csv module, from inside the trainer's ``on_task_end`` hook of task 1 of 3, before tasks 2
and 3 exist; the values are compared with the run's own record.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from den_engine import Callbacks, CSVLogger, TensorBoardLogger, Trainer, preset
from den_engine.cli import main

ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator", reason="tensorboard")

FAST = dict(iterations=40, head_iterations=20)


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _rows(file: Path) -> list[dict]:
    with open(file, newline="") as handle:
        return list(csv.DictReader(handle))


def _iterations(snapshot: dict) -> int:
    return sum(e["iterations"] for e in snapshot["events"] if e["type"] == "stage_end")


def test_events_and_rows_are_written_while_the_run_trains(tmp_path):
    seen = {}

    def on_task_end(snapshot: dict) -> None:  # the run is still going: tasks 2 and 3 are not trained yet
        seen[snapshot["task"]] = (_scalars(tmp_path / "tb"), _rows(tmp_path / "log.csv"))

    callbacks = Callbacks(
        on_task_end=on_task_end, loggers=[TensorBoardLogger(tmp_path / "tb"), CSVLogger(tmp_path / "log.csv")]
    )
    config = preset("fast", benchmark="toy-2d", **FAST)
    with Trainer(config, "toy-2d", 3, tmp_path / "run", callbacks) as trainer:
        trainer.run()
    record = trainer.record
    first = record["tasks"][0]
    events, rows = seen[1]
    assert events["R_auroc_test/task_01"] == [(1, pytest.approx(first["metrics"]["auroc"][0], abs=1e-6))]
    assert "R_auroc_test/task_02" not in events
    losses = {tag: points for tag, points in events.items() if tag.startswith("train_loss/")}
    assert {tag.split("/")[1] for tag in losses} == {e["stage"] for e in first["events"] if e["type"] == "stage_end"}
    assert max(step for points in losses.values() for step, _ in points) == _iterations(first)
    assert {r["task"] for r in rows} == {"1"} and rows[0]["run_id"] == record["run_id"]
    assert any(r["tag"] == "R_auroc_test/task_01" and r["step"] == "1" for r in rows)
    # once the run is over, the files hold the whole R matrix, and the steps keep counting across tasks
    events, rows = _scalars(tmp_path / "tb"), _rows(tmp_path / "log.csv")
    for i, snap in enumerate(record["tasks"], 1):
        for j, value in enumerate(snap["metrics"]["auroc"], 1):
            assert (i, pytest.approx(value, abs=1e-6)) in events[f"R_auroc_test/task_{j:02d}"]
            assert any(
                r["tag"] == f"R_auroc_test/task_{j:02d}" and r["step"] == str(i) and float(r["value"]) == value
                for r in rows
            )
    steps = [step for tag, points in events.items() if tag.startswith("train_loss/") for step, _ in points]
    assert max(steps) == sum(_iterations(s) for s in record["tasks"]) and len(steps) == len(set(steps))


def test_a_resumed_run_counts_steps_on_from_its_finished_tasks(tmp_path):
    config = preset("fast", benchmark="toy-2d", **FAST)
    with Trainer(config, "toy-2d", 2, tmp_path / "run") as trainer:
        trainer.train_next()
    done = _iterations(trainer.record["tasks"][0])
    with Trainer.resume(tmp_path / "run", Callbacks(loggers=[TensorBoardLogger(tmp_path / "tb")])) as trainer:
        trainer.run()
    events = _scalars(tmp_path / "tb")
    steps = sorted(step for tag, points in events.items() if tag.startswith("train_loss/") for step, _ in points)
    assert steps[0] > done and steps[-1] == done + _iterations(trainer.record["tasks"][1])
    assert [step for step, _ in events["R_auroc_test/task_01"]] == [2]


def test_den_run_log_flags_write_both_files(tmp_path, capsys):
    tb, log = tmp_path / "tb", tmp_path / "logs" / "run.csv"
    args = ["run", "--benchmark", "toy-2d", "--tasks", "2", "--out", str(tmp_path / "run"), "--quiet"]
    args += ["--set", "iterations=40", "--set", "head_iterations=20"]
    assert main([*args, "--log", "tensorboard", str(tb), "--log", "csv", str(log)]) == 0
    events = _scalars(tb)
    assert [step for step, _ in events["R_auroc_test/task_01"]] == [1, 2]
    assert [step for step, _ in events["R_auroc_test/task_02"]] == [2]
    rows = _rows(log)
    assert {r["task"] for r in rows} == {"1", "2"} and list(rows[0]) == ["run_id", "task", "tag", "step", "value",
                                                                         "wall_time"]  # fmt: skip


@pytest.mark.parametrize(
    ("log", "message"),
    [
        (["nonsense", "{tmp}/x"], "error: --log: unknown kind 'nonsense'; choose one of tensorboard, csv"),
        (["csv", "{tmp}/a-file/log.csv"], "error: --log csv {tmp}/a-file/log.csv: cannot write here (a part of this"),
        (["csv", "{tmp}"], "error: --log csv {tmp}: is a folder; give a file name"),
        (["tensorboard", "{tmp}/a-file"], "error: --log tensorboard {tmp}/a-file: is a file, not a folder"),
        (["csv", ""], "error: --log csv: the output file is empty"),
    ],
)
def test_a_bad_log_value_is_one_line_and_writes_nothing(tmp_path, capsys, log, message):
    (tmp_path / "a-file").write_text("mine")
    before = sorted(tmp_path.rglob("*"))
    log = [part.format(tmp=tmp_path) for part in log]
    out = tmp_path / "run"
    assert main(["run", "--benchmark", "toy-2d", "--tasks", "1", "--out", str(out), "--log", *log]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message.format(tmp=tmp_path))
    assert sorted(tmp_path.rglob("*")) == before and (tmp_path / "a-file").read_text() == "mine"
