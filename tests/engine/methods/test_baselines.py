"""Baselines: each method's invariant against an oracle, on tiny data (toy-2d, 8-8 networks)."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from den_engine.core.config import preset
from den_engine.core.errors import ConfigError
from den_engine.core.network import ExpandableNet
from den_engine.core.runner import Trainer
from den_engine.core.training import StageSettings, Trainable, train_stage
from den_engine.methods import get_method, method_names
from den_engine.methods.baselines import EWCConfig, L2Config, STLConfig
from den_engine.methods.baselines import ewc as ewc_lib
from den_engine.records.evaluate import evaluate_run
from den_engine.records.metrics import mlp_parameter_count
from den_engine.records.store import load_run, strip_timings

BENCH, TASKS = "toy-2d", 3
BASELINES = ["finetune", "l2", "ewc", "progressive", "stl", "mtl"]


def tiny(method, **overrides):
    values = dict(hidden_sizes=(8, 8), iterations=20, batch_size=64, device="cpu")
    return preset("fast", get_method(method).config_class, **{**values, **overrides})


def trained(method, tasks=TASKS, out=None, **overrides):
    """A trainer after each task, with a deep copy of the network after every task."""
    trainer = Trainer(tiny(method, **overrides), BENCH, tasks, out, method=method)
    nets = []
    while not trainer.finished:
        trainer.train_next()
        nets.append(trainer.net.clone())
    return trainer, nets


def born(net, layer):
    return torch.tensor([u.born for u in net.units[layer]])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("baselines")
    return {m: (root / m, *trained(m, out=root / m)) for m in BASELINES}


def test_every_baseline_is_registered_with_its_own_config():
    names = method_names()
    classes = {get_method(m).config_class for m in BASELINES}
    assert set(BASELINES) <= set(names) and len(classes) == len(BASELINES)
    assert get_method("mtl").sequential is False and get_method("ewc").sequential is True


@pytest.mark.parametrize("method", BASELINES)
def test_record_loads_and_evaluate_agrees(runs, method):
    out, trainer, nets = runs[method]
    run = load_run(out)
    assert run.data["method"] == method and run.data["status"] == "complete"
    assert evaluate_run(out)["agrees_with_record"]
    for task, snap in enumerate(run.tasks, start=1):
        net = run.network(task)
        assert sorted(net.heads) == list(range(1, task + 1))
        assert all(torch.equal(a, b) for a, b in zip(net.weights, nets[task - 1].weights, strict=True))
        ids = [u["id"] for u in snap["units"]]
        assert len(ids) == len(set(ids))
        columns = method in ("progressive", "stl")
        for u in snap["units"]:
            assert (u["origin"], u["parent"], u["retired"]) == (("base" if u["born"] == 1 else "expanded"), None, None)
            assert u["born"] == 1 or columns
        assert snap["layer_sizes"][1:] == [8 * (task if columns else 1)] * 2


def test_progressive_old_columns_and_outputs_are_bit_identical(runs):
    _, trainer, nets = runs["progressive"]
    data = trainer.benchmark.tasks
    for t, old in enumerate(nets[:-1], start=1):
        for later in nets[t:]:
            for layer in range(2):
                rows, cols = old.weights[layer].shape
                assert torch.equal(later.weights[layer][:rows, :cols], old.weights[layer])
                assert torch.equal(later.biases[layer][:rows], old.biases[layer])
                # new columns' weights into old units: structural zeros, never trained
                assert not later.weights[layer][:rows, cols:].any()
            for task in range(1, t + 1):
                assert all(torch.equal(a, b) for a, b in zip(later.heads[task], old.heads[task], strict=True))
                x = data[task - 1].x_test
                assert torch.equal(later.forward(x, task), old.forward(x, task))
    last = nets[-1]
    assert last.weights[1][born(last, 1) == 3][:, born(last, 0) < 3].any()  # lateral connections are used


def test_stl_columns_are_separate_networks(runs):
    _, trainer, nets = runs["stl"]
    last = nets[-1]
    for layer in (1,):
        rows, cols = born(last, layer)[:, None], born(last, layer - 1)[None, :]
        assert not last.weights[layer][rows != cols].any()
    head = last.heads[3][0]
    assert not head[:, born(last, 1) != 3].any()
    for t, old in enumerate(nets[:-1], start=1):
        rows, cols = old.weights[1].shape
        assert torch.equal(last.weights[1][:rows, :cols], old.weights[1])
        assert torch.equal(last.weights[0][: old.weights[0].shape[0]], old.weights[0])
        x = trainer.benchmark.tasks[t - 1].x_test
        assert torch.equal(last.forward(x, t), old.forward(x, t))
    # task 3 does not depend on columns 1 and 2: scramble them, its outputs stay the same
    x = trainer.benchmark.tasks[2].x_test
    before = last.forward(x, 3)
    scrambled = last.clone()
    for layer in range(2):
        old_rows = born(last, layer) < 3
        scrambled.weights[layer][old_rows] = torch.randn_like(scrambled.weights[layer][old_rows])
        scrambled.biases[layer][old_rows] = 5.0
    assert torch.equal(scrambled.forward(x, 3), before)


def test_stl_counts_t_separate_networks(runs):
    out, trainer, _ = runs["stl"]
    final = load_run(out).data["final"]["params"]
    single = mlp_parameter_count(trainer.benchmark.input_dim, (8, 8), 1)
    assert final["total"] == TASKS * single and final["relative_to_stl"] == pytest.approx(1.0)
    progressive = load_run(runs["progressive"][0]).data["final"]["params"]
    assert final["total"] < progressive["total"] < runs["progressive"][2][-1].parameter_count()[0]


def test_l2_with_huge_lambda_keeps_shared_weights_while_finetune_moves_them():
    _, l2 = trained("l2", tasks=2, l2_transfer=1e5)
    _, ft = trained("finetune", tasks=2)
    moved = [max(float((nets[1].weights[i] - nets[0].weights[i]).abs().max()) for i in range(2)) for nets in (l2, ft)]
    assert moved[1] > 0.02 and moved[0] < 0.1 * moved[1]
    assert all(torch.equal(a.weights[0], b.weights[0]) for a, b in [(l2[0], ft[0])])  # same start


def _tiny_net(k_outputs=2):
    gen = torch.Generator().manual_seed(3)
    net = ExpandableNet(3, (4, 3), gen)
    net.add_head(1, k_outputs)
    net.heads[1] = (torch.randn(k_outputs, 3, generator=gen), torch.randn(k_outputs, generator=gen))
    return net, torch.randn(5, 3, generator=gen)


def test_fisher_diagonal_matches_a_direct_per_sample_computation():
    net, x = _tiny_net()
    fisher = ewc_lib.fisher_diagonal(net, 1, x, chunk=2)
    names = ewc_lib.parameter_names(net)
    direct = {name: torch.zeros_like(t) for name, t in names}
    for n in range(x.shape[0]):  # E_{y ~ model} of squared score, by enumerating every label vector
        for y in itertools.product((0.0, 1.0), repeat=2):
            tensors = [t.clone().requires_grad_(True) for _, t in names]
            probe = net.clone()
            probe.weights, probe.biases = tensors[0::2], tensors[1::2]
            logits = probe.forward(x[n : n + 1], 1)
            target = torch.tensor([y])
            log_p = -F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
            grads = torch.autograd.grad(log_p, tensors)
            prob = float(log_p.detach().exp())
            for (name, _), g in zip(names, grads, strict=True):
                direct[name] += prob * g.square() / x.shape[0]
    for name, _ in names:
        torch.testing.assert_close(fisher[name], direct[name], rtol=1e-5, atol=1e-7)
    assert all(float(f.sum()) > 0 for f in fisher.values())


def test_ewc_penalty_is_zero_at_the_anchor_and_matches_the_sum_over_tasks():
    net1, x = _tiny_net()
    f1 = ewc_lib.fisher_diagonal(net1, 1, x)
    state = ewc_lib.accumulate({}, f1, net1)
    scale = 10.0 / 2 * sum(float(v.sum()) for k, v in state.items() if k.startswith("ewc.const."))
    assert abs(ewc_lib.penalty(state, net1, 10.0)) <= 1e-6 * scale  # zero up to float32 rounding of F W*
    for name, w in ewc_lib.parameter_names(net1):
        assert not ewc_lib.penalty_grad(state, name, 10.0)(w).any()
    net2 = net1.clone()
    for w in net2.weights:
        w.add_(0.3)
    f2 = ewc_lib.fisher_diagonal(net2, 1, x)
    state = ewc_lib.accumulate(state, f2, net2)
    net3 = net1.clone()
    for w in net3.weights:
        w.mul_(-0.5)
    explicit = 0.0
    for name, w in ewc_lib.parameter_names(net3):
        w = w.clone().requires_grad_(True)
        anchors = dict(ewc_lib.parameter_names(net1))[name], dict(ewc_lib.parameter_names(net2))[name]
        value = sum(10.0 / 2 * (f[name] * (w - a) ** 2).sum() for f, a in zip((f1, f2), anchors, strict=True))
        (grad,) = torch.autograd.grad(value, w)
        torch.testing.assert_close(ewc_lib.penalty_grad(state, name, 10.0)(w.detach()), grad)
        explicit += float(value.detach())
    assert ewc_lib.penalty(state, net3, 10.0) == pytest.approx(explicit, rel=1e-5)


def test_ewc_state_is_saved_and_resume_gives_the_same_run(runs, tmp_path):
    out, trainer, _ = runs["ewc"]
    tensors = load_run(out).weights(TASKS)
    assert any(k.startswith("state.ewc.fisher.") for k in tensors)
    events = [e for e in load_run(out).tasks[-1]["events"] if e["type"] == "fisher"]
    assert len(events) == 1 and events[0]["penalty"] >= 0
    first, _ = trained("ewc", tasks=TASKS, out=tmp_path / "a")
    partial = Trainer(tiny("ewc"), BENCH, TASKS, tmp_path / "b", method="ewc")
    partial.train_next()
    partial.close()  # as if its process had ended
    Trainer.resume(tmp_path / "b").run()
    a, b = (strip_timings(load_run(p).data) for p in (tmp_path / "a", tmp_path / "b"))
    assert a["tasks"] == b["tasks"]


def test_ewc_penalty_holds_weights_closer_than_finetune():
    _, ft = trained("finetune", tasks=2)
    _, ew = trained("ewc", tasks=2, ewc_lambda=1e6)
    drift = [float((nets[1].weights[0] - nets[0].weights[0]).norm()) for nets in (ew, ft)]
    assert drift[0] < drift[1]


def test_mtl_retrains_old_heads_jointly(runs):
    out, _, nets = runs["mtl"]
    assert not torch.equal(nets[2].heads[1][0], nets[1].heads[1][0])
    stage = next(e for e in load_run(out).tasks[-1]["events"] if e["type"] == "stage_end")
    assert stage["stage"] == "joint_training" and stage["tasks"] == TASKS


def test_extra_grad_is_masked_and_a_strong_pull_reaches_its_target():
    net = ExpandableNet(2, (3,), torch.Generator().manual_seed(0))
    net.add_head(1, 1)
    x, y = torch.randn(32, 2), torch.ones(32, 1)
    w = net.weights[0]
    before = w.clone()
    target = torch.full_like(w, 0.5)
    mask = torch.zeros_like(w, dtype=torch.bool)
    mask[0] = True
    settings = StageSettings(0.05, 1.0, 16, 0.0, 0.0, 0.0, 0.0)
    item = Trainable(w, mask, extra_grad=lambda t: 1e4 * (t - target))
    train_stage("s", net, 1, x, y, [item], settings, 200, torch.Generator().manual_seed(1))
    assert torch.equal(w[1:], before[1:])
    torch.testing.assert_close(w[0], target[0], atol=0.02, rtol=0)


def test_a_one_task_joint_stage_is_the_plain_stage():
    results = []
    for tasks in (None, "joint"):
        net = ExpandableNet(2, (3,), torch.Generator().manual_seed(0))
        net.add_head(1, 1)
        x, y = torch.randn(40, 2, generator=torch.Generator().manual_seed(2)), torch.ones(40, 1)
        jobs = None if tasks is None else [(1, x, y)]
        settings = StageSettings(0.01, 1.0, 16, 1e-4, 0.0, 0.0, 0.0)
        r = train_stage("s", net, 1, x, y, [Trainable(net.weights[0])], settings, 7, torch.Generator(), tasks=jobs)
        results.append((net.weights[0], r.loss))
    assert torch.equal(results[0][0], results[1][0]) and results[0][1] == results[1][1]


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [(EWCConfig, "ewc_lambda", -1.0), (EWCConfig, "ewc_lambda", float("inf")), (L2Config, "l2_transfer", 0.0),
     (STLConfig, "hidden_sizes", ()), (STLConfig, "iterations", 0)],
)  # fmt: skip
def test_configs_reject_bad_values_naming_the_field(cls, field, value):
    with pytest.raises(ConfigError) as info:
        cls(**{field: value})
    assert info.value.field == field


def test_presets_give_baselines_the_same_budget_and_round_trip():
    config = preset("fast", EWCConfig, seed=3)
    den = preset("fast")
    assert (config.iterations, config.learning_rate, config.preset) == (den.iterations, den.learning_rate, "fast")
    assert EWCConfig.from_dict(config.to_dict()) == config
