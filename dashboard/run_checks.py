"""The Train page's checks before a run starts: every bad field named, the size refused, a long run confirmed.

Pure of drawing except ``long_run_ui``: ``check_settings`` returns what the page shows, so the
buttons (drawn first) already know whether they may train.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dashboard import ui
from dashboard.state.run_settings import RunSpec, build_spec, field_errors, input_dim
from den_engine.core import budget


@dataclass(frozen=True)
class Checked:
    """What the settings allow: a spec to train (None when blocked), the problems, the estimated seconds."""

    spec: RunSpec | None
    problems: tuple[str, ...] = ()
    seconds: float = 0.0
    confirm_key: str = ""

    @property
    def needs_confirming(self) -> bool:
        """True for a run estimated to take over an hour whose user has not said go yet."""
        return bool(self.confirm_key) and not st.session_state.get(self.confirm_key, False)

    @property
    def why_blocked(self) -> str:
        """Why the training buttons are disabled ('' when they are not)."""
        if self.problems:
            return "check the settings first"
        return "confirm the long run below first" if self.needs_confirming else ""


def check_settings(values: dict) -> Checked:
    """Every bad field (and an unusable runs folder) named; then the memory check and the time estimate."""
    errors: list[Exception] = list(field_errors(values))
    try:
        runs_dir = ui.runs_folder()
    except ValueError as exc:
        errors.append(exc)
    if not errors:
        try:
            spec = build_spec(values, runs_dir)  # refuses a network that would not fit in memory
        except ui.USER_ERRORS as exc:
            errors.append(exc)
    if errors:
        problems = tuple(str(e) for e in errors)
        if st.session_state.get("logged_config_error") != problems:  # once per new message, not per rerun
            st.session_state["logged_config_error"] = problems
            ui.log.info("Train page settings refused: %s", " | ".join(problems))
        return Checked(None, problems)
    seconds = budget.estimate_seconds(spec.config, input_dim(spec.benchmark), spec.n_tasks)
    key = ""
    if seconds > budget.LONG_RUN_S:  # one confirmation per setting: changing anything asks again
        key = f"confirm_long_{spec.benchmark}_{spec.method}_{spec.n_tasks}_{spec.config.run_id()}"
    return Checked(spec, (), seconds, key)


def problems_ui(checked: Checked) -> None:
    """One message naming every bad setting."""
    if not checked.problems:
        return
    if len(checked.problems) == 1:
        st.error(f"Check the settings: {checked.problems[0]}")
    else:
        st.error("Check the settings:\n" + "\n".join(f"- {p}" for p in checked.problems))


def long_run_ui(checked: Checked) -> None:
    """For a run estimated to take over an hour: the estimate, and a box to say go."""
    if not checked.confirm_key:
        return
    spec = checked.spec
    steps = budget.steps_per_run(spec.config, spec.n_tasks)
    per_task = budget.human_seconds(checked.seconds / spec.n_tasks)
    st.warning(
        f"This run would take about {budget.human_seconds(checked.seconds)} on a CPU ({spec.n_tasks} tasks, "
        f"{steps:,} training steps; about {per_task} per task). Fewer iterations, smaller layers or fewer tasks "
        "make it shorter."
    )
    st.checkbox("Train it anyway: I know it takes that long", key=checked.confirm_key)
