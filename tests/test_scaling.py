"""lrlab.scaling: linear scaling, multiplicative warmups, WSD branches (schedules and training), one-cycle momentum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab.scaling import (
    exponential_warmup,
    linear_scaling,
    one_cycle_momentum,
    set_hyperparameters,
    train_wsd_branches,
    untuned_warmup,
    wsd_branches,
)
from lrlab.schedules import constant_schedule, cosine_schedule, one_cycle_schedule, wsd_schedule

torch.set_num_threads(1)


def test_linear_scaling_keeps_the_noise_scale():
    for k in (1, 2, 8, 64):
        lr = linear_scaling(0.05, 16, 16 * k)
        assert lr == pytest.approx(0.05 * k)
        assert lr / (16 * k) == pytest.approx(0.05 / 16)


@pytest.mark.parametrize("kwargs,name", [({"base_lr": 0.0}, "base_lr"), ({"base_batch": 0}, "base_batch"),
                                         ({"batch": 2.5}, "batch")])
def test_linear_scaling_bad_arguments(kwargs, name):
    args = {"base_lr": 0.1, "base_batch": 16, "batch": 32, **kwargs}
    with pytest.raises(ValueError, match=name):
        linear_scaling(**args)


def test_exponential_warmup_multiplies_the_schedule():
    base = cosine_schedule(0.4, total_steps=100)
    s = exponential_warmup(base, tau=7.0)
    t = np.arange(120)
    np.testing.assert_allclose(s(t), base(t) * (1 - np.exp(-t / 7.0)), rtol=1e-14)
    # torch tensors give the same values on the same device
    tt = torch.arange(120)
    np.testing.assert_allclose(s(tt).numpy(), s(t), rtol=1e-14)
    assert s(0) == 0.0


def test_untuned_warmup_lengths_follow_beta2():
    """Ma & Yarats (2021): linear over 2/(1 - beta2) steps, exponential with time constant 1/(1 - beta2)."""
    base = constant_schedule(1.0)
    for beta2 in (0.99, 0.999):
        width = 2 / (1 - beta2)
        lin = untuned_warmup(base, beta2)
        t = np.arange(0, int(3 * width))
        np.testing.assert_allclose(lin(t), np.minimum(1.0, t / width), rtol=1e-12)
        exp = untuned_warmup(base, beta2, kind="exponential")
        np.testing.assert_allclose(exp(t), 1 - np.exp(-(1 - beta2) * t), rtol=1e-12)


@pytest.mark.parametrize(
    "call,name",
    [(lambda: exponential_warmup(constant_schedule(1.0), tau=0), "tau"),
     (lambda: exponential_warmup(lambda t: 1.0, tau=3), "schedule"),
     (lambda: untuned_warmup(constant_schedule(1.0), beta2=1.0), "beta2"),
     (lambda: untuned_warmup(constant_schedule(1.0), kind="cosine"), "kind")],
)
def test_warmup_bad_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("decay", ["linear", "cosine"])
def test_wsd_branches_equal_wsd_schedules_and_share_the_prefix(decay):
    stable, decays, warm = [30, 60, 120], [10, 20, 40], 5
    branches = wsd_branches(0.3, stable, decays, warmup_steps=warm, min_lr=0.01, decay=decay)
    t = np.arange(200)
    for s, d, b in zip(stable, decays, branches):
        ref = wsd_schedule(0.3, total_steps=s + d, warmup_steps=warm, decay_steps=d, min_lr=0.01, decay=decay)
        np.testing.assert_allclose(b(t), ref(t), rtol=1e-12)
    for (s, b) in zip(stable, branches):  # before its branch point, every branch is the longest one
        np.testing.assert_array_equal(b(np.arange(s)), branches[-1](np.arange(s)))


@pytest.mark.parametrize(
    "kwargs,name",
    [({"stable_steps": []}, "stable_steps"), ({"stable_steps": [5], "warmup_steps": 5}, "stable_steps"),
     ({"decay_lengths": [3, 4, 5]}, "decay_lengths"), ({"decay_lengths": 0}, "decay_lengths"),
     ({"decay": "sqrt2"}, "decay"), ({"min_lr": 2.0}, "min_lr")],
)
def test_wsd_branches_bad_arguments(kwargs, name):
    args = {"peak_lr": 1.0, "stable_steps": [10, 20], "decay_lengths": 5, **kwargs}
    with pytest.raises(ValueError, match=name):
        wsd_branches(**args)


def _regression_problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=gen, dtype=torch.float64)
    y = x @ torch.randn(5, 1, generator=gen, dtype=torch.float64) + 0.3 * torch.randn(64, 1, generator=gen, dtype=torch.float64)
    batches = torch.randint(0, 64, (500, 8), generator=gen)  # minibatch of step s: batches[s]
    return x, y, batches


def _make(x, y, batches):
    torch.manual_seed(1)
    model = torch.nn.Linear(5, 1).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)

    def train_step(step):
        idx = batches[step]
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x[idx]), y[idx]).backward()
        opt.step()

    def evaluate():
        with torch.no_grad():
            return [p.detach().clone() for p in model.parameters()]

    return model, opt, train_step, evaluate


def test_train_wsd_branches_equals_independent_runs():
    """A branch forked from the stable run ends exactly where a full WSD run of its length ends."""
    x, y, batches = _regression_problem()
    stable, decays = [40, 100, 70], [20, 50, 30]
    model, opt, train_step, evaluate = _make(x, y, batches)
    results = train_wsd_branches(model, opt, train_step, evaluate, 0.05, stable, decays, warmup_steps=10)
    assert [r["total_steps"] for r in results] == [60, 150, 100]
    for r, s, d in zip(results, stable, decays):
        model, opt, step_fn, evaluate = _make(x, y, batches)
        sched = wsd_schedule(0.05, total_steps=s + d, warmup_steps=10, decay_steps=d)
        for t in range(s + d):
            set_hyperparameters(opt, lr=sched(t))
            step_fn(t)
        for got, want in zip(r["result"], evaluate()):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        assert r["result"][0].abs().sum() > 0


def test_train_wsd_branches_restores_the_trunk():
    """After the branches, the model holds the stable run at the last branch point (the forks left no trace)."""
    x, y, batches = _regression_problem()
    model, opt, train_step, evaluate = _make(x, y, batches)
    train_wsd_branches(model, opt, train_step, evaluate, 0.05, [30, 50], 10)
    after = evaluate()
    model2, opt2, step2, evaluate2 = _make(x, y, batches)
    for t in range(50):
        set_hyperparameters(opt2, lr=0.05)
        step2(t)
    for got, want in zip(after, evaluate2()):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_momentum_matches_torch(three_phase, anneal):
    total, pct = 100, 0.25
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.4, total_steps=total, pct_start=pct,
                                                anneal_strategy=anneal, three_phase=three_phase,
                                                base_momentum=0.8, max_momentum=0.95)
    lrs, moms = [], []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    mom = one_cycle_momentum(total, pct, base_momentum=0.8, max_momentum=0.95, anneal=anneal, three_phase=three_phase)
    rate = one_cycle_schedule(0.4, total, pct, anneal=anneal, three_phase=three_phase)
    t = np.arange(total)
    np.testing.assert_allclose(mom(t), moms, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rate(t), lrs, rtol=1e-10, atol=1e-12)
    # the mirror: momentum is lowest where the rate peaks
    assert int(np.argmin(mom(t))) == int(np.argmax(rate(t)))


@pytest.mark.parametrize(
    "kwargs,name",
    [({"total_steps": 1}, "total_steps"), ({"pct_start": 1.0}, "pct_start"),
     ({"base_momentum": 0.99}, "base_momentum"), ({"max_momentum": 1.0}, "max_momentum"),
     ({"anneal": "cosine"}, "anneal")],
)
def test_one_cycle_momentum_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        one_cycle_momentum(**{"total_steps": 50, **kwargs})


def test_set_hyperparameters_refuses_an_optimizer_without_momentum():
    opt = torch.optim.Adagrad([torch.zeros(1, requires_grad=True)])
    with pytest.raises(ValueError, match="momentum"):
        set_hyperparameters(opt, momentum=0.9)
