"""What a run's record holds beside the network: its device and software, every task's metrics,
parameter counts against MTL and STL, the run's id and the end-of-run summary.

``Trainer`` (den_engine.core.runner) writes these into ``run.json``; ``den evaluate`` and the
experiments read them back with the same functions, so a record and its check agree.
"""

from __future__ import annotations

import hashlib
import platform
from datetime import UTC, datetime

import numpy as np
import torch

from den_engine.core.counting import USABLE
from den_engine.core.errors import ConfigError
from den_engine.core.layers import body_parameter_count
from den_engine.core.network import ExpandableNet
from den_engine.data.benchmarks import Benchmark
from den_engine.records import metrics

VERSION = "0.1.0"


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "CUDA was requested but this machine has no usable CUDA device")
    return torch.device(name)


def software_versions() -> dict:
    """Versions that a record was written with."""
    return {
        "den_engine": VERSION,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def compute_record(choice: dict) -> dict:
    """What run.json keeps of the thread choice (not the machine's core count: records stay comparable)."""
    return {"threads": choice["threads"], "threads_chosen_by": choice["chosen_by"]}


def utc_now() -> str:
    """The current UTC time, to the second, as a record writes it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def evaluate_tasks(net: ExpandableNet, benchmark: Benchmark, upto: int, split: str = "test") -> dict:
    """AUROC and accuracy of tasks 1..upto, each through its own timestamp and head."""
    aurocs, accs = [], []
    for task in range(1, upto + 1):
        data = benchmark.tasks[task - 1]
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        with torch.no_grad():
            logits = net.forward(x.to(net.device, net.dtype), task).cpu()
        aurocs.append(metrics.auroc(logits, y))
        accs.append(metrics.accuracy(logits, y))
    return {"auroc": aurocs, "accuracy": accs}


def count_parameters(method, net: ExpandableNet, config, n_outputs: list[int]) -> dict:
    """A record's ``params``: total and non-zero entries some task can use, against MTL and STL.

    A method may count its own (STL and progressive leave out the structural zeros
    between their columns); DEN counts the usable entries (den_engine.core.counting).
    ``counting`` says which rule made the numbers; records without it counted every stored entry.
    """
    counter = getattr(method, "count_parameters", None)
    total, nonzero = counter(net) if counter is not None else net.parameter_count()
    body = None
    if getattr(net, "input_shape", None) is not None and getattr(config, "conv_channels", ()):
        # MTL and STL are conv networks of the base size (den-spec, "Convolutional layers")
        body = body_parameter_count(net.input_shape, config.conv_channels, config.kernel_size, config.hidden_sizes)
    cap = metrics.capacity(total, net.input_dim, config.hidden_sizes, n_outputs, body_params=body)
    return {"total": total, "nonzero": nonzero, "counting": USABLE, **cap}


def run_id(method: str, config, benchmark: str, n_tasks: int) -> str:
    """Short id of a run: its method, benchmark, task count and config (seed included); the device does not count."""
    return hashlib.sha256(f"{method}:{benchmark}:{n_tasks}:{config.run_id()}".encode()).hexdigest()[:10]


def final_metrics(record: dict) -> dict:
    """End-of-run metrics from the per-task rows (R[i][j], i = after task i)."""
    auroc = [t["metrics"]["auroc"] for t in record["tasks"]]
    acc = [t["metrics"]["accuracy"] for t in record["tasks"]]
    val_auroc = [t["metrics"].get("val_auroc") for t in record["tasks"]]
    last = record["tasks"][-1]
    return {
        "n_tasks": len(auroc),
        "average_auroc": metrics.average_final(auroc),
        # the score to tune on: the test split must not choose a setting
        "average_val_auroc": metrics.average_final(val_auroc) if val_auroc[-1] is not None else None,
        "average_accuracy": metrics.average_final(acc),
        "backward_transfer_auroc": metrics.backward_transfer(auroc),
        "backward_transfer_accuracy": metrics.backward_transfer(acc),
        "forgetting_auroc": metrics.forgetting(auroc),
        "forgetting_accuracy": metrics.forgetting(acc),
        "auroc_matrix": auroc,
        "accuracy_matrix": acc,
        "params": last["params"],
        "layer_sizes": last["layer_sizes"],
        "wall_time_s": sum(t["wall_time_s"] for t in record["tasks"]),
    }
