"""Unit tests of lrlab.annealing: the landscape, the cooling, the runs and the confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lrlab import annealing as an


def test_landscape_gradient_matches_finite_differences_and_minima():
    land = an.RuggedLandscape(curvature=2.0, ripple=0.5)
    x = np.linspace(-4, 4, 101)
    eps = 1e-6
    np.testing.assert_allclose(land.grad(x), (land.loss(x + eps) - land.loss(x - eps)) / (2 * eps), atol=1e-6)
    torch_x = torch.tensor(x)
    np.testing.assert_allclose(land.grad(torch_x).numpy(), land.grad(x), rtol=1e-12)
    # the global minimum is 0 and the basin edge is a local maximum of L
    assert land.loss(x).min() == pytest.approx(0.0, abs=1e-12)
    e = land.basin_edge
    assert land.grad(e) == pytest.approx(0.0, abs=1e-9)
    assert land.loss(e) > land.loss(e - 0.01) and land.loss(e) > land.loss(e + 0.01)


def test_weak_ripples_have_no_barrier():
    assert math.isinf(an.RuggedLandscape(curvature=10.0, ripple=0.1).basin_edge)


def test_geometric_cooling_endpoints_and_constant_ratio():
    r = an.geometric_cooling(0.02, 2e-4, 101)
    assert r[0] == pytest.approx(0.02) and r[-1] == pytest.approx(2e-4)
    np.testing.assert_allclose(r[1:] / r[:-1], (0.01) ** (1 / 100))


def test_noise_free_run_is_gradient_descent_into_the_nearest_minimum():
    land = an.RuggedLandscape()
    x = an.anneal(land, [0.02] * 2000, sigma=1e-12, x0=3.0, n_runs=4, device="cpu")
    # stuck at the local minimum near 3: the funnel alone does not bring it home
    assert np.all(np.abs(x - 3.0) < 0.3) and np.all(np.abs(land.grad(x)) < 1e-6)


def test_wilson_interval_coverage_property():
    lo, hi = an.wilson_interval(0, 100)
    assert lo == 0.0 and 0.0 < hi < 0.05
    lo, hi = an.wilson_interval(30, 100)
    assert lo < 0.3 < hi
    # the interval shrinks like 1/sqrt(n)
    w1 = np.diff(an.wilson_interval(50, 100))[0]
    w2 = np.diff(an.wilson_interval(5000, 10000))[0]
    assert w1 / w2 == pytest.approx(10, rel=0.02)


def test_wilson_interval_covers_the_true_rate_about_95_percent():
    rng = np.random.default_rng(0)
    k = rng.binomial(200, 0.3, size=2000)
    covered = np.mean([lo <= 0.3 <= hi for lo, hi in (an.wilson_interval(int(s), 200) for s in k)])
    assert 0.93 < covered < 0.97


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: an.RuggedLandscape(curvature=0.0), "curvature"),
        (lambda: an.RuggedLandscape(ripple=-1.0), "ripple"),
        (lambda: an.geometric_cooling(0.0, 0.1, 10), "start_lr"),
        (lambda: an.geometric_cooling(0.1, 0.1, 0), "total_steps"),
        (lambda: an.anneal(an.RuggedLandscape(), [0.1], sigma=0.0), "sigma"),
        (lambda: an.anneal(an.RuggedLandscape(), [-0.1], sigma=1.0), "rates"),
        (lambda: an.wilson_interval(5, 3), "successes"),
        (lambda: an.wilson_interval(1, 3, confidence=1.0), "confidence"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
