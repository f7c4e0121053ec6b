"""DEN's configuration: one frozen dataclass, its presets and its validation.

Defaults are the reference code's (den-spec.md "Defaults"); the presets are
``paper`` (full budgets, the paper's sigma), ``reference`` (full budgets, the
reference code's sigma) and ``fast`` (small budgets for interactive use, with the
sparsity steps scaled up so that short runs still show real sparsity and selection).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, fields
from typing import Any

from den_engine.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DENConfig:
    """Hyperparameters of one DEN run (names in full; the paper's symbols in comments)."""

    hidden_sizes: tuple[int, ...] = (312, 128)
    """Units per hidden layer at task 1; any depth >= 1 (reference: 312, 128)."""
    learning_rate: float = 1e-3
    """Adam's step size at the start of every stage."""
    lr_decay: float = 0.95
    """Multiplier applied to the step size after every epoch (staircase); 1 disables it."""
    batch_size: int = 256
    """Samples per optimisation step."""
    iterations: int = 4300
    """Optimisation steps per stage (sparse training, Eq. 4, Eq. 5, Eq. 6)."""
    head_iterations: int = 430
    """Steps of Eq. 3 (the new head alone); the reference intended iterations / 10."""
    l1_strength: float = 1e-5
    """mu: L1 soft-threshold applied to weights after every step (exact zeros)."""
    weight_decay: float = 1e-4
    """Coefficient of 1/2 ||w||^2 on the tensors a stage trains."""
    group_lasso: float = 1e-3
    """gamma: per-unit group-lasso shrinkage applied after every step of Eq. 5."""
    l2_transfer: float = 0.5
    """lambda: pull of 1/2 ||W - W^{t-1}||^2 on old weights in Eq. 4 and Eq. 6."""
    expand_units: int = 10
    """k: units added to every hidden layer when expansion fires."""
    loss_threshold: float = 0.01
    """tau: expand when the data loss after selective retraining is above this."""
    split_threshold: float = 0.05
    """sigma: split a unit whose incoming weights drifted further than this (L2)."""
    max_splits_per_layer: int | None = None
    """Optional cap on splits per layer; the most drifted units are kept."""
    seed: int = 0
    """Seed of data splits, initialisation and batch order."""
    device: str = "auto"
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""
    preset: str = "custom"
    """Name of the preset these values came from (recorded in every run)."""

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> DENConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of the config."""
        out = dataclasses.asdict(self)
        out["hidden_sizes"] = list(self.hidden_sizes)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DENConfig:
        """Rebuild a config from ``to_dict`` output; unknown keys are an error."""
        if not isinstance(data, dict):
            raise ConfigError("config", f"expected a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown config field; known fields: {sorted(known)}")
        data = dict(data)
        if "hidden_sizes" in data and isinstance(data["hidden_sizes"], list):
            data["hidden_sizes"] = tuple(data["hidden_sizes"])
        return cls(**data)

    def run_id(self) -> str:
        """Short hash of every field except the device (same config, same id)."""
        payload = self.to_dict()
        payload.pop("device")
        text = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


def field_help() -> dict[str, str]:
    """Each config field's one-line description (its docstring in this file)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(DENConfig))
    body = tree.body[0].body
    out: dict[str, str] = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            out[node.target.id] = str(nxt.value.value).strip()
    return out


# --- validation ------------------------------------------------------------------

_POSITIVE_INTS = ("batch_size", "iterations", "expand_units")
_NON_NEGATIVE_INTS = ("head_iterations", "seed")
_NON_NEGATIVE_FLOATS = ("l1_strength", "weight_decay", "group_lasso", "l2_transfer")
_THRESHOLDS = ("loss_threshold", "split_threshold")  # +inf allowed: "never"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate(config: DENConfig) -> None:
    """Raise ConfigError naming the first field whose value is not allowed."""
    sizes = config.hidden_sizes
    if not isinstance(sizes, tuple) or len(sizes) == 0:
        raise ConfigError("hidden_sizes", "needs at least one hidden layer, e.g. (312, 128)")
    for size in sizes:
        if not _is_int(size) or not 1 <= size <= 100_000:
            raise ConfigError("hidden_sizes", f"every layer needs 1..100000 units, got {size!r}")
    for name in _POSITIVE_INTS:
        value = getattr(config, name)
        if not _is_int(value) or value < 1:
            raise ConfigError(name, f"must be an integer >= 1, got {value!r}")
    for name in _NON_NEGATIVE_INTS:
        value = getattr(config, name)
        if not _is_int(value) or value < 0:
            raise ConfigError(name, f"must be an integer >= 0, got {value!r}")
    for name in _NON_NEGATIVE_FLOATS:
        value = getattr(config, name)
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise ConfigError(name, f"must be a finite number >= 0, got {value!r}")
    for name in _THRESHOLDS:
        value = getattr(config, name)
        if not _is_number(value) or math.isnan(value) or value < 0:
            raise ConfigError(name, f"must be a number >= 0 (inf = never), got {value!r}")
    lr = config.learning_rate
    if not _is_number(lr) or not math.isfinite(lr) or not 0 < lr <= 10:
        raise ConfigError("learning_rate", f"must be in (0, 10], got {lr!r}")
    decay = config.lr_decay
    if not _is_number(decay) or not math.isfinite(decay) or not 0 < decay <= 1:
        raise ConfigError("lr_decay", f"must be in (0, 1], got {decay!r}")
    cap = config.max_splits_per_layer
    if cap is not None and (not _is_int(cap) or cap < 0):
        raise ConfigError("max_splits_per_layer", f"must be None or an integer >= 0, got {cap!r}")
    if config.device not in DEVICES:
        raise ConfigError("device", f"must be one of {DEVICES}, got {config.device!r}")
    if not isinstance(config.preset, str) or not config.preset:
        raise ConfigError("preset", f"must be a non-empty name, got {config.preset!r}")


# --- presets ---------------------------------------------------------------------

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's budgets and its sigma for fully-connected networks.
    "paper": dict(split_threshold=0.002),
    # The reference code's DEN_run.py values.
    "reference": dict(split_threshold=0.05),
    # Seconds per task on a laptop CPU. The L1 and group-lasso steps act once per
    # step, so with ~25x fewer steps they are scaled up to reach comparable sparsity.
    "fast": dict(
        iterations=150,
        head_iterations=100,
        l1_strength=2e-4,
        group_lasso=1e-2,
        lr_decay=1.0,
        learning_rate=3e-3,
        split_threshold=0.05,
    ),
}


