"""Your own task: every CSV rejection names the row and column; valid points round-trip and become a task."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.state import custom_task as ct

GOOD = b"x1,x2,label\n0.1,0.2,0\n-0.5,1,1\n1.2,-1.1,0\n0,0,1\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"\n \n", "The file is empty"),
        (b"a,b,c\n0,0,1\n", "Row 1 must be the header x1,x2,label; it is “a,b,c”"),
        (b"x1,x2,label\n0.1,0.2,0\n-0.5,abc,1\n", "Row 3, column x2: “abc” is not a number"),
        (b"x1,x2,label\n0.1,0.2,0\n0.5,0.1,2\n", "Row 3, column label: “2” is not 0 or 1"),
        (b"x1,x2,label\n0.1,0.2\n", "Row 2 has 2 cells; it needs 3"),
        (b"x1,x2,label\n9,0.2,0\n", "Row 2, column x1: 9 is outside the plane"),
        (b"x1,x2,label\n" + b"0.1,0.2,0\n" * 201, "The file has 201 points; the limit is 200"),
        (b"x1,x2,label\n0.1,0.2,1\n0.3,0.2,1\n0.1,0.5,1\n0.1,0.9,1\n", "Every point has label 1"),
        (b"x1,x2,label\n0.1,0.2,1\n0.3,0.2,0\n", "There are 2 points; a task needs at least 4"),
        (b"x1,x2,label\n" + b"0," * 12000, "bytes; the limit is 20,000 bytes"),
        (b"\xff\xfe\x00x", "not plain text"),
    ],
    ids=[
        "empty",
        "blank",
        "header",
        "not-a-number",
        "label-2",
        "short-row",
        "outside",
        "too-many",
        "one-class",
        "too-few",
        "too-big",
        "binary",
    ],  # fmt: skip
)
def test_every_bad_csv_gets_its_own_message(data, message):
    with pytest.raises(ct.CustomTaskError) as info:
        ct.parse_csv(data)
    assert message in str(info.value)


def test_a_good_csv_round_trips_through_the_link_text_and_back_to_csv():
    custom = ct.parse_csv(GOOD)
    assert custom.points.shape == (4, 2) and custom.labels.tolist() == [0, 1, 0, 1]
    again = ct.from_text(ct.to_text(custom))
    np.testing.assert_allclose(again.points, custom.points, atol=0.005)
    assert ct.parse_csv(ct.to_csv(custom).encode()).labels.tolist() == custom.labels.tolist()
    assert ct.link_problem(custom) is None


def test_a_link_refuses_too_many_points_and_says_why():
    rng = np.random.default_rng(0)
    rows = [(float(x), float(y), i % 2) for i, (x, y) in enumerate(rng.uniform(-1.4, 1.4, (150, 2)))]
    why = ct.link_problem(ct.validate(rows))
    assert why is not None and "150 points" in why and "share the CSV" in why


def test_the_task_is_a_cloud_around_the_points_fixed_by_the_seed():
    custom = ct.parse_csv(GOOD)
    a, b, c = ct.task_data(custom, 0), ct.task_data(custom, 0), ct.task_data(custom, 1)
    assert a.name == ct.NAME and a.x_train.shape == (400, 2) and a.x_test.shape == (200, 2)
    assert np.array_equal(a.x_train.numpy(), b.x_train.numpy()) and not np.array_equal(a.x_train, c.x_train)
    nearest = np.argmin(((a.x_train.numpy()[:, None] - custom.points[None]) ** 2).sum(-1), axis=1)
    assert (custom.labels[nearest] == a.y_train.numpy().ravel()).mean() > 0.95  # labels follow their point
