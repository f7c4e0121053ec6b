"""Size and time checks before training: refuse a network that would not fit, estimate how long a run takes.

The estimate is deliberately simple and errs high: the network as large as the run can make
it (every task after the first adds k units per layer), 4 bytes per float32 parameter, and
``COPIES`` copies of every parameter while a task trains, plus one batch of activations.
It is compared with the memory free on the device the run would use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from den_engine.core.errors import ConfigError

BYTES_PER_VALUE = 4  # float32
COPIES = 6
"""Weights, gradients, Adam's two moments, the previous task's weights (L2 transfer) and the committed copy."""
ACTIVATION_COPIES = 3  # pre-activation, activation and its gradient per unit and sample


@dataclass(frozen=True)
class Estimate:
    """How much memory a setting needs at its largest, and which field makes it large."""

    parameters: int
    bytes_needed: int
    field: str


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KB'; powers of 1024 up to TB."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"


def largest_sizes(config, n_tasks: int) -> list[int]:
    """Hidden sizes after every task has expanded (k per layer per task after the first)."""
    k = int(getattr(config, "expand_units", 0) or 0)
    return [int(h) + k * max(n_tasks - 1, 0) for h in config.hidden_sizes]


def estimate(config, input_dim: int, n_tasks: int, n_outputs: int = 1) -> Estimate:
    """Parameters and bytes of the largest network this config can reach on ``n_tasks`` tasks."""
    sizes = [input_dim, *largest_sizes(config, n_tasks)]
    parameters = sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))
    parameters += n_tasks * (sizes[-1] + 1) * n_outputs  # one output head per task
    batch = int(getattr(config, "batch_size", 1))
    activations = batch * sum(sizes) * ACTIVATION_COPIES
    total = (parameters * COPIES + activations) * BYTES_PER_VALUE
    k_growth = int(getattr(config, "expand_units", 0) or 0) * max(n_tasks - 1, 0)
    field = "expand_units" if k_growth > max(config.hidden_sizes) else "hidden_sizes"
    if activations > parameters * COPIES:
        field = "batch_size"
    return Estimate(parameters, total, field)


def available_bytes(device: str) -> int | None:
    """Memory free for a new run on ``device`` ('cpu' or 'cuda'); None when it cannot be read."""
    if device == "cuda":
        import torch

        try:
            return int(torch.cuda.mem_get_info()[0])
        except (RuntimeError, AssertionError):
            return None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(config, input_dim: int, n_tasks: int, device: str, available: int | None = None) -> Estimate:
    """Raise ConfigError naming the field when the largest network would not fit in free memory."""
    need = estimate(config, input_dim, n_tasks)
    free = available_bytes(device) if available is None else available
    if free is not None and need.bytes_needed > free:
        raise ConfigError(
            need.field,
            f"this network would need about {human_bytes(need.bytes_needed)} of memory "
            f"({need.parameters:,} parameters at its largest, after {n_tasks} tasks, {COPIES} copies while training), "
            f"but only {human_bytes(free)} is free on the {device.upper() if device == 'cuda' else 'CPU'}. "
            f"Use fewer units, a smaller k or fewer tasks.",
        )
    return need


# --- time -----------------------------------------------------------------------------------------

HOUR_S = 3600.0
"""A run estimated to take longer than this asks to be confirmed before it starts."""


def training_steps(config, n_tasks: int) -> int:
    """Optimizer steps of a whole run: task 1 trains once; every later DEN task runs Eq. 3, 4, 5 and 6."""
    iterations = int(getattr(config, "iterations", 0) or 0)
    head = int(getattr(config, "head_iterations", 0) or 0)
    later = head + 3 * iterations if hasattr(config, "loss_threshold") else head + iterations
    return iterations + head + max(n_tasks - 1, 0) * later


STEP_OVERHEAD_S = 6e-4
"""Seconds of a training step beyond its arithmetic (the fit below, on a quiet 2-core CPU)."""
SECONDS_PER_SAMPLE_PARAMETER = 5.5e-11
"""Seconds per sample and parameter of a step. Fitted to measured whole runs (docs/performance.md):
5 fast digits tasks in 3.8 s (1.6 ms a step) and 10 paper-preset MNIST tasks in 10 min 42 s
(5.1 ms a step, 124,700 steps); the 10-task fast MNIST run (29.2 s) comes out at 30 s."""


def estimate_seconds(config, input_dim: int, n_tasks: int) -> float:
    """Roughly how long a whole run takes on a CPU: steps x (overhead + batch x parameters x a fitted cost).

    The network is counted at its size half-way through the run (it grows from task 1 to the last).
    """
    parameters = estimate(config, input_dim, max(1, (n_tasks + 1) // 2)).parameters
    batch = int(getattr(config, "batch_size", 1))
    return training_steps(config, n_tasks) * (STEP_OVERHEAD_S + batch * parameters * SECONDS_PER_SAMPLE_PARAMETER)


def human_duration(seconds: float) -> str:
    """3725 -> 'about 1 h 2 min'; under a minute in seconds."""
    if seconds < 60:
        return f"about {max(seconds, 1):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"about {hours / 24:,.0f} days"
    return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"
