"""lrlab.privacy: the RDP accountant of the sampled Gaussian mechanism, checked against Opacus's.

Opacus (pinned in requirements) is a *test* dependency: lrlab never imports it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from lrlab import privacy

opacus_rdp = pytest.importorskip("opacus.accountants.analysis.rdp")

ORDERS = list(privacy.DEFAULT_ORDERS)
GRID_Q = (0.001, 0.01, 0.05, 0.2, 1.0)
GRID_SIGMA = (0.7, 1.0, 2.0, 5.0)
GRID_STEPS = (1, 100, 10_000)


def opacus_epsilon(q, sigma, steps, delta):
    rdp = opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=ORDERS)
    with warnings.catch_warnings():  # "optimal order is the largest alpha" on some grid points
        warnings.simplefilter("ignore")
        return float(opacus_rdp.get_privacy_spent(orders=ORDERS, rdp=rdp, delta=delta)[0])


@pytest.fixture(scope="module")
def per_step_rdp():
    """RDP of one step, ours and Opacus's, for every (q, sigma) of the grid (RDP is linear in the steps)."""
    return {(q, s): (privacy.sampled_gaussian_rdp(q, s, 1),
                     np.asarray(opacus_rdp.compute_rdp(q=q, noise_multiplier=s, steps=1, orders=ORDERS)))
            for q in GRID_Q for s in GRID_SIGMA}


def test_rdp_matches_opacus_on_the_grid(per_step_rdp):
    """Integer orders (closed-form sum) and fractional orders (two-sided series) agree with Opacus."""
    for (q, s), (ours, theirs) in per_step_rdp.items():
        # Both sum ln A in floating point; where A = 1 + O(q^2) (q = 0.001) ln A ~ 1e-9 and its last
        # bits differ: measured worst absolute gap 2.4e-14 (q = 0.001, sigma = 5, alpha = 1.1), worst
        # relative gap elsewhere 6.5e-11 (the two codes also cut the fractional series differently).
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-12, err_msg=f"q={q}, sigma={s}")


def test_sampled_rdp_scales_with_steps():
    """Composition: T steps have T times the RDP of one."""
    one = privacy.sampled_gaussian_rdp(0.05, 1.1, 1)
    np.testing.assert_allclose(privacy.sampled_gaussian_rdp(0.05, 1.1, 250), 250 * one, rtol=1e-14)
    assert np.all(privacy.sampled_gaussian_rdp(0.05, 1.1, 0) == 0)


@pytest.mark.parametrize("steps", GRID_STEPS)
def test_epsilon_matches_opacus(per_step_rdp, steps):
    """Same conversion as Opacus's get_privacy_spent (Balle et al. 2020): epsilon agrees to 1e-9."""
    for (q, s), (_, theirs) in per_step_rdp.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = float(opacus_rdp.get_privacy_spent(orders=ORDERS, rdp=steps * theirs, delta=1e-5)[0])
        got = privacy.rdp_to_epsilon(steps * per_step_rdp[(q, s)][0], 1e-5)[0]
        # measured worst relative gap 7.7e-12 on this grid
        assert got == pytest.approx(expected, rel=1e-9), f"q={q}, sigma={s}, steps={steps}"
    assert privacy.epsilon(0.05, 1.0, steps, 1e-5) == pytest.approx(opacus_epsilon(0.05, 1.0, steps, 1e-5), rel=1e-9)


def test_full_sampling_is_the_gaussian_mechanism():
    """q = 1 reduces to the Gaussian mechanism: alpha / (2 sigma^2) per step."""
    orders = np.array([1.5, 2.0, 7.0, 32.0])
    np.testing.assert_allclose(privacy.sampled_gaussian_rdp(1.0, 1.7, 3, orders), 3 * orders / (2 * 1.7**2), rtol=1e-15)
    np.testing.assert_allclose(privacy.gaussian_rdp(1.7, orders), orders / (2 * 1.7**2), rtol=1e-15)
    # and the q -> 1 limit of the sampled formula approaches it
    near = privacy.sampled_gaussian_rdp(1 - 1e-9, 1.7, 1, orders)
    np.testing.assert_allclose(near, orders / (2 * 1.7**2), rtol=1e-6)


