"""The Learn page's state as a URL query string: the classroom link (pure; no Streamlit).

``encode`` writes every field explicitly (not only the changed ones), so a link keeps its
meaning even if a later version changes a default; ``decode`` never raises: a missing or
unreadable value falls back to its default and is reported in a list of warnings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from dashboard.state import custom_task
from den_engine.data.toy2d import TOY_2D_TASKS

BENCHMARK = "toy-2d"
METHODS = ("den", "den-expand", "den-selective")
"""DEN and its ablations: they share DEN's config, so the same controls drive them."""
COMPARE = ("finetune", "l2", "ewc", "none")
"""Side-by-side baselines (\"none\" = DEN alone)."""
SPEEDS = ("slow", "normal", "fast")
LIMITS = {
    "expand_units": (1, 8),
    "iterations": (20, 2000),
    "seed": (0, 2**31 - 1),
    "loss_threshold": (0.0, 10.0),
    "split_threshold": (0.0, 10.0),
    "group_lasso": (0.0, 1.0),
}


@dataclass(frozen=True)
class LearnState:
    """Every control of the Learn page (the teaching defaults)."""

    benchmark: str = BENCHMARK
    tasks: tuple[str, ...] = ("blobs", "moons", "circles", "xor")
    hidden_sizes: tuple[int, ...] = (6, 6)
    expand_units: int = 3
    loss_threshold: float = 0.15
    split_threshold: float = 0.1
    group_lasso: float = 1e-3
    iterations: int = 300
    seed: int = 0
    method: str = "den"
    compare: str = "finetune"
    speed: str = "normal"
    presenter: bool = False
    custom: str = ""
    """The class's own task as link text (custom_task.to_text); "" = none."""


KEYS = {
    "benchmark": "benchmark",
    "tasks": "tasks",
    "hidden_sizes": "hidden",
    "expand_units": "k",
    "loss_threshold": "tau",
    "split_threshold": "sigma",
    "group_lasso": "gamma",
    "iterations": "iters",
    "seed": "seed",
    "method": "method",
    "compare": "compare",
    "speed": "speed",
    "presenter": "presenter",
    "custom": "points",
}
"""Field -> short query key (what a link shows)."""


def _text(field: str, value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def encode(state: LearnState) -> dict[str, str]:
    """Query parameters (short key -> text) for every field of ``state``."""
    return {KEYS[f.name]: _text(f.name, getattr(state, f.name)) for f in dataclasses.fields(state)}


def query_string(state: LearnState) -> str:
    """``?tasks=...&k=...``: the classroom link's query string."""
    return "?" + urlencode(encode(state), safe=",")


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"“{text}” is not a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"“{text}” is not a number") from None


def _in_range(field: str, value):
    low, high = LIMITS[field]
    if isinstance(value, float) and not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}")
    return value


def parse_field(field: str, text: str):
    """One field's value from its text; ValueError with the reason when it is unusable."""
    text = text.strip()
    if field == "benchmark":
        if text != BENCHMARK:
            raise ValueError(f"the Learn page uses {BENCHMARK} only")
        return text
    if field == "tasks":
        names = tuple(t.strip() for t in text.split(",") if t.strip())
        known = (*TOY_2D_TASKS, custom_task.NAME)
        if not names or len(set(names)) != len(names) or any(n not in known for n in names):
            raise ValueError(f"pick one or more different tasks from {', '.join(known)}")
        return names
    if field == "hidden_sizes":
        parts = [p.strip() for p in text.split(",")]
        if not all(p.isdigit() for p in parts):  # an empty layer ("6,,6") is a typo, not a layer less
            raise ValueError(f"“{text}” is not a list of whole numbers; write the units of each layer, e.g. 6,6")
        sizes = tuple(int(p) for p in parts)
        if not 1 <= len(sizes) <= 3 or not all(1 <= s <= 32 for s in sizes):
            raise ValueError("use 1 to 3 layers of 1 to 32 units each, e.g. 6,6")
        return sizes
    if field in ("expand_units", "iterations", "seed"):
        return _in_range(field, _whole(text))
    if field in ("loss_threshold", "split_threshold", "group_lasso"):
        return _in_range(field, _number(text))
    if field == "custom":
        if text:
            custom_task.from_text(text)  # CustomTaskError is a ValueError naming the bad point
        return text
    choices = {"method": METHODS, "compare": COMPARE, "speed": SPEEDS}.get(field)
    if choices is not None:
        if text not in choices:
            raise ValueError(f"choose one of {', '.join(choices)}")
        return text
    if field == "presenter":
        if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off", ""):
            raise ValueError("use 1 or 0")
        return text.lower() in ("1", "true", "yes", "on")
    raise ValueError("unknown field")


def decode(params: Mapping[str, str | list[str]]) -> tuple[LearnState, list[str]]:
    """The state a query string describes, and a warning per value that fell back to its default."""
    values, warnings = {}, []
    for field, key in KEYS.items():
        raw = params.get(key)
        if raw is None:
            continue
        text = raw[-1] if isinstance(raw, list) and raw else raw
        try:
            values[field] = parse_field(field, str(text))
        except ValueError as exc:
            warnings.append(f"{key}={text!r} ignored: {exc}")
    tasks = values.get("tasks", LearnState.tasks)
    if custom_task.NAME in tasks and not values.get("custom"):
        kept = tuple(t for t in tasks if t != custom_task.NAME) or LearnState.tasks
        warnings.append(f"tasks: “{custom_task.NAME}” needs the points of your task, which the link lacks; left out")
        values["tasks"] = kept
    return LearnState(**values), warnings
