"""A run: a task sequence trained one task at a time, with a record after every task.

``Trainer`` owns the committed network and the run record. ``train_next()`` learns the
next task on a copy and commits it in one step, then evaluates every task so far (each
with its own timestamp), writes the weights and ``run.json`` atomically and calls the
``on_task_end`` hook. A stop or a divergence leaves the committed network, the record
and the random-number stream exactly as they were after the last finished task, so
the run can go on (or be resumed from disk) as if nothing had happened.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from den_engine.core import budget
from den_engine.core.config import bind_preset
from den_engine.core.counting import USABLE
from den_engine.core.den import Event, TaskContext
from den_engine.core.errors import ConfigError, DENError, RunFileError, TrainingDiverged, TrainingStopped
from den_engine.core.layers import body_parameter_count, image_shape
from den_engine.core.network import ExpandableNet
from den_engine.core.threads import choose_threads, torch_threads
from den_engine.core.training import ProgressFn
from den_engine.data.benchmarks import Benchmark, TaskData
from den_engine.data.sources import DataSource, data_key, resolve_sequence, sequence_for_record
from den_engine.methods import get_method
from den_engine.records import metrics
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

VERSION = "0.1.0"


@dataclass
class Callbacks:
    """Hooks a caller passes in to follow training live; the engine prints nothing."""

    on_event: Callable[[Event], None] | None = None
    on_progress: ProgressFn | None = None
    on_task_end: Callable[[dict], None] | None = None
    should_stop: Callable[[], bool] | None = None
    loggers: list = field(default_factory=list)
    """Ready loggers that write while the run trains (den_engine.records.live: TensorBoardLogger, CSVLogger)."""

    def joined(self) -> Callbacks:
        """The hooks the trainer calls: every logger's first, then the caller's own."""
        if not self.loggers:
            return self
        return Callbacks(
            on_event=_chain([lg.on_event for lg in self.loggers], self.on_event),
            on_progress=_chain([lg.on_progress for lg in self.loggers], self.on_progress),
            on_task_end=_chain([lg.on_task_end for lg in self.loggers], self.on_task_end),
            should_stop=self.should_stop,
        )


def _chain(hooks: list[Callable], last: Callable | None) -> Callable:
    hooks = [*hooks, last] if last is not None else hooks

    def call(*args) -> None:
        for hook in hooks:
            hook(*args)

    return call


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "CUDA was requested but this machine has no usable CUDA device")
    return torch.device(name)


def software_versions() -> dict:
    """Versions that a record was written with."""
    return {
        "den_engine": VERSION,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _compute_record(choice: dict) -> dict:
    """What run.json keeps of the thread choice (not the machine's core count: records stay comparable)."""
    return {"threads": choice["threads"], "threads_chosen_by": choice["chosen_by"]}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def evaluate_tasks(net: ExpandableNet, benchmark: Benchmark, upto: int, split: str = "test") -> dict:
    """AUROC and accuracy of tasks 1..upto, each through its own timestamp and head."""
    aurocs, accs = [], []
    for task in range(1, upto + 1):
        data = benchmark.tasks[task - 1]
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        with torch.no_grad():
            logits = net.forward(x.to(net.device, net.dtype), task).cpu()
        aurocs.append(metrics.auroc(logits, y))
        accs.append(metrics.accuracy(logits, y))
    return {"auroc": aurocs, "accuracy": accs}


def count_parameters(method, net: ExpandableNet, config, n_outputs: list[int]) -> dict:
    """A record's ``params``: total and non-zero entries some task can use, against MTL and STL.

    A method may count its own (STL and progressive leave out the structural zeros
    between their columns); DEN counts the usable entries (den_engine.core.counting).
    ``counting`` says which rule made the numbers; records without it counted every stored entry.
    """
    counter = getattr(method, "count_parameters", None)
    total, nonzero = counter(net) if counter is not None else net.parameter_count()
    body = None
    if getattr(net, "input_shape", None) is not None and getattr(config, "conv_channels", ()):
        # MTL and STL are conv networks of the base size (den-spec, "Convolutional layers")
        body = body_parameter_count(net.input_shape, config.conv_channels, config.kernel_size, config.hidden_sizes)
    cap = metrics.capacity(total, net.input_dim, config.hidden_sizes, n_outputs, body_params=body)
    return {"total": total, "nonzero": nonzero, "counting": USABLE, **cap}


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
        budget.check_memory(self.config, self.benchmark.input_dim, len(self.benchmark.tasks), self.device.type,
                            n_outputs=n_outputs)  # fmt: skip
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
            "compute": _compute_record(self.compute),
            "software": software_versions(),
            "created": _now(),
            "updated": _now(),
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
        note = {"task": task, "time": _now(), "message": str(exc)}
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
        record["updated"] = _now()
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
        budget.check_memory(config, benchmark.input_dim, total, device.type,
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
        trainer.record["compute"] = _compute_record(trainer.compute)  # this process's choice
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


def run_id(method: str, config, benchmark: str, n_tasks: int) -> str:
    """Short id of a run: its method, benchmark, task count and config (seed included); the device does not count."""
    import hashlib

    return hashlib.sha256(f"{method}:{benchmark}:{n_tasks}:{config.run_id()}".encode()).hexdigest()[:10]


def final_metrics(record: dict) -> dict:
    """End-of-run metrics from the per-task rows (R[i][j], i = after task i)."""
    auroc = [t["metrics"]["auroc"] for t in record["tasks"]]
    acc = [t["metrics"]["accuracy"] for t in record["tasks"]]
    val_auroc = [t["metrics"].get("val_auroc") for t in record["tasks"]]
    last = record["tasks"][-1]
    return {
        "n_tasks": len(auroc),
        "average_auroc": metrics.average_final(auroc),
        # the score to tune on: the test split must not choose a setting
        "average_val_auroc": metrics.average_final(val_auroc) if val_auroc[-1] is not None else None,
        "average_accuracy": metrics.average_final(acc),
        "backward_transfer_auroc": metrics.backward_transfer(auroc),
        "backward_transfer_accuracy": metrics.backward_transfer(acc),
        "forgetting_auroc": metrics.forgetting(auroc),
        "forgetting_accuracy": metrics.forgetting(acc),
        "auroc_matrix": auroc,
        "accuracy_matrix": acc,
        "params": last["params"],
        "layer_sizes": last["layer_sizes"],
        "wall_time_s": sum(t["wall_time_s"] for t in record["tasks"]),
    }
