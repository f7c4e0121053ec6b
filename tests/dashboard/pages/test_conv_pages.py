"""AppTest of a conv run on every page: Train, Inspect (with a filter explained), Runs, Compare."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from den_engine import Trainer, preset


def runs_box(at: AppTest):
    """The Compare page's run picker (its key changes with its options: found by its label)."""
    return next(box for box in at.multiselect if box.label.startswith("Runs to compare"))


APP = str(Path(__file__).resolve().parents[3] / "dashboard" / "app.py")
TIMEOUT = 90


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory) -> Path:
    """A tiny conv run: digits 8×8, conv 3-4 filters of 3×3, 8 dense units, 2 tasks."""
    folder = tmp_path_factory.mktemp("conv") / "digits-conv"
    config = preset(
        "fast", conv_channels=(3, 4), kernel_size=3, hidden_sizes=(8,), iterations=12, head_iterations=6,
        loss_threshold=0.0, split_threshold=1e-4, device="cpu",
    )  # fmt: skip
    Trainer(config, "digits-one-vs-rest", 2, out_dir=folder).run()
    return folder


@pytest.fixture
def env(monkeypatch, tmp_path, conv_run) -> Path:
    monkeypatch.setenv("DEN_EXAMPLES_DIR", str(conv_run.parent))
    monkeypatch.setenv("DEN_RUNS_DIR", str(tmp_path / "runs"))
    return conv_run


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _network(at: AppTest, key: str):
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)
    import json

    return json.loads(chart.proto.spec)


def test_inspect_draws_conv_layers_and_explains_a_filter(env):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["view_path"] = str(env)
    at.run()
    _ok(at)
    at.switch_page("app_pages/inspector.py").run()
    _ok(at)
    spec = _network(at, "inspect_network")
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert any(t.startswith("conv 1 · 3×3") for t in titles) and any(t.startswith("conv 2 · 3×3") for t in titles)
    kernels = [t for t in spec["data"] if (t.get("meta") or {}).get("kind") == "kernels"]
    assert kernels and kernels[0]["meta"]["k"] == 3
    uid = kernels[0]["meta"]["ids"][0]
    at.session_state["inspect_network"] = {"selection": {"points": [{"customdata": uid}]}}
    at.run()
    _ok(at)
    assert any(f"Explain filter {uid}" in s.value for s in at.subheader)
    charts = [c for c in at.get("plotly_chart") if c.proto.id and f"filter_{uid}" in c.proto.id]
    assert charts
    import json

    kinds = [(t.get("meta") or {}).get("kind") for t in json.loads(charts[0].proto.spec)["data"]]
    assert "kernel" in kinds and "activation" in kinds  # the map was computed from the weights and test images


def test_train_runs_and_compare_pages_load_a_conv_run(env, tmp_path):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["view_path"] = str(env)
    at.run()
    _ok(at)
    assert len(at.get("plotly_chart")) >= 5
    at.switch_page("app_pages/runs.py").run()
    _ok(at)
    at.button(key="load_run").click().run()
    _ok(at)
    at.switch_page("app_pages/compare.py").run()
    runs_box(at).set_value([str(env), str(env)]).run()
    _ok(at)
