"""Plausible wrong answers lose the points of the behaviour they get wrong, and only those (chapter 6: fine_tuning).

The same design as ``test_wrong_answers.py``: the *perfect submission* is the source notebook in
``solutions/`` with the nbgrader marker lines removed (solutions and hidden tests kept); a wrong
submission swaps several solution cells at once for plausible mistakes whose failing graded cells do
not overlap. Every cell runs (``allow_errors=True``, as nbgrader's autograder does) and the set of
failing graded cells must be exactly the union of the mistakes' expected failures. One perfect and
one wrong execution.

Later parts call earlier functions, so each mistake is chosen so that it cannot leak into the cells
of the others: the STLR starting at 0 still fine-tunes, the missing checks do not change any value,
the top-level grouping still separates backbone and head, and the wrong frozen slice only matters
with ``frozen=True``.
"""

from __future__ import annotations

from wrong_answers import wrong_answer_tests


# ---------------------------------------------------------------------------
# The mistakes: (solution cell, wrong code, graded cells it must fail)
# ---------------------------------------------------------------------------

FINE_TUNING_MISTAKES = {
    # eta = eta_max * p: the rise starts at 0 and the fall ends at 0, instead of at eta_max / ratio.
    "STLR from zero": (
        "slanted_triangular",
        '''
def slanted_triangular(step, peak_lr, total_steps, cut_frac=0.1, ratio=32):
    if not peak_lr > 0:
        raise ValueError(f"peak_lr must be > 0, got peak_lr={peak_lr}")
    if not 0 < cut_frac < 1:
        raise ValueError(f"cut_frac must be in (0, 1), got cut_frac={cut_frac}")
    if not ratio >= 1:
        raise ValueError(f"ratio must be >= 1, got ratio={ratio}")
    if not total_steps >= 2:
        raise ValueError(f"total_steps must be >= 2, got total_steps={total_steps}")
    cut = int(np.floor(total_steps * cut_frac))
    if cut < 1:
        raise ValueError(f"cut_frac={cut_frac} gives cut = 0 with total_steps={total_steps}")
    t = np.asarray(step, dtype=np.float64)
    if np.any(t < 0):
        raise ValueError(f"step must be >= 0, got step={step}")
    p = np.where(t < cut, t / cut, 1.0 - (t - cut) / (cut * (1.0 / cut_frac - 1.0)))
    rate = peak_lr * np.clip(p, 0.0, None)
    return float(rate) if rate.ndim == 0 else rate
''',
        {"test_stlr_values"},
    ),
    # The argument checks forgotten: a decay below 1 silently gives lower layers *larger* rates.
    "layer rates without checks": (
        "layer_rates",
        '''
def layer_rates(n_layers, peak_lr, decay=2.6):
    return peak_lr / float(decay) ** np.arange(n_layers - 1, -1, -1, dtype=np.float64)
''',
        {"test_layer_rates"},
    ),
    # Grouping by the top-level module: the whole backbone becomes one group (fine-tuning still runs).
    "groups by top-level module": (
        "param_groups",
        '''
def param_groups(model, peak_lr, decay=2.6):
    layers = {}
    for name, param in model.named_parameters():
        layers.setdefault(name.split(".")[0], []).append(param)
    rates = layer_rates(len(layers), peak_lr, decay)
    return [{"name": owner, "lr": float(rate), "params": params} for (owner, params), rate in zip(layers.items(), rates)]
''',
        {"test_param_groups"},
    ),
    # Thawing from the bottom (the input layer first) instead of from the head.
    "unfreezing from the bottom": (
        "unfreezing_plan",
        '''
def unfreezing_plan(n_groups, n_epochs):
    if not n_groups >= 1:
        raise ValueError(f"n_groups must be >= 1, got n_groups={n_groups}")
    if not n_epochs >= 1:
        raise ValueError(f"n_epochs must be >= 1, got n_epochs={n_epochs}")
    return [list(range(0, min(n_groups, e + 1))) for e in range(n_epochs)]
''',
        {"test_unfreezing"},
    ),
    # The wrong slice for 'frozen': the optimizer gets the backbone's groups (groups[:-1]) instead of the head's.
    "frozen: the wrong slice of groups": (
        "fine_tune",
        '''
def fine_tune(peak_lr, decay, frozen=False, epochs=EPOCHS, seed=0):
    net = copy.deepcopy(PRETRAINED)
    net.head = new_head(seed)
    groups = param_groups(net, peak_lr, decay)
    if frozen:
        groups = groups[:-1]
    base = [g["lr"] for g in groups]
    opt = torch.optim.SGD(groups, lr=peak_lr, momentum=MOMENTUM)
    total = epochs * (len(TARGET.y_train) // BATCH_SIZE)
    shape = slanted_triangular(np.arange(total), 1.0, total)
    gen = torch.Generator().manual_seed(seed)
    for t, idx in enumerate(batches(len(TARGET.y_train), BATCH_SIZE, total, generator=gen, device=DEVICE)):
        for group, lr in zip(opt.param_groups, base):
            group["lr"] = lr * float(shape[t])
        opt.zero_grad()
        nn.functional.cross_entropy(net(TARGET.x_train[idx]), TARGET.y_train[idx]).backward()
        opt.step()
    before = accuracy(PRETRAINED, SOURCE.x_test, SOURCE.y_test)
    after = accuracy(nn.Sequential(net.backbone, PRETRAINED.head), SOURCE.x_test, SOURCE.y_test)
    return {"target_acc": accuracy(net, TARGET.x_test, TARGET.y_test), "source_before": before,
            "source_after": after, "forgetting": before - after}
''',
        {"test_fine_tune_frozen"},
    ),
}


MISTAKES = {"fine_tuning": FINE_TUNING_MISTAKES}


(test_mistakes_break_disjoint_cells, test_perfect_submission_passes_every_graded_cell,
 test_wrong_answers_fail_exactly_their_cells) = wrong_answer_tests(MISTAKES)