PRESET_DESCRIPTIONS = {
    "paper": "full budgets (4,300 steps per stage), the paper's sigma = 0.002",
    "reference": "full budgets, the reference code's sigma = 0.05",
    "fast": "150 steps per stage with stronger sparsity steps: seconds per task",
}


def preset(name: str, **overrides: Any) -> DENConfig:
    """The config of a named preset, with optional field overrides."""
    if name not in PRESETS:
        raise ConfigError("preset", f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    values = {**PRESETS[name], "preset": name, **overrides}
    known = {f.name for f in fields(DENConfig)}
    for key in values:
        if key not in known:
            raise ConfigError(key, f"unknown config field; known fields: {sorted(known)}")
    return DENConfig(**values)


def parse_value(name: str, text: str) -> Any:
    """Parse a ``--set name=value`` string into the type of config field ``name``."""
    types = {f.name: f.type for f in fields(DENConfig)}
    if name not in types:
        raise ConfigError(name, f"unknown config field; known fields: {sorted(types)}")
    text = text.strip()
    try:
        if name == "hidden_sizes":
            parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
            return tuple(int(p) for p in parts)
        if name == "max_splits_per_layer":
            return None if text.lower() in ("none", "") else int(text)
        if name in ("device", "preset"):
            return text
        default = getattr(DENConfig(), name)
        if _is_int(default):
            return int(text)
        return float(text)
    except ValueError:
        raise ConfigError(name, f"cannot read {text!r} as a value for this field") from None
