"""Every quantitative claim of chapter 1 (book/optimizers_dilemma.md), checked with the chapter's parameters.

The chapter and these tests read their parameters and routines from
:mod:`lrlab.chapters.optimizers_dilemma`, so they cannot drift apart. Each test names the
sentence of the chapter it checks. The Monte Carlo tests take a few seconds each
and are marked ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lrlab.chapters.optimizers_dilemma as ex
from lrlab import schedules as S
from lrlab.nqm import NoisyQuadratic
from lrlab.torch_adapter import torch_lr_trace
from lrlab.training import full_batch_loss, tiny_mlp, tiny_regression, train_with_schedule


@pytest.fixture(scope="module")
def nqm() -> NoisyQuadratic:
    return ex.chapter1_nqm()


@pytest.fixture(scope="module")
def comparison(nqm):
    """(table, floor of the tuned constant rate, curves) of section 6."""
    return ex.schedule_comparison(nqm)


@pytest.fixture(scope="module")
def decays(comparison):
    table, _, _ = comparison
    return table[table.schedule != ex.CONSTANT].reset_index(drop=True)


# ---------------------------------------------------------------------------
# Section 1: the stability limit
# ---------------------------------------------------------------------------


def test_stability_limit_converges_below_and_diverges_above(nqm):
    """'Below 2/h_max the loss falls at every step; just above it ... grows without bound.'"""
    table, curves = ex.stability_table(nqm.h, theta0=nqm.theta0)
    assert table["fraction"].tolist() == list(ex.STABILITY_FRACTIONS)
    for row, curve in zip(table.itertuples(), curves.values()):
        steps = np.diff(curve)
        if row.fraction < 1:
            assert row.converges and row.max_contraction < 1
            assert np.all(steps < 0), f"loss must fall at every step at {row.fraction} x the limit"
            assert row.loss_end < 1e-3 * row.loss_start
        else:
            assert not row.converges and row.max_contraction > 1
            # once the unstable coordinate dominates, the loss grows at every step
            assert np.all(steps[10:] > 0)
            assert row.loss_end > 1e3 * row.loss_start


def test_contraction_factor_is_max_of_one_minus_eta_h(nqm):
    """'The max_contraction column of the table is max_i |1 - eta h_i|.'"""
    table, _ = ex.stability_table(nqm.h)
    for row in table.itertuples():
        assert row.max_contraction == pytest.approx(np.max(np.abs(1 - row.lr * nqm.h)), rel=1e-12)
        assert row.lr == pytest.approx(row.fraction * 2 / nqm.h_max, rel=1e-12)


# ---------------------------------------------------------------------------
# Section 3: exact recursion against Monte Carlo
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mc_check(nqm):
    """(runs, table) of section 3: Monte Carlo against the exact and two deliberately wrong recursions."""
    return ex.monte_carlo_check(nqm)


@pytest.mark.slow
def test_recursion_passes_the_bonferroni_check(nqm, mc_check):
    """'we call the recursion refuted if the largest |z| reaches c = Phi^-1(1 - alpha/(2m)) = ... with alpha = 0.001
    ... The largest |z| measured is ...: the recursion passes.'"""
    runs, table = mc_check
    exact = table.set_index("recursion").loc["exact"]
    assert table.attrs["m"] == len(ex.MC_CHECKPOINTS) * len(runs) == 20
    assert exact.threshold == pytest.approx(ex.bonferroni_z(20, 1e-3))
    assert exact.max_abs_z < exact.threshold and exact.passes
    for name, (truth, mc) in runs.items():
        assert np.abs(ex.checkpoint_z(mc, truth)).max() <= exact.max_abs_z + 1e-12
    # 'The constant rate levels off; the decay keeps going down.'
    assert runs["linear decay"][0][-1] < 0.5 * runs["constant"][0][-1]
    assert runs["constant"][0][-1] == pytest.approx(nqm.noise_floor(ex.MC_PEAK_LR), rel=1e-6)


