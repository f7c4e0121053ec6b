"""Command line: ``den run | evaluate | bench | compare | sweep | search | export | report | benchmarks``.

``den`` is the installed console script; ``python -m den_engine`` is the same program.

Every user error (a bad flag value, an unknown benchmark, a broken run directory) ends
with one line naming what is wrong and exit status 2 — never a bare stack trace.
"""

from __future__ import annotations

import argparse
import sys

from den_engine.commands import cmd_bench, cmd_benchmarks, cmd_compare, cmd_evaluate, cmd_run
from den_engine.core.config import PRESETS
from den_engine.core.errors import DENError
from den_engine.data.benchmarks import BENCHMARKS, BenchmarkError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``den`` (``python -m den_engine``)."""
    parser = argparse.ArgumentParser(prog="den", description="Dynamically Expandable Networks")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train DEN on a benchmark, task by task")
    run.add_argument("--benchmark", default=None, choices=sorted(BENCHMARKS), help="default: digits-one-vs-rest")
    run.add_argument("--data", metavar="FILE.npz", default=None, help="train on your own tasks (format: docs/cli.md)")
    run.add_argument(
        "--tasks",
        type=int,
        default=None,
        help="number of tasks (default: the benchmark's); with --resume, extends the run",
    )
    run.add_argument("--seed", type=int, default=None, help="default: 0")
    run.add_argument("--preset", default=None, choices=sorted(PRESETS), help="default: fast")
    run.add_argument("--method", default=None, help="den (default), den-expand, den-selective or a baseline")
    run.add_argument(
        "--plugin",
        action="append",
        metavar="FILE.py|MODULE",
        help="load a method of your own (a file or module that calls den_engine.register_method); "
        "DEN_PLUGINS does the same for every command",
    )
    run.add_argument(
        "--out", default=None, help="a new or empty run directory (default: runs/<benchmark>-<method>-<run id>)"
    )
    run.add_argument("--overwrite", action="store_true", help="replace the run already in --out, whole")
    run.add_argument("--set", action="append", metavar="NAME=VALUE", help="any config field, e.g. loss_threshold=0.05")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    run.add_argument("--threads", type=int, default=None, help="torch threads (default: chosen from the work)")
    run.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue a stopped or killed run")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument(
        "--log",
        nargs=2,
        action="append",
        metavar=("KIND", "PATH"),
        help="log while training: 'tensorboard DIR' (an event file) or 'csv FILE' (appended); may be repeated",
    )
    run.set_defaults(func=cmd_run)
    ev = sub.add_parser("evaluate", help="recompute every metric of a run from its saved weights")
    ev.add_argument("run_dir")
    ev.add_argument("--data", metavar="FILE.npz", default=None, help="the task file of a run on your data")
    ev.set_defaults(func=cmd_evaluate)
    bench = sub.add_parser("bench", help="speed of each DEN stage against a bare PyTorch MLP; memory")
    bench.add_argument("--benchmark", default="mnist-one-vs-rest", choices=sorted(BENCHMARKS))
    bench.add_argument("--iterations", type=int, default=300, help="steps per timed stage")
    bench.add_argument("--tasks", type=int, default=10, help="tasks in the timed fast-preset run (0 skips it)")
    bench.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="a config field of the timed stages, e.g. conv_channels=8,16 (the reference is then a bare conv net)",
    )  # fmt: skip
    bench.add_argument(
        "--parts",
        default="throughput,paper,load,full,data",
        help="what to measure: throughput, paper, load, full, data (a TaskSequence against the same benchmark)",
    )
    bench.set_defaults(func=cmd_bench)
    cmp = sub.add_parser(
        "compare",
        help="run every method x seed on one benchmark and print the paper's comparison table",
        description="Runs (or reuses) every method x seed under OUT/<method>-seed<k>-<hash of the config>/ and "
        "writes OUT/summary.md and OUT/summary.csv: mean and std over seeds of average AUROC and accuracy, backward "
        "transfer, forgetting, parameters and capacity relative to MTL and STL, steps per task and training time. "
        "A run is reused only when its whole config, task count and seed match; nothing in OUT is replaced.",
    )
    cmp.add_argument("--benchmark", default=None, choices=sorted(BENCHMARKS), help="default: mnist-one-vs-rest")
    cmp.set_defaults(default_benchmark="mnist-one-vs-rest")
    cmp.add_argument("--data", metavar="FILE.npz", default=None, help="compare on a task file instead of --benchmark")
    cmp.add_argument("--tasks", type=int, default=None, help="number of tasks (default: the benchmark's)")
    cmp.add_argument(
        "--methods",
        default="den,den-expand,den-selective,stl,mtl,progressive,ewc,l2,finetune",
        help="comma-separated method names (default: all of them)",
    )
    cmp.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2 (default: 0)")
    cmp.add_argument("--preset", default="fast", choices=sorted(PRESETS))
    cmp.add_argument(
        "--out", required=True, help="directory for the runs and the summary; a run with the same config is reused"
    )
    cmp.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="a config field for every method whose config has it (ignored for the others; "
        "a field no chosen method has is an error), e.g. iterations=300",
    )
    cmp.add_argument(
        "--budget",
        choices=["equal", "method"],
        default="equal",
        help="equal (default): every baseline gets DEN's steps per task (its stages counted together); "
        "method: each method's own iterations",
    )
    cmp.add_argument(
        "--tune",
        type=int,
        metavar="N",
        default=None,
        help="first tune each method's own knobs with N trials on the first seed's validation AUROC "
        "(trial table in OUT/tune.md), then compare the chosen settings on every seed",
    )
    cmp.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    cmp.add_argument("--quiet", action="store_true", help="no progress bars (one line per run still goes to stderr)")
    cmp.set_defaults(func=cmd_compare)
    from den_engine.experiments.sweep_cli import add_parser as add_sweep_parser  # python -m den_engine sweep

    add_sweep_parser(sub)
    from den_engine.experiments.search_cli import add_parser as add_search_parser  # den search (Optuna when run)

    add_search_parser(sub)
    from den_engine.records.export_cli import add_parsers as add_export_parsers  # den export, den report

    add_export_parsers(sub)
    lst = sub.add_parser("benchmarks", help="list the offline benchmarks")
    lst.set_defaults(func=cmd_benchmarks)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (DENError, BenchmarkError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the operating system refused: name it, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished tasks are kept", file=sys.stderr)
        return 130
