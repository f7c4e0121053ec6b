"""Is the browser tab that started a job still there? Streamlit knows when a tab's connection closes.

A training job waits or trains in the server's worker pool, so nothing ends it when its
tab closes. The pool asks each job's watchdog about once a second (and before each unit
starts); once the tab has been gone for ``GRACE_S`` (longer than a reconnect after a
network blip takes) the job is dropped or stopped like a Stop click, its finished tasks
kept and its run folder free for anyone to resume.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

GRACE_S = 10.0
"""Seconds a tab may be disconnected before its job stops (Streamlit reconnects within a few);
DEN_TAB_GRACE_S overrides it (the browser tests use 1 s)."""
CHECK_EVERY_S = 1.0
"""The connection is looked up at most this often (the job asks at every step)."""


def connection_check() -> Callable[[], bool] | None:
    """For the current script run: a thread-safe 'is this tab still connected'; None outside a live server."""
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # pragma: no cover - Streamlit is a dependency of the dashboard
        return None
    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return None
    runtime, session_id = Runtime.instance(), ctx.session_id
    if not runtime.is_active_session(session_id):
        return None  # a test harness without real connections: nothing to watch
    return lambda: runtime.is_active_session(session_id)


class Watchdog:
    """Says a tab is gone once ``connected`` has answered False for ``grace_s`` seconds in a row."""

    def __init__(self, connected: Callable[[], bool] | None, grace_s: float | None = None) -> None:
        self.connected = connected
        self.grace_s = grace_s if grace_s is not None else float(os.environ.get("DEN_TAB_GRACE_S") or GRACE_S)
        self._checked = float("-inf")
        self._away_since: float | None = None
        self.gone = False

    def check(self) -> bool:
        """True once the tab has been away for the grace period (cheap: looks at most once a second)."""
        if self.connected is None or self.gone:
            return self.gone
        now = time.monotonic()
        if now - self._checked < CHECK_EVERY_S:
            return False
        self._checked = now
        if self.connected():
            self._away_since = None
        elif self._away_since is None:
            self._away_since = now
        elif now - self._away_since >= self.grace_s:
            self.gone = True
        return self.gone
