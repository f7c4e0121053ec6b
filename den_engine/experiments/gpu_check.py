"""The CUDA check, in one command, for a machine with a GPU: ``python -m den_engine.experiments.gpu_check``.

Steps (each a subprocess with its own time limit; its output goes to ``--out``):

1. ``cuda-tests``: the engine's tests with CUDA as the default device
   (``tests/engine/core/test_cuda.py`` runs only here; the rest pick CUDA through
   ``device="auto"`` where they do not pin the CPU);
2. ``bench``: ``python -m den_engine bench --device cuda`` (stage throughput, the paper
   preset's step time at tasks 2 and 10, a full fast run);
3. ``paper``: ``python -m den_engine run --benchmark mnist-one-vs-rest --tasks 10
   --preset paper --seed 0 --device cuda``, timed.

``summary.json`` in ``--out`` holds each step's exit status, wall time and last lines,
the GPU's name and the software versions. Without a GPU it stops at once with a clear
message: it proves nothing on a CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

STEPS = {
    "cuda-tests": ([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/engine/core"], 300),
    "bench": ([sys.executable, "-m", "den_engine", "bench", "--device", "cuda", "--parts", "throughput,paper,full"],
              300),
    "paper": (
        [sys.executable, "-m", "den_engine", "run", "--benchmark", "mnist-one-vs-rest", "--tasks", "10",
         "--preset", "paper", "--seed", "0", "--device", "cuda", "--quiet", "--out", "{out}/paper-run"],
        1200,
    ),
}  # fmt: skip


def run_step(name: str, out: Path) -> dict:
    """Run one step; its stdout and stderr go to ``out/<name>.log``."""
    command, limit = STEPS[name]
    command = [part.replace("{out}", str(out)) for part in command]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
        status, text = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        status, text = "timeout", f"{exc.stdout or ''}{exc.stderr or ''}"
    wall = time.perf_counter() - start
    (out / f"{name}.log").write_text(text if isinstance(text, str) else text.decode(errors="replace"))
    return {"command": " ".join(command), "status": status, "wall_s": round(wall, 1), "tail": text[-3000:]}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen steps; 0 when every one passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu-check", help="folder for the logs, the paper run and summary.json")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, from {','.join(STEPS)}")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: no usable CUDA device here; this check proves the CUDA path and needs a GPU", file=sys.stderr)
        return 2
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        print(f"error: unknown step(s) {unknown}; choose from {list(STEPS)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda}
    for name in steps:
        summary[name] = run_step(name, out)
        print(f"{name}: status {summary[name]['status']} in {summary[name]['wall_s']} s", flush=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0 if all(summary[s]["status"] == 0 for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
