"""The ``search`` command: run or resume a search from the command line, print its trials, save the table.

The search itself is den_engine.experiments.search; this module parses flags, prints a line per
finished trial on stderr and writes ``search.md`` / ``search.csv`` into the search folder.
Optuna's own plots (``--plots DIR``) are den_engine.experiments.search_plots.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from den_engine.core.config import PRESETS, DENConfig, parse_value
from den_engine.core.errors import ConfigError
from den_engine.data.benchmarks import BENCHMARKS
from den_engine.experiments.search import DEFAULT_SPACE, search
from den_engine.experiments.search_pool import BACKENDS
from den_engine.experiments.search_rule import MARGIN_SCORE, MARGIN_SIZE, SCORES, SIZES
from den_engine.experiments.sweep_cli import csv_text


def _cell(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(rows: list[dict], knobs: list[str], size: str) -> str:
    """Every trial as a Markdown table; trials on the Pareto front in bold."""
    size_label = "% STL" if size == "stl" else "params"
    head = ["trial", *knobs, "state", "val score", size_label, "tasks", "why stopped", "run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        size_text = "n/a" if row["size"] is None else f"{row['size']:.1%}" if size == "stl" else f"{row['size']:,.0f}"
        score = "n/a" if row["score"] is None else f"{row['score']:.4f}"
        mark = "**" if row["front"] else ""
        why = (row["why"] or "").replace("|", "/")
        cells = [str(row["trial"]), *(_cell(row.get(k)) for k in knobs), row["state"], f"{mark}{score}{mark}",
                 f"{mark}{size_text}{mark}", str(row["tasks_done"]), why, row["run"] or ""]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cmd_search(args: argparse.Namespace) -> int:
    """``den search``: run or resume the search, print and save its trial table."""
    if args.address is not None and args.backend != "ray":
        raise ConfigError("--address", f"is a Ray cluster's address: add --backend ray (the backend is {args.backend})")
    if args.address is not None:
        from den_engine.experiments.sweep_ray import check_address  # no Ray import: the pool probes the cluster

        check_address(args.address)
    fixed = {}
    for pair in args.set or []:
        if "=" not in pair:
            raise ConfigError(pair, "--set takes name=value, e.g. --set hidden_sizes=32x16")
        name, text = pair.split("=", 1)
        fixed[name.strip()] = parse_value(name.strip(), text, DENConfig)
    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    start = time.perf_counter()
    rows = search(
        args.benchmark, args.tasks, args.trials, args.out, args.jobs, args.space, args.preset, args.seed,
        args.score, args.size, args.backend, args.address, fixed, (args.margin_score, args.margin_size),
        not args.no_early_stop, log=say,
    )  # fmt: skip
    from den_engine.experiments.search import parse_space

    knobs = list(parse_space(args.space))
    out = Path(args.out)
    table = markdown_table(rows, knobs, args.size)
    title = f"den search: {args.benchmark}, {args.tasks or 'default'} tasks, preset {args.preset}, seed {args.seed}"
    (out / "search.md").write_text(f"# {title}\n\n{table}\n", encoding="utf-8")
    (out / "search.csv").write_text(csv_text(rows), encoding="utf-8")
    print(table)
    if args.plots:
        from den_engine.experiments.search_plots import write_plots  # Optuna's plots draw with plotly: only here

        for line in write_plots(args.out, args.plots):
            print(line, file=sys.stderr)
    done = {r["state"] for r in rows}
    print(f"\n{len(rows)} trials in {out} ({time.perf_counter() - start:.1f} s; {', '.join(sorted(done))}); "
          "table in search.md and search.csv")  # fmt: skip
    return 1 if "fail" in done else 0


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def add_parser(sub) -> None:
    """Register the ``search`` subcommand on the CLI's subparsers."""
    parser = sub.add_parser(
        "search",
        help="search DEN's knobs for the best accuracy-parameters trade-offs (Optuna, multi-objective)",
        description="Each trial is a DEN run in DIR/trial-NNN-<hash>: maximise mean validation AUROC (or accuracy) "
        "after the last task, minimise parameters (% of STL or absolute). A trial clearly dominated after a task "
        "by a finished trial at that task is stopped early. The study lives in DIR/search.journal: run the same "
        "command again to resume a stopped search, or in several shells to share it. Writes DIR/search.md and .csv.",
    )
    parser.add_argument("--benchmark", default="digits-one-vs-rest", choices=sorted(BENCHMARKS))
    parser.add_argument("--tasks", type=int, default=None, help="number of tasks (default: the benchmark's)")
    parser.add_argument("--trials", type=_whole_number, required=True, help="trials the study ends with")
    parser.add_argument("--jobs", type=_whole_number, default=1, help="trials running at once (default 1)")
    parser.add_argument(
        "--space",
        default=DEFAULT_SPACE,
        metavar="KNOB=LOW:HIGH[:SCALE],...",
        help=f"the knobs and their ranges; scale log, linear or int (default {DEFAULT_SPACE})",
    )
    parser.add_argument("--preset", default="fast", choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=0, help="the runs' seed and the sampler's (default 0)")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE", help="a fixed config value for every trial")
    parser.add_argument("--score", choices=SCORES, default="auroc", help="validation score to maximise")
    parser.add_argument("--size", choices=SIZES, default="stl", help="size to minimise: %% of STL or parameters")
    parser.add_argument(
        "--margin-score",
        type=float,
        default=MARGIN_SCORE,
        help=f"early stop: a finished trial must score this much higher ... (default {MARGIN_SCORE})",
    )
    parser.add_argument(
        "--margin-size",
        type=float,
        default=MARGIN_SIZE,
        help=f"... or be this fraction smaller, no worse on the other (default {MARGIN_SIZE})",
    )
    parser.add_argument("--no-early-stop", action="store_true", help="run every trial to its last task")
    parser.add_argument("--out", required=True, metavar="DIR", help="the search folder (created, or resumed)")
    parser.add_argument("--backend", choices=BACKENDS, default="local",
                        help="local worker processes (default), serial (this process) or ray")  # fmt: skip
    parser.add_argument("--address", default=None, metavar="HOST:PORT", help="a Ray cluster's address (--backend ray)")
    parser.add_argument("--plots", default=None, metavar="DIR", help="also write Optuna's Pareto and importance plots")
    parser.add_argument("--quiet", action="store_true", help="only the final table")
    parser.set_defaults(func=cmd_search)
