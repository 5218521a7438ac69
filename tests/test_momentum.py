"""lrlab.momentum: both velocity conventions, the torch optimizer, energy, stationary moments; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab import schedules as S
from lrlab.momentum import (
    HeavyBall,
    bowl_energy,
    energy,
    lyapunov_energy,
    equilibrium_temperature,
    rates_array,
    run_momentum,
    simulate_thermal,
    stationary_moments,
)
from lrlab.torch_adapter import lambda_lr


def grad_of(h):
    h = np.asarray(h, dtype=np.float64)
    return lambda th: h * th


def test_conventions_agree_at_a_constant_rate():
    """v_t = -eta b_t by induction: same path when the rate never changes."""
    h = np.array([0.3, 1.0, 2.5])
    a, _ = run_momentum(grad_of(h), np.ones(3), 0.2, 60, 0.8)
    b, _ = run_momentum(grad_of(h), np.ones(3), 0.2, 60, 0.8, convention="pytorch")
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_conventions_differ_after_a_rate_change_by_the_rate_ratio():
    """At a switch PyTorch carries beta * (eta_t / eta_{t-1}) of the last displacement, heavy ball beta."""
    rates = np.r_[np.full(10, 0.1), np.full(10, 0.02)]
    for conv, factor in (("heavy_ball", 1.0), ("pytorch", 0.2)):
        th, v = run_momentum(grad_of(1.0), 1.0, rates, 20, 0.9, convention=conv)
        carried = v[11] + rates[10] * th[10]
        assert carried == pytest.approx(0.9 * factor * v[10], rel=1e-12), conv
    hb, _ = run_momentum(grad_of(1.0), 1.0, rates, 20, 0.9)
    pt, _ = run_momentum(grad_of(1.0), 1.0, rates, 20, 0.9, convention="pytorch")
    assert abs(hb[-1] - pt[-1]) > 1e-3


def test_velocities_are_displacements():
    th, v = run_momentum(grad_of(1.0), 2.0, S.cosine_schedule(0.1, 30), 30, 0.5, convention="pytorch")
    assert v[0] == 0.0
    np.testing.assert_allclose(v[1:], np.diff(th), rtol=1e-12)


def test_time_varying_betas_override_beta():
    betas = np.linspace(0.0, 0.9, 25)
    th, _ = run_momentum(grad_of(1.0), 1.0, 0.05, 25, 0.3, betas=betas)
    # manual loop
    theta, v, out = 1.0, 0.0, [1.0]
    for b in betas:
        v = b * v - 0.05 * theta
        theta += v
        out.append(theta)
    np.testing.assert_allclose(th, out, rtol=1e-12)


@pytest.mark.parametrize("cls_name", ["pytorch", "heavy_ball"])
def test_torch_optimizers_match_numpy_under_a_scheduler(cls_name):
    """torch.optim.SGD(momentum) is the PyTorch convention; HeavyBall is Polyak's, also under a schedule."""
    sched = S.step_schedule(0.1, step_size=7, gamma=0.3)
    h = torch.tensor([0.5, 2.0], dtype=torch.float64)
    p = torch.nn.Parameter(torch.tensor([1.0, -1.0], dtype=torch.float64))
    cls = torch.optim.SGD if cls_name == "pytorch" else HeavyBall
    opt = cls([p], lr=0.1, momentum=0.9)
    scheduler = lambda_lr(opt, sched)
    path = [p.detach().clone().numpy()]
    for _ in range(25):
        opt.zero_grad()
        (0.5 * h * p**2).sum().backward()
        opt.step()
        scheduler.step()
        path.append(p.detach().clone().numpy())
    expected, _ = run_momentum(grad_of([0.5, 2.0]), np.array([1.0, -1.0]), sched, 25, 0.9, convention=cls_name)
    np.testing.assert_allclose(np.array(path), expected, rtol=1e-10, atol=1e-14)


