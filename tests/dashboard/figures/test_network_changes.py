"""What changed between tasks, on a synthetic record at MNIST scale: change mode, the diff, the film, the bench."""

from __future__ import annotations

import numpy as np
import pytest
from figure_reading import drawn_units, is_diamond, traces

from dashboard import bench, synthetic
from dashboard.figures import arrival, network_figure
from dashboard.figures.animation import STEPS, growth_animation
from dashboard.figures.encoding import DIFF_SAME, drift_shade, fade, mix, task_color
from dashboard.figures.layout import unit_positions
from den_engine.records.store import load_run, validate_record


@pytest.fixture(scope="module")
def grown() -> dict:
    """784-1029-459 stored units after 10 tasks."""
    return synthetic.grown_record()


def _changes(record: dict, task: int):
    fig = network_figure(record, task, mode="changes")
    return fig, drawn_units(fig)


def test_synthetic_record_is_a_valid_run_at_mnist_scale(grown):
    validate_record(grown)
    assert grown["tasks"][0]["layer_sizes"] == [784, 312, 128]
    assert grown["tasks"][-1]["layer_sizes"] == [784, 1029, 459]


def test_a_unit_added_at_task_t_is_marked_added_at_t_and_not_at_t_plus_1(grown):
    t = 3
    snapshot = grown["tasks"][t - 1]
    added = [u["id"] for u in snapshot["units"] if u["born"] == t and u["origin"] == "expanded"]
    ghosts = [g["id"] for g in snapshot["pruned"]]
    assert added and ghosts
    _, now = _changes(grown, t)
    _, later = _changes(grown, t + 1)
    for uid in added:
        assert now[uid]["colour"] == task_color(t)
        assert later[uid]["colour"] != task_color(t)  # at t + 1 it is an old unit, shaded by its drift
    for uid in ghosts:
        assert "pruned" in now[uid]["glyphs"]
        assert uid not in later
    legend = {tr.meta["key"] for tr in traces(network_figure(grown, t, mode="changes"), "legend")}
    assert {"added", "pruned", "split_copy", "split_original", "old", "selected"} <= legend


def test_a_split_marks_both_ends_and_only_at_its_task(grown):
    t = 5
    pairs = [(p["parent"], p["duplicate"]) for e in grown["tasks"][t - 1]["events"] if e["type"] == "split"
             for p in e["pairs"]]  # fmt: skip
    assert pairs
    fig, now = _changes(grown, t)
    _, later = _changes(grown, t + 1)
    for parent, duplicate in pairs:
        assert "split" in now[parent]["glyphs"]
        assert is_diamond(now[duplicate]) and now[duplicate]["colour"] == task_color(t)
        assert "split" not in later[parent]["glyphs"]
    assert len(pairs) > 40 and not traces(fig, "duplicate_links")  # that many links would be a tangle


def test_a_few_splits_are_tied_to_their_originals_by_a_line():
    record = synthetic.grown_record(n_tasks=3, k=4, pruned=1, final=(330, 140))  # a few splits per task
    t = 2
    pairs = [(p["parent"], p["duplicate"]) for e in record["tasks"][t - 1]["events"] if e["type"] == "split"
             for p in e["pairs"]]  # fmt: skip
    fig, now = _changes(record, t)
    positions = unit_positions(record)
    (links,) = traces(fig, "duplicate_links")
    xs, ys = np.asarray(links.x, dtype=float), np.asarray(links.y, dtype=float)
    segments = set(zip(zip(xs[0::3], ys[0::3], strict=True), zip(xs[1::3], ys[1::3], strict=True), strict=True))
    assert segments == {(positions[p], positions[d]) for p, d in pairs}
    assert 0 < len(pairs) <= 40 and all("split" in now[p]["glyphs"] for p, _ in pairs)


def test_old_units_are_shaded_by_their_drift_and_selected_ones_outlined(grown):
    t = 4
    snapshot = grown["tasks"][t - 1]
    (drift,) = [e for e in snapshot["events"] if e["type"] == "drift"]
    sigma = drift["split_threshold"]
    split = {p["parent"] for e in snapshot["events"] if e["type"] == "split" for p in e["pairs"]}
    _, looks = _changes(grown, t)
    checked = 0
    for layer in drift["drift"]:
        for uid, value in zip(layer["ids"], layer["values"], strict=True):
            if uid not in split:
                assert looks[uid]["colour"] == drift_shade(value / sigma)
                checked += 1
    assert checked > 50
    assert len({looks[u]["colour"] for layer in drift["drift"] for u in layer["ids"] if u not in split}) > 2
    selected = {u for ids in snapshot["selected"] for u in ids} - split
    outlined = {uid for uid, look in looks.items() if "selected" in look["glyphs"]}
    assert outlined == selected


def test_change_mode_counts_each_layer(grown):
    fig = network_figure(grown, 3, mode="changes")
    labels = " ".join(a.text for a in fig.layout.annotations)
    assert labels.count("+8 kept · 2 pruned") == 2
    assert "What task 3 changed" in fig.layout.title.text


