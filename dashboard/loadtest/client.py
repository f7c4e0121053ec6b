"""One simulated browser tab on the Learn page, over Streamlit's own websocket protocol (asyncio, no browser).

It does what the frontend does: checks the server's health and host config, opens
``/_stcore/stream`` with the ``streamlit`` subprotocol, asks for the page by its url path,
keeps the page's element tree and message cache (``protocol.Page``), runs the fragment
timers the server asks for (``auto_rerun``: that is how the Learn page polls a job), and
presses a button by sending its widget id with a trigger value. Every moment the load test
reports is taken when the page *shows* it, never after a fixed wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
from dataclasses import dataclass, field

import websockets
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from dashboard.loadtest import protocol

PAGE = "learn"
BUTTON = "Next task"
TASK = 1


@dataclass
class Timings:
    """What one session saw, in seconds on the monotonic clock (None: not seen)."""

    started: float = 0.0
    ready: float | None = None
    pressed: float | None = None
    acknowledged: float | None = None
    learned: float | None = None
    errors: list[str] = field(default_factory=list)
    messages: int = 0
    """ForwardMsgs received."""
    full_runs: int = 0
    """Full runs of the page that finished."""
    fragment_reruns: int = 0
    """Fragment reruns this tab asked for (the page's progress poll)."""
    acknowledged_by: str = ""
    """The run that first showed the job: "page" (a full run) or "fragment" (the buttons' own rerun)."""
    clicks: list[float] = field(default_factory=list)
    """Seconds from each later click (a full rerun, as any widget change asks for) to its first element."""


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        return response.status


class Tab:
    """A browser tab: ``open`` it, await ``ready``, ``press`` the button, await ``learned``; ``close`` at the end."""

    def __init__(self, url: str, name: str, page: str = PAGE, button: str = BUTTON, task: int = TASK,
                 query: str = "") -> None:  # fmt: skip
        self.url, self.name, self.page_path, self.button, self.task = url.rstrip("/"), name, page, button, task
        self.query = query
        self.page = protocol.Page()
        self.timings = Timings()
        self.ready, self.acknowledged, self.learned = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.closed = asyncio.Event()
        self._ws = None
        self._timers: dict[protocol.Timer, asyncio.Task] = {}
        self._reader: asyncio.Task | None = None
        self._texts_before_press: set[str] = set()
        self._closing = False
        self._clicked: float | None = None  # when a later click was sent, until its first element arrives

    # -- connecting -------------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect as the frontend does and ask for the page; the reader task then follows the server."""
        self.timings.started = time.monotonic()
        for endpoint in ("_stcore/health", "_stcore/host-config"):
            await asyncio.to_thread(_get, f"{self.url}/{endpoint}")
        ws_url = "ws" + self.url.removeprefix("http") + "/_stcore/stream"
        self._ws = await websockets.connect(
            ws_url, subprotocols=["streamlit"], origin=self.url, max_size=None, open_timeout=60, ping_interval=None
        )
        self._reader = asyncio.create_task(self._read(), name=f"{self.name}-reader")
        await self._send(protocol.rerun_message(self.page, page_name=self.page_path, url=self._page_url(),
                                                query=self.query))  # fmt: skip

    def _page_url(self) -> str:
        return f"{self.url}/{self.page_path}" + (f"?{self.query}" if self.query else "")

    async def _send(self, msg) -> None:
        await self._ws.send(msg.SerializeToString())

    async def close(self) -> None:
        """Stop the timers and close the websocket (as a tab closing does)."""
        self._closing = True
        for task in self._timers.values():
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    # -- reading ----------------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(frame)
                self.timings.messages += 1
                self._handle(msg)
        except websockets.ConnectionClosed as exc:
            if not self._closing:
                self._error(f"disconnected: {exc}")
        except Exception as exc:  # noqa: BLE001 - a broken tab is reported, never raised into the other tabs
            self._error(f"client failure: {type(exc).__name__}: {exc}")
        finally:
            if not self._closing and self._ws is not None and self._ws.close_code is not None:
                self._error(f"disconnected (code {self._ws.close_code})")
            self.closed.set()

    def _error(self, what: str) -> None:
        if what not in self.timings.errors:
            self.timings.errors.append(what)

    def _handle(self, msg: ForwardMsg) -> None:
        try:
            msg = self.page.resolve(msg)
        except KeyError:
            self._error(f"server referred to a message this tab never had: {msg.ref_hash}")
            return
        kind = msg.WhichOneof("type")
        placed = self.page.apply(msg)
        if kind in ("new_session", "auto_rerun", "stop_auto_rerun"):
            self._sync_timers()
        if kind == "page_not_found":
            self._error(f"page not found: {msg.page_not_found.page_name}")
        elif kind == "session_event" and msg.session_event.HasField("script_compilation_exception"):
            self._error(f"script compilation error: {msg.session_event.script_compilation_exception.message}")
        if placed and self._clicked is not None and kind == "delta" and not msg.delta.fragment_id:  # not a poll's
            self.timings.clicks.append(time.monotonic() - self._clicked)
            self._clicked = None
        for element in placed:
            self._saw(element)
        if kind == "script_finished" and msg.script_finished in protocol.FINISHED_OK:
            self.timings.full_runs = self.page.finished_runs
            self._check_ready()

    def _saw(self, element) -> None:
        now = time.monotonic()
        if (problem := protocol.error_text(element)) is not None:
            self._error(problem)
        if self.timings.pressed is None:
            return
        if self.timings.acknowledged is None and protocol.shows_job(element, self.task, self._texts_before_press):
            self.timings.acknowledged = now
            self.timings.acknowledged_by = "fragment" if self.page.run_fragments else "page"
            self.acknowledged.set()
        if self.timings.learned is None and protocol.shows_learned([protocol.element_text(element)], self.task):
            self.timings.learned = now
            if self.timings.acknowledged is None:  # the job finished before a poll showed it
                self.timings.acknowledged = now
                self.acknowledged.set()
            self.learned.set()

    def _check_ready(self) -> None:
        """Ready: a full run of the Learn page finished and its button is there and enabled."""
        if self.ready.is_set() or self.page.pages.get(self.page_path) != self.page.page_script_hash:
            return
        button = protocol.find_button(self.page.shown(), self.button)
        if button is not None and not button.button.disabled:
            self.timings.ready = time.monotonic()
            self.ready.set()

    # -- fragment timers (auto_rerun) -------------------------------------------------------------
    def _sync_timers(self) -> None:
        """Run exactly the fragment timers the page holds: start new ones, cancel dropped ones."""
        for timer in self.page.timers:
            if timer not in self._timers:
                self._timers[timer] = asyncio.create_task(self._tick(timer.fragment_id, timer.interval))
        for timer in [t for t in self._timers if t not in self.page.timers]:
            self._timers.pop(timer).cancel()

    async def _tick(self, fragment_id: str, interval: float) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(interval)  # the poll interval the server asked for
            self.timings.fragment_reruns += 1
            with contextlib.suppress(websockets.ConnectionClosed):  # the reader reports a lost connection
                rerun = protocol.rerun_message(self.page, fragment_id=fragment_id, auto=True, url=self._page_url(),
                                               query=self.query)  # fmt: skip
                await self._send(rerun)

    # -- pressing ---------------------------------------------------------------------------------
    async def press(self) -> None:
        """Press the button: a rerun carrying the button's widget id with a trigger value (of the button's fragment
        alone when a fragment drew it, as the frontend asks)."""
        button = protocol.find_button(self.page.shown(), self.button)
        if button is None:
            self._error(f"no button labelled {self.button!r} on the page")
            return
        self._texts_before_press = {t for e in self.page.shown() if (t := protocol.element_text(e))}
        self.timings.pressed = time.monotonic()
        await self._send(protocol.rerun_message(self.page, widgets=protocol.trigger(button.button.id),
                                                fragment_id=self.page.fragment_of(button), url=self._page_url(),
                                                query=self.query))  # fmt: skip

    async def click(self) -> bool:
        """A later click: a full rerun of the page (what any widget change asks for); False if one is still open."""
        if self._clicked is not None or self.closed.is_set():
            return False
        self._clicked = time.monotonic()
        with contextlib.suppress(websockets.ConnectionClosed):  # the reader reports a lost connection
            await self._send(protocol.rerun_message(self.page, url=self._page_url(), query=self.query))
        return True