@pytest.mark.slow
def test_check_rejects_a_recursion_with_the_noise_variance_off_by_five_percent(mc_check):
    """'the same check rejects both (largest |z| of ... and more) ... misses such an error with probability at most ...'
    and 'an error of ... in the expected loss at one checkpoint is caught with probability at least 0.99, while for
    an error of 2% this bound only guarantees ...'."""
    _, table = mc_check
    wrong = table.set_index("recursion").drop(index="exact")
    assert len(wrong) == len(ex.MC_WRONG_NOISE) == 2
    assert wrong.max_rel_error.tolist() == pytest.approx([0.05, 0.05], abs=1e-3)
    assert (~wrong.passes).all() and (wrong.max_abs_z > wrong.threshold).all(), wrong
    # the stated miss probability is small (the text glues its value)
    assert (1 - wrong.power).max() < 1e-3, wrong
    from scipy.stats import norm

    c = float(table.threshold.iloc[0])
    assert table.attrs["detectable_99"] == pytest.approx((c + norm.ppf(0.99)) * table.attrs["min_rel_se"])
    # an error of that size at the best checkpoint is caught with probability 0.99
    assert ex.detection_power([table.attrs["detectable_99"] / table.attrs["min_rel_se"]], c) == pytest.approx(
        0.99, abs=1e-6)
    # '... while for an error of 2% this bound only guarantees ...: errors that small would need more seeds'
    assert ex.detection_power([0.02 / table.attrs["min_rel_se"]], c) < 0.99
    assert 0.02 < table.attrs["detectable_99"] < 0.05


@pytest.mark.slow
def test_bonferroni_check_false_alarm_rate_is_at_most_alpha():
    """'a correct recursion fails this check with probability at most alpha, however correlated the z-scores are':
    the whole check (simulate with the chapter's number of seeds, z at checkpoints, Bonferroni threshold) repeated
    on 400 independent seed sets of a small model, at alpha = 0.05 where a false-alarm rate can be measured, fires
    on at most alpha of them, within binomial error. (With 300 seeds instead of 4000 the rate measured over 3000
    repetitions was 6%: the normal approximation of the z-scores needs the chapter's sample size.)"""
    small = ex.chapter1_nqm(dim=3)
    schedule = S.polynomial_schedule(0.5, 40, power=1.0)
    truth = small.expected_loss(schedule, 40)
    steps, alpha, reps = (10, 20, 40), 0.05, 400
    c = ex.bonferroni_z(len(steps), alpha)
    fired = sum(
        np.abs(ex.checkpoint_z(small.simulate(schedule, 40, n_seeds=ex.MC_SEEDS, seed=1000 + r, device="cpu"), truth,
                               steps)).max() >= c
        for r in range(reps)
    )
    # one-sided binomial bound at 99%: the rate may not exceed alpha by more than 2.33 standard errors
    assert fired / reps <= alpha + 2.33 * np.sqrt(alpha * (1 - alpha) / reps), fired
    # and the threshold is the Bonferroni one: m * P(|Z| > c) = alpha
    from scipy.stats import norm

    assert len(steps) * 2 * norm.sf(c) == pytest.approx(alpha, rel=1e-9)


def test_detection_power_and_checkpoint_z_by_hand():
    from lrlab.nqm import MonteCarloResult

    from scipy.stats import norm

    assert ex.detection_power([5.0, 1.0], 4.0) == pytest.approx(norm.cdf(1.0) + norm.cdf(-9.0))
    mc = MonteCarloResult(mean=np.array([1.0, 0.6, 0.3]), stderr=np.array([0.0, 0.1, 0.05]), n_seeds=10, device="cpu")
    assert ex.checkpoint_z(mc, [1.0, 0.5, 0.4], steps=(1, 2)) == pytest.approx([1.0, -2.0])
    with pytest.raises(ValueError, match="within"):
        ex.checkpoint_z(mc, [1.0, 0.5, 0.4], steps=(3,))
    with pytest.raises(ValueError, match="alpha"):
        ex.bonferroni_z(3, alpha=1.5)


def test_max_abs_z_rejects_bad_input():
    from lrlab.nqm import MonteCarloResult

    mc = MonteCarloResult(mean=np.ones(3), stderr=np.zeros(3), n_seeds=10, device="cpu")
    with pytest.raises(ValueError, match="stderr is zero"):
        ex.max_abs_z(mc, np.ones(3))
    with pytest.raises(ValueError, match="exact must have the shape"):
        ex.max_abs_z(mc, np.ones(4))


