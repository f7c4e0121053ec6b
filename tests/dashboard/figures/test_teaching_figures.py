"""The Learn page's figures: every neuron is its own picture, marks match the main graph, PNGs are valid."""

from __future__ import annotations

import base64
import copy
import struct
import zlib

import numpy as np
import pytest

from dashboard.figures import neurons
from dashboard.figures import teaching as tf
from dashboard.figures.colors import GHOST
from dashboard.state.learn_session import make_trainer
from den_engine import preset


@pytest.fixture(scope="module")
def run():
    """A 2-task run with expansion and splits (σ = 0), and its frames."""
    config = preset("fast", hidden_sizes=(4, 4), iterations=30, head_iterations=10, expand_units=2,
                    group_lasso=0.0, split_threshold=0.0, loss_threshold=0.0)  # fmt: skip
    trainer = make_trainer(config, ("blobs", "xor"), "den")
    frames = []
    for task in (1, 2):
        trainer.train_next()
        frames.append(neurons.frame(trainer.net, task, 12))
    return trainer.record, frames


def _decode_png(uri: str) -> np.ndarray:
    data = base64.b64decode(uri.removeprefix("data:image/png;base64,"))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = {}, 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        chunks[tag] = body
        pos += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, 1 + 3 * width)
    assert (raw[:, 0] == 0).all()  # filter byte "none" on every row
    return raw[:, 1:].reshape(height, width, 3)


def test_png_round_trips_pixels_exactly():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(_decode_png(tf.png_data_uri(rgb)), rgb)


def test_tint_is_white_at_zero_and_the_colour_at_the_peak_with_y_up():
    picture = np.array([[0.0, 0.0], [0.0, 2.0]])  # the peak at the top-right (row 1 = larger y)
    rgb = tf.tint(picture, "#f28e2b")
    assert rgb[0, 1].tolist() == [0xF2, 0x8E, 0x2B] and rgb[1, 0].tolist() == [255, 255, 255]
    assert (tf.tint(np.zeros((3, 3)), "#f28e2b") == 255).all()  # a dead unit is blank, not an error
    region = tf.diverging(np.array([[0.0, 0.5, 1.0]]))
    assert region[0, 1].tolist() == [255, 255, 255] and region[0, 0].tolist() != region[0, 2].tolist()


def test_signed_is_white_on_the_boundary_blue_where_it_fires_red_where_silent():
    field = np.array([[-2.0, 0.0], [0.0, 1.0]])  # row 1 = larger y: drawn at the top
    rgb = tf.signed(field)
    assert rgb[1, 1].tolist() == [255, 255, 255]  # zero: white
    assert rgb[1, 0].tolist() == [0xC0, 0x39, 0x2B]  # the most negative value: full red, bottom-left
    top_right = rgb[0, 1].astype(int)
    assert top_right[2] > top_right[0]  # positive half of the range: blue, lifted off white by the gamma
    assert (tf.signed(np.zeros((3, 3))) == 255).all()  # a dead unit is blank, not an error


def _neuron_images(fig):
    return [im for im in fig.layout.images][2:-1]


def test_every_unit_is_drawn_as_its_own_field_picture(run):
    record, frames = run
    for task in (1, 2):
        fig = tf.neuron_network_figure(record, task, frames[task - 1])
        snapshot = record["tasks"][task - 1]
        images = fig.layout.images
        assert len(images) == 2 + len(snapshot["units"]) + 1  # inputs, every hidden unit, the output region
        uid = snapshot["units"][-1]["id"]
        expected = tf.png_data_uri(tf.signed(frames[task - 1]["fields"][uid]))
        assert expected in [im.source for im in images]  # the picture is the unit's own field, not a task tint
        hover = next(t for t in fig.data if (t.meta or {}).get("kind") == "units")
        assert len(hover.x) == len(snapshot["units"]) and sorted(hover.customdata) == sorted(
            u["id"] for u in snapshot["units"]
        )


