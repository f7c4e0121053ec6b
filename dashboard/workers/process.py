"""Local training workers: one fresh interpreter per slot, talking to the server over pipes.

Each worker is ``python -m dashboard.workers.process``, started with ``subprocess`` rather
than ``multiprocessing``: Streamlit runs a page as the ``__main__`` module, so a spawned
multiprocessing child would run the whole app again while it starts, and a forked one
would copy the web server's threads and the locks they hold. The worker runs at a lower
priority than the web server (``DEN_WORKER_NICE``, default 2), so a click on any page is
answered while every worker trains, and with one torch thread unless the pool gives a
lone job more.

Three pipes: units go in, messages come out (pickled explicitly and sent as bytes: torch's
own pickling of tensors over a multiprocessing pipe would move them through shared memory,
which a long-lived server would leak), and stops go in on their own pipe, each naming the
unit it stops, so the worker sees a stop at its next step and a late stop never hits the
next unit. A worker that dies (killed, out of memory) is noticed by the reader thread at
once, and the slot starts a new one; a worker whose server died stops its unit at the
next step (the stop pipe's end) and exits.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

log = logging.getLogger(__name__)

NICE = 2
"""How much lower the workers' priority is than the web server's (DEN_WORKER_NICE overrides it)."""
REPO_ROOT = Path(__file__).resolve().parents[2]
_UNIT = struct.Struct("<q")


class _StopPipe:
    """The worker's end of the stop pipe: ``asked(unit)`` is True once a stop for ``unit`` came in.

    The end of the pipe (the server exited or was killed) stops every unit: nobody is left to
    read what it trains, so it stops at its next step, keeping its finished tasks, and the
    worker then reads the end of its input and exits instead of training on for nobody.
    """

    def __init__(self, fd: int) -> None:
        self.fd, self.stopped, self.server_gone = fd, set(), False

    def asked(self, unit: int) -> bool:
        while not self.server_gone and select.select([self.fd], [], [], 0)[0]:
            data = os.read(self.fd, 4096)
            if not data:
                self.server_gone = True
                break
            self.stopped.update(v for (v,) in _UNIT.iter_unpack(data[: len(data) // _UNIT.size * _UNIT.size]))
        return self.server_gone or unit in self.stopped


def worker_main(units_fd: int, messages_fd: int, stop_fd: int, nice: int) -> None:
    """A worker's life: wait for a unit, run it, send what it says and its result; end when the server goes."""
    try:
        os.nice(nice)
    except OSError:  # not allowed here: train at the server's priority
        pass
    import torch

    torch.set_num_threads(1)
    from dashboard.workers.units import UnitContext, error_info, run_unit

    units, messages, stops = Connection(units_fd, writable=False), Connection(messages_fd, readable=False), \
        _StopPipe(stop_fd)  # fmt: skip
    cache: dict = {}

    def send(kind: str, data: object) -> None:
        messages.send_bytes(pickle.dumps((kind, data), protocol=pickle.HIGHEST_PROTOCOL))

    try:
        send("ready", os.getpid())
    except (BrokenPipeError, OSError):
        return  # the server stopped while this worker was starting: nothing to say, nobody to say it to
    while True:
        try:
            unit, kind, payload, cores = pickle.loads(units.recv_bytes())
        except (EOFError, OSError):
            return  # the server is gone
        try:
            result = run_unit(kind, payload, UnitContext(send, lambda u=unit: stops.asked(u), cache, cores))
            send("done", result)
        except (BrokenPipeError, EOFError):
            return
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the page that asked
            try:
                send("error", error_info(exc))
            except (BrokenPipeError, EOFError, OSError):
                return


class ProcessSlot:
    """One local worker process: ``run`` a unit on it, ``stop`` the unit; messages go to ``on_message``."""

    kind = "process"

    def __init__(self, index: int, on_message: Callable[[ProcessSlot, str, object], None]) -> None:
        self.index, self.on_message = index, on_message
        self.pid: int | None = None
        self._unit = 0
        self._start()

    def _start(self) -> None:
        units_r, units_w = os.pipe()
        messages_r, messages_w = os.pipe()
        stop_r, stop_w = os.pipe()
        nice = int(os.environ.get("DEN_WORKER_NICE") or NICE)
        path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "dashboard.workers.process", str(units_r), str(messages_w), str(stop_r),
                   str(nice)]  # fmt: skip
        try:
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                            pass_fds=(units_r, messages_w, stop_r))  # fmt: skip
        finally:
            for fd in (units_r, messages_w, stop_r):
                os.close(fd)
        self.units, self._stops = Connection(units_w, readable=False), stop_w
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, args=(Connection(messages_r, writable=False),
                                        self.process), daemon=True, name=f"den-worker-{self.index}-reader")  # fmt: skip
        self._reader.start()

    def _read(self, conn, process) -> None:
        while True:
            try:
                kind, data = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                break
            except Exception as exc:  # noqa: BLE001 - a message that cannot be read ends the unit, not the server
                log.exception("a worker sent a message the server could not read")
                kind, data = "error", {"type": type(exc).__name__, "message": f"a worker's message was unreadable: "
                                       f"{exc}", "user": False, "diverged": False, "trace": ""}  # fmt: skip
            if kind == "ready":
                self.pid = data
                continue
            self.on_message(self, kind, data)
        conn.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
        if process is self.process:  # not a worker this slot already replaced
            self.on_message(self, "lost", {"exitcode": process.returncode})

    def run(self, kind: str, payload: dict, cores: int) -> None:
        """Start a unit on this worker (it must be idle)."""
        with self._send_lock:
            self._unit += 1
            data = pickle.dumps((self._unit, kind, payload, cores), protocol=pickle.HIGHEST_PROTOCOL)
            self.units.send_bytes(data)

    def stop(self) -> None:
        """Ask the running unit to stop at its next step."""
        with self._send_lock:
            try:
                os.write(self._stops, _UNIT.pack(self._unit))
            except OSError:  # the worker is gone; the reader reports it
                pass

    def restart(self) -> None:
        """Replace a worker that died with a fresh one."""
        self.close()
        self._start()

    def close(self) -> None:
        """End the worker process."""
        for close in (self.units.close, lambda: os.close(self._stops)):
            try:
                close()
            except OSError:
                pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


if __name__ == "__main__":
    worker_main(*(int(arg) for arg in sys.argv[1:5]))