def test_integer_and_fractional_series_agree():
    """The fractional-order series, evaluated at an integer order, equals the finite binomial sum."""
    for q, s, a in [(0.01, 0.7, 2), (0.2, 1.5, 5), (0.05, 3.0, 20)]:
        assert privacy.log_a_fractional(q, s, float(a)) == pytest.approx(privacy.log_a_integer(q, s, a), rel=1e-10)
    # and it is continuous in the order between integers
    below, above = privacy.log_a_fractional(0.1, 1.0, [2.999999, 3.000001])
    assert abs(below - privacy.log_a_integer(0.1, 1.0, 3)) < 1e-5 and abs(above - below) < 1e-5


def test_integer_order_by_brute_force():
    """A_2 = E_{z~mu0}[(mu/mu0)^2] checked by numerical integration of the mixture's density ratio."""
    from scipy import integrate, stats

    q, s = 0.3, 1.2
    mu0, mu1 = stats.norm(0, s), stats.norm(1, s)
    ratio2 = lambda z: ((1 - q) * mu0.pdf(z) + q * mu1.pdf(z)) ** 2 / mu0.pdf(z)  # noqa: E731
    a2, _ = integrate.quad(ratio2, -40, 40)
    assert privacy.log_a_integer(q, s, 2) == pytest.approx(math.log(a2), rel=1e-9)


def test_monotone_in_steps_q_and_sigma():
    eps = lambda q, s, t: privacy.epsilon(q, s, t, 1e-5)  # noqa: E731
    steps = [10, 100, 1000, 10_000]
    assert np.all(np.diff([eps(0.01, 1.0, t) for t in steps]) > 0)
    assert np.all(np.diff([eps(q, 1.0, 500) for q in (0.001, 0.01, 0.1, 0.5)]) > 0)
    assert np.all(np.diff([eps(0.05, s, 500) for s in (0.6, 1.0, 2.0, 4.0)]) < 0)


@pytest.mark.parametrize("target,q,steps", [(1.0, 0.01, 1000), (2.0, 0.05, 300), (8.0, 0.1, 30), (0.5, 1.0, 1)])
def test_noise_for_epsilon_hits_the_target(target, q, steps):
    sigma = privacy.noise_for_epsilon(target, 1e-5, q, steps)
    assert privacy.epsilon(q, sigma, steps, 1e-5) <= target
    assert privacy.epsilon(q, sigma * (1 - 1e-6), steps, 1e-5) > target * (1 - 1e-4)
    assert opacus_epsilon(q, sigma, steps, 1e-5) == pytest.approx(target, rel=1e-6)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="q="):
        privacy.sampled_gaussian_rdp(0.0, 1.0, 10)
    with pytest.raises(ValueError, match="q="):
        privacy.sampled_gaussian_rdp(1.5, 1.0, 10)
    with pytest.raises(ValueError, match="noise_multiplier="):
        privacy.sampled_gaussian_rdp(0.1, -1.0, 10)
    with pytest.raises(ValueError, match="steps="):
        privacy.sampled_gaussian_rdp(0.1, 1.0, -1)
    with pytest.raises(ValueError, match="orders="):
        privacy.sampled_gaussian_rdp(0.1, 1.0, 1, orders=[1.0, 2.0])
    with pytest.raises(ValueError, match="delta="):
        privacy.epsilon(0.1, 1.0, 10, delta=0.0)
    with pytest.raises(ValueError, match="rdp must have one value per order"):
        privacy.rdp_to_epsilon([1.0], 1e-5, orders=[2, 3])
    with pytest.raises(ValueError, match="target_eps="):
        privacy.noise_for_epsilon(0.0, 1e-5, 0.1, 10)
    with pytest.raises(ValueError, match="steps="):
        privacy.noise_for_epsilon(1.0, 1e-5, 0.1, 0)


def test_lrlab_does_not_import_opacus():
    """Opacus is a test dependency only: importing and using the accountant never loads it."""
    import subprocess
    import sys

    code = ("import sys, lrlab.privacy, lrlab.dp_sgd, lrlab.chapters.private_learning; lrlab.privacy.epsilon(0.1, 1.0, 10, 1e-5); "
            "print('opacus' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
