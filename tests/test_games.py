"""lrlab.games: the Dirac-GAN updates against their closed forms (energy growth, invariant, spectra), bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from lrlab import games


def _circle(n=12, radius=1.0):
    a = 2 * np.pi * np.arange(n) / n
    return radius * np.cos(a), radius * np.sin(a)


@pytest.mark.parametrize("lr", [0.01, 0.1, 0.5])
def test_simultaneous_energy_grows_by_the_closed_form_factor_every_step(lr):
    th, ps = games.run_dirac_gan(*_circle(), np.full(200, lr))
    E = games.energy(th, ps)
    # linear f: the map is sqrt(1 + eta^2) times a rotation, so the ratio is exact up to round-off
    np.testing.assert_allclose(E[1:] / E[:-1], 1 + lr**2, rtol=1e-12)
    assert games.energy_growth_factor(lr) == pytest.approx(1 + lr**2)
    assert games.amplification(lr) == pytest.approx(np.sqrt(1 + lr**2))


def test_growth_factor_is_the_spectral_radius_squared():
    for lr_g, lr_d in [(0.1, 0.1), (0.05, 0.4), (0.3, 0.02)]:
        rho = games.spectral_radius(games.linear_map(lr_g, lr_d))
        assert rho**2 == pytest.approx(games.energy_growth_factor(lr_g, lr_d), rel=1e-12)
        # the alternating map has determinant 1 and, for a b < 4, eigenvalues on the unit circle
        alt = games.linear_map(lr_g, lr_d, method="alternating")
        assert np.linalg.det(alt) == pytest.approx(1.0, abs=1e-12)
        assert games.spectral_radius(alt) == pytest.approx(1.0, abs=1e-7)


def test_step_functions_follow_the_linear_map():
    rng = np.random.default_rng(0)
    th, ps = rng.normal(size=(2, 5))
    for method, step in [("simultaneous", games.simultaneous_step), ("alternating", games.alternating_step)]:
        M = games.linear_map(0.2, 0.3, method=method, gamma=0.5)
        new = np.stack(step(th, ps, 0.2, 0.3, gamma=0.5))
        np.testing.assert_allclose(new, M @ np.stack([th, ps]), rtol=1e-13)


def test_ttur_weighted_energy_grows_by_one_plus_product_of_rates():
    g, d = 0.05, 0.2
    th, ps = games.run_dirac_gan(*_circle(), np.full(300, g), np.full(300, d))
    W = games.weighted_energy(th, ps, g, d)
    np.testing.assert_allclose(W[1:] / W[:-1], 1 + g * d, rtol=1e-12)
    # the plain energy is not a fixed multiple: it wobbles around the same average growth
    E = games.energy(th, ps)
    assert np.ptp(E[1:] / E[:-1]) > 1e-3


@pytest.mark.parametrize("lr_g, lr_d", [(0.1, 0.1), (0.05, 0.4), (1.0, 1.5)])
def test_alternating_invariant_is_conserved(lr_g, lr_d):
    th, ps = games.run_dirac_gan(*_circle(), np.full(2000, lr_g), np.full(2000, lr_d), method="alternating")
    inv = games.alternating_invariant(th, ps, lr_g, lr_d)
    np.testing.assert_allclose(inv, np.broadcast_to(inv[0], inv.shape), rtol=1e-10)  # exact algebra: only round-off over 2000 steps
    E = games.energy(th, ps)
    assert E.max() < 10 and E.min() > 0.05  # bounded away from 0 and infinity: a cycle


def test_alternating_energy_stays_in_the_predicted_band():
    a = 0.3
    th, ps = games.run_dirac_gan(*_circle(64), np.full(3000, a), method="alternating")
    E = games.energy(th, ps)
    lo, hi = (1 - a / 2) / (1 + a / 2), (1 + a / 2) / (1 - a / 2)
    assert lo - 1e-12 <= E.min() and E.max() <= hi + 1e-12
    assert E.max() > hi - 0.02 and E.min() < lo + 0.02  # the band is tight: both ends are reached


def test_softplus_game_grows_at_the_linearised_rate_near_equilibrium():
    th, ps = games.run_dirac_gan(*_circle(radius=1e-3), np.full(100, 0.2), f="softplus")
    E = games.energy(th, ps)
    factor = np.exp(np.mean(np.log(E[-1] / E[0])) / 100)
    # f'(t) = 1/2 - t/4 + O(t^3): at |theta psi| <= 1e-6 the relative error of f'(0) is ~1e-6
    assert factor == pytest.approx(games.energy_growth_factor(0.2, f="softplus"), rel=1e-6)
    assert games.energy_growth_factor(0.2, f="softplus") == pytest.approx(1 + 0.04 / 4)


def test_predicted_energy_with_a_schedule_matches_simulation_and_never_falls():
    rates = 0.3 / np.sqrt(1 + np.arange(400))
    th, ps = games.run_dirac_gan(*_circle(), rates)
    E = games.energy(th, ps)
    pred = games.predicted_energy(E[0], rates)
    np.testing.assert_allclose(E, pred, rtol=1e-10)
    assert np.all(np.diff(pred, axis=0) >= 0)


def test_gradient_penalty_converges_at_the_spectral_radius():
    lr, gamma = 0.1, 1.0
    th, ps = games.run_dirac_gan(*_circle(), np.full(400, lr), gamma=gamma)
    E = games.energy(th, ps)
    rho = games.spectral_radius(games.linear_map(lr, gamma=gamma))
    assert rho < 1
    factor = np.exp(np.mean(np.log(E[-1] / E[0])) / 400)
    # complex eigenvalues: every mode shrinks by rho per step, the energy by rho^2 up to a bounded wobble
    assert factor == pytest.approx(rho**2, rel=2e-3)


def test_f_prime_values():
    assert games.f_prime(0.0, "softplus") == pytest.approx(0.5)
    assert games.f_prime(np.log(3.0), "softplus") == pytest.approx(0.25)
    assert np.all(games.f_prime([-5.0, 5.0], "linear") == 1.0)
    assert np.isfinite(games.f_prime(1e4, "softplus"))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: games.simultaneous_step(1.0, 1.0, -0.1), "lr_g"),
        (lambda: games.alternating_step(1.0, 1.0, 0.1, lr_d=float("nan")), "lr_d"),
        (lambda: games.simultaneous_step(1.0, 1.0, 0.1, gamma=-1.0), "gamma"),
        (lambda: games.run_dirac_gan(1.0, 1.0, [0.1], method="leapfrog"), "method"),
        (lambda: games.run_dirac_gan(1.0, 1.0, [0.1], f="hinge"), "f"),
        (lambda: games.run_dirac_gan(1.0, 1.0, [0.1, -0.1]), "rate"),
        (lambda: games.run_dirac_gan(1.0, 1.0, [0.1, 0.1], [0.1]), "lrs_d"),
        (lambda: games.linear_map(0.0), "lr_g"),
        (lambda: games.weighted_energy(1.0, 1.0, 0.1, 0.0), "lr_d"),
    ],
)
def test_bad_arguments_raise_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("lr", [0.1, 1 / np.sqrt(2), 1.1])
def test_extragradient_energy_shrinks_by_the_closed_form_factor_every_step(lr):
    """Linear f, equal rates: E' = (1 - eta^2 + eta^4) E exactly, from every start (grows again for eta > 1)."""
    th, ps = _circle()
    E = [games.energy(th, ps)]
    for _ in range(50):
        th, ps = games.extragradient_step(th, ps, lr)
        E.append(games.energy(th, ps))
    E = np.array(E)
    np.testing.assert_allclose(E[1:] / E[:-1], 1 - lr**2 + lr**4, rtol=1e-12)


