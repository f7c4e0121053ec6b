"""Algorithm 4's order: the default (the authors' code) unchanged, the paper's order really run."""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from den_engine.core import den
from den_engine.core.config import DENConfig, preset
from den_engine.core.den import TaskContext, train_task
from den_engine.core.errors import ConfigError
from den_engine.core.network import ExpandableNet
from den_engine.core.runner import run_id
from den_engine.core.threads import torch_threads
from den_engine.methods import get_method

ASSETS = Path(__file__).resolve().parents[3] / "assets" / "runs"


def make_task(seed: int, n=96, d=5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, 1, generator=g)
    return x, (x @ w > 0).float()


def small_config(**overrides):
    values = dict(hidden_sizes=(12, 8), iterations=40, head_iterations=30, batch_size=32, seed=0, split_threshold=0.02)
    return preset("fast", **{**values, **overrides})


def run_tasks(config, n_tasks=4, on_task=None):
    """Tasks 1..n on the tiny data; ``on_task(task, net, events)`` after each."""
    net = ExpandableNet(5, config.hidden_sizes, torch.Generator().manual_seed(0))
    with torch_threads(1):
        for task in range(1, n_tasks + 1):
            x, y = make_task(task)
            ctx = TaskContext(task, x, y, config, torch.Generator().manual_seed(100 + task))
            net = train_task(net, 1, ctx)
            if on_task is not None:
                on_task(task, net, ctx.events)
    return net


def fingerprint(config):
    """Per task: a digest of every decision (units, selection, expansion, splits, budgets) and the weights' L1 size."""
    out = []

    def record(task, net, events):
        structure = {
            "units": net.registry(),
            "selected": [e["selected"] for e in events if e["type"] == "selection"],
            "expansion": [[e["kept"], e["pruned"]] for e in events if e["type"] == "expansion"],
            "splits": [[(p["parent"], p["duplicate"]) for p in e["pairs"]] for e in events if e["type"] == "split"],
            "stages": [(e["stage"], e["iterations"]) for e in events if e["type"] == "stage_end"],
        }
        digest = hashlib.sha256(json.dumps(structure, sort_keys=True).encode()).hexdigest()[:16]
        out.append((digest, sum(float(t.abs().sum()) for t in net.state_tensors().values())))

    run_tasks(config, on_task=record)
    return out


# Made by this same ``fingerprint`` on the engine of commit fd6d91a, before split_order
# existed (`git archive fd6d91a den_engine`, then this function with that tree on
# PYTHONPATH); 2, 33 and 24 units split at tasks 2-4, so the split path is exercised.
BEFORE_THE_SETTING = [
    ("6a64baa4e6a0e3b7", 26.7376),
    ("9e7d98f8a8817bc9", 67.9272),
    ("0210ab3ac9a8dd2b", 214.3961),
    ("d6ed9b6ae0a6cc07", 370.234),
]


def test_the_default_order_is_the_code_before_the_setting():
    assert DENConfig().split_order == "reference"
    got = fingerprint(small_config())
    assert [d for d, _ in got] == [d for d, _ in BEFORE_THE_SETTING]
    assert [s for _, s in got] == pytest.approx([s for _, s in BEFORE_THE_SETTING], rel=1e-5)


def test_the_paper_order_trains_eq6_before_measuring_drift(monkeypatch):
    config = small_config(split_order="paper", iterations=41)
    after_stage: dict[str, list[torch.Tensor]] = {}
    drifts: list[list[dict]] = []
    train_stage, measure_drift = den.train_stage, den.measure_drift

    def spy_stage(stage, net, *args, **kwargs):
        result = train_stage(stage, net, *args, **kwargs)
        after_stage[stage] = [w.clone() for w in net.weights]
        return result

    def spy_drift(net, prev, task):
        assert "pre_split_retraining" in after_stage, "drift measured before the first Eq. 6"
        trained = after_stage.pop("pre_split_retraining")
        assert all(torch.equal(a, b) for a, b in zip(trained, net.weights, strict=True))
        drift = measure_drift(net, prev, task)
        # Oracle on the raw tensors: each unit's distance from t-1 after the first Eq. 6.
        for layer, record in enumerate(drift):
            old = prev.weights[layer]
            for uid, value in zip(record["ids"], record["values"], strict=True):
                i = net.locate(uid)[1]
                rho = torch.linalg.vector_norm(trained[layer][i, : old.shape[1]] - old[i])
                assert value == pytest.approx(float(rho), abs=1e-6)
        drifts.append(drift)
        return drift

    monkeypatch.setattr(den, "train_stage", spy_stage)
    monkeypatch.setattr(den, "measure_drift", spy_drift)
    events_of = {}
    run_tasks(config, n_tasks=3, on_task=lambda task, net, events: events_of.__setitem__(task, events))

    assert len(drifts) == 2  # tasks 2 and 3
    for task in (2, 3):
        kinds = [e.get("stage") if e["type"] == "stage_end" else e["type"] for e in events_of[task]]
        assert kinds.index("pre_split_retraining") < kinds.index("drift") < kinds.index("split_retraining")
        eq6 = {e["stage"]: e["iterations"] for e in events_of[task] if e["type"] == "stage_end"}
        assert (eq6["pre_split_retraining"], eq6["split_retraining"]) == (20, 21)  # one Eq. 6 budget, shared
    assert any(v > config.split_threshold for drift in drifts for r in drift for v in r["values"])


def test_the_paper_order_is_not_ignored():
    reference, paper = fingerprint(small_config()), fingerprint(small_config(split_order="paper"))
    assert reference[0] == paper[0]  # task 1 has no split stage
    assert all(r[0] != p[0] for r, p in zip(reference[1:], paper[1:], strict=True))


def test_the_default_order_runs_no_eq6_before_the_split(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the default order must not retrain before measuring drift")

    monkeypatch.setattr(den, "retrain_before_split", refuse)
    stages = []
    run_tasks(small_config(), n_tasks=2, on_task=lambda t, n, ev: stages.extend(e.get("stage") for e in ev))
    assert "pre_split_retraining" not in stages and "split_retraining" in stages


@pytest.mark.parametrize("bad", ["Paper", "code", "", None, 1])
def test_an_unknown_split_order_names_the_field(bad):
    with pytest.raises(ConfigError) as info:
        DENConfig(split_order=bad)
    assert info.value.field == "split_order" and "reference" in str(info.value)


def test_run_ids_of_the_default_order_are_the_ones_recorded_before_it():
    records = sorted(ASSETS.rglob("run.json"))
    assert records, "the shipped example runs are missing"
    for path in records:
        data = json.loads(path.read_text())
        method = get_method(data["method"])
        config = method.prepare(method.config_class.from_dict(data["config"]))
        assert "split_order" not in data["config"]
        assert recorded_id(method.name, config) == data["run_id"], path
        paper = config.replace(split_order="paper")
        assert recorded_id(method.name, paper) != data["run_id"]
        bench = data["benchmark"]
        assert run_id(method.name, config, bench["name"], bench["n_tasks"]) != data["run_id"]  # ids now name both
        assert DENConfig.from_dict(paper.to_dict()) == paper


def recorded_id(method: str, config) -> str:
    """The run id as the shipped records were given it (method and config; benchmark and tasks came later)."""
    return hashlib.sha256(f"{method}:{config.run_id()}".encode()).hexdigest()[:10]
