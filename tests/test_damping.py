"""lrlab.damping: roots, regimes, critical momentum, co-schedule, Polyak's pair, measured rates; bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lrlab import schedules as S
from lrlab.damping import (
    characteristic_roots,
    convergence_rate,
    critical_beta,
    critical_momentum_schedule,
    critical_rate,
    damping_regime,
    measured_rate,
    polyak_optimal,
    sign_changes,
)
from lrlab.momentum import run_momentum


@pytest.mark.parametrize("lr, beta, h", [(0.01, 0.5, 1.0), (0.3, 0.9, 2.0), (0.1, 0.0, 1.0), (1.5, 0.2, 1.0)])
def test_roots_solve_the_characteristic_polynomial(lr, beta, h):
    r = characteristic_roots(lr, beta, h)
    np.testing.assert_allclose(r**2 - (1 + beta - lr * h) * r + beta, 0, atol=1e-12)
    assert np.prod(r) == pytest.approx(beta, abs=1e-12)
    assert abs(r[0]) >= abs(r[1])


def test_roots_describe_the_iteration():
    """The companion matrix of the recursion has the same eigenvalues."""
    lr, beta, h = 0.04, 0.7, 3.0
    M = np.array([[1 + beta - lr * h, -beta], [1.0, 0.0]])
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(M)), np.sort_complex(characteristic_roots(lr, beta, h)))


def test_critical_beta_gives_a_double_root_at_one_minus_sqrt():
    for x in (0.001, 0.04, 0.3, 0.81):
        b = critical_beta(x, 1.0)
        r = characteristic_roots(x, b, 1.0)
        assert r[0] == pytest.approx(r[1], abs=1e-6)
        assert r[0].real == pytest.approx(1 - np.sqrt(x), rel=1e-7)
        assert damping_regime(x, b, 1.0) == "critical"
        assert critical_rate(x, 1.0) == pytest.approx(1 - np.sqrt(x))


def test_regimes_around_the_critical_momentum():
    b = critical_beta(0.02, 2.0)
    assert damping_regime(0.02, b - 0.01, 2.0) == "overdamped"
    assert damping_regime(0.02, b + 0.01, 2.0) == "underdamped"
    assert damping_regime(1.5, 0.1, 2.0) == "unstable"
    assert damping_regime(0.02, 0.0, 2.0) == "overdamped"


def test_critical_momentum_minimizes_the_rate_at_a_fixed_rate():
    betas = np.linspace(0.0, 0.99, 991)
    rates = [convergence_rate(0.01, b, 1.0) for b in betas]
    assert min(rates) >= critical_rate(0.01, 1.0) - 1e-9
    assert betas[int(np.argmin(rates))] == pytest.approx(critical_beta(0.01, 1.0), abs=1e-3)


def test_coschedule_is_critical_at_every_step():
    sched = S.cosine_schedule(0.05, 100, min_lr=0.001)
    beta = critical_momentum_schedule(sched, 2.0)
    steps = np.arange(100)
    betas = beta(steps)
    assert all(damping_regime(e, b, 2.0) == "critical" for e, b in zip(sched(steps), betas))
    assert isinstance(beta(3), float)
    assert np.all(np.diff(betas) >= 0), "the critical momentum rises as the rate decays"


def test_polyak_pair_puts_both_ends_on_the_edge():
    mu, L = 0.05, 4.0
    lr, beta, rate = polyak_optimal(mu, L)
    assert rate == pytest.approx(np.sqrt(beta))
    kappa = L / mu
    assert rate == pytest.approx((np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1))
    for h in (mu, L):
        r = characteristic_roots(lr, beta, h)
        assert abs(r[0] - r[1]) < 1e-6, "a double root at each end"
    for h in np.linspace(mu, L, 50):
        assert convergence_rate(lr, beta, h) == pytest.approx(rate, rel=1e-6)


def test_polyak_pair_beats_perturbed_pairs():
    mu, L = 0.01, 1.0
    lr, beta, rate = polyak_optimal(mu, L)
    worst = lambda e, b: max(convergence_rate(e, b, mu), convergence_rate(e, b, L))  # noqa: E731
    for de, db in [(1.02, 0), (0.98, 0), (1, 0.01), (1, -0.01), (1.02, 0.01), (0.98, -0.01)]:
        assert worst(lr * de, beta + db) > rate


def test_measured_rate_recovers_the_largest_root():
    for beta in (0.3, 0.95):
        th, _ = run_momentum(lambda x: x, 1.0, 0.01, 800, beta)
        assert measured_rate(th, 400) == pytest.approx(convergence_rate(0.01, beta, 1.0), rel=2e-3)


def test_sign_changes_counts_overshoots():
    assert sign_changes([1.0, -1.0, 1.0, -1.0]) == 3
    assert sign_changes([1.0, 0.5, 0.25]) == 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: characteristic_roots(0.1, 1.0, 1.0), "beta=1.0"),
        (lambda: characteristic_roots(-0.1, 0.5, 1.0), "lr=-0.1"),
        (lambda: damping_regime(0.1, 0.5, 0.0), "h=0.0"),
        (lambda: critical_beta(2.0, 1.0), "lr=2.0"),
        (lambda: critical_momentum_schedule(0.1, 1.0), "schedule=0.1"),
        (lambda: polyak_optimal(2.0, 1.0), "mu=2.0"),
        (lambda: polyak_optimal(0.0, 1.0), "mu=0.0"),
        (lambda: measured_rate(np.ones(5), 4), "start=4"),
        (lambda: sign_changes(np.ones((2, 2))), "1-D"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
