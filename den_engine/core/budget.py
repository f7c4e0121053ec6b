"""Size and cost before training: refuse a network that would not fit, estimate how long a run takes.

Every writer of a run checks here before it writes anything (``Trainer``, so the command
line, the Python API and the dashboard alike), and both checks take well under a second.

Memory: the estimate is deliberately simple and errs high: the network as large as the run can make
it (every task after the first adds k units per layer), 4 bytes per float32 parameter, and
``COPIES`` copies of every parameter while a task trains, plus one batch of activations.
It is compared with the memory free on the device the run would use.

Time: every task's optimiser steps (DEN: Eq. 2 on task 1; Eq. 3 to 6 on later tasks, each
stage at full budget) times the cost of one step, which is a fixed per-step overhead plus
the step's multiply-adds (forward and backward, about 6 per weight and sample) at the rate
this machine reaches on a 256 x 256 matrix product, timed here in a few milliseconds. It
errs high (every later task expands and retrains) and is meant to tell minutes from hours.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import torch

from den_engine.core.errors import ConfigError
from den_engine.core.threads import choose_threads

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


def largest_channels(config, n_tasks: int) -> list[int]:
    """Filters of every conv layer after every task has expanded (``expand_filters``, else k, per task)."""
    k = getattr(config, "expand_filters", None)
    k = int(getattr(config, "expand_units", 0) or 0) if k is None else int(k)
    return [int(c) + k * max(n_tasks - 1, 0) for c in getattr(config, "conv_channels", ()) or ()]


InputSize = int | tuple[int, ...] | list[int]
"""A network's input: its width, or the shape of one sample ((C, H, W) or (H, W) images)."""


def _width(input_size: InputSize) -> int:
    return int(input_size) if isinstance(input_size, int) else math.prod(int(v) for v in input_size)


def _image(input_size: InputSize) -> tuple[int, int, int]:
    """The (C, H, W) a conv network reads: the shape when given, else square images of 1, 3, 4 or 2 channels."""
    if not isinstance(input_size, int):
        shape = tuple(int(v) for v in input_size)
        return shape if len(shape) == 3 else (1, *shape) if len(shape) == 2 else (1, 1, _width(shape))
    for channels in (1, 3, 4, 2):
        side = math.isqrt(input_size // channels)
        if channels * side * side == input_size:
            return channels, side, side
    return 1, 1, input_size


@dataclass(frozen=True)
class Cost:
    """One sample through the largest network: weights, multiply-adds of the dense part and of the convolutions,
    and the values kept for the backward pass."""

    parameters: int
    dense_macs: int
    conv_macs: int
    values: int


def network_cost(config, input_size: InputSize, n_tasks: int, n_outputs: int = 1) -> Cost:
    """What the largest network this config reaches on ``n_tasks`` tasks costs per sample.

    A conv layer of c filters over a c_in x H x W map ('same' padding) makes c * c_in * kernel^2 * H * W
    multiply-adds and keeps c * H * W values, then pools to ceil(H/2) x ceil(W/2); a dense layer's
    multiply-adds are its weights.
    """
    channels = largest_channels(config, n_tasks)
    parameters = conv_macs = values = 0
    if channels:
        below, height, width = _image(input_size)
        kernel = int(getattr(config, "kernel_size", 5))
        for c in channels:
            parameters += c * below * kernel * kernel + c
            conv_macs += c * below * kernel * kernel * height * width
            values += c * height * width
            below, height, width = c, (height + 1) // 2, (width + 1) // 2
        first = below * height * width
    else:
        first = _width(input_size)
    sizes = [first, *largest_sizes(config, n_tasks)]
    dense = sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))
    dense += n_tasks * (sizes[-1] + 1) * n_outputs  # one output head per task
    values += sum(sizes) + (_width(input_size) if channels else 0)  # the images too
    return Cost(parameters + dense, dense, conv_macs, values)


def estimate(config, input_dim: InputSize, n_tasks: int, n_outputs: int = 1) -> Estimate:
    """Parameters and bytes of the largest network this config can reach on ``n_tasks`` tasks."""
    cost = network_cost(config, input_dim, n_tasks, n_outputs)
    parameters = cost.parameters
    batch = int(getattr(config, "batch_size", 1))
    activations = batch * cost.values * ACTIVATION_COPIES
    total = (parameters * COPIES + activations) * BYTES_PER_VALUE
    k_growth = int(getattr(config, "expand_units", 0) or 0) * max(n_tasks - 1, 0)
    field = "expand_units" if k_growth > max(config.hidden_sizes) else "hidden_sizes"
    channels = largest_channels(config, n_tasks)
    if channels and cost.parameters - cost.dense_macs > cost.dense_macs:  # the kernels make it large
        grown = sum(channels) - sum(getattr(config, "conv_channels", ()))
        field = "expand_filters" if grown > max(config.conv_channels) else "conv_channels"
    if activations > parameters * COPIES:
        field = "batch_size"
    return Estimate(parameters, total, field)


def available_bytes(device: str) -> int | None:
    """Memory free for a new run on ``device`` ('cpu' or 'cuda'); None when it cannot be read."""
    if device == "cuda":
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


