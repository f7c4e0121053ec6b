"""The network picture in headless Chromium at MNIST scale: read the drawn units back from the page.

A synthetic 10-task record grown to 784-1029-459 stored units is written into the app's runs
folder and loaded through the Runs page. The unit positions come from the plotly graph div:
its data converted to pixels with the axes' own data-to-pixel functions.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from page_watch import WATCH_ARRIVALS, SentPictures, in_order
from widgets import pick, wait_idle

from dashboard.bench import write_synthetic
from dashboard.figures.encoding import task_color
from dashboard.figures.layout import input_geometry
from dashboard.synthetic import grown_record

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
RUN = "mnist-synthetic"
EXPECT_TIMEOUT_MS = 90_000  # loading a 1,500-unit record on a busy 2-core machine

# Every unit of the network chart in page pixels, each block layer's cell pitch, and the plot area.
READ_UNITS = """() => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.layout && g.layout.meta
                                                                        && g.layout.meta.mode);
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const px = x => box.left + xa._offset + xa.l2p(x), py = y => box.top + ya._offset + ya.l2p(y);
  const units = [], cells = {}, colours = {};
  for (const t of gd._fullData) {
    const meta = t.meta || {};
    if (meta.kind === 'cells') cells[meta.layer] = t;
  }
  for (const t of gd._fullData) {
    const meta = t.meta || {};
    if (meta.kind !== 'units') continue;
    const xs = Array.from(t.x), ys = Array.from(t.y), ids = Array.from(t.customdata);
    const heat = cells[meta.layer];
    ids.forEach((id, i) => {
      units.push({id: Number(id), layer: meta.layer, form: meta.form, x: px(xs[i]), y: py(ys[i]),
                  size: meta.form === 'column' ? Number(Array.isArray(t.marker.size) ? t.marker.size[i]
                                                                                    : t.marker.size) : 0});
      if (heat) {
        const hx = Array.from(heat.x), hy = Array.from(heat.y);
        const c = hx.reduce((b, v, j) => Math.abs(v - xs[i]) < Math.abs(hx[b] - xs[i]) ? j : b, 0);
        const r = hy.reduce((b, v, j) => Math.abs(v - ys[i]) < Math.abs(hy[b] - ys[i]) ? j : b, 0);
        const code = heat.z[r][c];
        colours[id] = heat.colorscale[2 * Math.round(code)][1];  // two stops per colour
      }
    });
  }
  const pitch = {};
  for (const [layer, t] of Object.entries(cells)) pitch[layer] = Math.abs(xa.l2p(t.x[1]) - xa.l2p(t.x[0]));
  return {units, pitch, colours, title: gd._fullLayout.title.text,
          plot: [box.left + xa._offset, box.left + xa._offset + xa._length,
                 box.top + ya._offset, box.top + ya._offset + ya._length]};
}"""


@pytest.fixture(autouse=True)
def _patient_expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture(scope="module")
def grown_run(app_url, tmp_path_factory) -> str:
    """The synthetic grown run, written into the app's runs folder (the app_url fixture's e2e-runs*)."""
    folder = sorted(tmp_path_factory.getbasetemp().glob("e2e-runs*"))[0]
    if not (folder / RUN).exists():
        write_synthetic(folder / RUN)
    return RUN


def _wait_idle(page) -> None:
    wait_idle(page, EXPECT_TIMEOUT_MS)


def _open(page, app_url: str, run: str) -> None:
    """Load ``run`` through the Runs page; the Train page then shows its last task."""
    from playwright.sync_api import expect

    page.goto(app_url + "/runs")
    picker = page.get_by_role("combobox", name="Run", exact=True)
    expect(picker).to_be_visible()
    _wait_idle(page)
    pick(page, picker, re.compile(rf"^{re.escape(run)} "), search=run)
    page.get_by_role("button", name="Load into every view").click()
    expect(page.locator('[data-testid="stPlotlyChart"] .gtitle').first).to_contain_text(
        "784-", timeout=EXPECT_TIMEOUT_MS
    )
    _wait_idle(page)


# The note under the image input (its page box) and the image block's left and right edges in page pixels.
READ_INPUT_NOTE = """([x0, x1]) => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.layout && g.layout.meta
                                                                        && g.layout.meta.mode);
  const xa = gd._fullLayout.xaxis, box = gd.getBoundingClientRect();
  const note = [...gd.querySelectorAll('.annotation')].find(a => a.textContent.includes('per pixel'));
  const r = note.querySelector('text').getBoundingClientRect();
  return {left: r.left, right: r.right, x0: box.left + xa._offset + xa.l2p(x0),
          x1: box.left + xa._offset + xa.l2p(x1)};
}"""

FINISHED_PICTURE = """() => [...document.querySelectorAll('.js-plotly-plot')].some(
  g => g.layout && g.layout.meta && g.layout.meta.mode && g.layout.meta.arrive == null)"""


def _read(page) -> dict:
    """The drawn units of the finished picture (a step's in-between pictures come and go first)."""
    page.wait_for_function(FINISHED_PICTURE, timeout=EXPECT_TIMEOUT_MS)
    _wait_idle(page)
    page.locator('[data-testid="stPlotlyChart"]').first.scroll_into_view_if_needed()
    return page.evaluate(READ_UNITS)


@pytest.mark.parametrize("viewport", [(1440, 900), (1024, 768)], ids=["1440x900", "1024x768"])
def test_no_two_units_overlap_at_mnist_scale_and_every_layer_is_inside_the_plot(app_url, grown_run, page, viewport):
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    _open(page, app_url, grown_run)
    drawn = _read(page)
    units = drawn["units"]
    expected = {u["id"] for u in grown_record()["tasks"][-1]["units"]}
    assert {u["id"] for u in units} >= expected
    x0, x1, y0, y1 = drawn["plot"]
    assert x1 <= viewport[0]
    for layer in (1, 2):
        mine = [u for u in units if u["layer"] == layer]
        pitch = drawn["pitch"][str(layer)]
        assert pitch >= 3.5, f"layer {layer}: cells of {pitch:.1f} px cannot be told apart"
        xy = np.array([(u["x"], u["y"]) for u in mine])
        gaps = np.abs(xy[:, None, :] - xy[None, :, :]).max(axis=2)
        np.fill_diagonal(gaps, np.inf)
        assert gaps.min() >= 0.99 * pitch, f"layer {layer}: two cells overlap ({gaps.min():.2f} px apart)"
        half = pitch / 2
        assert xy[:, 0].min() - half >= x0 and xy[:, 0].max() + half <= x1, f"layer {layer} leaves the plot"
        assert xy[:, 1].min() - half >= y0 and xy[:, 1].max() + half <= y1, f"layer {layer} leaves the plot"
    block = input_geometry(grown_record())
    note = page.evaluate(READ_INPUT_NOTE, [block.x0, block.x1])
    # the edge bundles leave the block's right edge: a note wider than the block runs into them
    assert note["x0"] - 1 <= note["left"] and note["right"] <= note["x1"] + 1, note
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"graph-mnist-{viewport[0]}.png"))


