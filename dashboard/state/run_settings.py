"""The Train page's settings: each field checked on its own, then the whole run's size and cost.

``field_errors`` names every bad field at once (the page lists them and disables the buttons
they block); ``build_spec`` turns good values into a ``RunSpec`` and refuses a network that
would not fit in memory. ``RunCost`` says how long a run would take before it starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

from den_engine import ConfigError, DENConfig, DENError
from den_engine.core import budget
from den_engine.core.config import PRESETS, parse_value, preset
from den_engine.data.benchmarks import BENCHMARKS, BenchmarkError
from den_engine.data.sequence import DataError
from den_engine.data.sources import is_data_file
from den_engine.methods import get_method, method_names

METHODS = tuple(method_names())
"""Methods the Train page offers: DEN, its ablations and every baseline the engine registers."""
SIZES = re.compile(r"\s*\d+\s*(?:[,x]\s*\d+\s*)*")
"""Layer sizes as typed: whole numbers separated by commas (or x, as on the command line), none empty."""


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to start a run: the config, the task sequence and where to save it."""

    config: DENConfig  # or a baseline's config class
    benchmark: str  # a built-in benchmark's name, or the absolute path of a .npz file in the runs folder
    n_tasks: int
    runs_dir: Path
    method: str = "den"


def preset_config(name: str, benchmark: str, config_class: type | None = None, **overrides):
    """The preset's config for ``benchmark``: the one place the dashboard reads preset values."""
    return preset(name, config_class, benchmark=benchmark, **overrides)


def input_dim(benchmark: str) -> int:
    """Inputs per sample of a built-in benchmark or a data file (its input shape flattened)."""
    n = 1
    from dashboard.state.user_data import file_info

    for size in (file_info(benchmark) if is_data_file(benchmark) else BENCHMARKS[benchmark]).input_shape:
        n *= size
    return n


def _hidden_sizes(text: str):
    if not SIZES.fullmatch(text or ""):
        raise ConfigError("hidden_sizes", f"{(text or '')[:40]!r} is not a list of layer sizes; write whole numbers "
                          "separated by commas, one per hidden layer, none empty, e.g. 32,16")  # fmt: skip
    return parse_value("hidden_sizes", text)


def _choices(values: dict) -> tuple[str, str, str, int]:
    """(method, benchmark or data file path, preset, most tasks) or the error naming the first unknown one.

    A data file is a name from the runs folder's listing (``values["data_folder"]``), never a
    path: ``user_data.data_path`` refuses anything else, and the engine checks the file.
    """
    from dashboard.state.user_data import data_path, file_info, is_data_choice

    method = values.get("method", "den")
    if method not in METHODS:
        raise ConfigError("method", f"unknown method {method!r}; choose one of {list(METHODS)}")
    name = values.get("benchmark")
    if is_data_choice(name):
        folder = values.get("data_folder")
        if not folder:
            raise DataError(f"data file {name!r}: the runs folder is not usable, so its files cannot be read")
        name = str(data_path(name, folder))
        max_tasks = file_info(name).max_tasks  # reads and checks the file: a bad one is named here
    elif name in BENCHMARKS:
        max_tasks = BENCHMARKS[name].max_tasks
    else:
        raise BenchmarkError(f"benchmark name {name!r} is unknown; choose one of {list(BENCHMARKS)}")
    base_name = values.get("preset", "fast")
    if base_name not in PRESETS:
        raise ConfigError("preset", f"unknown preset {base_name!r}; choose one of {sorted(PRESETS)}")
    return method, name, base_name, max_tasks


def _field_values(values: dict, config_class: type) -> tuple[dict, list[DENError]]:
    """Every typed field's value, each checked alone against the preset; (values, one error per bad field)."""
    method, name, base_name, max_tasks = _choices(values)
    known = {f.name for f in fields(config_class)}
    texts = {f: str(t) for f, t in values.get("params", {}).items() if f in known}  # a baseline ignores τ, σ, k ...
    texts["hidden_sizes"] = str(values.get("hidden_sizes", ""))
    parsed, errors = {}, []
    n_tasks = values.get("n_tasks")
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, int) or not 1 <= n_tasks <= max_tasks:
        errors.append(
            BenchmarkError(f"n_tasks: {n_tasks!r} tasks is not possible; {_shown(name)} has 1 to {max_tasks}")
        )
    for field, text in [*texts.items(), ("seed", values.get("seed", 0)), ("device", values.get("device", "auto"))]:
        try:
            value = _hidden_sizes(text) if field == "hidden_sizes" else text
            if field in texts and field != "hidden_sizes":
                value = parse_value(field, text, config_class)
            preset_config(base_name, name, config_class, **{field: value})  # the field's own range check
            parsed[field] = value
        except DENError as exc:
            errors.append(exc)
    return parsed, errors


def field_errors(values: dict) -> list[DENError]:
    """One error per bad field of the Train page's values (empty when every field is usable)."""
    try:
        method = _choices(values)[0]
        return _field_values(values, get_method(method).config_class)[1]
    except (DENError, DataError) as exc:
        return [exc]


def build_spec(values: dict, runs_dir: Path) -> RunSpec:
    """Validate the Train page's raw values into a RunSpec; ConfigError/BenchmarkError name the field."""
    method, name, base_name, _ = _choices(values)
    config_class = get_method(method).config_class
    params, errors = _field_values(values, config_class)
    if errors:
        raise errors[0]
    seed, device = params.pop("seed"), params.pop("device")
    base = preset_config(base_name, name, config_class)
    changed = any(getattr(base, field) != value for field, value in params.items())
    preset_name = f"{base_name}-custom" if changed else base_name
    config = preset_config(base_name, name, config_class, **params, seed=seed, device=device, preset=preset_name)
    n_tasks = values["n_tasks"]
    budget.check_fits(config, input_dim(name), n_tasks, _device(config))
    return RunSpec(config, name, n_tasks, Path(runs_dir), method)


def _shown(name: str) -> str:
    return Path(name).name if is_data_file(name) else name


def _device(config) -> str:
    if config.device != "auto":
        return config.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def spec_of_record(record: dict, run_dir: str | Path) -> RunSpec:
    """The RunSpec a saved run was trained with (for resuming it)."""
    method = record.get("method", "den")
    config = get_method(method).config_class.from_dict(record["config"])
    bench = record["benchmark"]
    source = bench.get("data") or {}
    name = source["path"] if source.get("kind") == "npz" else bench["name"]  # the file, found again by the engine
    return RunSpec(config, name, int(bench["n_tasks"]), Path(run_dir).parent, method)
