"""The Ray backend of a sweep: each configuration is one Ray task (``--backend ray``).

Imported only when a sweep asks for Ray, which is an optional dependency
(``pip install -r requirements-ray.txt``). Without ``address`` a local Ray instance is
started (and stopped at the end); with one, the sweep joins that cluster and ships the
``den_engine`` package to it. A task runs in a temporary directory on whichever node
gets it: the driver sends the files of a partial run (to resume it) and writes the
files the task sends back into the sweep directory, weights before ``run.json``, each
atomically; so the sweep directory needs to exist only on the driver's machine.

A task whose worker or node dies is run again (``MAX_RETRIES``): every job starts from the files
the driver sent, in a fresh scratch directory, and a run is deterministic, so a retry gives the
record the lost attempt would have given. An exception raised by the job itself is not retried
(``run_job`` turns a failed run into a row; anything else is a bug to report, not to repeat).

Before joining a cluster the driver probes it from a short-lived process (``probe_cluster``):
Ray retries a wrong address for ever and reports a missing authentication token as pages of
logs, so the probe bounds the wait and turns either into one line naming the address.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from den_engine.core.errors import ConfigError, DENError
from den_engine.experiments.sweep_jobs import WORKER_THREADS, ProgressFn, SweepJob, outcome_row, plan, run_job
from den_engine.records.store import RUN_FILE

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # den_engine/
MAX_RETRIES = 3
"""Attempts after a lost worker or node (Ray's system failures), per job."""


def read_files(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run directory by relative path (temporary files left out)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return {}
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def write_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """Write a run's files into ``run_dir``, each atomically, ``run.json`` last."""
    run_dir = Path(run_dir).resolve()
    for rel in sorted(files, key=lambda name: name == RUN_FILE):
        path = (run_dir / rel).resolve()
        if not path.is_relative_to(run_dir):
            raise DENError(f"a Ray task sent back a file outside its run directory: {rel!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(files[rel])
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)


def ray_task(job: SweepJob, files: dict[str, bytes]) -> tuple[dict, dict[str, bytes]]:
    """Body of one Ray task: run the job in a scratch directory; return its row and its files."""
    import torch

    from den_engine.core.threads import limit_cores

    torch.set_num_threads(WORKER_THREADS)
    limit_cores(WORKER_THREADS)  # the run's thread policy sees one core
    with tempfile.TemporaryDirectory(prefix="den-sweep-") as scratch:
        local = Path(scratch) / job.name
        write_files(local, files)
        row = run_job(dataclasses.replace(job, run_dir=str(local)))
        return row, read_files(local)


PROBE_TIMEOUT_S = 30
"""How long the probe may take to join a cluster: a healthy one answers in about 5 s."""
_PROBE = """
import sys
import ray
try:
    ray.init(address=sys.argv[1], log_to_driver=False)
except BaseException as exc:
    text = str(exc).strip().splitlines()
    print("failed", type(exc).__name__ + (": " + text[0] if text else ""), flush=True)
else:
    print("ok", flush=True)
    ray.shutdown()
"""
_AUTH_WORDS = ("Unauthenticated", "InvalidAuthToken", "AuthenticationError")


def check_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` split into its parts; a ConfigError naming ``address`` otherwise."""
    host, _, port = str(address).strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in host:
        raise ConfigError("address", f"{address!r} is not a Ray cluster's HOST:PORT, e.g. 127.0.0.1:6379")
    return host.strip("[]"), int(port)


def probe_cluster(address: str, named: str | None = None) -> None:
    """Join the cluster at ``address`` from a short-lived process first: a DENError naming it when that fails.

    Ray itself retries a wrong address for ever and prints its failures as pages of logs;
    the probe bounds the wait (``PROBE_TIMEOUT_S``) and turns what went wrong into one line, which
    starts with ``named`` (default ``--address HOST:PORT``, the flag of ``den sweep``).
    """
    named = named or f"--address {address}"
    host, port = check_address(address)
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        message = f"{named}: no Ray cluster there ({reason}); ray start --head prints its address"
        raise DENError(message) from None
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE, address], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise DENError(
            f"{named}: no Ray cluster answered within {PROBE_TIMEOUT_S} s; "
            "check the address (ray start --head prints it)"
        ) from None
    if probe.stdout.startswith("ok"):
        return
    if any(word in probe.stderr or word in probe.stdout for word in _AUTH_WORDS):
        raise DENError(
            f"{named}: the Ray cluster refused this driver's authentication; "
            "set the cluster's RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH) here too"
        )
    said = probe.stdout.partition(" ")[2].strip() or f"the probe ended with status {probe.returncode}"
    raise DENError(f"{named}: could not join the Ray cluster ({said})")


def _start_ray(address: str | None, named: str | None = None, modules: tuple[Path, ...] = ()):
    """Join the cluster at ``address`` (or start a local Ray): (ray, whether this call started it).

    ``named`` starts every error line (default ``--address HOST:PORT``); ``modules`` are
    packages shipped to the cluster beside ``den_engine``.
    """
    named = named or f"--address {address}"
    try:
        import ray
    except ImportError as exc:
        raise DENError(f"--backend ray needs Ray: pip install -r requirements-ray.txt ({exc})") from None
    if ray.is_initialized():
        return ray, False
    if address:
        probe_cluster(address, named)
        shipped = [str(PACKAGE_DIR), *map(str, modules)]
        try:
            ray.init(address=address, runtime_env={"py_modules": shipped}, log_to_driver=False)
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; the user needs the address and the reason
            said = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            raise DENError(f"{named}: could not join the Ray cluster ({said})") from None
    else:
        root = str(PACKAGE_DIR.parent)
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        try:
            ray.init(include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
        except Exception as exc:  # noqa: BLE001 - as above
            said = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            raise DENError(f"could not start a local Ray instance ({said})") from None
    return ray, True


def run_ray(jobs: list[SweepJob], address: str | None = None, progress: ProgressFn | None = None) -> list[dict]:
    """Run every job as a Ray task (a Ray instance already started by the caller is used as it is)."""
    progress = progress or (lambda event: None)
    ray, started = _start_ray(address)
    try:
        remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(ray_task)
        pending = {}
        for job in jobs:
            files = read_files(Path(job.run_dir)) if plan(job) == "resume" else {}
            pending[remote.remote(job, files)] = job
            progress({"type": "start", "index": job.index, "how": "ray"})
        rows = []
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready[0])
            try:
                row, files = ray.get(ready[0])
                write_files(Path(job.run_dir), files)
            except Exception as exc:  # noqa: BLE001 - a task lost past its retries fails its job, not the sweep
                row = outcome_row(job, None, f"failed: {type(exc).__name__}: {exc}")
            row["run"] = job.name
            rows.append(row)
            progress({"type": "done", "index": job.index, "row": row})
        return rows
    finally:
        if started:
            ray.shutdown()
