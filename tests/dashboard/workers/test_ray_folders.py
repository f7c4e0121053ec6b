"""The Ray pool's bookkeeping that needs no cluster: scratch copies of run folders, the pool's size."""

from __future__ import annotations

import pytest

from dashboard.workers.ray_slots import slots_wanted, sync_folder
from den_engine.core.errors import DENError
from den_engine.experiments.sweep_ray import read_files


def test_a_scratch_copy_is_made_equal_writing_only_what_differs(tmp_path):
    folder = tmp_path / "run"
    sync_folder(folder, {"run.json": b"{1}", "weights/task-001.safetensors": b"w1", "gone.txt": b"x"})
    kept = (folder / "weights" / "task-001.safetensors").stat().st_mtime_ns
    (folder / ".owner.lock").write_text("held")  # the trainer's own lock is not part of the run
    files = {"run.json": b"{2}", "weights/task-001.safetensors": b"w1", "weights/task-002.safetensors": b"w2"}
    sync_folder(folder, files)
    assert read_files(folder) == files  # changed, added and removed files all followed
    assert (folder / "weights" / "task-001.safetensors").stat().st_mtime_ns == kept  # unchanged: not rewritten
    assert (folder / ".owner.lock").is_file()


def test_the_pool_has_a_slot_per_cluster_cpu_unless_den_ray_slots_says(monkeypatch):
    monkeypatch.delenv("DEN_RAY_SLOTS", raising=False)
    assert slots_wanted(6.0) == 6 and slots_wanted(0.0) == 1
    monkeypatch.setenv("DEN_RAY_SLOTS", "3")
    assert slots_wanted(6.0) == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("DEN_RAY_SLOTS", bad)
        with pytest.raises(DENError, match=f"DEN_RAY_SLOTS must be a whole number of at least 1, got '{bad}'"):
            slots_wanted(6.0)