def test_energy_is_conserved_without_friction_and_decays_with_it():
    th, v = run_momentum(grad_of(1.0), 1.0, 0.001, 2000, 1.0)
    e = energy(0.5 * th**2, v, 0.001)
    assert np.abs(e / e[0] - 1).max() < 0.02
    th, v = run_momentum(grad_of(1.0), 1.0, 0.001, 2000, 0.99)
    e = energy(0.5 * th**2, v, 0.001)
    assert np.all(np.diff(e) <= 1e-15)
    assert e[-1] < 1e-6 * e[0]


def test_energy_sums_kinetic_over_coordinates():
    e = energy([1.0, 1.0], np.array([[0.0, 0.0], [0.1, 0.2]]), 0.5)
    np.testing.assert_allclose(e, [1.0, 1.0 + (0.01 + 0.04) / 1.0])


def test_stationary_moments_solve_the_lyapunov_equation():
    """Check the closed form against the fixed point of the covariance recursion P = A P A^T + s b b^T."""
    for lr, beta, h, s in [(0.1, 0.0, 1.0, 1.0), (0.02, 0.9, 3.0, 0.5), (0.5, 0.5, 2.0, 2.0)]:
        A = np.array([[1 - lr * h, beta], [-lr * h, beta]])
        b = np.array([-lr, -lr])
        P = np.zeros((2, 2))
        for _ in range(20000):
            P = A @ P @ A.T + s * np.outer(b, b)
        theta2, v2 = stationary_moments(lr, beta, h, s)
        assert theta2 == pytest.approx(P[0, 0], rel=1e-9)
        assert v2 == pytest.approx(P[1, 1], rel=1e-9)


def test_stationary_moments_reduce_to_sgd_and_temperature_is_the_limit():
    assert stationary_moments(0.3, 0.0, 2.0, 1.5)[0] == pytest.approx(0.3 * 1.5 / (2.0 * (2 - 0.6)))
    lr, s = 1e-5, 2.0
    for beta in (0.9, 0.99):
        theta2, v2 = stationary_moments(lr, beta, 1.0, s)
        T = equilibrium_temperature(lr, beta, s)
        assert theta2 * 1.0 == pytest.approx(T, rel=(1 - beta) + 1e-3)
        assert v2 / lr == pytest.approx(T, rel=(1 - beta) + 1e-3)


def test_simulate_thermal_matches_exact_moments():
    r = simulate_thermal(0.05, 0.8, 1.0, 1.0, total_steps=3000, burn_in=500, n_seeds=400, seed=1, device="cpu")
    theta2, v2 = stationary_moments(0.05, 0.8, 1.0, 1.0)
    assert abs(r.theta2 - theta2) < 4 * r.theta2_stderr
    assert abs(r.v2 - v2) < 4 * r.v2_stderr
    assert r.device == "cpu" and r.n_seeds == 400


def test_rates_array_accepts_numbers_arrays_and_schedules():
    np.testing.assert_allclose(rates_array(S.linear_schedule(1.0, 0.0, 4), 4), [1.0, 0.75, 0.5, 0.25])
    with pytest.raises(ValueError, match="total_steps=3"):
        rates_array([0.1, 0.2], 3)


def _rises(x):
    return int(np.count_nonzero(np.diff(x) > 1e-12 * np.abs(x[:-1])))


def test_lyapunov_function_never_rises_on_a_nonconvex_loss_under_the_condition():
    """V = L + beta |v|^2/(2 eta) is non-increasing when eta h <= 2(1 - beta), h the largest curvature; the
    proof needs only an h-Lipschitz gradient. L = sum_i c_i (1 - cos theta_i) is non-convex with curvature <= max c."""
    rng = np.random.default_rng(0)
    c = np.array([0.3, 1.0, 2.0])
    grad = lambda th: c * np.sin(th)  # noqa: E731
    for _ in range(40):
        beta = rng.uniform(0.0, 0.999)
        lr = rng.uniform(0.05, 1.0) * 2 * (1 - beta) / c.max()
        th, v = run_momentum(grad, rng.uniform(-3, 3, 3), lr, 400, beta)
        pot = (c * (1 - np.cos(th))).sum(axis=1)
        V = lyapunov_energy(pot, v, lr, beta)
        assert np.all(np.diff(V) <= 1e-12 * V[0]), (lr, beta)  # rounding of 1 - cos near 0 only