def test_architecture_diff_colours_what_came_after_the_first_task(grown):
    a, b = 2, 6
    fig = network_figure(grown, b, mode="diff", since=a)
    looks = drawn_units(fig)
    seen = {"added": 0, "same": 0, "retired": 0}
    for u in grown["tasks"][b - 1]["units"]:
        look = looks[u["id"]]
        retired = u["retired"]
        if retired is not None and a < retired <= b:
            assert "split" in look["glyphs"] and look["colour"] == fade(task_color(u["born"]), 0.55)
            seen["retired"] += 1
        elif retired is None and u["born"] > a:
            assert look["colour"] == task_color(u["born"])
            seen["added"] += 1
        elif retired is None:
            assert look["colour"] == DIFF_SAME
            seen["same"] += 1
    assert all(seen.values()), seen
    assert "Task 2 → 6" in fig.layout.title.text


def test_growth_film_fades_new_units_in_and_ends_each_task_as_the_static_picture():
    record = synthetic.grown_record(n_tasks=3)
    film = growth_animation(record)
    assert len(film.frames) == 1 + STEPS * 2
    frames = {f.name: f for f in film.frames}
    heat = [tr for tr in film.data if tr.meta and tr.meta.get("kind") == "cells"]
    scale = heat[0].colorscale
    units = {u["id"]: u for s in record["tasks"] for u in s["units"] + s["pruned"]}
    positions = unit_positions(record)
    for t in (2, 3):
        static = drawn_units(network_figure(record, t))
        final, first = frames[f"task {t}"], frames[f"task {t} (1/{STEPS})"]
        for h, zf, z1 in zip(heat, final.data[:2], first.data[:2], strict=True):
            xs, ys = np.asarray(h.x), np.asarray(h.y)
            zf, z1 = np.asarray(zf.z, dtype=float), np.asarray(z1.z, dtype=float)
            for uid, look in static.items():
                if "pruned" in look["glyphs"] or units[uid]["layer"] != h.meta["layer"]:
                    continue
                x, y = positions[uid]
                r, c = int(np.argmin(np.abs(ys - y))), int(np.argmin(np.abs(xs - x)))
                assert scale[2 * int(zf[r, c])][1] == look["colour"]
                if units[uid]["born"] == t:  # one third of the way in: paler than at the end
                    assert scale[2 * int(z1[r, c])][1] == mix("#ffffff", look["colour"], 1 / STEPS)


def test_bench_covers_the_mnist_scale_network_and_its_sizes_hold(tmp_path):
    run_dir = bench.write_synthetic(tmp_path)
    assert load_run(run_dir).tasks[-1]["layer_sizes"] == [784, 1029, 459]
    result = bench.measure(run_dir, repeats=1)
    assert result["network"] == "784-1029-459"
    assert result["json_bytes"] <= bench.TARGETS["json_bytes"]
    assert result["film_bytes"] <= bench.TARGETS["film_bytes"]
    rows = bench.report(result)
    assert {r["measure"] for r in rows} == set(bench.LABELS.values())


def test_compared_networks_are_titled_by_their_run_and_keep_the_legend(grown):
    from dashboard.figures.compare import compared_network

    fig = compared_network(grown, "run A")
    assert fig.layout.showlegend is True and fig.layout.height >= 600
    assert "run A" in fig.layout.title.text and "after task 10: 784-384-200" in fig.layout.title.text


@pytest.mark.parametrize("mode", ["growth", "changes"])
def test_a_timeline_step_brings_the_new_units_in_and_changes_nothing_else(grown, mode):
    t = 5
    units = {u["id"]: u for u in grown["tasks"][t - 1]["units"] + grown["tasks"][t - 1]["pruned"]}
    final = network_figure(grown, t, mode=mode)
    done = drawn_units(final)
    new = [uid for uid, u in units.items() if u["born"] == t]
    old = [uid for uid, u in units.items() if u["born"] < t]
    copies = [(u["parent"], uid) for uid, u in units.items() if u["born"] == t and u["origin"] == "duplicate"]
    assert new and old and copies
    positions = unit_positions(grown)
    for amount in arrival.amounts():
        step = network_figure(grown, t, mode=mode, arrive=amount)
        assert step.layout.meta["arrive"] == amount and final.layout.meta["arrive"] is None
        seen = drawn_units(step)
        for uid in new:  # part of the way in from white (a pruned one is its grey x from the start)
            if "pruned" not in done[uid]["glyphs"]:
                assert seen[uid]["colour"] == mix("#ffffff", done[uid]["colour"], amount) != done[uid]["colour"]
        for uid in old:
            assert seen[uid] == done[uid]
        diamonds = [tr for tr in traces(step, "glyphs") if tr.meta["glyph"] == "diamond"]
        where = {uid: (x, y) for tr in diamonds for uid, x, y in zip(tr.meta["ids"], tr.x, tr.y, strict=True)}
        for parent, copy in copies:  # a split's copy travels from its original to its own cell
            expected = np.array(positions[parent]) + amount * (np.array(positions[copy]) - np.array(positions[parent]))
            assert np.allclose(where[copy], expected)
        # edges, inputs, the head and the legend are the finished picture's: only arriving units change
        for kind in ("bundles", "edges", "input", "outputs", "legend"):
            same = [tr.to_plotly_json() for tr in traces(final, kind)]
            assert [tr.to_plotly_json() for tr in traces(step, kind)] == same
