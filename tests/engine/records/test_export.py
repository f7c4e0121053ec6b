"""``den export``: CSV, Parquet and TensorBoard files read back equal to the run's run.json.

The expected rows are built here from run.json directly, not with the exporter's own table
code, and the TensorBoard file is read with TensorBoard's own reader (which checks every CRC).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from den_engine.cli import main
from den_engine.core.errors import DENError
from den_engine.records.export import export_run
from den_engine.records.store import load_run

ROOT = Path(__file__).resolve().parents[3]
RUN = ROOT / "assets" / "runs" / "digits-den-fast"  # ten tasks with expansions, pruning and splits
SPLITS = {"test": "", "val": "val_"}


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads((RUN / "run.json").read_text())


def _expected_matrix(record: dict) -> dict[tuple, float | None]:
    out = {}
    for i, snap in enumerate(record["tasks"], 1):
        for split, prefix in SPLITS.items():
            for metric in ("auroc", "accuracy"):
                for j, value in enumerate(snap["metrics"][prefix + metric], 1):
                    out[(i, j, split, metric)] = value
    return out


def _expected_units(record: dict) -> list[tuple]:
    return [
        (snap["task"], u["id"], u["layer"], u["born"], u["origin"], u["parent"], u["retired"])
        for snap in record["tasks"]
        for u in snap["units"]
    ]


def _splits(record: dict) -> set[tuple]:
    """(task, layer, parent, duplicate, drift, sigma) of every split in the run."""
    out = set()
    for snap in record["tasks"]:
        sigma = next((e["split_threshold"] for e in snap["events"] if e["type"] == "drift"), None)
        for event in snap["events"]:
            if event["type"] == "split":
                out |= {
                    (snap["task"], p["layer"], p["parent"], p["duplicate"], p["drift"], sigma) for p in event["pairs"]
                }
    return out


def _read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _num(text: str):
    return None if text == "" else (int(text) if text.lstrip("-").isdigit() else float(text))


def test_csv_reads_back_equal_to_run_json(record, tmp_path):
    assert main(["export", str(RUN), "--format", "csv", "-o", str(tmp_path)]) == 0
    matrix = _read_csv(tmp_path / "matrix.csv")
    got = {
        (int(r["trained_task"]), int(r["evaluated_task"]), r["split"], r["metric"]): _num(r["value"]) for r in matrix
    }
    assert len(matrix) == len(got)  # one row per score
    assert got == _expected_matrix(record)
    names = record["benchmark"]["task_names"]
    assert all(r["evaluated_name"] == names[int(r["evaluated_task"]) - 1] for r in matrix)

    units = _read_csv(tmp_path / "units.csv")
    rows = [(int(r["task"]), int(r["id"]), int(r["layer"]), int(r["born"]), r["origin"], _num(r["parent"]),
             _num(r["retired"])) for r in units]  # fmt: skip
    assert rows == _expected_units(record)
    assert all((r["active"] == "True") == (r["retired"] == "" or int(r["retired"]) > int(r["task"])) for r in units)

    decisions = _read_csv(tmp_path / "decisions.csv")
    splits = {(int(r["task"]), int(r["layer"]), int(r["unit"]), int(r["new_unit"]), float(r["value"]),
               float(r["threshold"])) for r in decisions if r["decision"] == "split"}  # fmt: skip
    assert splits == _splits(record) and splits
    grows = [(int(r["task"]), r["decision"], float(r["value"]), float(r["threshold"]))
             for r in decisions if r["decision"] in ("expand", "keep size")]  # fmt: skip
    assert grows == [
        (s["task"], "expand" if e["expand"] else "keep size", e["loss"], e["loss_threshold"])
        for s in record["tasks"] for e in s["events"] if e["type"] == "expansion_decision"
    ]  # fmt: skip
    pruned = {
        (int(r["task"]), int(r["layer"])): r["units"].split() for r in decisions if r["decision"] == "prune new units"
    }
    kept = {
        (int(r["task"]), int(r["layer"])): r["units"].split() for r in decisions if r["decision"] == "keep new units"
    }
    for snap in record["tasks"]:
        for e in (e for e in snap["events"] if e["type"] == "expansion"):
            for layer, (ids, kept_ids) in enumerate(zip(e["pruned"], e["kept"], strict=True), 1):
                assert pruned[(snap["task"], layer)] == [str(i) for i in ids]
                assert kept[(snap["task"], layer)] == [str(i) for i in kept_ids]

    tasks = _read_csv(tmp_path / "tasks.csv")
    assert [int(r["params_total"]) for r in tasks] == [s["params"]["total"] for s in record["tasks"]]
    assert [float(r["average_auroc"]) for r in tasks] == [s["metrics"]["average_auroc"] for s in record["tasks"]]
    assert [int(r["units_layer_1"]) for r in tasks] == [s["active_sizes"][1] for s in record["tasks"]]


def test_parquet_reads_back_equal_to_run_json(record, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed (the [parquet] extra)")
    export_run(load_run(RUN), "parquet", tmp_path)
    matrix = pq.read_table(tmp_path / "matrix.parquet")
    assert (
        str(matrix.schema.field("value").type) == "double" and str(matrix.schema.field("trained_task").type) == "int64"
    )
    got = {(r["trained_task"], r["evaluated_task"], r["split"], r["metric"]): r["value"] for r in matrix.to_pylist()}
    assert got == _expected_matrix(record)
    units = pq.read_table(tmp_path / "units.parquet").to_pylist()
    assert [(r["task"], r["id"], r["layer"], r["born"], r["origin"], r["parent"], r["retired"]) for r in units] == (
        _expected_units(record)
    )
    decisions = pq.read_table(tmp_path / "decisions.parquet").to_pylist()
    assert {(r["task"], r["layer"], r["unit"], r["new_unit"], r["value"], r["threshold"])
            for r in decisions if r["decision"] == "split"} == _splits(record)  # fmt: skip


def test_tensorboard_events_read_back_with_tensorboards_reader(record, tmp_path):
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator", reason="tensorboard")
    (path,) = export_run(load_run(RUN), "tensorboard", tmp_path)
    acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    for (i, j, split, metric), value in _expected_matrix(record).items():
        tag = f"R_{metric}_{split}/task_{j:02d}"
        points = {e.step: e.value for e in acc.Scalars(tag)}
        if value is None or not math.isfinite(value):
            assert i not in points
        else:
            assert points[i] == np.float32(value), (tag, i)  # simple_value is a float32
    units = [(e.step, e.value) for e in acc.Scalars("units/layer_2")]
    assert units == [(s["task"], s["active_sizes"][2]) for s in record["tasks"]]
    assert {"average/auroc", "params/total", "sparsity/layer_1", "loss/selective_retraining"} <= scalars
    decisions = acc.Tensors("decisions")
    assert [e.step for e in decisions] == [s["task"] for s in record["tasks"]]
    text = decisions[2].tensor_proto.string_val[0].decode()
    assert "expand" in text and "split" in text
    assert "after task" in acc.Tensors("R_matrix")[0].tensor_proto.string_val[0].decode()


def test_exports_are_deterministic_and_replace_an_earlier_export(tmp_path):
    run = load_run(RUN)
    first = [p.read_bytes() for p in export_run(run, "tensorboard", tmp_path) + export_run(run, "csv", tmp_path)]
    again = [p.read_bytes() for p in export_run(run, "tensorboard", tmp_path) + export_run(run, "csv", tmp_path)]
    assert first == again
    assert len(list(tmp_path.glob("*tfevents*"))) == 1


def test_bad_input_names_what_is_wrong(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["export", str(RUN), "-o", str(tmp_path / "file")]) == 2
    assert f"error: --out {tmp_path / 'file'}: is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(DENError, match="unknown"):
        export_run(load_run(RUN), "xlsx", tmp_path)
