"""The learning-rate range test (lrlab.lr_finder) on quadratics with a known stability limit 2/h."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab.lr_finder import lr_range_test, smooth_losses, suggest

torch.set_num_threads(1)


def quadratic(h, theta0=(1.0, 1.0, 1.0), noise=0.1, seed=0):
    """Minibatch loss 1/2 sum_i h_i (theta_i - xi_i)^2 with a fresh xi ~ N(0, noise^2) at every step (seeded).

    The noise keeps every coordinate away from exactly zero, as minibatches do, so a rate past 2 / h_max
    has something to amplify.
    """
    h = torch.as_tensor(h, dtype=torch.float64)
    w = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    gen = torch.Generator().manual_seed(seed)
    xi = noise * torch.randn(1000, len(h), generator=gen, dtype=torch.float64)
    return w, (lambda step: 0.5 * (h * (w - xi[step]) ** 2).sum())


@pytest.mark.parametrize("h_max", [1.0, 4.0, 20.0])
def test_sweep_diverges_past_two_over_h_and_suggests_below(h_max):
    w, loss = quadratic([h_max, 0.5, 0.1])
    opt = torch.optim.SGD([w], lr=1.0)
    res = lr_range_test(loss, [w], opt, start_lr=1e-4, end_lr=100.0, num_steps=200)
    limit = 2.0 / h_max
    assert res.diverged
    assert res.rates[-1] > limit, "the loss cannot blow up below the stability limit 2/h"
    # after crossing 2/h the stiff coordinate grows by |1 - eta h| > 1 per step; with rates growing 7 % per step
    # it needs a handful of steps to quadruple the smoothed loss: it stops within a factor 3 of the limit
    assert res.rates[-1] < 3 * limit
    assert res.suggestion < limit
    assert res.min_over_10 < limit
    assert np.all(np.isfinite(res.smoothed[:-1]))


def test_restores_weights_and_optimizer_state():
    w, loss = quadratic([4.0, 1.0, 0.1], theta0=(0.3, -0.7, 2.0))
    opt = torch.optim.SGD([w], lr=0.01, momentum=0.9)
    for _ in range(3):  # give the optimizer a momentum buffer to restore
        opt.zero_grad(), loss(0).backward(), opt.step()
    before = w.detach().clone()
    buf = opt.state[w]["momentum_buffer"].clone()
    lr_range_test(loss, [w], opt, start_lr=1e-3, end_lr=10.0, num_steps=50)
    assert torch.equal(w.detach(), before)
    assert torch.equal(opt.state[w]["momentum_buffer"], buf)
    assert opt.param_groups[0]["lr"] == 0.01


def test_rates_are_the_exponential_sweep_and_smoothing_is_bias_corrected():
    w, loss = quadratic([0.01, 0.01, 0.01], noise=0.0)  # never diverges in this range
    res = lr_range_test(loss, [w], torch.optim.SGD([w], lr=1.0), start_lr=1e-3, end_lr=1.0, num_steps=31, beta=0.9)
    np.testing.assert_allclose(res.rates, np.geomspace(1e-3, 1.0, 31), rtol=1e-12)
    assert not res.diverged
    np.testing.assert_allclose(res.smoothed, smooth_losses(res.losses, 0.9), rtol=1e-12)
    assert res.smoothed[0] == res.losses[0]  # bias correction: the first smoothed value is the first loss


def test_suggestions_on_a_known_curve():
    rates = np.geomspace(1e-4, 1.0, 41)
    x = np.log10(rates)
    curve = 1.0 / (1.0 + np.exp(4 * (x + 2)))  # a sigmoid in log10(rate): steepest at 1e-2
    curve = np.where(rates > 0.1, curve + (rates - 0.1) * 50, curve)  # blows up past 0.1
    assert suggest(rates, curve) == pytest.approx(1e-2)
    best = rates[np.argmin(curve)]
    assert suggest(rates, curve, "min/10") == pytest.approx(best / 10)


@pytest.mark.parametrize(
    "kwargs,name",
    [({"start_lr": 0.0}, "start_lr"), ({"end_lr": -1.0}, "end_lr"), ({"start_lr": 1.0, "end_lr": 0.5}, "end_lr"),
     ({"num_steps": 2}, "num_steps"), ({"beta": 1.0}, "beta"), ({"diverge_factor": 1.0}, "diverge_factor"),
     ({"method": "valley"}, "method")],
)
def test_bad_arguments_name_themselves(kwargs, name):
    w, loss = quadratic([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=name):
        lr_range_test(loss, [w], torch.optim.SGD([w], lr=1.0), **kwargs)


def test_immediate_divergence_is_reported():
    w, loss = quadratic([1e6, 1.0, 1.0])
    with pytest.raises(ValueError, match="start_lr"):
        lr_range_test(loss, [w], torch.optim.SGD([w], lr=1.0), start_lr=1.0, end_lr=10.0)


def test_suggest_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        suggest([1, 2, 3], [3, 2, 1], method="x")
    with pytest.raises(ValueError, match="shapes"):
        suggest([1, 2, 3], [3, 2])


def test_plot_marks_both_suggestions():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lrlab.lr_finder import plot_lr_finder

    w, loss = quadratic([4.0, 1.0, 0.1])
    res = lr_range_test(loss, [w], torch.optim.SGD([w], lr=1.0), start_lr=1e-3, end_lr=10.0, num_steps=60)
    fig, ax = plt.subplots()
    plot_lr_finder(res, ax, limit=0.5)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("steepest" in t for t in labels) and any("minimum / 10" in t for t in labels)
    assert any("stability limit" in t for t in labels)
    plt.close(fig)
