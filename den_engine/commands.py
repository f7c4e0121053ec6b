"""What ``den run``, ``den evaluate``, ``den bench``, ``den compare`` and ``den benchmarks`` do.

Each ``cmd_*`` takes the parsed arguments (the parser is ``den_engine.cli.build_parser``) and
returns the exit status; a user error is raised, and ``den_engine.cli.main`` prints it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from den_engine.core.config import ConfigError, parse_value, preset
from den_engine.core.errors import TrainingDiverged, TrainingStopped
from den_engine.data.benchmarks import BENCHMARKS
from den_engine.records.store import clean_json

STAGE_WORDS = {
    "sparse_training": "sparse training (Eq. 2)",
    "train_head": "new head (Eq. 3)",
    "selective_retraining": "selective retraining (Eq. 4)",
    "expansion": "expansion (Eq. 5)",
    "pre_split_retraining": "retraining before the split (Eq. 6, paper order)",
    "split_retraining": "split retraining (Eq. 6)",
}


class Progress:
    """A one-line progress bar per stage on stderr (a line per stage when not a TTY)."""

    def __init__(self, stream=None, quiet: bool = False) -> None:
        stream = stream or sys.stderr  # looked up now: a default bound at import would outlive a redirection
        self.stream, self.quiet = stream, quiet
        self.tty = stream.isatty()
        self.task = 0

    def __call__(self, stage: str, iteration: int, total: int, loss: float) -> None:
        if self.quiet:
            return
        done = iteration >= total
        if not self.tty and not done:
            return
        width = 24
        filled = int(width * iteration / max(total, 1))
        bar = "#" * filled + "." * (width - filled)
        words = STAGE_WORDS.get(stage, stage)
        line = f"task {self.task:>2}  {words:<30} [{bar}] {iteration:>5}/{total:<5} loss {loss:.4f}"
        end = "\n" if done else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()


def _parse_sets(pairs: list[str], config_class: type | None = None) -> dict:
    values = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(pair, "--set takes name=value, e.g. --set loss_threshold=0.05")
        name, text = pair.split("=", 1)
        values[name.strip()] = parse_value(name.strip(), text, config_class)
    return values


def summary_table(record: dict) -> str:
    """A plain-text table of every task: sizes, decisions and metrics."""
    head = (
        f"{'task':>4}  {'name':<20} {'hidden units':<16} {'expanded':>8} {'split':>5} {'avg AUROC':>9} {'avg acc':>8}"
    )
    lines = [head, "-" * len(head)]
    for snap in record["tasks"]:
        decision = next((e for e in snap["events"] if e["type"] == "expansion_decision"), None)
        split = next((e for e in snap["events"] if e["type"] == "split"), None)
        expanded = "-" if decision is None else ("yes" if decision["expand"] else "no")
        n_split = 0 if split is None else len(split["pairs"])
        sizes = "-".join(str(s) for s in snap["active_sizes"][1:])
        m = snap["metrics"]
        lines.append(
            f"{snap['task']:>4}  {snap['name'][:20]:<20} {sizes:<16} {expanded:>8} {n_split:>5} "
            f"{_fmt(m['average_auroc']):>9} {_fmt(m['average_accuracy']):>8}"
        )
    final = record.get("final")
    if final:
        p = final["params"]
        lines.append("")
        lines.append(
            f"final: average AUROC {_fmt(final['average_auroc'])}, accuracy {_fmt(final['average_accuracy'])}, "
            f"BWT (AUROC) {_fmt(final['backward_transfer_auroc'])}, forgetting (AUROC) "
            f"{_fmt(final['forgetting_auroc'])}"
        )
        lines.append(
            f"parameters: {p['total']:,} total, {p['nonzero']:,} non-zero; "
            f"{100 * p['relative_to_mtl']:.0f} % of MTL, {100 * p['relative_to_stl']:.1f} % of STL; "
            f"train time {final['wall_time_s']:.1f} s"
        )
    return "\n".join(lines)


def _fmt(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.4f}"


RUN_DEFAULTS = {"benchmark": "digits-one-vs-rest", "preset": "fast", "method": "den", "seed": 0}
"""``den run``'s defaults; the flags default to None so that ``--resume`` can tell what was given."""


def _check_run_flags(args: argparse.Namespace) -> None:
    """Refuse flag combinations that would be ignored silently (one ConfigError naming the flag)."""
    if args.threads is not None and args.threads < 1:
        raise ConfigError("--threads", f"must be at least 1, got {args.threads} (leave it out to let den choose)")
    if args.tasks is not None and args.tasks < 1:
        raise ConfigError("--tasks", f"must be at least 1, got {args.tasks}")
    if args.data is not None and args.benchmark is not None:
        raise ConfigError("--data", "trains on the file instead of a benchmark: give --data or --benchmark, not both")
    if args.resume:
        given = [f"--{name}" for name in RUN_DEFAULTS if getattr(args, name) is not None]
        given += ["--set"] if args.set else []
        given += ["--out"] if args.out else []
        given += ["--overwrite"] if args.overwrite else []
        if given:
            raise ConfigError(
                given[0],
                "a resumed run keeps its own settings and folder; only --tasks (to extend it), --data (its task "
                "file), --device, --threads, --log, --plugin and --quiet go with --resume",
            )
    for name, value in RUN_DEFAULTS.items():
        if getattr(args, name) is None and not (name == "benchmark" and args.data is not None):
            setattr(args, name, value)


