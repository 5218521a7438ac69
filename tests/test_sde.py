"""Unit tests of lrlab.sde: the variance ODE, its stationary law, and the Monte Carlo check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab import sde
from lrlab.stats import bonferroni_z
from lrlab.nqm import NoisyQuadratic
from lrlab.schedules import constant_schedule, cosine_schedule


def test_stationary_variance_formula_and_temperature():
    assert sde.stationary_variance(0.1, h=2.0, sigma2=3.0, batch_size=4) == pytest.approx(0.1 * 3.0 / (2 * 2.0 * 4))
    assert sde.temperature(0.1, sigma2=3.0, batch_size=4) == pytest.approx(0.1 * 3.0 / 8)
    # v_inf = tau / h: the Gibbs law exp(-h theta^2 / (2 tau)) has variance tau / h
    assert sde.stationary_variance(0.3, 5.0, 2.0, 3) == pytest.approx(sde.temperature(0.3, 2.0, 3) / 5.0)
    assert sde.relaxation_time(0.01, h=5.0) == pytest.approx(10.0)


def test_ode_reaches_stationary_variance_from_both_sides():
    for v0 in (0.0, 1.0):
        v = sde.variance_ode(constant_schedule(0.05), 3000, h=1.0, sigma2=2.0, batch_size=2, v0=v0)
        assert v[-1] == pytest.approx(0.05 * 2.0 / (2 * 1.0 * 2), rel=1e-9)


def test_ode_exact_solution_for_a_constant_rate():
    """v(t) = v_inf + (v0 - v_inf) exp(-2 h eta t): the piecewise-exact integrator has no step error."""
    eta, h, s2, v0 = 0.03, 0.7, 1.5, 0.4
    t = np.arange(201)
    v = sde.variance_ode(np.full(200, eta), h=h, sigma2=s2, v0=v0)
    v_inf = eta * s2 / (2 * h)
    np.testing.assert_allclose(v, v_inf + (v0 - v_inf) * np.exp(-2 * h * eta * t), rtol=1e-12)


def test_ode_matches_fine_runge_kutta_for_a_varying_rate():
    """Against an independent RK4 integration with 20 substeps of the same piecewise-constant rate."""
    rates = np.linspace(0.2, 0.01, 50)
    h, s2, B = 1.3, 0.8, 2
    v, out = 1.0, [1.0]
    f = lambda v, eta: -2 * h * eta * v + eta**2 * s2 / B
    for eta in rates:
        dt = 1 / 20
        for _ in range(20):
            k1 = f(v, eta); k2 = f(v + dt * k1 / 2, eta); k3 = f(v + dt * k2 / 2, eta); k4 = f(v + dt * k3, eta)
            v += dt * (k1 + 2 * k2 + 2 * k3 + k4) / 6
        out.append(v)
    np.testing.assert_allclose(sde.variance_ode(rates, h=h, sigma2=s2, batch_size=B, v0=1.0), out, rtol=1e-8)


def test_ode_is_first_order_close_to_the_discrete_recursion():
    """The ODE and the exact SGD recursion differ by O(eta h): within eta_max * h here."""
    h = np.array([1.0, 0.2])
    sched = cosine_schedule(0.05, 400, min_lr=0.005)
    nqm = NoisyQuadratic(h=h, sigma2=np.ones(2), batch_size=1, theta0=np.array([0.3, 0.3]))
    rec = nqm.second_moments(sched, 400)
    ode = sde.variance_ode(sched, 400, h=h, sigma2=1.0, v0=0.09)
    gap = np.max(np.abs(ode / rec - 1), axis=0)
    assert np.all(gap < 0.05 * h + 1e-12)
    assert gap[0] > 1e-3  # and they are genuinely different models


def test_ode_shapes_and_batching():
    rates = np.array([[0.1] * 5, [0.01] * 5])
    v = sde.variance_ode(rates, h=[1.0, 2.0, 3.0], sigma2=1.0)
    assert v.shape == (2, 6, 3)
    single = sde.variance_ode(rates[1], h=2.0, sigma2=1.0)
    np.testing.assert_allclose(v[1, :, 1], single)


def test_adiabatic_variance_follows_the_rate():
    np.testing.assert_allclose(sde.adiabatic_variance([0.2, 0.1], h=2.0, sigma2=1.0), [0.05, 0.025])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: sde.stationary_variance(-0.1, 1.0, 1.0), "lr"),
        (lambda: sde.stationary_variance(0.1, 0.0, 1.0), "h"),
        (lambda: sde.temperature(0.1, 1.0, batch_size=0), "batch_size"),
        (lambda: sde.variance_ode([0.1], h=1.0, sigma2=-1.0), "sigma2"),
        (lambda: sde.variance_ode([0.1], h=1.0, sigma2=1.0, v0=-1.0), "v0"),
        (lambda: sde.variance_ode([-0.1], h=1.0, sigma2=1.0), "rates"),
        (lambda: sde.simulate_variance([0.1], h=1.0, sigma2=1.0, n_seeds=1), "n_seeds"),
        (lambda: sde.simulate_variance([0.1], h=1.0, sigma2=1.0, device="nonsense"), "device"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_monte_carlo_matches_exact_recursion_within_sampling_error():
    h = np.array([1.0, 0.25])
    rates = np.geomspace(0.1, 0.01, 300)
    nqm = NoisyQuadratic(h=h, sigma2=np.ones(2), batch_size=2, theta0=np.array([1.0, 1.0]))
    exact = nqm.second_moments(rates)
    mc = sde.simulate_variance(rates, h=h, sigma2=1.0, batch_size=2, theta0=1.0, n_seeds=3000, seed=1, device="cpu")
    z = np.abs(mc.mean[1:] - exact[1:]) / mc.stderr[1:]
    assert z.max() < bonferroni_z(z.size, 1e-3)  # 600 correlated z-scores, family-wise false alarms <= 1e-3
    assert mc.device == "cpu" and mc.mean.shape == (301, 2)


def test_monte_carlo_detects_a_wrong_noise_level():
    """The check above can fail: a 10 % larger noise variance is far outside the error bars."""
    rates = np.full(400, 0.05)
    nqm = NoisyQuadratic(h=[1.0], sigma2=[1.0], batch_size=1, theta0=[0.0])
    exact = nqm.second_moments(rates)[-100:, 0]
    mc = sde.simulate_variance(rates, h=1.0, sigma2=1.1, theta0=0.0, n_seeds=4000, seed=2, device="cpu")
    z = (mc.mean[-100:, 0] - exact) / mc.stderr[-100:, 0]
    assert z.mean() > 2.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_monte_carlo_on_gpu_agrees_with_recursion():
    rates = np.full(200, 0.05)
    nqm = NoisyQuadratic(h=[1.0], sigma2=[1.0], batch_size=1, theta0=[1.0])
    mc = sde.simulate_variance(rates, h=1.0, sigma2=1.0, n_seeds=100_000, device="cuda")
    assert mc.device.startswith("cuda")
    z = np.abs(mc.mean[1:, 0] - nqm.second_moments(rates)[1:, 0]) / mc.stderr[1:, 0]
    assert z.max() < bonferroni_z(z.size, 1e-3)


def test_monte_carlo_record_keeps_only_the_asked_steps():
    """A sparse record averages the same runs at fewer steps: identical values where both record."""
    rates = np.full(50, 0.1)
    full = sde.simulate_variance(rates, h=1.0, sigma2=1.0, theta0=1.0, n_seeds=500, seed=4, device="cpu")
    sparse = sde.simulate_variance(rates, h=1.0, sigma2=1.0, theta0=1.0, n_seeds=500, seed=4, device="cpu",
                                   record=[0, 10, 50])
    assert full.steps is None and sparse.steps.tolist() == [0, 10, 50]
    np.testing.assert_allclose(sparse.mean, full.mean[[0, 10, 50]], rtol=1e-12)
    np.testing.assert_allclose(sparse.stderr, full.stderr[[0, 10, 50]], rtol=1e-12)
    with pytest.raises(ValueError, match="record"):
        sde.simulate_variance(rates, h=1.0, sigma2=1.0, n_seeds=10, device="cpu", record=[10, 5])


def test_discrete_stationary_variance_is_the_recursion_fixed_point():
    for eta, h in ((0.1, 1.0), (0.5, 3.0), (0.03, 0.2)):
        nqm = NoisyQuadratic(h=[h], sigma2=[2.0], batch_size=4, theta0=[0.0])
        assert sde.discrete_stationary_variance(eta, h, 2.0, 4) == pytest.approx(nqm.noise_floor(eta) * 2 / h, rel=1e-12)
        ratio = sde.discrete_stationary_variance(eta, h, 2.0, 4) / sde.stationary_variance(eta, h, 2.0, 4)
        assert ratio == pytest.approx(2 / (2 - eta * h))
    with pytest.raises(ValueError, match="below 2"):
        sde.discrete_stationary_variance(1.0, 2.0, 1.0)


def test_measured_stationary_variance_matches_the_discrete_fixed_point_and_not_the_sde():
    """Chains' time averages: t interval around the discrete value; the SDE value (5 and 10 % lower here) is far outside."""
    lrs = np.array([0.1, 0.2])
    m = sde.simulate_stationary_variance(lrs, h=1.0, sigma2=1.0, n_chains=400, n_steps=3000, burn_in=100, seed=1,
                                         device="cpu")
    assert m.shape == (400, 2)
    mean, se = m.mean(0), m.std(0, ddof=1) / np.sqrt(400)
    z_disc = np.abs(mean - sde.discrete_stationary_variance(lrs, 1.0, 1.0)) / se
    z_sde = np.abs(mean - sde.stationary_variance(lrs, 1.0, 1.0)) / se
    assert z_disc.max() < bonferroni_z(2, 1e-3) < z_sde.min()
    with pytest.raises(ValueError, match="below 2"):
        sde.simulate_stationary_variance([2.5], h=1.0, sigma2=1.0, device="cpu")
