"""The paper's comparison: every method x seed on one benchmark, and one summary table.

``compare`` trains (or reuses) one run per method and seed under
``out/<method>-seed<k>-<hash>/`` (the hash of method, benchmark, task count and whole config:
``run_folder``) and summarises the finished records: per method, mean and standard deviation over seeds
(sample std, 0 for one seed) of the final average AUROC (test, and validation for tuning)
and accuracy, backward transfer and forgetting (AUROC), parameters (total, non-zero),
capacity relative to MTL and STL and training wall time. The table is written as
``summary.md`` and ``summary.csv``.

Budgets are equal by default (``budget="equal"``): DEN's stages count together, so a
task t > 1 costs DEN at most ``head_iterations + 3 * iterations`` optimiser steps (Eq. 3,
Eq. 4, Eq. 5, Eq. 6), and every baseline gets exactly that many steps per task. DEN spends
fewer at task 1 (Eq. 2 alone) and where a stage does not run, so the measured ``steps per
task`` column (every stage's steps in the record, over the tasks) shows what each method
really used. ``budget="method"`` keeps each method's own ``iterations``.

A run directory is reused when its run.json is complete and was written by the same
method with the same config, benchmark and task count; a matching partial run is resumed.
A changed config or task count trains in a folder of its own, and nothing is ever deleted:
a folder holding anything else is left as it is and named in a RunFolderError. Folders of the
older ``<method>-seed<k>`` form are still reused (or resumed) when their run matches exactly.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from den_engine.core.config import DENConfig, parse_value, preset
from den_engine.core.errors import ConfigError, RunFileError
from den_engine.core.runner import Callbacks, Trainer, final_metrics
from den_engine.data.sources import data_key, record_key
from den_engine.experiments.compare_cost import Cost, Planned, check_cost
from den_engine.experiments.sweep_jobs import resolve_tasks, run_hash
from den_engine.methods import get_method
from den_engine.records.claim import RunFolderError, describe_run
from den_engine.records.outputs import check_path, output_dir
from den_engine.records.owner import OWNER_FILE
from den_engine.records.store import RUN_FILE, clean_json, load_run

# (csv name, markdown header, how to read it from a record's final metrics (runner.final_metrics), markdown format)
COLUMNS: list[tuple[str, str, Callable[[dict], float], str]] = [
    ("average_auroc", "AUROC", lambda f: f["average_auroc"], "{:.4f}"),
    ("average_val_auroc", "val AUROC", lambda f: f.get("average_val_auroc"), "{:.4f}"),
    ("average_accuracy", "accuracy", lambda f: f["average_accuracy"], "{:.4f}"),
    ("backward_transfer_auroc", "BWT (AUROC)", lambda f: f["backward_transfer_auroc"], "{:+.4f}"),
    ("forgetting_auroc", "forgetting (AUROC)", lambda f: f["forgetting_auroc"], "{:.4f}"),
    ("params_total", "params", lambda f: f["params"]["total"], "{:,.0f}"),
    ("params_nonzero", "non-zero", lambda f: f["params"]["nonzero"], "{:,.0f}"),
    ("relative_to_mtl", "x MTL", lambda f: f["params"]["relative_to_mtl"], "{:.2f}"),
    ("relative_to_stl", "% STL", lambda f: 100 * f["params"]["relative_to_stl"], "{:.1f}"),
    ("steps_per_task", "steps per task", lambda f: f["steps_per_task"], "{:.0f}"),
    ("wall_time_s", "train time (s)", lambda f: f["wall_time_s"], "{:.1f}"),
]

BUDGETS = ("equal", "method")


def den_steps_per_task(config) -> int:
    """The most optimiser steps DEN takes on a task t > 1: Eq. 3, then Eq. 4, Eq. 5 and Eq. 6."""
    return config.head_iterations + 3 * config.iterations


def steps_per_task(record: dict) -> float:
    """Optimiser steps the record's stages took, over its finished tasks."""
    tasks = record["tasks"]
    steps = sum(e.get("iterations", 0) for t in tasks for e in t["events"] if e["type"] == "stage_end")
    return steps / len(tasks) if tasks else math.nan


def method_overrides(method: str, sets: dict[str, str]) -> dict:
    """The ``--set`` values that apply to ``method`` (fields its config has), parsed."""
    config_class = get_method(method).config_class
    known = set(config_class.__dataclass_fields__)
    return {name: parse_value(name, text, config_class) for name, text in sets.items() if name in known}


def check_sets(methods: list[str], sets: dict[str, str]) -> None:
    """A ``--set`` field that no chosen method has is a typo: ConfigError naming it."""
    fields = set().union(*(get_method(m).config_class.__dataclass_fields__ for m in methods))
    for name in sets:
        if name not in fields:
            raise ConfigError(name, f"no chosen method has this config field; known fields: {sorted(fields)}")


