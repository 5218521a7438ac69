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
from lrlab.damping import characteristic_roots, critical_rate, damping_regime, polyak_optimal
from lrlab.momentum import run_momentum, stationary_moments
from lrlab.stats import bonferroni_z


# ---------------------------------------------------------------------------
# Section 1: continuous limit
# ---------------------------------------------------------------------------


def test_runs_approach_the_oscillator_with_error_proportional_to_sqrt_lr():
    """'The largest gap to the oscillator falls ... by a factor between [2.007] and [2.016] each time the rate
    is divided by 4, within 1 % of sqrt 4 = 2.'"""
    table, curves = ch.continuous_limit()
    errors = table.max_error.to_numpy()
    assert np.all(np.diff(errors) < 0)
    ratios = errors[:-1] / errors[1:]
    np.testing.assert_allclose(ratios, 2.0, rtol=0.01)
    assert np.allclose(table.beta, 1 - ch.GAMMA * np.sqrt(table.lr))


# ---------------------------------------------------------------------------
# Section 2: energy
# ---------------------------------------------------------------------------


def test_energy_without_friction_stays_inside_the_bound_of_the_conserved_energy():
    """'Without friction the energy never strays more than [5.26] % from its start, against the bound
    1/(1 - sqrt(eta h)/2) - 1 = [5.26] %: ... it does not decay.' The bound is nearly attained."""
    table, runs = ch.energy_runs()
    free = table[table.beta == 1.0].iloc[0]
    bound = ch.frictionless_energy_bound(ch.LR, ch.H)
    assert bound == pytest.approx(0.05 / 0.95, rel=1e-12)
    assert free.max_rel_change <= bound * (1 + 1e-9)
    assert free.max_rel_change > 0.99 * bound
    e = runs[1.0][2]
    assert e.min() >= e[0] / (1 + 0.5 * np.sqrt(ch.LR * ch.H)) * (1 - 1e-9)
    assert abs(free.fitted_factor - 1) < 1e-4


def test_friction_drains_energy_by_beta_per_step_and_never_adds_any_at_this_rate():
    """'With friction, at this rate (eta h = 0.01 <= 2(1-beta)), the energy rose at 0 of the steps, and the fitted
    decay factor per step differs from beta by at most [8.8e-6].'"""
    table, _ = ch.energy_runs()
    damped = table[table.beta < 1.0]
    assert len(damped) >= 2
    assert (ch.LR * ch.H <= 2 * (1 - damped.beta)).all()
    assert (damped.increases == 0).all()
    np.testing.assert_allclose(damped.fitted_factor, damped.beta, atol=1e-5)


@pytest.fixture(scope="module")
def lyap():
    return ch.lyapunov_table().set_index("run")


def test_lyapunov_function_never_rises_under_the_condition(lyap):
    """'In the [10] runs with eta h <= 2(1-beta), V rose at 0 steps, as proved; E rose in [1] of them (at eta h = 0.1,
    beta = 0.95, on [61] steps), so the condition protects V, not E.'"""
    inside = lyap[lyap.condition]
    assert len(inside) == 10
    assert (inside.V_rises == 0).all()
    assert list(inside.index[inside.E_rises > 0]) == ["eta h = 0.1, beta = 0.95"]
    assert inside.loc["eta h = 0.1, beta = 0.95", "E_rises"] > 0
    # the cases cover the chapter's constant-rate runs on the bowl
    runs = set(lyap.index)
    assert {"energy, beta = 0.98", "energy, beta = 0.95", "conventions, first rate", "Polyak's pair"} <= runs
    assert sum(r.startswith("critical, eta h") for r in runs) == len(ch.RATE_CHECK_PRODUCTS)


def test_energy_and_lyapunov_function_rise_outside_the_condition(lyap):
    """'Outside the condition both can rise: at eta h = 0.1, beta = 0.98, E rose on [253] and V on [253] of [600]
    steps, and with Polyak's pair (eta L = [3.31] > 2(1-beta*) = [0.66]) V rose on [5]'; 'a run can converge and
    still let V rise, as the run at beta = 0.98 and Polyak's pair above do.'"""
    outside = lyap[~lyap.condition]
    assert set(outside.index) == {"eta h = 0.1, beta = 0.98", "Polyak's pair"}
    row = outside.loc["eta h = 0.1, beta = 0.98"]
    assert row.E_rises > 0 and row.V_rises > 0
    assert outside.loc["Polyak's pair", "V_rises"] > 0
    assert (outside.rate < 1).all(), "both runs converge"


