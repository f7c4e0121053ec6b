"""evaluate recomputes parameter counts by the current rule and compares them only with records made by it."""

import json
import shutil
from pathlib import Path

import pytest

from den_engine.core.config import preset
from den_engine.core.runner import Trainer
from den_engine.records.evaluate import evaluate_run
from den_engine.records.store import load_run

ASSETS = Path(__file__).resolve().parents[3] / "assets" / "runs"


@pytest.fixture(scope="module")
def split_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "a"
    config = preset(
        "fast",
        hidden_sizes=(16, 8),
        iterations=30,
        head_iterations=20,
        batch_size=64,
        device="cpu",
        split_threshold=0.0,
    )
    Trainer(config, "digits-one-vs-rest", 3, out).run()
    assert any(u["retired"] for u in load_run(out).tasks[-1]["units"]), "the run must split to test anything"
    return out


def _edit(run_dir: Path, change) -> None:
    path = run_dir / "run.json"
    data = json.loads(path.read_text())
    change(data["tasks"][-1]["params"])
    path.write_text(json.dumps(data))


def test_a_new_record_says_its_counting_and_evaluate_agrees(split_run):
    params = load_run(split_run).tasks[-1]["params"]
    assert params["counting"] == "usable"
    report = evaluate_run(split_run)
    assert report["agrees_with_record"] and report["params"]["agrees"] is True
    assert report["params"]["recomputed"] == params
    net = load_run(split_run).network(3)
    assert params["total"] < net.parameter_count(usable=False)[0]  # the split left entries no task reads


def test_a_record_under_the_usable_rule_with_wrong_counts_disagrees(split_run, tmp_path):
    copy = tmp_path / "tampered"
    shutil.copytree(split_run, copy)
    _edit(copy, lambda p: p.update(total=p["total"] + 1))
    report = evaluate_run(copy)
    assert report["params"]["agrees"] is False and report["agrees_with_record"] is False


def test_an_older_record_keeps_its_stored_counts_and_still_agrees(split_run, tmp_path):
    copy = tmp_path / "older"
    shutil.copytree(split_run, copy)
    stored = load_run(copy).network(3).parameter_count(usable=False)
    _edit(copy, lambda p: (p.pop("counting"), p.update(total=stored[0], nonzero=stored[1])))
    report = evaluate_run(copy)
    assert report["agrees_with_record"] and report["params"]["agrees"] is None
    assert report["params"]["recorded_counting"] == "stored"
    assert report["params"]["recorded"]["total"] == stored[0] > report["params"]["recomputed"]["total"]


@pytest.mark.parametrize("name", ["toy2d-den-fast", "digits-den-fast"])
def test_the_shipped_runs_still_agree(name):
    report = evaluate_run(ASSETS / name)
    assert report["agrees_with_record"] and report["params"]["recorded_counting"] == "stored"
    recorded, recomputed = report["params"]["recorded"], report["params"]["recomputed"]
    assert recomputed["total"] < recorded["total"]  # both runs split: the old rule counted unused entries
