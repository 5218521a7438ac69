"""Unit tests of lrlab.pac_bayes: KL, the linear bound, the closed-form optimum and the grid search."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from lrlab import pac_bayes as pb


def test_gaussian_kl_closed_form_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mq, vq, mp, vp = np.array([0.3, -1.0]), np.array([0.2, 2.0]), np.array([0.0, 0.5]), np.array([1.0, 1.5])
    x = mq + np.sqrt(vq) * rng.standard_normal((400_000, 2))
    logq = -0.5 * ((x - mq) ** 2 / vq + np.log(2 * np.pi * vq))
    logp = -0.5 * ((x - mp) ** 2 / vp + np.log(2 * np.pi * vp))
    diff = (logq - logp).sum(1)
    assert pb.gaussian_kl(mq, vq, mp, vp) == pytest.approx(diff.mean(), abs=4 * diff.std() / np.sqrt(len(diff)))


def test_gaussian_kl_is_zero_only_at_equality_and_asymmetric():
    assert pb.gaussian_kl(0.5, 2.0, 0.5, 2.0) == 0.0
    assert pb.gaussian_kl(0.0, 1.0, 0.0, 2.0) > 0
    assert pb.gaussian_kl(0.0, 1.0, 0.0, 2.0) != pytest.approx(pb.gaussian_kl(0.0, 2.0, 0.0, 1.0))


def test_catoni_bound_terms():
    value = pb.catoni_bound(0.2, kl=3.0, lam=50.0, n=400, delta=0.1)
    assert value == pytest.approx(0.2 + (3.0 + np.log(10)) / 50 + 50 / 3200)


@pytest.mark.parametrize("h, s2, lam", [(1.0, 1.0, 9.0), (2.0, 0.5, 100.0), (0.1, 3.0, 1e4)])
def test_closed_form_variance_minimises_the_bound(h, s2, lam):
    kw = dict(h=h, prior_var=s2, lam=lam, n=1000)
    v_star = pb.optimal_variance(h, s2, lam)
    assert v_star == pytest.approx(s2 / (1 + lam * h * s2))
    res = minimize_scalar(lambda u: float(pb.bound_vs_variance(np.exp(u), **kw)), bounds=(-25, 5), method="bounded",
                          options={"xatol": 1e-10})
    assert np.exp(res.x) == pytest.approx(v_star, rel=1e-4)
    # an offset between prior mean and minimum shifts the bound but not the optimum
    b0 = pb.bound_vs_variance(v_star * np.array([0.9, 1.0, 1.1]), offset=0.7, **kw)
    assert np.argmin(b0) == 1


def test_optimal_rate_gives_the_optimal_stationary_variance():
    eta = pb.optimal_lr(h=2.0, prior_var=1.0, lam=300.0, sigma2=4.0, batch_size=32)
    assert eta * 4.0 / (2 * 2.0 * 32) == pytest.approx(pb.optimal_variance(2.0, 1.0, 300.0))


def test_grid_search_agrees_with_closed_form_within_grid_resolution():
    grid = np.geomspace(1e-4, 1, 401)
    kw = dict(h=2.0, sigma2=4.0, batch_size=32, prior_var=1.0, lam=500.0, n=10_000)
    best, best_bound, bounds = pb.grid_search_lr(grid, **kw)
    closed = pb.optimal_lr(2.0, 1.0, 500.0, 4.0, 32)
    half_step = np.sqrt(grid[1] / grid[0])
    assert closed / half_step <= best <= closed * half_step
    assert best_bound == pytest.approx(bounds.min()) and bounds.shape == grid.shape
    # the bound is convex in log(eta) around the optimum: larger on both sides
    assert pb.bound_vs_lr(closed / 3, **kw) > pb.bound_vs_lr(closed, **kw) < pb.bound_vs_lr(closed * 3, **kw)


def test_more_data_means_a_smaller_optimal_rate():
    rates = [pb.optimal_lr(1.0, 1.0, lam, 1.0, 1) for lam in (10.0, 100.0, 1000.0)]
    assert rates[0] > rates[1] > rates[2]


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: pb.gaussian_kl(0.0, -1.0, 0.0, 1.0), "var_q"),
        (lambda: pb.gaussian_kl(0.0, 1.0, 0.0, 0.0), "var_p"),
        (lambda: pb.catoni_bound(0.1, kl=1.0, lam=0.0, n=10), "lam"),
        (lambda: pb.catoni_bound(0.1, kl=-1.0, lam=1.0, n=10), "kl"),
        (lambda: pb.catoni_bound(0.1, kl=1.0, lam=1.0, n=10, delta=1.5), "delta"),
        (lambda: pb.optimal_variance(h=-1.0, prior_var=1.0, lam=1.0), "h"),
        (lambda: pb.optimal_lr(1.0, 1.0, 1.0, sigma2=0.0), "sigma2"),
        (lambda: pb.grid_search_lr([0.1, -0.1], h=1.0, sigma2=1.0, prior_var=1.0, lam=1.0, n=10), "lr_grid"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_discrete_optimum_makes_the_discrete_stationary_variance_optimal():
    """eta_d = eta*/(1 + eta* h/2) solves eta sigma^2 / (h B (2 - eta h)) = v*."""
    from lrlab import sde

    h, s2, lam, sigma2, B = 2.0, 1.0, 155.0, 4.0, 32
    eta_d = pb.optimal_lr_discrete(h, s2, lam, sigma2, B)
    assert sde.discrete_stationary_variance(eta_d, h, sigma2, B) == pytest.approx(pb.optimal_variance(h, s2, lam),
                                                                                rel=1e-12)
    eta = pb.optimal_lr(h, s2, lam, sigma2, B)
    assert eta_d < eta and eta / eta_d - 1 == pytest.approx(eta * h / 2, rel=1e-12)
