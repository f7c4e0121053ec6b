"""Owner locks: a run is 'running' only while a live process holds its lock, however that process ended."""

from __future__ import annotations

import subprocess
import sys

from dashboard.state.ownership import OwnerLock, is_owned, run_state


def test_a_held_lock_means_running_and_a_released_one_interrupted(tmp_path):
    run = tmp_path / "run"
    lock = OwnerLock(run)
    assert lock.acquire()
    assert not OwnerLock(run).acquire()  # a second trainer is refused, even in the same process
    assert run_state("running", 2, run) == "running"
    lock.release()
    assert run_state("running", 2, run) == "interrupted after task 2"
    assert run_state("running", 0, run) == "interrupted before task 1"
    assert run_state("complete", 3, run) == "complete"


def test_a_run_without_an_owner_file_keeps_its_recorded_status(tmp_path):
    assert run_state("running", 1, tmp_path / "cli-run") == "running"


def test_the_lock_dies_with_its_process(tmp_path):
    run = tmp_path / "sweep" / "run-a"
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]);"
        "from dashboard.state.ownership import OwnerLock;"
        "lock = OwnerLock(sys.argv[2]); assert lock.acquire(); print('held', flush=True); time.sleep(60)"
    )
    import dashboard

    root = str(__import__("pathlib").Path(dashboard.__file__).parents[1])
    proc = subprocess.Popen([sys.executable, "-c", code, root, str(run.parent)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert is_owned(run) and run_state("running", 1, run) == "running"  # the sweep folder's lock counts
    finally:
        proc.kill()
        proc.wait(10)
    assert not is_owned(run) and run_state("running", 1, run) == "interrupted after task 1"
