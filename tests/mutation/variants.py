"""Wrong variants of the engine that the test suite must catch (run by tests/mutation/run.py).

Each variant is an exact text replacement in one engine file, the mistake a careless
re-implementation of the paper (or the authors' code, bugs K1-K7) would make, with the
fast tests expected to fail on it. Keep every ``old`` text unique in its file: the runner
refuses a variant whose text is missing or ambiguous, so a refactor cannot silently turn a
variant into a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

DEN = "den_engine/core/den.py"
NET = "den_engine/core/network.py"
GROWTH = "den_engine/core/growth.py"
TRAIN = "den_engine/core/training.py"
STAGES = "tests/engine/core/test_stages.py"
CORE = "tests/engine/core/test_den.py"
ORACLES = "tests/engine/core/test_stage_oracles.py"
MODULES = "den_engine/records/modules.py"
MODULE_TESTS = "tests/engine/records/test_modules.py"
LIVE_TESTS = "tests/engine/records/test_live.py"
CONV = "tests/engine/core/test_conv.py"
EWC = "den_engine/methods/baselines/ewc.py"
CONV_BASELINES = "tests/engine/methods/test_baselines_conv.py"


@dataclass(frozen=True)
class Variant:
    """One wrong engine: replace ``old`` by ``new`` in ``path``; ``tests`` must then fail.

    An edit is ``(old, new)`` in ``path``, or ``(other_path, old, new)`` for a mistake that
    spans two files.
    """

    name: str
    description: str
    path: str
    edits: tuple[tuple[str, ...], ...]
    tests: tuple[str, ...]


def _v(name, description, path, old, new, *tests):
    return Variant(name, description, path, ((old, new),), tests)


VARIANTS = [
    _v("K1-eq3-one-step", "Eq. 3 runs a single step (the reference's loop bug)", DEN,
       'ctx.train("train_head", net, items, ctx.config.head_iterations)',
       'ctx.train("train_head", net, items, 1)',
       f"{STAGES}::test_every_stage_gets_its_full_budget",
       f"{STAGES}::test_eq3_with_l1_leaves_exact_zeros_in_the_new_head"),
    _v("eq3-trains-hidden", "Eq. 3 also trains the hidden layers", DEN,
       "items = [Trainable(head_w, mask, l1=True), Trainable(head_b)]",
       "items = [Trainable(head_w, mask, l1=True), Trainable(head_b), *(Trainable(w) for w in net.weights)]",
       f"{CORE}::test_eq3_trains_only_the_new_head"),
    _v("eq2-no-l1", "sparse training (Eq. 2) without the L1 step", DEN,
       "items += [Trainable(w, l1=True), Trainable(b)]", "items += [Trainable(w, l1=False), Trainable(b)]",
       f"{CORE}::test_sparse_training_gives_exact_zeros"),
    _v("K2-selection-column-0", "selection reads only output column 0 of the head", DEN,
       "used = (head_w != 0).any(dim=0).cpu() & net.active(top, task)",
       "used = (head_w[0] != 0).cpu() & net.active(top, task)",
       f"{CORE}::test_selection_follows_nonzero_weights_breadth_first"),
    _v("selection-not-breadth-first", "every lower unit is selected, not only those feeding selected units", DEN,
       "used = (into != 0).any(dim=0).cpu() & net.active(layer, task)", "used = net.active(layer, task)",
       f"{CORE}::test_selection_follows_nonzero_weights_breadth_first"),
    _v("eq4-whole-rows", "Eq. 4 trains whole rows of the selected units, not the selected block", DEN,
       "mask = sel[:, None] & full_below[None, :]", "mask = sel[:, None].expand(-1, w.shape[1]).clone()",
       f"{STAGES}::test_eq4_trains_exactly_the_block_between_selected_units"),
    _v("eq4-no-pull", "Eq. 4 without the lambda pull toward W^{t-1}", DEN,
       'items = _block_items(net, prev, ctx.task, rows, l1=True)\n    ctx.train("selective_retraining"',
       'items = _block_items(net, None, ctx.task, rows, l1=True)\n    ctx.train("selective_retraining"',
       f"{STAGES}::test_eq4_pulls_retrained_weights_toward_their_previous_values"),
    _v("l1-on-biases", "the L1 step also shrinks the biases of Eq. 4", DEN,
       "items.append(Trainable(b, sel.clone(), anchor_b, pull_b, l1=False))",
       "items.append(Trainable(b, sel.clone(), anchor_b, pull_b, l1=True))",
       f"{STAGES}::test_eq4_l1_leaves_biases_alone"),
    _v("tau-reversed", "expansion fires below tau instead of above", DEN,
       "expand = loss > ctx.config.loss_threshold", "expand = loss < ctx.config.loss_threshold",
       f"{CORE}::test_expansion_fires_only_above_tau_and_old_weights_stay_frozen"),
    _v("eq5-old-weights-unfrozen", "expansion trains the old weights too (no mask)", DEN,
       "items += [Trainable(w, mask, l1=True), Trainable(b, new_rows.clone())]",
       "items += [Trainable(w, l1=True), Trainable(b)]",
       f"{STAGES}::test_eq5_trains_only_new_weights_and_old_heads_never_change"),
    _v("eq5-groups-on-old-units", "group lasso shrinks old units as well as new ones", DEN,
       "groups.append(Group(w, b, new_rows.nonzero().squeeze(1)))",
       "groups.append(Group(w, b, torch.arange(w.shape[0], device=w.device)))",
       f"{STAGES}::test_eq5_trains_only_new_weights_and_old_heads_never_change"),
    _v("group-lasso-one-norm-per-layer", "group lasso as one norm over the whole layer, not per unit", TRAIN,
       "norm = torch.sqrt((w * w).sum(dim=1) + b * b)",
       "norm = torch.sqrt((w * w).sum() + (b * b).sum()).expand(b.shape)",
       f"{STAGES}::test_group_lasso_shrinks_each_unit_by_its_own_norm"),
    _v("group-lasso-one-norm-per-layer-batched", "the batched group-lasso step: one norm over a layer's groups",
       TRAIN,
       "norms = torch._foreach_add([sq.sum(dim=1) for sq in squares], torch._foreach_mul(self.biases, self.biases))",
       "norms = [(sq.sum() + (b * b).sum()).repeat(b.shape[0]) for sq, b in zip(squares, self.biases)]",
       f"{STAGES}::test_group_lasso_shrinks_each_unit_by_its_own_norm"),
    Variant("prox-order-swapped", "group lasso before L1 within a step (documented: L1 first; K7)", TRAIN, ((
        "        if settings.l1_strength:\n"
        "            for item in items:\n"
        "                if item.l1:\n"
        "                    _soft_threshold_(item.tensor, settings.l1_strength * scale, item.mask)\n"
        "        if settings.group_lasso:\n"
        "            shrink(settings.group_lasso * scale)",
        "        if settings.group_lasso:\n"
        "            shrink(settings.group_lasso * scale)\n"
        "        if settings.l1_strength:\n"
        "            for item in items:\n"
        "                if item.l1:\n"
        "                    _soft_threshold_(item.tensor, settings.l1_strength * scale, item.mask)",
    ),), (f"{STAGES}::test_l1_runs_before_group_lasso_within_a_step",)),
    _v("prox-scaling-ignored", "prox_scale_with_lr accepted but the thresholds never follow the step size", TRAIN,
       'scale = optimizer.param_groups[0]["lr"] / settings.learning_rate if settings.prox_scale_with_lr else 1.0',
       "scale = 1.0",
       f"{STAGES}::test_proximal_thresholds_follow_the_step_size_when_asked"),
    _v("frozen-gradient-not-masked", "frozen entries keep their gradient (masks not applied)", TRAIN,
       "torch._foreach_mul_([item.tensor.grad for item in masked], [item.mask for item in masked])", "pass",
       f"{CORE}::test_frozen_entries_are_bit_identical_after_a_masked_stage"),
    _v("optimizer-not-rebuilt", "one Adam kept across stages and shape changes", TRAIN,
       "    optimizer = torch.optim.Adam(param_groups, lr=settings.learning_rate, fused=_fused_ok(tensors))",
       "    global _OPT\n"
       '    if "_OPT" not in globals() or sum(len(g["params"]) for g in _OPT.param_groups) != len(tensors):\n'
       "        _OPT = torch.optim.Adam(param_groups, lr=settings.learning_rate, fused=_fused_ok(tensors))\n"
       "    optimizer = _OPT",
       f"{CORE}::test_optimizer_holds_exactly_the_trainable_tensors"),
    _v("loss-on-stored-network", "a stage's loss computed over every stored unit (masked), not the active ones", TRAIN,
       "logits = net.forward(x[start : start + chunk], task)",
       "logits = net.forward(x[start : start + chunk], task, net.plan(task))",
       "tests/engine/core/test_dense_path.py::test_a_stages_loss_costs_the_active_units_not_the_stored_ones"),
    _v("decay-dropped-for-whole-tensors", "weight decay handed to Adam's kernel at 0 for tensors trained whole", TRAIN,
       '[{"params": in_adam, "weight_decay": settings.weight_decay}]',
       '[{"params": in_adam, "weight_decay": 0.0}]',
       f"{CORE}::test_weight_decay_acts_on_every_trained_tensor_as_in_plain_adam"),
    _v("decay-in-adam-for-masked-tensors", "Adam's kernel decays a masked tensor, frozen entries included", TRAIN,
       "if mask is None and not pulled and item.extra_grad is None:",
       "if not pulled and item.extra_grad is None:",
       f"{CORE}::test_frozen_entries_are_bit_identical_after_a_masked_stage"),
    _v("l1-hard-threshold", "the L1 step zeroes small weights but leaves the rest unshrunk (hard threshold)", TRAIN,
       "torch.ops.aten.softshrink.out(t, amount, out=t)",
       "torch.ops.aten.hardshrink.out(t, amount, out=t)",
       f"{STAGES}::test_proximal_thresholds_follow_the_step_size_when_asked"),
    _v("prune-keeps-outgoing", "pruning leaves a dead unit's outgoing weights in the next layer", GROWTH,
       "net.weights[layer + 1] = net.weights[layer + 1].index_select(1, idx)", "pass",
       f"{STAGES}::test_eq5_prunes_every_unit_whose_group_reached_zero"),
    _v("timestamp-off-by-one", "a task's slice leaves out the units born at that task", NET,
       "return bisect.bisect_right(self._born[layer], task)", "return bisect.bisect_left(self._born[layer], task)",
       f"{STAGES}::test_eq5_trains_only_new_weights_and_old_heads_never_change"),
    Variant("old-heads-see-new-units", "no timestamps: every task (and its head) sees every unit", NET, (
        ("return bisect.bisect_right(self._born[layer], task)", "return len(self._born[layer])"),
        (GROWTH,
         "        head_w, head_b = net.heads[task]\n"
         "        cols = _outgoing(net, columns, head_w.shape[0], k)\n"
         "        net.heads[task] = (torch.cat([head_w, cols], dim=1), head_b)",
         "        for other, (head_w, head_b) in list(net.heads.items()):\n"
         "            cols = _outgoing(net, columns if other == task else None, head_w.shape[0], k)\n"
         "            net.heads[other] = (torch.cat([head_w, cols], dim=1), head_b)"),
    ), (f"{STAGES}::test_eq5_trains_only_new_weights_and_old_heads_never_change",
        "tests/engine/core/test_den.py::test_units_born_at_task_2_do_not_change_task_1_outputs")),
    _v("drift-squared", "drift as the squared distance instead of the L2 norm", DEN,
       "values = torch.linalg.vector_norm(change, dim=1).cpu()", "values = (change**2).sum(dim=1).cpu()",
       f"{STAGES}::test_drift_is_the_l2_norm_of_each_units_incoming_change"),
    _v("split-at-sigma", "units with drift equal to sigma are split (>= instead of >)", DEN,
       "if v > sigma)", "if v >= sigma)",
       f"{CORE}::test_split_units_restore_old_tasks_and_record_pairs"),
    _v("K3-split-only-when-expanding", "split runs only inside the expansion branch", DEN,
       "        touched = [a + b for a, b in zip(touched, kept, strict=True)]\n    split_units(",
       "        touched = [a + b for a, b in zip(touched, kept, strict=True)]\n        split_units(",
       f"{CORE}::test_split_units_restore_old_tasks_and_record_pairs"),
    _v("K4-duplicate-carries-old-weights", "the current weights are reset to t-1 before the split", DEN,
       "_, i = net.locate(uid)\n            dup = net.split(",
       "_, i = net.locate(uid)\n"
       "            net.weights[layer][i, : prev.weights[layer].shape[1]] = prev.weights[layer][i]\n"
       "            dup = net.split(",
       f"{STAGES}::test_split_keeps_every_output_until_eq6_and_gives_old_tasks_the_originals"),
    _v("K5-least-drifted", "the split cap keeps the least drifted units", DEN,
       "key=lambda item: (-item[0], item[1]),", "key=lambda item: (item[0], item[1]),",
       f"{CORE}::test_split_cap_keeps_the_most_drifted"),
    _v("K6-random-duplicate-bias", "duplicate biases drawn U[0,1) instead of copied", GROWTH,
       "net.biases[layer] = torch.cat([b, b[i : i + 1]])",
       "net.biases[layer] = torch.cat([b, torch.rand(1, dtype=b.dtype, device=b.device)])",
       f"{STAGES}::test_split_keeps_every_output_until_eq6_and_gives_old_tasks_the_originals"),
    Variant("split-roles-swapped", "the duplicate gets the t-1 weights and the original keeps the drift", GROWTH, (
        ("net.weights[layer][i] = restored\n    net.biases[layer][i] = old_bias",
         "net.weights[layer][-1] = restored\n    net.biases[layer][-1] = old_bias"),
    ), (f"{STAGES}::test_split_keeps_every_output_until_eq6_and_gives_old_tasks_the_originals",)),
    _v("split-original-not-retired", "the split original stays in the new task's forward pass", GROWTH,
       "net.units[layer][i] = replace(original, retired=task)", "net.units[layer][i] = original",
       f"{STAGES}::test_split_keeps_every_output_until_eq6_and_gives_old_tasks_the_originals"),
    _v("duplicate-outgoing-zero", "a duplicate's outgoing weights start at zero instead of copied", GROWTH,
       "column = net.weights[layer + 1][:, i : i + 1].clone()",
       "column = torch.zeros_like(net.weights[layer + 1][:, i : i + 1])",
       f"{STAGES}::test_split_keeps_every_output_until_eq6_and_gives_old_tasks_the_originals"),
    _v("eq6-skipped-without-split", "Eq. 6 skipped when no unit splits", DEN,
       '    ctx.emit({"type": "split", "stage": "split", "pairs": pairs})\n',
       '    ctx.emit({"type": "split", "stage": "split", "pairs": pairs})\n    if not pairs:\n        return\n',
       f"{STAGES}::test_eq6_runs_after_every_task_even_when_nothing_splits"),
    _v("eq6-no-pull", "Eq. 6 without the lambda pull toward W^{t-1}", DEN,
       'items = _block_items(net, prev, ctx.task, rows, l1=True)\n    ctx.train("split_retraining"',
       'items = _block_items(net, None, ctx.task, rows, l1=True)\n    ctx.train("split_retraining"',
       f"{STAGES}::test_eq6_pulls_old_weights_toward_their_previous_values"),
    # --- the step-size schedule on masked and pulled tensors (issue 21)
    _v("lr-decay-first-group-only", "the step-size decay misses masked and pulled tensors (Adam's second group)", TRAIN,
       "for group in optimizer.param_groups:", "for group in optimizer.param_groups[:1]:",
       f"{ORACLES}::test_step_size_schedule_reaches_masked_and_pulled_tensors_as_in_plain_adam"),
    _v("prox-scale-whole-tensors-only", "the L1 threshold follows the step size on whole tensors only", TRAIN,
       "_soft_threshold_(item.tensor, settings.l1_strength * scale, item.mask)",
       "_soft_threshold_(item.tensor, settings.l1_strength * (scale if item.mask is None else 1.0), item.mask)",
       f"{ORACLES}::test_step_size_schedule_reaches_masked_and_pulled_tensors_as_in_plain_adam"),
    # --- the loss the expansion decision compares with tau
    _v("data-loss-summed-over-outputs", "the data loss tau sees sums over a task's outputs, not their mean", TRAIN,
       "return total / max(y.numel(), 1)", "return total / max(y.shape[0], 1)",
       f"{ORACLES}::test_expansion_compares_the_mean_data_loss_after_eq4_with_tau"),
    _v("tau-on-eq3-loss", "tau is compared with the loss after Eq. 3, not after Eq. 4", DEN,
       "loss = _loss(net, ctx)\n",
       'loss = next(e["loss"] for e in ctx.events if e.get("stage") == "train_head")\n',
       f"{ORACLES}::test_expansion_compares_the_mean_data_loss_after_eq4_with_tau"),
    _v("tau-on-penalised-loss", "tau is compared with the data loss plus the lambda pull", DEN,
       "loss = _loss(net, ctx)\n",
       "loss = _loss(net, ctx) + 0.5 * ctx.config.l2_transfer * sum("
       "float(((w[: p.shape[0], : p.shape[1]] - p) ** 2).sum()) for w, p in zip(net.weights, prev.weights))\n",
       f"{ORACLES}::test_expansion_compares_the_mean_data_loss_after_eq4_with_tau"),
    # --- how a new head starts
    _v("head-bias-zero", "a new head starts with a zero bias, not each output's log-odds", DEN,
       "net.heads[ctx.task][1].copy_(torch.log(rate / (1 - rate)))", "pass",
       f"{ORACLES}::test_a_new_head_starts_at_zero_weights_and_each_outputs_log_odds"),
    _v("head-bias-one-rate", "a new head's bias is one log-odds for all outputs, not each output's", DEN,
       "rate = ctx.y.mean(dim=0).clamp(", "rate = ctx.y.mean().expand(ctx.y.shape[1]).clamp(",
       f"{ORACLES}::test_a_new_head_starts_at_zero_weights_and_each_outputs_log_odds"),
    _v("head-random-weights", "a new head starts with random weights (TensorFlow's default), not zeros", NET,
       "self.heads[task] = (self._zeros(n_outputs, width), self._zeros(n_outputs))",
       "self.heads[task] = (self._uniform((n_outputs, width), max(width, 1), None), self._zeros(n_outputs))",
       f"{ORACLES}::test_a_new_head_starts_at_zero_weights_and_each_outputs_log_odds"),
    # --- which edges around new units Eq. 5 trains
    _v("eq5-outgoing-to-old-units-frozen", "Eq. 5 freezes new units' outgoing weights into the old units above", DEN,
       "mask[:, _rows(net, layer - 1, added[layer - 1]).to(net.device)] = True", "pass",
       f"{ORACLES}::test_eq5_trains_exactly_the_edges_around_new_units"),
    _v("eq5-new-units-fed-by-new-only", "Eq. 5 trains a new unit's weights from new units below only", DEN,
       "mask = spread(new_rows[:, None], w)",
       "mask = new_rows[:, None] & (torch.arange(w.shape[1], device=w.device)"
       " >= (w.shape[1] - len(added[layer - 1]) if layer else 0))[None, :]",
       f"{ORACLES}::test_eq5_trains_exactly_the_edges_around_new_units"),
    _v("eq5-head-new-columns-only", "Eq. 5 trains only the new units' columns of the current head", DEN,
       'items += [Trainable(head_w, l1=True), Trainable(head_b)]\n    ctx.train("expansion"',
       "top_new = _rows(net, net.n_layers - 1, added[-1]).to(net.device)\n"
       "    items += [Trainable(head_w, top_new[None, :].expand_as(head_w).clone(), l1=True), Trainable(head_b)]\n"
       '    ctx.train("expansion"',
       f"{ORACLES}::test_eq5_trains_exactly_the_edges_around_new_units"),
    _v("eq5-new-biases-frozen", "Eq. 5 leaves the new units' biases untrained", DEN,
       "Trainable(b, new_rows.clone())", "Trainable(b, torch.zeros_like(new_rows))",
       f"{ORACLES}::test_eq5_trains_exactly_the_edges_around_new_units"),
    _v("eq5-old-biases-trained", "Eq. 5 also trains the biases of old units", DEN,
       "Trainable(b, new_rows.clone())", "Trainable(b)",
       f"{CORE}::test_expansion_fires_only_above_tau_and_old_weights_stay_frozen"),
    # --- what counts as a unit's group when pruning
    _v("prune-ignores-bias", "a new unit is pruned when its incoming weights are zero, even with a non-zero bias", DEN,
       "return bool((net.weights[layer][i] == 0).all()) and float(net.biases[layer][i]) == 0.0",
       "return bool((net.weights[layer][i] == 0).all())",
       f"{ORACLES}::test_pruning_removes_exactly_the_new_units_whose_weights_and_bias_are_zero"),
    _v("prune-either-part-zero", "a new unit is pruned when its incoming weights or its bias are zero", DEN,
       "return bool((net.weights[layer][i] == 0).all()) and float(net.biases[layer][i]) == 0.0",
       "return bool((net.weights[layer][i] == 0).all()) or float(net.biases[layer][i]) == 0.0",
       f"{ORACLES}::test_pruning_removes_exactly_the_new_units_whose_weights_and_bias_are_zero"),
    _v("prune-needs-outgoing-zero", "a unit's group counts its outgoing weights (dead units feeding others stay)", DEN,
       "return bool((net.weights[layer][i] == 0).all()) and float(net.biases[layer][i]) == 0.0",
       "return bool((net.weights[layer][i] == 0).all()) and float(net.biases[layer][i]) == 0.0 and bool("
       "(net.weights[layer + 1][:, i] == 0).all() if layer + 1 < net.n_layers else True)",
       f"{ORACLES}::test_pruning_removes_exactly_the_new_units_whose_weights_and_bias_are_zero"),
    _v("prune-old-units-too", "pruning also removes old units whose group is zero", DEN,
       "dead = [uid for layer, ids in enumerate(added) for uid in ids if _group_is_zero(net, uid)]",
       "dead = [u.id for units in net.units for u in units if _group_is_zero(net, u.id)]",
       f"{ORACLES}::test_pruning_removes_exactly_the_new_units_whose_weights_and_bias_are_zero"),
    # --- once vacuous: mu above the step size left nothing after task 1 (issue 21)
    _v("l1-step-uses-gamma", "the L1 step shrinks by gamma (the group-lasso strength) instead of mu", TRAIN,
       "_soft_threshold_(item.tensor, settings.l1_strength * scale, item.mask)",
       "_soft_threshold_(item.tensor, settings.group_lasso * scale, item.mask)",
       f"{CORE}::test_sparse_training_gives_exact_zeros"),
    _v("eq2-head-frozen", "sparse training (Eq. 2) leaves task 1's head untrained", DEN,
       'items += [Trainable(head_w, l1=True), Trainable(head_b)]\n    ctx.train("sparse_training"',
       'ctx.train("sparse_training"',
       f"{CORE}::test_sparse_training_gives_exact_zeros"),
    _v("eq4-ignores-selection", "Eq. 4 retrains every unit, not only the selected ones", DEN,
       "rows = [_rows(net, layer, ids) for layer, ids in enumerate(selected)]",
       "rows = [torch.ones(w.shape[0], dtype=torch.bool) for w in net.weights]",
       f"{CORE}::test_selective_retraining_changes_only_the_selected_subnetwork"),
    # --- the network as a module, live logging (issue 23)
    _v("module-keeps-retired-units", "an old task's module also uses the duplicates that retired its units", MODULES,
       "return net.active(layer, task).nonzero().squeeze(1)", "return torch.arange(net.visible(layer, task))",
       f"{MODULE_TESTS}::test_a_task_module_holds_exactly_the_units_its_task_uses",
       f"{MODULE_TESTS}::test_every_row_of_the_r_matrix_from_the_network_after_that_task"),
    _v("module-last-head", "every task's module uses the last task's head", MODULES,
       "head_w, head_b = net.heads[task]", "head_w, head_b = net.heads[max(net.heads)]",
       f"{MODULE_TESTS}::test_every_row_of_the_r_matrix_from_the_network_after_that_task"),
    _v("conv-module-maps-position-major", "a conv task module flattens the maps position-major, not channel-major",
       MODULES,
       "target.weight.copy_(w.flatten(1) if w.dim() == 3 else w)",
       "target.weight.copy_(w.transpose(1, 2).flatten(1) if w.dim() == 3 else w)",
       f"{MODULE_TESTS}::test_a_conv_runs_task_modules_give_the_record_before_and_after_a_round_trip_and_export"),
    _v("loggers-after-the-hooks", "the loggers write after the caller's on_task_end (not there yet when it reads)",
       "den_engine/core/callbacks.py", "hooks = [*hooks, last] if last is not None else hooks",
       "hooks = [last, *hooks] if last is not None else hooks",
       f"{LIVE_TESTS}::test_events_and_rows_are_written_while_the_run_trains"),
    # --- conv layers: a filter is the unit (issue 24)
    _v("conv-selection-ignores-kernels", "selection takes every filter below a selected unit, whatever its kernel", DEN,
       "into = into.flatten(2).abs().amax(dim=2)", "into = torch.ones_like(into.flatten(2)[..., 0])",
       f"{CONV}::test_selection_follows_nonzero_kernels_through_every_conv_layer"),
    _v("conv-selection-first-tap-only", "selection reads one kernel tap (one map position) of each filter", DEN,
       "into = into.flatten(2).abs().amax(dim=2)", "into = into.flatten(2)[..., 0]",
       f"{CONV}::test_selection_follows_nonzero_kernels_through_every_conv_layer"),
    _v("conv-eq4-every-channel", "Eq. 4 trains the selected filters over every input channel", DEN,
       "mask = spread(mask, w)", "mask = spread(sel[:, None], w)",
       f"{CONV}::test_eq4_trains_selected_kernels_over_selected_channels_only"),
    _v("conv-group-lasso-one-norm-per-layer", "group lasso as one norm over a whole conv layer, not per filter", TRAIN,
       "norm = torch.sqrt((w * w).sum(dim=1) + b * b)",
       "norm = torch.sqrt((w * w).sum() + (b * b).sum()).expand(b.shape)",
       f"{CONV}::test_group_lasso_shrinks_each_new_filter_by_its_own_kernel_and_bias"),
    _v("conv-group-lasso-per-kernel-slice", "group lasso per kernel slice (filter x channel), not per filter", TRAIN,
       "w = group.weight.index_select(0, group.rows).flatten(1)",
       "w = group.weight.index_select(0, group.rows).flatten(2)[:, 0]",
       f"{CONV}::test_group_lasso_shrinks_each_new_filter_by_its_own_kernel_and_bias"),
    _v("conv-group-lasso-per-kernel-slice-batched", "the batched group-lasso step per kernel slice, not per filter",
       TRAIN,
       "self.rows.append(group.weight[start:stop].flatten(1))",
       "self.rows.append(group.weight[start:stop].flatten(2)[:, 0])",
       f"{CONV}::test_group_lasso_shrinks_each_new_filter_by_its_own_kernel_and_bias"),
    _v("conv-drift-wrong-axis", "a filter's drift measured over its input channel's column, not its own kernel", DEN,
       "change = (now - old).flatten(1)", "change = (now - old).transpose(0, 1).flatten(1)",
       f"{CONV}::test_drift_of_a_filter_is_the_norm_of_its_kernel_and_bias_change"),
    _v("conv-drift-ignores-bias", "a filter's drift leaves its bias out", DEN,
       "if old.dim() == 4:  # a filter is its kernel and its bias", "if False:  # a filter is its kernel and its bias",
       f"{CONV}::test_drift_of_a_filter_is_the_norm_of_its_kernel_and_bias_change"),
    _v("conv-filters-untimestamped", "timestamps on dense units only: every task sees every filter", NET,
       "return bisect.bisect_right(self._born[layer], task)",
       "return len(self._born[layer]) if self.weights[layer].dim() == 4 "
       "else bisect.bisect_right(self._born[layer], task)",
       f"{CONV}::test_a_filter_born_at_task_2_changes_only_tasks_from_2_on"),
    _v("conv-split-original-kept", "a split filter keeps its drifted kernel for the old tasks", GROWTH,
       "net.weights[layer][i] = restored\n", "pass\n",
       f"{CONV}::test_split_filter_gives_old_tasks_the_original_and_keeps_every_output"),
    _v("ewc-conv-fisher-squares-each-position", "EWC's Fisher of a kernel sums each map position's squared gradient "
       "(a shared weight's gradient is the sum over positions, squared)", EWC,
       'grad = torch.einsum("nop,nqp->noq", delta.flatten(2), a)',
       'grad = torch.einsum("nop,nqp->noq", delta.flatten(2).square(), a.square()).sqrt()',
       f"{CONV_BASELINES}::test_fisher_of_conv_kernels_matches_a_direct_per_sample_computation"),
]  # fmt: skip
