"""Validation of every method's config: which values each field allows, and the error that names it.

``validate`` runs in each config's ``__post_init__``; a check runs when the config has the field.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from den_engine.core.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
SPLIT_ORDERS = ("reference", "paper")
_POSITIVE_INTS = ("batch_size", "iterations", "expand_units")
_NON_NEGATIVE_INTS = ("seed", "decay_samples", "threads")
_NON_NEGATIVE_FLOATS = ("l1_strength", "weight_decay", "group_lasso", "l2_transfer")
_THRESHOLDS = ("loss_threshold", "split_threshold")  # +inf allowed: "never"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate(config: Any) -> None:
    """Raise ConfigError naming the first field whose value is not allowed.

    Generic over every method's config: a check runs when the config has the field.
    """
    has = {f.name for f in fields(config)}
    if "hidden_sizes" in has:
        sizes = config.hidden_sizes
        if not isinstance(sizes, tuple) or len(sizes) == 0:
            raise ConfigError("hidden_sizes", "needs at least one hidden layer, e.g. (312, 128)")
        for size in sizes:
            if not _is_int(size) or not 1 <= size <= 100_000:
                raise ConfigError("hidden_sizes", f"every layer needs 1..100000 units, got {size!r}")
    channels = getattr(config, "conv_channels", ())
    if not isinstance(channels, tuple) or not all(_is_int(c) and 1 <= c <= 4096 for c in channels):
        raise ConfigError("conv_channels", f"needs 1..4096 filters per conv layer (or none), got {channels!r}")
    kernel = getattr(config, "kernel_size", 5)
    if not _is_int(kernel) or not 1 <= kernel <= 15:
        raise ConfigError("kernel_size", f"must be an integer in 1..15, got {kernel!r}")
    extra = getattr(config, "expand_filters", None)
    if extra is not None and (not _is_int(extra) or extra < 1):
        raise ConfigError("expand_filters", f"must be None (= expand_units) or an integer >= 1, got {extra!r}")
    for name in _POSITIVE_INTS:
        value = getattr(config, name, 1)
        if not _is_int(value) or value < 1:
            raise ConfigError(name, f"must be an integer >= 1, got {value!r}")
    for name in _NON_NEGATIVE_INTS:
        value = getattr(config, name, 0)
        if not _is_int(value) or value < 0:
            raise ConfigError(name, f"must be an integer >= 0, got {value!r}")
    for name in _NON_NEGATIVE_FLOATS:
        value = getattr(config, name, 0.0)
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise ConfigError(name, f"must be a finite number >= 0, got {value!r}")
    for name in _THRESHOLDS:
        value = getattr(config, name, 0.0)
        if not _is_number(value) or math.isnan(value) or value < 0:
            raise ConfigError(name, f"must be a number >= 0 (inf = never), got {value!r}")
    lr = getattr(config, "learning_rate", 1e-3)
    if not _is_number(lr) or not math.isfinite(lr) or not 0 < lr <= 10:
        raise ConfigError("learning_rate", f"must be in (0, 10], got {lr!r}")
    decay = getattr(config, "lr_decay", 1.0)
    if not _is_number(decay) or not math.isfinite(decay) or not 0 < decay <= 1:
        raise ConfigError("lr_decay", f"must be in (0, 1], got {decay!r}")
    # Settings that would silently do nothing are refused, with the setting that does it.
    head = getattr(config, "head_iterations", 1)
    if not _is_int(head) or head < 1:
        raise ConfigError(
            "head_iterations",
            f"must be an integer >= 1, got {head!r}: with 0 steps the new head stays zero and "
            "selective retraining selects no unit",
        )
    cap = getattr(config, "max_splits_per_layer", None)
    if cap is not None and (not _is_int(cap) or cap < 1):
        raise ConfigError(
            "max_splits_per_layer",
            f"must be None or an integer >= 1, got {cap!r} (to never split, set split_threshold=inf)",
        )
    scale = getattr(config, "prox_scale_with_lr", False)
    if not isinstance(scale, bool):
        raise ConfigError("prox_scale_with_lr", f"must be true or false, got {scale!r}")
    order = getattr(config, "split_order", "reference")
    if order not in SPLIT_ORDERS:
        raise ConfigError("split_order", f"must be one of {SPLIT_ORDERS}, got {order!r}")
    device = getattr(config, "device", "auto")
    if device not in DEVICES:
        raise ConfigError("device", f"must be one of {DEVICES}, got {device!r}")
    name = getattr(config, "preset", "custom")
    if not isinstance(name, str) or not name:
        raise ConfigError("preset", f"must be a non-empty name, got {name!r}")
