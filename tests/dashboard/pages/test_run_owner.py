"""AppTest of the Runs page with a run another live process trains: shown running, never offered to resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from den_engine import Trainer, preset

ROOT = Path(__file__).resolve().parents[3]
APP = str(ROOT / "dashboard" / "app.py")
HOLD = (
    "import sys, time; sys.path.insert(0, sys.argv[1]);"
    "from dashboard.state.ownership import OwnerLock;"
    "lock = OwnerLock(sys.argv[2]); assert lock.acquire(); print('held', flush=True); time.sleep(120)"
)


def test_a_run_a_live_process_trains_is_not_offered_and_cannot_be_taken(monkeypatch, tmp_path):
    runs = tmp_path / "runs"
    monkeypatch.setenv("DEN_EXAMPLES_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("DEN_RUNS_DIR", str(runs))
    monkeypatch.setenv("DEN_SYNC_TRAINING", "1")
    run_dir = runs / "live"
    trainer = Trainer(preset("fast", hidden_sizes=(4,), iterations=5, head_iterations=2), "toy-2d", 3, run_dir)
    trainer.train_next()
    trainer.close()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(ROOT), str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"  # a `den run` of another process trains it now
        before = (run_dir / "run.json").read_bytes()
        at = AppTest.from_file(APP, default_timeout=60).run().switch_page("app_pages/runs.py").run()
        at.selectbox(key="run_pick").set_value(str(run_dir)).run()
        assert not at.exception and not at.error
        table = at.dataframe[0].value
        assert table.loc[table["name"] == "live", "status"].item() == "running"
        assert not [b for b in at.button if b.key == "resume_run"]  # nothing to take over
        at.session_state["view_path"] = str(run_dir)  # looking at it is fine ...
        at.switch_page("app_pages/train.py").run()
        assert not at.exception and "status running" in next(c.value for c in at.caption if "live" in c.value)
        assert (run_dir / "run.json").read_bytes() == before  # ... and writes nothing
        assert json.loads(before)["status"] == "running"
    finally:
        proc.kill()
        proc.wait(10)
    at.switch_page("app_pages/runs.py").run()  # its process ended: now it is offered
    assert [b for b in at.button if b.key == "resume_run"]