def test_bowl_energy_falls_by_exactly_beta_and_is_positive_iff_underdamped(lyap):
    """'In every run E-cal fell by exactly beta per step, to [6e-16] of E (rounding)'; it 'is a positive quadratic
    form exactly when (1-beta-eta h)^2 < 4 beta eta h, which is the under-damped condition of section 5'."""
    assert (lyap.bowl_factor_err < 1e-12).all()
    for x in np.linspace(0.001, 3.9, 60):
        for beta in np.linspace(0.0, 0.99, 34):
            positive = (1 - beta - x) ** 2 < 4 * beta * x
            assert positive == (damping_regime(x, beta, 1.0, rtol=0) == "underdamped"), (x, beta)


# ---------------------------------------------------------------------------
# Section 3: temperature
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def temps():
    return ch.temperature_table(device="cpu")


@pytest.mark.slow
def test_measured_temperatures_match_the_exact_formulas(temps):
    """'Measured and exact temperatures agree to within [2.5] standard errors in every row, below the threshold
    [3.84] for these [8] z-scores' (family-wise false alarm 0.1 %, Bonferroni)."""
    checks = ch.temperature_checks(temps)
    assert ch.FALSE_ALARM == 1e-3
    assert checks["z_crit"] == pytest.approx(bonferroni_z(2 * len(temps), 1e-3))
    z_pot = (temps.T_pot_mc - temps.T_pot_exact) / temps.T_pot_se
    z_kin = (temps.T_kin_mc - temps.T_kin_exact) / temps.T_kin_se
    assert max(np.abs(z_pot).max(), np.abs(z_kin).max()) == pytest.approx(checks["max_z"])
    assert checks["max_z"] < checks["z_crit"]


@pytest.mark.slow
def test_momentum_heats_by_one_over_one_minus_beta(temps):
    """'The measured potential temperature is [50.0] ± [1.1] (95 % CI) times the one without momentum at the same
    rate, against 1/(1-beta) = 50 predicted (z = [-0.05], threshold [3.29]).'"""
    hot, cold = temps.iloc[-1], temps.iloc[0]
    assert hot.beta == 0.98 and cold.beta == 0.0
    checks = ch.temperature_checks(temps)
    assert checks["gain"] == pytest.approx(hot.T_pot_mc / cold.T_pot_mc)
    assert abs(checks["gain_z"]) < checks["gain_z_crit"] == pytest.approx(bonferroni_z(1, 1e-3))
    assert checks["gain_hw"] < 0.05 * checks["gain"], "the CI is informative"


def test_exact_temperature_gap_to_the_formula():
    """'At beta = 0.98 the exact potential temperature is within eta h/(2(1+beta) - eta h) = [0.25] % of the
    formula eta s/(2(1-beta))'."""
    beta, x = 0.98, ch.LR * ch.H
    theta2, _ = stationary_moments(ch.LR, beta, ch.H, ch.NOISE_VAR)
    from lrlab.momentum import equilibrium_temperature

    gap = ch.H * theta2 / equilibrium_temperature(ch.LR, beta, ch.NOISE_VAR) - 1
    assert gap == pytest.approx(x / (2 * (1 + beta) - x), rel=1e-9)
    assert gap < 0.003


@pytest.mark.slow
def test_potential_to_kinetic_ratio_is_one_plus_beta_over_two(temps):
    """'The exact ratio T_pot/T_kin is (1+beta)/2; the measured one is within [1.3] % of it in every row, less than
    the noise allows at the same level (at least [2.5] % in every row).'"""
    np.testing.assert_allclose(temps.T_pot_exact / temps.T_kin_exact, (1 + temps.beta) / 2, rtol=1e-12)
    checks = ch.temperature_checks(temps)
    assert checks["ratio_within"]
    assert checks["ratio_dev"] < checks["ratio_allow"]


