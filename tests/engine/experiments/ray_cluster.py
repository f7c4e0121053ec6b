"""A Ray cluster for the tests: nodes started with ``ray start`` in a private network namespace.

The namespace holds only a loopback device: on Linux Ray swaps 127.0.0.1 for the machine's own
address, which inside the namespace is loopback again, so no packet leaves the machine and no
port clashes with another Ray on it. Each node has its own ports, Ray temp dir and TMPDIR (where
its tasks make their scratch run directories); the cluster uses token authentication with a
token of its own. Used by test_sweep_ray_cluster.py and test_command_errors.py.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 120
SWEEP_TIMEOUT_S = 240
# Ports inside the private namespace: fixed, distinct per node (the namespace has no one else).
PORTS = {
    "head": {"--port": 6380, "--node-manager-port": 7101, "--object-manager-port": 7102,
             "--dashboard-port": 7103, "--dashboard-agent-listen-port": 7104, "--dashboard-agent-grpc-port": 7105,
             "--runtime-env-agent-port": 7106, "--metrics-export-port": 7107},
    "node2": {"--node-manager-port": 7201, "--object-manager-port": 7202, "--dashboard-agent-listen-port": 7204,
              "--dashboard-agent-grpc-port": 7205, "--runtime-env-agent-port": 7206, "--metrics-export-port": 7207},
}  # fmt: skip


def _table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every live (non-zombie) process."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid, pgid = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # gone meanwhile
        if state != "Z":
            table[int(stat.parent.name)] = (int(ppid), int(pgid))
    return table


def _tree(root: int) -> set[int]:
    """A node's processes: its ``ray start`` process group and every descendant (workers set their own group)."""
    table = _table()
    found = {pid for pid, (_, pgid) in table.items() if pgid == root}
    grew = True
    while grew:
        more = {pid for pid, (ppid, _) in table.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found


def _alive(pids: set[int]) -> set[int]:
    return pids & set(_table())


def _kill_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class Cluster:
    """A head node and a second node, each a ``ray start --block`` process group in one network namespace."""

    def __init__(self, root: Path) -> None:
        self.root, self.nodes = root, {}
        root_user = os.geteuid() == 0
        holder = ["unshare", "--net"] if root_user else ["unshare", "--net", "--map-root-user"]
        self.holder = subprocess.Popen([*holder, "sh", "-c", "ip link set lo up && exec sleep 3600"])
        # Popen returns before unshare has made the namespace: a node entering the holder's
        # namespace too early would land in the machine's own network. The holder becomes
        # ``sleep`` only once the namespace exists and its loopback is up.
        deadline = time.monotonic() + 30
        while self.holder.poll() is None and Path(f"/proc/{self.holder.pid}/comm").read_text().strip() != "sleep":
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)  # poll interval of a bounded wait
        if self.holder.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("could not make the private network namespace (unshare --net)")
        self.enter = ["nsenter", "-t", str(self.holder.pid), "--net"]
        if not root_user:
            self.enter += ["--user", "--preserve-credentials"]
        (root / "token").write_text(secrets.token_hex(16))
        self.env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",  # as on a real cluster; a token of its own, not ~/.ray's
            "RAY_AUTH_TOKEN_PATH": str(root / "token"),
            "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": str(ROOT),
        }
        self.address = f"127.0.0.1:{PORTS['head']['--port']}"

    def start(self, name: str) -> None:
        """Start node ``name`` ("head" first) and wait until it has joined."""
        temp, tmpdir = self.root / name, self.root / f"{name}-tmp"
        temp.mkdir()
        tmpdir.mkdir()
        cmd = [RAY, "start", "--block", "--num-cpus", "1", "--object-store-memory", str(100 * 2**20),
               "--temp-dir", str(temp), "--disable-usage-stats"]  # fmt: skip
        cmd += ["--head", "--include-dashboard", "false"] if name == "head" else ["--address", self.address]
        for flag, port in PORTS[name].items():
            cmd += [flag, str(port)]
        log = self.root / f"{name}.log"
        with log.open("w") as out:
            proc = subprocess.Popen([*self.enter, *cmd], env={**self.env, "TMPDIR": str(tmpdir)}, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.nodes[name] = proc
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Ray runtime started" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                head = "" if name == "head" else f"\nthe head's log:\n{(self.root / 'head.log').read_text()[-3000:]}"
                raise RuntimeError(f"ray start ({name}) did not come up:\n{log.read_text()[-3000:]}{head}")
            time.sleep(0.2)  # poll interval of a bounded wait

    def sweep(self, out: Path, args: list[str], wait: bool = True):
        """``python -m den_engine sweep --backend ray --address`` on the cluster, from inside the namespace."""
        cmd = [sys.executable, "-m", "den_engine", "sweep", "--backend", "ray", "--address", self.address,
               "--out", str(out), "--quiet", *args]  # fmt: skip
        proc = subprocess.Popen([*self.enter, *cmd], cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip
        if wait:
            proc.wait(SWEEP_TIMEOUT_S)
        return proc

    def driver(self, args: list[str], env: dict[str, str | None], timeout: float) -> subprocess.CompletedProcess:
        """``python -m den_engine ARGS`` inside the namespace, with ``env`` changed (None removes a variable)."""
        changed = {k: v for k, v in {**self.env, **env}.items() if v is not None}
        cmd = [*self.enter, sys.executable, "-m", "den_engine", *args]
        return subprocess.run(cmd, cwd=ROOT, env=changed, capture_output=True, text=True, timeout=timeout)

    def kill(self, name: str) -> None:
        """Lose a node as a machine is lost: SIGKILL to every process of it, its workers included."""
        pids = _tree(self.nodes[name].pid)
        _kill_all(pids, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pids) and time.monotonic() < deadline:
            time.sleep(0.1)  # poll interval of a bounded wait
        assert not _alive(pids), f"{name} left processes behind: {_alive(pids)}"
        self.nodes[name].wait(30)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL past a short grace period) and the namespace."""
        pids = set().union(*(_tree(proc.pid) for proc in self.nodes.values()))
        _kill_all(pids, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _alive(pids) and time.monotonic() < deadline:
            time.sleep(0.2)  # poll interval of a bounded wait
        _kill_all(_alive(pids | set().union(*(_tree(proc.pid) for proc in self.nodes.values()))), signal.SIGKILL)
        for proc in self.nodes.values():
            proc.wait(30)
        self.holder.kill()
        self.holder.wait(30)


@contextmanager
def running_cluster(names: list[str]) -> Iterator[Cluster]:
    """A cluster with the nodes ``names`` ("head" first) up; everything stopped and removed afterwards."""
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        raise RuntimeError("the Ray cluster tests need unshare and nsenter (util-linux) for their private network")
    for attempt in (1, 2):  # a node that cannot reach its head once gets one fresh cluster, then fails
        root = Path(tempfile.mkdtemp(prefix="den-ray-"))  # short: Ray's socket paths must stay under 108 bytes
        cluster = Cluster(root)
        try:
            for name in names:
                cluster.start(name)
            break
        except RuntimeError:
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)
            if attempt == 2:
                raise
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
