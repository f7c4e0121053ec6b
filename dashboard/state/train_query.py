"""The Train page's settings from a URL query string (pure; no Streamlit).

Every parameter is checked on its own; one that cannot be used is ignored with its reason,
so a shared link never silently trains something else than it says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from den_engine.core.config import DEVICES, PRESETS, DENConfig, parse_value
from den_engine.core.errors import ConfigError
from den_engine.data.benchmarks import BENCHMARKS

ALIASES = {"tasks": "n_tasks"}


def _text(raw) -> str:
    return str(raw[-1] if isinstance(raw, list) and raw else raw).strip()


def _choice(value: str, options: Iterable[str]) -> str:
    options = list(options)
    if value not in options:
        raise ValueError(f"choose one of {', '.join(options)}")
    return value


def _config_field(field: str, value: str) -> str:
    parsed = parse_value(field, value)  # ConfigError when it is not a value of the field's type
    DENConfig(**{field: parsed})  # ConfigError when it is out of range
    return value


def parse(query: Mapping[str, str | list[str]], fields: Iterable[str], methods: Iterable[str]):
    """(settings, warnings): usable values by control name (``n_tasks``, ``seed``, config fields...)."""
    fields = set(fields) | {"hidden_sizes"}
    values: dict[str, object] = {}
    warnings: list[str] = []
    texts = {key: _text(raw) for key, raw in query.items()}
    benchmark = texts.get("benchmark")
    order = sorted(texts, key=lambda k: k != "benchmark")  # the benchmark first: the task count depends on it
    for key in order:
        text, name = texts[key], ALIASES.get(key, key)
        try:
            if name == "benchmark":
                values[name] = _choice(text, BENCHMARKS)
            elif name == "preset":
                values[name] = _choice(text, PRESETS)
            elif name == "method":
                values[name] = _choice(text, methods)
            elif name == "device":
                values[name] = _choice(text, DEVICES)
            elif name == "n_tasks":
                bench = values.get("benchmark") or "digits-one-vs-rest"
                top = BENCHMARKS[bench].max_tasks
                if not text.isdigit() or not 1 <= int(text) <= top:
                    raise ValueError(f"{bench} has 1 to {top} tasks")
                values[name] = int(text)
            elif name == "seed":
                if not text.isdigit():
                    raise ValueError("use a whole number >= 0")
                values[name] = int(text)
            elif name in fields:
                values[name] = _config_field(name, text)
            else:
                raise ValueError("not a setting of this page")
        except ConfigError as exc:
            warnings.append(f"{key}={text!r} ignored: {str(exc).removeprefix(f'{name}: ')}")
        except ValueError as exc:
            warnings.append(f"{key}={text!r} ignored: {exc}")
    if benchmark is not None and "benchmark" not in values:
        values.pop("n_tasks", None)  # checked against a benchmark the page will not use
    return values, warnings


def unused(query: Mapping[str, str | list[str]]) -> list[str]:
    """Warnings for a page that takes no parameters: each one is named as ignored."""
    return [f"{key}={_text(raw)!r} ignored: this page takes no settings from its address" for key, raw in query.items()]
