"""Searches launched from the Compare page: ``den search``, its trials' steps trained by the server's worker pool.

The search's own loop (den_engine.experiments.search_steps.drive: ask Optuna, step the trials,
tell Optuna) runs in a thread of the server; every step it hands out (one task of one trial, an
ordinary sweep job) is one job of the worker pool, of the kind a Compare-page sweep's runs are
(dashboard.workers.units.sweep_unit), so it waits its session's turn, stops on Stop and is
dropped when its tab has gone. The trials are run records in ``<runs folder>/sweeps/<search
folder>/``, read by every view as they are written. The folder is named by the search's settings
(or by the user): started again with the same settings, the search resumes from its journal.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dashboard.state.ownership import OWNER_FILE, OwnerLock
from dashboard.state.sweep_launcher import SWEEPS
from dashboard.state.sweep_time import SweepEstimate, estimate_sweep
from den_engine.core.config import DENConfig, parse_value, preset
from den_engine.core.errors import ConfigError
from den_engine.data.benchmarks import BENCHMARKS
from den_engine.experiments.search import DEFAULT_SPACE, JOURNAL, Search, check_search, parse_space, trial_rows
from den_engine.experiments.search_rule import MARGIN_SCORE, MARGIN_SIZE
from den_engine.experiments.search_steps import drive
from den_engine.experiments.sweep_jobs import SweepJob, outcome_row

LOG_FILE = "search.log"
MARGINS = (MARGIN_SCORE, MARGIN_SIZE)
FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


@dataclass(frozen=True)
class SearchRequest:
    """What the page's search form asks for (checked by ``check``)."""

    benchmark: str
    n_tasks: int
    trials: int  # the trials the study ends with: a resumed search runs only the missing ones
    space: str = DEFAULT_SPACE  # as ``den search --space``: knob=low:high[:scale],...
    seed: int = 0
    score: str = "auroc"
    preset: str = "fast"
    fixed: str = ""  # name=value separated by spaces, as the sweep form's
    workers: int | None = None
    early_stop: bool = True
    folder: str = ""  # a folder name under <runs folder>/sweeps; "" names it by the settings

    def check(self) -> tuple[int, dict, dict]:
        """(task count, parsed space, fixed values); a ConfigError naming the form's field that is wrong."""
        info = BENCHMARKS.get(self.benchmark)
        if info is None:
            raise ConfigError("benchmark", f"unknown benchmark {self.benchmark!r}")
        if not 1 <= self.n_tasks <= info.max_tasks:
            raise ConfigError("tasks", f"{self.n_tasks} tasks is not possible; {self.benchmark} has 1 to "
                              f"{info.max_tasks}")  # fmt: skip
        if self.trials < 1:
            raise ConfigError("trials", f"{self.trials} is not possible; use 1 or more")
        if self.workers is not None and self.workers < 1:
            raise ConfigError("parallel runs", f"{self.workers} is not possible; use 1 or more")
        if self.seed < 0:
            raise ConfigError("seed", f"{self.seed} is not possible; use 0 or more")
        if self.folder and not FOLDER_NAME.match(self.folder):
            raise ConfigError("folder", f"{self.folder!r} is not a folder name: letters, digits, '.', '-', '_'")
        space = parse_space(self.space)  # "space: ..." names the bad part
        fixed = {}
        for item in self.fixed.split():
            if "=" not in item:
                raise ConfigError("fixed values", f"{item!r} is not name=value, e.g. hidden_sizes=32x16")
            name, text = (part.strip() for part in item.split("=", 1))
            if name == "seed" or name in space:
                why = "the search's Seed" if name == "seed" else "searched (it is in the search space)"
                raise ConfigError("fixed values", f"{name} is {why}: it cannot also be fixed")
            fixed[name] = parse_value(name, text, DENConfig)
        return check_search(self.benchmark, self.n_tasks, space, self.preset, self.score, "stl", MARGINS, fixed)

    def folder_name(self, space: dict, fixed: dict) -> str:
        """The search folder's name: the user's, or ``search-<benchmark>-<hash of what the search is>``."""
        if self.folder:
            return self.folder
        what = {"benchmark": self.benchmark, "n_tasks": self.n_tasks, "preset": self.preset, "seed": self.seed,
                "space": {k: list(v[:3]) for k, v in space.items()}, "score": self.score, "early_stop": self.early_stop,
                "fixed": {k: list(v) if isinstance(v, tuple) else v for k, v in fixed.items()}}  # fmt: skip
        digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:8]
        return f"search-{self.benchmark}-{digest}"

    def estimate(self, runs_dir: Path, lanes: int | None = None) -> SweepEstimate:
        """The longest the search can take here: every trial run to its last task (early stops make it shorter)."""
        n_tasks, _, fixed = self.check()
        config = preset(self.preset, DENConfig, self.benchmark, seed=self.seed, **fixed)
        jobs = [SweepJob(i, "den", self.benchmark, n_tasks, config, "") for i in range(self.trials)]
        return estimate_sweep(jobs, lanes or self.workers or os.cpu_count() or 1, [Path(runs_dir)])