def run_config(
    method: str,
    preset_name: str,
    seed: int,
    sets: dict[str, str],
    device: str | None = None,
    benchmark: str | None = None,
    budget: str = "equal",
    tuned: dict | None = None,
):
    """The config of one run: the preset (for the benchmark), the ``--set`` values, tuned values, the seed.

    Under ``budget="equal"`` a method without DEN's stages gets DEN's steps per task
    (``den_steps_per_task`` of DEN's config under the same preset and ``--set`` values).
    """
    if budget not in BUDGETS:
        raise ConfigError("budget", f"must be one of {BUDGETS}, got {budget!r}")
    config_class = get_method(method).config_class
    overrides = {**method_overrides(method, sets), **(tuned or {}), "seed": seed}
    if device:
        overrides["device"] = device
    if budget == "equal" and "head_iterations" not in config_class.__dataclass_fields__:
        den = preset(preset_name, DENConfig, benchmark, **method_overrides("den", sets))
        overrides["iterations"] = den_steps_per_task(den)
    return preset(preset_name, config_class, benchmark, **overrides)


def _matches(run_dir: Path, method: str, config, benchmark: str, n_tasks: int | None):
    """The run record in ``run_dir`` if it was made by this method, config, benchmark and task count."""
    try:
        run = load_run(run_dir)
    except RunFileError:
        return None
    bench = run.data["benchmark"]
    expected = clean_json(get_method(method).prepare(config).to_dict())
    expected.pop("device", None)
    # A field added to the config after the record was written counts as its default there.
    defaults = clean_json(type(config)().to_dict())
    recorded = {k: v for k, v in {**defaults, **run.config}.items() if k in expected}
    if set(run.config) - set(expected) - {"device"}:
        return None  # a field this config no longer has: not the same method
    same = run.data["method"] == method and recorded == expected and record_key(bench) == data_key(benchmark)
    return run if same and (n_tasks is None or bench["n_tasks"] == n_tasks) else None


def run_folder(parent: Path, stem: str, method: str, config, benchmark: str, n_tasks: int) -> Path:
    """Where a run lives: ``parent/<stem>-<run_hash>``, or an older ``parent/<stem>`` holding exactly this run.

    The hash covers the method, benchmark, task count and the whole config (seed included), so a
    changed ``--set`` or ``--tasks`` gets a folder of its own and the earlier runs stay as they are.
    """
    legacy = parent / stem  # written before run folders carried the hash
    if (legacy / RUN_FILE).is_file() and _matches(legacy, method, config, benchmark, n_tasks) is not None:
        return legacy
    return parent / f"{stem}-{run_hash(method, benchmark, n_tasks, config)}"


def finished_run(run_dir: Path, method: str, config, benchmark: str, n_tasks: int | None) -> dict | None:
    """The record in ``run_dir`` when it is this very run, complete (it is reused, not trained); else None."""
    existing = _matches(run_dir, method, config, benchmark, n_tasks)
    return existing.data if _complete(existing) else None


def _complete(run) -> bool:
    return run is not None and run.data["status"] == "complete" and bool(run.data.get("final"))


def run_one(
    method: str,
    config,
    benchmark: str,
    n_tasks: int | None,
    run_dir: Path,
    callbacks: Callbacks | None = None,
) -> tuple[dict, str]:
    """Train one run into ``run_dir`` or reuse it; returns (record, "reused"|"resumed"|"trained").

    A folder holding anything but this very run is left alone: a RunFolderError names it
    (den_engine.records.claim, which also refuses a folder another trainer holds).
    """
    run_dir = Path(run_dir)
    existing = _matches(run_dir, method, config, benchmark, n_tasks)
    if _complete(existing):
        return existing.data, "reused"
    if existing is not None and existing.tasks:  # this run, stopped or killed: go on from its last finished task
        trainer, how = Trainer.resume(run_dir, callbacks), "resumed"
    else:  # none yet, or this run killed before its first task ended
        if existing is None and run_dir.is_dir() and any(p.name != OWNER_FILE for p in run_dir.iterdir()):
            held = describe_run(run_dir) if (run_dir / RUN_FILE).is_file() else "files that are no run"
            message = f"{run_dir}: holds {held}, not this comparison's run; it is left as it is: move it away"
            raise RunFolderError(message)
        trainer = Trainer(config, benchmark, n_tasks, run_dir, callbacks, method=method, overwrite=existing is not None)
        how = "trained"
    with trainer:  # the trainer holds the folder's lock until the run ends
        return trainer.run(), how


