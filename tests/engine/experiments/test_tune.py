"""Fair tuning: the same trials per method, each method's own knobs, chosen on validation AUROC."""

import json
import math

import numpy as np
import pytest
from compare_folders import one

from den_engine.cli import main
from den_engine.core.errors import ConfigError
from den_engine.experiments.tune import SPACES, trials, tuned_compare
from den_engine.methods import get_method
from den_engine.records.store import load_run

SETS = {"hidden_sizes": "8,8", "iterations": "10", "head_iterations": "5", "batch_size": "64", "device": "cpu"}


def test_every_method_gets_the_same_number_of_trials_over_its_own_knobs():
    for method, space in SPACES.items():
        fields = get_method(method).config_class.__dataclass_fields__
        assert set(space) <= set(fields)  # knobs the method really has
        drawn = trials(method, 6, seed=0)
        assert len(drawn) == 6 and drawn[0] == {}  # the defaults are one of the trials
        for values in drawn[1:]:
            assert set(values) == set(space)
            for name, value in values.items():
                low, high, _ = space[name]
                assert low * 0.999 <= value <= high * 1.001
        assert trials(method, 6, seed=0) == drawn and trials(method, 6, seed=1) != drawn
    assert set(SPACES["den"]) == {"l1_strength", "group_lasso", "loss_threshold", "split_threshold", "expand_units"}
    assert set(SPACES["ewc"]) == {"ewc_lambda"} and set(SPACES["l2"]) == {"l2_transfer"}


def test_trials_cover_each_knobs_range_one_stratum_each():
    low, high, _ = SPACES["ewc"]["ewc_lambda"]
    values = sorted(v["ewc_lambda"] for v in trials("ewc", 9, seed=3)[1:])
    strata = np.floor(8 * (np.log(values) - math.log(low)) / (math.log(high) - math.log(low)))
    assert list(strata) == list(range(8))  # 8 trials, one in each eighth of the log range


def test_a_bad_trial_count_or_method_is_named():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError) as info:
            trials("den", bad)
        assert info.value.field == "tune"
    with pytest.raises(ConfigError):
        trials("nope", 3)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune")
    (out / "l2-seed0").mkdir()  # a folder of the name the winner was once copied to, replacing it
    (out / "l2-seed0" / "notes.txt").write_text("mine")
    rows, trial_rows = tuned_compare("toy-2d", 2, ["den-selective", "l2"], [0, 1], 3, "fast", out, dict(SETS))
    return out, rows, trial_rows


def test_the_chosen_trial_has_the_best_validation_auroc_and_runs_on_every_seed(tuned):
    out, rows, trial_rows = tuned
    expected = [(m, k) for m in ("den-selective", "l2") for k in range(3)]
    assert [(r["method"], r["trial"]) for r in trial_rows] == expected
    chosen = json.loads((out / "tune.json").read_text())["chosen"]
    for method in ("den-selective", "l2"):
        mine = [r for r in trial_rows if r["method"] == method]
        vals = [load_run(one(out / "tune", f"{method}-trial{r['trial']}")).data for r in mine]
        val_auroc = [np.mean(v["tasks"][-1]["metrics"]["val_auroc"]) for v in vals]
        assert [r["val_auroc"] for r in mine] == pytest.approx(val_auroc)  # the validation split, not test
        best = mine[int(np.argmax(val_auroc))]
        assert best["chosen"] and sum(r["chosen"] for r in mine) == 1
        assert chosen[method] == best["values"]
        for seed in (0, 1):
            config = load_run(one(out, f"{method}-seed{seed}")).config
            assert all(config[k] == v for k, v in best["values"].items())
        assert (
            load_run(one(out, f"{method}-seed0")).data["tasks"] == vals[best["trial"]]["tasks"]
        )  # reused, not retrained
    assert [r["method"] for r in rows] == ["den-selective", "l2"] and all(len(r["seeds"]) == 2 for r in rows)
    assert (out / "l2-seed0" / "notes.txt").read_text() == "mine"  # nothing there is replaced
    table = (out / "tune.md").read_text()
    assert table.count("| l2 |") == 3 and "defaults" in table and "**" in table
    assert "3 trials per method, chosen on validation AUROC of seed 0" in (out / "summary.md").read_text()


def test_cli_tune_prints_the_trials_and_the_table(tuned, capsys):
    out, _, _ = tuned
    sets = [a for k, v in SETS.items() for a in ("--set", f"{k}={v}")]
    args = ["compare", "--benchmark", "toy-2d", "--tasks", "2", "--methods", "den-selective,l2", "--seeds", "0,1"]
    assert main([*args, "--tune", "3", "--out", str(out), "--quiet", *sets]) == 0
    captured = capsys.readouterr()
    assert "Tuning on validation AUROC" in captured.out and "| l2 | 2 |" in captured.out
    assert ": reused," in captured.err and ": trained," not in captured.err  # every run already there
    # 3 trials a method and seed 1's run of the winner, known before tuning since every trial is there
    assert captured.err.splitlines()[0] == "estimated 0 s: all 8 runs are finished already and reused"
    assert main([*args, "--tune", "0", "--out", str(out), "--quiet", *sets]) == 2
    assert "tune" in capsys.readouterr().err
