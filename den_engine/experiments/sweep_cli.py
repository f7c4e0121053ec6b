"""The ``sweep`` command: run a grid from the command line, print progress, save the outcome table.

The engine side (jobs, backends, reuse and resume) is den_engine.experiments.sweep; this module only
parses flags, reports progress on stderr and writes ``sweep.md`` / ``sweep.csv``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import time
from pathlib import Path

from den_engine.core import budget
from den_engine.core.config import PRESETS, parse_value
from den_engine.core.errors import ConfigError
from den_engine.data.benchmarks import BENCHMARKS
from den_engine.data.sources import data_info
from den_engine.experiments.sweep import BACKENDS, run_sweep
from den_engine.experiments.sweep_jobs import SweepJob, expand_grid, parse_grid, parse_seeds
from den_engine.methods import get_method
from den_engine.records.outputs import output_dir

# --- the outcome table ---------------------------------------------------------------------------

COLUMNS = (
    ("how", "", "{}"),
    ("status", "status", "{}"),
    ("tasks_done", "tasks", "{}"),
    ("hidden_units", "hidden units", "{}"),
    ("params", "params", "{:,}"),
    ("relative_to_stl", "% STL", "{:.1%}"),
    ("average_auroc", "avg AUROC", "{:.4f}"),
    ("average_val_auroc", "val AUROC", "{:.4f}"),
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
    """The flags of ``python -m den_engine sweep`` (shared with den_engine.experiments.sweep_bench)."""
    parser.add_argument("--benchmark", default=None, choices=sorted(BENCHMARKS), help="default: digits-one-vs-rest")
    parser.set_defaults(default_benchmark="digits-one-vs-rest")
    parser.add_argument("--data", metavar="FILE.npz", default=None, help="train on a task file instead of --benchmark")
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


def data_source(args: argparse.Namespace) -> str:
    """The data a sweep or comparison trains on: ``--data`` (a .npz file, by absolute path) or ``--benchmark``."""
    data = getattr(args, "data", None)
    if data and args.benchmark is not None:
        raise ConfigError("--data", "trains on the file instead of a benchmark: give --data or --benchmark, not both")
    if data:
        return str(Path(data).expanduser().resolve())
    if args.benchmark is None:
        args.benchmark = args.default_benchmark
    return args.benchmark


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
    jobs = expand_grid(data_source(args), args.tasks, grid, seeds, out, args.method, args.preset, fixed)
    return jobs, list(grid)


class ProgressPrinter:
    """Progress on stderr: a line per finished run, a live count of finished tasks on a TTY."""

    def __init__(self, jobs: list[SweepJob], stream=None, quiet: bool = False) -> None:
        stream = stream or sys.stderr  # looked up now: a default bound at import would outlive a redirection
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
            values = " ".join(f"{k}={row.get(k)}" for k in job.values)
            auroc = _cell(row.get("average_auroc"), "{:.4f}")
            line = f"[{self.done:>{len(str(len(self.jobs)))}}/{len(self.jobs)}] {row['how']:<8} {values}  "
            line += f"AUROC {auroc}  {row.get('seconds', 0):.1f} s  {job.name}"
            self.stream.write(("\r" if self.tty else "") + line + "\n")
            self.stream.flush()


def cmd_sweep(args: argparse.Namespace) -> int:
    """``python -m den_engine sweep``: run the grid, print and save the outcome table."""
    if args.address is not None and args.backend != "ray":
        raise ConfigError("--address", f"is a Ray cluster's address: add --backend ray (the backend is {args.backend})")
    if args.address is not None:
        from den_engine.experiments.sweep_ray import check_address  # no Ray import: only the HOST:PORT form

        check_address(args.address)
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("jobs", f"must be >= 1, got {args.jobs}")
    jobs, axes = jobs_from_args(args, args.out)
    dims = {b: math.prod(data_info(b).input_shape) for b in {job.benchmark for job in jobs}}
    for job in jobs:  # a network that cannot fit is refused before anything is written
        budget.check_memory(job.config, dims[job.benchmark], job.n_tasks, "cpu")
    workers = 1 if args.backend == "serial" else (args.jobs or os.cpu_count() or 1)
    seconds = budget.sweep_seconds([(j.config, dims[j.benchmark], j.n_tasks) for j in jobs], workers)
    note = budget.long_run_note(seconds, f"this sweep of {len(jobs)} runs")
    if note:
        print(note, file=sys.stderr)
    out = output_dir(args.out, "--out")
    spec = {k: v for k, v in vars(args).items() if k not in ("func", "quiet", "command")}
    (out / "sweep.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    start = time.perf_counter()
    printer = ProgressPrinter(jobs, quiet=args.quiet)
    rows = run_sweep(jobs, args.jobs, args.backend, args.address, printer, failure_rows=True)
    data = Path(data_source(args)).name
    title = f"{data}, {jobs[0].n_tasks} tasks, {args.method}, preset {args.preset}, seeds {args.seeds}"
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
    parser.add_argument("--address", default=None, metavar="HOST:PORT",
                        help="a Ray cluster's address, with --backend ray (default: a local Ray instance)")  # fmt: skip
    parser.set_defaults(func=cmd_sweep)
