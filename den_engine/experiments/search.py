"""A multi-objective search over DEN's knobs for the accuracy-parameters trade-off, with Optuna.

Each trial is one DEN run on the search's benchmark, an ordinary run record in
``OUT/trial-NNN-<hash>/`` that every view reads. The two objectives are the mean validation
AUROC (or accuracy) after the last task, maximised, and the parameters after the last task as a
fraction of STL's (or absolute), minimised (den_engine.experiments.search_rule); the test split
never chooses a setting. Optuna samples the knobs (its default multi-objective sampler, TPE,
seeded per trial) and keeps the study in ``OUT/search.journal`` (its journal file storage), so a
killed search resumes where it stopped and several processes can share one folder.

A trial advances one task per job (den_engine.experiments.search_steps): after every task it
is compared with every earlier trial at the same task, and one clearly dominated there is stopped
early (``search_rule.stop_reason``) and told to Optuna as pruned; its record says so (status
"stopped", a note with the reason). Trials run on the sweep backends through
den_engine.experiments.search_pool. To keep a search reproducible whatever the backend and the
timing, trial n is asked right after trial n - ``lag`` is told, finished trials are told in
order, and a trial's stop after task t waits for every earlier trial's point at task t: the
sampler and the stopping rule then see the same trials on every run of the search.

Optuna is an optional dependency imported here only (``pip install optuna``): the engine's
core never imports it.
"""

from __future__ import annotations

import math
import os
import socket
import warnings
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import numpy as np

from den_engine.core.config import DENConfig, preset
from den_engine.core.errors import ConfigError, DENError
from den_engine.experiments.search_pool import Pool
from den_engine.experiments.search_rule import MARGIN_SCORE, MARGIN_SIZE, SCORES, SIZES, record_points
from den_engine.experiments.search_steps import drive
from den_engine.experiments.sweep_jobs import ProgressFn, SweepJob, resolve_tasks, run_hash, stopped_early
from den_engine.records.outputs import output_dir
from den_engine.records.store import RUN_FILE, load_run

JOURNAL = "search.journal"
STUDY = "den-search"
ALIASES = {"tau": "loss_threshold", "sigma": "split_threshold", "k": "expand_units", "mu": "l1_strength",
           "gamma": "group_lasso"}  # fmt: skip
"""The paper's names for DEN's knobs."""
DEFAULT_SPACE = "tau=1e-3:1:log,sigma=1e-3:1:log"
SCALES = ("log", "linear", "int")
STARTUP_TRIALS = 5
"""Trials drawn at random before the sampler starts modelling the front."""


