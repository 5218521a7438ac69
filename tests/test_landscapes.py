"""lrlab.landscapes: the double well, the kick threshold (formula vs bisection), restarts; bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lrlab import schedules as S
from lrlab.landscapes import (
    AsymmetricDoubleWell,
    crosses_barrier,
    kick_threshold,
    kick_threshold_bisection,
    restart_escape,
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
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
