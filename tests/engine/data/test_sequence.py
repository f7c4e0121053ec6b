"""TaskSequence: one type from arrays, tensors, Datasets and the built-in benchmarks; targets, shapes, validation."""

import numpy as np
import pytest
import torch

from den_engine import DataError, TaskSequence
from den_engine.data.benchmarks import Benchmark, load_benchmark
from den_engine.data.sources import data_key, resolve_sequence


def arrays(n=20, shape=(3,), seed=0, labels=None):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2 if labels is None else labels
    return {
        "x_train": rng.normal(size=(n, *shape)).astype(np.float32),
        "y_train": y,
        "x_test": rng.normal(size=(n // 2, *shape)).astype(np.float32),
        "y_test": y[: n // 2],
    }


class PairDataset(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = torch.as_tensor(x), torch.as_tensor(y)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def test_built_in_benchmarks_are_task_sequences():
    bench = load_benchmark("toy-2d", 2, seed=0)
    assert isinstance(bench, TaskSequence) and Benchmark is TaskSequence
    assert bench.source is None and data_key("toy-2d") == "toy-2d" == bench.key


def test_arrays_tensors_tuples_and_datasets_give_the_same_tasks():
    a = arrays()
    from_numpy = TaskSequence.from_arrays([a])
    from_tensors = TaskSequence.from_arrays([{k: torch.as_tensor(v) for k, v in a.items()}])
    from_tuple = TaskSequence.from_arrays([(a["x_train"], a["y_train"], a["x_test"], a["y_test"])])
    from_data = TaskSequence.from_datasets(
        [PairDataset(a["x_train"], a["y_train"])], [PairDataset(a["x_test"], a["y_test"])]
    )
    for other in (from_tensors, from_tuple, from_data):
        for key in ("x_train", "y_train", "x_test", "y_test"):
            assert torch.equal(getattr(other.tasks[0], key), getattr(from_numpy.tasks[0], key)), key
    assert from_numpy.key == from_tuple.key  # the same arrays, the same fingerprint


def test_integer_labels_become_one_sigmoid_output_per_class():
    labels = np.array([0, 2, 1, 2, 0, 1] * 3)
    seq = TaskSequence.from_arrays([arrays(n=18, labels=labels)])
    task = seq.tasks[0]
    assert task.n_outputs == 3 and task.y_train.shape == (18, 3)
    assert torch.equal(task.y_train.argmax(1), torch.as_tensor(labels)) and set(task.y_train.sum(1).tolist()) == {1.0}


def test_a_zero_one_matrix_is_kept_as_the_targets():
    y = np.array([[1, 0, 1], [0, 1, 0]] * 10)
    a = arrays()
    a["y_train"], a["y_test"] = y, y[:10]
    task = TaskSequence.from_arrays([a]).tasks[0]
    assert task.n_outputs == 3 and torch.equal(task.y_train, torch.as_tensor(y, dtype=torch.float32))


@pytest.mark.parametrize("shape", [(3,), (5, 4), (2, 5, 4)])
def test_inputs_of_any_shape_keep_it_and_are_flattened_for_the_network(shape):
    a = arrays(shape=shape)
    seq = TaskSequence.from_arrays([a, arrays(shape=shape, seed=1)])
    assert seq.input_shape == shape and seq.input_dim == int(np.prod(shape))
    assert torch.equal(seq.tasks[0].x_train, torch.as_tensor(a["x_train"]).reshape(20, -1))


def test_validation_is_drawn_from_train_by_the_seed_and_a_given_one_is_kept():
    seq = TaskSequence.from_arrays([arrays(), arrays(seed=1)])
    a, b, c = seq.with_validation(0), seq.with_validation(0), seq.with_validation(1)
    assert torch.equal(a.tasks[0].x_val, b.tasks[0].x_val)
    assert not torch.equal(a.tasks[0].x_val, c.tasks[0].x_val)
    assert len(a.tasks[0].x_val) == 3 and len(a.tasks[0].x_train) == 17
    rows = {tuple(r) for r in torch.cat([a.tasks[0].x_train, a.tasks[0].x_val]).tolist()}
    assert rows == {tuple(r) for r in seq.tasks[0].x_train.tolist()}  # a partition of the training set
    given = arrays()
    given["x_val"], given["y_val"] = given["x_test"][:4], given["y_test"][:4]
    kept = TaskSequence.from_arrays([given]).with_validation(0).tasks[0]
    assert torch.equal(kept.x_val, torch.as_tensor(given["x_val"])) and len(kept.x_train) == 20


def test_other_data_has_another_key_and_a_hand_built_sequence_is_fingerprinted():
    one = TaskSequence.from_arrays([arrays()])
    other = arrays()
    other["x_train"][0, 0] += 1e-3
    assert one.key != TaskSequence.from_arrays([other]).key
    bench = load_benchmark("toy-2d", 1, seed=0)
    resolved = resolve_sequence(bench, None, 0)  # passed as an object: never mistaken for the benchmark
    assert resolved.source["kind"] == "memory" and resolved.key != "toy-2d"


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda a: a.update(y_train=np.zeros(20, int)), "one class only"),
        (lambda a: a.update(x_train=np.array([[None]] * 20)), "holds Python objects"),
        (lambda a: a.pop("y_test"), "y_test_1 is missing"),
        (lambda a: a.update(y_test=np.eye(2)[a["y_test"]]), "some splits give integer labels"),
    ],
)
def test_bad_arrays_name_what_is_wrong(change, words):
    a = arrays()
    change(a)
    with pytest.raises(DataError, match=words):
        TaskSequence.from_arrays([a])
