"""Every quantitative claim of chapter 3 (book/mechanical_universe.md), checked with the chapter's parameters.

The chapter and these tests read their parameters and routines from
:mod:`lrlab.chapters.mechanical_universe`, so they cannot drift apart. Each test quotes the sentence of
the chapter it checks. The two Monte Carlo experiments take a few seconds each
and are marked ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

import lrlab.chapters.mechanical_universe as ch
from lrlab.damping import critical_rate, damping_regime, polyak_optimal
from lrlab.momentum import stationary_moments


# ---------------------------------------------------------------------------
# Section 1: continuous limit
# ---------------------------------------------------------------------------


def test_runs_approach_the_oscillator_with_error_proportional_to_sqrt_lr():
    """'The largest gap to the oscillator falls ... by a factor of about 2 each time the rate is divided by 4.'"""
    table, curves = ch.continuous_limit()
    errors = table.max_error.to_numpy()
    assert np.all(np.diff(errors) < 0)
    ratios = errors[:-1] / errors[1:]
    np.testing.assert_allclose(ratios, 2.0, rtol=0.1)
    assert np.allclose(table.beta, 1 - ch.GAMMA * np.sqrt(table.lr))


# ---------------------------------------------------------------------------
# Section 2: energy
# ---------------------------------------------------------------------------


def test_energy_without_friction_stays_within_a_few_percent():
    """'Without friction the energy never strays more than [5.3] % from its start ... it does not decay.'"""
    table, _ = ch.energy_runs()
    free = table[table.beta == 1.0].iloc[0]
    assert free.max_rel_change < 0.06
    assert abs(free.fitted_factor - 1) < 1e-4
    assert free.energy_end > 0.9 * free.energy_start


def test_friction_drains_energy_by_beta_per_step_and_never_adds_any():
    """'With friction the energy rose at 0 of the steps, and the fitted decay factor per step differs from beta by ...'"""
    table, _ = ch.energy_runs()
    damped = table[table.beta < 1.0]
    assert len(damped) >= 2
    assert (damped.increases == 0).all()
    np.testing.assert_allclose(damped.fitted_factor, damped.beta, atol=1e-4)


# ---------------------------------------------------------------------------
# Section 3: temperature
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def temps():
    return ch.temperature_table(device="cpu")


@pytest.mark.slow
def test_measured_temperatures_match_the_exact_formulas(temps):
    """'Measured and exact temperatures agree to within [z] standard errors in every row.'"""
    z_pot = (temps.T_pot_mc - temps.T_pot_exact) / temps.T_pot_se
    z_kin = (temps.T_kin_mc - temps.T_kin_exact) / temps.T_kin_se
    assert np.abs(z_pot).max() < 4 and np.abs(z_kin).max() < 4


@pytest.mark.slow
def test_momentum_heats_by_one_over_one_minus_beta(temps):
    """'The measured potential temperature is [50] times the one without momentum ... (1/(1-beta) = 50 predicted).'"""
    hot, cold = temps.iloc[-1], temps.iloc[0]
    assert hot.beta == 0.98 and cold.beta == 0.0
    assert hot.T_pot_mc / cold.T_pot_mc == pytest.approx(1 / (1 - hot.beta), rel=0.03)
    assert hot.T_pot_exact == pytest.approx(hot.T_formula, rel=0.01)


@pytest.mark.slow
def test_potential_to_kinetic_ratio_is_one_plus_beta_over_two(temps):
    """'The measured ratio T_pot/T_kin is within [x] % of (1+beta)/2 in every row.'"""
    ratio = temps.T_pot_mc / temps.T_kin_mc
    np.testing.assert_allclose(ratio, (1 + temps.beta) / 2, rtol=0.02)


def test_raising_beta_to_099_heats_like_a_tenfold_rate():
    """'Raising beta from 0.9 to 0.99 heats the run as much as a tenfold rate increase.'"""
    lr, s = 1e-4, 1.0
    heavy, fast = stationary_moments(lr, 0.99, ch.H, s)[0], stationary_moments(10 * lr, 0.9, ch.H, s)[0]
    assert heavy == pytest.approx(fast, rel=0.05)


# ---------------------------------------------------------------------------
# Section 4: conventions
# ---------------------------------------------------------------------------


def test_conventions_coincide_until_the_first_switch_then_pytorch_rescales():
    """'Before the first switch the two paths differ by at most ...;
    at each switch PyTorch's carry equals eta_t/eta_{t-1}.'"""
    runs = ch.convention_runs()
    k = ch.CONV_SWITCHES[0]
    assert np.abs(runs["pytorch"][0][: k + 1] - runs["heavy_ball"][0][: k + 1]).max() < 1e-12
    assert np.abs(runs["pytorch"][0][k + 2 :] - runs["heavy_ball"][0][k + 2 :]).max() > 1e-3
    table = ch.switch_table(runs)
    np.testing.assert_allclose(table.carry_heavy_ball, 1.0, rtol=1e-9)
    np.testing.assert_allclose(table.carry_pytorch, table.predicted_pytorch, rtol=1e-9)
    assert set(table.predicted_pytorch.round(6)) == {0.1, 10.0}


@pytest.mark.slow  # the first torch.optim step of a process costs several seconds
def test_torch_optimizers_follow_their_convention():
    """'torch.optim.SGD(momentum=beta) and ... HeavyBall match the numpy runs of the same convention.'"""
    numpy_runs = ch.convention_runs()
    torch_runs = ch.torch_convention_runs()
    for conv in ("pytorch", "heavy_ball"):
        np.testing.assert_allclose(torch_runs[conv], numpy_runs[conv][0], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------
# Section 5: critical damping
# ---------------------------------------------------------------------------


def test_three_regimes_side_by_side():
    """'The classifier agrees with the names, the measured rates match the largest root modulus, the critical run
    is the fastest of the three and never crosses zero, while the under-damped run crosses it ... times.'"""
    table, _ = ch.damping_runs()
    assert (table.regime == table.classified).all()
    np.testing.assert_allclose(table.measured_rate, table.predicted_rate, rtol=0.01)
    rows = table.set_index("regime")
    assert rows.measured_rate.idxmin() == "critical"
    assert rows.loc["critical", "sign_changes"] == 0
    assert rows.loc["underdamped", "sign_changes"] >= 5
    assert critical_rate(ch.LR, ch.H) < 1 - ch.LR * ch.H


