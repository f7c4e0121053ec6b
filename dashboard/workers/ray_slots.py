"""Training workers on a Ray cluster (``DEN_WORKERS=ray://HOST:PORT``): one Ray actor per slot of the pool.

A ``RaySlot`` has the interface of a local ``process.ProcessSlot``, so the pool, its fair
queue and the pages do not know where a unit trains. Its actor (``UnitActor``, one CPU,
threaded so that ``drain`` and ``stop`` are served while ``run`` trains) runs the same
``units.run_unit`` in a scratch folder on whichever node holds it; the messages a unit
sends wait in the actor until the slot's thread drains them (every ``POLL_S``).

The cluster's nodes need not share the server's disk. For a Train-page task or a run of a
sweep, the server claims the run's folder for the unit (``claim_run_folder``: no other
writer gets in meanwhile), sends its files to the actor, and writes the files that come
back (new or changed ones; weights before ``run.json``, each atomically) before it tells
the page the unit is done. The actor keeps a run's scratch copy and its loaded trainer
between units, so the next task of a run landing on the same actor writes only what changed
and skips reloading it. A Learn-page pair travels in and out pickled, as to a local worker.

Stop asks the actor to stop the unit it names at its next step, so a late stop never hits
the next unit. An actor that dies (its node lost, killed) ends its unit as ``lost``; the
pool then calls ``restart`` and the slot starts a fresh actor. One that dies while idle is
restarted by Ray, and a slot asks its actor to answer before it sends a unit, so the next
unit does not notice; a unit whose actor does not answer within ``READY_S`` (no CPU free on
the cluster) ends as ``lost`` rather than waiting for ever. The pool has one slot per CPU of
the cluster (``DEN_RAY_SLOTS`` overrides it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from dashboard.workers.units import error_info
from den_engine.core.errors import DENError
from den_engine.experiments.sweep_ray import read_files, write_files
from den_engine.records.claim import claim_run_folder
from den_engine.records.store import RUN_FILE

log = logging.getLogger(__name__)

POLL_S = 0.2
"""How often a slot collects the messages of its running unit (the page polls twice a second)."""
READY_S = 120
"""How long a unit waits for its actor to answer (a fresh one imports torch; a busy cluster may have no CPU free)."""
KEPT_FOLDERS = 4
"""Runs an actor keeps a scratch copy of between units (the units' own cache keeps 2 loaded)."""
DASHBOARD_DIR = Path(__file__).resolve().parents[1]


def run_folder(kind: str, payload: dict) -> Path | None:
    """The server's run folder a unit writes (None for a Learn pair, or a sweep lane with nothing left)."""
    if kind == "train":
        return Path(payload["run_dir"])
    if kind == "sweep" and payload.get("job") is not None:
        return Path(payload["job"].run_dir)
    return None


def with_folder(kind: str, payload: dict, folder: Path) -> dict:
    """The payload with its run folder moved to ``folder`` (the actor's scratch copy)."""
    if kind == "train":
        return {**payload, "run_dir": str(folder)}
    return {**payload, "job": dataclasses.replace(payload["job"], run_dir=str(folder))}


def sync_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Make ``folder`` hold exactly ``files``: only what differs is written, so a kept run's stamp holds."""
    have = read_files(folder)
    for rel in set(have) - set(files):
        (folder / rel).unlink()
    changed = {rel: data for rel, data in files.items() if have.get(rel) != data}
    if changed:
        write_files(folder, changed)


class UnitActor:
    """What runs on the cluster for one slot (made a Ray actor by ``ray_slot_factory``)."""

    def __init__(self) -> None:
        import torch

        from den_engine.core.threads import limit_cores

        torch.set_num_threads(1)  # the actor holds one CPU of its node
        limit_cores(1)
        self.scratch = Path(tempfile.mkdtemp(prefix="den-pool-"))
        self.cache: dict = {}
        self.folders: OrderedDict[str, Path] = OrderedDict()  # server run folder -> scratch copy
        self.lock = threading.Lock()
        self.messages: list[tuple[str, object]] = []
        self.stopped: set[int] = set()

    def where(self) -> tuple[int, str]:
        """(pid, host) of the actor's process."""
        import socket

        return os.getpid(), socket.gethostname()

    def drain(self) -> list[tuple[str, object]]:
        """The messages sent since the last drain, oldest first."""
        with self.lock:
            out, self.messages = self.messages, []
        return out

    def stop(self, unit: int) -> None:
        """Stop unit ``unit`` at its next step (a stop for a unit already ended changes nothing)."""
        with self.lock:
            self.stopped.add(unit)

    def _send(self, kind: str, data: object) -> None:
        with self.lock:
            self.messages.append((kind, data))

    def _folder(self, server_dir: str) -> Path:
        """The scratch copy of a server run folder (the same one each time: the units' cache is keyed by it)."""
        folder = self.folders.pop(server_dir, None)
        if folder is None:
            key = hashlib.sha1(server_dir.encode()).hexdigest()[:12]
            folder = self.scratch / key / Path(server_dir).name
        self.folders[server_dir] = folder
        while len(self.folders) > KEPT_FOLDERS:
            shutil.rmtree(self.folders.popitem(last=False)[1].parent, ignore_errors=True)
        return folder

    def run(self, unit: int, kind: str, payload: dict, files: dict[str, bytes]) -> tuple[tuple[str, object], dict]:
        """Run one unit: ((``done``, result) or (``error``, info), the run folder's new or changed files)."""
        from dashboard.workers.units import UnitContext, run_unit

        folder, server_dir = None, run_folder(kind, payload)
        try:
            if server_dir is not None:
                folder = self._folder(str(server_dir))
                sync_folder(folder, files)
                payload = with_folder(kind, payload, folder)
            ctx = UnitContext(self._send, lambda: unit in self.stopped, self.cache, cores=1)
            outcome = ("done", run_unit(kind, payload, ctx))
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the page that asked
            info = error_info(exc)
            if folder is not None:  # the page names the run's own folder, not this node's copy of it
                info["message"] = info["message"].replace(str(folder), str(server_dir))
            outcome = ("error", info)
        with self.lock:
            self.stopped.discard(unit)
        back = {}
        if folder is not None:  # what the unit wrote, even when it failed: a finished task is never lost
            back = {rel: data for rel, data in read_files(folder).items() if files.get(rel) != data}
        return outcome, back


class RaySlot:
    """One actor on the cluster: ``run`` a unit on it, ``stop`` the unit; messages go to ``on_message``."""

    kind = "ray"

    def __init__(self, index: int, on_message: Callable, actor_class) -> None:
        self.index, self.on_message, self._actor_class = index, on_message, actor_class
        self.pid: int | None = None
        self.node: str | None = None
        self._unit = self._stopped = 0
        self._lock = threading.Lock()
        self._closed = False
        self._start()

    def _start(self) -> None:
        self._actor = self._actor_class.remote()
        self.pid = self.node = None

    def run(self, kind: str, payload: dict, cores: int) -> None:
        """Start a unit on this actor (it must be idle); a run folder another writer holds is refused here."""
        server_dir = run_folder(kind, payload)
        owner, files = None, {}
        if server_dir is not None:
            mode = "resume" if (server_dir / RUN_FILE).is_file() else "new"
            owner = claim_run_folder(server_dir, mode)  # held until the files that come back are written
            try:
                files = read_files(server_dir)
            except BaseException:
                owner.release()
                raise
        with self._lock:
            self._unit += 1
            unit = self._unit
        threading.Thread(target=self._follow, args=(unit, kind, payload, files, server_dir, owner), daemon=True,
                         name=f"den-ray-{self.index}-unit-{unit}").start()  # fmt: skip

    def _ready(self):
        """The actor once it answers (Ray restarts one that died while idle; a dead one is replaced), else None."""
        import ray

        for attempt in range(3):
            with self._lock:
                actor = self._actor
            try:
                self.pid, self.node = ray.get(actor.where.remote(), timeout=READY_S)
                return actor
            except ray.exceptions.GetTimeoutError:
                return None  # no CPU for it on the cluster, or a node that does not answer
            except Exception:  # noqa: BLE001 - the call reached a process that had just died: ask again
                if attempt == 1:
                    self._kill()
                    with self._lock:
                        self._start()
        return None

    def _forward(self, actor) -> None:
        import ray

        for kind, data in ray.get(actor.drain.remote()):  # raises when the actor is gone
            try:
                self.on_message(self, kind, data)
            except Exception:  # noqa: BLE001 - a page that cannot take a message does not make the actor lost
                log.exception("a page could not take a training unit's message")

    def _follow(self, unit: int, kind: str, payload: dict, files: dict, server_dir: Path | None, owner) -> None:
        """Send the unit, relay its messages while it trains, write its files back, then report how it ended."""
        import ray

        try:
            try:
                actor = self._ready()
                if actor is None:
                    raise TimeoutError(f"the Ray actor did not answer within {READY_S} s")
                with self._lock:
                    stopped = self._stopped == unit  # asked while the actor was not there yet
                if stopped:
                    actor.stop.remote(unit)
                ref = actor.run.remote(unit, kind, payload, files)
                while not ray.wait([ref], timeout=POLL_S)[0]:
                    self._forward(actor)
                (kind, data), back = ray.get(ref)
                self._forward(actor)  # what the unit said after the last poll, before it ended
            except Exception as exc:  # noqa: BLE001 - the actor (or its node) is gone: the pool replaces it
                if not self._closed:
                    log.warning("training actor %s was lost: %s", self.index, type(exc).__name__)
                kind, data = "lost", {"exitcode": None, "reason": f"{type(exc).__name__}: {exc}".splitlines()[0]}
            else:
                if back:
                    try:
                        write_files(server_dir, back)
                    except Exception as exc:  # noqa: BLE001 - the run's folder could not take them: the job fails
                        kind, data = "error", error_info(exc)
        finally:
            if owner is not None:
                owner.release()  # before "done": the job's next unit claims the folder again at once
        if not self._closed:
            self.on_message(self, kind, data)

    def stop(self) -> None:
        """Ask the running unit to stop at its next step."""
        with self._lock:
            unit, actor = self._unit, self._actor
            self._stopped = unit
        try:
            actor.stop.remote(unit)
        except Exception:  # noqa: BLE001 - the actor is gone; its unit is reported lost
            pass

    def restart(self) -> None:
        """Replace an actor that died with a fresh one."""
        self._kill()
        with self._lock:
            self._start()

    def close(self) -> None:
        """End the actor (the server is shutting down)."""
        self._closed = True
        self._kill()

    def _kill(self) -> None:
        import ray

        try:
            ray.kill(self._actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


def slots_wanted(cluster_cpus: float) -> int:
    """The pool's size: DEN_RAY_SLOTS when set, else one slot per CPU of the cluster."""
    text = (os.environ.get("DEN_RAY_SLOTS") or "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise DENError(f"DEN_RAY_SLOTS must be a whole number of at least 1, got {text!r}")
        return int(text)
    return max(1, int(cluster_cpus))


def ray_slot_factory(address: str) -> tuple[Callable, int]:
    """Join the Ray cluster at ``address`` (HOST:PORT): (a slot factory for ``JobPool``, the pool's size).

    A wrong address, an unreachable cluster or a missing authentication token raise one
    DENError line naming ``DEN_WORKERS=ray://HOST:PORT``.
    """
    from den_engine.experiments.sweep_ray import _start_ray

    ray, _ = _start_ray(address, named=f"DEN_WORKERS=ray://{address}", modules=(DASHBOARD_DIR,))
    size = slots_wanted(ray.cluster_resources().get("CPU", 1))
    # An actor that dies while idle comes back by itself (a fresh process, empty cache), as a local
    # worker does; one that dies mid-unit fails that unit (no retry) and the pool replaces it.
    actor_class = ray.remote(num_cpus=1, max_concurrency=4, max_restarts=-1, max_task_retries=0)(UnitActor)

    def factory(index: int, on_message: Callable) -> RaySlot:
        return RaySlot(index, on_message, actor_class)

    return factory, size
