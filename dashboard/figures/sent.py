"""Figures sent on many page runs: their plain form made once.

``st.plotly_chart`` asks a figure for ``to_dict`` on every run it is drawn: a deep copy of
every trace, then encoded. For a figure kept across runs (shared by every tab, or kept by one
until what it shows changes) that copy was most of the cost of drawing it; a class of thirty
on one server reruns its pages far more often than their pictures change.
"""

from __future__ import annotations

import json

import plotly.graph_objects as go
import plotly.io as pio


class SentFigure(go.Figure):
    """A finished figure: its plain form is made once (``sent``), and nothing changes either after."""

    def to_dict(self) -> dict:
        """The plain form made when the figure was finished."""
        return self._plain


def sent(fig: go.Figure) -> SentFigure:
    """``fig``, finished and cheap to draw again; ``fig`` itself must not be changed after (they share traces)."""
    out = SentFigure.__new__(SentFigure)
    out.__dict__.update(fig.__dict__)
    out._plain = json.loads(pio.to_json(fig, validate=False))  # the JSON form: its arrays already encoded
    return out