def test_critical_runs_contract_at_one_minus_sqrt_eta_h():
    """'Critically damped runs contract at 1 - sqrt(eta h)' within 1 %, the excess being the polynomial factor."""
    table = ch.critical_rate_table()
    assert len(table) == 3 and table.eta_h.max() / table.eta_h.min() >= 100
    np.testing.assert_allclose(table.predicted, 1 - np.sqrt(table.eta_h), rtol=1e-12)
    assert (table.rel_error.abs() < 0.01).all()
    assert (table.rel_error > 0).all(), "a double root looks slower than r over a finite window"


def test_coschedule_stays_critical_and_gets_furthest():
    """'The co-schedule ends at ..., against ... and ..., which overshoots the minimum ... times.'"""
    table, runs = ch.coschedule_runs()
    first, last, co = table.itertuples()
    assert co.critical_steps == ch.COSCHEDULE_STEPS
    assert co.final_distance < first.final_distance < last.final_distance
    assert co.final_distance < 1e-6 * first.final_distance
    assert last.sign_changes >= 10 and co.sign_changes < last.sign_changes
    # the caption: fixed momenta drift out of the critical regime
    rates, betas, _ = runs[first.momentum]
    assert damping_regime(rates[-1], betas[-1], ch.H) == "overdamped"
    rates, betas, _ = runs[last.momentum]
    assert damping_regime(rates[0], betas[0], ch.H) == "underdamped"


