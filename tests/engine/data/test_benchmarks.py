"""Tests for den_engine.data.benchmarks: shapes, seeded splits, task transforms and validation."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from den_engine.data import benchmarks
from den_engine.data.benchmarks import (
    BENCHMARKS,
    Benchmark,
    BenchmarkError,
    TaskData,
    list_benchmarks,
    load_benchmark,
    rotate_images,
)
from den_engine.data.toy2d import TOY_2D_EXTENT

REPO_ROOT = Path(__file__).resolve().parents[3]
SPLITS = ("train", "val", "test")


def tensors(task: TaskData) -> list[torch.Tensor]:
    return [getattr(task, f"{kind}_{split}") for split in SPLITS for kind in ("x", "y")]


def assert_same(a: Benchmark, b: Benchmark) -> None:
    assert [t.name for t in a.tasks] == [t.name for t in b.tasks]
    for task_a, task_b in zip(a.tasks, b.tasks, strict=True):
        for x, y in zip(tensors(task_a), tensors(task_b), strict=True):
            assert torch.equal(x, y)


@pytest.fixture(scope="module")
def mnist() -> Benchmark:
    return load_benchmark("mnist-one-vs-rest", seed=0)


# ----------------------------------------------------------------------------- registry


def test_registry_lists_every_benchmark() -> None:
    assert list_benchmarks() == list(BENCHMARKS)
    assert set(list_benchmarks()) == {
        "mnist-one-vs-rest",
        "permuted-mnist",
        "rotated-mnist",
        "mnist-variation",
        "digits-one-vs-rest",
        "permuted-digits",
        "toy-2d",
    }
    assert BENCHMARKS["permuted-mnist"].max_tasks == 20
    assert BENCHMARKS["toy-2d"].max_tasks == 6
    for name, info in BENCHMARKS.items():
        assert info.name == name
        assert 1 <= info.default_tasks <= info.max_tasks
        assert info.description.endswith(".")


@pytest.mark.parametrize(
    ("name", "sizes", "n_outputs"),
    [
        ("mnist-one-vs-rest", (3000, 500, 1500), 1),
        ("permuted-mnist", (3000, 500, 1500), 10),
        ("rotated-mnist", (3000, 500, 1500), 10),
        ("mnist-variation", (3000, 500, 1500), 1),
        ("digits-one-vs-rest", (1078, 270, 449), 1),
        ("permuted-digits", (1078, 270, 449), 10),
        ("toy-2d", (400, 100, 200), 1),
    ],
)
def test_shapes_dtypes_and_ranges(name: str, sizes: tuple[int, ...], n_outputs: int) -> None:
    bench = load_benchmark(name, n_tasks=2, seed=1)
    info = BENCHMARKS[name]
    assert (bench.name, bench.input_shape, bench.description) == (
        name,
        info.input_shape,
        info.description,
    )
    assert bench.input_dim == math.prod(info.input_shape)
    assert len(bench.tasks) == 2
    for task in bench.tasks:
        assert task.n_outputs == n_outputs
        for split, n in zip(SPLITS, sizes, strict=True):
            x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
            assert x.shape == (n, bench.input_dim) and x.dtype == torch.float32
            assert y.shape == (n, n_outputs) and y.dtype == torch.float32
            assert set(y.unique().tolist()) == {0.0, 1.0}
            low, high = (0.0, 1.0) if name != "toy-2d" else TOY_2D_EXTENT
            assert low <= x.min() and x.max() <= high
            if n_outputs > 1:
                assert torch.equal(y.sum(1), torch.ones(n))  # one-hot


def test_default_task_count_and_names(mnist: Benchmark) -> None:
    assert [t.name for t in mnist.tasks] == [f"digit {d} vs rest" for d in range(10)]
    toy = load_benchmark("toy-2d")
    assert [t.name for t in toy.tasks] == [
        "blobs",
        "moons",
        "circles",
        "xor",
        "spirals",
        "checkerboard",
    ]
    rotated = load_benchmark("rotated-mnist", n_tasks=3)
    assert [t.name for t in rotated.tasks] == ["rotation 0°", "rotation 20°", "rotation 40°"]


# ----------------------------------------------------------------------------- seeds, splits


@pytest.mark.parametrize(("name", "n_tasks"), [("mnist-one-vs-rest", 2), ("permuted-digits", 3), ("toy-2d", 6)])
def test_same_seed_gives_identical_tensors(name: str, n_tasks: int) -> None:
    assert_same(load_benchmark(name, n_tasks, seed=7), load_benchmark(name, n_tasks, seed=7))


@pytest.mark.parametrize("name", ["mnist-one-vs-rest", "digits-one-vs-rest", "toy-2d"])
def test_other_seed_gives_another_split(name: str) -> None:
    a = load_benchmark(name, n_tasks=1, seed=0).tasks[0]
    b = load_benchmark(name, n_tasks=1, seed=1).tasks[0]
    assert a.x_train.shape == b.x_train.shape
    assert not torch.equal(a.x_train, b.x_train)


def test_first_tasks_do_not_depend_on_n_tasks() -> None:
    short = load_benchmark("permuted-digits", n_tasks=2, seed=3)
    long = load_benchmark("permuted-digits", n_tasks=5, seed=3)
    assert_same(short, Benchmark(**{**vars(long), "tasks": long.tasks[:2]}))


def test_split_indices_are_disjoint_stratified_and_used(mnist: Benchmark) -> None:
    x, labels = benchmarks._mnist_raw()
    train, val, test = benchmarks._split_indices(labels, (3000, 500, 1500), seed=0)
    assert (len(train), len(val), len(test)) == (3000, 500, 1500)
    assert np.array_equal(np.sort(np.concatenate([train, val, test])), np.arange(5000))
    for part, per_class in ((train, 300), (val, 50), (test, 150)):
        assert np.array_equal(np.bincount(labels[part], minlength=10), np.full(10, per_class))
    task = mnist.tasks[4]
    assert torch.equal(task.x_train, torch.tensor(x[train]))
    assert torch.equal(task.y_test[:, 0], torch.tensor(labels[test] == 4, dtype=torch.float32))


def test_mnist_train_and_test_share_no_image(mnist: Benchmark) -> None:
    def row_hashes(x: torch.Tensor) -> set[str]:
        return {hashlib.sha1(row.tobytes()).hexdigest() for row in x.numpy()}

    raw, _ = benchmarks._mnist_raw()
    assert len({row.tobytes() for row in raw}) == 5000  # no duplicates, so hashes are ids
    task = mnist.tasks[0]
    train, val, test = (row_hashes(getattr(task, f"x_{s}")) for s in SPLITS)
    assert len(train | val | test) == 5000
    assert not (train & test or train & val or val & test)


def test_loads_return_fresh_tensors() -> None:
    first = load_benchmark("digits-one-vs-rest", n_tasks=1, seed=2).tasks[0]
    expected = first.x_train.clone()
    first.x_train.add_(100.0)  # a careless caller must not corrupt the next load
    again = load_benchmark("digits-one-vs-rest", n_tasks=1, seed=2).tasks[0]
    assert torch.equal(again.x_train, expected)
    raw, _ = benchmarks._digits_raw()
    with pytest.raises(ValueError, match="read-only"):
        raw[0, 0] = 5.0


# ----------------------------------------------------------------------------- task kinds


def test_one_vs_rest_targets(mnist: Benchmark) -> None:
    for task in mnist.tasks:
        assert task.y_train.mean().item() == pytest.approx(0.1, abs=0.01)
        assert task.y_test.mean().item() == pytest.approx(0.1, abs=0.01)
    # Each digit is the positive class of exactly one task.
    positives = sum(task.y_train for task in mnist.tasks)
    assert torch.equal(positives, torch.ones(3000, 1))


@pytest.mark.parametrize(("name", "n_pixels"), [("permuted-mnist", 784), ("permuted-digits", 64)])
def test_permuted_tasks_permute_task_zeros_pixels(name: str, n_pixels: int) -> None:
    bench = load_benchmark(name, n_tasks=3, seed=5)
    base = bench.tasks[0]
    permutations = benchmarks._permutations(3, n_pixels, seed=5)
    for task, permutation in zip(bench.tasks[1:], permutations[1:], strict=True):
        assert not torch.equal(task.x_train, base.x_train)
        assert torch.equal(task.x_train.sort(1).values, base.x_train.sort(1).values)
        assert torch.equal(task.x_test, base.x_test[:, permutation])  # one shuffle for all
        assert torch.equal(task.y_train, base.y_train)
    assert not np.array_equal(permutations[1], permutations[2])


def test_permuted_digits_task_zero_is_the_plain_digits() -> None:
    plain = load_benchmark("digits-one-vs-rest", n_tasks=1, seed=4).tasks[0]
    permuted = load_benchmark("permuted-digits", n_tasks=1, seed=4).tasks[0]
    assert torch.equal(plain.x_val, permuted.x_val)
    assert torch.equal(permuted.y_val.argmax(1) == 0, plain.y_val[:, 0] == 1)


def test_rotation_by_zero_is_identity_and_by_90_matches_rot90() -> None:
    images = torch.tensor(benchmarks._mnist_raw()[0][:20]).view(-1, 28, 28)
    assert torch.allclose(rotate_images(images, 0.0), images, atol=1e-6)
    for k in (1, 2, -1):
        expected = torch.rot90(images, k, dims=(1, 2))
        assert torch.allclose(rotate_images(images, 90.0 * k), expected, atol=1e-6)
    per_image = rotate_images(images[:2], torch.tensor([0.0, 90.0]))
    assert torch.allclose(per_image[1], torch.rot90(images[1], 1), atol=1e-6)
    assert not torch.allclose(rotate_images(images, 45.0), images, atol=0.1)


def test_rotated_mnist_starts_unrotated(mnist: Benchmark) -> None:
    rotated = load_benchmark("rotated-mnist", n_tasks=2, seed=0)
    assert torch.allclose(rotated.tasks[0].x_train, mnist.tasks[0].x_train, atol=1e-6)
    assert not torch.allclose(rotated.tasks[1].x_train, mnist.tasks[0].x_train, atol=0.1)
    digits = rotated.tasks[1].y_train.argmax(1)
    assert torch.equal(digits == 3, mnist.tasks[3].y_train[:, 0] == 1)


def test_mnist_variation_has_noisy_backgrounds(mnist: Benchmark) -> None:
    variation = load_benchmark("mnist-variation", n_tasks=2, seed=0)
    clean, noisy = mnist.tasks[1], variation.tasks[1]
    assert torch.equal(clean.y_train, noisy.y_train)  # same split, same targets
    assert (clean.x_train == 0).float().mean() > 0.7  # clean digits: mostly black
    assert (noisy.x_train == 0).float().mean() < 0.01  # noise fills the background
    assert noisy.x_train.mean() > clean.x_train.mean() + 0.2
    again = load_benchmark("mnist-variation", n_tasks=1, seed=0).tasks[0]
    other = load_benchmark("mnist-variation", n_tasks=1, seed=1).tasks[0]
    assert torch.equal(again.x_train, variation.tasks[0].x_train)
    assert not torch.equal(other.x_train, again.x_train)


def test_toy_2d_tasks_are_balanced_and_labelled_by_their_shape() -> None:
    toy = {task.name: task for task in load_benchmark("toy-2d", seed=0).tasks}
    for task in toy.values():
        for split in SPLITS:
            fraction = getattr(task, f"y_{split}").mean().item()
            assert 0.35 < fraction < 0.65
    x, y = toy["xor"].x_train, toy["xor"].y_train[:, 0]
    assert torch.equal(y == 1, x[:, 0] * x[:, 1] > 0)
    x, y = toy["checkerboard"].x_train, toy["checkerboard"].y_train[:, 0]
    cells = torch.floor(2 * (x + 1)).long().sum(1) % 2
    assert torch.equal(y.long(), cells)
    x, y = toy["circles"].x_train, toy["circles"].y_train[:, 0]
    assert x[y == 1].norm(dim=1).mean() < x[y == 0].norm(dim=1).mean() - 0.3  # inner = 1


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"name": "mnist"}, ["'mnist'", "mnist-one-vs-rest", "toy-2d"]),
        ({"name": "toy-2d", "n_tasks": 0}, ["n_tasks", "1 to 6"]),
        ({"name": "toy-2d", "n_tasks": 7}, ["n_tasks", "1 to 6"]),
        ({"name": "permuted-mnist", "n_tasks": 21}, ["n_tasks", "1 to 20"]),
        ({"name": "mnist-one-vs-rest", "n_tasks": 2.0}, ["n_tasks", "1 to 10"]),
        ({"name": "mnist-one-vs-rest", "n_tasks": True}, ["n_tasks"]),
        ({"name": "toy-2d", "seed": -1}, ["seed", ">= 0"]),
        ({"name": "toy-2d", "seed": 1.5}, ["seed"]),
    ],
)
def test_bad_arguments_raise_benchmark_error(kwargs: dict, fragments: list[str]) -> None:
    with pytest.raises(BenchmarkError) as error:
        load_benchmark(**kwargs)
    assert isinstance(error.value, ValueError)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_importing_benchmarks_loads_no_data_package() -> None:
    code = (
        "import sys, den_engine.data.benchmarks; "
        "print(sorted({'sklearn', 'mlxtend', 'scipy', 'pandas'} & "
        "{m.split('.')[0] for m in sys.modules}))"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_toy_2d_order_picks_and_orders_tasks_without_changing_their_points():
    default = load_benchmark("toy-2d", seed=3)
    ordered = load_benchmark("toy-2d", seed=3, order=("xor", "blobs"))
    assert [t.name for t in ordered.tasks] == ["xor", "blobs"] and ordered.input_dim == 2
    by_name = {t.name: t for t in default.tasks}
    for task in ordered.tasks:  # a task's data does not depend on where it stands in the sequence
        assert torch.equal(task.x_train, by_name[task.name].x_train)
        assert torch.equal(task.y_test, by_name[task.name].y_test)
    assert [t.name for t in load_benchmark("toy-2d", 2, seed=3, order=("moons", "circles")).tasks] == [
        "moons",
        "circles",
    ]
    for bad in (("xor", "xor"), ("nope",), (), "xor"):
        with pytest.raises(BenchmarkError, match="order"):
            load_benchmark("toy-2d", order=bad)
    with pytest.raises(BenchmarkError, match="disagrees"):
        load_benchmark("toy-2d", 3, order=("xor", "blobs"))
    with pytest.raises(BenchmarkError, match="only toy-2d"):
        load_benchmark("digits-one-vs-rest", order=("xor",))