def test_hovering_a_unit_names_it(app_url, grown_run, page):
    page.set_viewport_size({"width": 1440, "height": 900})
    _open(page, app_url, grown_run)
    drawn = _read(page)
    for chosen in (
        sorted((u for u in drawn["units"] if u["layer"] == 1), key=lambda u: u["id"])[400],
        sorted((u for u in drawn["units"] if u["layer"] == 2), key=lambda u: u["id"])[150],
    ):
        page.mouse.move(chosen["x"], chosen["y"])
        label = page.locator(".hoverlayer .hovertext").first
        label.wait_for(state="visible", timeout=20_000)
        text = label.text_content()  # the card's lines run together: "unit 580 · layer 1born at task 3 ..."
        assert re.match(rf"unit {chosen['id']} · layer {chosen['layer']}(?!\d)", text), (chosen, text)
        page.mouse.move(5, 5)


def test_scrubbing_the_timeline_in_change_mode_marks_the_units_added_at_that_task(app_url, grown_run, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1440, "height": 900})
    _open(page, app_url, grown_run)
    page.get_by_text("Changes", exact=True).click()
    title = page.locator('[data-testid="stPlotlyChart"] .gtitle').first
    expect(title).to_contain_text("What task 10 changed")
    thumb = page.get_by_role("slider", name="Task timeline")
    record = grown_record()
    for task in (3, 4):
        thumb.focus()
        thumb.press("Home")
        expect(title).to_contain_text("What task 1 changed")
        for _ in range(task - 1):
            thumb.press("ArrowRight")
        expect(title).to_contain_text(f"What task {task} changed")
        _wait_idle(page)
        colours = {int(k): v for k, v in _read(page)["colours"].items()}
        snapshot = record["tasks"][task - 1]
        added = {u["id"] for u in snapshot["units"] if u["born"] == task}
        marked = {uid for uid, colour in colours.items() if colour == task_color(task)}
        assert marked == added, (task, len(marked), len(added))
        before = {u["id"] for u in record["tasks"][task - 2]["units"] if u["born"] == task - 1}
        assert not {uid for uid in before if colours.get(uid) == task_color(task - 1)}, "last task's units stay marked"