def check_fits(
    config, input_dim: InputSize, n_tasks: int, device: str, available: int | None = None, n_outputs: int = 1
) -> Estimate:
    """Raise ConfigError naming the field when the largest network would not fit in free memory."""
    need = estimate(config, input_dim, n_tasks, n_outputs)
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


check_memory = check_fits  # the name the other checks use

STEP_OVERHEAD_S = 2e-3
"""Python, optimiser and proximal-step bookkeeping of one step, whatever its size, evaluation included.

Calibrated on this project's 2-core machine (load average 5.7, one torch thread, fast preset):
toy-2d 3 tasks 3.5 s, digits 3 tasks 6.7 s, MNIST 2 tasks 11.5 s against estimates of 2.5 s,
5.9 s and 9.8 s with these constants; the `paper` preset on MNIST (10 tasks, 8-11 min
measured) is estimated at 22-25 min: every later task is costed at three full stages.
"""
MATMUL_EFFICIENCY = 0.5
"""A training step reaches about half the rate of a bare matrix product (elementwise work, Adam)."""
CONV_EFFICIENCY = 0.2
"""A conv layer's step reaches about a fifth of it: on the quiet 2-core machine a 784-8-16-64 conv step (batch 64,
one thread) took 18 ms against 80 GFLOP/s measured on the matrix product, 0.23 of it with pooling and ReLU."""
FLOPS_PER_WEIGHT_AND_SAMPLE = 6  # forward 2, backward 4
STAGES_PER_LATER_TASK = 3  # Eq. 4, Eq. 5 and Eq. 6 at full budget; Eq. 3 is counted on its own
THREAD_GAIN = 0.6
"""What each thread after the first adds to a step's rate (two threads: 1.6x one)."""
LONG_RUN_S = 3600.0
"""A run estimated to take longer than this is shown its estimate before it starts."""


def machine_flops(threads: int = 1, size: int = 256) -> float:
    """Multiply-adds per second this machine reaches on a float32 matrix product (timed, ~10 ms)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        torch.mm(a, b)  # warm-up
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return 2 * size**3 / max(best, 1e-9)


def steps_per_run(config, n_tasks: int) -> int:
    """Optimiser steps of a whole run at full budget (DEN's stages; a one-stage method counts the same, erring high)."""
    iterations = int(getattr(config, "iterations", 1))
    head = int(getattr(config, "head_iterations", 0) or 0)
    later = max(n_tasks - 1, 0)
    return iterations + later * (STAGES_PER_LATER_TASK * iterations + head)


def run_flops(config, input_dim: InputSize, one_thread: float | None = None) -> float:
    """The rate of a run: one thread's (``machine_flops(1)`` unless given), scaled by the threads it would choose."""
    one_thread = machine_flops(1) if one_thread is None else one_thread  # a probe on two threads is noisy
    return one_thread * (1 + THREAD_GAIN * (choose_threads(_width(input_dim), config)["threads"] - 1))


def estimate_seconds(config, input_dim: InputSize, n_tasks: int, flops: float | None = None) -> float:
    """Seconds a run of ``n_tasks`` would take on this machine, erring high (see the module docstring).

    Each task's steps are costed at the network's size by then (k more units a layer a task),
    at the rate of the thread count the run itself would choose.
    """
    batch = int(getattr(config, "batch_size", 1))
    if flops is None:
        flops = run_flops(config, input_dim)
    seconds = 0.0
    for task in range(1, n_tasks + 1):
        steps = steps_per_run(config, task) - steps_per_run(config, task - 1) if task > 1 else steps_per_run(config, 1)
        cost = network_cost(config, input_dim, task)
        work = cost.dense_macs / MATMUL_EFFICIENCY + cost.conv_macs / CONV_EFFICIENCY
        seconds += steps * (STEP_OVERHEAD_S + FLOPS_PER_WEIGHT_AND_SAMPLE * batch * work / flops)
    return seconds


def human_seconds(seconds: float) -> str:
    """75 -> '1 min 15 s'; 7300 -> '2 h 2 min'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def sweep_seconds(runs: list[tuple], workers: int) -> float:
    """Wall seconds of several runs ``(config, input_dim, n_tasks)`` on ``workers`` parallel one-thread workers."""
    flops = machine_flops(1)
    total = sum(estimate_seconds(config, dim, tasks, flops=flops) for config, dim, tasks in runs)
    longest = max((estimate_seconds(config, dim, tasks, flops=flops) for config, dim, tasks in runs), default=0.0)
    return max(total / max(1, min(workers, len(runs))), longest)


def serial_seconds(runs: list[tuple]) -> float:
    """Wall seconds of several runs ``(config, input_dim, n_tasks)`` one after another, each at its own threads."""
    one_thread = machine_flops(1) if runs else 0.0  # timed once for all of them
    return sum(estimate_seconds(c, dim, tasks, flops=run_flops(c, dim, one_thread)) for c, dim, tasks in runs)


def long_run_note(seconds: float, what: str = "this run") -> str | None:
    """The line shown before a run or sweep estimated at over an hour (None when it is shorter)."""
    if seconds <= LONG_RUN_S:
        return None
    about = human_seconds(seconds)
    return f"note: {what} may take about {about} on this machine; Ctrl-C stops it, finished tasks are kept"
