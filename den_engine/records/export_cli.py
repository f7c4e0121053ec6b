"""The ``export`` and ``report`` commands: a run's tables and event files, and its HTML report.

``den report`` is drawn by the dashboard (plotly figures), which the engine must never import.
It is found at run time instead, by module name: ``REPORT_WRITER`` names a module with a
``write_report(run_dir, out, max_edges)`` function (dashboard.export.report in this package).
Installed without the ``dashboard`` extra, the command says what to install.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from den_engine.core.errors import DENError
from den_engine.data.sources import check_recorded_file
from den_engine.records.export import FORMATS, export_run
from den_engine.records.outputs import output_dir, output_file
from den_engine.records.store import load_run

REPORT_WRITER = "dashboard.export.report"
DASHBOARD_LIBRARIES = ("dashboard", "plotly", "networkx", "pandas")
"""Top-level modules whose absence means the dashboard extra is missing."""


def load_report_writer(module_name: str = REPORT_WRITER):
    """The ``write_report`` function of the report module; a DENError naming the extra when it cannot load."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in DASHBOARD_LIBRARIES:
            raise
        raise DENError(
            f"den report draws with the dashboard, which is not installed ({missing} is missing): "
            "pip install 'den-engine[dashboard]'"
        ) from None
    return module.write_report


def cmd_export(args: argparse.Namespace) -> int:
    """``den export RUN --format F [-o DIR]``: print every file written."""
    run = load_run(args.run_dir)
    check_recorded_file(run.data["benchmark"], args.data)  # a run on a file: the same file, before any writing
    out = output_dir(args.out if args.out is not None else f"{run.path.name}-{args.format}", "--out")
    try:
        written = export_run(run, args.format, out)
    except OSError as exc:  # the folder was writable a moment ago: a full disk, a file removed meanwhile
        raise DENError(f"--out {out}: could not write the export ({exc.strerror or exc})") from None
    for path in written:
        print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``den report RUN [-o FILE]``: write the self-contained HTML report."""
    if args.max_edges < 0:
        raise DENError(f"--max-edges must be >= 0, got {args.max_edges}")
    write_report = load_report_writer()
    run_dir = Path(args.run_dir).resolve()
    run_dir = run_dir.parent if run_dir.name == "run.json" else run_dir
    check_recorded_file(load_run(run_dir).data["benchmark"], args.data)  # as in cmd_export
    out = output_file(args.out if args.out is not None else f"{run_dir.name}.html", "--out")
    try:
        written = write_report(args.run_dir, out, max_edges=args.max_edges)
    except OSError as exc:  # as in cmd_export
        raise DENError(f"--out {out}: could not write the report ({exc.strerror or exc})") from None
    print(written)
    return 0


def add_parsers(sub) -> None:
    """Register ``export`` and ``report`` on the CLI's subparsers."""
    export = sub.add_parser(
        "export",
        help="a run's tables as CSV or Parquet, or its TensorBoard event file",
        description="Writes matrix, decisions, units and tasks tables (CSV or Parquet), or one TensorBoard event "
        "file, into DIR. matrix: one row per (trained task, evaluated task, split, metric); decisions: one row per "
        "decision with the numbers behind it; units: the unit registry after every task; tasks: one row per task.",
    )
    export.add_argument("run_dir", metavar="RUN", help="a run directory (or its run.json)")
    export.add_argument("--format", choices=FORMATS, default="csv", help="csv (default), parquet or tensorboard")
    export.add_argument("-o", "--out", metavar="DIR", help="output directory (default: ./<run name>-<format>)")
    export.add_argument("--data", metavar="FILE.npz", help="a run trained on a file: the same file, when it is no "
                        "longer at the recorded path (a file whose SHA-256 differs is refused)")  # fmt: skip
    export.set_defaults(func=cmd_export)
    report = sub.add_parser(
        "report",
        help="one self-contained HTML file: the network at every task on a slider, the charts, the decision log",
        description="Writes one HTML file that opens offline from disk (plotly.js inline, nothing fetched). "
        "Needs the dashboard extra: pip install 'den-engine[dashboard]'.",
    )
    report.add_argument("run_dir", metavar="RUN", help="a run directory (or its run.json)")
    report.add_argument("-o", "--out", metavar="FILE", help="the HTML file (default: ./<run name>.html)")
    report.add_argument("--max-edges", type=int, default=300, help="strongest edges drawn per network (0: none)")
    report.add_argument("--data", metavar="FILE.npz", help="a run trained on a file: the same file, when it is no "
                        "longer at the recorded path (a file whose SHA-256 differs is refused)")  # fmt: skip
    report.set_defaults(func=cmd_report)
