"""Every quantitative claim of chapter 2 (book/coupled_forces.md), checked with the chapter's parameters.

The chapter and these tests read their parameters and routines from
:mod:`lrlab.chapters.coupled_forces`, so they cannot drift apart. Each test quotes the sentence (or
the figure caption) it checks; the tolerances are the ones the prose promises.
The tests that train models or run Monte Carlo take a few seconds each and are
marked ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

import lrlab.chapters.coupled_forces as c2
from lrlab.stats import bonferroni_z
from lrlab.nqm import NoisyQuadratic


@pytest.fixture(scope="module")
def nqm() -> NoisyQuadratic:
    return c2.chapter2_nqm()


@pytest.fixture(scope="module")
def scaling(nqm):
    return c2.linear_scaling(nqm)


@pytest.fixture(scope="module")
def ramps(nqm):
    return c2.ramp_table(nqm)


@pytest.fixture(scope="module")
def weight_norms():
    return c2.weight_norm_runs()


@pytest.fixture(scope="module")
def adam():
    return c2.adam_vs_adamw()


# ---------------------------------------------------------------------------
# Section 2: the linear scaling rule
# ---------------------------------------------------------------------------


def test_scaled_runs_see_the_same_examples(scaling):
    table, curves = scaling
    assert table.k.tolist() == list(c2.SCALE_FACTORS)
    for k, (samples, _) in curves.items():
        assert samples[-1] == c2.BASE_BATCH * c2.SCALING_STEPS, f"run k={k} must see the same number of examples"


def test_small_k_eta_h_max_keeps_the_curve(scaling):
    """'Up to k = 16 (k eta h_max < 0.2) the curves agree within 3.5 % everywhere.'"""
    table, _ = scaling
    ok = table[table.k_lr_hmax < 0.2]
    assert len(ok) >= 3, "the chapter needs several runs in the small-k regime"
    assert ok.max_gap.max() < 0.04
    # and the gap grows with k: the rule is a first-order statement
    stable = table[~table.diverged]
    assert np.all(np.diff(stable.max_gap.to_numpy()) > 0)


def test_scaled_runs_settle_at_the_predicted_noise_floor_ratio(scaling):
    """'the measured final ratios match the predicted ratios of noise floors' (to 1e-6 or better)."""
    table, _ = scaling
    stable = table[table.k_lr_hmax < 2]
    np.testing.assert_allclose(stable.final_ratio, stable.predicted_ratio, rtol=1e-6)
    near_limit = stable.iloc[-1]
    assert near_limit.k_lr_hmax > 1 and near_limit.max_gap > 0.3, "near the limit the scaled run must settle visibly higher"


def test_past_the_stability_limit_the_scaled_run_diverges(nqm, scaling):
    """'At k = 256 (k eta h_max = 2.56) the expected loss reaches 3.2e+61.'"""
    table, _ = scaling
    beyond = table[table.k_lr_hmax > 2]
    assert len(beyond) >= 1 and beyond.diverged.all()
    assert (beyond.final_loss > 1e6 * nqm.loss(nqm.theta0)).all()
    assert not table[table.k_lr_hmax < 2].diverged.any()


# ---------------------------------------------------------------------------
# Section 3: batch ramps
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_ramp_recursion_agrees_with_monte_carlo(nqm):
    """'Sampling noise alone pushes the largest of 1344 deviations past 4.95 with probability below 0.1 % ...,
    so the check passes; and it has teeth: against a recursion whose noise variance is 5 % too large the same
    simulation deviates by 7.8 standard errors.'"""
    mc, exact, z = c2.ramp_monte_carlo(nqm, device="cpu")
    assert mc.n_seeds == c2.MC_SEEDS and len(exact) == len(mc.mean)
    threshold = bonferroni_z(len(exact) - 1, alpha=1e-3)
    assert z < threshold  # measured 3.72 against 4.95
    assert c2.wrong_recursion_z(nqm, mc, noise_factor=1.05) > threshold  # measured 7.77


def test_ramp_and_decay_share_the_noise_scale_phase_by_phase():
    """Figure caption: 'the decay and the batch ramp have the same noise scale eta/B in every phase'."""
    runs = c2.ramp_runs(c2.RAMP_PEAK)
    levels = {}
    for name, (schedule, batches, steps) in runs.items():
        g = schedule(np.arange(steps)) / batches
        samples = np.concatenate([[0], np.cumsum(batches)])[:-1]
        levels[name] = [np.unique(g[(samples >= j * c2.PHASE_SAMPLES) & (samples < (j + 1) * c2.PHASE_SAMPLES)])
                        for j in range(c2.N_PHASES)]
    for a, b in [("decay", "batch ramp"), ("constant", "noise-matched ramp")]:
        for phase_a, phase_b in zip(levels[a], levels[b]):
            assert len(phase_a) == 1 and len(phase_b) == 1
            assert phase_a[0] == pytest.approx(phase_b[0], rel=1e-12)


