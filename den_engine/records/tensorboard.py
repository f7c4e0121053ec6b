"""A run as a TensorBoard event file, written with the standard library only.

An event file is a sequence of records, each ``length (uint64 LE) | masked CRC32C of length |
data | masked CRC32C of data``, where data is one serialized ``Event`` protobuf message. The
few messages needed (Event, Summary, Summary.Value, SummaryMetadata, PluginData, TensorProto,
TensorShapeProto) are encoded here by field number, so exporting needs neither TensorFlow nor
TensorBoard; the tests read the files back with TensorBoard's own reader.

What is written, one step per task (step = tasks learned so far):

``R_<metric>_<split>/task_NN``   the R matrix: score on task NN after each task (one curve per task)
``average/*``, ``params/*``, ``units/layer_L``, ``sparsity/layer_L``, ``loss/<stage>``  per-task scalars
``decisions`` (text)            the task's decisions as a Markdown list
``R_matrix`` (text, last step)  the test AUROC and accuracy matrices as Markdown tables
"""

from __future__ import annotations

import math
import struct
from datetime import datetime
from pathlib import Path

from den_engine.records.tables import METRICS, SPLITS, decision_rows

FILE_VERSION = "brain.Event:2"

# --- encoding ----------------------------------------------------------------------------------------

_CRC_TABLE = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ 0x82F63B78 if _crc & 1 else _crc >> 1  # CRC-32C (Castagnoli), reflected
    _CRC_TABLE.append(_crc)


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (the checksum TFRecord framing uses)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> bytes:
    crc = crc32c(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as two's complement, like protobuf
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes_field(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _int_field(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _event(wall_time: float, step: int, summary_values: list[bytes] = (), file_version: str = "") -> bytes:
    """A serialized ``Event``: wall_time (1, double), step (2), file_version (3) or summary (5)."""
    data = _key(1, 1) + struct.pack("<d", wall_time) + _int_field(2, step)
    if file_version:
        data += _bytes_field(3, file_version.encode())
    if summary_values:
        data += _bytes_field(5, b"".join(_bytes_field(1, v) for v in summary_values))  # Summary.value
    return data


def scalar_value(tag: str, value: float) -> bytes:
    """A ``Summary.Value`` holding a scalar: tag (1), simple_value (2, float32)."""
    return _bytes_field(1, tag.encode()) + _key(2, 5) + struct.pack("<f", value)


def text_value(tag: str, text: str) -> bytes:
    """A ``Summary.Value`` the text plugin shows: a scalar DT_STRING tensor with plugin metadata."""
    plugin = _bytes_field(1, b"text")  # PluginData.plugin_name; empty content is TextPluginData version 0
    metadata = _bytes_field(1, plugin) + _int_field(4, 2)  # data_class = DATA_CLASS_TENSOR
    tensor = _int_field(1, 7) + _bytes_field(2, b"") + _bytes_field(8, text.encode())  # DT_STRING, shape [], value
    return _bytes_field(1, tag.encode()) + _bytes_field(8, tensor) + _bytes_field(9, metadata)


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + _masked_crc(length) + data + _masked_crc(data)


def event_record(wall_time: float, step: int, values: list[bytes] = (), file_version: str = "") -> bytes:
    """One framed record of an event file: an ``Event`` of these summary values (or the file version)."""
    return _record(_event(wall_time, step, values, file_version))


# --- what a run becomes ------------------------------------------------------------------------------


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def task_scalars(record: dict, snap: dict) -> dict[str, float]:
    """Every scalar of one task, by tag (missing and non-finite values are left out)."""
    out: dict[str, float] = {}
    metrics, params = snap.get("metrics") or {}, snap.get("params") or {}
    for split, prefix in SPLITS:
        for metric in METRICS:
            for j, value in enumerate(metrics.get(prefix + metric) or [], start=1):
                out[f"R_{metric}_{split}/task_{j:02d}"] = value
    for name in ("average_auroc", "average_accuracy"):
        out[f"average/{name.removeprefix('average_')}"] = metrics.get(name)
    for name in ("total", "nonzero", "relative_to_mtl", "relative_to_stl"):
        out[f"params/{name}"] = params.get(name)
    for layer, size in enumerate(snap["active_sizes"][1:], 1):
        out[f"units/layer_{layer}"] = size
    for layer, value in enumerate(snap.get("sparsity") or [], 1):
        out[f"sparsity/layer_{layer}"] = value
    for event in snap.get("events") or []:
        if event.get("type") == "stage_end":
            out[f"loss/{event['stage']}"] = event.get("loss")
    out["time/wall_time_s"] = snap.get("wall_time_s")
    return {tag: float(v) for tag, v in out.items() if _finite(v)}


def _decisions_markdown(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        numbers = ", ".join(
            f"{k} {row[k]}" for k in ("layer", "unit", "new_unit", "count", "of", "value", "threshold")
            if row[k] is not None
        )  # fmt: skip
        lines.append(f"- **{row['stage']}**: {row['decision']}" + (f" ({numbers})" if numbers else ""))
    return "\n".join(lines) or "(no decisions)"


def _matrix_markdown(record: dict, metric: str) -> str:
    tasks = record["tasks"]
    head = "| after task | " + " | ".join(f"task {j}" for j in range(1, len(tasks) + 1)) + " |"
    lines = [f"**{metric}** (test)", "", head, "|---" * (len(tasks) + 1) + "|"]
    for snap in tasks:
        cells = [f"{v:.4f}" if _finite(v) else "n/a" for v in snap["metrics"].get(metric) or []]
        lines.append(f"| {snap['task']} | " + " | ".join(cells + [""] * (len(tasks) - len(cells))) + " |")
    return "\n".join(lines)


def task_values(record: dict, snap: dict, decisions: list[dict], with_matrix: bool) -> list[bytes]:
    """One task's summary values: its scalars, its decisions (text) and, when asked, the R matrix so far (text)."""
    values = [scalar_value(tag, v) for tag, v in task_scalars(record, snap).items()]
    values.append(text_value("decisions", _decisions_markdown([r for r in decisions if r["task"] == snap["task"]])))
    if with_matrix:
        shown = {**record, "tasks": record["tasks"][: record["tasks"].index(snap) + 1]}
        values.append(text_value("R_matrix", "\n\n".join(_matrix_markdown(shown, m) for m in METRICS)))
    return values


def _start_time(record: dict) -> float:
    try:
        return datetime.fromisoformat(record["created"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


def event_file_name(record: dict) -> str:
    """The file's name: TensorBoard needs "tfevents" in it; the same run always gets the same name."""
    return f"events.out.tfevents.{int(_start_time(record))}.den-{record.get('run_id', 'run')}"


def write_events(record: dict, out: Path) -> Path:
    """Write the run's event file into ``out`` (replacing an earlier export of the same run)."""
    start = _start_time(record)
    decisions = decision_rows(record)
    chunks = [event_record(start, 0, file_version=FILE_VERSION)]
    elapsed = 0.0
    for snap in record["tasks"]:
        elapsed += snap.get("wall_time_s") or 0.0
        values = task_values(record, snap, decisions, with_matrix=snap is record["tasks"][-1])
        chunks.append(event_record(start + elapsed, snap["task"], values))
    path = Path(out) / event_file_name(record)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(b"".join(chunks))
    tmp.replace(path)
    return path
