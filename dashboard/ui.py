"""Controls and shared page pieces: ``*_ui()`` functions draw widgets and return their values.

Control values use ``cfg_*`` keys with ``persist_state="session"`` so that they survive a
visit to another page (by default Streamlit drops the state of widgets it did not draw).
"""

from __future__ import annotations

import functools
import logging
import uuid
from pathlib import Path

import streamlit as st
import torch

from dashboard.state import liveness, loaders, train_query, user_data
from dashboard.state.ownership import is_resumable, live_state
from dashboard.state.session import (
    DEFAULT_EXAMPLE,
    METHODS,
    TrainingSession,
    examples_dir,
    preset_config,
    resolve_runs_dir,
)
from den_engine.core.config import PRESET_DESCRIPTIONS, PRESETS, field_help
from den_engine.data.benchmarks import BENCHMARKS
from den_engine.methods import get_method

HYPERPARAMETERS = {
    "loss_threshold": "τ — loss threshold (expand above it)",
    "split_threshold": "σ — split threshold (drift above it)",
    "expand_units": "k — units added per layer",
    "l1_strength": "μ — L1 strength",
    "group_lasso": "γ — group lasso",
    "l2_transfer": "λ — L2 transfer",
    "iterations": "Iterations per stage",
    "head_iterations": "Head iterations (Eq. 3)",
    "learning_rate": "Learning rate",
}
MORE_HYPERPARAMETERS = {
    "batch_size": "Batch size",
    "weight_decay": "Weight decay",
    "lr_decay": "Learning-rate decay per epoch",
    "decay_samples": "Samples per decay (0 = one epoch)",
    "max_splits_per_layer": "Max splits per layer (None = no cap)",
}
ALL_FIELDS = {**HYPERPARAMETERS, **MORE_HYPERPARAMETERS}
USER_ERRORS = loaders.USER_ERRORS
log = logging.getLogger("dashboard")


# --- shared state --------------------------------------------------------------------


def get_session() -> TrainingSession:
    """This browser session's trainer (created on first use, never shared)."""
    if "den_session" not in st.session_state:
        st.session_state["den_session"] = TrainingSession()
    session = st.session_state["den_session"]
    if session.connected is None:  # its jobs stop once this tab has gone
        session.connected = liveness.connection_check()
    return session


def default_example() -> str | None:
    """The shipped run the first screen shows: digits-den-fast if present, else any shipped run."""
    root = examples_dir()
    preferred = root / DEFAULT_EXAMPLE
    if loaders.run_mtime(preferred):
        return str(preferred)
    rows = loaders.list_runs(str(root), loaders.folder_mtime(root)) if root.is_dir() else []
    return next((r["path"] for r in rows if r.get("benchmark")), None)


def current_run_dir() -> str | None:
    """The run every view shows: one loaded explicitly, else the live run, else the default example."""
    view = st.session_state.get("view_path")
    if view is not None:
        return view or None  # "" = nothing (after Reset)
    status = get_session().status()
    if status.run_dir and status.tasks_done > 0:
        return status.run_dir
    return default_example()


def current_run_ui() -> tuple[str | None, dict | None]:
    """Load the current run's record; a broken run file becomes an st.error, not a traceback."""
    run_dir = current_run_dir()
    status = get_session().status()
    if status.busy and status.tasks_done == 0 and run_dir != status.run_dir:
        st.info(
            f"A new run is in progress: task 1 is training. Until it is learned, the views show "
            f"{Path(run_dir).name if run_dir else 'nothing'}."
        )
    if run_dir is None:
        return None, None
    try:
        return run_dir, loaders.load_record(run_dir, loaders.run_mtime(run_dir))
    except USER_ERRORS as exc:
        user_error_ui(exc, "Could not read the run")
        return None, None


def shown_state(run_dir: str, record: dict) -> str:
    """The run's status as it is now: 'running' only while someone trains it."""
    return own_state(run_dir, live_state(record.get("status", "?"), len(record.get("tasks") or []), run_dir))