class _Stopped(Exception):
    """A step was stopped (Stop, or its tab has gone): the search's loop ends, every finished task kept."""


class _Steps:
    """What the search's loop needs of a pool (``submit`` a step, ``wait`` for any), over the server's worker pool."""

    def __init__(self, owner: str, gone, pool, sync: bool, message) -> None:
        self.owner, self.gone, self.pool, self.sync, self.message = owner, gone, pool, sync, message
        self.answers: queue.Queue = queue.Queue()
        self.jobs: list = []  # pool jobs not yet ended
        self.stopped = False
        self._lock = threading.Lock()
        self._cache: dict = {}

    def submit(self, step: SweepJob) -> None:
        """One step of a trial as one pool job (not sent once the search is stopping)."""
        from dashboard.workers.pool import Job, run_inline

        rows: list = []

        def unit_done(result: dict) -> bool:
            rows.append(result.get("row"))
            return False  # one unit: the step

        def ended(outcome) -> None:
            with self._lock:
                if job in self.jobs:
                    self.jobs.remove(job)
            if outcome.how in ("stopped", "gone"):
                self.answers.put(_Stopped(outcome.how))
            elif outcome.how == "done" and rows and rows[-1] is not None:
                self.answers.put((step, rows[-1]))
            else:  # an error, or a worker lost: the trial fails, the search goes on
                self.answers.put((step, outcome_row(step, None, f"failed: {(outcome.error or {}).get('message')}")))

        job = Job(self.owner, "sweep", lambda: {"job": step}, self.message, unit_done, ended, gone=self.gone)
        with self._lock:
            if self.stopped:
                self.answers.put(_Stopped("stopped"))
                return
            self.jobs.append(job)
        if self.sync:
            run_inline(job, self._cache, threading.Event())
        else:
            self.pool.submit(job)

    def wait(self) -> tuple[SweepJob, dict]:
        """The next step to end and its outcome row; _Stopped when a step was stopped."""
        answer = self.answers.get()
        if isinstance(answer, _Stopped):
            raise answer
        return answer

    def stop(self) -> None:
        """Stop every step: waiting ones are dropped, training ones stop at their next step."""
        with self._lock:
            self.stopped = True
            jobs = list(self.jobs)
        for job in jobs:
            if self.pool is not None:
                self.pool.stop(job)

    def drain(self, timeout: float) -> None:
        """Wait for the steps still out to end (after a stop)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            jobs = list(self.jobs)
        for job in jobs:
            job.wait(max(0.0, deadline - time.monotonic()))


class _PageSearch(Search):
    """The engine's search folder, counting its trials for the page as they are asked and told."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.told = {"complete": 0, "pruned": 0, "fail": 0}
        self.open: set[int] = set()
        for frozen in self.trials():
            state = frozen.state.name.lower()
            if state in self.told:
                self.told[state] += 1

    def orphans(self) -> list:
        """Also this server's own running trials: the folder's lock says no other search here drives them."""
        mine = [t for t in self.trials() if t.state.name == "RUNNING" and t.user_attrs.get("owner") == self.owner]
        numbers = {t.number for t in mine}
        return sorted([*mine, *(t for t in super().orphans() if t.number not in numbers)], key=lambda t: t.number)

    def ask(self):
        number = super().ask()
        with self.lock:
            self.open.add(number)
        return number

    def adopt(self, frozen) -> None:
        super().adopt(frozen)
        with self.lock:
            self.open.add(frozen.number)

    def tell(self, number: int, row: dict) -> None:
        super().tell(number, row)
        state = self.trials()[number].state.name.lower()
        with self.lock:
            self.open.discard(number)
            self.told[state] = self.told.get(state, 0) + 1