def test_batch_ramp_follows_the_decay_with_fewer_updates(ramps):
    """'the batch ramp follows the decay within 1.7 % ... while taking 1344 updates instead of 3072 (44 %)'."""
    table, _ = ramps
    main = table.set_index("peak_lr").loc[c2.RAMP_PEAK]
    expected_ramp_steps = sum(c2.PHASE_SAMPLES // (c2.BASE_BATCH * c2.RAMP_FACTOR**j) for j in range(c2.N_PHASES))
    assert main.ramp_steps == expected_ramp_steps
    assert main.decay_steps == c2.N_PHASES * c2.PHASE_SAMPLES // c2.BASE_BATCH
    assert main.ramp_gap < 0.02


def test_ramp_gap_grows_with_the_rate(ramps):
    """'the gap is 0.02 % at eta_0 = 0.01 and grows with the rate, to 36 % at eta_0 = 1.0'."""
    table, _ = ramps
    gaps = table.sort_values("peak_lr").ramp_gap.to_numpy()
    assert np.all(np.diff(gaps) > 0)
    assert gaps[0] < 0.001 and gaps[-1] > 0.2


def test_noise_matched_ramp_works_only_while_eta_h_max_is_small(ramps):
    """'at eta_0 = 0.01 ... it tracks the constant run within 0.2 %, at eta_0 = 0.1 ... off by 125 %, and above that it diverges.'"""
    table, _ = ramps
    table = table.sort_values("peak_lr")
    small = table.iloc[0]
    assert small.matched_max_lr_h < 0.2 and small.matched_gap < 0.005
    main = table.set_index("peak_lr").loc[c2.RAMP_PEAK]
    assert main.matched_max_lr_h < 2 and main.matched_gap > 0.5
    past = table[table.matched_max_lr_h > 2]
    assert len(past) >= 1 and np.isinf(past.matched_gap).all()


# ---------------------------------------------------------------------------
# Section 4: the gradient noise scale
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_noise_scale_estimate_matches_least_squares_closed_form():
    """'The estimates agree with the formula within 0.5 %, and every exact value lies inside the 95 % confidence
    interval ... of its estimate.'"""
    table = c2.linreg_noise_scale_table()
    assert table.distance.tolist() == list(c2.LINREG_DISTANCES)
    assert (table.rel_error < 0.005).all()  # measured 0.46 % at most
    assert (np.abs(table.estimate - table.exact) < table.ci95).all()
    # the check can fail: away from the optimum the intervals are narrow enough to reject the formula
    # without the delta delta^T term of Sigma (d instead of d + 1); near it (|delta| = 0.25) the label noise
    # dominates and they are not
    far = table[table.distance >= 1]
    assert (np.abs(far.estimate - (far.exact - 1)) > far.ci95).all()


@pytest.mark.slow
def test_digits_noise_scale_grows_during_training():
    """'At initialization B_noise ~ 56; from step 100 on ... at least 4.0 times the starting value'; caption: B = 32 below it throughout."""
    table, run = c2.digits_noise_scale()
    assert table.step.tolist() == list(c2.DIGITS_CHECKPOINTS)
    later = table[table.step >= 100]
    assert later.noise_scale.min() > 3 * table.noise_scale.iloc[0]
    assert (table.noise_scale > c2.DIGITS_BATCH).all()
    assert run.losses[-1] < 0.15 * run.losses[0]


# ---------------------------------------------------------------------------
# Sections 5 and 6: weight decay
# ---------------------------------------------------------------------------


def test_blank_pixels_exist_and_get_no_data_gradient():
    """'The digits contain pixels that are blank in every image (indices 0, 32, 39 ...)'."""
    x, _ = c2.digits()
    assert c2.dead_pixels(x).tolist() == [0, 32, 39]


@pytest.mark.slow
def test_decay_only_weights_follow_the_cumulative_shrink(weight_norms):
    """'The blank-pixel weights follow the predicted shrink to 2.5e-15 (rounding of 64-bit floats).'"""
    table, runs, shrinks = weight_norms
    assert (table.dead_error < 1e-12).all()
    for name, shrink in shrinks.items():
        assert np.all(np.diff(shrink) <= 0) and shrink[0] == 1.0


@pytest.mark.slow
def test_cosine_regularizes_about_half_as_much_as_constant(weight_norms):
    """'a cosine schedule, whose rates average half the peak, regularizes about half as much'; shrink 0.367 vs 0.605."""
    table, _, _ = weight_norms
    t = table.set_index("schedule")
    assert t.sum_decay["cosine"] / t.sum_decay["constant"] == pytest.approx(0.5, abs=0.01)
    assert t.shrink["constant"] < t.shrink["multi-step"] < t.shrink["cosine"]
    np.testing.assert_allclose(np.log(t.shrink), -t.sum_decay, rtol=0.01)


@pytest.mark.slow
def test_weight_norm_is_highest_under_the_constant_rate(weight_norms):
    """Figure alt text: 'the norm of all weights grows quickly and levels off, highest for the constant schedule'."""
    table, runs, _ = weight_norms
    t = table.set_index("schedule")
    assert t.final_norm["constant"] == t.final_norm.max()
    for run in runs.values():
        assert run.norms[-1] > 2 * run.norms[0]


@pytest.mark.slow
def test_sgd_l2_equals_decoupled_decay(weight_norms):
    """'For SGD, L2 and decoupled decay give weights that agree to 1e-14 over the whole run'."""
    table, _, _ = weight_norms
    assert (table.l2_vs_decoupled < 1e-12).all()


@pytest.mark.slow
def test_adam_l2_differs_from_adamw(adam):
    """'For Adam the full weight matrices of Adam + L2 and AdamW differ by at least 1.51 in some entry.'"""
    table, _ = adam
    assert (table.adam_vs_adamw > 0.5).all()


@pytest.mark.slow
def test_adam_l2_moves_decay_only_weights_independently_of_lambda(adam):
    """'the first step moves each of them by eta to within 4e-06, the trajectories at lambda = 0.01 and 0.1 agree to 4e-06'."""
    table, runs = adam
    assert (table.adam_first_step < 1e-3 * c2.ADAM_LR).all()
    assert c2.adam_dead_weight_gap(runs) < 1e-3 * c2.ADAM_LR
    assert (table.adam_dead_end < 1e-6).all(), "Adam + L2 drives the decay-only weights to zero"


@pytest.mark.slow
def test_adamw_shrinks_decay_only_weights_by_the_cumulative_shrink(adam):
    """'under AdamW they end at 0.961 and 0.670 of their start, the prediction (1 - eta lambda)^T'."""
    table, _ = adam
    assert (table.adamw_dead_error < 1e-12).all()
    predicted = (1 - c2.ADAM_LR * table.weight_decay) ** c2.WD_STEPS
    np.testing.assert_allclose(table.adamw_dead_end, predicted, rtol=1e-9)


@pytest.mark.slow
def test_adam_l2_ends_with_a_higher_loss_at_the_larger_lambda(adam):
    """'At lambda = 0.1 the difference shows in the loss too: 1.278 for Adam + L2 against 0.239 for AdamW.'"""
    table, _ = adam
    hi = table.iloc[-1]
    assert hi.weight_decay == max(c2.ADAM_LAMBDAS)
    assert hi.adam_loss > 2 * hi.adamw_loss


# ---------------------------------------------------------------------------
# Exercises (their solutions' claims)
# ---------------------------------------------------------------------------


def test_exercise_floor_doubling(nqm, scaling):
    """ex-coupled-forces-floor-doubling: 'The floor doubles at k ~ 150 (k eta h_max = 1.50), not at the 100.5 of the
    steepest coordinate alone, and it is 10% higher from k ~ 39 on (...; 19 for the steepest coordinate alone). The
    recursion agrees with the formula to a relative 4e-16 ...'"""
    table = c2.exercise_floor_doubling(nqm)
    assert table.target.tolist() == list(c2.EX_FLOOR_RATIOS)
    eh = c2.BASE_LR * nqm.h_max
    for row in table.itertuples():
        assert float(c2.floor_ratio(nqm, row.k)) == pytest.approx(row.target, rel=1e-9)
        assert row.k_single * eh == pytest.approx(2 - (2 - eh) / row.target, rel=1e-12)  # part 1 for the target
        assert row.k > 1.4 * row.k_single, "the flat coordinates must dilute the effect (part 2)"
        assert row.start_left < 1e-20
        assert row.recursion_ratio == pytest.approx(row.formula_ratio, rel=1e-9)
        assert abs(row.formula_ratio - row.target) < 0.01
    assert table.k_single.iloc[-1] * eh == pytest.approx(1 + eh / 2, rel=1e-12)
    # "in line with the table of section 2": the ratios there straddle 1.1 where k crosses k(1.1)
    table2, _ = scaling
    stable = table2[table2.k_lr_hmax < 2]
    k_lo = table.k.iloc[0]
    assert (stable[stable.k < k_lo].final_ratio < 1.1).all() and (stable[stable.k > k_lo].final_ratio > 1.1).all()


def test_exercise_critical_batch(nqm):
    """ex-coupled-forces-critical-batch: 'At theta_0, B = 1.33 and B_noise = 2.25 ... After 20 steps they are 945 and
    203, and their order has flipped ...; The exact one-step gain matches the formula to a relative 2e-14 at every batch
    size. Near the start the gain hardly grows past B ~ B_crit; after the first steps it keeps growing up to the largest
    batch'."""
    from lrlab.batch_size import nqm_noise_scale

    table = c2.exercise_critical_batch(nqm)
    np.testing.assert_allclose(table.gain, table.gain_formula, rtol=1e-10)
    start, later = table[table.point == "start"], table[table.point != "start"]
    b0, n0, b1, n1 = start.b_crit.iloc[0], start.b_noise.iloc[0], later.b_crit.iloc[0], later.b_noise.iloc[0]
    assert b0 < n0 and b1 > 2 * n1, "the order of B_crit and B_noise must flip"
    assert b1 > 100 * b0 and n1 > 50 * n0
    assert n0 == pytest.approx(nqm.sigma2.sum() / np.sum(nqm.h**2), rel=1e-12)
    theta = nqm.theta0 * (1 - c2.EX_GD_LR * nqm.h) ** c2.EX_GD_STEPS
    assert n1 == pytest.approx(nqm_noise_scale(nqm, theta), rel=1e-12)
    # the gain saturates near the start (B >> B_crit) and not later (B_crit ~ the largest batch)
    assert start.gain.iloc[-1] / start.gain.iloc[-2] < 1.05
    assert np.all(np.diff(later.gain) / later.gain.iloc[:-1].to_numpy() > 2)
    # the check has teeth: without the noise term the formula would be off by a factor 1 + B_crit / B
    assert not np.allclose(later.gain, later.gain_formula * (1 + later.b_crit / later.batch_size), rtol=0.1)


@pytest.mark.slow
def test_exercise_naive_noise_scale():
    """ex-coupled-forces-naive-estimator: 'Here B_noise = 51, so the prediction is 28.4, and the naive estimate would
    need 969 examples to come within 5 %.' and 'Averaged over the sets, |g|^2 = 0.1137, 0.9 standard errors from the
    predicted 0.1123 and 32 standard errors above |G|^2 = 0.0625. The ratio of the averages is 28.3 for the naive
    estimate and 50.6 with the correction'."""
    row = c2.exercise_naive_noise_scale().iloc[0]
    assert row.exact == 51.0 and row.n_for_5pct == 969
    assert 1 / (1 + row.exact / row.n_for_5pct) >= 0.95 > 1 / (1 + row.exact / (row.n_for_5pct - 1))
    assert abs(row.g2_z) < 4 and abs(row.trace_z) < 4
    assert row.g2_z_true > 10, "the naive |g|^2 must be measurably biased"
    assert row.naive == pytest.approx(row.naive_predicted, rel=0.03)
    assert row.corrected == pytest.approx(row.exact, rel=0.05)
    assert row.naive < min(row.n, row.exact)  # "can never exceed n"


def test_exercise_rate_free_decay():
    """ex-coupled-forces-rate-free-decay: 'Three runs end at the equilibrium 0.9524; the rate-free decay under the
    cosine climbs to 0.952 and then loses most of it, ending at 0.230.'"""
    table = c2.exercise_rate_free_decay()
    rf = table.set_index(["schedule", "decay"])
    eq = c2.EX_DECAY_H * c2.EX_DECAY_TARGET / (c2.EX_DECAY_H + c2.EX_DECAY_LAMBDA)
    for key in [("constant", "coupled"), ("constant", "rate-free"), ("cosine", "coupled")]:
        assert rf.final_weight[key] == pytest.approx(eq, rel=1e-9), key
    assert rf.equilibrium["constant", "rate-free"] == pytest.approx(eq, rel=1e-12)
    assert rf.largest_weight["cosine", "rate-free"] == pytest.approx(eq, rel=1e-3)
    assert rf.final_weight["cosine", "rate-free"] < 0.5 * rf.largest_weight["cosine", "rate-free"]


def test_exercise_normalized_weights():
    """ex-coupled-forces-normalized: 'The simulated norms are within 0.04% of the formula and the angles within 0.2%.
    Four times lambda scales the norm by 0.707 and the angle by 2.000; four times eta scales them by 1.416 and 2.000.'"""
    table = c2.exercise_normalized_weights()
    assert [(r.lr, r.weight_decay) for r in table.itertuples()] == list(c2.EX_SPHERE_SETTINGS)
    np.testing.assert_allclose(table.norm, table.predicted_norm, rtol=0.01)
    np.testing.assert_allclose(table.angle, table.predicted_angle, rtol=0.01)
    assert table.norm.iloc[1] / table.norm.iloc[0] == pytest.approx(4 ** -0.25, rel=0.01)
    assert table.norm.iloc[2] / table.norm.iloc[0] == pytest.approx(4 ** 0.25, rel=0.01)
    assert table.angle.iloc[1] / table.angle.iloc[0] == pytest.approx(2, rel=0.01)
    assert table.angle.iloc[2] / table.angle.iloc[0] == pytest.approx(2, rel=0.01)
