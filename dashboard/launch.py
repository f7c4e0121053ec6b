"""``den-dashboard``: serve the app, from a checkout (``make app``) or from an installed package.

It runs ``streamlit run dashboard/app.py`` with the project's theme and server settings, read
from ``.streamlit/config.toml`` (the package carries a copy), so the app looks the same from
any working directory. Installed outside a checkout, the example runs come from the package
and new runs are saved under ``./runs`` of the directory it was started in (``DEN_RUNS_DIR``
and ``DEN_EXAMPLES_DIR`` still take precedence). ``--workers`` sets the training pool
(``DEN_WORKERS``): a number of local worker processes, or ``ray://HOST:PORT``, whose cluster
is joined once before the server starts so that a wrong address or a missing token is one
line here, not an error on the first page that trains.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # dashboard/
CHECKOUT = PACKAGE.parent
APP = PACKAGE / "app.py"
LIBRARIES = ("streamlit", "plotly", "networkx", "pandas")


def in_checkout() -> bool:
    """True when running from the repository (its example runs beside the package), not an install."""
    return (CHECKOUT / "assets" / "runs").is_dir() and (CHECKOUT / ".streamlit" / "config.toml").is_file()


def config_file() -> Path:
    """The Streamlit settings: the repository's file, else the copy inside the package."""
    return (
        CHECKOUT / ".streamlit" / "config.toml" if in_checkout() else PACKAGE / "shipped" / "streamlit" / "config.toml"
    )


def config_flags(path: Path) -> list[str]:
    """Every setting of a Streamlit config file as ``--section.option value`` flags."""
    with path.open("rb") as handle:
        config = tomllib.load(handle)
    flags = []
    for section, options in config.items():
        for option, value in options.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            flags += [f"--{section}.{option}", text]
    return flags


def environment(base: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, str]:
    """The app's environment: outside a checkout, the packaged examples and ./runs as the runs folder."""
    env = dict(os.environ if base is None else base)
    if not in_checkout():
        env.setdefault("DEN_EXAMPLES_DIR", str(PACKAGE / "shipped" / "runs"))
        env.setdefault("DEN_RUNS_DIR", str((cwd or Path.cwd()) / "runs"))
    return env


def command(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """The ``streamlit run`` command line; flags given by the user come last and win."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), *config_flags(config_file())]
    cmd += ["--server.port", str(args.port), "--server.address", args.address]
    if args.headless:
        cmd += ["--server.headless", "true"]
    return cmd + extra


def workers_setting(text: str) -> str:
    """The DEN_WORKERS value of ``--workers``: a number or a Ray cluster that answers; ValueError otherwise."""
    text = text.strip()
    if text.isdigit():
        return text
    if not text.startswith("ray://"):
        raise ValueError(f"--workers must be a number of worker processes or ray://HOST:PORT, got {text!r}")
    if importlib.util.find_spec("ray") is None:
        raise ValueError(f"--workers {text} needs Ray: pip install -r requirements-ray.txt")
    from den_engine.core.errors import DENError
    from den_engine.experiments.sweep_ray import probe_cluster

    address = text.removeprefix("ray://")
    try:
        probe_cluster(address, named=f"--workers {text}")
    except DENError as exc:
        message = str(exc)
        if not message.startswith("--workers"):  # the HOST:PORT check names its field
            message = f"--workers {text}: {message.partition(': ')[2] or message}"
        raise ValueError(message) from None
    return text


def missing_libraries() -> list[str]:
    """The dashboard's libraries that cannot be imported here."""
    return [name for name in LIBRARIES if importlib.util.find_spec(name) is None]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``den-dashboard``; replaces this process with the Streamlit server."""
    parser = argparse.ArgumentParser(
        prog="den-dashboard",
        description="Serve the DEN dashboard (Streamlit). Unknown flags go to `streamlit run`, e.g. "
        "--server.fileWatcherType none.",
    )
    parser.add_argument("--port", type=int, default=8501, help="port to serve on (default 8501)")
    parser.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine)")
    parser.add_argument("--headless", action="store_true", help="do not open a browser window")
    parser.add_argument(
        "--workers",
        help="the training pool (sets DEN_WORKERS): N local worker processes (0: a training thread in the server), "
        "or ray://HOST:PORT to train on a Ray cluster (default: one worker per core)",
    )
    args, extra = parser.parse_known_args(argv)
    missing = missing_libraries()
    if missing:
        print(
            f"error: the dashboard needs {', '.join(missing)}: pip install 'den-engine[dashboard]'",
            file=sys.stderr,
        )
        return 2
    if not 0 < args.port < 65536:
        print(f"error: --port must be 1 to 65535, got {args.port}", file=sys.stderr)
        return 2
    env = environment()
    if args.workers is not None:
        try:
            env["DEN_WORKERS"] = workers_setting(args.workers)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    cmd = command(args, extra)
    sys.stdout.flush()
    os.execve(sys.executable, cmd, env)  # the server takes over this process: signals reach it directly
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