class SearchLauncher:
    """A search run in the background; the page polls ``progress`` and may ``stop`` it."""

    def __init__(self, request: SearchRequest, runs_dir: Path, owner: str | None = None, gone=None,
                 pool=None, sync: bool | None = None) -> None:  # fmt: skip
        from dashboard.state.session import owner_key, sync_training
        from dashboard.workers.pool import get_pool

        n_tasks, space, fixed = request.check()
        self.request, self.knobs = request, list(space)
        self.out = Path(runs_dir).resolve() / SWEEPS / request.folder_name(space, fixed)
        if self.out.exists() and not (self.out / JOURNAL).is_file():
            if any(p.name != OWNER_FILE for p in self.out.iterdir()):  # never mix a search into others' runs
                raise ConfigError("folder", f"{self.out.name} holds other runs, not a search; give another name")
        self._owner = OwnerLock(self.out)
        if not self._owner.acquire():
            raise ConfigError("folder", f"{self.out.name} is being written by another search or sweep")
        try:
            self.state = _PageSearch(self.out, request.benchmark, n_tasks, space, request.preset, request.seed,
                                     request.score, "stl", MARGINS, fixed, request.early_stop)  # fmt: skip
        except ConfigError as exc:
            self._owner.release()
            if exc.field != "out":
                raise
            differs = str(exc).split("(", 1)[-1].split(")", 1)[0]
            raise ConfigError("folder", f"{self.out.name} holds a search with other settings ({differs}); give "
                              "another name, or leave it empty to name it by the settings") from None  # fmt: skip
        except BaseException:
            self._owner.release()
            raise
        sync = sync_training() if sync is None else sync
        self._pool = None if sync else (pool or get_pool())
        self.lanes = 1 if sync else max(1, min(request.workers or self._pool.size, request.trials))
        self.estimate = request.estimate(runs_dir, self.lanes)
        self.stopped = self._failed = False
        self.error: str | None = None
        self.rows: list[dict] = []
        self.started, self.ended = time.monotonic(), None
        self._done = threading.Event()
        self._steps = _Steps(owner or owner_key(), gone, self._pool, sync, self._on_message)
        self._log(f"search of {request.trials} trials into {self.out.name}: {request}")
        if sync:
            self._drive()
        else:
            threading.Thread(target=self._drive, daemon=True, name=f"den-search-{self.out.name}").start()

    # --- what the page reads ---------------------------------------------------------

    @property
    def running(self) -> bool:
        """True until the search's loop and every step it sent have ended."""
        return not self._done.is_set()

    @property
    def returncode(self) -> int | None:
        """None while running; 0 when the study holds its trials and none failed; 1 otherwise."""
        return None if self.running else 1 if (self._failed or self.stopped or self.error) else 0

    def progress(self) -> dict[str, int]:
        """Trials so far: complete, stopped early, failed, running (asked and not told), and the target."""
        with self.state.lock:
            told = dict(self.state.told)
            running = len(self.state.open)
        return {"complete": told["complete"], "stopped early": told["pruned"], "failed": told["fail"],
                "running": running, "trials": self.request.trials}  # fmt: skip

    def stop(self) -> None:
        """Stop the search: no new step starts, training ones stop at their next step; finished tasks stay."""
        if self.running:
            self.stopped = True
            self._steps.stop()

    def wait(self, timeout: float) -> bool:
        """Block until the search ends (True) or ``timeout`` seconds pass (False)."""
        return self._done.wait(timeout)

    def seconds_left(self) -> float:
        """At most this long to go: the estimate for every trial, less the time gone and the trials told."""
        told = sum(v for k, v in self.progress().items() if k not in ("running", "trials"))
        share = 1 - told / max(1, self.request.trials)
        return max(0.0, min(self.estimate.seconds - (time.monotonic() - self.started), self.estimate.seconds * share))

    def log_tail(self, lines: int = 12) -> str:
        """The last lines of the search's log."""
        try:
            text = (self.out / LOG_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # --- the search's loop, on its own thread ----------------------------------------------

    def _log(self, line: str) -> None:
        with open(self.out / LOG_FILE, "a", encoding="utf-8") as log:
            log.write(f"{datetime.now():%H:%M:%S} {line}\n")

    def _on_message(self, kind: str, data) -> None:
        if kind == "sweep" and data.get("type") == "task":
            self._log(f"trial {data['index']}: task {data['task']} of {data['n_tasks']} learned")

    def _drive(self) -> None:
        try:
            drive(self.state, self._steps, self.request.trials, self.lanes, 2 * self.lanes, self._log)
        except _Stopped as exc:
            self.stopped = True
            why = " (the browser tab closed)" if str(exc) == "gone" else ""
            self._log(f"stopped{why}: finished tasks are kept; start the same search again to resume it")
        except Exception as exc:  # noqa: BLE001 - the page shows it; the search's files stay as they are
            self.error = f"{type(exc).__name__}: {exc}"
            self._log(f"error: {self.error}")
        finally:
            self._steps.stop()
            self._steps.drain(60.0)
            self._finish()

    def _finish(self) -> None:
        """Write the trial table as ``den search`` does, then let go of the folder."""
        from den_engine.experiments.search_cli import markdown_table
        from den_engine.experiments.sweep_cli import csv_text

        try:
            self.rows = trial_rows(self.state)
            self._failed = any(r["state"] == "fail" for r in self.rows)
            table = markdown_table(self.rows, self.knobs, "stl")
            title = f"den search: {self.request.benchmark}, {self.request.n_tasks} tasks, preset " \
                    f"{self.request.preset}, seed {self.request.seed}"  # fmt: skip
            (self.out / "search.md").write_text(f"# {title}\n\n{table}\n", encoding="utf-8")
            (self.out / "search.csv").write_text(csv_text(self.rows), encoding="utf-8")
            self._log(f"{len(self.rows)} trials; table in search.md and search.csv")
        except Exception as exc:  # noqa: BLE001 - the table is a summary: the trials' records are what counts
            self._log(f"error: could not write the trial table: {exc}")
        finally:
            self.ended = time.monotonic()
            self._owner.release()
            self._done.set()