def test_raising_beta_to_099_heats_like_a_tenfold_rate():
    """'When eta h << 1, raising beta from 0.9 to 0.99 heats the run as much as a tenfold rate increase.'"""
    s = 1.0
    for lr in (1e-4, 1e-3):
        heavy, fast = stationary_moments(lr, 0.99, ch.H, s)[0], stationary_moments(10 * lr, 0.9, ch.H, s)[0]
        assert heavy == pytest.approx(fast, rel=3 * lr * ch.H)  # the gap is O(eta h)
    # not when eta h is not small
    heavy, fast = stationary_moments(0.1, 0.99, ch.H, s)[0], stationary_moments(1.0, 0.9, ch.H, s)[0]
    assert abs(heavy / fast - 1) > 0.1


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
    assert speedup == pytest.approx(np.sqrt(ch.POLYAK_L / ch.POLYAK_MU), rel=0.01)


# ---------------------------------------------------------------------------
# Sections 6-7: kicks and restarts
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kicks():
    return ch.kick_table()


def test_kick_threshold_formula_within_1_percent_without_friction(kicks):
    """'Without friction the simulated thresholds are within [0.9] % of 2 dL/g^2, closer for bigger kicks'
    (the summary: 'the discrete runs within 1 %')."""
    free = kicks[kicks.beta == 1.0].sort_values("kick")
    assert len(free) == len(ch.KICKS)
    np.testing.assert_allclose(free.frictionless, 2 * ch.double_well().barrier_height / free.kick**2, rtol=1e-12)
    assert (np.abs(free.vs_frictionless - 1) < 0.01).all()
    assert np.all(np.diff(np.abs(free.vs_frictionless.to_numpy() - 1)) < 0)
    np.testing.assert_allclose(free.with_friction, free.frictionless, rtol=1e-12)


def test_frictionless_formula_fails_with_friction(kicks):
    """'With friction that formula is wrong by a factor between [1.09] and [5.3], the most for the biggest kick at
    beta = 0.9' (the summary: 'several times too low')."""
    damped = kicks[kicks.beta < 1.0]
    assert (damped.vs_frictionless > 1.05).all()
    worst = damped.loc[damped.vs_frictionless.idxmax()]
    assert worst.kick == max(ch.KICKS) and worst.beta == min(ch.KICK_BETAS)
    assert worst.vs_frictionless > 3
    for beta in ch.KICK_BETAS[1:]:  # friction matters more for bigger kicks (smaller rates)
        assert np.all(np.diff(damped[damped.beta == beta].sort_values("kick").vs_frictionless.to_numpy()) > 0)


def test_friction_corrected_threshold_within_5_percent_down_to_beta_09(kicks):
    """'The friction-corrected threshold is within [4.1] % of the simulated one in every row, beta = 0.9 included,
    and the discrete run always crosses slightly below it' (the summary: 'within 5 % of the discrete runs down to
    beta = 0.9'); the momentum of the restarts is among the rows."""
    assert ch.RESTART_BETA in ch.KICK_BETAS and min(ch.KICK_BETAS) <= 0.9
    assert (np.abs(kicks.vs_friction - 1) < 0.05).all()
    assert (kicks.vs_friction < 1).all()


def test_first_order_friction_holds_only_for_small_friction(kicks):
    """'The first-order form is within [3.6] % at beta = 0.99, where gamma <= [0.2], but off by up to a factor [1.45]
    at beta = 0.9, where gamma reaches [1.1] and friction is no longer a small correction.'"""
    light = kicks[kicks.beta == 0.99]
    assert (np.abs(light.vs_first_order - 1) < 0.04).all()
    assert light.gamma.max() < 0.25
    worst = kicks.loc[kicks.vs_first_order.idxmax()]
    assert worst.beta == 0.9 and worst.vs_first_order > 1.3 and worst.gamma > 1


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
def test_restarts_consistent_with_one_escape_probability(escape):
    """'A chi^2 test of one p for all [10] cycles finds no disagreement (chi^2 = ..., p-value ...)'; 'the fraction in
    the deep well never fell from one cycle end to the next (largest drop: 0 runs)'. No disagreement: the p-value
    is above the chapter's false-alarm level."""
    homog = ch.escape_homogeneity(escape[list(escape)[1]])
    assert homog["dof"] == ch.N_CYCLES - 1
    assert homog["p_value"] > ch.FALSE_ALARM
    assert homog["returned"] == 0
    assert 0 < homog["p_pooled_hw"] < 0.1 * homog["p_pooled"]