# ---------------------------------------------------------------------------
# Section 4: the noise floor
# ---------------------------------------------------------------------------


def test_noise_floor_formula_matches_recursion_tightly(nqm):
    """'The recursion reproduces the formula to a relative error of at most ...'"""
    table = ex.noise_floor_table(nqm, n_seeds=0)
    assert table["lr"].tolist() == pytest.approx([f * nqm.stability_limit for f in ex.FLOOR_FRACTIONS])
    assert (table["rel_gap"] < 1e-6).all(), table


def test_noise_floor_formula_per_coordinate_is_the_fixed_point():
    """The derivation: m* = eta sigma^2 / (B h (2 - eta h)) solves m = (1 - eta h)^2 m + eta^2 sigma^2 / B."""
    h, sigma2, batch, eta = 0.3, 0.7, 4, 1.1
    m_star = eta * sigma2 / (batch * h * (2 - eta * h))
    assert (1 - eta * h) ** 2 * m_star + eta**2 * sigma2 / batch == pytest.approx(m_star, rel=1e-14)
    single = NoisyQuadratic(h=[h], sigma2=[sigma2], batch_size=batch)
    assert single.noise_floor(eta) == pytest.approx(0.5 * h * m_star, rel=1e-14)


@pytest.mark.slow
def test_noise_floor_matches_monte_carlo_within_sampling_error(nqm):
    """'the largest of the {floor_n} values of |z| is ..., below the threshold ... that {floor_n} correct z-scores
    exceed with probability at most 0.001 (the Bonferroni rule of section 3).'"""
    table = ex.noise_floor_table(nqm)
    assert table.attrs["device"] in ("cpu",) or table.attrs["device"].startswith("cuda")
    threshold = ex.bonferroni_z(len(table), ex.MC_ALPHA)
    assert (table["z"].abs() < threshold).all(), table[["lr", "formula", "monte_carlo", "stderr", "z"]]


def test_speed_against_precision(nqm):
    """'At step {early} the largest rate has the lowest loss; at step T the smallest has the lowest, still above its floor.'"""
    rates = np.array(ex.DILEMMA_RATES)
    assert np.all(np.diff(rates) > 0)
    curves = nqm.expected_loss(np.repeat(rates[:, None], ex.TOTAL_STEPS, axis=1))
    early = curves[:, ex.DILEMMA_EARLY_STEP]
    final = curves[:, -1]
    assert np.all(np.diff(early) < 0), f"early losses {early} should fall with the rate"
    assert np.all(np.diff(final) > 0), f"final losses {final} should grow with the rate"
    assert final[0] > 1.01 * nqm.noise_floor(rates[0]), "the smallest rate should still be above its floor"


def test_noise_floor_table_rejects_unstable_rates(nqm):
    with pytest.raises(ValueError, match="fraction must be in"):
        ex.noise_floor_table(nqm, fractions=(1.2,), n_seeds=0)


# ---------------------------------------------------------------------------
# Section 5: the zoo and torch parity
# ---------------------------------------------------------------------------


def test_zoo_matches_torch_schedulers():
    """'They agree to rounding error.'"""
    table = ex.torch_parity_table()
    assert len(table) == 6
    assert (table["max abs gap"] < 1e-12).all(), table


def test_torch_cosine_cycles_back_up_while_ours_holds_min_lr():
    """'CosineAnnealingLR keeps following the cosine past T_max ...; our cosine_schedule holds min_lr.'"""
    t_, peak = ex.TOTAL_STEPS, ex.ZOO_PEAK_LR
    floor = ex.END_FRACTION * peak
    theirs = torch_lr_trace(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=t_, eta_min=floor), 2 * t_ + 1, base_lr=peak
    )
    ours = S.cosine_schedule(peak, t_, min_lr=floor)
    assert theirs[t_] == pytest.approx(floor, abs=1e-12)
    assert theirs[2 * t_] == pytest.approx(peak, rel=1e-9)
    assert ours(np.arange(t_, 2 * t_ + 1)) == pytest.approx(floor, abs=1e-15)


