"""One self-contained HTML page from a sequence of steps (figures plus text), stepped with a slider.

Shared by the Learn page's "Download this lesson" and ``den report``: plotly.js is inlined,
nothing is fetched (no CDN, no fonts, no MathJax), so the file opens offline from disk.
Each step's figures are drawn only when the step is first shown, so a long run stays quick.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

PLOT_CONFIG = {"displaylogo": False, "showLink": False, "responsive": True, "toImageButtonOptions": {"format": "png"}}


@dataclass
class Step:
    """One position of the slider: a label, figures drawn one under the other, and trusted HTML text."""

    label: str
    figures: list[go.Figure] = field(default_factory=list)
    html: str = ""
    text_last: bool = False
    """Put the text under the figures (the Learn lesson: its network is the first thing on screen)."""


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2937;background:#fff}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #e5e7eb;padding:12px 24px;z-index:2}
h1{font-size:1.4rem;margin:0 0 8px}
.controls{display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.controls input[type=range]{flex:1;min-width:200px}
.controls button{font-size:1rem;padding:4px 14px;border:1px solid #9ca3af;border-radius:6px;
  background:#f9fafb;cursor:pointer}
#step-label{font-weight:600;min-width:10em}
main{padding:12px 24px}
.step{display:none}.step.shown{display:block}
.figure{width:100%;margin:8px 0}
.intro{max-width:70em}
"""

_JS = """
(function(){
  const steps = document.querySelectorAll('.step');
  const slider = document.getElementById('step-slider');
  const label = document.getElementById('step-label');
  const drawn = new Set();
  function show(i){
    i = Math.max(0, Math.min(steps.length - 1, i));
    slider.value = i;
    steps.forEach((s, j) => s.classList.toggle('shown', j === i));
    label.textContent = steps[i].dataset.label;
    if (!drawn.has(i)) {
      drawn.add(i);
      steps[i].querySelectorAll('.figure').forEach(div => {
        const spec = JSON.parse(document.getElementById(div.dataset.spec).textContent);
        Plotly.newPlot(div, spec.data, spec.layout, CONFIG);
      });
    } else {
      steps[i].querySelectorAll('.figure').forEach(div => Plotly.Plots.resize(div));
    }
  }
  slider.addEventListener('input', () => show(+slider.value));
  document.getElementById('prev').addEventListener('click', () => show(+slider.value - 1));
  document.getElementById('next').addEventListener('click', () => show(+slider.value + 1));
  document.addEventListener('keydown', e => {
    if (e.key === 'ArrowRight') show(+slider.value + 1);
    if (e.key === 'ArrowLeft') show(+slider.value - 1);
  });
  window.showStep = show;
  show(+slider.value);
})();
"""


def _script_json(value) -> str:
    """JSON safe inside a <script> element (no closing tag can appear)."""
    return json.dumps(value).replace("</", "<\\/")


def standalone_page(title: str, steps: list[Step], intro_html: str = "", start: int = -1) -> str:
    """The whole page as a string: plotly.js inline, one slider position per step (``start``: shown first)."""
    if not steps:
        raise ValueError("a page needs at least one step")
    start = start % len(steps)
    parts, specs = [], []
    for i, step in enumerate(steps):
        figs = []
        for j, fig in enumerate(step.figures):
            spec_id = f"spec-{i}-{j}"
            specs.append(
                f'<script type="application/json" id="{spec_id}">{_script_json(json.loads(fig.to_json()))}</script>'
            )
            height = fig.layout.height or 450
            figs.append(f'<div class="figure" data-spec="{spec_id}" style="min-height:{int(height)}px"></div>')
        parts.append(
            f'<section class="step" data-label="{html.escape(step.label, quote=True)}">'
            f"{'' if step.text_last else step.html}{''.join(figs)}{step.html if step.text_last else ''}</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f'<header><h1>{html.escape(title)}</h1><div class="controls">'
        '<button id="prev" aria-label="previous step">&#8592;</button>'
        f'<input id="step-slider" type="range" min="0" max="{len(steps) - 1}" step="1" value="{start}"'
        ' aria-label="step">'
        '<button id="next" aria-label="next step">&#8594;</button><span id="step-label"></span></div></header>'
        f'<main><div class="intro">{intro_html}</div>{"".join(parts)}</main>'
        f"{''.join(specs)}<script>const CONFIG = {_script_json(PLOT_CONFIG)};{_JS}</script></body></html>"
    )
