"""A run's network as a ``torch.nn.Module``: the same outputs as the record's evaluation, for every task.

The oracles: ``ExpandableNet.forward`` (what ``den evaluate`` and the trainer compute) and
the AUROC and accuracy stored in run.json, recomputed here from the module's outputs. The
shipped runs hold retired (split) units and units born after older tasks, so a module that
lets an old task see them, or uses another task's head, changes the outputs.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from den_engine import ConfigError, RunFileError, Trainer, load_run, network_module, preset, task_module
from den_engine.data.benchmarks import load_benchmark
from den_engine.records import metrics
from den_engine.records.modules import NetworkModule, TaskModule

ROOT = Path(__file__).resolve().parents[3]
RUNS = {name: ROOT / "assets" / "runs" / name for name in ("toy2d-den-fast", "digits-den-fast")}


def _benchmark(run):
    bench = run.data["benchmark"]
    return load_benchmark(bench["name"], bench["n_tasks"], seed=run.data["seed"])


@pytest.fixture(scope="module", params=sorted(RUNS))
def shipped(request):
    run = load_run(RUNS[request.param])
    return run, _benchmark(run)


@pytest.fixture(scope="module")
def toy():
    run = load_run(RUNS["toy2d-den-fast"])
    return run, _benchmark(run)


def _check_against_record(module_of, run, benchmark, after: int) -> None:
    """Every task's outputs equal ExpandableNet.forward, and give the record's R[after][t] exactly."""
    net = run.network(after)
    row = run.tasks[after - 1]["metrics"]
    for t in range(1, after + 1):
        data = benchmark.tasks[t - 1]
        with torch.no_grad():
            out = module_of(t)(data.x_test)
            expected = net.forward(data.x_test, t)
        assert out.shape == expected.shape
        assert torch.allclose(out, expected, rtol=0, atol=1e-6), f"task {t}: max {float((out - expected).abs().max())}"
        assert metrics.auroc(out, data.y_test) == pytest.approx(row["auroc"][t - 1], abs=1e-9)
        assert metrics.accuracy(out, data.y_test) == pytest.approx(row["accuracy"][t - 1], abs=1e-9)


def _round_trip(module: TaskModule) -> TaskModule:
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    buffer.seek(0)
    fresh = TaskModule(*module.sizes)  # a new module of the same shape, with its own random weights
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    return fresh.eval()


def test_task_module_gives_the_record_for_every_task(shipped):
    run, benchmark = shipped
    last = len(run.tasks)
    modules = {t: task_module(run.path, t) for t in range(1, last + 1)}  # from the folder's path
    _check_against_record(modules.__getitem__, run, benchmark, last)
    _check_against_record(lambda t: _round_trip(modules[t]), run, benchmark, last)


def test_every_row_of_the_r_matrix_from_the_network_after_that_task(toy):
    run, benchmark = toy
    for after in range(1, len(run.tasks) + 1):
        _check_against_record(lambda t, k=after: task_module(run, t, after=k), run, benchmark, after)


def test_a_task_module_holds_exactly_the_units_its_task_uses(toy):
    run, _ = toy
    units = run.tasks[-1]["units"]
    assert any(u["retired"] for u in units) and len({u["born"] for u in units}) > 2  # splits and later units
    for t in range(1, len(run.tasks) + 1):
        module = task_module(run, t)
        for layer, ids in enumerate(module.unit_ids, 1):
            expected = [
                u["id"]
                for u in units
                if u["layer"] == layer and u["born"] <= t and (u["retired"] is None or u["retired"] > t)
            ]
            assert ids == expected
        assert module.head.out_features == run.tasks[t - 1]["n_outputs"]


def test_torchscript_and_export_give_the_same_outputs(toy):
    run, benchmark = toy
    net = run.network(len(run.tasks))
    whole = torch.jit.script(network_module(run))
    for t in (1, len(run.tasks)):
        x = benchmark.tasks[t - 1].x_test
        expected = net.forward(x, t)
        module = task_module(run, t).eval()
        scripted = torch.jit.script(module)
        exported = torch.export.export(module, (x,)).module()
        with torch.no_grad():
            for out in (scripted(x), exported(x), whole(x, t)):
                assert torch.allclose(out, expected, rtol=0, atol=1e-6)


def test_network_module_forward_x_task_and_state_dict(toy):
    run, benchmark = toy
    whole = network_module(run)
    _check_against_record(lambda t: lambda x: whole(x, t), run, benchmark, len(run.tasks))
    state = whole.state_dict()
    fresh = network_module(run)
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    fresh.load_state_dict(state)
    _check_against_record(lambda t: lambda x: fresh(x, t), run, benchmark, len(run.tasks))
    stored = run.weights(len(run.tasks))
    assert sum(p.numel() for p in whole.parameters()) == sum(
        v.numel() for k, v in stored.items() if k.startswith(("hidden.", "head."))
    )


def test_a_fresh_run_device_dtype_and_parameters(tmp_path):
    config = preset("fast", benchmark="toy-2d", iterations=60, head_iterations=20, split_threshold=0.01)
    with Trainer(config, "toy-2d", 3, tmp_path / "run") as trainer:
        trainer.run()
    run = load_run(tmp_path / "run")
    _check_against_record(lambda t: task_module(trainer.net, t), run, trainer.benchmark, 3)
    module = task_module(run, 2).to(torch.float64).eval()
    assert all(p.dtype == torch.float64 for p in module.parameters())
    x = trainer.benchmark.tasks[1].x_test
    assert torch.allclose(module(x.double()).float(), trainer.net.forward(x, 2), atol=1e-5)
    sizes = module.sizes
    assert sum(p.numel() for p in module.parameters()) == sum(
        n_in * n_out + n_out for n_in, n_out in zip([sizes[0], *sizes[1]], [*sizes[1], sizes[2]], strict=True)
    )
    if torch.cuda.is_available():
        on_gpu = task_module(run, 2).to("cuda")
        assert torch.allclose(on_gpu(x.cuda()).cpu(), trainer.net.forward(x, 2), atol=1e-5)
    assert isinstance(network_module(trainer.net), NetworkModule)


def test_bad_requests_name_what_is_wrong(toy, tmp_path):
    run, _ = toy
    with pytest.raises(ConfigError, match="task: this network has tasks"):
        task_module(run, 0)
    with pytest.raises(ConfigError, match="task:"):
        task_module(run, len(run.tasks) + 1)
    with pytest.raises(ConfigError, match="after: .* finished tasks 1 to 6"):
        task_module(run, 1, after=7)
    with pytest.raises(ConfigError, match="task:"):
        task_module(run, 4, after=3)  # task 4's head did not exist after task 3
    with pytest.raises(RunFileError, match="no such run directory"):
        task_module(tmp_path / "missing", 1)


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory):
    """A two-task conv run on 8x8 digits that expands and splits filters (a few seconds)."""
    config = preset(
        "fast", benchmark="digits-one-vs-rest", conv_channels=(3, 4), hidden_sizes=(8,),
        iterations=8, head_iterations=4, loss_threshold=0.0, split_threshold=0.0,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("conv") / "run"
    with Trainer(config, "digits-one-vs-rest", 2, folder) as trainer:
        trainer.run()
    run = load_run(folder)
    return run, _benchmark(run)


def test_a_conv_runs_task_modules_give_the_record_before_and_after_a_round_trip_and_export(conv_run):
    run, benchmark = conv_run
    units = run.tasks[-1]["units"]
    filters = [u for u in units if u["layer"] == 1]  # the first conv layer
    assert any(u["retired"] == 2 for u in filters) and any(u["born"] == 2 for u in filters)  # splits, growth
    modules = {t: task_module(run, t).eval() for t in (1, 2)}
    assert [len(ids) for ids in modules[1].unit_ids] != [len(ids) for ids in modules[2].unit_ids]
    _check_against_record(modules.__getitem__, run, benchmark, 2)
    _check_against_record(lambda t: _round_trip(modules[t]), run, benchmark, 2)
    whole = network_module(run)
    _check_against_record(lambda t: lambda x: whole(x, t), run, benchmark, 2)
    scripted_whole = torch.jit.script(whole)
    net = run.network(2)
    for t, module in modules.items():
        x = benchmark.tasks[t - 1].x_test
        expected = net.forward(x, t)
        scripted = torch.jit.script(module)
        exported = torch.export.export(module, (x,)).module()
        with torch.no_grad():
            images = module(x.reshape(-1, *net.input_shape))  # (batch, C, H, W) inputs work too
            for out in (scripted(x), exported(x), scripted_whole(x, t), images):
                assert torch.allclose(out, expected, rtol=0, atol=1e-6)
