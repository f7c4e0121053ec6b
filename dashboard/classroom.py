"""Plain-language classroom texts from a run's record (pure; no Streamlit): a neuron's story, predict-then-reveal.

Every number comes from the snapshots' events: the loss against τ that grew the network,
the drift against σ that split a unit, the units selected for retraining.
"""

from __future__ import annotations

from dashboard.narrate import fmt

QUESTIONS = {
    "grow": "Will the network need new neurons?",
    "split": "Will a neuron split?",
}
SHORT = {"grow": "New neurons?", "split": "A neuron split?"}
"""The questions as headings of the answer, when nobody was asked."""
"""What the class is asked before a task; answers are "yes" or "no"."""


def _event(snapshot: dict, kind: str) -> dict | None:
    return next((e for e in snapshot.get("events", []) if e.get("type") == kind), None)


def _drift_of(snapshot: dict, uid: int) -> float | None:
    drift = _event(snapshot, "drift") or {}
    for layer in drift.get("drift") or []:
        for i, value in zip(layer.get("ids") or [], layer.get("values") or [], strict=False):
            if int(i) == uid:
                return value
    return None


def _unit(snapshot: dict, uid: int) -> dict | None:
    return next((u for u in snapshot.get("units", []) if int(u["id"]) == uid), None)


def unit_label(unit: dict) -> str:
    """“neuron 7 · layer 2 · born at task 1” for a picker."""
    return f"neuron {unit['id']} · layer {unit['layer']} · born at task {unit['born']} ({unit['origin']})"


def neuron_story(record: dict, uid: int, upto: int) -> list[str]:
    """What happened to neuron ``uid`` from its birth to task ``upto``, each line with its numbers."""
    tasks = record.get("tasks", [])[:upto]
    unit = next((u for s in reversed(tasks) if (u := _unit(s, uid)) is not None), None)
    if unit is None:
        return [f"Neuron {uid} is not in the network after task {upto}."]
    born = int(unit["born"])
    birth = tasks[born - 1]
    lines = []
    if unit["origin"] == "base":
        lines.append(f"Born at task 1 ({birth.get('name', '')}): one of the first network's neurons.")
    elif unit["origin"] == "expanded":
        decision = _event(birth, "expansion_decision") or {}
        lines.append(f"Born at task {born} ({birth.get('name', '')}) because the loss after selective retraining, "
                     f"{fmt(decision.get('loss'))}, was above τ = {fmt(decision.get('loss_threshold'))}: "
                     "the network grew and this neuron survived the pruning.")  # fmt: skip
    else:
        drift = _event(birth, "drift") or {}
        lines.append(f"Born at task {born} ({birth.get('name', '')}) as a copy of neuron {unit.get('parent')}, "
                     f"whose drift {fmt(_drift_of(birth, int(unit.get('parent', -1))))} was above "
                     f"σ = {fmt(drift.get('split_threshold'))}: the old tasks keep the original.")  # fmt: skip
    chosen = [s["task"] for s in tasks if any(uid in ids for ids in s.get("selected") or [])]
    lines.append("Selected for retraining at task " + ", ".join(map(str, chosen)) + "." if chosen
                 else "Never selected for retraining: the later tasks did not need it.")  # fmt: skip
    for s in tasks:
        value = _drift_of(s, uid)
        if value is None:
            continue
        sigma = (_event(s, "drift") or {}).get("split_threshold")
        verdict = "above σ: split" if sigma is not None and value > sigma else "within σ: kept"
        lines.append(f"Drift at task {s['task']}: {fmt(value)} against σ = {fmt(sigma)}, {verdict}.")
    split = [
        (s["task"], p["duplicate"])
        for s in tasks
        for p in (_event(s, "split") or {}).get("pairs", [])
        if int(p["parent"]) == uid
    ]
    for task, copy in split:
        lines.append(f"Split at task {task}: tasks from {task} on use its copy, neuron {copy}; "
                     f"tasks before {task} keep this one.")  # fmt: skip
    return lines


def answers(snapshot: dict) -> dict[str, tuple[str, str]]:
    """What really happened at a task: question key -> ("yes"/"no", the numbers that decided it)."""
    out = {}
    decision = _event(snapshot, "expansion_decision")
    if decision is None:
        out["grow"] = ("no", "the first task trains the starting network; nothing is added")
    else:
        grew = bool(decision.get("expand"))
        sign = ">" if grew else "≤"
        out["grow"] = ("yes" if grew else "no",
                       f"loss after selective retraining {fmt(decision.get('loss'))} {sign} "
                       f"τ = {fmt(decision.get('loss_threshold'))}")  # fmt: skip
    drift, split = _event(snapshot, "drift"), _event(snapshot, "split")
    if drift is None:
        out["split"] = ("no", "nothing drifts at the first task: there is no earlier task to protect")
    else:
        pairs = (split or {}).get("pairs") or []
        values = [v for layer in drift.get("drift") or [] for v in layer.get("values") or [] if v is not None]
        largest = f"largest drift {fmt(max(values))}" if values else "no drift measured"
        sigma = fmt(drift.get("split_threshold"))
        out["split"] = (("yes", f"{len(pairs)} neuron(s) drifted more than σ = {sigma} ({largest})") if pairs
                        else ("no", f"{largest} ≤ σ = {sigma}"))  # fmt: skip
    return out


def reveal(snapshot: dict, guesses: dict[str, str]) -> list[str]:
    """One line per question: the class's guess, the answer, and the numbers behind it."""
    lines = []
    for key, (answer, why) in answers(snapshot).items():
        guess = guesses.get(key)
        verdict = "" if guess is None else (" ✓ the class was right" if guess == answer else " ✗ the class said "
                                            + guess)  # fmt: skip
        asked = QUESTIONS[key] if guesses else SHORT[key]
        lines.append(f"{asked} **{answer.capitalize()}**: {why}.{verdict}")
    return lines
