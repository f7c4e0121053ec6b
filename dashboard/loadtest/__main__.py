"""`python -m dashboard.loadtest --sessions N`: N tabs open a page (Learn), press Next task together, and wait.

It starts this repository's Streamlit server (or uses ``--url``), connects N simulated tabs
over the websocket protocol, waits until every page is ready, optionally measures the
server's CPU with every tab idle (``--idle S``), has every tab press Next task at once,
and waits until every page says task 1 is learned. It prints a table (see
docs/performance.md, "Load test"), writes the numbers with ``--json``, and exits 1 when a
session errored or timed out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from dashboard.loadtest import server as srv
from dashboard.loadtest.client import Tab
from dashboard.loadtest.report import Result, table

PAGES = {"learn": "learn", "train": ""}
"""--page: the url path of each page the test can drive (the Train page is the app's first screen)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dashboard.loadtest", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4, help="simulated tabs (default 4)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds the whole test may take (default 600)")
    parser.add_argument("--url", help="use this running server instead of starting one")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here as JSON")
    parser.add_argument("--idle", type=float, default=0.0, metavar="S",
                        help="before the press, measure CPU for S seconds, every tab connected and idle")  # fmt: skip
    parser.add_argument("--page", choices=sorted(PAGES), default="learn",
                        help="the page every tab opens and presses Next task on (default learn)")  # fmt: skip
    parser.add_argument("--query", default="", metavar="Q",
                        help="the page settings as in its address, e.g. benchmark=toy-2d&tasks=2")  # fmt: skip
    parser.add_argument("--workers", metavar="W", help="the started server's DEN_WORKERS: N worker processes, 0 for "
                        "one training thread inside the server, or ray://HOST:PORT")  # fmt: skip
    return parser


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.sessions < 1:
        parser.error(f"--sessions must be at least 1, not {args.sessions}")
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, not {args.timeout}")
    if args.idle < 0:
        parser.error(f"--idle must be zero or positive, not {args.idle}")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: the folder {args.json.parent} does not exist")
    if args.workers is not None and args.url is not None:
        parser.error("--workers sets up the server this test starts; a server at --url has its own")
    if args.workers is not None and not (args.workers.isdigit() or args.workers.startswith("ray://")):
        parser.error(f"--workers must be a number or ray://HOST:PORT, not {args.workers!r}")
    if args.url is not None:
        parts = urlparse(args.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            parser.error(f"--url must look like http://host:port, not {args.url!r}")
        if not srv.healthy(args.url.rstrip("/")):
            parser.error(f"--url: no healthy Streamlit server answers at {args.url}/_stcore/health")


async def _until(events: list[asyncio.Event], deadline: float) -> bool:
    """Wait until any of ``events`` is set or the deadline passes; True if one was set."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    done, pending = await asyncio.wait(waiters, timeout=max(0.0, deadline - time.monotonic()),
                                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    for task in pending:
        task.cancel()
    return bool(done)


def _cpu_phase(pid: int | None, before, after, wall: float) -> dict:
    if pid is None or before is None or after is None:
        return {"server": None, "children": None, "seconds": wall}
    spent = after - before
    return {"server": spent.own, "children": spent.children, "seconds": wall}


class _Meter:
    """Server and client CPU over named phases."""

    def __init__(self, result: Result, pid: int | None) -> None:
        self.result, self.pid = result, pid

    def start(self):
        return srv.cpu_of(self.pid) if self.pid else None, srv.own_cpu(), time.monotonic()

    def stop(self, phase: str, start) -> None:
        server_before, client_before, t0 = start
        wall = time.monotonic() - t0
        after = srv.cpu_of(self.pid) if self.pid else None
        self.result.server_cpu[phase] = _cpu_phase(self.pid, server_before, after, wall)
        self.result.client_cpu[phase] = {"client": srv.own_cpu() - client_before, "seconds": wall}


async def _drive(url: str, pid: int | None, args: argparse.Namespace) -> Result:
    tabs = [Tab(url, f"s{i}", page=PAGES[args.page], query=args.query.lstrip("?")) for i in range(args.sessions)]
    result = Result(url, [t.timings for t in tabs], time.monotonic(), idle_s=args.idle)
    deadline, meter = result.started + args.timeout, _Meter(result, pid)
    whole = meter.start()
    try:
        opened = await asyncio.gather(*(t.open() for t in tabs), return_exceptions=True)
        for tab, outcome in zip(tabs, opened, strict=True):
            if isinstance(outcome, BaseException):
                tab.timings.errors.append(f"could not connect: {type(outcome).__name__}: {outcome}")
                tab.closed.set()
        await asyncio.gather(*(_until([t.ready, t.closed], deadline) for t in tabs))
        ready = [t for t in tabs if t.ready.is_set()]
        for tab in tabs:
            if not tab.ready.is_set() and not tab.timings.errors:
                tab.timings.errors.append("timed out before the page was ready")
        if len(ready) == len(tabs):
            result.all_ready = max(t.timings.ready for t in tabs) - result.started
        if args.idle and ready:
            idle = meter.start()
            await asyncio.sleep(args.idle)  # the measurement window itself, not a wait on the page
            meter.stop("idle", idle)
        training = meter.start()
        result.pressed = time.monotonic()
        await asyncio.gather(*(t.press() for t in ready))
        await asyncio.gather(*(_until([t.acknowledged, t.closed], deadline) for t in ready))
        meter.stop("press to all acknowledged", training)  # what answering the presses cost the server
        clicking = asyncio.create_task(_click_around(ready))
        await asyncio.gather(*(_until([t.learned, t.closed], deadline) for t in ready))
        clicking.cancel()
        for tab in ready:
            if not tab.learned.is_set() and not tab.closed.is_set():
                tab.timings.errors.append("timed out before the page showed task 1 learned")
        if ready and all(t.learned.is_set() for t in tabs):
            result.all_learned = max(t.timings.learned for t in tabs) - result.pressed
        meter.stop("press to all learned", training)
    finally:
        await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)
    meter.stop("whole test", whole)
    return result


CLICK_EVERY_S = 2.0
"""While the tabs train, one of them (in turn) clicks this often: is a click answered at once throughout?"""


async def _click_around(tabs: list[Tab]) -> None:
    """Until cancelled: every CLICK_EVERY_S, the next tab in turn clicks (a full rerun of its page)."""
    turn = 0
    while True:
        await asyncio.sleep(CLICK_EVERY_S)  # the clicking rate itself, not a wait on the page
        for _ in range(len(tabs)):
            tab, turn = tabs[turn % len(tabs)], turn + 1
            if await tab.click():
                break


def run_coroutine(coro):
    """``asyncio.run(coro)``, also where this thread already runs an event loop (a notebook, Playwright's sync API
    in a test process): there the coroutine runs on a thread of its own, with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="den-loadtest", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def run(args: argparse.Namespace) -> Result:
    """Run the load test with parsed arguments (starting and stopping a server unless --url is given)."""
    server = None
    if args.url:
        url = args.url.rstrip("/")
        pid = srv.listener_pid(urlparse(url).port or 80)
    else:
        server = srv.start_server(workers=args.workers)
        url, pid = server.url, server.pid
    try:
        result = run_coroutine(_drive(url, pid, args))
    finally:
        if server is not None:
            server.stop()
    if pid is None:
        print("note: the server's process was not found (another user's?), so its CPU is not measured",
              file=sys.stderr)  # fmt: skip
    return result


def main(argv: list[str] | None = None) -> int:
    """The command line: returns the exit status (0 all learned, 1 a session failed, 2 bad input)."""
    parser = _parser()
    args = parser.parse_args(argv)
    _check(args, parser)
    # A SIGTERM (from `timeout`, a CI runner) unwinds like Ctrl-C, so the server started here is stopped.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        result = run(args)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; the server started for the test was stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