def test_polyak_pair_rate_and_grid_search():
    """'The best grid point ... sits next to Polyak's (eta*, beta*), whose worst rate no grid point beats';
    heavy ball is about sqrt(kappa) times faster than the best gradient descent."""
    table = ch.polyak_table()
    np.testing.assert_allclose(table.measured, table.predicted, rtol=0.005)
    lr_star, beta_star, rate_star = polyak_optimal(ch.POLYAK_MU, ch.POLYAK_L)
    lrs, betas, worst = ch.worst_rate_grid()
    assert worst.min() >= rate_star - 1e-12
    i, j = np.unravel_index(np.argmin(worst), worst.shape)
    assert abs(np.log(lrs[i] / lr_star)) < np.log(1.1)
    assert abs(betas[j] - beta_star) < 0.02
    assert worst[i, j] < rate_star + 0.01
    speedup = np.log(table.measured.iloc[0]) / np.log(table.measured.iloc[1])
    assert speedup == pytest.approx(np.sqrt(ch.POLYAK_L / ch.POLYAK_MU), rel=0.1)


# ---------------------------------------------------------------------------
# Sections 6-7: kicks and restarts
# ---------------------------------------------------------------------------


def test_kick_threshold_formula_within_5_percent_without_friction():
    """'Without friction the simulated thresholds are within ... % of 2 dL/g^2, closer for bigger kicks.'"""
    table = ch.kick_table()
    free = table[table.beta == 1.0].sort_values("kick")
    assert len(free) == len(ch.KICKS)
    assert (np.abs(free.ratio - 1) < 0.05).all()
    assert np.all(np.diff(np.abs(free.ratio.to_numpy() - 1)) < 0)


def test_friction_raises_the_threshold_more_for_bigger_kicks():
    """'Friction raises the threshold ...: a big kick at a tiny rate loses most of its energy on the way up.'"""
    table = ch.kick_table()
    for beta in ch.KICK_BETAS[1:]:
        rows = table[table.beta == beta].sort_values("kick")
        assert (rows.ratio > 1.05).all()
        assert np.all(np.diff(rows.ratio.to_numpy()) > 0)
    assert table.ratio.max() > 2


@pytest.fixture(scope="module")
def escape():
    return ch.restart_runs(device="cpu")


@pytest.mark.slow
def test_low_rate_never_escapes_and_restarts_do(escape):
    """'The constant low rate moves a fraction 0 of the runs'; restarts move a growing fraction."""
    names = list(escape)
    assert escape["constant low rate"].final == 0.0
    cycles = ch.cycle_end_table(escape[names[1]])
    assert cycles.deep_fraction.iloc[0] > 5 * cycles.stderr.iloc[0]
    assert np.all(np.diff(cycles.deep_fraction) > 0)


@pytest.mark.slow
def test_restarts_follow_the_geometric_model(escape):
    """'Everywhere within [z] standard errors of 1 - (1-p)^n.'"""
    cycles = ch.cycle_end_table(escape[list(escape)[1]])
    z = (cycles.deep_fraction - cycles.geometric) / cycles.stderr
    assert np.abs(z).max() < 4


@pytest.mark.slow
def test_one_long_cosine_ends_no_lower(escape):
    """'The one long cosine ends at ..., no lower.'"""
    sgdr = escape[list(escape)[1]]
    cosine = escape["one cosine, no restart"]
    assert cosine.final > sgdr.final - 2 * sgdr.final_stderr
    assert cosine.final > 0.1


def test_restart_temperatures():
    """'At the peak rate the barrier is [3.6] times the temperature; at the floor it is [180] times.'"""
    well = ch.double_well()
    t_peak = ch.RESTART_PEAK * ch.RESTART_NOISE**2 / (2 * (1 - ch.RESTART_BETA))
    assert 2 < well.barrier_height / t_peak < 6
    assert well.barrier_height / (t_peak * ch.RESTART_MIN / ch.RESTART_PEAK) > 100
