"""The command line: run, evaluate, bad input ends with one clear line and status 2."""

import json

from den_engine.cli import main


def test_run_then_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        ["run", "--benchmark", "toy-2d", "--tasks", "2", "--out", str(out), "--quiet", "--device", "cpu",
         "--set", "hidden_sizes=8,8", "--set", "iterations=10", "--set", "head_iterations=5"]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "final: average AUROC" in printed and "run saved to" in printed
    assert main(["evaluate", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["agrees_with_record"] is True and report["tasks_evaluated"] == 2


def test_bad_set_value_names_the_field(capsys):
    assert main(["run", "--set", "split_threshold=-3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: split_threshold") and "Traceback" not in err


def test_malformed_set_and_unknown_field(capsys):
    assert main(["run", "--set", "loss_threshold"]) == 2
    assert "name=value" in capsys.readouterr().err
    assert main(["run", "--set", "colour=red"]) == 2
    assert "colour" in capsys.readouterr().err


def test_too_many_tasks_is_a_clear_error(capsys):
    assert main(["run", "--benchmark", "toy-2d", "--tasks", "99"]) == 2
    assert "n_tasks" in capsys.readouterr().err


def test_evaluate_of_a_missing_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "no such run directory" in capsys.readouterr().err
