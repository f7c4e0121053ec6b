"""The load test's numbers: per-session durations, their min/median/max, the printed table and the JSON record."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from dashboard.loadtest.client import Timings


def summary(values: list[float | None]) -> dict:
    """min / median / max of the measured values (None = not reached) and how many were reached of how many."""
    got = sorted(v for v in values if v is not None)
    if not got:
        return {"min": None, "median": None, "max": None, "reached": 0, "of": len(values)}
    return {"min": got[0], "median": statistics.median(got), "max": got[-1], "reached": len(got), "of": len(values)}


def _since(end: float | None, start: float | None) -> float | None:
    return None if end is None or start is None else end - start


@dataclass
class Result:
    """Everything one load-test run measured (times in seconds)."""

    url: str
    sessions: list[Timings]
    started: float
    all_ready: float | None = None
    """Seconds from the first connection to the moment every page was ready."""
    pressed: float | None = None
    all_learned: float | None = None
    """Seconds from the press to the moment every page showed task 1 learned."""
    server_cpu: dict = field(default_factory=dict)
    """Phase name -> {"server": s, "children": s, "seconds": wall s}; None values where the server is unknown."""
    client_cpu: dict = field(default_factory=dict)
    """Phase name -> {"client": s, "seconds": wall s}: this load-test process itself."""
    idle_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    """Errors outside any one session (a server that would not start, a failed connection)."""

    def per_session(self) -> dict[str, list[float | None]]:
        """Per session: page ready (from its connect), click acknowledged and task learned (from the press)."""
        return {
            "ready": [_since(t.ready, t.started) for t in self.sessions],
            "acknowledged": [_since(t.acknowledged, t.pressed) for t in self.sessions],
            "learned": [_since(t.learned, t.pressed) for t in self.sessions],
        }

    def clicks(self) -> list[float]:
        """Every later click's time to its first element, over all tabs."""
        return [c for t in self.sessions for c in t.clicks]

    def session_errors(self) -> list[str]:
        """Every session's errors, each prefixed with the session's number."""
        return [f"session {i}: {e}" for i, t in enumerate(self.sessions) for e in t.errors]

    @property
    def failed(self) -> bool:
        """Whether any session errored or timed out (or the run itself failed)."""
        return bool(self.errors or self.session_errors())

    def to_json(self) -> dict:
        """The numbers as plain data (for --json)."""
        durations = self.per_session()
        return {
            "url": self.url,
            "sessions": len(self.sessions),
            "ready": {**summary(durations["ready"]), "all": self.all_ready},
            "acknowledged": summary(durations["acknowledged"]),
            "learned": {**summary(durations["learned"]), "all": self.all_learned},
            "clicks_while_training": summary(self.clicks()),
            "per_session": [
                {
                    "ready": r,
                    "acknowledged": a,
                    "acknowledged_by": t.acknowledged_by,
                    "learned": learned,
                    "messages": t.messages,
                    "full_runs": t.full_runs,
                    "fragment_reruns": t.fragment_reruns,
                    "errors": t.errors,
                }
                for r, a, learned, t in zip(
                    durations["ready"], durations["acknowledged"], durations["learned"], self.sessions, strict=True
                )
            ],  # fmt: skip
            "server_cpu": self.server_cpu,
            "client_cpu": self.client_cpu,
            "idle_s": self.idle_s,
            "errors": self.errors + self.session_errors(),
        }


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(result: Result) -> str:
    """The printed report: one row per measure, then CPU, then errors."""
    durations, n = result.per_session(), len(result.sessions)
    lines = [f"Load test: {n} session(s) on the Learn page of {result.url}", ""]
    head = f"{'measure (s)':<34}{'min':>8}{'median':>8}{'max':>8}{'all':>8}{'reached':>10}"
    lines += [head, "-" * len(head)]
    rows = (("page ready (from connect)", "ready", result.all_ready),
            ("click acknowledged (from press)", "acknowledged", None),
            ("task 1 learned (from press)", "learned", result.all_learned))  # fmt: skip
    for label, key, overall in rows:
        s = summary(durations[key])
        lines.append(f"{label:<34}{_fmt(s['min']):>8}{_fmt(s['median']):>8}{_fmt(s['max']):>8}"
                     f"{_fmt(overall):>8}{s['reached']:>6} / {s['of']}")  # fmt: skip
    s = summary(result.clicks())
    lines.append(f"{'later clicks, answered (from click)':<34}{_fmt(s['min']):>8}{_fmt(s['median']):>8}"
                 f"{_fmt(s['max']):>8}{'':>8}{s['reached']:>6} clicks")  # fmt: skip
    lines += ["", f"{'CPU seconds':<34}{'server':>8}{'children':>10}{'client':>8}{'wall':>8}"]
    for phase, cpu in result.server_cpu.items():
        client = result.client_cpu.get(phase, {}).get("client")
        lines.append(f"{phase:<34}{_fmt(cpu.get('server')):>8}{_fmt(cpu.get('children')):>10}{_fmt(client):>8}"
                     f"{_fmt(cpu.get('seconds'), 1):>8}")  # fmt: skip
        if phase == "idle" and n and cpu.get("seconds"):
            per = [None if v is None else 1000 * v / n / cpu["seconds"] for v in (cpu.get("server"), client)]
            lines.append(f"{'  idle, ms per session per second':<34}{_fmt(per[0], 3):>8}{'':>10}{_fmt(per[1], 3):>8}")
    errors = result.errors + result.session_errors()
    lines += ["", f"errors: {len(errors)}"] + [f"  {e}" for e in errors]
    return "\n".join(lines)
