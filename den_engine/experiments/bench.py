"""``python -m den_engine bench``: DEN's training speed against a bare PyTorch MLP (or conv net).

In one process: every DEN stage's throughput (samples per second of its set-up and steps, from the
stages' own ``stage_end`` events; the whole stage, with the closing loss over the task's whole training
split that the algorithm needs, is shown beside it) against a plain ``nn.Sequential`` MLP of the shape the stage
*computes* (its task's active units; with conv layers, a plain Conv2d/ReLU/MaxPool stack of
the task's active filters, then the dense units), trained with Adam on the same batches with the
same thread count; the paper preset's step time at task 2 and at task 10 of a grown
network (den_engine.experiments.bench_load); fast runs on a quiet machine against the
same runs with one and two cores kept busy by processes the bench starts and stops;
the wall time of a full fast-preset run; peak memory. Every figure comes with the load
average it was taken under.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from den_engine.core.config import preset
from den_engine.core.layers import image_shape, map_positions
from den_engine.core.runner import Callbacks, Trainer, resolve_device
from den_engine.core.threads import torch_threads
from den_engine.experiments.bench_data import data_source_speed
from den_engine.experiments.bench_data import format_lines as data_lines
from den_engine.experiments.bench_load import load_average, paper_step_times, under_load

TARGET_RATIO = 1.0
ROUNDS = 5  # DEN and the bare MLP take turns this many times; each figure is a median
PARTS = ("throughput", "paper", "load", "full", "data")


def bare_mlp_throughput(
    x: torch.Tensor,
    y: torch.Tensor,
    sizes: tuple[int, ...],
    iterations: int,
    batch: int,
    seed: int = 0,
    conv: tuple[tuple[int, int, int], int, int] | None = None,
) -> float:
    """Samples per second of a plain MLP (Linear/ReLU, Adam) on the same kind of batches.

    ``conv`` = (input shape, conv layers, kernel size): the first sizes are conv layers
    (Conv2d 'same', ReLU, 2x2 max-pool in ceil mode), as DEN's conv layers compute.
    """
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    width = x.shape[1]
    if conv is not None:
        shape, n_conv, kernel = conv
        layers.append(nn.Unflatten(1, shape))
        channels = shape[0]
        for size in sizes[:n_conv]:
            layers += [nn.Conv2d(channels, size, kernel, padding="same"), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            channels = size
        layers.append(nn.Flatten())
        width, sizes = channels * map_positions(shape, n_conv), sizes[n_conv:]
    for size in sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, y.shape[1]))
    model = nn.Sequential(*layers).to(x.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(x.shape[0], generator=generator).to(x.device)
    _sync(x.device)
    start = time.perf_counter()
    position = 0
    for _ in range(iterations):
        if position + batch > x.shape[0]:
            order, position = torch.randperm(x.shape[0], generator=generator).to(x.device), 0
        idx = order[position : position + batch]
        position += batch
        loss = F.binary_cross_entropy_with_logits(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(x.device)
    return iterations * batch / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def stage_throughput(benchmark: str, iterations: int, device: str, overrides: dict | None = None) -> dict:
    """Every DEN stage timed on two tasks (thresholds at 0 so that every stage runs)."""
    config = preset(
        "fast",
        **{
            **(overrides or {}),
            "iterations": iterations,
            "head_iterations": iterations,
            "loss_threshold": 0.0,
            "split_threshold": 0.0,
            "device": device,
        },
    )
    conv = None
    Trainer(config.replace(iterations=20, head_iterations=20), benchmark, 2).run()  # warm-up, untimed
    # DEN's two tasks and a bare MLP of the shape each stage computes (the task's active units:
    # expansion widens it, retired originals drop out) take turns, ROUNDS times, in the same
    # process with the same thread count; each figure is the median of its rounds, so a burst of
    # load from elsewhere lands on one round of one side, not on the ratio.
    rounds: list[list[tuple[int, dict]]] = []
    bare: dict[tuple, list[float]] = {}
    for r in range(ROUNDS):
        stages: list[tuple[int, dict]] = []
        trainer = Trainer(config, benchmark, 2, callbacks=Callbacks(on_event=_collect(stages)))
        data = trainer.benchmark.tasks[0]
        x, y = data.x_train.to(trainer.device), data.y_train.to(trainer.device)
        if config.conv_channels:
            shape = image_shape(trainer.benchmark.input_shape, trainer.benchmark.input_dim)
            conv = (shape, len(config.conv_channels), config.kernel_size)
        trainer.run()
        rounds.append(stages)
        with torch_threads(trainer.compute["threads"]):
            for _, event in stages:
                shape = tuple(event["active_shape"][1:])
                if r == 0 and shape not in bare:
                    bare_mlp_throughput(x, y, shape, 20, config.batch_size, conv=conv)  # warm-up
                if len(bare.setdefault(shape, [])) <= r:
                    bare[shape].append(bare_mlp_throughput(x, y, shape, iterations, config.batch_size, conv=conv))
    stages = [
        (
            task,
            {
                **event,
                **{
                    key: statistics.median(rnd[i][1][key] for rnd in rounds)
                    for key in ("samples_per_s", "step_samples_per_s")
                },
            },
        )
        for i, (task, event) in enumerate(rounds[0])
    ]
    bare_median = {shape: statistics.median(values) for shape, values in bare.items()}
    rows = []
    for task, e in stages:
        reference = bare_median[tuple(e["active_shape"][1:])]
        rows.append(
            {
                "stage": e["stage"],
                "task": task,
                "shape": e["active_shape"],
                "stored_shape": e["shape"],
                "samples_per_s": e["step_samples_per_s"],
                "stage_samples_per_s": e["samples_per_s"],
                "bare_mlp_samples_per_s": reference,
                "ratio_to_bare_mlp": e["step_samples_per_s"] / reference,
                "stage_ratio_to_bare_mlp": e["samples_per_s"] / reference,
            }
        )
    return {
        "device": str(trainer.device),
        "base_shape": [trainer.benchmark.input_dim, *config.conv_channels, *config.hidden_sizes],
        "conv_layers": len(config.conv_channels),
        "batch_size": config.batch_size,
        "iterations": iterations,
        "threads": trainer.compute["threads"],
        "rounds": ROUNDS,
        "stages": rows,
    }


def _collect(out: list):
    state = {"task": 1}

    def on_event(event: dict) -> None:
        if event["type"] == "stage_end":
            out.append((state["task"], event))
            if event["stage"] == "sparse_training":
                state["task"] = 2

    return on_event


def full_run(benchmark: str, tasks: int, device: str) -> dict:
    """Wall time and outcome of a whole fast-preset run."""
    config = preset("fast", device=device)
    start = time.perf_counter()
    record = Trainer(config, benchmark, tasks).run()
    wall = time.perf_counter() - start
    final = record["final"]
    return {
        "benchmark": benchmark,
        "tasks": tasks,
        "wall_time_s": wall,
        "average_auroc": final["average_auroc"],
        "layer_sizes": final["layer_sizes"],
        "parameters": final["params"]["total"],
    }


def peak_memory() -> dict:
    """Peak resident memory of this process (and of the CUDA allocator when used)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"peak_rss_mib": rss / 1024 if sys.platform != "darwin" else rss / 2**20}
    if torch.cuda.is_available():
        out["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_bench(
    benchmark: str = "mnist-one-vs-rest",
    iterations: int = 300,
    full_run_tasks: int = 10,
    device="auto",
    parts: tuple[str, ...] = PARTS,
    overrides: dict | None = None,
):
    """All bench figures as one dict (``parts`` picks what is measured, ``overrides`` the timed stages' config)."""
    device = str(resolve_device(device))
    results = {"torch": torch.__version__, "load_before": load_average()}
    if "throughput" in parts:
        results["throughput"] = stage_throughput(benchmark, iterations, device, overrides)
    if "paper" in parts:
        results["paper"] = paper_step_times(benchmark, device)
    if "load" in parts and device == "cpu":  # busy cores slow a GPU run's host side only
        results["load"] = under_load(device)
    if "full" in parts and full_run_tasks:
        results["full_run"] = full_run(benchmark, full_run_tasks, device)
    if "data" in parts:  # a user's TaskSequence against the same data as a benchmark (3 tasks: whole runs, turns)
        results["data_source"] = data_source_speed(benchmark, min(full_run_tasks or 3, 3), device)
    results["memory"] = peak_memory()
    results["load_after"] = load_average()
    return results