def compare(
    benchmark: str,
    n_tasks: int | None,
    methods: list[str],
    seeds: list[int],
    preset_name: str,
    out: str | Path,
    sets: dict[str, str] | None = None,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
    callbacks: Callable[[str, int], Callbacks] | None = None,
    budget: str = "equal",
    tuned: dict[str, dict] | None = None,
    title_extra: str = "",
    on_estimate: Callable[[Cost], None] | None = None,
) -> list[dict]:
    """Run (or reuse) every method x seed under ``out``; write and return the summary rows.

    ``tuned`` maps a method to the field values chosen for it (``tune.tune``); they win
    over the preset and ``sets``. Before anything is written, every run to train is checked
    against memory (a ConfigError refuses the whole comparison) and ``on_estimate`` is told
    the estimated wall time (``compare_cost``) once ``out`` exists, before the first run trains.
    """
    sets, tuned = sets or {}, tuned or {}
    if budget not in BUDGETS:
        raise ConfigError("budget", f"must be one of {BUDGETS}, got {budget!r}")
    for method in methods:
        get_method(method)  # unknown names fail before any training
    check_sets(methods, sets)
    n_tasks = resolve_tasks(benchmark, n_tasks)
    parent = check_path(str(out), "--out", "folder")
    runs = []  # (method, seed, config, run folder) of every run, in the order they train
    for method, seed in ((m, s) for m in methods for s in seeds):
        config = run_config(method, preset_name, seed, sets, device, benchmark, budget, tuned.get(method))
        runs.append(
            (method, seed, config, run_folder(parent, f"{method}-seed{seed}", method, config, benchmark, n_tasks))
        )
    planned = [Planned(m, c, finished_run(d, m, c, benchmark, n_tasks) is not None) for m, _, c, d in runs]
    cost = check_cost(planned, benchmark, n_tasks)  # a run that cannot fit: refused, nothing written
    out = output_dir(out, "--out")
    if on_estimate is not None:
        on_estimate(cost)
    records: dict[str, list[dict]] = {m: [] for m in methods}
    total = len(runs)
    for i, (method, seed, config, run_dir) in enumerate(runs, start=1):
        cb = callbacks(method, seed) if callbacks is not None else None
        record, how = run_one(method, config, benchmark, n_tasks, run_dir, cb)
        records[method].append(record)
        if log is not None:
            f = record["final"]
            log(
                f"[{i}/{total}] {method} seed {seed}: {how}, AUROC {f['average_auroc']:.4f}, "
                f"train time {f['wall_time_s']:.1f} s"
            )
    rows = summarise(records)
    title = compare_title(Path(benchmark).name, n_tasks, preset_name, seeds, budget) + title_extra
    (out / "summary.md").write_text(markdown_table(rows, title) + "\n")
    (out / "summary.csv").write_text(csv_table(rows))
    return rows


def compare_title(benchmark: str, n_tasks: int | None, preset_name: str, seeds: list[int], budget: str) -> str:
    """The line above a comparison table: what was compared, under which budget."""
    budget_words = "equal steps per task" if budget == "equal" else "each method's own steps"
    seeds_text = ",".join(map(str, seeds))
    return f"{benchmark}, {n_tasks or 'all'} tasks, preset {preset_name}, seeds {seeds_text}, budget: {budget_words}"


def _mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return float(np.mean(finite)), float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0


def summarise(records: dict[str, list[dict]]) -> list[dict]:
    """One row per method: ``{method, seeds, <column>: (mean, std), ...}`` over its finished runs."""
    rows = []
    for method, runs in records.items():
        # recomputed: older records lack new fields
        finals = [{**final_metrics(r), "steps_per_task": steps_per_task(r)} for r in runs if r.get("final")]
        row = {"method": method, "seeds": [r["seed"] for r in runs if r.get("final")]}
        for name, _, read, _ in COLUMNS:
            row[name] = _mean_std([_value(read, f) for f in finals])
        rows.append(row)
    return rows


def _value(read: Callable[[dict], float], final: dict) -> float:
    value = read(final)
    return math.nan if value is None else float(value)


def markdown_table(rows: list[dict], title: str = "") -> str:
    """The summary as a Markdown table, each cell "mean ± std over seeds"."""
    head = ["method", "seeds", *(header for _, header, _, _ in COLUMNS)]
    lines = [f"Mean ± std over seeds; {title}" if title else "Mean ± std over seeds"]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    joint = [row["method"] for row in rows if not get_method(row["method"]).sequential]
    for row in rows:
        cells = [row["method"] + (" †" if row["method"] in joint else ""), str(len(row["seeds"]))]
        for name, _, _, fmt in COLUMNS:
            mean, std = row[name]
            cells.append("n/a" if math.isnan(mean) else f"{fmt.format(mean)} ± {fmt.format(std).lstrip('+')}")
        lines.append("| " + " | ".join(cells) + " |")
    if joint:
        lines += ["", "† trained on all tasks seen so far jointly (a reference, not a sequential learner)"]
    return "\n".join(lines)


def csv_table(rows: list[dict]) -> str:
    """The summary as CSV: method, n_seeds, then <column>_mean and <column>_std."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "n_seeds", *(f"{n}_{s}" for n, _, _, _ in COLUMNS for s in ("mean", "std"))])
    for row in rows:
        writer.writerow([row["method"], len(row["seeds"]), *(v for n, _, _, _ in COLUMNS for v in row[n])])
    return buffer.getvalue()
