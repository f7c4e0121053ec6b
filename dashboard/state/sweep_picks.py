"""Sweeps as a unit: runs named by the settings that differ in their sweep, and a picked sweep kept picked.

Pure functions over the rows of ``loaders.list_runs`` (one dict per run: name, benchmark,
method, status, config, path; a sweep's rows also carry ``sweep``, its folder) and over a
plain mapping standing for ``st.session_state``, so they are tested without Streamlit.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path

from dashboard.figures.compare import SYMBOLS, hyperparameters, run_labels, varying_fields

RUNS_KEY, SWEEP_KEY = "cmp_runs", "cmp_sweep_pick"
PAGE_PICKS_KEY = "cmp_page_picks"
"""The picks the page itself made while following a sweep: the browser may send any of them back later."""


def _as_record(row: dict) -> dict:
    """The parts of a record the labels read, from a list_runs row."""
    return {"config": row.get("config") or {}, "method": row.get("method"), "benchmark": {"name": row.get("benchmark")}}


def sweep_run_labels(rows: list[dict]) -> dict[str, str]:
    """Path -> the settings that differ between the runs of its sweep (``τ=0.01 σ=0.05``); the name if none do."""
    labels = run_labels([_as_record(r) for r in rows], [r["name"] for r in rows])
    return {r["path"]: label for r, label in zip(rows, labels, strict=True)}


def picker_labels(rows: list[dict]) -> dict[str, str]:
    """Path -> what a run picker shows: a sweep's run by its differing settings and its sweep, others by name."""
    labels = {}
    sweeps: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("sweep"):
            sweeps.setdefault(row["sweep"], []).append(row)
        else:
            labels[row["path"]] = f"{row['name']} — {row['source']}, {row.get('benchmark')}, {row.get('status', '?')}"
    for members in sweeps.values():
        for row, settings in zip(members, sweep_run_labels(members).values(), strict=True):
            state = "" if row.get("status") == "complete" else f", {row.get('status', '?')}"
            labels[row["path"]] = f"{settings} — {row['source']}{state}"
    return labels


def sweep_title(folder: str, rows: list[dict]) -> str:
    """``digits-tau-sigma: 4 runs over τ × σ`` — a sweep named by its folder and the knobs it varies."""
    knobs = [f for f in varying_fields([_as_record(r) for r in rows]) if f != "seed"]
    seeds = len({(r.get("config") or {}).get("seed") for r in rows})
    over = " × ".join(SYMBOLS.get(k, k) for k in knobs) or "one setting"
    extra = f", {seeds} seeds" if seeds > 1 else ""
    return f"{Path(folder).name}: {len(rows)} run{'s' if len(rows) != 1 else ''} over {over}{extra}"


def sweep_table(rows: list[dict]) -> list[dict]:
    """One row per run of a sweep: its settings (the knobs that differ, one column each), then how it went."""
    records = [_as_record(r) for r in rows]
    fields = varying_fields(records)
    labels = sweep_run_labels(rows)
    out = []
    for row, record in zip(rows, records, strict=True):
        knobs = {f"{SYMBOLS[k]} ({k})" if k in SYMBOLS else k: v for k, v in hyperparameters(record, fields).items()}
        out.append(
            {"settings": labels[row["path"]], **knobs, "status": row.get("status"), "tasks": row.get("tasks"),
             "layer sizes": row.get("layer sizes"), "average AUROC": row.get("average AUROC"), "run": row["name"]}
        )  # fmt: skip
    return out


def follow_sweep(state: MutableMapping, sweeps: dict[str, list[str]], limit: int) -> None:
    """Before the pickers draw: a picked sweep's runs are the picked runs, those that arrived since included."""
    pick = state.get(SWEEP_KEY)
    if pick and pick in sweeps:
        state[RUNS_KEY] = list(sweeps[pick][:limit])
        made = state.setdefault(PAGE_PICKS_KEY, {})
        if made.get("sweep") != pick:
            made.clear()
            made["sweep"], made["picks"] = pick, set()
        made["picks"].add(frozenset(state[RUNS_KEY]))


def picked_by_hand(state: MutableMapping, sweeps: dict[str, list[str]], running: str | None = None) -> None:
    """The run picker's callback: runs picked by hand, so no sweep is "the" pick any more.

    While a launched sweep (``running``) is followed, and for a while after it ends, the
    browser can send back a pick the page itself made before (fewer of the sweep's runs, as
    they were then): such an echo does not end the following; a pick the page never made does.
    """
    pick, current = state.get(SWEEP_KEY), set(state.get(RUNS_KEY) or [])
    if not pick or pick not in sweeps:
        return
    if pick == running and current <= set(sweeps[pick]):
        return
    made = state.get(PAGE_PICKS_KEY) or {}
    if made.get("sweep") == pick and frozenset(current) in made.get("picks", ()) and current <= set(sweeps[pick]):
        state[RUNS_KEY] = list(sweeps[pick])  # an echo of an earlier pick: the sweep's runs stay picked
        return
    if current != set(sweeps[pick]):
        state[SWEEP_KEY] = ""


def pick_sweep(state: MutableMapping, sweeps: dict[str, list[str]], limit: int) -> None:
    """The sweep box changed: its runs become the picked runs on every tab."""
    follow_sweep(state, sweeps, limit)


def start_following(state: MutableMapping, folder: str) -> None:
    """A sweep just launched into ``folder``: every tab shows its runs as they arrive."""
    state[SWEEP_KEY] = folder
    state[RUNS_KEY] = []