def own_state(run_dir: str, state: str) -> str:
    """This session's own run between two clicks reads 'paused', not 'interrupted' (its lock is free then)."""
    own = get_session().status().run_dir
    if not is_resumable(state) or not own or Path(own).resolve() != Path(run_dir).resolve():
        return state
    return state.replace("interrupted", "paused", 1) + " (your run: Next task goes on)"


def runs_folder() -> Path:
    """The runs folder chosen on the Runs page; a ValueError naming it (and the page) when it is unusable."""
    try:
        return resolve_runs_dir(st.session_state.get("cfg_runs_folder", ""))
    except ValueError as exc:
        raise ValueError(f"{exc} (the runs folder is set on the Runs page)") from None


# --- errors --------------------------------------------------------------------------


def user_error_ui(exc: BaseException, prefix: str = "") -> None:
    """A user's mistake (or a broken file) as one message on the page, and a line in the server log."""
    log.warning("%s%s: %s", f"{prefix}: " if prefix else "", type(exc).__name__, exc)
    st.error(f"{prefix}: {exc}" if prefix else str(exc))


def unexpected_error_ui(exc: BaseException) -> None:
    """A friendly message for a bug; the traceback goes to the server log under a short reference."""
    ref = uuid.uuid4().hex[:8]
    log.error("unexpected error (reference %s)", ref, exc_info=exc)
    st.error(
        f"Something went wrong: {type(exc).__name__}: {exc}. Your finished tasks are safe on disk. "
        f"The server log has the details under reference {ref}."
    )


def guarded(func):
    """Decorator for fragments: user errors become st.error, bugs a friendly message."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            user_error_ui(exc)
        except Exception as exc:  # noqa: BLE001 - shown to the user instead of a traceback
            unexpected_error_ui(exc)

    return wrapper


# --- run settings --------------------------------------------------------------------


def _fmt(value) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return "None" if value is None else str(value)


def _set_preset_fields(name: str, benchmark: str | None) -> None:
    """Every hyperparameter and the hidden sizes from the preset's values for this benchmark."""
    config = preset_config(name, benchmark)
    for field in ALL_FIELDS:
        st.session_state[f"cfg_{field}"] = _fmt(getattr(config, field))
    st.session_state["cfg_hidden_sizes"] = _fmt(tuple(config.hidden_sizes))


def _on_preset_change() -> None:
    name = st.session_state["cfg_benchmark"]
    _set_preset_fields(st.session_state["cfg_preset"], name if name in BENCHMARKS else None)


def _data_folder() -> Path | None:
    """The runs folder whose .npz files the picker offers (None when it is unusable: the page says why)."""
    try:
        return runs_folder()
    except ValueError:
        return None


def _on_benchmark_change() -> None:
    name = st.session_state["cfg_benchmark"]
    try:
        info = user_data.choice_info(name, _data_folder())
    except USER_ERRORS:
        return  # a bad data file: the settings check names it, and the fields keep their values
    # a preset means the same thing everywhere; a data file has no tuned values of its own
    _set_preset_fields(st.session_state["cfg_preset"], name if name in BENCHMARKS else None)
    st.session_state["cfg_n_tasks"] = info.default_tasks


def _shown_data_file(bench: dict) -> str | None:
    """The file name of the shown run's data when that file lies in the runs folder (the picker offers it)."""
    source, folder = bench.get("data") or {}, _data_folder()
    if source.get("kind") != "npz" or folder is None or source.get("file") not in user_data.data_files(folder):
        return None
    return source["file"] if Path(source.get("path", "")).parent == folder else None