def test_zoo_panels_are_at_the_same_peak():
    """'The schedule zoo over T steps at the same peak rate.'"""
    panels = ex.zoo()
    for panel in panels.values():
        for name, sched in panel.items():
            rates = sched(np.arange(ex.TOTAL_STEPS))
            assert rates.max() == pytest.approx(ex.ZOO_PEAK_LR, rel=1e-9), name


def test_heavy_ball_and_torch_momentum_agree_for_a_constant_rate_only():
    """Conventions box: same method for a constant rate (v = -eta b); different when the rate changes."""

    def run(rates, beta=0.9, h=0.5):
        theta_hb, v = 1.0, 0.0
        param = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([param], lr=rates[0], momentum=beta)
        for eta in rates:
            v = beta * v - eta * h * theta_hb
            theta_hb = theta_hb + v
            for group in opt.param_groups:
                group["lr"] = eta
            opt.zero_grad()
            (0.5 * h * param**2).sum().backward()
            opt.step()
        return theta_hb, float(param.detach())

    hb, pt = run([0.3] * 50)
    assert hb == pytest.approx(pt, rel=1e-12, abs=1e-15)
    hb, pt = run([0.3] * 10 + [0.03] * 40)
    assert abs(hb - pt) > 1e-3


# ---------------------------------------------------------------------------
# Section 6: the comparison at an equal step budget
# ---------------------------------------------------------------------------


def test_tuned_peaks_are_inside_the_grid(comparison):
    """'... and a check that no tuned peak sits on the edge of the grid.'"""
    table, _, _ = comparison
    assert not table["on_grid_edge"].any(), table


def test_every_decay_ends_below_the_constant_floor(comparison, decays):
    """'All {n_decays} decaying schedules end below that floor.'"""
    table, floor, curves = comparison
    const = table.set_index("schedule").loc[ex.CONSTANT]
    assert const.final_loss > floor, "the tuned constant rate ends above its own floor"
    assert floor == pytest.approx(ex.chapter1_nqm().noise_floor(const.peak_lr))
    assert len(decays) == 7
    assert (decays["vs_floor"] < 1).all(), decays
    for name in decays.schedule:
        assert curves[name][-1] == pytest.approx(decays.set_index("schedule").loc[name, "final_loss"])


def test_tuned_constant_is_converging_on_flat_and_stuck_on_steep_directions(nqm, comparison):
    """'it is still converging along the flat directions and already stuck along the steep ones.'"""
    table, _, _ = comparison
    lr = float(table.set_index("schedule").loc[ex.CONSTANT, "peak_lr"])
    moments = nqm.second_moments(S.constant_schedule(lr), ex.TOTAL_STEPS)[-1]
    fixed = lr * nqm.sigma2 / (nqm.batch_size * nqm.h * (2 - lr * nqm.h))
    steep, flat = int(np.argmax(nqm.h)), int(np.argmin(nqm.h))
    assert moments[steep] == pytest.approx(fixed[steep], rel=1e-9)
    assert moments[flat] > 1.05 * fixed[flat]


def test_ranking_exponential_wins_by_a_margin(decays):
    """'the best shape is the exponential decay ..., {best_margin} below the runner-up'."""
    assert decays.iloc[0].schedule == "exponential", decays
    margin = 1 - decays.iloc[0].final_loss / decays.iloc[1].final_loss
    assert margin > 0.1, f"margin over the runner-up is only {margin:.1%}"


def test_ranking_fastest_leaving_shapes_take_the_first_two_places(decays):
    """'The two shapes that leave the peak fastest (the lowest mean_rate among the smooth decays) take the first two places.'"""
    smooth = decays[decays.schedule.isin(
        ["exponential", "polynomial (power 2)", "linear to zero", "cosine to zero", "cosine, floor"])]
    lowest_mean = set(smooth.nsmallest(2, "mean_rate").schedule)
    assert set(decays.schedule.iloc[:2]) == lowest_mean


