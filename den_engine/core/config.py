"""DEN's configuration: one frozen dataclass, its presets and ``--set`` parsing (validation: validation.py).

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

from den_engine.core.errors import ConfigError
from den_engine.core.validation import _THRESHOLDS, _is_int, validate
from den_engine.core.validation import DEVICES as DEVICES  # re-exported: callers import them from here
from den_engine.core.validation import SPLIT_ORDERS as SPLIT_ORDERS  # (as before validation had a module)

# Fields added after runs were first recorded: at their default they stay out of the run id,
# so every earlier record (and a sweep's finished jobs) keeps its id.
# The conv fields at their defaults (no conv layers) are left out of ``to_dict`` too: a fully
# connected run's record has exactly the config keys it had before conv layers existed.
CONV_DEFAULTS: dict[str, Any] = {"conv_channels": [], "kernel_size": 5, "expand_filters": None}
HASHED_ONLY_WHEN_SET: dict[str, Any] = {"split_order": "reference", **CONV_DEFAULTS}


class ConfigBase:
    """Shared behaviour of every method's frozen config dataclass."""

    def replace(self, **changes: Any):
        """A copy with some fields changed (validated again); the changed fields count as set by the caller."""
        copy = dataclasses.replace(self, **changes)
        _mark(copy, getattr(self, "_bound_to", None), getattr(self, "_explicit", frozenset()) | set(changes))
        return copy

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of the config."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        if not out.get("conv_channels"):
            for key in CONV_DEFAULTS:
                if key in out and out[key] == CONV_DEFAULTS[key]:
                    out.pop(key)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Rebuild a config from ``to_dict`` output; unknown keys are an error."""
        if not isinstance(data, dict):
            raise ConfigError("config", f"expected a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown config field; known fields: {sorted(known)}")
        data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        for name in _THRESHOLDS:  # run.json is plain JSON: an infinite threshold ("never") is written as null
            if name in data and data[name] is None:
                data[name] = math.inf
        return cls(**data)

    def run_id(self) -> str:
        """Short hash of every field except the device and threads (same config, same id)."""
        payload = self.to_dict()
        payload.pop("device", None)
        payload.pop("threads", None)
        for name, default in HASHED_ONLY_WHEN_SET.items():
            if payload.get(name, default) == default:
                payload.pop(name, None)  # an earlier run's id stays what it was
        payload["__class__"] = type(self).__name__
        text = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class DENConfig(ConfigBase):
    """Hyperparameters of one DEN run (names in full; the paper's symbols in comments)."""

    hidden_sizes: tuple[int, ...] = (312, 128)
    """Units per hidden layer at task 1; any depth >= 1 (reference: 312, 128)."""
    learning_rate: float = 1e-3
    """Adam's step size at the start of every stage."""
    lr_decay: float = 0.95
    """Multiplier applied to the step size after every epoch (staircase); 1 disables it."""
    decay_samples: int = 0
    """Training samples between two decays; 0 = one epoch of the task's data (the reference)."""
    batch_size: int = 256
    """Samples per optimisation step."""
    iterations: int = 4300
    """Optimisation steps per stage (sparse training, Eq. 4, Eq. 5, Eq. 6)."""
    head_iterations: int = 430
    """Steps of Eq. 3 (the new head alone, >= 1); the reference intended iterations / 10."""
    l1_strength: float = 1e-5
    """mu: L1 soft-threshold applied to weights after every step (exact zeros)."""
    weight_decay: float = 1e-4
    """Coefficient of 1/2 ||w||^2 on the tensors a stage trains."""
    group_lasso: float = 1e-3
    """gamma: per-unit group-lasso shrinkage applied after every step of Eq. 5."""
    l2_transfer: float = 0.5
    """lambda: pull of 1/2 ||W - W^{t-1}||^2 on old weights in Eq. 4 and Eq. 6."""
    prox_scale_with_lr: bool = False
    """Scale the L1 and group-lasso thresholds by the current step size over the starting one."""
    expand_units: int = 10
    """k: units added to every hidden layer when expansion fires."""
    loss_threshold: float = 0.01
    """tau: expand when the data loss after selective retraining is above this."""
    split_threshold: float = 0.05
    """sigma: split a unit whose incoming weights drifted further than this (L2)."""
    max_splits_per_layer: int | None = None
    """Optional cap on splits per layer; the most drifted units are kept."""
    split_order: str = "reference"
    """Algorithm 4: 'reference' (drift after Eq. 4/5, split, Eq. 6) or 'paper' (Eq. 6, drift, split, Eq. 6)."""
    conv_channels: tuple[int, ...] = ()
    """Filters per conv layer at task 1, below the hidden layers (e.g. 20,50); empty = fully connected only."""
    kernel_size: int = 5
    """Side of every conv kernel (k x k, 'same' padding, then 2x2 max-pooling)."""
    expand_filters: int | None = None
    """Filters added to every conv layer when expansion fires; None = expand_units."""
    seed: int = 0
    """Seed of data splits, initialisation and batch order."""
    device: str = "auto"
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""
    threads: int = 0
    """torch threads for training; 0 = chosen from the network's size and the cores (recorded)."""
    preset: str = "custom"
    """Name of the preset these values came from (recorded in every run)."""

    def __post_init__(self) -> None:
        validate(self)


def field_help(config_class: type | None = None) -> dict[str, str]:
    """Each config field's one-line description (its docstring in the source, parents included)."""
    import ast
    import inspect
    import textwrap

    out: dict[str, str] = {}
    for cls in reversed((config_class or DENConfig).__mro__):
        if not dataclasses.is_dataclass(cls):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
        for node, nxt in zip(body, body[1:], strict=False):
            if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
                out[node.target.id] = str(nxt.value.value).strip()
    return out


# --- presets ---------------------------------------------------------------------

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's budgets and its sigma for fully-connected networks. The reference decays
    # the step size once per epoch, and an epoch of the paper's MNIST-Variation is 10,000
    # training images (1,000 per class). Counting the decay in samples keeps the paper's
    # schedule in steps on smaller data: per epoch of our 3,000 images, the step size
    # falls below 1 % of its start after ~1,100 of the 4,300 steps, and the per-step L1
    # soft-threshold then shrinks the network unopposed (README, "The paper preset").
    # prox_scale_with_lr: the L1 and group-lasso thresholds follow that decaying step
    # size (proximal gradient); unscaled, group lasso removes every added unit (docs/algorithm.md).
    "paper": dict(split_threshold=0.002, decay_samples=10_000, prox_scale_with_lr=True),
    # The reference code's DEN_run.py values.
    "reference": dict(split_threshold=0.05),
    # Seconds per task on a laptop CPU. The L1 and group-lasso steps act once per
    # step, so with ~25x fewer steps they are scaled up to reach comparable sparsity.
    "fast": dict(
        iterations=150,
        head_iterations=100,
        l1_strength=1e-3,
        group_lasso=1e-2,
        lr_decay=1.0,
        learning_rate=3e-3,
        split_threshold=0.05,
    ),
}


