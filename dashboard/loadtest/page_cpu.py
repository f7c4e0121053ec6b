"""`python -m dashboard.loadtest.page_cpu`: the server CPU one run of the Learn page costs, in milliseconds.

It opens the Learn page in Streamlit's AppTest (in this process, training inline), optionally
presses Next task once (``--after-task``: the page then draws the learned network), and reruns
the page ``--runs`` times, counting the CPU time of the thread that runs the page script, as
a server's script thread would spend it. Two things differ from a server and are set as a
server has them: each script is compiled once (AppTest compiles it again on every run), and
no message goes over a socket (the websocket's share of a run is not counted).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"
LESSON = {"tasks": "blobs,moons,circles", "hidden": "6,6", "iters": "300"}
"""The load test's lesson (the Learn page's teaching defaults)."""


class _ScriptClock:
    """CPU seconds of the script threads' runs, counted once ``on`` is set; each script compiled once."""

    def __init__(self) -> None:
        from streamlit.runtime.scriptrunner import script_cache, script_runner

        self.on, self.seconds, self.runs = False, 0.0, 0
        run, get_bytecode, compiled = script_runner.ScriptRunner._run_script, script_cache.ScriptCache.get_bytecode, {}
        clock = self

        def timed_run(runner, *args, **kwargs):
            start = time.thread_time()  # this thread's own CPU: the script thread, not the test's
            try:
                return run(runner, *args, **kwargs)
            finally:
                if clock.on:
                    clock.seconds += time.thread_time() - start
                    clock.runs += 1

        def compiled_once(cache, path):
            if path not in compiled:
                compiled[path] = get_bytecode(cache, path)
            return compiled[path]

        self._patches = ((script_runner.ScriptRunner, "_run_script", run, timed_run),
                         (script_cache.ScriptCache, "get_bytecode", get_bytecode, compiled_once))  # fmt: skip

    def __enter__(self) -> _ScriptClock:
        for owner, name, _, patched in self._patches:
            setattr(owner, name, patched)
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, original, _ in self._patches:
            setattr(owner, name, original)


def measure(runs: int, after_task: bool) -> tuple[float, int]:
    """(CPU milliseconds per run of the Learn page, runs counted)."""
    from streamlit.testing.v1 import AppTest

    with _ScriptClock() as clock:
        at = AppTest.from_file(str(APP), default_timeout=600)
        for key, value in LESSON.items():
            at.query_params[key] = value
        at.run()
        at.switch_page("app_pages/learn.py")
        at.run()
        if after_task:
            at.button(key="learn_next").click().run()
        at.run()
        if at.exception or at.error:
            raise RuntimeError(f"the Learn page failed: {[e.value for e in (*at.exception, *at.error)]}")
        clock.on = True
        for _ in range(runs):
            at.run()
    return 1000 * clock.seconds / max(clock.runs, 1), clock.runs


def main(argv: list[str] | None = None) -> int:
    """The command line: prints the milliseconds per run (exit 2 on bad input)."""
    parser = argparse.ArgumentParser(prog="python -m dashboard.loadtest.page_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="page runs to time (default 40)")
    parser.add_argument("--after-task", action="store_true", help="time the page after task 1 is learned")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, not {args.runs}")
    os.environ["DEN_SYNC_TRAINING"] = "1"  # the press trains inline: nothing else in the process
    with tempfile.TemporaryDirectory(prefix="den-page-cpu-") as runs_dir:
        os.environ["DEN_RUNS_DIR"] = runs_dir
        ms, counted = measure(args.runs, args.after_task)
    page = "after task 1" if args.after_task else "before task 1"
    print(f"Learn page, {page}: {ms:.1f} ms of script-thread CPU per run ({counted} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
