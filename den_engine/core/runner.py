"""A run: a task sequence trained one task at a time, with a record after every task.

``Trainer`` owns the committed network and the run record. ``train_next()`` learns the
next task on a copy and commits it in one step, then evaluates every task so far (each
with its own timestamp), writes the weights and ``run.json`` atomically and calls the
``on_task_end`` hook. A stop or a divergence leaves the committed network, the record
and the random-number stream exactly as they were after the last finished task, so
the run can go on (or be resumed from disk) as if nothing had happened.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from den_engine.core import budget
from den_engine.core.callbacks import Callbacks
from den_engine.core.config import bind_preset
from den_engine.core.den import Event, TaskContext
from den_engine.core.errors import ConfigError, DENError, RunFileError, TrainingDiverged, TrainingStopped
from den_engine.core.layers import image_shape
from den_engine.core.run_facts import (
    VERSION,
    compute_record,
    count_parameters,
    evaluate_tasks,
    final_metrics,
    resolve_device,
    run_id,
    software_versions,
    utc_now,
)
from den_engine.core.threads import choose_threads, torch_threads
from den_engine.data.benchmarks import Benchmark, TaskData
from den_engine.data.sources import DataSource, data_key, resolve_sequence, sequence_for_record
from den_engine.methods import get_method
from den_engine.records.claim import claim_run_folder
from den_engine.records.owner import OwnerLock
from den_engine.records.store import (
    FORMAT,
    SCHEMA_VERSION,
    load_run,
    weights_name,
    write_run_json,
    write_weights,
)

# The runner's public names, where they have always been imported from (the hooks and the
# record's facts live in den_engine.core.callbacks and den_engine.core.run_facts).
__all__ = [
    "VERSION",
    "Callbacks",
    "Trainer",
    "count_parameters",
    "evaluate_tasks",
    "final_metrics",
    "resolve_device",
    "run_id",
    "software_versions",
]


class Trainer:
    """Trains a method (DEN by default) on a benchmark or a TaskSequence task by task, keeping the record up to date."""

    def __init__(
        self,
        config,
        benchmark: DataSource,
        n_tasks: int | None = None,
        out_dir: str | Path | None = None,
        callbacks: Callbacks | None = None,
        method: str = "den",
        overwrite: bool = False,
    ) -> None:
        """Check the setting, claim ``out_dir`` and write the new run's record.

        ``out_dir`` must be new or empty (``overwrite=True`` replaces a run folder whole); a
        folder another trainer holds is refused. The network is checked against the free
        memory first, so a setting that cannot fit writes nothing. ``benchmark`` is a built-in
        benchmark's name, a ``TaskSequence`` or the path of a ``.npz`` task file; a task without
        a validation split gets one drawn from its training examples by ``config.seed``.
        """
        self.method = get_method(method)
        if not isinstance(config, self.method.config_class):
            raise ConfigError(
                "config", f"method '{method}' takes a {self.method.config_class.__name__}, got {type(config).__name__}"
            )
        self.benchmark = resolve_sequence(benchmark, n_tasks, config.seed)
        self.config = self.method.prepare(bind_preset(config, benchmark if isinstance(benchmark, str) else None))
        if getattr(self.config, "conv_channels", ()):  # refused before anything is written
            image_shape(self.benchmark.input_shape, self.benchmark.input_dim)
        self.device = resolve_device(self.config.device)
        n_outputs = max(t.n_outputs for t in self.benchmark.tasks)
        budget.check_memory(self.config, self.benchmark.input_shape or self.benchmark.input_dim,
                            len(self.benchmark.tasks), self.device.type, n_outputs=n_outputs)  # fmt: skip
        self.callbacks = callbacks or Callbacks()
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.owner: OwnerLock | None = None
        if self.out_dir is not None:
            self.owner = claim_run_folder(self.out_dir, "overwrite" if overwrite else "new")
        try:
            self.generator = torch.Generator().manual_seed(self.config.seed)
            self.net = self.method.create_net(
                self.benchmark.input_dim, self.config, self.generator, self.device, self.benchmark.input_shape
            )
            self.state: dict[str, torch.Tensor] = {}
            self.compute = choose_threads(self.benchmark.input_dim, self.config)
            self.record = self._new_record()
            if self.out_dir is not None:
                write_run_json(self.out_dir, self.record)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Let go of the run folder (another trainer may then resume it); the record stays as written."""
        if getattr(self, "owner", None) is not None:
            self.owner.release()
            self.owner = None

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- record -------------------------------------------------------------------

    def _new_record(self) -> dict:
        b = self.benchmark
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id(self.method.name, self.config, data_key(b), len(b.tasks)),
            "method": self.method.name,
            "preset": self.config.preset,
            "seed": self.config.seed,
            "status": "running",
            "benchmark": b.record(),  # a user's data adds "data": its file or fingerprint, hash and arrays
            "config": self.config.to_dict(),
            "base_sizes": list(self.config.hidden_sizes),
            "device": str(self.device),
            "compute": compute_record(self.compute),
            "software": software_versions(),
            "created": utc_now(),
            "updated": utc_now(),
            "tasks": [],
            "notes": [],
            "final": None,
        }

    @property
    def tasks_done(self) -> int:
        """Number of finished tasks."""
        return len(self.record["tasks"])

    @property
    def finished(self) -> bool:
        """True once every task of the benchmark is learned."""
        return self.tasks_done >= len(self.benchmark.tasks)

    # --- training -------------------------------------------------------------------

    def train_next(self) -> dict:
        """Learn the next task, commit it, evaluate, save; returns its snapshot."""
        if self.finished:
            raise DENError(f"all {len(self.benchmark.tasks)} tasks are already learned")
        task = self.tasks_done + 1
        data = self.benchmark.tasks[task - 1]
        rng_state = self.generator.get_state()
        events: list[Event] = []
        for logger in self.callbacks.loggers:
            logger.begin(self.record)
        hooks = self.callbacks.joined()
        ctx = TaskContext(
            task=task,
            x=data.x_train.to(self.device, self.net.dtype),
            y=data.y_train.to(self.device, self.net.dtype),
            config=self.config,
            generator=self.generator,
            on_progress=hooks.on_progress,
            should_stop=hooks.should_stop,
            on_event=hooks.on_event,
            events=events,
            history=list(self.benchmark.tasks[:task]),
            state=dict(self.state),
        )
        start = time.perf_counter()
        with torch_threads(self.compute["threads"]):
            try:
                new_net = self.method.train_task(self.net, data.n_outputs, ctx)
            except (TrainingStopped, TrainingDiverged, KeyboardInterrupt) as exc:
                self.generator.set_state(rng_state)  # as if the task had never started
                self._note_interruption(task, exc)
                raise
            self.net, self.state = new_net, ctx.state  # commit the whole task in one step
            snapshot = self._snapshot(task, data, events, time.perf_counter() - start)
        self._save(task, snapshot)
        if hooks.on_task_end is not None:
            hooks.on_task_end(snapshot)
        return snapshot

    def run(self) -> dict:
        """Train every remaining task; returns the run record."""
        while not self.finished:
            self.train_next()
        return self.record

    def _note_interruption(self, task: int, exc: Exception) -> None:
        note = {"task": task, "time": utc_now(), "message": str(exc)}
        if isinstance(exc, TrainingDiverged):
            note.update(type="diverged", stage=exc.stage, iteration=exc.iteration, loss=exc.loss)
            self.record["status"] = "diverged"
        elif isinstance(exc, KeyboardInterrupt):
            note.update(type="interrupted", message="interrupted (Ctrl-C); finished tasks are kept")
            self.record["status"] = "interrupted"
        else:
            note["type"] = "stopped"
            self.record["status"] = "stopped"
        self.record["notes"].append(note)
        if self.out_dir is not None:
            write_run_json(self.out_dir, self.record)

    def _snapshot(self, task: int, data: TaskData, events: list[Event], wall: float) -> dict:
        net = self.net
        test = evaluate_tasks(net, self.benchmark, task, "test")
        val = evaluate_tasks(net, self.benchmark, task, "val")
        params = count_parameters(self.method, net, self.config, [t.n_outputs for t in self.benchmark.tasks[:task]])
        pruned_ids = {uid for e in events if e["type"] == "expansion" for ids in e["pruned"] for uid in ids}
        added = next((e["added"] for e in events if e["type"] == "expansion"), None)
        selected = next((e["selected"] for e in events if e["type"] == "selection"), None)
        pruned = []
        if added is not None:
            for layer, ids in enumerate(added):
                pruned += [
                    {"id": uid, "layer": layer + 1, "born": task, "origin": "expanded"}
                    for uid in ids
                    if uid in pruned_ids
                ]
        return {
            "task": task,
            "name": data.name,
            "n_outputs": data.n_outputs,
            "layer_sizes": [net.input_dim, *net.sizes()],
            "active_sizes": [net.input_dim, *(len(net.active_ids(l, task)) for l in range(net.n_layers))],
            "units": net.registry(),
            **({"layer_kinds": net.layer_kinds()} if "conv" in net.layer_kinds() else {}),
            "pruned": pruned,
            "selected": selected,
            "events": events,
            "sparsity": net.sparsity(task),
            "params": params,
            "metrics": {
                "auroc": test["auroc"],
                "accuracy": test["accuracy"],
                "val_auroc": val["auroc"],
                "val_accuracy": val["accuracy"],
                "average_auroc": float(np.mean(test["auroc"])),
                "average_accuracy": float(np.mean(test["accuracy"])),
            },
            "weights": "",
            "wall_time_s": wall,
        }

    def _save(self, task: int, snapshot: dict) -> None:
        snapshot["weights"] = weights_name(task)
        record = self.record
        record["tasks"].append(snapshot)
        record["status"] = "complete" if self.finished else "running"
        record["updated"] = utc_now()
        record["final"] = final_metrics(record) if self.finished else None
        if self.out_dir is not None:
            tensors = self.net.state_tensors()
            tensors["rng_state"] = self.generator.get_state()
            tensors.update({f"state.{k}": v.detach().cpu().contiguous() for k, v in self.state.items()})
            write_weights(self.out_dir, task, tensors)  # weights first: run.json never points at nothing
            write_run_json(self.out_dir, record)

    # --- resume -------------------------------------------------------------------------

    @classmethod
    def resume(
        cls, run_dir: str | Path, callbacks: Callbacks | None = None, n_tasks: int | None = None,
        data: DataSource | None = None,
    ) -> Trainer:  # fmt: skip
        """Continue a run from its last finished task (after a stop, a kill or a crash).

        ``n_tasks`` extends the run to that many tasks (the benchmark's first tasks are the
        same whatever its length, so the finished ones stay valid); it cannot shrink a run
        below the tasks it has learned. A run on a user's data needs the same data: ``data``
        (a path or the TaskSequence), or the file at the recorded path; other data is refused.
        """
        run = load_run(run_dir)
        method = get_method(run.data["method"])
        config = method.config_class.from_dict(run.config)
        bench = run.data["benchmark"]
        done = len(run.tasks)
        if n_tasks is not None and n_tasks < max(done, 1):
            raise ConfigError("tasks", f"{run_dir} has learned {done} tasks; --tasks {n_tasks} cannot undo them")
        total = bench["n_tasks"] if n_tasks is None else max(n_tasks, bench["n_tasks"])
        benchmark = sequence_for_record(bench, config.seed, total, data)
        device = resolve_device(config.device)
        budget.check_memory(config, benchmark.input_shape or benchmark.input_dim, total, device.type,
                            n_outputs=max(t.n_outputs for t in benchmark.tasks))  # fmt: skip
        owner = claim_run_folder(run_dir, "resume")
        try:
            trainer = cls._from_record(run, method, config, benchmark, device, callbacks)
        except BaseException:
            owner.release()
            raise
        trainer.owner = owner
        return trainer

    @classmethod
    def _from_record(cls, run, method, config, benchmark: Benchmark, device, callbacks) -> Trainer:
        trainer = cls.__new__(cls)
        trainer.method, trainer.config, trainer.device, trainer.benchmark = method, config, device, benchmark
        trainer.callbacks = callbacks or Callbacks()
        trainer.out_dir = Path(run.path)
        trainer.owner = None
        trainer.generator = torch.Generator().manual_seed(config.seed)
        trainer.record = run.data
        if len(benchmark.tasks) > run.data["benchmark"]["n_tasks"]:  # extended: the record names every task
            trainer.record["benchmark"].update(
                n_tasks=len(benchmark.tasks),
                task_names=[t.name for t in benchmark.tasks],
                n_outputs=[t.n_outputs for t in benchmark.tasks],
            )
            trainer.record["final"] = None
        trainer.compute = choose_threads(benchmark.input_dim, config)
        trainer.record["compute"] = compute_record(trainer.compute)  # this process's choice
        trainer.state = {}
        if run.tasks:
            last = len(run.tasks)
            tensors = run.weights(last)
            rng = tensors.pop("rng_state", None)
            if rng is None:
                raise RunFileError(f"{run.path}: weights of task {last} lack the random-number state")
            trainer.generator.set_state(rng)
            trainer.state = {
                k[len("state.") :]: v.to(trainer.device) for k, v in tensors.items() if k.startswith("state.")
            }
            trainer.net = run.network(last, str(trainer.device))
        else:
            trainer.net = method.create_net(
                benchmark.input_dim, config, trainer.generator, trainer.device, benchmark.input_shape
            )
        trainer.record["status"] = "complete" if trainer.finished else "running"
        return trainer
