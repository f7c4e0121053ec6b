"""A sweep's time estimate against its measured wall time: ``python -m dashboard.sweep_clock [flags]``.

Runs a sweep as the Compare page does (``SweepLauncher`` on the server's worker pool, the
pool's workers started and warm first, as on a server that has drawn its first page) into
a fresh sweep folder of ``--runs`` (default: a temporary folder), after printing the
estimate the page would show. Prints the estimate, the measured wall time, their ratio,
the time-left estimates taken along the way and the load average. Running it twice on
one ``--runs`` folder shows the estimate calibrated on the first sweep's runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from dashboard.state.sweep_launcher import SweepLauncher, SweepRequest, new_sweep_dir
from dashboard.workers.pool import get_pool


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m dashboard.sweep_clock", description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", default="digits-one-vs-rest")
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--grid", default="loss_threshold=0.001,0.01,0.1,1")
    parser.add_argument("--fixed", default="hidden_sizes=32x16")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs")
    parser.add_argument("--runs", type=Path, default=None, help="runs folder (default: a temporary one)")
    args = parser.parse_args(argv)
    runs = args.runs or Path(tempfile.mkdtemp(prefix="sweep-clock-"))
    request = SweepRequest(args.benchmark, args.tasks, args.grid, "0", args.preset, args.fixed, args.jobs)
    pool = get_pool()
    deadline = time.monotonic() + 120
    while any(getattr(slot, "pid", 0) is None for slot in pool.slots) and time.monotonic() < deadline:
        time.sleep(0.2)  # poll interval of a bounded wait: the workers have imported torch and said so
    estimate = request.estimate(runs)
    print(f"estimate: {estimate.words()}", flush=True)
    launcher = SweepLauncher(request, new_sweep_dir(runs), owner="sweep-clock", pool=pool, sync=False)
    left = []
    while not launcher.wait(2.0):
        left.append((round(time.monotonic() - launcher.started, 1), round(launcher.seconds_left(), 1)))
    measured = time.monotonic() - launcher.started
    out = {
        "estimate_s": round(estimate.seconds, 1),
        "measured_s": round(measured, 1),
        "ratio": round(measured / max(estimate.seconds, 1e-9), 2),
        "calibrated_on_runs": estimate.measured_runs,
        "factor": round(estimate.factor, 2),
        "time_left_along_the_way": left,
        "returncode": launcher.returncode,
        "load_average": os.getloadavg(),
        "runs_folder": str(runs),
    }
    print(json.dumps(out))
    pool.close()
    return 0 if launcher.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
