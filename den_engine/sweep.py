"""Sweeps: every combination of a grid of config values, one run record each, in parallel.

``expand_grid`` turns axes (``loss_threshold=0.01,0.1``) and seeds into one ``SweepJob``
per combination; each job's run directory is named by a hash of its method, benchmark,
task count and config, so running the same sweep again finds its runs. ``run_sweep``
reuses a finished run, resumes a partial one (``Trainer.resume``) and trains the rest,
on a backend: ``local`` (a pool of worker processes), ``serial`` (this process) or
``ray`` (den_engine.sweep_ray, imported only then). Every run uses one torch thread, so
a record does not depend on how many ran side by side: serial and parallel sweeps give
identical records for the same seeds. The outcome table is written as ``sweep.csv`` and
``sweep.md`` next to the runs.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from den_engine.benchmarks import BENCHMARKS, BenchmarkError
from den_engine.config import PRESETS, parse_value, preset
from den_engine.errors import ConfigError, DENError, RunFileError, TrainingDiverged
from den_engine.methods import get_method
from den_engine.records import RUN_FILE, clean_json, load_run
from den_engine.runner import Callbacks, Trainer

BACKENDS = ("local", "serial", "ray")
WORKER_THREADS = 1
"""torch threads per run: records then do not depend on the number of parallel jobs."""

ProgressFn = Callable[[dict], None]
"""Receives {"type": "start"|"task"|"done", "index", ...} as a sweep goes on."""


@dataclass(frozen=True)
class SweepJob:
    """One combination of a sweep: what to train and where its run directory is."""

    index: int
    method: str
    benchmark: str
    n_tasks: int
    config: Any  # the method's frozen config dataclass
    run_dir: str
    values: dict = field(default_factory=dict)  # the grid values of this combination, seed included

    @property
    def name(self) -> str:
        """The run directory's name."""
        return Path(self.run_dir).name


# --- the grid --------------------------------------------------------------------------------


