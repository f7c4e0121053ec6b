"""Fair tuning: each method's own knobs chosen on validation AUROC, the same number of trials each.

``tune`` gives every method ``n_trials`` runs on one seed: trial 0 is the method's
defaults (the preset for the benchmark), trials 1..n-1 a Latin hypercube over the
method's own knobs (``SPACES``: each knob's range cut into n-1 equal strata on a log
scale, each stratum used once, the pairing shuffled by a seeded generator). The trial
with the highest mean validation AUROC after the last task wins (ties: the earlier
trial); the test split plays no part. ``tuned_compare`` then runs the winners on every
seed with ``compare`` and reports test AUROC over seeds. Every trial is a run record
under ``out/tune/<method>-trial<k>-<hash>/`` (``compare.run_folder``: a changed config gets
a folder of its own) and the trial table is written as ``out/tune.md``.
"""

from __future__ import annotations

import json
import math
import shutil
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from den_engine.core import budget as memory_budget
from den_engine.core.errors import ConfigError
from den_engine.core.runner import Callbacks, final_metrics
from den_engine.data.sources import data_info
from den_engine.experiments.compare import check_sets, compare, finished_run, run_config, run_folder, run_one
from den_engine.experiments.compare_cost import Cost, Planned, check_cost
from den_engine.experiments.sweep_jobs import resolve_tasks
from den_engine.methods import get_method
from den_engine.records.outputs import check_path, output_dir

_RATE = {"learning_rate": (3e-4, 1e-2, "log"), "weight_decay": (1e-6, 1e-2, "log")}
_DEN = {
    "l1_strength": (1e-5, 3e-3, "log"),  # mu
    "group_lasso": (1e-4, 3e-2, "log"),  # gamma
    "loss_threshold": (1e-3, 0.5, "log"),  # tau
    "split_threshold": (5e-3, 0.5, "log"),  # sigma
    "expand_units": (5, 50, "int"),  # k
}

# Each method's own knobs and their ranges (low, high, scale). The ablations tune the DEN
# knobs they still use; methods with no regulariser of their own tune step size and decay.
SPACES: dict[str, dict[str, tuple[float, float, str]]] = {
    "den": _DEN,
    "den-expand": {k: v for k, v in _DEN.items() if k != "split_threshold"},
    "den-selective": {"l1_strength": _DEN["l1_strength"]},
    "ewc": {"ewc_lambda": (1.0, 1e5, "log")},
    "l2": {"l2_transfer": (1e-3, 10.0, "log")},
    "finetune": _RATE,
    "progressive": _RATE,
    "stl": _RATE,
    "mtl": _RATE,
}


def trials(method: str, n_trials: int, seed: int = 0) -> list[dict]:
    """The ``n_trials`` field settings tried for ``method``: its defaults ({}), then a Latin hypercube."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError("tune", f"needs a whole number of trials >= 1, got {n_trials!r}")
    if method not in SPACES:
        raise ConfigError("method", f"no tuning space for {method!r}; known: {sorted(SPACES)}")
    space, n = SPACES[method], n_trials - 1
    rng = np.random.default_rng([seed, zlib.crc32(method.encode())])  # the same draws on every machine
    columns = {}
    for name, (low, high, scale) in space.items():
        strata = (np.arange(n) + rng.random(n)) / max(n, 1)  # one point in each of n equal strata
        values = np.exp(np.log(low) + strata * (np.log(high) - np.log(low)))
        columns[name] = [_rounded(v, scale) for v in rng.permutation(values)]
    return [{}] + [{name: columns[name][i] for name in space} for i in range(n)]


def _rounded(value: float, scale: str) -> float | int:
    if scale == "int":
        return int(round(value))
    return float(f"{value:.3g}")  # readable configs; the strata are far wider than the rounding


def tune(
    benchmark: str,
    n_tasks: int | None,
    methods: list[str],
    n_trials: int,
    seed: int,
    preset_name: str,
    out: str | Path,
    sets: dict[str, str] | None = None,
    device: str | None = None,
    budget: str = "equal",
    log: Callable[[str], None] | None = None,
    callbacks: Callable[[str, int], Callbacks] | None = None,
    later_seeds: Sequence[int] = (),
    on_estimate: Callable[[Cost], None] | None = None,
) -> tuple[dict[str, dict], list[dict]]:
    """Run every method's trials on ``seed``; return (chosen values per method, one row per trial).

    Before anything is written, every trial (and the comparison's runs on ``later_seeds``, which
    ``tuned_compare`` makes next) is checked against memory and ``on_estimate`` is told the
    estimated wall time of them all (``compare_cost``), before the first trial trains.
    """
    sets = sets or {}
    for method in methods:
        get_method(method)
        trials(method, n_trials)  # a bad count or a method without a space fails before any training
    check_sets(methods, sets)
    n_tasks = resolve_tasks(benchmark, n_tasks)
    parent = check_path(str(out), "--out", "folder")
    planned = _plan(benchmark, n_tasks, methods, n_trials, seed, preset_name, parent, sets, device, budget, later_seeds)
    cost = check_cost(planned, benchmark, n_tasks)  # a run that cannot fit: refused, nothing written
    out = output_dir(out, "--out")
    if on_estimate is not None:
        on_estimate(cost)
    chosen: dict[str, dict] = {}
    rows: list[dict] = []
    for method in methods:
        best = None
        for k, values in enumerate(trials(method, n_trials, seed)):
            config = run_config(method, preset_name, seed, sets, device, benchmark, budget, values)
            cb = callbacks(method, seed) if callbacks is not None else None
            run_dir = run_folder(out / "tune", f"{method}-trial{k}", method, config, benchmark, n_tasks)
            record, how = run_one(method, config, benchmark, n_tasks, run_dir, cb)
            val = final_metrics(record)["average_val_auroc"]
            score = _score(record)
            row = {"method": method, "trial": k, "values": values, "val_auroc": val, "chosen": False, "run": run_dir}
            rows.append(row)
            if best is None or score > best[0]:
                best = (score, row)
            if log is not None:
                log(f"tune {method} trial {k}/{n_trials - 1} {values or 'defaults'}: {how}, val AUROC {score:.4f}")
        best[1]["chosen"] = True
        chosen[method] = best[1]["values"]
    (out / "tune.md").write_text(trial_table(rows, f"{benchmark}, {n_tasks or 'all'} tasks, seed {seed}") + "\n")
    (out / "tune.json").write_text(json.dumps({"seed": seed, "n_trials": n_trials, "chosen": chosen}, indent=1))
    return chosen, rows


def _score(record: dict) -> float:
    """A trial's mean validation AUROC after the last task; -inf when there is none."""
    val = final_metrics(record)["average_val_auroc"]
    return -math.inf if val is None or not math.isfinite(val) else val


