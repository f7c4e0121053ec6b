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
    assert "--tasks: toy-2d has 1 to 6 tasks, got 99" in capsys.readouterr().err


def test_evaluate_of_a_missing_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_bad_output_paths_and_flags_end_in_one_line_naming_them(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    cases = [
        (["--out", str(tmp_path / "afile" / "run")], "is a file, not a folder"),
        (["--out", str(tmp_path / "afile")], "exists and is not a folder"),
        (["--out", "/proc/den-run"], "/proc/den-run"),
        (["--set", "hidden_sizes=32,,16"], "hidden_sizes: '32,,16' has an empty entry"),
        (["--threads", "0"], "--threads: must be at least 1"),
        (["--tasks", "0"], "--tasks: must be at least 1"),
    ]
    for flags, words in cases:
        assert main(["run", "--benchmark", "toy-2d", "--quiet", *flags]) == 2, flags
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and words in err, (flags, err)


def test_a_network_too_large_for_the_machine_is_refused_before_anything_is_written(tmp_path, capsys):
    for flag, field in (("expand_units=1000000", "expand_units"), ("hidden_sizes=100000x100000", "hidden_sizes")):
        out = tmp_path / field
        assert main(["run", "--tasks", "2", "--out", str(out), "--set", flag]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {field}: this network would need about") and "is free on the CPU" in err
        assert not out.exists()


def test_a_run_estimated_at_over_an_hour_says_so_first(tmp_path, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("not a run")  # the run is refused after the estimate: nothing trains
    assert main(["run", "--tasks", "10", "--set", "iterations=200000", "--out", str(busy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("note: this run may take about ") and " h " in err.splitlines()[0]
    assert main(["run", "--benchmark", "toy-2d", "--tasks", "1", "--out", str(busy)]) == 2
    assert "note:" not in capsys.readouterr().err  # a short run gets no note
