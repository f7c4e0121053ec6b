"""Region grids never wrap: one row of panels, or one row per method; accuracies sit inside the panels."""

from __future__ import annotations

import numpy as np

from dashboard.figures import regions as rf

REGION = np.linspace(0, 1, 16).reshape(4, 4)
POINTS, LABELS = np.array([[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5]]), np.array([[0.0], [1.0], [1.0]])


def _panels(n: int, title: bool = True) -> list[dict]:
    return [{"region": REGION, "points": POINTS, "labels": LABELS, "note": f"acc 0.{t}",
             **({"title": f"{t}: task"} if title else {})} for t in range(1, n + 1)]  # fmt: skip


def _domains(fig, axis: str) -> list[tuple[float, float]]:
    return [tuple(fig.layout[name].domain) for name in sorted(fig.layout) if name.startswith(axis)]


def test_regions_draw_each_region_with_its_points_in_one_row():
    fig = rf.regions_figure(_panels(5))
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert len(heatmaps) == 5 and np.array_equal(heatmaps[0].z, REGION)
    assert sorted(len(d.x) for d in fig.data[1:3]) == [1, 2]
    assert len(set(_domains(fig, "yaxis"))) == 1  # a single row, however many panels
    texts = [a.text for a in fig.layout.annotations]
    assert [t for t in texts if ":" in t] == [f"{t}: task" for t in range(1, 6)]
    assert [t for t in texts if t.startswith("acc")] == [f"acc 0.{t}" for t in range(1, 6)]  # inside, not in titles


def test_comparison_is_always_one_row_per_method():
    for n in (1, 2, 3, 5):  # 2 tasks used to put fine-tuning's first panel in the DEN row
        fig = rf.comparison_figure([("DEN", _panels(n, False)), ("fine-tuning", _panels(n, False))],
                                   [f"after task {t}" for t in range(1, n + 1)])  # fmt: skip
        rows = sorted({d for d in _domains(fig, "yaxis")}, reverse=True)
        assert len(rows) == 2
        assert len([a for a in fig.layout.annotations if a.text.startswith("after task")]) == n
        assert {"DEN", "fine-tuning"} <= {a.text for a in fig.layout.annotations}
        first_row = [t for t in fig.data if t.type == "heatmap"][:n]
        assert all(fig.layout[f"yaxis{t.yaxis[1:]}"].domain == rows[0] for t in first_row)  # DEN on top
