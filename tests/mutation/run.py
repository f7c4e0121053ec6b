"""Mutation check: every wrong variant of the engine must make the fast tests fail.

For each variant in ``variants.py``: copy the engine and its tests to a temporary folder,
apply the variant's text replacement, run the variant's tests with ``pytest -x`` and record
whether they failed. The unchanged tree must pass the same tests first. Prints one table;
exits 1 when a variant survives (its tests pass) or errs (it no longer applies, or pytest
could not even collect), so CI turns red on tests that cannot catch a broken DEN.

    python tests/mutation/run.py [--jobs 2] [--only NAME ...] [--list]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from variants import VARIANTS, Variant  # noqa: E402

COPIED = (
    "den_engine",
    "tests/engine/core",
    "pyproject.toml",
    "tests/engine/records/test_modules.py",
    "tests/engine/records/test_live.py",
    "tests/engine/methods/test_baselines_conv.py",
    "assets/runs/toy2d-den-fast",
    "assets/runs/digits-den-fast",
)
TIMEOUT_S = 600  # per pytest run; a quiet machine needs seconds, a crowded one minutes


def _copy_tree(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for rel in COPIED:
        src, out = ROOT / rel, dest / rel
        if src.is_dir():
            shutil.copytree(src, out, ignore=ignore)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out)


def apply(variant: Variant, root: Path) -> None:
    """Apply the variant's replacements under ``root``; refuse a missing or ambiguous text."""
    for edit in variant.edits:
        rel, old, new = edit if len(edit) == 3 else (variant.path, *edit)
        path = root / rel
        text = path.read_text()
        count = text.count(old)
        if count != 1:
            raise ValueError(f"{variant.name}: expected the text once in {rel}, found it {count} times")
        path.write_text(text.replace(old, new))


def _pytest(root: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not browser", *tests]
    try:
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {TIMEOUT_S} s"
    lines = (done.stdout + done.stderr).strip().splitlines()
    failed = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]  # pytest's -ra summary
    return done.returncode, (failed or lines or [""])[0]


def check(variant: Variant | None, tests: tuple[str, ...]) -> dict:
    """Run ``tests`` on a fresh copy, with ``variant`` applied unless None."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="den-mutant-") as tmp:
        root = Path(tmp)
        _copy_tree(root)
        try:
            if variant is not None:
                apply(variant, root)
        except ValueError as error:
            return {"result": "ERROR", "detail": str(error), "seconds": 0.0}
        code, detail = _pytest(root, tests)
    if variant is None:
        result = "pass" if code == 0 else "ERROR"
    else:  # pytest exits 1 when tests failed: the variant was caught
        result = "caught" if code == 1 else ("SURVIVED" if code == 0 else "ERROR")
    return {"result": result, "detail": detail, "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    """Run the check and print the table; the exit status says whether every variant was caught."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="variants checked at once (default 2)")
    parser.add_argument("--only", nargs="*", default=None, help="names of the variants to check")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    parser.add_argument("--why", action="store_true", help="also show the first failing test of each variant")
    args = parser.parse_args(argv)
    chosen = [v for v in VARIANTS if args.only is None or v.name in args.only]
    if args.list or not chosen:
        for v in VARIANTS:
            print(f"{v.name:34} {v.path:30} {v.description}")
        return 0 if args.list else 2
    start = time.perf_counter()
    every_test = tuple(dict.fromkeys(t for v in chosen for t in v.tests))
    baseline = check(None, every_test)
    if baseline["result"] != "pass":
        print(f"the unchanged tree fails the chosen tests: {baseline['detail']}")
        return 1
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda v: check(v, v.tests), chosen))
    width = max(len(v.name) for v in chosen)
    print(f"{'variant':{width}}  {'result':8}  {'s':>5}  file / what it breaks")
    for v, r in zip(chosen, results, strict=True):
        print(f"{v.name:{width}}  {r['result']:8}  {r['seconds']:5.1f}  {Path(v.path).name}: {v.description}")
        if r["result"] != "caught" or args.why:
            print(f"{'':{width}}  -> {r['detail'][:150]}")
    caught = sum(r["result"] == "caught" for r in results)
    total = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime  # what the check costs whatever the machine's load
    print(f"{caught} of {len(chosen)} variants caught; unchanged tree passes; {total:.0f} s wall, {cpu:.0f} s CPU")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