@pytest.mark.slow
def test_one_long_cosine_ends_higher(escape):
    """'The one long cosine ends at [0.343 ± 0.007], higher by [0.026 (95% CI 0.018 to 0.035, paired t ...)] over the
    same runs.' The paired 95 % CI excludes zero."""
    gain = ch.cosine_vs_restarts(escape)
    assert gain.n == ch.RESTART_SEEDS
    assert gain.low > 0
    sgdr, cosine = escape[list(escape)[1]], escape["one cosine, no restart"]
    assert gain.mean == pytest.approx(cosine.final - sgdr.final)


def test_restart_temperatures():
    """'At the peak rate the barrier is [3.6] times the temperature; at the floor it is [180] times.'"""
    well = ch.double_well()
    t_peak = ch.RESTART_PEAK * ch.RESTART_NOISE**2 / (2 * (1 - ch.RESTART_BETA))
    assert 2 < well.barrier_height / t_peak < 6
    assert well.barrier_height / (t_peak * ch.RESTART_MIN / ch.RESTART_PEAK) > 100


# ---------------------------------------------------------------------------
# Exercises (their folded solutions)
# ---------------------------------------------------------------------------


def test_exercise_keep_friction():
    """ex-mechanical-universe-keep-friction: 'Halving eta at the same beta multiplies it by sqrt 2, to [1.414] ...
    beta' = [0.9293]'; 'The largest gap to the original oscillator is [0.0414] for the original run, [0.0292] for
    beta' (smaller by a factor [1.420], close to sqrt 2) and [0.160] for the run that kept beta = 0.9.'"""
    table = ch.exercise_keep_friction().set_index("run")
    orig, naive, kept = (table.loc[r] for r in ("original", "half rate, same beta", "half rate, same gamma"))
    assert orig.gamma == pytest.approx(1.0)
    assert naive.gamma == pytest.approx(np.sqrt(2) * orig.gamma, rel=1e-12)
    assert kept.gamma == pytest.approx(orig.gamma, rel=1e-12)
    assert kept.beta == pytest.approx(1 - (1 - ch.KF_BETA) / np.sqrt(2), rel=1e-12)
    assert kept.max_gap < orig.max_gap < naive.max_gap
    assert orig.max_gap / kept.max_gap == pytest.approx(np.sqrt(2), rel=0.02)
    assert naive.max_gap > 3 * orig.max_gap
    # the oscillator: a heavy ball at a tiny rate (tau step 1e-3) follows it
    th, _ = run_momentum(ch.quadratic_grad(), 1.0, 1e-6, 2000, 1 - ch.GAMMA * 1e-3)
    np.testing.assert_allclose(th, ch.damped_oscillator(np.arange(2001) * 1e-3, ch.GAMMA), atol=2e-3)


def test_exercise_lyapunov_condition_is_sharp_on_the_bowl():
    """ex-mechanical-universe-lyapunov-sharp: 'For every beta the first rise comes at most a relative [3.2e-06] above
    2(1-beta), the width of the bisection's bracket, and the one-step formula matches the runs to [6e-16] of V.'"""
    table = ch.exercise_lyapunov_sharp()
    assert list(table.beta) == list(ch.LS_BETAS)
    assert (table.excess >= 0).all() and (table.excess < 10 * ch.LS_RTOL).all()
    assert (table.identity_error < 1e-12).all()
    for beta in ch.LS_BETAS:
        bound = 2 * (1 - beta) / ch.H
        assert not ch.lyapunov_rises(bound, beta), "section 2's proof: no rise at the bound"
        assert all(ch.lyapunov_rises(f * bound, beta) for f in (1.001, 1.01, 1.05)), "rises just above it"
        assert not any(ch.lyapunov_rises(f * bound, beta) for f in np.linspace(0.05, 0.999, 12))


