"""What the pages say about a training job: its place in line while it waits, and how it ended."""

from __future__ import annotations

from pathlib import Path

from dashboard.workers.pool import Outcome


def kept(n: int) -> str:
    """``task 1 is kept`` / ``tasks 1–3 are kept`` / ``no task had finished yet``."""
    return "no task had finished yet" if n == 0 else "task 1 is kept" if n == 1 else f"tasks 1–{n} are kept"


def _ordinal(n: int) -> str:
    return f"{n}{'tsnrhtdd'[(n // 10 % 10 != 1) * (n % 10 < 4) * n % 10 :: 4]}"


def queue_words(queued: tuple[int, float] | None) -> str:
    """``Waiting for a free trainer: 3rd in line, about 20 s`` (empty when not waiting)."""
    if queued is None:
        return ""
    ahead, seconds = queued
    place = "next in line" if ahead == 0 else f"{_ordinal(ahead + 1)} in line"
    about = f", about {max(1, round(seconds))} s" if seconds >= 1 else ""
    return f"Waiting for a free trainer: {place}{about}"


def end_message(
    outcome: Outcome, n: int, total: int, run_dir: str | None, finished: bool, trained: int
) -> tuple[str, str]:
    """(success|info|warning|error, text) once a job has ended with ``n`` of ``total`` tasks learned."""
    done, error = kept(n), outcome.error or {}
    if outcome.how in ("stopped", "gone"):
        why = " because this tab was closed" if outcome.how == "gone" else ""
        if outcome.mid_unit:
            return "warning", f"Stopped{why}: task {n + 1} was dropped; {done}."
        return "warning", f"Stopped{why}; {done}."
    if outcome.how == "lost":
        return "error", (f"The worker training task {n + 1} ended unexpectedly ({error.get('message')}); "
                         f"{done}. Press Next task to try again.")  # fmt: skip
    if outcome.how == "error":
        if error.get("type") == "RunFolderError":
            name = Path(run_dir or "").name or "the run"
            return "error", (f"{name} is being trained by another session or process now; "
                             "Reset starts a new run of your own")  # fmt: skip
        if error.get("diverged"):
            return "error", f"Task dropped, finished tasks kept: {error.get('message')}"
        if error.get("user"):
            return "error", str(error.get("message"))
        return "error", (f"Unexpected error while training: {error.get('type')}: {error.get('message')}. "
                         "Finished tasks are kept; the server log has the details.")  # fmt: skip
    if finished and trained == 0:
        return "info", f"All {n} tasks are learned. Press Reset to start a new run."
    done_all = " The sequence is complete; Reset starts a new run." if finished else ""
    return "success", f"Learned task {n} of {total}.{done_all}"