# Values a preset adds when conv layers are asked for (``conv_channels`` given): they sit on
# top of the preset's general and per-benchmark values, below the caller's, so every existing
# preset keeps its fully connected values. ``paper``: the first version of the paper's
# LeNet-style CIFAR network has conv 20, 50 under 800, 500 dense units (ask for it with
# conv_channels=20,50). ``fast``: one small dense layer, few added filters and smaller batches,
# so a 2-core CPU trains a task in seconds (docs/algorithm.md, "Convolutional layers").
CONV_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(hidden_sizes=(800, 500)),
    "reference": dict(hidden_sizes=(800, 500)),
    "fast": dict(hidden_sizes=(64,), expand_filters=2, batch_size=64),
}


# Per-benchmark values on top of a preset, each chosen on the validation split by the
# search recorded in docs/results.md ("Per-benchmark fast values"). A benchmark not listed
# gets the preset as it is. toy-2d's values are not tuned: its two inputs are drawn neuron
# by neuron, so the fast preset keeps the network at a size a person can follow (8-8 units,
# 4 added per layer when it expands; the Learn page starts at 3).
BENCHMARK_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "fast": {
        "permuted-mnist": dict(l1_strength=1e-4),
        "rotated-mnist": dict(l1_strength=1e-4),
        "mnist-variation": dict(l1_strength=1e-4, group_lasso=1e-3),
        "digits-one-vs-rest": dict(l1_strength=1e-4),
        "permuted-digits": dict(l1_strength=1e-4, group_lasso=1e-3),
        "toy-2d": dict(hidden_sizes=(8, 8), expand_units=4),
    },
}


PRESET_DESCRIPTIONS = {
    "paper": "full budgets (4,300 steps per stage), the paper's sigma = 0.002 and step-size schedule, "
    "sparsity steps that follow the step size",
    "reference": "full budgets, the reference code's sigma = 0.05",
    "fast": "150 steps per stage with stronger sparsity steps: seconds per task",
}


