"""lrlab.fine_tuning: parameter groups, STLR against the paper, frozen and gradually unfrozen layers, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lrlab import fine_tuning as ft
from lrlab.schedules import Schedule


def stlr_paper(t: int, T: int, cut_frac: float, ratio: float, eta_max: float) -> float:
    """Howard & Ruder (2018), eq. (3), written out line by line as in the paper (scalar, pure Python)."""
    cut = math.floor(T * cut_frac)
    if t < cut:
        p = t / cut
    else:
        p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return eta_max * (1 + p * (ratio - 1)) / ratio


@pytest.fixture(scope="module")
def tiny_tasks():
    source, target = ft.tasks(device="cpu")
    return source, target


@pytest.fixture(scope="module")
def pretrained(tiny_tasks):
    source, _ = tiny_tasks
    return ft.pretrain(source, widths=(16, 16), steps=60, seed=3)


# ---------------------------------------------------------------------------
# Parameter groups
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("widths", [(8,), (8, 4), (16, 8, 8, 4)])
@pytest.mark.parametrize("decay", [1.0, 2.6, 10.0])
def test_param_groups_cover_every_parameter_once_with_ulmfit_rates(widths, decay):
    net = ft.make_net(n_in=12, widths=widths, n_classes=3, seed=0, device="cpu")
    groups = ft.layerwise_param_groups(net, peak_lr=0.3, decay=decay)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)), "a parameter appears in two groups"
    assert set(ids) == {id(p) for p in net.parameters()}, "some parameter is in no group"
    L = len(widths) + 1
    assert [g["name"] for g in groups] == [f"backbone.{2 * i}" for i in range(len(widths))] + ["head"]
    for l, g in enumerate(groups):
        # eta_l = eta_L / 2.6^(L - 1 - l), l = 0 the input layer: the formula, computed independently
        assert g["lr"] == pytest.approx(0.3 / decay ** (L - 1 - l), rel=1e-12)
        assert len(g["params"]) == 2  # weight and bias of one Linear layer
    rates = [g["lr"] for g in groups]
    assert rates == sorted(rates), "rates must grow towards the head"
    opt = torch.optim.SGD(groups, lr=1.0)
    assert [g["lr"] for g in opt.param_groups] == rates  # per-group lr wins over the default


def test_param_groups_on_a_plain_sequential():
    """Any module works: the group is the module that owns the parameters, in named_parameters() order."""
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    groups = ft.layerwise_param_groups(net, 1.0, decay=2.0)
    assert [(g["name"], g["lr"]) for g in groups] == [("0", 0.5), ("2", 1.0)]


def test_layer_rates_decay_one_is_uniform():
    np.testing.assert_array_equal(ft.layer_rates(4, 0.05, decay=1.0), np.full(4, 0.05))


# ---------------------------------------------------------------------------
# Slanted triangular rates
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("T, cut_frac, ratio, eta_max", [(100, 0.1, 32, 0.01), (76, 0.1, 32, 0.1),
                                                         (1000, 0.25, 8, 1.0), (37, 0.3, 2.5, 0.2)])
def test_stlr_matches_the_paper(T, cut_frac, ratio, eta_max):
    s = ft.slanted_triangular_schedule(eta_max, T, cut_frac=cut_frac, ratio=ratio)
    assert isinstance(s, Schedule)
    t = np.arange(T + 1)
    paper = np.array([stlr_paper(int(k), T, cut_frac, ratio, eta_max) for k in t])
    # where T * cut_frac is not an integer, the paper's p turns negative for the last steps (after
    # cut + cut (1/cut_frac - 1) < T) and its rate would fall below eta_max / ratio; lrlab holds that floor
    cut = math.floor(T * cut_frac)
    end = cut + cut * (1 / cut_frac - 1)
    expected = np.where(t <= end, paper, eta_max / ratio)
    assert np.all(paper[t <= end] >= eta_max / ratio * (1 - 1e-12))
    np.testing.assert_allclose(s(t), expected, rtol=1e-12, atol=0)
    # scalars and torch tensors give the same values (a pure schedule like lrlab.schedules)
    assert s(int(T // 3)) == pytest.approx(expected[T // 3], rel=1e-12)
    np.testing.assert_allclose(s(torch.arange(T + 1)).numpy(), expected, rtol=1e-12)
    assert int(np.argmax(s(t))) == cut and s(cut) == pytest.approx(eta_max, rel=1e-12)
    assert s(0) == pytest.approx(eta_max / ratio, rel=1e-12)


def test_stlr_holds_its_floor_after_the_end():
    s = ft.slanted_triangular_schedule(1.0, 100, cut_frac=0.1, ratio=32)
    assert s(100) == pytest.approx(1 / 32) and s(500) == pytest.approx(1 / 32)
    assert np.all(np.diff(s(np.arange(10, 101))) < 0)  # strictly decreasing after the peak


def test_stlr_ratio_one_is_constant():
    np.testing.assert_allclose(ft.slanted_triangular_schedule(0.1, 50, ratio=1)(np.arange(60)), 0.1, rtol=1e-12)


# ---------------------------------------------------------------------------
# Gradual unfreezing and the rate table
# ---------------------------------------------------------------------------


def test_unfreezing_plan_thaws_one_group_per_epoch_from_the_top():
    assert ft.unfreezing_plan(4, 6) == [(3,), (2, 3), (1, 2, 3), (0, 1, 2, 3), (0, 1, 2, 3), (0, 1, 2, 3)]
    assert ft.unfreezing_plan(1, 2) == [(0,), (0,)]
    assert ft.unfreezing_plan(3, 1) == [(2,)]


def test_rate_table_is_shape_times_ladder_times_mask():
    s = ft.Strategy("x", schedule="stlr", decay=2.0, gradual=True)
    table = ft.rate_table(s, 3, peak_lr=0.4, epochs=3, epoch_steps=10)
    shape = ft.slanted_triangular_schedule(1.0, 30)(np.arange(30))
    for l in range(3):
        live = np.arange(30) >= 10 * (2 - l)
        np.testing.assert_allclose(table[l], np.where(live, 0.4 / 2.0 ** (2 - l) * shape, 0.0), rtol=1e-12)


def test_frozen_backbone_leaves_backbone_weights_bit_identical(tiny_tasks, pretrained):
    source, target = tiny_tasks
    res = ft.fine_tune(pretrained, ft.Strategy("frozen", freeze_backbone=True), source, target, epochs=2, seed=1)
    for p_new, p_old in zip(res["model"].backbone.parameters(), pretrained.backbone.parameters()):
        assert torch.equal(p_new, p_old)
    assert res["distance"] == 0.0 and res["forgetting"] == 0.0
    # the head did train
    fresh = ft.new_head(16, 5, seed=1 + 30_000, device="cpu")
    assert not torch.equal(res["model"].head.weight, fresh.weight)


def test_fine_tune_does_not_touch_the_pretrained_network(tiny_tasks, pretrained):
    source, target = tiny_tasks
    before = [p.clone() for p in pretrained.parameters()]
    res = ft.fine_tune(pretrained, ft.Strategy("uniform"), source, target, epochs=1, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, pretrained.parameters()))
    assert res["distance"] > 0
    assert res["source_before"] == ft.accuracy(pretrained, source.x_test, source.y_test)


def test_gradual_unfreezing_trainable_set_per_epoch(tiny_tasks, pretrained):
    """After epoch e, exactly the groups of unfreezing_plan(.)[e] or earlier have moved."""
    source, target = tiny_tasks
    s = ft.Strategy("gradual", gradual=True)
    names = ["backbone.0", "backbone.2", "head"]
    for epochs, moved in [(1, {"head"}), (2, {"backbone.2", "head"}), (3, set(names))]:
        res = ft.fine_tune(pretrained, s, source, target, epochs=epochs, seed=2)
        net = res["model"]
        old = dict(pretrained.backbone.named_parameters(prefix="backbone"))
        fresh = ft.new_head(16, 5, seed=2 + 30_000, device="cpu")
        old.update({"head.weight": fresh.weight, "head.bias": fresh.bias})
        changed = {name.rsplit(".", 1)[0] for name, p in net.named_parameters() if not torch.equal(p, old[name])}
        assert changed == moved, f"after {epochs} epoch(s) the groups {sorted(changed)} moved, expected {sorted(moved)}"
        expected = {names[i] for i in ft.unfreezing_plan(3, epochs)[-1]}
        assert expected == moved


def test_gradual_first_epoch_equals_frozen_first_epoch(tiny_tasks, pretrained):
    source, target = tiny_tasks
    a = ft.fine_tune(pretrained, ft.Strategy("g", gradual=True), source, target, epochs=1, seed=4)
    b = ft.fine_tune(pretrained, ft.Strategy("f", freeze_backbone=True), source, target, epochs=1, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a["model"].parameters(), b["model"].parameters()))


def test_l2sp_keeps_the_backbone_closer(tiny_tasks, pretrained):
    source, target = tiny_tasks
    free = ft.fine_tune(pretrained, ft.Strategy("u"), source, target, epochs=2, seed=5)
    tied = ft.fine_tune(pretrained, ft.Strategy("l", l2sp=1.0), source, target, epochs=2, seed=5)
    assert tied["distance"] < free["distance"]


def test_seeded_runs_are_reproducible(tiny_tasks, pretrained):
    source, target = tiny_tasks
    a = ft.fine_tune(pretrained, ft.Strategy("s", schedule="stlr", decay=2.6), source, target, epochs=1, seed=7)
    b = ft.fine_tune(pretrained, ft.Strategy("s", schedule="stlr", decay=2.6), source, target, epochs=1, seed=7)
    assert a["target_curve"] == b["target_curve"] and a["distance"] == b["distance"]


def test_make_net_same_seed_same_weights_on_every_device():
    a = ft.make_net(seed=11, device="cpu")
    b = ft.make_net(seed=11, device="cpu")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    if torch.cuda.is_available():
        c = ft.make_net(seed=11, device="cuda")
        assert all(torch.equal(p, q.cpu()) for p, q in zip(a.parameters(), c.parameters()))


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: ft.slanted_triangular_schedule(0.0, 100), "peak_lr"),
        (lambda: ft.slanted_triangular_schedule(0.1, 1), "total_steps"),
        (lambda: ft.slanted_triangular_schedule(0.1, 100, cut_frac=1.0), "cut_frac"),
        (lambda: ft.slanted_triangular_schedule(0.1, 100, cut_frac=0.0), "cut_frac"),
        (lambda: ft.slanted_triangular_schedule(0.1, 5, cut_frac=0.1), "cut_frac"),
        (lambda: ft.slanted_triangular_schedule(0.1, 100, ratio=0.5), "ratio"),
        (lambda: ft.layer_rates(0, 0.1), "n_layers"),
        (lambda: ft.layer_rates(3, -0.1), "peak_lr"),
        (lambda: ft.layer_rates(3, 0.1, decay=0.5), "decay"),
        (lambda: ft.layerwise_param_groups(torch.nn.ReLU(), 0.1), "model"),
        (lambda: ft.unfreezing_plan(0, 3), "n_groups"),
        (lambda: ft.unfreezing_plan(3, 0), "n_epochs"),
        (lambda: ft.Strategy("x", schedule="cosine"), "schedule"),
        (lambda: ft.Strategy("x", l2sp=-1.0), "l2sp"),
        (lambda: ft.Strategy("x", decay=0.9), "decay"),
        (lambda: ft.make_net(widths=()), "widths"),
        (lambda: ft.rate_table("uniform", 3, 0.1, 2, 2), "strategy"),
        (lambda: ft.tasks(target_per_class=0, device="cpu"), "target_per_class"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_fine_tune_bad_arguments(tiny_tasks, pretrained):
    source, target = tiny_tasks
    with pytest.raises(ValueError, match="strategy"):
        ft.fine_tune(pretrained, "uniform", source, target)
    with pytest.raises(ValueError, match="epochs"):
        ft.fine_tune(pretrained, ft.Strategy("u"), source, target, epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        ft.fine_tune(pretrained, ft.Strategy("u"), source, target, batch_size=10_000)
    with pytest.raises(ValueError, match="peak_lr"):
        ft.fine_tune(pretrained, ft.Strategy("u"), source, target, peak_lr=float("nan"))


# ---------------------------------------------------------------------------
# The batched population reproduces the run-by-run functions
# ---------------------------------------------------------------------------

POP_STRATEGIES = [
    ft.Strategy("scratch", pretrained=False),
    ft.Strategy("uniform"),
    ft.Strategy("warmup", schedule="warmup"),
    ft.Strategy("stlr + ladder", schedule="stlr", decay=2.6),
    ft.Strategy("gradual", gradual=True),
    ft.Strategy("l2sp", l2sp=0.5),
    ft.Strategy("frozen", freeze_backbone=True),
]


def test_population_reproduces_pretrain_and_fine_tune_run_by_run(tiny_tasks):
    """Every member of fine_tune_population equals fine_tune with its seed, strategy and head rate.

    Same initial weights, heads and minibatches; only the order of floating-point
    operations differs (batched products), so the weights agree to float32 rounding
    and accuracies to at most one example.
    """
    source, target = tiny_tasks
    seeds, widths, steps = [3, 8], (16, 16), 60
    pre = ft.pretrain_population(source, seeds, widths=widths, steps=steps)
    runs = [(k, s, peak) for k in range(2) for s, peak in zip(POP_STRATEGIES, [0.05, 0.1, 0.2, 0.1, 0.05, 0.1, 0.2])]
    pop = ft.fine_tune_population(pre, seeds, runs, source, target, epochs=3)
    one_test_image = 1.0 / len(target.y_test) + 1e-9
    for k, seed in enumerate(seeds):
        net = ft.pretrain(source, widths=widths, steps=steps, seed=seed)
        linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        for (w, b), layer in zip(pre, linears):
            torch.testing.assert_close(w[k], layer.weight.detach(), rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(b[k], layer.bias.detach(), rtol=1e-4, atol=1e-5)
        for r, (kk, strategy, peak) in enumerate(runs):
            if kk != k:
                continue
            one = ft.fine_tune(net, strategy, source, target, epochs=3, peak_lr=peak, seed=seed)
            np.testing.assert_allclose(pop["curve"][r], one["target_curve"], atol=one_test_image, err_msg=strategy.name)
            assert pop["target_acc"][r] == pop["curve"][r, -1]
            assert pop["source_before"][r] == one["source_before"]
            assert abs(pop["forgetting"][r] - one["forgetting"]) <= 1.0 / len(source.y_test) + 1e-9, strategy.name
            assert pop["distance"][r] == pytest.approx(one["distance"], rel=1e-4, abs=1e-6), strategy.name
    frozen = [r for r, (_, s, _) in enumerate(runs) if s.freeze_backbone]
    assert np.all(pop["distance"][frozen] == 0.0) and np.all(pop["forgetting"][frozen] == 0.0)


def test_population_without_curve_records_only_the_end(tiny_tasks):
    source, target = tiny_tasks
    pre = ft.pretrain_population(source, [1], widths=(8,), steps=20)
    runs = [(0, ft.Strategy("u"), 0.1)]
    a = ft.fine_tune_population(pre, [1], runs, source, target, epochs=2, curve=True)
    b = ft.fine_tune_population(pre, [1], runs, source, target, epochs=2, curve=False)
    assert a["curve"].shape == (1, 2) and b["curve"].shape == (1, 1)
    assert b["target_acc"][0] == a["target_acc"][0] and b["distance"][0] == a["distance"][0]


def test_population_bad_arguments(tiny_tasks):
    source, target = tiny_tasks
    pre = ft.pretrain_population(source, [1], widths=(8,), steps=5)
    with pytest.raises(ValueError, match="strategy"):
        ft.fine_tune_population(pre, [1], [(0, "uniform", 0.1)], source, target)
    with pytest.raises(ValueError, match="runs"):
        ft.fine_tune_population(pre, [1], [(1, ft.Strategy("u"), 0.1)], source, target)
    with pytest.raises(ValueError, match="peak_lr"):
        ft.fine_tune_population(pre, [1], [(0, ft.Strategy("u"), 0.0)], source, target)
    with pytest.raises(ValueError, match="batch_size"):
        ft.fine_tune_population(pre, [1], [(0, ft.Strategy("u"), 0.1)], source, target, batch_size=10_000)
    with pytest.raises(ValueError, match="steps"):
        ft.pretrain_population(source, [1], steps=0)