def test_ranking_cosine_is_not_the_winner_and_level_with_linear(decays, family):
    """'cosine to zero ranks {cos_rank} of {n_decays}, level with linear decay to zero (they end within ... of each
    other, close to the {grid_gap_ch} the grid may cost)' (on the chapter's model)."""
    final = decays.set_index("schedule").final_loss
    assert decays.iloc[0].schedule not in ("cosine to zero", "cosine, floor")
    own = family[(family.exponent == 1.0) & (family.dim == 20) & (family.batch_size == 8)]
    assert abs(final["cosine to zero"] / final["linear to zero"] - 1) < 2 * own.grid_gap.max() < 0.01


def test_cosine_with_a_floor_beats_cosine_to_zero(decays):
    """'the same cosine with a floor at {end_fraction} of its peak ends ... lower than the cosine to zero.'"""
    final = decays.set_index("schedule").final_loss
    assert final["cosine, floor"] < final["cosine to zero"]


def test_shape_matters(decays):
    """'the shape matters (the worst decay ends {decay_spread} times higher than the best)'."""
    assert decays.final_loss.max() / decays.final_loss.min() > 1.5


def test_end_value_sweep(nqm):
    """'cosine is best ending at {cos_best_end} of its peak ...; at its best end value the exponential still ends lowest.'"""
    sweep = ex.end_value_sweep(nqm)
    assert list(sweep.index) == list(ex.END_FRACTIONS)
    assert sweep.attrs["on_grid_edge"] == [], "'retuning the peak each time': every tuned peak inside the grid"
    assert sweep["cosine"].idxmin() > 0, "cosine should do better with a floor than ending at zero"
    assert sweep["cosine"].min() < sweep.loc[0.0, "cosine"]
    assert sweep["exponential"].min() < sweep["cosine"].min()
    assert sweep["exponential"].min() < sweep["linear"].min()
    assert np.isnan(sweep.loc[0.0, "exponential"])


def test_batch_size_one_puts_multistep_above_the_floor():
    """'Now multi-step ends above the constant rate's floor'; and 'at both noise levels every decay ended below the tuned constant rate'."""
    for batch_size, expected_above in ((ex.NQM_PARAMS["batch_size"], set()), (1, {"multi-step"})):
        table, _, _ = ex.schedule_comparison(ex.chapter1_nqm(batch_size=batch_size))
        decaying = table[table.schedule != ex.CONSTANT]
        assert set(decaying[decaying.vs_floor >= 1].schedule) == expected_above
        const_final = float(table.set_index("schedule").loc[ex.CONSTANT, "final_loss"])
        assert (decaying.final_loss < const_final).all()
        assert not table["on_grid_edge"].any()


# ---------------------------------------------------------------------------
# Section 6, continued: the family of noisy quadratics
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def family():
    return ex.family_comparison()


@pytest.fixture(scope="module")
def family_wins(family):
    return ex.family_summary(family)


def _where(rows):
    return {(float(r.exponent), int(r.dim), int(r.batch_size)) for r in rows.itertuples()}


def test_final_moment_factors_reproduce_the_recursion():
    """'Unrolled, the recursion gives E[theta_T^2] = theta_0^2 F + (sigma^2/B) G ...': equal to expected_loss."""
    rng = np.random.default_rng(0)
    rates = rng.uniform(0.0, 1.5, size=(3, 50))
    model = NoisyQuadratic(h=[1.0, 0.3, 0.01], sigma2=[0.5, 2.0, 1.0], batch_size=4, theta0=[1.0, -2.0, 0.5])
    F, G = ex.final_moment_factors(rates, model.h)
    final = 0.5 * (model.h * (model.theta0**2 * F + model.sigma2 / model.batch_size * G)).sum(-1)
    assert final == pytest.approx(model.expected_loss(rates)[:, -1], rel=1e-12)


def test_family_contains_the_chapter_model_with_the_same_result(family, comparison):
    """'the chapter's grid extended downwards at the same spacing': the chapter's instance ranks as in section 6."""
    table, _, _ = comparison
    own = family[(family.exponent == 1.0) & (family.dim == 20) & (family.batch_size == 8)].set_index("schedule")
    for row in table.itertuples():
        assert own.loc[row.schedule, "peak_lr"] == pytest.approx(row.peak_lr, rel=1e-12)
        assert own.loc[row.schedule, "final_loss"] == pytest.approx(row.final_loss, rel=1e-9)
    grid = ex.family_grid()
    assert grid.size == 85 and np.allclose(np.diff(np.log(grid)), np.log(grid[1] / grid[0]))


