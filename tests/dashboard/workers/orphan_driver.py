"""A web server stand-in for test_pool.py: one worker process training a long sweep run.

``python orphan_driver.py RUNS`` starts a ProcessSlot, gives it a sweep run whose one task is
far too long to end on its own (a sweep run says nothing between tasks, so no failed message
send can end it), prints the worker's pid once the run has started, then waits to be killed.
The test kills this process (as a crashed or SIGKILLed server) and watches the worker.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from dashboard.workers.process import ProcessSlot  # noqa: E402
from den_engine import preset  # noqa: E402
from den_engine.experiments.sweep_jobs import SweepJob  # noqa: E402


def main(runs: Path) -> None:
    """Train on a worker until killed; print its pid when it is training."""
    training = threading.Event()
    slot = ProcessSlot(0, lambda slot, kind, data: training.set() if kind == "sweep" else None)
    config = preset("fast", benchmark="toy-2d", iterations=10**7, device="cpu")
    slot.run("sweep", {"job": SweepJob(0, "den", "toy-2d", 1, config, str(runs / "long"))}, 1)
    training.wait()
    print(slot.process.pid, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