def parse_grid(items: list[str], config_class: type | None = None) -> dict[str, list]:
    """``["loss_threshold=0.01,0.1", ...]`` -> {field: [values]}; a bad field or value is a ConfigError.

    Values are separated by commas; a tuple field writes each value with ``x``
    (``hidden_sizes=8x8,16x8``).
    """
    grid: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(item, "a grid axis is name=v1,v2,..., e.g. loss_threshold=0.01,0.05,0.1")
        name, text = (part.strip() for part in item.split("=", 1))
        if name == "seed":
            raise ConfigError("seed", "give seeds with --seeds 0,1,... rather than as a grid axis")
        if name in grid:
            raise ConfigError(name, "this axis is given twice")
        values = [parse_value(name, part, config_class) for part in text.split(",") if part.strip()]
        if not values:
            raise ConfigError(name, "a grid axis needs at least one value")
        for i, value in enumerate(values):
            if value in values[:i]:
                hint = "; write each tuple with x, e.g. 8x8,16x8" if isinstance(value, tuple) else ""
                raise ConfigError(name, f"value {value!r} is listed twice{hint}")
        grid[name] = values
    return grid


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2] (distinct integers >= 0)."""
    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise ConfigError("seeds", f"expected comma-separated integers, got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError("seeds", f"expected distinct integers >= 0, got {text!r}")
    return seeds


def run_name(method: str, benchmark: str, n_tasks: int, config) -> str:
    """Directory name of a sweep run: the method and a hash of (method, benchmark, tasks, config)."""
    key = f"{method}:{benchmark}:{n_tasks}:{config.run_id()}"
    return f"{method}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def expand_grid(
    benchmark: str,
    n_tasks: int | None,
    grid: dict[str, list],
    seeds: list[int],
    out: str | Path,
    method: str = "den",
    preset_name: str = "fast",
    fixed: dict | None = None,
) -> list[SweepJob]:
    """One job per combination of the grid's values and the seeds (seeds vary fastest).

    Every config is built (and validated) before anything trains.
    """
    if benchmark not in BENCHMARKS:
        raise BenchmarkError(f"benchmark name {benchmark!r} is unknown; choose one of {list(BENCHMARKS)}")
    info = BENCHMARKS[benchmark]
    n_tasks = info.default_tasks if n_tasks is None else n_tasks
    if not isinstance(n_tasks, int) or not 1 <= n_tasks <= info.max_tasks:
        raise BenchmarkError(f"--tasks {n_tasks!r} is invalid for {benchmark!r}; use 1 to {info.max_tasks}")
    config_class = get_method(method).config_class
    fixed = dict(fixed or {})
    both = sorted(set(fixed) & set(grid))
    if both:
        raise ConfigError(both[0], "is both a grid axis and a fixed --set value")
    if "seed" in fixed:
        raise ConfigError("seed", "give seeds with --seeds")
    jobs, names = [], set()
    axes = list(grid)
    for combo in itertools.product(*(grid[a] for a in axes), seeds):
        values = dict(zip([*axes, "seed"], combo, strict=True))
        config = preset(preset_name, config_class, **fixed, **values)
        name = run_name(method, benchmark, n_tasks, config)
        if name in names:  # e.g. an axis value equal to a fixed one: the same run twice
            continue
        names.add(name)
        jobs.append(SweepJob(len(jobs), method, benchmark, n_tasks, config, str(Path(out) / name), values))
    return jobs


# --- one job -----------------------------------------------------------------------------------


def existing_run(job: SweepJob):
    """The job's run record on disk (None when there is none yet); RunFileError when it is someone else's."""
    run_dir = Path(job.run_dir)
    if not (run_dir / RUN_FILE).is_file():
        return None
    run = load_run(run_dir)
    expected = clean_json(get_method(job.method).prepare(job.config).to_dict())
    expected.pop("device", None)
    recorded = {k: v for k, v in run.config.items() if k != "device"}
    bench = run.data["benchmark"]
    if (run.data["method"], recorded, bench["name"], bench["n_tasks"]) != (
        job.method,
        expected,
        job.benchmark,
        job.n_tasks,
    ):
        raise RunFileError(f"{run_dir}: holds a different run than this sweep's; move it away")
    return run


def plan(job: SweepJob) -> str:
    """What a job needs: "reuse" (finished or diverged), "resume" (some tasks done) or "train"."""
    run = existing_run(job)
    if run is None:
        return "train"
    if run.data["status"] in ("complete", "diverged"):
        return "reuse"
    return "resume" if run.tasks else "train"


def run_job(job: SweepJob, progress: ProgressFn | None = None) -> dict:
    """Train, resume or reuse one job's run; returns its outcome row. Never raises for a failed run."""
    start = time.perf_counter()
    emit = progress or (lambda event: None)
    try:
        how = plan(job)
        if how == "reuse":
            record = load_run(job.run_dir).data
        else:
            emit({"type": "start", "index": job.index, "how": how})

            def on_task_end(snapshot: dict) -> None:
                emit({"type": "task", "index": job.index, "task": snapshot["task"], "n_tasks": job.n_tasks})

            callbacks = Callbacks(on_task_end=on_task_end)
            if how == "resume":
                trainer = Trainer.resume(job.run_dir, callbacks)
            else:
                shutil.rmtree(job.run_dir, ignore_errors=True)  # only temporary files of a run killed at birth
                trainer = Trainer(job.config, job.benchmark, job.n_tasks, job.run_dir, callbacks, method=job.method)
            try:
                record = trainer.run()
            except TrainingDiverged:
                record = trainer.record
            how = {"train": "trained", "resume": "resumed"}[how]
        row = outcome_row(job, record, "reused" if how == "reuse" else how)
    except (DENError, BenchmarkError, ValueError, OSError) as exc:
        row = outcome_row(job, None, f"failed: {exc}")
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def outcome_row(job: SweepJob, record: dict | None, how: str) -> dict:
    """One line of the outcome table: the combination, what happened and the final numbers."""
    row: dict[str, Any] = {"run": job.name, **{k: _plain(v) for k, v in job.values.items()}, "how": how}
    tasks = (record or {}).get("tasks") or []
    final = (record or {}).get("final") or {}
    last = tasks[-1] if tasks else {}
    params = last.get("params") or {}
    row.update(
        status=(record or {}).get("status", "failed"),
        tasks_done=len(tasks),
        hidden_units=sum(last.get("active_sizes", [0])[1:]),
        params=params.get("total"),
        nonzero_params=params.get("nonzero"),
        relative_to_stl=params.get("relative_to_stl"),
        average_auroc=final.get("average_auroc", (last.get("metrics") or {}).get("average_auroc")),
        average_accuracy=final.get("average_accuracy", (last.get("metrics") or {}).get("average_accuracy")),
        backward_transfer_auroc=final.get("backward_transfer_auroc"),
        train_time_s=sum(t.get("wall_time_s", 0.0) for t in tasks),
    )
    return row


def _plain(value):
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return value


# --- backends ------------------------------------------------------------------------------------

_QUEUE = None  # a worker process's channel back to the sweep (set by _init_worker)


def _init_worker(threads: int, queue) -> None:
    global _QUEUE
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    _QUEUE = queue


def _worker_job(job: SweepJob) -> dict:
    return run_job(job, _QUEUE.put if _QUEUE is not None else None)