def test_family_tuned_peaks_interior_except_at_the_stability_cap(family, family_wins):
    """'In {fam_capped_n} of these instances (...) some shape's tuned peak is the largest grid rate, just below the
    stability limit'; every other tuned peak is strictly inside the grid (none at its low end)."""
    assert len(family_wins) == 27
    assert not family.at_bottom.any()
    assert float(ex.family_grid().max()) < 2.0  # every instance has h_max = 1: the cap is below 2 / h_max
    assert _where(family_wins[family_wins.capped]) == {(2.0, 20, 8), (2.0, 20, 64), (2.0, 100, 8), (2.0, 100, 64)}
    assert (family_wins.interior == ~family_wins.capped).all()


def test_family_exponential_wins_every_flat_instance(family_wins):
    """'Exponential decay wins on every instance with p <= 1 (18 of 18), by ... to ... over the runner-up. With p = 2
    it still wins for p = 2, d = 10 (each B) and d = 20, B = 1: 22 of 27 instances in all.'"""
    flat = family_wins[family_wins.exponent <= 1]
    assert len(flat) == 18 and (flat.winner == "exponential").all()
    assert flat.margin.min() > 0.05
    exp_steep = family_wins[(family_wins.exponent == 2) & (family_wins.winner == "exponential")]
    assert _where(exp_steep) == {(2.0, 10, 1), (2.0, 10, 8), (2.0, 10, 64), (2.0, 20, 1)}
    assert (family_wins.winner == "exponential").sum() == 22


def test_family_ranking_flips_on_steep_wide_spectra(family_wins):
    """'On steep and wide spectra the ranking flips: polynomial (power 2) ... cosine, floor ..., by at most ...'
    and 'Cosine is not the winner where p <= 1: its best place there is ...; with a floor it wins 4 steep instances'."""
    others = family_wins[family_wins.winner != "exponential"]
    assert (others.exponent == 2).all() and (others.dim >= 20).all()
    assert set(others.winner) == {"polynomial (power 2)", "cosine, floor"}
    assert others.margin.max() < 0.05
    # summary: 'on the steepest, widest spectra (p = 2, d >= 20) ... wins {n_others} of {n_steep_wide}'
    steep_wide = family_wins[(family_wins.exponent == 2) & (family_wins.dim >= 20)]
    assert len(steep_wide) == 6 and (steep_wide.winner != "exponential").sum() == len(others) == 5
    flat = family_wins[family_wins.exponent <= 1]
    assert (flat.cosine_rank >= 2).all()
    cos_wins = family_wins[family_wins.winner.isin(["cosine to zero", "cosine, floor"])]
    assert _where(cos_wins) == {(2.0, 20, 64), (2.0, 100, 1), (2.0, 100, 8), (2.0, 100, 64)}


def test_family_margins_exceed_the_grid_resolution(family, family_wins):
    """'over the family a parabola through a best grid rate and its neighbours is at most ... lower, and every
    winner's margin is larger than that gap in its own instance.'"""
    assert family.grid_gap.max() < 0.02
    assert (family_wins.margin > family_wins.max_grid_gap).all(), family_wins


def test_family_decays_against_the_constant_rate(family):
    """'Every decay ends below the tuned constant rate except multi-step in 4 instances with a flat spectrum and much
    noise ...' and 'all seven decays end below the constant rate's noise floor in only 14 of 27 instances'."""
    key = ["exponent", "dim", "batch_size"]
    const = family[family.schedule == ex.CONSTANT].set_index(key).final_loss
    decays = family[family.schedule != ex.CONSTANT].copy()
    decays["const"] = const.loc[list(zip(decays.exponent, decays.dim, decays.batch_size))].to_numpy()
    worse = decays[decays.final_loss >= decays.const]
    assert set(worse.schedule) == {"multi-step"}
    assert _where(worse.drop_duplicates(key)) == {(0.5, 10, 1), (0.5, 10, 8), (0.5, 20, 1), (0.5, 100, 1)}
    assert int((decays.groupby(key).vs_floor.max() < 1).sum()) == 14
    assert (family[family.schedule == ex.CONSTANT].vs_best > 1).all()


