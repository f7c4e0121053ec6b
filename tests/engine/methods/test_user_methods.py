"""A method of one's own: docs/python-api.md's worked example runs through `den run --plugin` and the dashboard.

The example is taken from the docs as written. The runs go through fresh interpreters, so the
method registered there never enters this process's registry (other tests list every method).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from den_engine import ConfigError, DENConfig, load_run, register_method
from den_engine.cli import main
from den_engine.methods import registry
from den_engine.methods.baselines import BaselineConfig, FinetuneConfig

ROOT = Path(__file__).resolve().parents[3]


def _doc_example() -> str:
    text = (ROOT / "docs" / "python-api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (block,) = [b for b in blocks if 'register_method("last-layer"' in b]
    return block


def _den(*args: str, env: dict | None = None, cwd: Path) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=300)


def test_the_docs_method_runs_through_den_run_and_the_dashboard_lists_it(tmp_path):
    (tmp_path / "last_layer.py").write_text(_doc_example())
    run = ["-m", "den_engine", "run", "--plugin", "last_layer.py", "--method", "last-layer", "--benchmark", "toy-2d"]
    done = _den(*run, "--tasks", "2", "--set", "iterations=40", "--out", "runs/last", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = load_run(tmp_path / "runs" / "last")
    assert record.data["method"] == "last-layer" and record.data["status"] == "complete"
    assert record.config["top_layers"] == 1 and record.config["iterations"] == 40
    after_1, after_2 = record.weights(1), record.weights(2)
    assert torch.equal(after_1["hidden.1.weight"], after_2["hidden.1.weight"])  # below the top: frozen after task 1
    assert not torch.equal(after_1["hidden.2.weight"], after_2["hidden.2.weight"])  # the top layer: retrained
    assert torch.equal(after_1["head.1.weight"], after_2["head.1.weight"])  # an older head: untouched
    child = (  # a fresh interpreter with DEN_PLUGINS: the Train page lists the method, then `den evaluate` finds it
        "import json; from dashboard.state.run_settings import METHODS; from den_engine.cli import main; "
        "code = main(['evaluate', 'runs/last']); print(json.dumps({'code': code, 'methods': list(METHODS)}))"
    )
    checked = _den("-c", child, env={"DEN_PLUGINS": str(tmp_path / "last_layer.py")}, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    evaluated, _, listed = checked.stdout.strip().rpartition("\n")
    assert json.loads(evaluated)["agrees_with_record"]
    names = json.loads(listed)["methods"]
    assert json.loads(listed)["code"] == 0 and names[-1] == "last-layer"
    assert names[:3] == ["den", "den-expand", "den-selective"]
    script = _den("last_layer.py", cwd=tmp_path)  # the example as a script: two toy tasks in memory
    assert script.returncode == 0, script.stderr
    assert len(json.loads(script.stdout.strip().splitlines()[-1])) == 2  # the R matrix after two tasks


@pytest.fixture
def scratch_registry(monkeypatch):
    """A private copy of the registry: what a test registers is gone after it."""
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))
    import den_engine.methods.user as user

    monkeypatch.setattr(user, "METHODS", registry.METHODS)
    monkeypatch.setattr(user, "_USER_NAMES", set())
    return registry.METHODS


def _train(net, n_outputs, ctx):
    """A method for the tests."""
    return net


def test_register_method_adds_a_checked_method(scratch_registry):
    method = register_method("mine", _train, FinetuneConfig)
    assert scratch_registry["mine"] is method and method.description == "A method for the tests."
    assert registry.get_method("mine").config_class is FinetuneConfig and "mine" in registry.method_names()
    with pytest.raises(ConfigError, match="'mine' is already registered .*replace=True registers"):
        register_method("mine", _train, DENConfig)
    again = register_method("mine", _train, DENConfig, replace=True)  # a notebook cell run twice
    assert registry.get_method("mine") is again and again.config_class is DENConfig
    with pytest.raises(ConfigError, match="'ewc' is already registered"):
        register_method("ewc", _train, DENConfig, replace=True)  # a built-in method is never replaced
    assert registry.get_method("ewc").train_task is not _train


class NotAConfig:
    hidden_sizes = (8,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(name="den"), "name: a method called 'den' is already registered"),
        (dict(name="My Method"), "name: 'My Method' is not a method name"),
        (dict(name="../x"), "name: '../x' is not a method name"),
        (dict(train_task=None), "train_task: is missing"),
        (dict(train_task="train"), "train_task: must be a function"),
        (dict(train_task=lambda net: net), "train_task: <lambda> cannot be called as a function train_task(net, "),
        (dict(config_class=None), "config_class: is missing"),
        (dict(config_class=NotAConfig), "config_class: must subclass BaselineConfig or DENConfig"),
        (dict(prepare=42), "prepare: must be a function"),
        (dict(count_parameters=lambda: 0), "count_parameters: <lambda> cannot be called"),
    ],
)
def test_register_method_refuses_bad_input_naming_it(scratch_registry, kwargs, message):
    args = {"name": "mine", "train_task": _train, "config_class": DENConfig, **kwargs}
    with pytest.raises(ConfigError) as err:
        register_method(**args)
    assert str(err.value).startswith(message)
    assert "mine" not in scratch_registry


def test_a_config_class_without_the_trainers_fields_is_refused(scratch_registry):
    from dataclasses import dataclass

    from den_engine.core.config import ConfigBase

    @dataclass(frozen=True)
    class Bare(ConfigBase):
        seed: int = 0

    with pytest.raises(ConfigError, match=r"config_class: Bare lacks the fields \['hidden_sizes', 'learning_rate'"):
        register_method("mine", _train, Bare)
    assert issubclass(FinetuneConfig, BaselineConfig)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "error: --plugin {path}: no such file"),
        ("def broken(:\n", "error: --plugin {path}: cannot load it (SyntaxError: "),
        (
            "import den_engine\nfrom den_engine import DENConfig\n"
            "den_engine.register_method('den', lambda net, n, ctx: net, DENConfig)\n",
            "error: --plugin {path}: cannot load it (ConfigError: name: a method called 'den' is already registered",
        ),
    ],
)
def test_a_plugin_that_cannot_load_is_one_error_line(tmp_path, capsys, content, message):
    path = tmp_path / "plugin.py"
    if content is not None:
        path.write_text(content)
    out = tmp_path / "run"
    assert main(["run", "--plugin", str(path), "--benchmark", "toy-2d", "--tasks", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message.format(path=path)), err
    assert not out.exists()


def test_an_unknown_method_names_the_way_to_load_ones_own(tmp_path, capsys):
    assert main(["run", "--method", "no-such-method", "--benchmark", "toy-2d", "--out", str(tmp_path / "r")]) == 2
    assert "--plugin FILE.py or DEN_PLUGINS" in capsys.readouterr().err