def test_pictures_never_touch_and_keep_their_place_as_the_network_grows(run):
    record, frames = run
    placed = {}
    for task in (1, 2):
        fig = tf.neuron_network_figure(record, task, frames[task - 1])
        boxes = [(im.x, im.y) for im in _neuron_images(fig)]
        for i, (x, y) in enumerate(boxes):
            for x2, y2 in boxes[i + 1 :]:
                assert abs(x - x2) >= tf.SIDE + 0.1 or abs(y - y2) >= tf.SIDE + 0.1  # a visible gap
        units = record["tasks"][task - 1]["units"]
        for u, box in zip(units, boxes, strict=True):
            assert placed.setdefault(u["id"], box) == box  # stable from birth


def test_birth_retraining_and_split_are_drawn_around_the_picture(run):
    record, frames = run
    snapshot = record["tasks"][1]
    fig = tf.neuron_network_figure(record, 2, frames[1])
    retired = [u for u in snapshot["units"] if u["retired"] is not None]
    duplicates = [u for u in snapshot["units"] if u["origin"] == "duplicate"]
    assert retired and len(duplicates) == len(retired)
    assert sum(1 for im in fig.layout.images if im.opacity < 1) == len(retired)  # originals faded
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert sum(1 for s in rects if s.line.dash == "dot") == len(retired)
    assert sum(1 for s in fig.layout.shapes if s.type == "path") == len(duplicates)  # an arc to each original
    marks = next(t for t in fig.data if (t.meta or {}).get("kind") == "duplicates")
    assert len(marks.x) == len(duplicates)
    fresh = sum(1 for u in snapshot["units"] if u["born"] == 2)
    assert sum(1 for s in rects if s.line.width == 4.5) == fresh + 1  # + the output
    born_one = [s for s in rects if s.line.color == "#4a5a6a" and s.line.width == 3.0]
    assert len(born_one) == sum(1 for u in snapshot["units"] if u["born"] == 1)  # border = birth task
    selected = {i for ids in snapshot["selected"] for i in ids}
    badges = next(t for t in fig.data if (t.meta or {}).get("kind") == "retrained")
    assert len(badges.x) == len([u for u in snapshot["units"] if u["id"] in selected])
    for bx, by in zip(badges.x, badges.y, strict=True):  # above a picture's top edge, outside its fill
        assert any(abs(bx - im.x) < tf.SIDE / 2 and by > im.y + tf.SIDE / 2 for im in _neuron_images(fig))


def test_pruned_units_are_ghosts(run):
    record, frames = run
    record = copy.deepcopy(record)
    record["tasks"][1]["pruned"] = [{"id": 999, "layer": 1, "born": 2, "origin": "expanded"}]
    fig = tf.neuron_network_figure(record, 2, frames[1])
    ghosts = next(t for t in fig.data if (t.meta or {}).get("kind") == "ghosts")
    assert len(ghosts.x) == 1 and ghosts.marker.color == GHOST


def test_the_timeline_on_the_title_line_marks_every_task_and_colours_the_shown_one(run):
    import re

    from dashboard.figures.colors import task_color

    record, frames = run
    plain = tf.neuron_network_figure(record, 2, frames[1])
    assert plain.layout.title.text.startswith("After task 2:") and plain.layout.meta["timeline"] is None
    fig = tf.neuron_network_figure(record, 1, frames[0], timeline=(2, 6))  # task 1 shown, 2 of 6 learned
    lane, title = fig.layout.title.text.rsplit("</span>", 1)
    assert title.strip().startswith("After task 1:"), title  # the marks first, then the title
    marks = re.findall(r"(<span style='color:([^']+)'>)?([●○])", lane)
    assert [m[2] for m in marks] == ["●", "●", "○", "○", "○", "○"]  # a mark a task: learned, then to come
    assert [(i + 1, m[1]) for i, m in enumerate(marks) if m[0]] == [(1, task_color(1))]  # the shown one, coloured
    assert fig.layout.meta["timeline"] == [2, 6] and fig.layout.meta["task"] == 1