def format_table(results: dict) -> str:
    """The bench figures as a plain-text table."""
    lines = [f"torch {results['torch']}; load average before {_load(results['load_before'])}"]
    if "throughput" in results:
        t = results["throughput"]
        base = "-".join(str(s) for s in t["base_shape"])
        lines += [
            "",
            f"device {t['device']}, {t['threads']} threads, base shape {base}, "
            f"batch {t['batch_size']}, {t['iterations']} steps per stage, median of {t.get('rounds', 1)} rounds"
            + (f"; the first {t['conv_layers']} layers are conv, the bare net too" if t.get("conv_layers") else ""),
            "DEN samples/s: its steps (the ratio's); whole stage: with its closing whole-split loss",
            f"{'stage':<22} {'task':>4} {'active':<12} {'stored':<12} {'DEN samples/s':>13} {'bare MLP':>10} "
            f"{'ratio':>6}  target {TARGET_RATIO}  {'whole stage':>11} {'ratio':>6}",
        ]
        for row in t["stages"]:
            ok = "ok" if row["ratio_to_bare_mlp"] >= TARGET_RATIO else "BELOW"
            shape = "-".join(str(s) for s in row["shape"])
            stored = "-".join(str(s) for s in row["stored_shape"])
            lines.append(
                f"{row['stage']:<22} {row['task']:>4} {shape:<12} {stored:<12} {row['samples_per_s']:>13,.0f} "
                f"{row['bare_mlp_samples_per_s']:>10,.0f} {row['ratio_to_bare_mlp']:>6.2f}  {ok:<10} "
                f"{row['stage_samples_per_s']:>11,.0f} {row['stage_ratio_to_bare_mlp']:>6.2f}"
            )
    if "paper" in results:
        p = results["paper"]
        lines += [
            "",
            f"paper preset, {p['benchmark']}, {p['threads']} threads (network grown with "
            f"{p['grow_iterations']} steps per stage, each timed task {p['timed_iterations']} steps per stage):",
        ]
        for row in p["tasks"]:
            lines.append(
                f"  task {row['task']:>2}: {row['step_ms']:.2f} ms per step; stored "
                f"{'-'.join(map(str, row['stored']))}, active {'-'.join(map(str, row['active']))} "
                f"(load {_load(row['load'])})"
            )
        ok = "ok" if p["ratio"] <= 2.0 else "ABOVE"
        lines.append(f"  task {p['tasks'][-1]['task']} / task 2 step time: {p['ratio']:.2f} (target <= 2)  {ok}")
    if "load" in results:
        lines += ["", "fast runs with other processes keeping cores busy (targets: 1 busy <= 1.5x, 2 busy <= 2.5x):"]
        for row in results["load"]["rows"]:
            lines.append(
                f"  {row['benchmark']:<20} {row['tasks']} tasks, {row['threads']} thread(s): quiet "
                f"{row['quiet_s']:.1f} s, 1 busy {row['busy1_s']:.1f} s ({row['ratio1']:.2f}x), "
                f"2 busy {row['busy2_s']:.1f} s ({row['ratio2']:.2f}x)  {row['verdict']}"
            )
    if "full_run" in results:
        f = results["full_run"]
        sizes = "-".join(str(s) for s in f["layer_sizes"])
        lines += [
            "",
            f"full fast-preset run: {f['benchmark']}, {f['tasks']} tasks: {f['wall_time_s']:.1f} s "
            f"(average AUROC {f['average_auroc']:.4f}, final sizes {sizes}, {f['parameters']:,} parameters)",
        ]
    if "data_source" in results:
        lines += data_lines(results["data_source"])
    m = results["memory"]
    lines.append(f"load average after {_load(results['load_after'])}")
    lines.append(
        f"peak resident memory: {m['peak_rss_mib']:.0f} MiB"
        + (f"; peak CUDA memory: {m['peak_cuda_mib']:.0f} MiB" if "peak_cuda_mib" in m else "")
    )
    return "\n".join(lines)


def _load(values) -> str:
    return ", ".join(f"{v:.1f}" for v in values)