def cmd_run(args: argparse.Namespace) -> int:
    from den_engine.core import budget
    from den_engine.core.runner import Callbacks, Trainer, run_id
    from den_engine.data.sources import data_info, data_key
    from den_engine.methods import get_method, load_plugin
    from den_engine.records.live import logger

    _check_run_flags(args)
    for spec in args.plugin or []:  # before the method is looked up (and before a resumed run reads its own)
        load_plugin(spec)
    loggers = [logger(kind, path) for kind, path in args.log or []]  # checked before anything is written
    progress = Progress(quiet=args.quiet)
    callbacks = Callbacks(on_progress=progress, loggers=loggers)
    if args.resume:
        trainer = Trainer.resume(args.resume, callbacks, n_tasks=args.tasks, data=args.data)
        if args.device or args.threads is not None:
            print("note: --device and --threads apply to new runs; the resumed run keeps its own", file=sys.stderr)
    else:
        method = get_method(args.method)
        overrides = _parse_sets(args.set or [], method.config_class)
        overrides["seed"] = args.seed
        if args.device:
            overrides["device"] = args.device
        if args.threads is not None:
            overrides["threads"] = args.threads  # else den_engine.core.threads chooses (recorded in run.json)
        # --data: the file is read and checked here, before anything is written
        source = str(Path(args.data).expanduser().resolve()) if args.data is not None else args.benchmark
        info = data_info(source)
        config = preset(args.preset, method.config_class, source, **overrides)
        n_tasks = info.default_tasks if args.tasks is None else args.tasks
        if not 1 <= n_tasks <= info.max_tasks:
            raise ConfigError("--tasks", f"{info.name} has 1 to {info.max_tasks} tasks, got {n_tasks}")
        rid = run_id(method.name, method.prepare(config), data_key(source), n_tasks)
        out = Path(args.out) if args.out else Path("runs") / f"{info.name}-{method.name}-{rid}"
        input_dim = math.prod(info.input_shape)
        budget.check_memory(config, input_dim, n_tasks, "cuda" if args.device == "cuda" else "cpu")
        note = budget.long_run_note(budget.estimate_seconds(config, input_dim, n_tasks))
        if note:
            print(note, file=sys.stderr)
        trainer = Trainer(config, source, n_tasks, out, callbacks, method=method.name, overwrite=args.overwrite)
    start = time.perf_counter()
    try:
        while not trainer.finished:
            progress.task = trainer.tasks_done + 1
            trainer.train_next()
    except (TrainingDiverged, TrainingStopped) as exc:
        print(summary_table(trainer.record))
        print(f"error: task {trainer.tasks_done + 1}: {exc}; finished tasks are kept in {trainer.out_dir}")
        return 1
    finally:
        trainer.close()
    print(summary_table(trainer.record))
    print(f"run saved to {trainer.out_dir} ({time.perf_counter() - start:.1f} s)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from den_engine.records.evaluate import evaluate_run

    report = evaluate_run(args.run_dir, data=args.data)
    print(json.dumps(clean_json(report), indent=1))
    return 0 if report["agrees_with_record"] else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from den_engine.experiments.bench import PARTS, format_table, run_bench

    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise ConfigError("parts", f"choose from {','.join(PARTS)}, got {args.parts!r}")
    results = run_bench(
        benchmark=args.benchmark, iterations=args.iterations, full_run_tasks=args.tasks,
        device=args.device or "auto", parts=parts, overrides=_parse_sets(args.set),
    )  # fmt: skip
    print(json.dumps(clean_json(results), indent=1) if args.json else format_table(results))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from den_engine.core.runner import Callbacks
    from den_engine.experiments.compare import compare, compare_title, markdown_table
    from den_engine.experiments.compare_cost import cost_lines
    from den_engine.experiments.sweep_cli import data_source
    from den_engine.experiments.tune import trial_table, tuned_compare

    sets = {}
    for pair in args.set or []:
        if "=" not in pair:
            raise ConfigError(pair, "--set takes name=value, e.g. --set iterations=300")
        name, text = pair.split("=", 1)
        sets[name.strip()] = text
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError("seeds", f"expected comma-separated integers, got {args.seeds!r}") from None
    if not methods or not seeds:
        raise ConfigError("methods" if not methods else "seeds", "needs at least one value")
    progress = Progress(quiet=args.quiet)

    def callbacks(method: str, seed: int):
        def on_task_end(snapshot: dict) -> None:
            progress.task = snapshot["task"] + 1

        progress.task = 1
        return Callbacks(on_progress=progress, on_task_end=on_task_end)

    start = time.perf_counter()

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def estimate(what: str):
        def show(cost) -> None:  # called before the first run trains
            for line in cost_lines(cost, what):
                log(line)

        return show

    benchmark = data_source(args)
    title = compare_title(Path(benchmark).name, args.tasks, args.preset, seeds, args.budget)
    if args.tune is not None:
        rows, trial_rows = tuned_compare(
            benchmark, args.tasks, methods, seeds, args.tune, args.preset, args.out, sets, args.device,
            args.budget, log, callbacks, on_estimate=estimate("this tuning and comparison"),
        )  # fmt: skip
        print(trial_table(trial_rows, f"{Path(benchmark).name}, seed {seeds[0]}") + "\n")
        title += f"; {args.tune} trials per method, chosen on validation AUROC of seed {seeds[0]}"
    else:
        rows = compare(
            benchmark, args.tasks, methods, seeds, args.preset, args.out, sets, args.device,
            log=log, callbacks=callbacks, budget=args.budget, on_estimate=estimate("this comparison"),
        )  # fmt: skip
    print(markdown_table(rows, title))
    print(f"\nsaved {args.out}/summary.md and summary.csv ({time.perf_counter() - start:.1f} s)")
    return 0


def cmd_benchmarks(args: argparse.Namespace) -> int:
    for name, info in BENCHMARKS.items():
        print(f"{name:<20} up to {info.max_tasks:>2} tasks  {info.description}")
    return 0