# ---------------------------------------------------------------------------
# Section 7: the torch loop
# ---------------------------------------------------------------------------


def test_torch_loop_uses_the_schedule_exactly():
    """'The optimizer used exactly the rate the schedule prescribes at every step.'"""
    inputs, targets = tiny_regression()
    model = tiny_mlp(dim=inputs.shape[1])
    schedule = S.warmup_cosine_schedule(ex.TINY_PEAK_LR, total_steps=ex.TINY_STEPS, warmup_steps=ex.TINY_STEPS // 10)
    before = full_batch_loss(model, inputs, targets)
    rates, losses = train_with_schedule(model, inputs, targets, schedule, ex.TINY_STEPS)
    after = full_batch_loss(model, inputs, targets)
    assert np.max(np.abs(rates - schedule(np.arange(ex.TINY_STEPS)))) < 1e-15
    assert after < before
    assert np.isfinite(losses).all()


# ---------------------------------------------------------------------------
# Exercises (their solutions' claims)
# ---------------------------------------------------------------------------


def test_exercise_best_gd_rate(nqm, comparison):
    """ex-optimizers-dilemma-best-gd-rate: 'At eta* = 1.905 (rho = 0.905) it takes 70 steps, against 135 at 1/h_max
    and 342 just below the limit ... A search over 10^5 stable rates puts the minimum of rho at 1.9048, as derived.'
    and 'At eta* the noise floor is 1.457, far above what the tuned constant rate reaches'."""
    table = ex.exercise_best_gd_rate(nqm)
    kappa = nqm.h_max / nqm.h.min()
    star = table.iloc[1]
    assert star.lr == pytest.approx(2 / (nqm.h.min() + nqm.h_max), rel=1e-12)
    assert star.max_contraction == pytest.approx((kappa - 1) / (kappa + 1), rel=1e-12)
    assert table.attrs["grid_best"] == pytest.approx(star.lr, abs=2 * 2 / 100_000)
    # the noiseless recursion needs exactly the predicted steps, and eta* needs the fewest
    assert (table.predicted_steps == table.measured_steps).all(), table
    assert star.measured_steps == table.measured_steps.min()
    assert table.measured_steps.iloc[2] > table.measured_steps.iloc[0] > star.measured_steps
    # with the noise on, eta* sits on a floor far above the tuned constant rate's final loss
    tuned, _, _ = comparison
    assert star.noise_floor > 10 * float(tuned.set_index("schedule").loc[ex.CONSTANT, "final_loss"])


def test_exercise_time_to_floor(nqm):
    """ex-optimizers-dilemma-time-to-floor: 'Only eta = 0.05 misses the budget: its flattest coordinate needs 2072
    steps (relaxation time 200), against 72 at the largest rate.'"""
    table = ex.exercise_time_to_floor(nqm)
    assert table.lr.tolist() == list(ex.DILEMMA_RATES)
    assert (table.predicted_steps == table.measured_steps).all(), table
    assert table[~table.within_budget].lr.tolist() == [min(ex.DILEMMA_RATES)]
    # "about ln(m0 / (eps m*)) relaxation times"
    approx = table.relaxation * np.log(1 / (ex.EX_FLOOR_TOLERANCE * table.floor))
    np.testing.assert_allclose(table.predicted_steps, approx, rtol=0.05)
    # the slowest rate is still above its floor at T (the chapter's figure)
    flat = ex._coordinate(nqm, "flat")
    slow = float(table.lr.iloc[0])
    m_T = flat.second_moments(S.constant_schedule(slow), ex.TOTAL_STEPS)[-1, 0]
    assert m_T > (1 + ex.EX_FLOOR_TOLERANCE) * table.floor.iloc[0]


@pytest.mark.slow
def test_exercise_run_spread(nqm):
    """ex-optimizers-dilemma-run-spread: 'the predicted standard deviation is 0.0977, 63% of the floor (the lower bound
    is 32%). Over 4000 simulated runs ... it is 0.0991, 0.6 standard errors from the formula.'"""
    row = ex.exercise_run_spread(nqm).iloc[0]
    assert row.start_left < 1e-10, "the run must have forgotten its start"
    assert abs(row.z) < 4, row  # a wrong variance (e.g. m^2 instead of 2 m^2: a factor sqrt(2)) is ~15 s.e. away
    assert abs(row.mc_std / (row.predicted_std / np.sqrt(2)) - 1) > 0.2
    assert row.relative_spread > row.lower_bound == pytest.approx(np.sqrt(2 / nqm.dim))
    assert row.mc_mean == pytest.approx(row.floor, rel=0.05)


def test_exercise_constant_budget(nqm):
    """ex-optimizers-dilemma-constant-budget: 'The approximations are within 0.3% of the exact best rate ... Ten times
    the budget shrinks the best rate 8.2-fold and the loss only 8.3-fold'."""
    table = ex.exercise_constant_budget(nqm)
    steep = ex._coordinate(nqm, "steep")
    for row in table.itertuples():
        # the closed form is the recursion, and the optimum is a minimum of it
        exact = steep.expected_loss(S.constant_schedule(row.best_lr), row.total_steps)[-1]
        assert float(ex.constant_final_loss(steep, row.best_lr, row.total_steps)) == pytest.approx(exact, rel=1e-10)
        for factor in (0.98, 1.02):
            assert float(ex.constant_final_loss(steep, factor * row.best_lr, row.total_steps)) > row.best_loss
    assert ((table.approx_lr / table.best_lr - 1).abs() < 0.01).all()
    assert ((table.approx_loss / table.best_loss - 1).abs() < 1e-3).all()
    lr_ratio = table.best_lr.iloc[0] / table.best_lr.iloc[-1]
    loss_ratio = table.best_loss.iloc[0] / table.best_loss.iloc[-1]
    assert 7 < lr_ratio < 9.5 and 7 < loss_ratio < 9.5  # "a bit less than 10": the ln T


def test_exercise_robbins_monro(nqm):
    """ex-optimizers-dilemma-robbins-monro: 'For a = 1 the recursion matches sigma^2/(2BhT) to a relative 1e-14 at every
    step, and it ends 3.42 times below the best constant rate ...; For a = 2 the loss is 1.333 times that of a = 1 ...
    For a = 1/4 the measured log-log slope is -0.499 and the final loss 28 times higher than the constant rate's'."""
    table = ex.exercise_robbins_monro(nqm).set_index("a")
    assert table.attrs["a1_max_rel_error"] < 1e-12
    assert table.vs_constant[1.0] > 3
    T = ex.EX_BUDGETS[-1]
    approx_gap = (1 + np.log(4 * nqm.batch_size * T)) / 4  # h = sigma^2 = theta0 = 1 on the steepest coordinate
    assert table.vs_constant[1.0] == pytest.approx(approx_gap, rel=0.01)
    assert table.final_loss[2.0] / table.final_loss[1.0] == pytest.approx(4 / 3, rel=0.01)
    np.testing.assert_allclose(table.final_loss[[1.0, 2.0]], table.predicted_loss[[1.0, 2.0]], rtol=0.01)
    np.testing.assert_allclose(table.slope, table.predicted_slope, atol=0.01)
    assert table.vs_constant[0.25] < 0.1, "a = 1/4 must end far above the best constant rate"


def test_exercise_warmup(nqm, comparison):
    """ex-optimizers-dilemma-warmup: 'Up, and the longer the warmup the more: 20 warmup steps cost 1.0% in final loss
    and 250 cost 20%.'"""
    table = ex.exercise_warmup(nqm)
    assert table.warmup_steps.tolist() == list(ex.EX_WARMUPS)
    assert not table.on_grid_edge.any()
    # no warmup is the section-6 exponential decay, with the same tuned peak and loss
    decay = comparison[0].set_index("schedule").loc["exponential"]
    assert table.peak_lr.iloc[0] == decay.peak_lr and table.final_loss.iloc[0] == pytest.approx(decay.final_loss)
    assert np.all(np.diff(table.final_loss) > 0), table
    assert table.vs_no_warmup.iloc[1] > 1.005 and table.vs_no_warmup.iloc[-1] > 1.1
