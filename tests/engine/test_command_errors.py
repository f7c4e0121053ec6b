"""Bad output paths and Ray addresses for ``sweep``, ``compare``, ``export`` and ``report``; cost checks first.

Each ends with one ``error:`` line naming the flag and the path or address, exit status 2 and no
traceback; a wrong Ray address fails within a minute. A sweep or a comparison whose network
cannot fit is refused before it writes anything, and one estimated at over an hour says so
before it trains. The Ray cases run the real command in a
child process, since Ray writes its own logs straight to file descriptor 2.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from den_engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
RUN = str(ROOT / "assets" / "runs" / "toy2d-den-fast")
SWEEP = ["sweep", "--benchmark", "toy-2d", "--tasks", "1", "--grid", "loss_threshold=0.1", "--quiet"]
COMPARE = ["compare", "--benchmark", "toy-2d", "--tasks", "1", "--methods", "stl", "--quiet"]
ADDRESS_LIMIT_S = 60


def one_error(capsys, argv: list[str]) -> str:
    """Run ``den ARGV``; it must exit 2 with exactly one ``error:`` line on stderr. Returns that line."""
    status = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    return path


@pytest.mark.parametrize("command", [SWEEP, COMPARE, [*COMPARE, "--tune", "2"]], ids=["sweep", "compare", "tune"])
def test_an_output_folder_that_is_a_file_or_lies_under_one_is_named(command, a_file, capsys):
    line = one_error(capsys, [*command, "--out", str(a_file)])
    assert f"--out {a_file}: is a file" in line
    line = one_error(capsys, [*command, "--out", str(a_file / "runs")])
    assert f"--out {a_file / 'runs'}: cannot write here" in line and "is a file, not a folder" in line
    assert a_file.read_text() == "mine"


def test_an_empty_output_folder_is_named(capsys):
    assert "--out: the output folder is empty" in one_error(capsys, [*SWEEP, "--out", ""])


def test_export_to_a_file_or_under_one_is_named(a_file, capsys):
    for fmt in ("csv", "tensorboard"):
        assert f"--out {a_file}: is a file" in one_error(capsys, ["export", RUN, "--format", fmt, "-o", str(a_file)])
    line = one_error(capsys, ["export", RUN, "-o", str(a_file / "tables")])
    assert f"--out {a_file / 'tables'}: cannot write here" in line
    assert a_file.read_text() == "mine"


def test_report_to_a_folder_under_a_file_or_with_a_name_too_long_is_named(a_file, tmp_path, capsys):
    pytest.importorskip("plotly", reason="den report needs the dashboard extra")
    assert f"--out {tmp_path}: is a folder" in one_error(capsys, ["report", RUN, "-o", str(tmp_path)])
    target = a_file / "report.html"
    assert f"--out {target}: cannot write here" in one_error(capsys, ["report", RUN, "-o", str(target)])
    record = tmp_path / "run" / "run.json"
    record.parent.mkdir()
    record.write_text("{}")
    assert "is a run's record" in one_error(capsys, ["report", RUN, "-o", str(record)])
    assert record.read_text() == "{}"
    long_name = tmp_path / ("r" * 300 + ".html")
    assert "file name too long" in one_error(capsys, ["report", RUN, "-o", str(long_name)]).lower()
    assert a_file.read_text() == "mine"


def test_an_address_without_the_ray_backend_is_refused(tmp_path, capsys):
    line = one_error(capsys, [*SWEEP, "--address", "127.0.0.1:6379", "--out", str(tmp_path / "s")])
    assert "--address" in line and "--backend ray" in line
    assert not (tmp_path / "s").exists()  # refused before anything was written


def test_an_address_that_is_not_host_port_is_named(tmp_path, capsys):
    pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")
    argv = [*SWEEP, "--backend", "ray", "--address", "ray-head", "--out", str(tmp_path / "s")]
    assert "address: 'ray-head' is not a Ray cluster's HOST:PORT" in one_error(capsys, argv)


def _sweep_at(address: str, out: Path) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    argv = [sys.executable, "-m", "den_engine", *SWEEP, "--backend", "ray", "--address", address, "--out", str(out)]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=ADDRESS_LIMIT_S + 30)
    return done, time.monotonic() - start


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_ray_address_where_nothing_listens_fails_at_once_naming_it(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")
    address = f"127.0.0.1:{_free_port()}"
    done, seconds = _sweep_at(address, tmp_path / "s")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr[-3000:]
    assert done.stderr.startswith(f"error: --address {address}: no Ray cluster there") and seconds < ADDRESS_LIMIT_S


def test_a_ray_address_that_never_answers_fails_within_a_minute_naming_it(tmp_path):
    # a port that accepts connections and says nothing: Ray itself waits for ever there
    pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        done, seconds = _sweep_at(address, tmp_path / "s")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr[-3000:]
    assert done.stderr.startswith(f"error: --address {address}: no Ray cluster answered within")
    assert seconds < ADDRESS_LIMIT_S


def test_a_sweep_estimated_at_over_an_hour_says_so_and_one_that_cannot_fit_is_refused(tmp_path, capsys):
    from den_engine.cli import main

    grid = ["sweep", "--benchmark", "digits-one-vs-rest", "--tasks", "10", "--seeds", "0", "--jobs", "2"]
    blocked = tmp_path / "afile"
    blocked.write_text("x")  # the sweep is refused after the estimate: nothing trains
    assert main([*grid, "--grid", "iterations=100000,200000", "--out", str(blocked)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("note: this sweep of 2 runs may take about ") and " h " in err.splitlines()[0]
    assert main([*grid, "--grid", "expand_units=1000000,1", "--out", str(tmp_path / "big")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: expand_units: this network would need about") and not (tmp_path / "big").exists()


TOO_BIG = ["--benchmark", "toy-2d", "--tasks", "2", "--methods", "stl,den", "--set", "iterations=5", "--quiet"]


@pytest.mark.parametrize("tune", [[], ["--tune", "2"]], ids=["compare", "tune"])
def test_a_compare_whose_network_cannot_fit_is_refused_before_anything_is_written(tune, tmp_path, capsys):
    # stl comes first and fits: without the check up front it trains, then DEN's trainer refuses
    big = ["compare", *TOO_BIG, *tune, "--set", "expand_units=1000000"]
    line = one_error(capsys, [*big, "--out", str(tmp_path / "new")])
    assert line.startswith("error: expand_units: this network would need about") and "is free on the" in line
    assert not (tmp_path / "new").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("not a run")
    one_error(capsys, [*big, "--out", str(mine)])
    assert [p.name for p in mine.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("tune", [[], ["--tune", "2"]], ids=["compare", "tune"])
def test_a_compare_prints_its_estimate_before_the_first_run_trains_and_a_note_when_over_an_hour(
    tune, tmp_path, monkeypatch, capsys
):
    from den_engine.core.errors import DENError
    from den_engine.experiments import compare
    from den_engine.experiments import tune as tuning

    seen = []

    def first_run(*args, **kwargs):  # stands in for training: what was printed by then, and stop
        seen.append(capsys.readouterr().err.strip().splitlines())
        raise DENError("stopped before training")

    monkeypatch.setattr(compare, "run_one", first_run)
    monkeypatch.setattr(tuning, "run_one", first_run)
    seeds = ["--methods", "stl", "--seeds", "0,1"]
    long = ["compare", "--benchmark", "digits-one-vs-rest", "--tasks", "10", *seeds, "--set", "iterations=200000"]
    assert main([*long, *tune, "--out", str(tmp_path / "long")]) == 2
    runs = 3 if tune else 2  # two trials on seed 0 and seed 1's run, or one run per seed
    what = "this tuning and comparison" if tune else "this comparison"
    estimated, note = seen[0]
    assert estimated.startswith("estimated ") and " h " in estimated and f"for {runs} runs" in estimated
    assert note.startswith(f"note: {what} of {runs} runs may take about {estimated.split()[1]} h ")
    capsys.readouterr()
    short = ["compare", "--benchmark", "toy-2d", "--tasks", "1", *seeds, "--set", "iterations=5"]
    assert main([*short, *tune, "--out", str(tmp_path / "short")]) == 2
    assert len(seen[1]) == 1 and seen[1][0].startswith("estimated ") and f"for {runs} runs" in seen[1][0]
