"""A plain-language log of one task, written from its snapshot's events and numbers (no Streamlit)."""

from __future__ import annotations

import math


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for prose: 3 significant digits, ∞ for infinity, n/a for missing."""
    if value is None:
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:.{digits}g}"


def _list_layers(pairs: list[str]) -> str:
    if len(pairs) <= 1:
        return "".join(pairs)
    return ", ".join(pairs[:-1]) + " and " + pairs[-1]


def _events(snapshot: dict, kind: str) -> list[dict]:
    return [e for e in snapshot.get("events", []) if e.get("type") == kind]


def _first(snapshot: dict, kind: str) -> dict | None:
    found = _events(snapshot, kind)
    return found[0] if found else None


def _stage_loss(snapshot: dict, stage: str) -> dict | None:
    return next((e for e in _events(snapshot, "stage_end") if e.get("stage") == stage), None)


def _selection(event: dict) -> str:
    parts = [f"{n} of {total} units in layer {i + 1}" for i, (n, total) in enumerate(event["counts"])]
    return f"Selective retraining (Eq. 4): retrained {_list_layers(parts)} — the units on a path to the new output."


def _decision(event: dict, k: int) -> str:
    loss, tau = event.get("loss"), event.get("loss_threshold")
    if event.get("expand"):
        return f"Loss after selective retraining {fmt(loss)} > τ = {fmt(tau)}, so added {k} units per layer (Eq. 5)."
    return f"Loss after selective retraining {fmt(loss)} ≤ τ = {fmt(tau)}, so the network did not grow."


def _expansion(event: dict) -> str:
    added = [len(ids) for ids in event.get("added", [])]
    pruned = [len(ids) for ids in event.get("pruned", [])]
    kept = sum(len(ids) for ids in event.get("kept", []))
    parts = [f"{p} of {a} in layer {i + 1}" for i, (a, p) in enumerate(zip(added, pruned, strict=False))]
    text = f"Group sparsity pruned {sum(pruned)} of the {sum(added)} new units ({_list_layers(parts)}); {kept} kept"
    return text + f" (loss {fmt(event.get('loss'))})."


def _split(drift: dict | None, split: dict | None) -> str:
    sigma = drift.get("split_threshold") if drift else None
    pairs = (split or {}).get("pairs", [])
    if not pairs:
        values = [v for layer in (drift or {}).get("drift", []) for v in layer.get("values", []) if v is not None]
        largest = f" (largest drift {fmt(max(values))})" if values else ""
        return f"No unit drifted more than σ = {fmt(sigma)}{largest}, so nothing was split."
    layers: dict[int, list[dict]] = {}
    for pair in pairs:
        layers.setdefault(pair["layer"], []).append(pair)
    counts = _list_layers([f"{len(v)} in layer {layer}" for layer, v in sorted(layers.items())])
    shown = ", ".join(f"#{p['parent']} → #{p['duplicate']} ({fmt(p.get('drift'))})" for p in pairs[:6])
    more = f" and {len(pairs) - 6} more" if len(pairs) > 6 else ""
    return (
        f"Split (Eq. 6): {len(pairs)} units drifted more than σ = {fmt(sigma)} ({counts}) and were duplicated: "
        f"{shown}{more}. Earlier tasks keep the originals; this task and later ones use the copies."
    )


def _summary(snapshot: dict, record: dict) -> str:
    sizes = snapshot.get("layer_sizes", [])[1:]
    active = snapshot.get("active_sizes", [])[1:]
    params = snapshot.get("params", {})
    metrics = snapshot.get("metrics", {})
    sparsity = snapshot.get("sparsity") or []
    task = snapshot["task"]
    text = f"After task {task}: hidden layers hold {_list_layers([str(n) for n in sizes])} units"
    if active and active != sizes:
        text += f" ({_list_layers([str(n) for n in active])} used by this task)"
    if sparsity:
        text += f"; {_list_layers([f'{100 * s:.0f}%' for s in sparsity])} of the weights it uses are exactly zero"
    if params.get("total"):
        text += f"; {params['total']:,} parameters ({params.get('nonzero', 0):,} non-zero)"
    if metrics.get("average_auroc") is not None:
        auroc = f"{metrics['average_auroc']:.3f}"  # fixed decimals: "1.000", never a bare "1."
        text += f"; AUROC on task 1 is {auroc}" if task == 1 else f"; average AUROC over tasks 1–{task} is {auroc}"
    return text + "."


def narrate_task(record: dict, task: int) -> list[str]:
    """Sentences that explain what DEN did at task ``task`` of ``record`` and why, with its numbers."""
    tasks = record.get("tasks", [])
    if not 1 <= task <= len(tasks):
        return [f"Task {task} has not been learned in this run."]
    snapshot = tasks[task - 1]
    k = record.get("config", {}).get("expand_units", "k")
    lines = [f"Task {task}: {snapshot.get('name', '')}".rstrip(": ")]
    lines += narrate_events(snapshot.get("events", []), k)
    lines.append(_summary(snapshot, record))
    return lines


def narrate_events(events: list[dict], k: int | str = "k") -> list[str]:
    """One sentence per stage finished so far, from a task's events (also while the task is training)."""
    snapshot = {"events": events}
    lines = []
    first = _stage_loss(snapshot, "sparse_training")
    if first is not None:
        lines.append(
            f"Trained the whole network from scratch with L1 sparsity for {first['iterations']} steps "
            f"(loss {fmt(first.get('loss'))})."
        )
    head = _stage_loss(snapshot, "train_head")
    if head is not None:
        lines.append(
            f"Trained the new output head alone for {head['iterations']} steps (Eq. 3), loss {fmt(head['loss'])}."
        )
    selection = _first(snapshot, "selection")
    if selection is not None:
        lines.append(_selection(selection))
    decision = _first(snapshot, "expansion_decision")
    if decision is not None:
        lines.append(_decision(decision, k))
    expansion = _first(snapshot, "expansion")
    if expansion is not None:
        lines.append(_expansion(expansion))
    drift, split = _first(snapshot, "drift"), _first(snapshot, "split")
    if drift is not None or split is not None:
        lines.append(_split(drift, split))
    retrain = _stage_loss(snapshot, "split_retraining")
    if retrain is not None:
        after = "the split" if split and split.get("pairs") else "this task's changes (nothing split)"
        lines.append(f"Retrained after {after} for {retrain['iterations']} steps (Eq. 6), loss {fmt(retrain['loss'])}.")
    return lines


def compare_first_task(record: dict, other: dict, label: str) -> str:
    """How task 1's test accuracy held up under DEN (``record``) and another method (``other``)."""
    rows = [[t["metrics"]["accuracy"][0] for t in r.get("tasks", [])] for r in (record, other)]
    n = min(len(rows[0]), len(rows[1]))
    if n < 2:
        return f"Task 1's accuracy right after learning it: DEN {fmt(rows[0][0] if rows[0] else None)}."
    den, base = rows[0][:n], rows[1][:n]
    return (
        f"Task 1's test accuracy after learning it and {n - 1} more task{'s' if n > 2 else ''}: "
        f"DEN {fmt(den[0])} → {fmt(den[-1])}, {label} {fmt(base[0])} → {fmt(base[-1])}."
    )