def import_optuna():
    """Optuna, quiet; a DENError saying how to install it when it is missing."""
    try:
        import optuna
    except ImportError:
        raise DENError("den search needs Optuna: pip install optuna (pinned in requirements.txt)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def parse_space(text: str) -> dict[str, tuple]:
    """``"tau=1e-3:1:log,k=5:50:int"`` -> {config field: (low, high, scale)}; a ConfigError naming the bad part.

    Knobs are DEN config fields of a number type (or the paper's names tau, sigma, k, mu, gamma);
    the scale is ``log``, ``linear`` (the default for floats) or ``int`` (the default for integer fields).
    """
    types = {f.name: f.type for f in fields(DENConfig)}
    space: dict[str, tuple] = {}
    for part in [p.strip() for p in str(text).split(",")]:
        if not part:
            continue
        name, eq, bounds = (p.strip() for p in part.partition("="))
        pieces = [b.strip() for b in bounds.split(":")]
        if not eq or len(pieces) not in (2, 3):
            raise ConfigError("space", f"{part!r} is not name=low:high[:log|linear|int], e.g. tau=1e-3:1:log")
        field = ALIASES.get(name, name)
        if types.get(field) not in ("int", "float", int, float):
            knobs = sorted(ALIASES) + sorted(n for n, t in types.items() if t in ("int", "float", int, float))
            raise ConfigError("space", f"unknown knob {name!r}; known: {', '.join(knobs)}")
        if field in space:
            raise ConfigError("space", f"knob {name!r} is given twice")
        is_int = types[field] in ("int", int)
        scale = pieces[2] if len(pieces) == 3 else ("int" if is_int else "linear")
        if scale not in SCALES:
            raise ConfigError("space", f"{part!r}: the scale is one of {', '.join(SCALES)}, not {scale!r}")
        try:
            low, high = (float(pieces[0]), float(pieces[1]))
        except ValueError:
            raise ConfigError("space", f"{part!r}: low and high must be numbers") from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError("space", f"{part!r}: needs finite bounds with low < high")
        if scale == "log" and low <= 0:
            raise ConfigError("space", f"{part!r}: a log scale needs low > 0")
        if is_int and (low != int(low) or high != int(high)):
            raise ConfigError("space", f"{part!r}: {field} takes whole numbers")
        space[field] = (int(low) if is_int else low, int(high) if is_int else high, "int" if is_int and scale ==
                        "linear" else scale, is_int)  # fmt: skip
    if not space:
        raise ConfigError("space", "names no knob; e.g. tau=1e-3:1:log,sigma=1e-3:1:log")
    return space


def _suggest(trial, space: dict) -> dict:
    """The trial's knob values, floats kept to 3 significant digits so configs and labels stay readable."""
    values = {}
    for field, (low, high, scale, is_int) in space.items():
        if is_int:
            values[field] = trial.suggest_int(field, low, high, log=scale == "log")
        else:
            values[field] = float(f"{trial.suggest_float(field, low, high, log=scale == 'log'):.3g}")
    return values


def _alive(owner: str | None) -> bool:
    """Whether the process that owns a running trial (``host:pid``) still lives; one on another host counts as alive."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # not ours to judge: another machine's search may still run it
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


class Search:
    """One search folder: its Optuna study, its trials' jobs, and how a finished trial is told."""

    def __init__(self, out, benchmark, n_tasks, space, preset_name, seed, score, size, margins, fixed, early_stop):
        self.optuna = import_optuna()
        self.out = output_dir(out, "--out")
        self.spec = {
            "benchmark": benchmark, "n_tasks": n_tasks, "space": {k: list(v[:3]) for k, v in space.items()},
            "preset": preset_name, "seed": seed, "score": score, "size": size, "margins": list(margins),
            "fixed": {k: list(v) if isinstance(v, tuple) else v for k, v in fixed.items()}, "early_stop": early_stop,
        }  # fmt: skip
        self.space, self.fixed = space, fixed
        journal = self.optuna.storages.journal
        storage = journal.JournalStorage(journal.JournalFileBackend(str(self.out / JOURNAL)))
        self.study = self.optuna.create_study(study_name=STUDY, storage=storage, load_if_exists=True,
                                              directions=["maximize", "minimize"])  # fmt: skip
        known = self.study.user_attrs.get("spec")
        if known is None:
            self.study.set_user_attr("spec", self.spec)
        elif known != self.spec:
            differs = sorted(k for k in self.spec if known.get(k) != self.spec[k])
            raise ConfigError("out", f"{self.out} holds a search with other settings ({', '.join(differs)} differ); "
                              "resume it with the same flags or give another --out")  # fmt: skip
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    def trials(self):
        """Every trial of the study so far (shared with other processes), by number."""
        return self.study.get_trials(deepcopy=False)

    def orphans(self) -> list:
        """Running trials whose process has died (a killed search): this process takes them over."""
        return [t for t in self.trials() if t.state.name == "RUNNING" and not _alive(t.user_attrs.get("owner"))]

    def points_of(self, frozen) -> list:
        """A trial's points after every finished task so far: told ones from the study, others from their record."""
        if frozen.state.name != "RUNNING":
            return frozen.user_attrs.get("points") or []
        run_dir = self.job(frozen.number).run_dir
        try:
            record = load_run(run_dir).data if (Path(run_dir) / RUN_FILE).is_file() else None
        except DENError:
            return []  # written right now by another process: nothing to compare with yet
        return [list(p) for p in record_points(record, self.spec["score"], self.spec["size"])] if record else []

    def ask(self):
        """A new trial: its knob values and the stopping rule it runs under, stored in the study."""
        optuna = self.optuna
        number = len(self.trials())
        # a sampler seeded per trial: the same trial gets the same values however often the search resumed.
        # The seed is hashed: numpy's first draws under seeds 0, 1, 2, 3 lie close together, so seeds
        # counted up from one another made the random startup trials near copies of each other.
        trial_seed = int(np.random.SeedSequence([self.spec["seed"], number]).generate_state(1)[0])
        self.study.sampler = optuna.samplers.TPESampler(seed=trial_seed,
                                                        n_startup_trials=STARTUP_TRIALS, multivariate=True)  # fmt: skip
        trial = self.study.ask()
        values = _suggest(trial, self.space)
        stop = None
        if self.spec["early_stop"]:  # the references come with each step (search_steps)
            stop = {
                "margin_score": self.spec["margins"][0],
                "margin_size": self.spec["margins"][1],
                "score": self.spec["score"],
                "size": self.spec["size"],
            }
        trial.set_user_attr("owner", self.owner)
        trial.set_user_attr("values", values)
        trial.set_user_attr("stop", stop)
        return trial.number

    def adopt(self, frozen) -> None:
        """Take over a dead process's running trial."""
        self.study._storage.set_trial_user_attr(frozen._trial_id, "owner", self.owner)

    def job(self, number: int, references: dict | None = None, until: int | None = None) -> SweepJob:
        """The run a trial makes (the same folder on a resume); with ``until``, one step of it.

        A step decides the stop after the trial's last finished task against ``references`` ({trial
        number: points}), then trains up to task ``until``. Without early stopping a job is the whole trial.
        """
        frozen = self.trials()[number]
        values, spec = frozen.user_attrs["values"], self.spec
        config = preset(spec["preset"], DENConfig, spec["benchmark"], seed=spec["seed"], **self.fixed, **values)
        name = f"trial-{number:03d}-{run_hash('den', spec['benchmark'], spec['n_tasks'], config)}"
        run_dir = str(self.out / name)
        stop = frozen.user_attrs.get("stop")
        if stop is not None:  # a search from before steps stored its references here: the step's replace them
            stop = {**stop, "references": references or {}, "until": until}
        return SweepJob(number, "den", spec["benchmark"], spec["n_tasks"], config, run_dir, values, stop)

    def finished_record(self, job: SweepJob) -> dict | None:
        """The record of a trial that needs no more training (complete, diverged or stopped early), else None."""
        if not (Path(job.run_dir) / RUN_FILE).is_file():
            return None
        data = load_run(job.run_dir).data
        return data if data["status"] in ("complete", "diverged") or stopped_early(data) else None

    def tell(self, number: int, row: dict) -> None:
        """Tell Optuna a finished trial: complete with its two values, pruned when stopped early, else failed."""
        frozen = self.trials()[number]
        job = self.job(number)
        record = load_run(job.run_dir).data if (Path(job.run_dir) / RUN_FILE).is_file() else None
        points = record_points(record, self.spec["score"], self.spec["size"]) if record else []
        attrs = {"points": [list(p) for p in points], "run": job.name, "how": row.get("how", "")}
        for key, value in attrs.items():
            self.study._storage.set_trial_user_attr(frozen._trial_id, key, value)
        state = self.optuna.trial.TrialState
        if record is None or row.get("how", "").startswith("failed") or record["status"] == "diverged":
            self.study.tell(number, state=state.FAIL)
        elif stopped_early(record):
            self.study.tell(number, state=state.PRUNED)
        elif record["status"] == "complete" and math.isfinite(points[-1][0]):
            self.study.tell(number, list(points[-1]))
        else:
            self.study.tell(number, state=state.FAIL)


def check_search(benchmark, n_tasks, space, preset_name, score, size, margins, fixed) -> tuple[int, dict, dict]:
    """The settings of a search checked before anything is written: (task count, parsed space, fixed values).

    A ConfigError (or BenchmarkError) names the first bad one; ``search`` and the dashboard's form both call it.
    """
    if score not in SCORES:
        raise ConfigError("score", f"is one of {list(SCORES)}, not {score!r}")
    if size not in SIZES:
        raise ConfigError("size", f"is one of {list(SIZES)}, not {size!r}")
    if not (margins[0] >= 0 and 0 <= margins[1] < 1):
        raise ConfigError("margin", f"needs a score margin >= 0 and a size margin in [0, 1), got {margins}")
    n_tasks = resolve_tasks(benchmark, n_tasks)
    space = parse_space(DEFAULT_SPACE if space is None else space) if not isinstance(space, dict) else space
    fixed = dict(fixed or {})
    clash = sorted(set(fixed) & set(space)) or sorted({"seed"} & set(fixed))
    if clash:
        raise ConfigError(clash[0], "is searched (or the search's --seed): it cannot also be a fixed --set value")
    name = "fast" if preset_name is None else preset_name
    preset(name, DENConfig, benchmark, **fixed)  # bad values fail first
    for field, (low, high, *_) in space.items():  # a range whose ends a config refuses: every trial would fail
        for end in (low, high):
            try:
                preset(name, DENConfig, benchmark, **{**fixed, field: end})
            except ConfigError as exc:
                raise ConfigError("space", f"{field} from {low:g} to {high:g}: {exc}") from None
    return n_tasks, space, fixed


def search(
    benchmark: str,
    n_tasks: int | None,
    n_trials: int,
    out: str | Path,
    jobs: int = 1,
    space: str | dict | None = None,
    preset_name: str = "fast",
    seed: int = 0,
    score: str = "auroc",
    size: str = "stl",
    backend: str = "local",
    address: str | None = None,
    fixed: dict | None = None,
    margins: tuple[float, float] = (MARGIN_SCORE, MARGIN_SIZE),
    early_stop: bool = True,
    lag: int | None = None,
    progress: ProgressFn | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Run (or resume) a search until the study holds ``n_trials`` finished trials; returns one row per trial.

    ``jobs`` trials run at once on ``backend``; trial n is asked once trial n - ``lag`` (default
    2 x jobs) is told. A finished trial is never run again; a killed one resumes from its last task.
    """
    for name, value in (("trials", n_trials), ("jobs", jobs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(name, f"must be a whole number >= 1, got {value!r}")
    n_tasks, space, fixed = check_search(benchmark, n_tasks, space, preset_name, score, size, margins, fixed)
    lag = lag or 2 * jobs
    state = Search(out, benchmark, n_tasks, space, preset_name, seed, score, size, margins, fixed, early_stop)
    pool = Pool(backend, jobs, address, progress)
    try:
        drive(state, pool, n_trials, jobs, lag, log or (lambda line: None))
    finally:
        pool.close()
    return trial_rows(state)


def trial_rows(state: Search) -> list[dict]:
    """One row per trial of the study: values, state, the two objectives, tasks done, why it stopped, its run."""
    trials = state.trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    from den_engine.experiments.search_rule import pareto_front

    front = {complete[i].number for i in pareto_front([t.values for t in complete])}
    rows = []
    for t in trials:
        points = t.user_attrs.get("points") or []
        run = t.user_attrs.get("run")
        why = None
        if t.state.name == "PRUNED" and run:
            why = stopped_early(load_run(state.out / run).data)
        rows.append({
            "trial": t.number, **(t.user_attrs.get("values") or {}), "state": t.state.name.lower(),
            "score": points[-1][0] if points else None, "size": points[-1][1] if points else None,
            "tasks_done": len(points), "front": t.number in front, "why": why, "run": run,
        })  # fmt: skip
    return rows