def test_extragradient_ttur_weighted_energy_and_the_definition():
    """Two rates: the weighted energy shrinks by (1 - ab)^2 + ab; softplus: the look-ahead step written out by hand."""
    g, d = 0.3, 0.6
    th, ps = _circle()
    th2, ps2 = games.extragradient_step(th, ps, g, d)
    ratio = games.weighted_energy(th2, ps2, g, d) / games.weighted_energy(th, ps, g, d)
    np.testing.assert_allclose(ratio, (1 - g * d) ** 2 + g * d, rtol=1e-12)
    # softplus with a penalty: z' = z - eta v(z_half), v from the game's gradients at the look-ahead point
    th, ps, lr, gamma = 0.7, -1.3, 0.4, 0.5
    fp = games.f_prime(th * ps, "softplus")
    th_h, ps_h = th - lr * ps * fp, ps + lr * (th * fp - gamma * ps)
    fp_h = games.f_prime(th_h * ps_h, "softplus")
    want = (th - lr * ps_h * fp_h, ps + lr * (th_h * fp_h - gamma * ps_h))
    got = games.extragradient_step(th, ps, lr, f="softplus", gamma=gamma)
    np.testing.assert_allclose(np.array(got, dtype=float), np.array(want, dtype=float), rtol=1e-13)
    with pytest.raises(ValueError, match="lr_g"):
        games.extragradient_step(1.0, 1.0, -0.1)