def init_controls(record: dict | None, query: dict[str, str]) -> None:
    """Seed the controls once per session: the shown run's benchmark with its preset's values, then the URL.

    Only the benchmark and the preset's name come from the shown run, never its own
    values, so a run started with nothing touched is exactly the preset.
    """
    if st.session_state.get("_controls_seeded"):
        return
    st.session_state["_controls_seeded"] = True
    wanted, warnings = train_query.parse(query, ALL_FIELDS, METHODS)
    st.session_state["url_warnings"] = warnings
    for text in warnings:
        log.info("Train page address: %s", text)
    bench = (record or {}).get("benchmark", {})
    name = wanted.get("benchmark") or _shown_data_file(bench) or bench.get("name") or "digits-one-vs-rest"
    name = name if name in BENCHMARKS or user_data.is_data_choice(name) else "digits-one-vs-rest"
    preset_name = wanted.get("preset") or str((record or {}).get("preset", "fast")).removesuffix("-custom")
    preset_name = preset_name if preset_name in PRESETS else "fast"
    try:
        default_tasks = user_data.choice_info(name, _data_folder()).default_tasks
    except USER_ERRORS:  # the shown run's file is bad now: start from the digits
        name, default_tasks = "digits-one-vs-rest", BENCHMARKS["digits-one-vs-rest"].default_tasks
    st.session_state["cfg_benchmark"] = name
    st.session_state["cfg_preset"] = preset_name
    _set_preset_fields(preset_name, name if name in BENCHMARKS else None)
    st.session_state["cfg_n_tasks"] = default_tasks
    st.session_state["cfg_seed"] = 0
    st.session_state["cfg_method"] = METHODS[0]
    st.session_state["cfg_device"] = "auto"
    for field, value in wanted.items():  # a shared link wins over everything else
        if field not in ("benchmark", "preset"):
            st.session_state[f"cfg_{field}"] = value


def query_warnings_ui(warnings: list[str], what: str = "From the address") -> None:
    """One message listing every ignored URL parameter with its reason."""
    if warnings:
        st.warning(f"{what}: " + "; ".join(warnings) + ".")


def _device_label(name: str) -> str:
    has_cuda = torch.cuda.is_available()
    if name == "auto":
        return f"auto ({'CUDA GPU' if has_cuda else 'CPU: no GPU here'})"
    if name == "cuda" and not has_cuda:
        return "cuda (not available here)"
    return name


def settings_ui() -> dict:
    """Draw the run settings in the sidebar; return the raw values (not yet validated)."""
    help_text = field_help()
    sb = st.sidebar
    sb.header("Run settings")
    folder = _data_folder()
    options = list(BENCHMARKS) + (user_data.data_files(folder) if folder is not None else [])
    if st.session_state.get("cfg_benchmark") not in options:  # a data file removed (or another folder chosen)
        st.session_state["cfg_benchmark"] = "digits-one-vs-rest"
    benchmark = sb.selectbox(
        "Benchmark", options, key="cfg_benchmark", persist_state="session", on_change=_on_benchmark_change,
        format_func=user_data.choice_label,
        help="The task sequence. toy-2d and the 8×8 digits train in about a second per task. A .npz file in the "
        "runs folder is offered as 'your data' (format: docs/cli.md, \"Your data\").",
    )  # fmt: skip
    try:
        info = user_data.choice_info(benchmark, folder)
        sb.caption(info.description)
        most = f"1 to {info.max_tasks}"
    except USER_ERRORS:  # a bad data file: the settings check above the network names what is wrong
        info, most = None, "the file's tasks"
    n_tasks = sb.number_input(  # no bounds here: a bad count is named by the page, never silently replaced
        f"Number of tasks ({most})", step=1, key="cfg_n_tasks", persist_state="session",
        help=f"{info.name} has {info.max_tasks} tasks." if info else None,
    )  # fmt: skip
    method = sb.selectbox(
        "Method",
        METHODS,
        key="cfg_method",
        persist_state="session",
        help="\n\n".join(f"**{m}**: {get_method(m).description}" for m in METHODS)
        + "\n\nBaselines use the budget settings and ignore DEN's own thresholds.",
    )
    preset_name = sb.selectbox(
        "Preset", list(PRESETS), key="cfg_preset", persist_state="session", on_change=_on_preset_change
    )
    sb.caption(PRESET_DESCRIPTIONS.get(preset_name, ""))
    hidden = sb.text_input(
        "Hidden sizes",
        key="cfg_hidden_sizes",
        persist_state="session",
        help="Units per hidden layer at task 1, e.g. 32,16",
    )
    seed = sb.number_input("Seed", step=1, key="cfg_seed", persist_state="session", help=help_text.get("seed"))
    device = sb.selectbox(
        "Device", ["auto", "cpu", "cuda"], key="cfg_device", persist_state="session", format_func=_device_label
    )
    params = {}
    with sb.expander("DEN hyperparameters", expanded=True):
        for field, label in HYPERPARAMETERS.items():
            params[field] = st.text_input(label, key=f"cfg_{field}", persist_state="session", help=help_text.get(field))
    with sb.expander("More settings"):
        for field, label in MORE_HYPERPARAMETERS.items():
            params[field] = st.text_input(label, key=f"cfg_{field}", persist_state="session", help=help_text.get(field))
    return {
        "benchmark": benchmark, "n_tasks": int(n_tasks), "method": method, "preset": preset_name,
        "hidden_sizes": hidden, "seed": int(seed), "device": device, "params": params,
        "data_folder": str(folder) if folder is not None else None,
    }  # fmt: skip


