"""``python -m den_engine bench``: DEN's training speed against a bare PyTorch MLP.

In one process: every DEN stage's throughput (samples per second, from the stages'
own ``stage_end`` events) beside a plain ``nn.Sequential`` MLP of the same base shape
trained with Adam on the same batches; the wall time of a full fast-preset run; peak
memory. The bare MLP is timed before and after the DEN stages and averaged, so that a
machine that speeds up or slows down during the bench does not favour either side.
"""

from __future__ import annotations

import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from den_engine.core.config import preset
from den_engine.core.runner import Callbacks, Trainer, resolve_device

TARGET_RATIO = 0.8


def bare_mlp_throughput(
    x: torch.Tensor, y: torch.Tensor, sizes: tuple[int, ...], iterations: int, batch: int, seed: int = 0
) -> float:
    """Samples per second of a plain MLP (Linear/ReLU, Adam) on the same kind of batches."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    width = x.shape[1]
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


def stage_throughput(benchmark: str, iterations: int, device: str) -> dict:
    """Every DEN stage timed on two tasks (thresholds at 0 so that every stage runs)."""
    config = preset(
        "fast",
        iterations=iterations,
        head_iterations=iterations,
        loss_threshold=0.0,
        split_threshold=0.0,
        device=device,
    )
    Trainer(config.replace(iterations=20, head_iterations=20), benchmark, 2).run()  # warm-up, untimed
    stages: list[dict] = []
    trainer = Trainer(config, benchmark, 2, callbacks=Callbacks(on_event=_collect(stages)))
    data = trainer.benchmark.tasks[0]
    x = data.x_train.to(trainer.device)
    y = data.y_train.to(trainer.device)
    trainer.run()
    # A bare MLP of the very shape each stage trained (splits and expansion widen the
    # network), timed right after DEN in the same process, twice, and averaged.
    bare: dict[tuple, float] = {}
    for _, event in stages:
        shape = tuple(event["shape"][1:])
        if shape not in bare:
            bare_mlp_throughput(x, y, shape, 20, config.batch_size)  # warm-up
            runs = [bare_mlp_throughput(x, y, shape, iterations, config.batch_size) for _ in range(2)]
            bare[shape] = sum(runs) / len(runs)
    rows = []
    for task, e in stages:
        reference = bare[tuple(e["shape"][1:])]
        rows.append(
            {
                "stage": e["stage"],
                "task": task,
                "shape": e["shape"],
                "samples_per_s": e["samples_per_s"],
                "bare_mlp_samples_per_s": reference,
                "ratio_to_bare_mlp": e["samples_per_s"] / reference,
            }
        )
    return {
        "device": str(trainer.device),
        "base_shape": [trainer.benchmark.input_dim, *config.hidden_sizes],
        "batch_size": config.batch_size,
        "iterations": iterations,
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


def run_bench(benchmark: str = "mnist-one-vs-rest", iterations: int = 300, full_run_tasks: int = 10, device="auto"):
    """All bench figures as one dict."""
    device = str(resolve_device(device))
    results = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "throughput": stage_throughput(benchmark, iterations, device),
    }
    if full_run_tasks:
        results["full_run"] = full_run(benchmark, full_run_tasks, device)
    results["memory"] = peak_memory()
    return results


def format_table(results: dict) -> str:
    """The bench figures as a plain-text table."""
    t = results["throughput"]
    base = "-".join(str(s) for s in t["base_shape"])
    lines = [
        f"device {t['device']}, torch {results['torch']}, {results['threads']} threads, base shape {base}, "
        f"batch {t['batch_size']}, {t['iterations']} steps per stage",
        "",
        f"{'stage':<22} {'task':>4} {'shape':<14} {'DEN samples/s':>13} {'bare MLP':>10} {'ratio':>6}  target 0.8",
    ]
    for row in t["stages"]:
        ok = "ok" if row["ratio_to_bare_mlp"] >= TARGET_RATIO else "BELOW"
        shape = "-".join(str(s) for s in row["shape"])
        lines.append(
            f"{row['stage']:<22} {row['task']:>4} {shape:<14} {row['samples_per_s']:>13,.0f} "
            f"{row['bare_mlp_samples_per_s']:>10,.0f} {row['ratio_to_bare_mlp']:>6.2f}  {ok}"
        )
    if "full_run" in results:
        f = results["full_run"]
        sizes = "-".join(str(s) for s in f["layer_sizes"])
        lines += [
            "",
            f"full fast-preset run: {f['benchmark']}, {f['tasks']} tasks: {f['wall_time_s']:.1f} s "
            f"(average AUROC {f['average_auroc']:.4f}, final sizes {sizes}, {f['parameters']:,} parameters)",
        ]
    m = results["memory"]
    lines.append(
        f"peak resident memory: {m['peak_rss_mib']:.0f} MiB"
        + (f"; peak CUDA memory: {m['peak_cuda_mib']:.0f} MiB" if "peak_cuda_mib" in m else "")
    )
    return "\n".join(lines)
