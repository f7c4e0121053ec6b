"""``den export``: a run's tables as CSV or Parquet files, or its TensorBoard event file.

The tables (den_engine.records.tables) are long-format: the R matrices one score a row, one row
per decision, the unit registry after every task, one row per task. CSV needs nothing beyond the
standard library; Parquet needs pyarrow (optional); the TensorBoard writer
(den_engine.records.tensorboard) needs nothing either.
"""

from __future__ import annotations

import csv
from pathlib import Path

from den_engine.core.errors import DENError
from den_engine.records.store import RunRecord
from den_engine.records.tables import columns, tables
from den_engine.records.tensorboard import write_events

FORMATS = ("csv", "parquet", "tensorboard")


# --- writers ---------------------------------------------------------------------------------------


def write_csv(record: dict, out: Path) -> list[Path]:
    """One CSV file per table; a missing value is an empty cell, floats keep every digit."""
    paths = []
    for name, rows in tables(record).items():
        path = out / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, columns(rows) or ["task"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        paths.append(path)
    return paths


def write_parquet(record: dict, out: Path) -> list[Path]:
    """One Parquet file per table (needs pyarrow)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DENError("--format parquet needs pyarrow: pip install 'den-engine[parquet]'") from None
    paths = []
    for name, rows in tables(record).items():
        names = columns(rows) or ["task"]
        table = pa.Table.from_pylist(rows, schema=_schema(pa, rows, names)) if rows else pa.table({"task": []})
        path = out / f"{name}.parquet"
        pq.write_table(table, path)
        paths.append(path)
    return paths


def _schema(pa, rows: list[dict], names: list[str]):
    """Column types from the values (ints stay ints, a column with any float is float, all-null is int)."""
    fields = []
    for column in names:
        values = [row.get(column) for row in rows if row.get(column) is not None]
        if values and all(isinstance(v, bool) for v in values):
            kind = pa.bool_()
        elif values and all(isinstance(v, str) for v in values):
            kind = pa.string()
        elif any(isinstance(v, float) for v in values):
            kind = pa.float64()
        else:
            kind = pa.int64()
        fields.append(pa.field(column, kind))
    return pa.schema(fields)


def export_run(run: RunRecord, fmt: str, out: str | Path) -> list[Path]:
    """Write a run's tables (or its TensorBoard events) into directory ``out``; returns the files written."""
    if fmt not in FORMATS:
        raise DENError(f"--format {fmt!r} is unknown; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DENError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        return write_csv(run.data, out)
    if fmt == "parquet":
        return write_parquet(run.data, out)
    return [write_events(run.data, out)]
