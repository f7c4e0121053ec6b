"""The server under test: start this repository's Streamlit app on a free port, wait on its health, read its CPU.

CPU comes from /proc (no psutil): a process's own user+system time, and apart from it the
time of its descendants — live ones (with what they reaped) plus what the server itself
reaped — so training in worker processes is counted even after a worker exits.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TICKS = os.sysconf("SC_CLK_TCK")
STARTUP_TIMEOUT_S = 120.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    """Whether ``url``/_stcore/health answers 200."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


@dataclass
class Server:
    """A Streamlit server started by the load test (stopped by ``stop``)."""

    url: str
    process: subprocess.Popen
    log: Path
    runs_dir: tempfile.TemporaryDirectory

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def stop(self) -> None:
        """Terminate the server (kill after 10 s) and remove its run folder."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.runs_dir.cleanup()


def start_server(timeout_s: float = STARTUP_TIMEOUT_S, workers: str | None = None) -> Server:
    """Start `streamlit run dashboard/app.py` headless on a free port, temporary DEN_RUNS_DIR; wait until healthy.

    ``workers`` sets the server's training pool (DEN_WORKERS: a number, 0 for a thread in the server, or ray://).
    """
    runs = tempfile.TemporaryDirectory(prefix="den-loadtest-")
    log = Path(runs.name) / "streamlit.log"
    port = free_port()
    env = dict(os.environ, DEN_RUNS_DIR=str(Path(runs.name) / "runs"))
    if workers is not None:
        env["DEN_WORKERS"] = workers
    cmd = [
        sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log, runs)
    deadline = time.monotonic() + timeout_s
    while not healthy(server.url):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text()[-2000:]
            server.stop()
            raise RuntimeError(f"the Streamlit server did not become healthy (exit {process.returncode}):\n{tail}")
        time.sleep(0.25)  # poll interval of a bounded wait on the server's health
    return server


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from state on; the name may hold spaces


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


@dataclass(frozen=True)
class Cpu:
    """CPU seconds (user + system) of a process and, apart, of its descendant processes."""

    own: float
    children: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.own - other.own, self.children - other.children)


def cpu_of(pid: int) -> Cpu | None:
    """CPU seconds so far of ``pid`` and of all its descendants (live ones plus those reaped); None if it is gone."""
    fields = _stat(pid)
    if fields is None:
        return None
    # after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    own = (int(fields[11]) + int(fields[12])) / TICKS
    reaped = (int(fields[13]) + int(fields[14])) / TICKS
    tree, todo, live = _children_by_parent(), [pid], 0.0
    while todo:
        for child in tree.get(todo.pop(), []):
            if (child_fields := _stat(child)) is not None:
                live += sum(int(v) for v in child_fields[11:15]) / TICKS
            todo.append(child)
    return Cpu(own, reaped + live)


def listener_pid(port: int) -> int | None:
    """The process (of this user) listening on TCP ``port``, found through /proc/net/tcp and each process's fds."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A":  # 0A = LISTEN
                inodes.add(f"socket:[{cols[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except OSError:
            continue  # another user's process, or one that just ended
    return None


def own_cpu() -> float:
    """CPU seconds (user + system) this load-test process has used so far."""
    return time.process_time()