def _plan(benchmark, n_tasks, methods, n_trials, seed, preset_name, parent, sets, device, budget, later_seeds):
    """Every trial of every method, then the comparison's runs on ``later_seeds``: what ``tune`` checks first."""
    planned = []
    for method in methods:
        values = trials(method, n_trials, seed)

        def config_of(seed_: int, chosen: dict, method: str = method):
            return run_config(method, preset_name, seed_, sets, device, benchmark, budget, chosen)

        configs = [config_of(seed, v) for v in values]
        folders = [
            run_folder(parent / "tune", f"{method}-trial{k}", method, c, benchmark, n_tasks)
            for k, c in enumerate(configs)
        ]
        records = [finished_run(d, method, c, benchmark, n_tasks) for d, c in zip(folders, configs, strict=True)]
        planned += [Planned(method, c, r is not None) for c, r in zip(configs, records, strict=True)]
        for later in later_seeds:  # the comparison's runs after tuning
            planned.append(_later_run(method, later, values, configs, records, config_of, parent, benchmark, n_tasks))
    return planned


def _later_run(method, seed, values, configs, records, config_of, parent, benchmark, n_tasks) -> Planned:
    """The comparison's run of ``method`` on a later ``seed``, as far as it is known before tuning.

    With every trial finished the winner is known (the same choice as ``tune``) and its run may
    be there already; otherwise the estimate takes the trial whose network can grow largest,
    erring high.
    """
    if all(r is not None for r in records):
        best = max(range(len(records)), key=lambda k: _score(records[k]))  # the first best, as in tune
        config = config_of(seed, values[best])
        folder = run_folder(parent, f"{method}-seed{seed}", method, config, benchmark, n_tasks)
        return Planned(method, config, finished_run(folder, method, config, benchmark, n_tasks) is not None)
    dim = math.prod(data_info(benchmark).input_shape)
    largest = max(range(len(configs)), key=lambda k: memory_budget.estimate(configs[k], dim, n_tasks).parameters)
    return Planned(method, config_of(seed, values[largest]))


def trial_table(rows: list[dict], title: str = "") -> str:
    """Every trial as a Markdown table; the chosen one per method in bold."""
    lines = [f"Tuning on validation AUROC; {title}" if title else "Tuning on validation AUROC", ""]
    lines += ["| method | trial | values | val AUROC |", "|---|---|---|---|"]
    for row in rows:
        values = ", ".join(f"{k}={v:g}" for k, v in row["values"].items()) or "defaults"
        val = "n/a" if row["val_auroc"] is None else f"{row['val_auroc']:.4f}"
        mark = "**" if row["chosen"] else ""
        lines.append(f"| {row['method']} | {row['trial']} | {mark}{values}{mark} | {mark}{val}{mark} |")
    return "\n".join(lines)


def tuned_compare(
    benchmark: str,
    n_tasks: int | None,
    methods: list[str],
    seeds: list[int],
    n_trials: int,
    preset_name: str,
    out: str | Path,
    sets: dict[str, str] | None = None,
    device: str | None = None,
    budget: str = "equal",
    log: Callable[[str], None] | None = None,
    callbacks: Callable[[str, int], Callbacks] | None = None,
    on_estimate: Callable[[Cost], None] | None = None,
) -> tuple[list[dict], list[dict]]:
    """Tune every method on the first seed's validation split, then compare the winners on every seed.

    ``on_estimate`` is told the estimated wall time of the trials and the comparison together, before any trains.
    """
    out = Path(out)
    seed = seeds[0]
    chosen, trial_rows = tune(
        benchmark, n_tasks, methods, n_trials, seed, preset_name, out, sets, device, budget, log, callbacks,
        later_seeds=seeds[1:], on_estimate=on_estimate,
    )  # fmt: skip
    n_tasks = resolve_tasks(benchmark, n_tasks)
    for method in methods:  # the winning trial is that seed's run: copied, so compare reuses it
        trial = next(r for r in trial_rows if r["method"] == method and r["chosen"])
        config = run_config(method, preset_name, seed, sets or {}, device, benchmark, budget, chosen[method])
        dest = run_folder(out, f"{method}-seed{seed}", method, config, benchmark, n_tasks)
        if not dest.exists():  # one already there is this run (or someone else's): compare decides, nothing is replaced
            shutil.copytree(trial["run"], dest, ignore=shutil.ignore_patterns(".*"))
    extra = f"; {n_trials} trials per method, chosen on validation AUROC of seed {seed}"
    rows = compare(
        benchmark, n_tasks, methods, seeds, preset_name, out, sets, device, log, callbacks, budget, chosen, extra
    )
    return rows, trial_rows
