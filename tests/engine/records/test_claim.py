"""Run folders: nothing replaces or deletes a run it did not create, and a live trainer's folder is its own."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from den_engine.cli import main
from den_engine.core.config import preset
from den_engine.core.runner import Trainer
from den_engine.records.claim import RunFolderError, claim_run_folder
from den_engine.records.owner import OWNER_FILE, run_state
from den_engine.records.store import load_run

ROOT = Path(__file__).resolve().parents[3]
TINY = dict(hidden_sizes=(6, 6), iterations=8, head_iterations=4, expand_units=2, device="cpu")
SETS = ["--set", "hidden_sizes=6,6", "--set", "iterations=8", "--set", "head_iterations=4", "--device", "cpu"]


def files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` with its bytes (the lock file aside: its text names the last holder)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != OWNER_FILE}  # fmt: skip


def train(folder: Path, tasks: int, **changes) -> None:
    with Trainer(preset("fast", **{**TINY, **changes}), "toy-2d", tasks, folder) as trainer:
        trainer.run()


@pytest.fixture
def finished(tmp_path) -> Path:
    folder = tmp_path / "run"
    train(folder, 3)
    return folder


def test_a_new_run_into_a_folder_holding_a_run_is_refused_and_the_run_is_untouched(finished, capsys):
    before = files(finished)
    with pytest.raises(RunFolderError, match="already holds a complete toy-2d run .* 3 of 3 tasks"):
        Trainer(preset("fast", **TINY), "toy-2d", 2, finished)
    assert main(["run", "--benchmark", "toy-2d", "--tasks", "2", "--out", str(finished), "--quiet", *SETS]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {finished}: already holds") and "--overwrite" in err
    assert files(finished) == before


def test_overwrite_replaces_the_folder_whole(finished):
    assert (finished / "weights" / "task-003.safetensors").is_file()
    (finished / "notes.txt").write_text("a file of the old run")
    with Trainer(preset("fast", **TINY), "toy-2d", 2, finished, overwrite=True) as trainer:
        trainer.run()
    assert sorted(files(finished)) == ["run.json", "weights/task-001.safetensors", "weights/task-002.safetensors"]
    assert load_run(finished).data["benchmark"]["n_tasks"] == 2


def test_a_folder_that_is_not_a_run_is_refused_even_with_overwrite(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("not a run")
    for overwrite in (False, True):
        with pytest.raises(RunFolderError, match="not empty and holds no run .thesis.tex"):
            Trainer(preset("fast", **TINY), "toy-2d", 2, folder, overwrite=overwrite)
    assert main(["run", "--benchmark", "toy-2d", "--out", str(folder), "--overwrite", "--quiet", *SETS]) == 2
    assert "holds no run" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex"]  # not even a lock file was left


def test_an_empty_folder_and_a_new_one_are_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    train(tmp_path / "empty", 1)
    train(tmp_path / "new" / "deeper", 1)
    assert load_run(tmp_path / "empty").data["status"] == load_run(tmp_path / "new" / "deeper").data["status"]


def test_two_writers_in_one_process_cannot_share_a_folder(tmp_path):
    first = Trainer(preset("fast", **TINY), "toy-2d", 2, tmp_path / "run")
    for mode in ("resume", "overwrite"):
        with pytest.raises(RunFolderError, match="being trained by process"):
            claim_run_folder(tmp_path / "run", mode)
    with pytest.raises(RunFolderError, match="being trained by process"):
        Trainer.resume(tmp_path / "run")
    first.train_next()
    first.close()
    with Trainer.resume(tmp_path / "run") as again:  # once let go, it can be resumed
        again.run()
    assert load_run(tmp_path / "run").data["status"] == "complete"


HOLDER = """
import sys
from den_engine.records.claim import claim_run_folder
owner = claim_run_folder(sys.argv[1], "resume")
print("held", flush=True)
sys.stdin.read()
"""


def test_a_folder_held_by_a_live_process_is_refused_by_every_writer(finished, capsys):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(finished)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        before = files(finished)
        for mode in ("new", "resume", "overwrite"):
            with pytest.raises(RunFolderError, match=f"being trained by process {holder.pid}"):
                claim_run_folder(finished, mode)
        assert main(["run", "--resume", str(finished), "--quiet"]) == 2
        assert main(["run", "--benchmark", "toy-2d", "--out", str(finished), "--overwrite", "--quiet", *SETS]) == 2
        err = capsys.readouterr().err
        assert err.count(f"being trained by process {holder.pid}") == 2 and "Traceback" not in err
        assert files(finished) == before
        assert run_state("running", 3, finished) == "running"  # alive: not "interrupted"
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def test_default_run_folders_differ_by_tasks_benchmark_method_and_seed(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["run", "--quiet", *SETS]
    toy = ["--benchmark", "toy-2d", "--tasks", "1"]
    for extra in (
        toy,
        [*toy[:3], "2"],
        [*toy, "--seed", "1"],
        [*toy, "--method", "den-expand"],
        ["--benchmark", "permuted-digits", "--tasks", "1"],
        ["--benchmark", "digits-one-vs-rest", "--tasks", "1"],
    ):
        assert main([*base, *extra]) == 0
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 6
    assert len({load_run(f).data["run_id"] for f in folders}) == 6
    capsys.readouterr()
    assert main([*base, "--benchmark", "toy-2d", "--tasks", "2"]) == 2  # the same run again: refused, not replaced
    assert "already holds a complete toy-2d run" in capsys.readouterr().err


def test_resume_extends_a_finished_run_to_the_same_record_as_a_longer_run(tmp_path, capsys):
    short, long = tmp_path / "short", tmp_path / "long"
    train(short, 2)
    train(long, 3)
    assert main(["run", "--resume", str(short), "--tasks", "3", "--quiet"]) == 0
    a, b = load_run(short), load_run(long)
    assert a.data["status"] == "complete" and a.data["benchmark"] == b.data["benchmark"]
    assert [t["metrics"] for t in a.tasks] == [t["metrics"] for t in b.tasks]
    assert a.data["final"]["auroc_matrix"] == b.data["final"]["auroc_matrix"]
    assert main(["run", "--resume", str(short), "--tasks", "2", "--quiet"]) == 2
    assert "has learned 3 tasks" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra", [["--set", "loss_threshold=1"], ["--benchmark", "toy-2d"], ["--seed", "3"], ["--overwrite"]]
)
def test_resume_refuses_flags_it_would_ignore(finished, capsys, extra):
    before = files(finished)
    assert main(["run", "--resume", str(finished), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {extra[0]}") and "resumed run keeps its own settings" in err
    assert files(finished) == before


def _start(folder: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "den_engine", "run", "--benchmark", "toy-2d", "--tasks", "3", "--quiet",
           "--out", str(folder), "--set", "iterations=200000", "--set", "hidden_sizes=6,6"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # A shell starts a background job with SIGINT ignored, and an ignored signal stays ignored across exec:
    # under `make test &` Python would then install no Ctrl-C handler and the run would train on. A user's
    # Ctrl-C reaches a foreground `den run` with the default disposition; give the child that.
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip


def _wait_for_record(folder: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not (folder / "run.json").is_file():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the run never wrote its record"
        time.sleep(0.05)  # poll interval of a bounded wait


def test_ctrl_c_records_interrupted_and_a_killed_run_reads_interrupted_at_once(tmp_path):
    stopped, killed = tmp_path / "stopped", tmp_path / "killed"
    procs = {stopped: _start(stopped), killed: _start(killed)}
    for folder, proc in procs.items():
        _wait_for_record(folder, proc)
    procs[stopped].send_signal(signal.SIGINT)
    procs[killed].kill()
    assert procs[stopped].wait(timeout=120) == 130 and procs[killed].wait(timeout=120) == -signal.SIGKILL
    assert "interrupted; finished tasks are kept" in procs[stopped].stderr.read()
    assert load_run(stopped).data["status"] == "interrupted"
    assert load_run(killed).data["status"] == "running"  # what the dead process left ...
    assert run_state("running", 0, killed) == "interrupted before task 1"  # ... reads as what it is
    assert run_state("interrupted", 0, stopped) == "interrupted before task 1"
    with Trainer.resume(killed) as trainer:  # and it can be resumed
        assert trainer.record["status"] == "running" and trainer.tasks_done == 0


def test_a_run_that_never_expands_or_splits_resumes(tmp_path):
    folder = tmp_path / "never"
    with Trainer(preset("fast", **TINY, loss_threshold=float("inf"), split_threshold=float("inf")), "toy-2d", 2,
                 folder) as trainer:  # fmt: skip
        trainer.train_next()
    assert load_run(folder).config["loss_threshold"] is None  # JSON has no infinity
    with Trainer.resume(folder) as again:
        assert again.config.loss_threshold == again.config.split_threshold == float("inf")
        again.run()
    assert load_run(folder).data["status"] == "complete"


def test_a_folder_holding_only_a_half_written_record_of_ours_counts_as_empty(tmp_path):
    """A sweep killed while writing a run's first record left `.run.json.<random>.tmp`: started again, it trains."""
    folder = tmp_path / "killed-while-writing"
    folder.mkdir()
    (folder / ".run.json.qafvyb6h.tmp").write_text('{"format": "den-ru')  # cut short by SIGKILL
    with Trainer(preset("fast", **TINY), "toy-2d", 1, folder) as trainer:
        trainer.train_next()
    assert load_run(folder).data["status"] == "complete"
    other = tmp_path / "someone-elses"
    other.mkdir()
    (other / ".run.json.qafvyb6h.tmp").write_text("")
    (other / "notes.tmp").write_text("mine")  # not ours: the folder is not empty
    with pytest.raises(RunFolderError, match=r"holds no run \(notes.tmp\)"):
        claim_run_folder(other, "new")
