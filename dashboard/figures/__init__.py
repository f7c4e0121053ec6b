"""Pure figure builders: a run record (plus, for the network, one task's weights) in, a plotly Figure out.

Nothing here touches Streamlit or the disk, so every chart is testable on a plain dict.
Every builder accepts a record with no task, one task, or missing (None/NaN) numbers,
and answers with a figure (an empty one with a message when there is nothing to draw).
This module gathers them: the network graph lives in ``network_figure``, the charts in
``charts``, the shared layout in ``figure_base``.
"""

from dashboard.figures.base import _layout, _num, empty_figure
from dashboard.figures.charts import (
    average_metric_chart,
    drift_histogram,
    loss_threshold_chart,
    matrix_heatmap,
    params_chart,
    sparsity_chart,
    units_chart,
)
from dashboard.figures.colors import TASK_COLORS, task_color
from dashboard.figures.network import network_figure

__all__ = [
    "TASK_COLORS",
    "_layout",
    "_num",
    "average_metric_chart",
    "drift_histogram",
    "empty_figure",
    "loss_threshold_chart",
    "matrix_heatmap",
    "network_figure",
    "params_chart",
    "sparsity_chart",
    "task_color",
    "units_chart",
]