def preset(name: str, config_class: type | None = None, benchmark: str | None = None, **overrides: Any) -> Any:
    """The config of a named preset (DEN's by default), with optional field overrides.

    With ``benchmark``, the preset's values for that benchmark (``BENCHMARK_PRESETS``)
    replace the general ones; ``overrides`` still win. For another method's config class,
    the preset's values apply to the fields that class has (budgets, step size), so every
    method of a comparison gets the same budget.
    """
    config_class = config_class or DENConfig
    if name not in PRESETS:
        raise ConfigError("preset", f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    known = {f.name for f in fields(config_class)}
    for key in overrides:
        if key not in known:
            raise ConfigError(key, f"unknown config field; known fields: {sorted(known)}")
    values = {**PRESETS[name], **benchmark_values(name, benchmark)}
    conv = {k: v for k, v in CONV_PRESETS.get(name, {}).items() if k in known} if overrides.get("conv_channels") else {}
    values.update(conv)
    base = {k: v for k, v in values.items() if k in known}
    if "preset" in known:
        base["preset"] = name
    config = config_class(**{**base, **overrides})
    _mark(config, benchmark, frozenset(overrides) | frozenset(conv))  # bind_preset leaves conv values alone
    return config


def _mark(config, bound_to: str | None, explicit: frozenset) -> None:
    """Remember, outside the config's fields (so records, ids and equality do not change), which
    benchmark's preset values it already carries and which fields the caller set: ``bind_preset``
    must not take either back (a tuned ``expand_units=10`` equal to the general value stays 10)."""
    object.__setattr__(config, "_bound_to", bound_to)
    object.__setattr__(config, "_explicit", frozenset(explicit))


def benchmark_values(name: str, benchmark: str | None) -> dict[str, Any]:
    """The values preset ``name`` sets for ``benchmark`` on top of its general ones ({} if none)."""
    if benchmark is None or str(benchmark).lower().endswith(".npz"):
        return {}  # a user's data file has no tuned values of its own: the preset's general ones hold
    from den_engine.data.benchmarks import BENCHMARKS  # lazy: the config module stays light

    if benchmark not in BENCHMARKS:
        raise ConfigError("benchmark", f"unknown benchmark {benchmark!r}; choose one of {sorted(BENCHMARKS)}")
    return dict(BENCHMARK_PRESETS.get(name, {}).get(benchmark, {}))


def bind_preset(config, benchmark: str):
    """A preset config built without a benchmark, given the preset's values for this one.

    ``preset("fast")`` in Python carries the preset's general values; ``den run --preset
    fast --benchmark B`` carries its values for B. A field still at the general value takes
    B's value, so both give one config. A field the caller set (``preset(..., field=v)`` or
    ``config.replace(field=v)``) keeps its value even when it equals the general one, and a
    config built with ``benchmark=B`` is left as it is.
    """
    name = getattr(config, "preset", None)
    if name not in PRESETS or getattr(config, "_bound_to", None) == benchmark:
        return config  # built for this benchmark already: its values, the caller's included, stand
    explicit = getattr(config, "_explicit", frozenset())
    general = {**type(config)().to_dict(), **PRESETS[name]}
    changes = {
        key: value
        for key, value in benchmark_values(name, benchmark).items()
        if hasattr(config, key) and key not in explicit and _same(getattr(config, key), general.get(key))
    }
    if not changes:
        return config
    bound = dataclasses.replace(config, **changes)
    _mark(bound, benchmark, explicit)
    return bound


def _same(a, b) -> bool:
    return (tuple(a) == tuple(b)) if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) else a == b


def parse_value(name: str, text: str, config_class: type | None = None) -> Any:
    """Parse a ``--set name=value`` string into the type of config field ``name``."""
    config_class = config_class or DENConfig
    types = {f.name: f.type for f in fields(config_class)}
    if name not in types:
        raise ConfigError(name, f"unknown config field; known fields: {sorted(types)}")
    text = text.strip()
    try:
        default = getattr(config_class(), name)
        if isinstance(default, tuple):
            if name == "conv_channels" and text.lower() in ("", "none"):
                return ()  # no conv layers
            parts = [p.strip() for p in text.replace("x", ",").split(",")]
            if not text or "" in parts:
                raise ConfigError(name, f"{text!r} has an empty entry; write the sizes like 312,128 or 312x128")
            return tuple(int(p) for p in parts)
        if default is None:
            return None if text.lower() in ("none", "") else int(text)
        if isinstance(default, str):
            return text
        if isinstance(default, bool):
            if text.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(text)
            return text.lower() in ("1", "true", "yes", "on")
        if _is_int(default):
            return int(text)
        return float(text)
    except ConfigError:
        raise
    except ValueError:
        raise ConfigError(name, f"cannot read {text!r} as a value for this field") from None