def test_one_step_along_the_timeline_brings_the_new_units_in_and_a_jump_does_not(app_url, grown_run, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1440, "height": 900})
    sent = SentPictures(page)
    _open(page, app_url, grown_run)
    title = page.locator('[data-testid="stPlotlyChart"] .gtitle').first
    thumb = page.get_by_role("slider", name="Task timeline")
    thumb.focus()
    thumb.press("Home")
    expect(title).to_contain_text("After task 1:")
    _wait_idle(page)
    page.evaluate(WATCH_ARRIVALS)
    thumb.focus()
    thumb.press("ArrowRight")
    expect(title).to_contain_text("After task 2:")
    page.wait_for_function("window.__pictures.includes('2:done')", timeout=EXPECT_TIMEOUT_MS)
    pictures = page.evaluate("window.__pictures")
    # the step from task 1 to 2 sends task 2 a third and two thirds of the way in, then finished
    assert sent.of(2)[:3] == ["2:0.33", "2:0.67", "2:done"], sent.entries
    mine = [p for p in pictures if p.startswith("2:")]  # drawn in that order (a busy browser may skip one)
    assert mine and mine[-1] == "2:done" and in_order(mine, sent.of(2)), (pictures, sent.entries)
    thumb.focus()
    thumb.press("End")  # a jump of eight tasks is drawn at once
    expect(title).to_contain_text("After task 10:")
    page.wait_for_function("window.__pictures.at(-1) === '10:done'", timeout=EXPECT_TIMEOUT_MS)
    _wait_idle(page)
    pictures = page.evaluate("window.__pictures")
    assert pictures[-1] == "10:done" and not [p for p in pictures if p.startswith("10:0")], pictures
    assert not [p for p in sent.of(10) if p != "10:done"], sent.entries  # nothing in between was even sent


CONV_RUN = "conv-synthetic"


def _conv_record() -> dict:
    from dashboard.synthetic import grown_conv_record

    return grown_conv_record(4, base=(4, 6, 20), final=(12, 14, 40), k=3, pruned=1)


@pytest.fixture(scope="module")
def conv_run(app_url, tmp_path_factory) -> str:
    """A small synthetic conv run (conv 4-6 filters of 5×5, 20 dense units, 4 tasks) in the app's runs folder."""
    from dashboard.bench import write_synthetic
    from dashboard.synthetic import grown_conv_weights

    folder = sorted(tmp_path_factory.getbasetemp().glob("e2e-runs*"))[0]
    if not (folder / CONV_RUN).exists():
        write_synthetic(folder / CONV_RUN, _conv_record(), grown_conv_weights)
    return CONV_RUN


READ_KERNELS = """() => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.layout && g.layout.meta
                                                                        && g.layout.meta.mode);
  return gd._fullData.filter(t => (t.meta || {}).kind === 'kernels').map(t => t.meta.ids).flat();
}"""


def test_a_conv_run_draws_filter_blocks_with_kernels_and_explains_a_clicked_filter(app_url, conv_run, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1024, "height": 768})
    _open(page, app_url, conv_run)
    title = page.locator('[data-testid="stPlotlyChart"] .annotation-text', has_text="conv 1 · 5×5")
    expect(title.first).to_be_visible()
    drawn = _read(page)
    filters = [u for u in drawn["units"] if u["layer"] in (1, 2)]
    assert {u["form"] for u in filters} == {"grid"} and len(filters) >= 20
    x0, x1, y0, y1 = drawn["plot"]
    for layer in (1, 2):
        pitch = drawn["pitch"][str(layer)]
        assert pitch >= 8, f"conv {layer}: cells of {pitch:.1f} px at 1024 px"
        xy = np.array([(u["x"], u["y"]) for u in filters if u["layer"] == layer])
        gaps = np.abs(xy[:, None, :] - xy[None, :, :]).max(axis=2)
        np.fill_diagonal(gaps, np.inf)
        assert gaps.min() >= 0.99 * pitch and x0 <= xy[:, 0].min() and xy[:, 0].max() <= x1
    kernels = set(page.evaluate(READ_KERNELS))
    last = _conv_record()["tasks"][-1]
    assert kernels == {u["id"] for u in last["units"] if u["layer"] == 1}  # every filter but the pruned ones
    chosen = next(u for u in filters if u["layer"] == 2)
    page.mouse.move(chosen["x"], chosen["y"])
    label = page.locator(".hoverlayer .hovertext").first
    label.wait_for(state="visible", timeout=20_000)
    assert re.match(rf"filter {chosen['id']} · conv layer 2(?!\d)", label.text_content())
    assert "norm per input channel" in label.text_content()
    first = next(u for u in filters if u["layer"] == 1)
    # plotly's click reports the point its hover last found, and hover is throttled: on a busy machine a click
    # right after the move can report the filter hovered before. Wait until the hover names this filter.
    page.mouse.move(first["x"], first["y"])
    expect(label).to_contain_text(f"filter {first['id']} · conv layer 1")
    page.mouse.click(first["x"], first["y"])
    expect(page.get_by_role("heading", name=f"Explain filter {first['id']}")).to_be_visible()
    expect(page.locator('[data-testid="stPlotlyChart"] .gtitle', has_text=f"Filter {first['id']}")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "graph-conv-1024.png"), full_page=True)
