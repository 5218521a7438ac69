"""lrlab.landscapes: the double well, the kick threshold (formula vs bisection), restarts; bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lrlab import schedules as S
from lrlab.landscapes import (
    AsymmetricDoubleWell,
    crosses_barrier,
    friction_kick_threshold,
    kick_action,
    kick_energy_needed,
    kick_threshold,
    kick_threshold_bisection,
    restart_escape,
    restart_escape_many,
    small_friction_kick_threshold,
)


@pytest.fixture
def well():
    return AsymmetricDoubleWell(a=2.0, tilt=0.3)


def test_stationary_points_are_where_the_gradient_vanishes(well):
    for point in (well.deep_min, well.barrier, well.shallow_min):
        assert well.grad(point) == pytest.approx(0.0, abs=1e-12)
    assert well.curvature(well.deep_min) > 0 and well.curvature(well.shallow_min) > 0
    assert well.curvature(well.barrier) < 0
    assert well.deep_min < well.barrier < well.shallow_min
    assert well.barrier_height > 0 and well.depth_gap > 0


def test_gradient_matches_finite_differences(well):
    x = np.linspace(-1.5, 1.5, 13)
    eps = 1e-6
    np.testing.assert_allclose(well.grad(x), (well.loss(x + eps) - well.loss(x - eps)) / (2 * eps), atol=1e-7)


@pytest.mark.parametrize("kick", [3.0, 6.0, 12.0])
def test_frictionless_threshold_matches_the_energy_formula_within_5_percent(well, kick):
    formula = kick_threshold(well.barrier_height, kick)
    measured = kick_threshold_bisection(well, kick, beta=1.0)
    assert measured == pytest.approx(formula, rel=0.05)
    assert crosses_barrier(well, 1.1 * formula, kick) and not crosses_barrier(well, 0.9 * formula, kick)


def test_friction_raises_the_threshold(well):
    thresholds = [kick_threshold_bisection(well, 5.0, beta=b) for b in (1.0, 0.99, 0.95)]
    assert thresholds[0] < thresholds[1] < thresholds[2]


def _ode_crosses(well, lr, kick, beta):
    """Continuous limit, integrated in time: theta'' + gamma theta' = -L'(theta), started at the shallow minimum with
    speed sqrt(eta) g towards the barrier (independent of the energy-in-position integral)."""
    from scipy.integrate import solve_ivp

    gamma = (1 - beta) / np.sqrt(lr)
    direction = np.sign(well.barrier - well.shallow_min)

    def rhs(tau, y):
        return [y[1], -gamma * y[1] - well.grad(y[0])]

    def passed(tau, y):
        return direction * (y[0] - well.barrier)

    def turned(tau, y):
        return direction * y[1]

    passed.terminal = turned.terminal = True
    passed.direction = turned.direction = 0
    sol = solve_ivp(rhs, (0, 1e3), [well.shallow_min, direction * np.sqrt(lr) * kick], events=(passed, turned),
                    rtol=1e-11, atol=1e-13)
    return len(sol.t_events[0]) > 0


@pytest.mark.parametrize("kick, beta", [(5.0, 0.95), (3.0, 0.9), (10.0, 0.99)])
def test_friction_threshold_matches_the_continuous_ode(well, kick, beta):
    """The energy-in-position integral gives the same threshold as integrating the damped ODE in time."""
    eta = friction_kick_threshold(well, kick, beta)
    assert _ode_crosses(well, eta * 1.001, kick, beta)
    assert not _ode_crosses(well, eta * 0.999, kick, beta)


def test_energy_needed_grows_with_friction_and_starts_at_the_barrier(well):
    needed = [kick_energy_needed(well, g) for g in (0.0, 0.01, 0.1, 1.0)]
    assert needed[0] == well.barrier_height
    assert np.all(np.diff(needed) > 0)
    slope = (kick_energy_needed(well, 1e-5) - well.barrier_height) / 1e-5
    assert slope == pytest.approx(kick_action(well), rel=1e-3)


def test_small_friction_threshold_solves_its_cubic_and_approaches_the_full_one(well):
    for kick, beta in ((4.0, 0.999), (4.0, 0.95)):
        eta = small_friction_kick_threshold(well, kick, beta)
        u = np.sqrt(eta)
        assert kick**2 / 2 * u**3 - well.barrier_height * u - (1 - beta) * kick_action(well) == pytest.approx(0, abs=1e-12)
    assert small_friction_kick_threshold(well, 4.0, 0.9999) == pytest.approx(friction_kick_threshold(well, 4.0, 0.9999),
                                                                              rel=1e-3)
    assert small_friction_kick_threshold(well, 4.0, 1.0) == kick_threshold(well.barrier_height, 4.0)


def test_friction_threshold_predicts_the_discrete_run_for_big_kicks(well):
    """Bigger kicks need smaller rates, where the discrete run approaches the continuous limit."""
    for beta in (0.95, 0.9):
        gaps = [abs(kick_threshold_bisection(well, g, beta) / friction_kick_threshold(well, g, beta) - 1)
                for g in (12.0, 30.0)]
        assert gaps[1] < gaps[0] < 0.025


def test_restart_escape_many_shares_the_noise_and_equals_single_runs():
    w = AsymmetricDoubleWell(1.0, 0.2)
    scheds = [S.constant_schedule(0.02), S.cosine_restarts_schedule(0.05, 50, min_lr=0.001)]
    many = restart_escape_many(w, scheds, 150, 0.9, 0.3, n_seeds=64, seed=5, device="cpu")
    for sched, got in zip(scheds, many):
        one = restart_escape(w, sched, 150, 0.9, 0.3, n_seeds=64, seed=5, device="cpu")
        np.testing.assert_array_equal(got.deep_fraction, one.deep_fraction)
        np.testing.assert_array_equal(got.deep_final, one.deep_final)
        assert got.deep_final.mean() == got.final


def test_no_escape_without_noise_and_without_heat(well):
    r = restart_escape(well, S.constant_schedule(0.01), 300, 0.9, 0.0, n_seeds=8, device="cpu")
    assert r.final == 0.0
    np.testing.assert_allclose(r.mean_loss, well.loss(well.shallow_min), atol=1e-12)


def test_restarts_move_runs_to_the_deep_well():
    w = AsymmetricDoubleWell(1.0, 0.2)
    cold = restart_escape(w, S.constant_schedule(0.001), 600, 0.9, 0.3, n_seeds=500, seed=2, device="cpu")
    hot = restart_escape(w, S.cosine_restarts_schedule(0.05, 200, min_lr=0.001), 600, 0.9, 0.3, n_seeds=500, seed=2,
                         device="cpu")
    assert cold.final == 0.0
    assert hot.final > 5 * hot.final_stderr
    assert len(hot.deep_fraction) == 601


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: AsymmetricDoubleWell(a=1.0, tilt=1.0), "tilt=1.0"),
        (lambda: AsymmetricDoubleWell(a=-1.0), "a=-1.0"),
        (lambda: kick_threshold(0.1, 0.0), "kick=0.0"),
        (lambda: crosses_barrier(AsymmetricDoubleWell(), 0.1, 1.0, beta=1.2), "beta=1.2"),
        (lambda: kick_threshold_bisection(AsymmetricDoubleWell(), 5.0, lo=0.5, hi=0.1), "lo=0.5"),
        (lambda: kick_threshold_bisection(AsymmetricDoubleWell(), 5.0, lo=0.5, hi=1.0), "lo=0.5"),
        (lambda: restart_escape(AsymmetricDoubleWell(), S.constant_schedule(0.1), 5, 1.0, 0.1), "beta=1.0"),
        (lambda: restart_escape(AsymmetricDoubleWell(), 0.1, 5, 0.5, 0.1), "schedule=0.1"),
        (lambda: restart_escape_many(AsymmetricDoubleWell(), [], 5, 0.5, 0.1), "schedules"),
        (lambda: kick_energy_needed(AsymmetricDoubleWell(), -1.0), "gamma=-1.0"),
        (lambda: friction_kick_threshold(AsymmetricDoubleWell(), 5.0, beta=0.0), "beta=0.0"),
        (lambda: friction_kick_threshold(AsymmetricDoubleWell(), -5.0), "kick=-5.0"),
        (lambda: small_friction_kick_threshold(AsymmetricDoubleWell(), 5.0, beta=1.1), "beta=1.1"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