def share_link(values: dict) -> str:
    """The query string that reproduces these settings on another machine."""
    from urllib.parse import urlencode

    builtin = values["benchmark"] in BENCHMARKS  # a data file stays on this server: the link leaves it out
    pairs = {"benchmark": values["benchmark"]} if builtin else {}
    pairs.update(tasks=values["n_tasks"], preset=values["preset"])
    pairs.update(hidden_sizes=values["hidden_sizes"], seed=values["seed"])
    base = preset_config(values["preset"] if values["preset"] in PRESETS else "fast",
                         values["benchmark"] if builtin else None)  # fmt: skip
    for field, text in values["params"].items():
        if str(text).strip() != _fmt(getattr(base, field)):
            pairs[field] = str(text).strip()
    return "?" + urlencode(pairs, safe=",")


def _clicked(action: str) -> None:
    st.session_state["train_action"] = action


def take_action() -> str | None:
    """The training button clicked in this script run (set by its on_click, before the page draws)."""
    return st.session_state.pop("train_action", None)


def buttons_ui(busy: bool, finished: bool, stopping: bool = False, blocked: str = "") -> None:
    """The four training buttons; a click is read with ``take_action`` at the top of the next run.

    The click is handled before the buttons are drawn, so they show the new state at once.
    ``blocked`` says why the settings keep the training buttons disabled ('' = they do not).
    """
    cols = st.columns([1, 1.45, 1, 1])  # the long label keeps its words on a 1024-pixel screen
    cant_train = busy or finished or bool(blocked)
    why = f" ({blocked})" if blocked else ""
    cols[0].button(
        "Next task",
        key="next_task",
        type="primary",
        disabled=cant_train,
        width="stretch",
        help="Learn the next task of the sequence" + why,
        on_click=_clicked,
        args=("next_task",),
    )
    cols[1].button(
        "Run all remaining",
        key="run_all",
        disabled=cant_train,
        width="stretch",
        help="Learn every remaining task" + why,
        on_click=_clicked,
        args=("run_all",),
    )
    cols[2].button(
        "Stopping…" if stopping else "Stop",
        key="stop",
        disabled=not busy or stopping,
        width="stretch",
        help="Stop at the next step; the task in flight is dropped, finished tasks kept",
        on_click=_clicked,
        args=("stop",),
    )
    cols[3].button("Reset", key="reset", disabled=busy, width="stretch", on_click=_clicked, args=("reset",),
                   help="Start over with the current settings (saved runs stay on disk)")  # fmt: skip


def task_label(record: dict, task: int) -> str:
    """'Task 3 — digit 2 vs rest' for pickers."""
    names = record.get("benchmark", {}).get("task_names") or []
    name = names[task - 1] if task - 1 < len(names) else ""
    return f"Task {task} — {name}" if name else f"Task {task}"
