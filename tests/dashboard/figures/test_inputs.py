"""The inputs of a user's tasks drawn as images, points or vectors (pure figure builder)."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.figures.inputs import examples_figure, input_kind
from dashboard.state.user_data import TaskExamples


def _examples(shape, n=3, tasks=("first", "second")):
    rng = np.random.default_rng(0)
    dim = int(np.prod(shape))
    return [TaskExamples(name, rng.normal(size=(n, dim)), np.eye(2)[np.arange(n) % 2]) for name in tasks]


@pytest.mark.parametrize(
    ("shape", "kind"),
    [((8, 8), "image"), ((1, 8, 8), "image"), ((3, 4, 5), "image"), ((2,), "points"), ((20,), "vectors"),
     ((64,), "vectors"), ((1, 30), "vectors")],
)  # fmt: skip
def test_input_kind(shape, kind):
    assert input_kind(shape) == kind


def test_images_are_drawn_one_strip_per_task_with_the_tasks_names():
    fig = examples_figure(_examples((8, 8)), (8, 8), "digits.npz")
    assert fig.layout.meta["kind"] == "image" and fig.layout.meta["tasks"] == ["first", "second"]
    assert [a.text.split(" (")[0] for a in fig.layout.annotations] == ["first", "second"]
    strip = np.asarray(fig.data[0].z)
    assert strip.shape == (8, 3 * 8 + 2)  # three 8x8 pictures side by side, a blank column between
    first = _examples((8, 8))[0].inputs[0].reshape(8, 8)
    np.testing.assert_allclose(strip[::-1][:, :8], first)  # drawn upright: row 0 of the picture on top


def test_one_channel_images_keep_their_height_and_colour_ones_are_rgb():
    assert np.asarray(examples_figure(_examples((1, 6, 4)), (1, 6, 4)).data[0].z).shape == (6, 3 * 4 + 2)
    colour = examples_figure(_examples((3, 4, 5)), (3, 4, 5)).data[0]
    assert colour.type == "image" and np.asarray(colour.z).shape == (4, 3 * 5 + 2, 3)


def test_points_are_a_scatter_per_task_and_vectors_a_row_per_example():
    points = examples_figure(_examples((2,), n=10), (2,))
    assert points.layout.meta["kind"] == "points" and {t.type for t in points.data} == {"scatter"}
    assert sum(len(t.x) for t in points.data) == 20
    vectors = examples_figure(_examples((20,)), (20,))
    assert vectors.layout.meta["kind"] == "vectors" and np.asarray(vectors.data[0].z).shape == (3, 20)