def test_lyapunov_function_can_rise_when_the_condition_fails():
    """The condition is not decoration: at eta h = 0.1, beta = 0.98 (0.1 > 0.04) V rises on the bowl."""
    th, v = run_momentum(grad_of(1.0), 1.0, 0.1, 300, 0.98)
    assert _rises(lyapunov_energy(0.5 * th**2, v, 0.1, 0.98)) > 0
    assert _rises(energy(0.5 * th**2, v, 0.1)) > 0


def test_bowl_energy_shrinks_by_exactly_beta_per_step():
    """E-cal_{t+1} = beta E-cal_t on any bowl, any constant (eta, beta), any regime; conserved at beta = 1."""
    rng = np.random.default_rng(1)
    for beta in (0.0, 0.3, 0.81, 0.95, 1.0):
        h = rng.uniform(0.01, 1.5, 4)
        lr = 0.9 * 2 * (1 + beta) / h.max() if beta < 1 else 1.0
        th, v = run_momentum(grad_of(h), rng.standard_normal(4), lr, 80, beta)
        e = bowl_energy(th, v, lr, beta, h)
        scale = energy(0.5 * (h * th**2).sum(axis=1), v, lr)
        assert np.max(np.abs(e[1:] - beta * e[:-1]) / scale[:-1]) < 1e-12, beta
    # the two forms of the docstring agree: (theta_t^2 + beta theta_{t-1}^2 - (1+beta-eta h) theta_t theta_{t-1})/(2 eta)
    th, v = run_momentum(grad_of(0.7), 1.0, 0.3, 20, 0.6)
    prev = th - v
    other = (th**2 + 0.6 * prev**2 - (1 + 0.6 - 0.3 * 0.7) * th * prev) / (2 * 0.3)
    np.testing.assert_allclose(bowl_energy(th, v, 0.3, 0.6, 0.7), other, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: run_momentum(grad_of(1.0), 1.0, 0.1, 5, 1.5), "beta=1.5"),
        (lambda: run_momentum(grad_of(1.0), 1.0, 0.1, 5, 0.9, convention="nesterov"), "convention='nesterov'"),
        (lambda: run_momentum(grad_of(1.0), 1.0, -0.1, 5, 0.9), "lr=-0.1"),
        (lambda: run_momentum(grad_of(1.0), 1.0, 0.1, 0, 0.9), "total_steps=0"),
        (lambda: run_momentum(grad_of(1.0), 1.0, 0.1, 3, 0.9, betas=[0.1, 2.0, 0.1]), "betas"),
        (lambda: HeavyBall([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=1.0), "beta=1.0"),
        (lambda: HeavyBall([torch.nn.Parameter(torch.zeros(1))], lr=0.0), "lr=0.0"),
        (lambda: stationary_moments(1.0, 0.0, 3.0, 1.0), "lr \\* h"),
        (lambda: stationary_moments(0.1, 0.5, 1.0, -1.0), "noise_var=-1.0"),
        (lambda: equilibrium_temperature(0.1, -0.2, 1.0), "beta=-0.2"),
        (lambda: energy([1.0], [0.0], 0.0), "lr="),
        (lambda: lyapunov_energy([1.0], [0.0], 0.1, 1.5), "beta=1.5"),
        (lambda: lyapunov_energy([1.0], [0.0], -0.1, 0.5), "lr=-0.1"),
        (lambda: bowl_energy([1.0], [0.0], 0.0, 0.5, 1.0), "lr=0.0"),
        (lambda: simulate_thermal(0.1, 0.5, 1.0, 1.0, 10, 10), "burn_in=10"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
