"""The front a folder of runs reached, and its hypervolume: how a search and a grid are compared.

``python -m den_engine.experiments.search_front DIR [DIR ...]`` reads every finished run record
directly under each folder (a sweep's runs or a search's trials alike; runs stopped early or
unfinished count for nothing) and prints, per folder, how many runs finished, the Pareto front
of (mean validation AUROC after the last task, parameters as a fraction of STL) and the
hypervolume it dominates above the reference point (chance, 0.5 AUROC; STL's size, 1.0), then
the same on the test split for information. The search chose nothing on the test split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from den_engine.core.errors import RunFileError
from den_engine.core.runner import final_metrics
from den_engine.experiments.search_rule import hypervolume, pareto_front, record_points
from den_engine.records.store import RUN_FILE, load_run

REFERENCE = (0.5, 1.0)
"""Chance AUROC and STL's size: a point must beat both to add to the hypervolume."""


def folder_points(folder: str | Path) -> list[dict]:
    """One entry per finished run under ``folder``: its name, knobs, validation and test points."""
    found = []
    for run_json in sorted(Path(folder).glob(f"*/{RUN_FILE}")):
        try:
            data = load_run(run_json.parent).data
        except RunFileError:
            continue  # not a run of ours: nothing to count
        if data["status"] != "complete":
            continue
        val = record_points(data)[-1]
        final = final_metrics(data)
        test = (final["average_auroc"], final["params"]["relative_to_stl"])
        knobs = {k: data["config"][k] for k in ("loss_threshold", "split_threshold", "expand_units")}
        found.append({"run": run_json.parent.name, "knobs": knobs, "val": val, "test": test})
    return found


def summary(folder: str | Path, reference: tuple[float, float] = REFERENCE) -> dict:
    """Finished runs, the validation front (its runs) and the hypervolume on validation and test."""
    runs = folder_points(folder)
    front = [runs[i] for i in pareto_front([r["val"] for r in runs])]
    return {
        "finished": len(runs),
        "front": front,
        "hypervolume_val": hypervolume([r["val"] for r in runs], reference),
        "hypervolume_test": hypervolume([r["test"] for r in runs], reference),
    }


def main(argv: list[str] | None = None) -> int:
    """Print each folder's front and hypervolumes."""
    parser = argparse.ArgumentParser(prog="python -m den_engine.experiments.search_front", description=__doc__)
    parser.add_argument("folders", nargs="+", metavar="DIR")
    args = parser.parse_args(argv)
    for folder in args.folders:
        if not Path(folder).is_dir():
            print(f"error: {folder}: no such folder", file=sys.stderr)
            return 2
        info = summary(folder)
        print(f"{folder}: {info['finished']} finished runs; hypervolume val {info['hypervolume_val']:.5f}, "
              f"test {info['hypervolume_test']:.5f} (reference: AUROC {REFERENCE[0]}, STL size)")  # fmt: skip
        for run in sorted(info["front"], key=lambda r: r["val"][1]):
            knobs = ", ".join(f"{k}={v:g}" for k, v in run["knobs"].items())
            print(f"  front: val AUROC {run['val'][0]:.4f} at {run['val'][1]:.1%} of STL  ({knobs})  {run['run']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