@pytest.mark.slow
def test_exercise_hot_rate():
    """ex-mechanical-universe-hot-rate: 'The formula gives T = [1.0] for both ... the potential temperature is [1.5]
    and the kinetic one [2.0]'; 'the measured temperatures ... within [0.4] standard errors of the exact values (the
    Bonferroni threshold ... is [3.48]) and at least [331] standard errors from the formula.'"""
    hot = ch.exercise_hot_rate(device="cpu").set_index("temperature")
    assert ch.HOT_LR * ch.H < 2 * (1 + ch.HOT_BETA)
    assert hot.formula.tolist() == pytest.approx([1.0, 1.0])
    assert hot.loc["potential", "exact"] == pytest.approx(1.5, rel=1e-12)
    assert hot.loc["kinetic", "exact"] == pytest.approx(2.0, rel=1e-12)
    assert hot.z_crit.iloc[0] == pytest.approx(bonferroni_z(2, ch.FALSE_ALARM))
    assert (hot.z_exact.abs() < hot.z_crit).all()
    assert (hot.z_formula.abs() > 10 * hot.z_crit).all()


def test_exercise_swing_period():
    """ex-mechanical-universe-swing-period: 'phi = [0.0980] rad per step, a period of [64.1] steps ... about
    T phi / pi = [9.36] times'; 'The run crosses zero [9] times, as counted in section 5'; omega sqrt(eta) is [1.2] %
    below phi."""
    swing = ch.exercise_swing_period()
    roots = characteristic_roots(swing.lr, swing.beta, ch.H)
    assert np.abs(roots) == pytest.approx(np.sqrt(swing.beta), rel=1e-12)
    assert abs(np.angle(roots[0])) == pytest.approx(swing.phi, rel=1e-12)
    assert swing.period == pytest.approx(2 * np.pi / swing.phi)
    assert abs(swing.measured_crossings - swing.predicted_crossings) < 1
    table, _ = ch.damping_runs()
    assert swing.measured_crossings == table.set_index("regime").loc["underdamped", "sign_changes"]
    assert 0 < 1 - swing.phi_continuous / swing.phi < 0.02


def test_exercise_nesterov_critical_momentum():
    """ex-mechanical-universe-nesterov: 'beta_N = (1 - sqrt(eta h))^2 / (1 - eta h) ... r = 1 - sqrt(eta h)';
    '[0.8182] against [0.81] at eta h = 0.01'; 'The measured rates are within [0.71] % of 1 - sqrt(eta h), slightly
    slow ..., and the runs cross zero [0] times. Heavy ball with the same momentum beta_N would be under-damped'."""
    # the run is Nesterov's method: theta_{t+1} = (1 - eta h)((1 + beta) theta_t - beta theta_{t-1}) on the bowl
    th = ch.run_nesterov(ch.quadratic_grad(), 1.0, 0.1, 20, 0.7)
    q = 0.9
    np.testing.assert_allclose(th[2:], q * (1.7 * th[1:-1] - 0.7 * th[:-2]), rtol=1e-12)
    assert th[1] == pytest.approx(q)
    table = ch.exercise_nesterov()
    assert len(table) == 3
    np.testing.assert_allclose(table.beta_nesterov, table.beta_heavy_ball / (1 - table.eta_h), rtol=1e-12)
    assert (table.discriminant.abs() < 1e-12).all()
    np.testing.assert_allclose(table.predicted, 1 - np.sqrt(table.eta_h), rtol=1e-12)
    assert (table.rel_error > 0).all() and (table.rel_error < 0.01).all()
    assert (table.sign_changes == 0).all()
    assert (table.heavy_ball_regime == "underdamped").all()
    assert table.beta_nesterov.iloc[1] == pytest.approx(0.81 / 0.99)


def test_exercise_misjudged_mu():
    """ex-mechanical-universe-misjudged-mu: 'sqrt 10 ~ 3.16 times more steps' (too small), '2 sqrt 10 ~ 6.3 times'
    (too large); 'The worst rates give [3.17] ... and [6.17] ..., and the fitted rates of the runs are within [0.2] %
    of the worst root modulus. Overestimating mu costs about twice as much as underestimating it'."""
    table = ch.exercise_misjudged_mu().set_index("factor")
    right, small, large = table.loc[1.0], table.loc[0.1], table.loc[10.0]
    assert right.slowdown == pytest.approx(1.0)
    assert right.regime_at_mu == "critical"
    assert small.regime_at_mu == "underdamped" and large.regime_at_mu == "overdamped"
    assert small.slowdown == pytest.approx(np.sqrt(10), rel=0.05)
    assert large.slowdown == pytest.approx(2 * np.sqrt(10), rel=0.05)
    assert 1.7 < large.slowdown / small.slowdown < 2.3
    np.testing.assert_allclose(table.measured, table.worst_rate, rtol=0.005)