def _run_local(jobs: list[SweepJob], workers: int, progress: ProgressFn) -> list[dict]:
    """Each job in a pool of ``workers`` fresh processes (spawned: safe from threaded callers)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    rows = []

    def drain() -> None:
        while not queue.empty():
            progress(queue.get())

    with ProcessPoolExecutor(workers, context, _init_worker, (WORKER_THREADS, queue)) as pool:
        pending = {pool.submit(_worker_job, job): job for job in jobs}
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for future in done:
                job = pending.pop(future)
                try:
                    row = future.result()
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its job, not the sweep
                    row = outcome_row(job, None, f"failed: {type(exc).__name__}: {exc}")
                rows.append(row)
                progress({"type": "done", "index": job.index, "row": row})
    drain()
    return rows


def _run_serial(jobs: list[SweepJob], progress: ProgressFn) -> list[dict]:
    """Each job in this process, one after the other, with the workers' thread setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(WORKER_THREADS)
    rows = []
    try:
        for job in jobs:
            row = run_job(job, progress)
            rows.append(row)
            progress({"type": "done", "index": job.index, "row": row})
    finally:
        torch.set_num_threads(threads)
    return rows


def run_sweep(
    jobs: list[SweepJob],
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    progress: ProgressFn | None = None,
) -> list[dict]:
    """Run every job (finished ones are reused without a worker); returns the rows in grid order.

    ``workers`` defaults to every core; ``address`` is a Ray cluster for ``backend="ray"``.
    """
    if backend not in BACKENDS:
        raise ConfigError("backend", f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    if workers is not None and workers < 1:
        raise ConfigError("jobs", f"must be >= 1, got {workers}")
    workers = workers or os.cpu_count() or 1
    progress = progress or (lambda event: None)
    rows, todo = [], []
    for job in jobs:  # a finished run never goes to a worker
        try:
            finished = plan(job) == "reuse"
        except RunFileError as exc:
            row = outcome_row(job, None, f"failed: {exc}")
            rows.append(row)
            progress({"type": "done", "index": job.index, "row": row})
            continue
        if finished:
            row = run_job(job)
            rows.append(row)
            progress({"type": "done", "index": job.index, "row": row})
        else:
            todo.append(job)
    if todo:
        if backend == "ray":
            from den_engine.sweep_ray import run_ray  # Ray is optional: imported only when asked for

            rows += run_ray(todo, address=address, progress=progress)
        elif backend == "serial":
            rows += _run_serial(todo, progress)
        else:
            rows += _run_local(todo, min(workers, len(todo)), progress)
    order = {job.name: job.index for job in jobs}
    return sorted(rows, key=lambda row: order[row["run"]])


# --- the outcome table ---------------------------------------------------------------------------

COLUMNS = (
    ("how", "", "{}"),
    ("status", "status", "{}"),
    ("tasks_done", "tasks", "{}"),
    ("hidden_units", "hidden units", "{}"),
    ("params", "params", "{:,}"),
    ("relative_to_stl", "% STL", "{:.1%}"),
    ("average_auroc", "avg AUROC", "{:.4f}"),
    ("average_accuracy", "avg acc", "{:.4f}"),
    ("backward_transfer_auroc", "BWT (AUROC)", "{:+.4f}"),
    ("train_time_s", "train s", "{:.1f}"),
)


def _cell(value, fmt: str) -> str:
    if value is None or isinstance(value, float) and not math.isfinite(value):
        return "n/a" if value is None or value != value else str(value)
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def markdown_table(rows: list[dict], axes: list[str]) -> str:
    """The outcomes as a Markdown table: the grid values, then what happened and the final metrics."""
    head = ["run", *axes, *(label or "outcome" for _, label, _ in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["run"], *(_cell(row.get(a), "{}") for a in axes)]
        cells += [_cell(row.get(key), fmt) for key, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def csv_text(rows: list[dict]) -> str:
    """The outcomes as CSV (every column of every row)."""
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_outcomes(out: str | Path, rows: list[dict], axes: list[str], title: str) -> None:
    """Write ``sweep.csv`` and ``sweep.md`` into the sweep directory."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.csv").write_text(csv_text(rows), encoding="utf-8")
    (out / "sweep.md").write_text(f"# {title}\n\n{markdown_table(rows, axes)}\n", encoding="utf-8")


# --- command line ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``python -m den_engine sweep`` (shared with den_engine.sweep_bench)."""
    parser.add_argument("--benchmark", default="digits-one-vs-rest", choices=sorted(BENCHMARKS))
    parser.add_argument("--tasks", type=int, default=None, help="number of tasks (default: the benchmark's)")
    parser.add_argument(
        "--grid", nargs="+", action="extend", default=[], metavar="NAME=V1,V2",
        help="axes of the grid: any config field, e.g. loss_threshold=0.01,0.1 split_threshold=0.002,0.05 "
        "(tuples with x: hidden_sizes=8x8,16x8)",
    )  # fmt: skip
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1 (default: 0)")
    parser.add_argument("--method", default="den", help="den (default), den-expand, den-selective or a baseline")
    parser.add_argument("--preset", default="fast", choices=sorted(PRESETS))
    parser.add_argument("--set", action="append", metavar="NAME=VALUE", help="a fixed config value for every run")
    parser.add_argument(
        "--jobs", type=int, default=None,
        help="parallel runs (default: every core); each run uses one torch thread (OMP_NUM_THREADS=1 in the workers)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="only the final table")


def jobs_from_args(args: argparse.Namespace, out: str | Path) -> tuple[list[SweepJob], list[str]]:
    """The sweep's jobs and grid axes from parsed flags."""
    config_class = get_method(args.method).config_class
    grid = parse_grid(args.grid, config_class)
    fixed = {}
    for pair in args.set or []:
        if "=" not in pair:
            raise ConfigError(pair, "--set takes name=value, e.g. --set hidden_sizes=32x16")
        name, text = pair.split("=", 1)
        fixed[name.strip()] = parse_value(name.strip(), text, config_class)
    seeds = parse_seeds(args.seeds)
    jobs = expand_grid(args.benchmark, args.tasks, grid, seeds, out, args.method, args.preset, fixed)
    return jobs, list(grid)


class ProgressPrinter:
    """Progress on stderr: a line per finished run, a live count of finished tasks on a TTY."""

    def __init__(self, jobs: list[SweepJob], stream=sys.stderr, quiet: bool = False) -> None:
        self.jobs, self.stream, self.quiet = jobs, stream, quiet
        self.tasks = {job.index: 0 for job in jobs}
        self.done = 0
        self.tty = stream.isatty()

    def __call__(self, event: dict) -> None:
        if self.quiet:
            return
        job = self.jobs[event["index"]]
        if event["type"] == "task":
            self.tasks[job.index] = event["task"]
            if self.tty:
                total = sum(j.n_tasks for j in self.jobs)
                self.stream.write(f"\r{self.done}/{len(self.jobs)} runs, {sum(self.tasks.values())}/{total} tasks")
                self.stream.flush()
        elif event["type"] == "done":
            self.done += 1
            row = event["row"]
            self.tasks[job.index] = row["tasks_done"]
            values = " ".join(f"{k}={_plain(v)}" for k, v in job.values.items())
            auroc = _cell(row.get("average_auroc"), "{:.4f}")
            line = f"[{self.done:>{len(str(len(self.jobs)))}}/{len(self.jobs)}] {row['how']:<8} {values}  "
            line += f"AUROC {auroc}  {row.get('seconds', 0):.1f} s  {job.name}"
            self.stream.write(("\r" if self.tty else "") + line + "\n")
            self.stream.flush()


def cmd_sweep(args: argparse.Namespace) -> int:
    """``python -m den_engine sweep``: run the grid, print and save the outcome table."""
    jobs, axes = jobs_from_args(args, args.out)
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("jobs", f"must be >= 1, got {args.jobs}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = {k: v for k, v in vars(args).items() if k not in ("func", "quiet", "command")}
    (out / "sweep.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    start = time.perf_counter()
    rows = run_sweep(jobs, args.jobs, args.backend, args.address, ProgressPrinter(jobs, quiet=args.quiet))
    title = f"{args.benchmark}, {jobs[0].n_tasks} tasks, {args.method}, preset {args.preset}, seeds {args.seeds}"
    write_outcomes(out, rows, [*axes, "seed"], title)
    print(markdown_table(rows, [*axes, "seed"]))
    failed = [r for r in rows if r["how"].startswith("failed")]
    for row in failed:
        print(f"error: {row['run']}: {row['how']}", file=sys.stderr)
    print(f"\n{len(rows)} runs in {out} ({time.perf_counter() - start:.1f} s); table in sweep.md and sweep.csv")
    return 1 if failed else 0


def add_parser(sub) -> None:
    """Register the ``sweep`` subcommand on the CLI's subparsers."""
    parser = sub.add_parser(
        "sweep",
        help="train every combination of a grid of config values, in parallel; finished runs are reused",
        description="One run per combination of the grid and the seeds, in DIR/<method>-<hash of the config>. "
        "A finished run is reused, a partial one resumed; a stopped sweep picks up where it left off. "
        "Writes DIR/sweep.csv and DIR/sweep.md.",
    )
    add_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="directory of the sweep's runs")
    parser.add_argument("--backend", choices=BACKENDS, default="local", help="local worker processes (default), "
                        "serial (this process) or ray (pip install -r requirements-ray.txt)")  # fmt: skip
    parser.add_argument("--address", default=None, help="Ray cluster address (default: a local Ray instance)")
    parser.set_defaults(func=cmd_sweep)
