"""`python -m dashboard.loadtest.alone`: is one user alone slower with the worker pool than with training in the server?

One tab opens a page, waits until it is ready (the first screen) and presses Next task once,
on a fresh server each time, alternating between ``DEN_WORKERS=0`` (one training thread
inside the web server, as the app trained before the pool) and the default pool (worker
processes). Alternating rounds in one run make the ratio fair on a shared, noisy machine.
It prints the median first screen and task time of each, and their ratios (pool ÷ thread;
below 1 means the pool is faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys

from dashboard.loadtest.__main__ import PAGES, run

SETTINGS = {"pool": None, "thread in the server": "0"}


def measure(page: str, query: str, rounds: int, timeout: float) -> dict[str, dict[str, list[float]]]:
    """Per setting: the first screens and task times of ``rounds`` single-tab tests, alternated."""
    seen: dict[str, dict[str, list[float]]] = {name: {"ready": [], "learned": []} for name in SETTINGS}
    for _ in range(rounds):
        for name, workers in SETTINGS.items():
            args = argparse.Namespace(sessions=1, timeout=timeout, url=None, json=None, idle=0.0, page=page,
                                      query=query, workers=workers)  # fmt: skip
            result = run(args)
            times = result.per_session()
            if result.failed or times["ready"][0] is None or times["learned"][0] is None:
                raise RuntimeError(f"{name}: the test failed: {result.errors or result.sessions[0].errors}")
            seen[name]["ready"].append(times["ready"][0])
            seen[name]["learned"].append(times["learned"][0])
    return seen


def table(seen: dict[str, dict[str, list[float]]]) -> str:
    """Medians per setting and the pool's ratio to the thread."""
    rows = ["setting                  first screen (s)   task 1 (s)   rounds", "-" * 64]
    for name, times in seen.items():
        ready, learned = statistics.median(times["ready"]), statistics.median(times["learned"])
        rows.append(f"{name:<24} {ready:>16.2f} {learned:>12.2f} {len(times['ready']):>8}")
    pool, thread = seen["pool"], seen["thread in the server"]
    ready = statistics.median(pool["ready"]) / statistics.median(thread["ready"])
    learned = statistics.median(pool["learned"]) / statistics.median(thread["learned"])
    rows.append(f"pool / thread            {ready:>16.2f} {learned:>12.2f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """The command line: prints the table; 1 when a test failed, 2 on bad arguments."""
    parser = argparse.ArgumentParser(prog="python -m dashboard.loadtest.alone", description=__doc__.splitlines()[0])
    parser.add_argument("--page", choices=sorted(PAGES), default="train", help="the page (default train)")
    parser.add_argument("--query", default="benchmark=mnist-one-vs-rest&tasks=2",
                        help="the page settings (default: the Train page on MNIST, 2 tasks)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="tests of each setting, alternated (default 3)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one test may take (default 600)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")
    try:
        seen = measure(args.page, args.query.lstrip("?"), args.rounds, args.timeout)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(table(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
