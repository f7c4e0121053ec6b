"""A user's own method: ``register_method`` checks it and adds it; plugins bring it to the CLI and the dashboard.

A plugin is a Python module (a dotted name on ``sys.path``) or a ``.py`` file that calls
``register_method`` when it is imported. ``den run --plugin SPEC`` loads one for a run; the
``DEN_PLUGINS`` environment variable (specs separated by ``os.pathsep``) is loaded the first
time any part of the engine asks for a method it does not know, or for the list of methods
— so ``den evaluate``, ``--resume``, ``den compare``, the dashboard and its training workers
all find the method too. Each spec is loaded once per process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from den_engine.core.config import ConfigBase
from den_engine.core.errors import ConfigError, DENError
from den_engine.methods import registry
from den_engine.methods.baselines import Baseline, BaselineConfig
from den_engine.methods.registry import METHODS, Method

PLUGINS_ENV = "DEN_PLUGINS"
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")
# the fields the trainer and the training stages read from every method's config
OPTIONAL_FIELDS = ("decay_samples", "conv_channels", "kernel_size")
"""Read with defaults where they are read: a config without the conv fields is fully connected."""
NEEDED_FIELDS = tuple(f.name for f in dataclasses.fields(BaselineConfig) if f.name not in OPTIONAL_FIELDS)

_USER_NAMES: set[str] = set()  # methods registered here (only these may be replaced)
_LOADED: dict[str, ModuleType | None] = {}  # spec -> module (None while it loads: no loop back into it)


def _check_routine(name: str, value, what: str, n_args: int | None = None) -> None:
    if value is None:
        raise ConfigError(name, f"is missing: give {what}")
    if not callable(value):
        raise ConfigError(name, f"must be a function ({what}), got {type(value).__name__}")
    if n_args is not None:
        try:
            inspect.signature(value).bind(*range(n_args))
        except TypeError:
            raise ConfigError(name, f"{getattr(value, '__name__', value)!s} cannot be called as {what}") from None
        except ValueError:
            pass  # a builtin without a signature: trust it


def _check_config_class(config_class) -> None:
    if config_class is None:
        raise ConfigError("config_class", "is missing: give a frozen dataclass of the method's settings, e.g. a "
                          "subclass of BaselineConfig (den_engine.methods.baselines) or DENConfig")  # fmt: skip
    if not (isinstance(config_class, type) and issubclass(config_class, ConfigBase)):
        raise ConfigError("config_class", f"must subclass BaselineConfig or DENConfig, got {config_class!r}")
    if not dataclasses.is_dataclass(config_class):
        raise ConfigError("config_class", f"{config_class.__name__} must be a @dataclass(frozen=True)")
    known = {f.name for f in dataclasses.fields(config_class)}
    missing = [f for f in NEEDED_FIELDS if f not in known]
    if missing:
        raise ConfigError("config_class", f"{config_class.__name__} lacks the fields {missing} the trainer reads; "
                          "subclass BaselineConfig or DENConfig")  # fmt: skip
    try:
        config_class()
    except (TypeError, ValueError) as exc:
        raise ConfigError("config_class", f"{config_class.__name__}() must work with its defaults ({exc})") from None


def register_method(
    name: str,
    train_task: Callable | None = None,
    config_class: type | None = None,
    description: str = "",
    *,
    prepare: Callable | None = None,
    count_parameters: Callable | None = None,
    replace: bool = False,
) -> Method:
    """Check a method of your own and add it to the registry, so ``Trainer(..., method=name)`` and ``den run`` use it.

    ``train_task(net, n_outputs, ctx) -> net`` learns task ``ctx.task`` on a copy of
    ``net`` (den_engine.core.den's contract); ``config_class`` holds its settings;
    ``prepare(config) -> config`` may force fields; ``count_parameters(net) -> (total,
    non-zero)`` replaces the default count in the records. ``replace=True`` lets a method of
    one's own be registered again (a notebook cell run twice); a built-in method never is.
    """
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError("name", f"{name!r} is not a method name: 1 to 40 of a-z, 0-9, '.', '_', '-' (it names "
                          "run folders), starting with a letter or digit")  # fmt: skip
    if name in METHODS and not (replace and name in _USER_NAMES):
        again = " (replace=True registers a method of your own again)" if name in _USER_NAMES else ""
        raise ConfigError("name", f"a method called {name!r} is already registered ({METHODS[name].description}); "
                          f"choose another name{again}")  # fmt: skip
    _check_routine("train_task", train_task, "a function train_task(net, n_outputs, ctx) -> net", 3)
    _check_config_class(config_class)
    if prepare is not None:
        _check_routine("prepare", prepare, "a function prepare(config) -> config", 1)
    if count_parameters is not None:
        _check_routine("count_parameters", count_parameters, "a function count_parameters(net) -> (total, nonzero)", 1)
    if not isinstance(description, str):
        raise ConfigError("description", f"must be a string, got {type(description).__name__}")
    doc = (inspect.getdoc(train_task) or "").strip().splitlines()
    description = description or (doc[0] if doc else f"{name}: a user method")
    extra = {"prepare": prepare} if prepare is not None else {}
    method = Baseline(name, description, config_class, train_task, count_parameters=count_parameters, **extra)
    registry.register(method)
    _USER_NAMES.add(name)
    return method


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def load_plugin(spec: str, flag: str = "--plugin") -> ModuleType | None:
    """Import a module by name, or run a ``.py`` file as a module, once; its ``register_method`` calls take effect."""
    spec = str(spec).strip()
    is_file = spec.endswith(".py") or os.sep in spec or (os.altsep or os.sep) in spec
    key = str(Path(spec).resolve()) if is_file else spec
    if key in _LOADED:
        return _LOADED[key]  # None while it loads (the plugin itself asked for a method): nothing to do
    if not spec:
        raise DENError(f"{flag}: empty plugin name; give a module name or a .py file")
    if is_file and not Path(key).is_file():
        raise DENError(f"{flag} {spec}: no such file")
    _LOADED[key] = None
    module_name = None
    try:
        if is_file:
            stem = re.sub(r"\W", "_", Path(key).stem)
            module_name = f"den_plugin_{stem}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
            found = importlib.util.spec_from_file_location(module_name, key)
            module = importlib.util.module_from_spec(found)
            sys.modules[module_name] = module  # dataclasses defined in the file look their module up here
            found.loader.exec_module(module)
        else:
            module = importlib.import_module(spec)
    except Exception as exc:
        del _LOADED[key]
        if module_name is not None:
            sys.modules.pop(module_name, None)
        if isinstance(exc, ModuleNotFoundError) and exc.name == spec.split(".")[0]:
            raise DENError(f"{flag} {spec}: no module of this name (give a .py file or a module on the path)") from None
        raise DENError(f"{flag} {spec}: cannot load it ({_one_line(exc)})") from exc
    _LOADED[key] = module
    return module


def load_env_plugins() -> None:
    """Load every plugin named in ``DEN_PLUGINS`` (once each)."""
    for spec in os.environ.get(PLUGINS_ENV, "").split(os.pathsep):
        if spec.strip():
            load_plugin(spec, PLUGINS_ENV)


registry.LOOKUP_HOOKS.append(load_env_plugins)
