"""Every quantitative claim of chapter 5 (book/scaling_up.md), checked with the chapter's parameters.

The chapter and these tests read their parameters and routines from :mod:`lrlab.chapters.scaling_up`, so they cannot
drift apart. Each test quotes the sentence of the chapter it checks, and its threshold is the one the sentence
states. The networks are small MLPs on the bundled digits, trained many at once as one population; compared
settings share seeds (same initial network, same minibatches), so differences are paired t-tests over seeds and
"equivalent" claims are TOST with the margin the chapter states. CUDA draws other random numbers than the CPU,
so the claims are about means over seeds with their intervals, never about exact values. Measured values quoted
in the comments are from a CPU run. Every claim here was also checked on other random streams on the CPU (sections
3-4: three more selection/report seed sets; sections 1, 2 and 5: two offsets of every initialisation and minibatch
seed); sentences whose verdict changed between streams were restated to what held on all of them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lrlab.chapters.scaling_up as c5
from lrlab.stats import mean_ci, paired_t

pytestmark = pytest.mark.slow
torch.set_num_threads(1)

mean = c5.mean


def trained(final) -> int:
    return int(np.sum(final["train_loss"] < c5.TRAINED))


# ---------------------------------------------------------------------------
# Section 1: why warmup
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sharp():
    return c5.sharpness_experiment()


def test_sharpness_at_init_is_low(sharp):
    """'At initialization the sharpness is small ... the stability limit 2/h_max is at least ..., above every rate of plain SGD in this section.'"""
    h0 = sharp["h_max"][0]
    assert 2 / h0.max() > max(c5.SGD_RATES)  # measured h0 0.51 .. 0.77, limit >= 2.6


def test_sharpness_rises_to_the_edge_of_stability_then_falls(sharp):
    """'The sharpness rises ...-fold within 25 steps, to ... that is ... times the stability limit 2/eta ..., and later falls again.'

    The summary says "to about the stability limit": the 95 % interval of h_max eta / 2 at the peak lies within 0.7 .. 1.3.
    """
    h = sharp["h_max"]
    peak = int(np.argmax(h.mean(1)))
    ci = mean_ci(h[peak] * c5.SHARP_LR / 2)
    assert 0.7 < ci.low and ci.high < 1.3  # measured 1.02 ± 0.13 (4.06 against 2/eta = 4)
    assert h[peak].mean() > 3 * h[0].mean()  # '...-fold': measured 6.4x
    assert paired_t(h[-1], h[peak]).high < 0  # 'later falls again': measured 1.46 at step 400


@pytest.fixture(scope="module")
def sgd_warm():
    return c5.sgd_warmup_experiment()


def test_plain_sgd_warmup_does_not_move_the_limit(sgd_warm):
    """'The rate 1.0 trains with or without a 40-step linear warmup ..., and 2.0 fails with or without it ...
    In between, at 1.4, warmup does not make training reliable: ... seeds end below a loss of 0.5 with warmup, ... without.'"""
    lo, mid, hi = c5.SGD_RATES
    for warm in (0, c5.WARMUP_STEPS):
        assert trained(sgd_warm[(lo, warm)]) == c5.WARM_SEEDS  # measured losses <= 0.045
        assert trained(sgd_warm[(hi, warm)]) == 0  # measured 2.31 .. 2.34 (chance: 2.30)
        assert trained(sgd_warm[(mid, warm)]) < c5.WARM_SEEDS  # measured 1 of 10 without, 3 of 10 with warmup


@pytest.fixture(scope="module")
def adam_warm():
    return c5.adam_warmup_experiment()


def test_adam_first_step_moves_every_weight_by_the_rate():
    """'Adam's first step moves every weight by the full rate ... (measured mean |Delta theta| / eta = 1.000).'"""
    assert c5.adam_first_step_size() == pytest.approx(1.0, abs=1e-3)  # eps = 1e-8 shaves ~2e-5 off tiny gradients


def test_adam_needs_warmup_at_a_large_rate(adam_warm):
    """'Without warmup ... no seed ends below a loss of 0.5'; summary: 'warmup (linear or exponential) raised the
    mean test accuracy by more than 0.4 (the lower end of the paired 95 % interval)'."""
    names = list(c5.adam_warmup_schedules())
    none = adam_warm[names[0]]
    assert trained(none) == 0  # measured 1.65 .. 2.35
    for name in names[1:]:
        gain = paired_t(adam_warm[name]["test_acc"], none["test_acc"])
        assert gain.significant and gain.low > 0.4  # measured +0.60 (0.53 to 0.67) and +0.56 (0.48 to 0.64)


# ---------------------------------------------------------------------------
# Section 2: linear scaling
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scaling():
    return c5.scaling_experiment()


def test_linear_scaling_holds_for_small_k(scaling):
    """'Up to k = 8 ... the mean final training loss is that of k = 1 within 10 %, and over the second half of the
    budget the mean curves agree within 20 %, while after the first eighth the k = 8 run still lags by more than 20 %.'"""
    base = mean(scaling[1]["none"]["final"]["train_loss"])
    for k in (4, 8):
        assert abs(mean(scaling[k]["none"]["final"]["train_loss"]) / base - 1) < c5.SCALE_TOL  # measured <= 5 %
    c1 = scaling[1]["none"]["curve"].mean(1)
    c8 = scaling[8]["none"]["curve"].mean(1)
    assert np.allclose(scaling[1]["samples"], scaling[8]["samples"])
    half = len(c1) // 2
    assert np.all(np.abs(c8[half:] / c1[half:] - 1) < c5.CURVE_TOL)
    assert c8[1] > (1 + c5.CURVE_TOL) * c1[1]


def test_linear_scaling_breaks_at_the_edge(scaling):
    """'At k = 16 ... the rule breaks for some seeds and not others ...; at k = 24 ... no seed trains, with or without warmup.'"""
    k_edge, k_over = list(scaling)[-2:]
    n = scaling[k_edge]["seeds"]
    assert 0 < trained(scaling[k_edge]["none"]["final"]) < n  # measured 21 of 24
    for name in ("none", "warmup"):
        assert trained(scaling[k_over][name]["final"]) == 0


def test_warmup_does_not_extend_linear_scaling_here(scaling):
    """'Warmup ... did not extend the range: ... the paired change in the fraction of seeds that train is ..., no significant gain.'"""
    gain = c5.warmup_gain_at_edge(scaling)
    assert not (gain.significant and gain.mean > 0)  # measured -0.21 (95% CI -0.42 to 0.01)


def test_warmup_costs_a_little_when_it_is_not_needed(scaling):
    """'Where it is not needed, warmup costs a little ... it raises it at every k <= 8 (paired t, 10 seeds each).'"""
    for k in (1, 4, 8):
        cost = paired_t(scaling[k]["warmup"]["final"]["train_loss"], scaling[k]["none"]["final"]["train_loss"])
        assert cost.n >= 10 and cost.significant and cost.mean > 0  # measured +0.011 at k = 1, p = 3e-6


# ---------------------------------------------------------------------------
# Sections 3 and 4: schedules at their own best peaks, WSD branches, schedule-free
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sched():
    out = c5.schedule_experiment()
    out["cmp"] = c5.compare_schedules(out["report"])
    return out


@pytest.fixture(scope="module")
def branches(sched):
    return c5.branch_experiment(sched["selection"]["best"][("WSD", c5.BUDGETS[-1])])


def test_design_selects_on_other_seeds_and_reports_enough(sched):
    """'... on 3 selection seeds ...; only that peak is then trained on 12 other report seeds.'"""
    assert c5.SELECT_SEED != c5.REPORT_SEED and c5.SCHED_SEEDS >= 10
    sel_init = c5._population(c5.SELECT_SEEDS, c5.SELECT_SEED, "cpu")[0][0]
    rep_init = c5._population(c5.SELECT_SEEDS, c5.REPORT_SEED, "cpu")[0][0]
    assert not torch.allclose(sel_init, rep_init)
    assert all(v["train_loss"].shape == (c5.SCHED_SEEDS,) for v in sched["report"].values())


def test_every_best_peak_is_interior(sched):
    """'The best peak is inside the grid for all of the schedule-budget pairs, so no schedule was held back by the grid.'"""
    for (method, budget), i in sched["selection"]["index"].items():
        assert 0 < i < len(c5.method_peaks(method)) - 1, (method, budget, i)


def test_schedules_that_hold_the_peak_prefer_lower_peaks(sched):
    """'The schedules that hold the peak longest prefer lower peaks: WSD's best is 0.2, 0.2, 0.2 ..., cosine's 0.28, ...'

    (The constant rate holds it longest of all.)
    """
    best = sched["selection"]["best"]
    for b in c5.BUDGETS:
        assert best[("WSD", b)] < best[("cosine", b)] and best[("constant", b)] < best[("cosine", b)], b


def test_the_tost_margin_is_about_one_grid_step(sched):
    """'The margin of a factor 1.5 ... is about the resolution of the tuning itself: one step of the peak grid away
    from each selected peak ... costs a factor ... in the median.' ("about": within a factor sqrt 2 of the margin.)"""
    median = float(np.median(c5.grid_step_costs(sched["selection"])))
    assert c5.RATIO_MARGIN / math.sqrt(2) < median < c5.RATIO_MARGIN * math.sqrt(2)  # measured 1.31


def test_wsd_against_cosine_depends_on_the_budget(sched):
    """'At 150 and 300 steps they are equivalent within a factor 1.5 (TOST on ln L ...); at 600 steps WSD is ahead.'
    and 'there [at one shared peak] WSD beat cosine at every budget ... None of these survives.'"""
    first, mid, last = c5.BUDGETS
    cmp = sched["cmp"]
    for b in (first, mid):
        assert cmp["equal_loss"][("WSD", b)].equivalent, b  # measured 1.22 (1.08 to 1.36) and 0.99 (0.78 to 1.26)
        # the shared-peak finding 'WSD beat cosine at every budget' does not survive: not significantly ahead here
        r = cmp["vs_cosine"][("WSD", b)]
        assert not (r.significant and r.mean < 0), b
    r = cmp["vs_cosine"][("WSD", last)]
    assert r.significant and r.mean < 0  # measured 0.62 (0.48 to 0.79); other CPU seed sets 0.65, 0.67


def test_the_decay_matters_at_the_shorter_budgets(sched):
    """'At 150 and 300 steps the constant rate is behind cosine ..., and at 300 steps behind WSD ...' and (the shared-peak
    finding that does not survive) 'the constant rate ended below cosine at 600 steps'."""
    first, mid, last = c5.BUDGETS
    cmp = sched["cmp"]
    for b in (first, mid):
        r = cmp["vs_cosine"][("constant", b)]
        assert r.significant and r.mean > 0, b  # measured 1.75, 2.39 (other CPU seed sets 1.39 .. 3.14)
    r = cmp["wsd_vs_constant"][mid]
    assert r.significant and r.mean < 0  # measured 0.42 (other CPU seed sets 0.34 .. 0.48)
    r = cmp["vs_cosine"][("constant", last)]
    assert not (r.significant and r.mean < 0)  # measured 1.30 (0.62 to 2.70); other seed sets 0.94 .. 1.77


def test_the_shared_peak_was_too_low(sched):
    """'... artefacts of a peak too low for cosine, inverse square root and one-cycle (whose selected peaks are all
    higher than 0.15).'"""
    for method in ("cosine", "inverse sqrt", "one-cycle"):
        for b in c5.BUDGETS:
            assert sched["selection"]["best"][(method, b)] > 0.15, (method, b)


def test_inverse_sqrt_and_one_cycle_are_not_worse_than_cosine_when_tuned(sched):
    """'Inverse square root and one-cycle, each at its own peak, are at 300 and 600 steps not worse than cosine by more
    than the factor 1.5 (the one-sided half of the TOST, a non-inferiority test).'"""
    first, mid, last = c5.BUDGETS
    for method in ("inverse sqrt", "one-cycle"):
        for b in (mid, last):
            # upper end of the 90 % interval of ln(L / L_cos) below ln 1.5: one-sided test at level 0.05
            assert sched["cmp"]["equal_loss"][(method, b)].high < math.log(c5.RATIO_MARGIN), (method, b)


def test_test_accuracy_does_not_separate_the_decayed_schedules(sched):
    """'With a margin of 1 percentage point, WSD, inverse square root, one-cycle and schedule-free are all equivalent
    to cosine at 600 steps (TOST) ... and at 150 steps [the constant rate] is clearly behind.'"""
    first, last = c5.BUDGETS[0], c5.BUDGETS[-1]
    cmp = sched["cmp"]
    for method in c5.EQUAL_ACC_METHODS:
        assert cmp["equal_acc"][(method, last)].equivalent, method  # measured TOST p <= 2e-4
    # '... while their training losses differ by a factor of up to ...': beyond the loss margin
    assert c5.equal_acc_loss_spread(cmp) > c5.RATIO_MARGIN  # measured 5.6 (cosine against schedule-free)
    r = cmp["acc_vs_cosine"][("constant", first)]
    assert r.significant and r.mean < 0  # measured -0.022 (-0.029 to -0.014)


def test_wsd_branches_cost_one_plateau_and_match_separate_runs(sched, branches):
    """'Branching costs 690 training steps ... instead of 1050 ... Each branch does what the separately trained WSD run
    of its budget does: ... equivalent within a factor 1.5 (TOST).'"""
    assert branches[0]["steps_trained"] == max(c5.BUDGETS) - c5.decay_lengths()[-1] + sum(c5.decay_lengths())
    assert [b["total_steps"] for b in branches] == list(c5.BUDGETS)
    cmp = c5.branch_comparison(branches, sched["report"], sched["selection"]["best"])
    assert c5.BUDGETS[-1] in cmp
    for b, v in cmp.items():
        assert v["equal"].equivalent, b  # measured ratios ~1.0; single seeds differ by up to ~34 % (float32 chaos)


def test_schedule_free_beats_cosine_at_its_own_rate(sched):
    """'At its own best rate, schedule-free SGD reaches a lower training loss than cosine at every budget, from one run.'"""
    for b in c5.BUDGETS:
        r = sched["cmp"]["vs_cosine"][("schedule-free", b)]
        assert r.significant and r.mean < 0  # measured 0.53, 0.36, 0.18


def test_schedule_free_still_needs_its_rate_tuned(sched):
    """'... the bottom of its grid ... ends ... times above its best ..., and one grid step above the best ... times
    above it, both more than twice the best.'"""
    score = sched["selection"]["score"][("schedule-free", c5.BUDGETS[-1])]
    best = int(np.argmin(score))
    assert score[0] - score[best] > math.log(2)  # measured 63x
    assert score[best + 1] - score[best] > math.log(2)  # measured 45x


# ---------------------------------------------------------------------------
# Section 5: LR range test
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finder():
    return c5.range_test_experiment()


def test_range_test_suggestions_against_the_rates_of_section_1(finder):
    """'The mean steepest-descent suggestion, with its whole confidence interval, lies between 0.75 times 1.0 and 1.4 ...
    The minimum over ten is below a quarter of 1.0, far below any rate that failed in section 1.'"""
    lo, mid, hi = c5.SGD_RATES
    ci = mean_ci([res.steepest for res in finder])
    assert 0.75 * lo < ci.low and ci.high < mid  # measured 1.03 ± 0.15 over 10 CPU seeds (0.81 .. 1.42 by seed)
    assert max(res.min_over_10 for res in finder) < 0.25 * lo  # measured 0.10 .. 0.21


def test_range_test_loss_does_not_explode(finder):
    """'The sweep never triggered the divergence stop ... the smoothed loss climbs back to within 10 % of chance level or above it.'"""
    assert not any(res.diverged for res in finder)
    assert all(res.smoothed[-1] > 0.9 * math.log(10) for res in finder)  # measured 2.27 .. 3.80


# ---------------------------------------------------------------------------
# Exercises (the solutions' claims; each test names its exercise's label)
# ---------------------------------------------------------------------------


def test_ex_bias_correction():
    """ex-scaling-up-bias-correction: 'The first uncorrected step is (1 - beta1)/sqrt(1 - beta2) = 3.16 times the rate
    ... the steps first *grow*: to 6.57 eta at step 12, and they are within 10 % of eta only from step 1751 on ...
    Correcting m alone would be worse still: 1/sqrt(1 - beta2) = 31.6 eta at the first step.' and 'the moments in
    torch's state give the formula to within 3e-14, and the step torch takes differs from eta by at most 2e-08, that
    is epsilon/|g|'."""
    b1, b2 = c5.ADAM_BETAS
    bias = c5.exercise_bias_correction()
    # the moment recursion itself, without Adam and without the closed form
    m = v = 0.0
    ratios = []
    for _ in range(c5.BIAS_HORIZON):
        m, v = b1 * m + (1 - b1), b2 * v + (1 - b2)
        ratios.append(m / math.sqrt(v))
    ratios = np.array(ratios)
    assert bias["first"] == pytest.approx(ratios[0]) == pytest.approx((1 - b1) / math.sqrt(1 - b2))
    peak = int(np.argmax(ratios))
    assert bias["peak_step"] == peak + 1 and bias["peak"] == pytest.approx(ratios[peak])
    assert 1 < bias["first"] < bias["peak"]  # 'the steps first grow'
    settle = peak + int(np.argmax(ratios[peak:] < 1 + c5.SETTLE_TOL))
    assert bias["settle_step"] == settle + 1 and ratios[settle - 1] >= 1.1 and settle > 1000
    assert bias["m_only_first"] > bias["peak"]  # 'worse still'
    assert bias["max_error"] < 1e-12  # torch's exp_avg / sqrt(exp_avg_sq) is the formula
    lo, hi = bias["corrected_range"]
    eps_over_g = 1e-8 / 0.5
    assert 1 - lo == pytest.approx(eps_over_g, rel=1e-3) and 1 - hi == pytest.approx(eps_over_g, rel=1e-3)


def test_ex_warmup_area(adam_warm):
    """ex-scaling-up-warmup-area: '20.50 and 20.50 steps at the peak rate ... the linear warmup is at the full rate at
    step 40, the exponential one reaches 99 % only at step 93 (tau ln 100) ... the paired difference in test accuracy,
    linear minus exponential, is ... (no difference detected).'"""
    area = c5.exercise_warmup_area()
    lin, exp = area["linear"], area["exponential"]
    assert lin["lost"] == pytest.approx((c5.WARMUP_STEPS + 1) / 2, abs=1e-12)
    tail = math.exp(-c5.ADAM_STEPS / c5.ADAM_TAU) / (1 - math.exp(-1 / c5.ADAM_TAU))  # the run ends; the sum does not
    assert exp["lost"] == pytest.approx(exp["formula"] - tail, abs=1e-9)
    assert abs(lin["lost"] - exp["lost"]) < 0.01 and f"{lin['lost']:.2f}" == f"{exp['lost']:.2f}"
    assert lin["to_99"] == c5.WARMUP_STEPS
    assert exp["to_99"] == math.ceil(c5.ADAM_TAU * math.log(100))
    names = list(c5.adam_warmup_schedules())
    assert not paired_t(adam_warm[names[1]]["test_acc"], adam_warm[names[2]]["test_acc"]).significant  # p = 0.27


def test_ex_edge_seeds(scaling):
    """ex-scaling-up-edge-seeds: 'about as many seeds trained with warmup as without ... warmup changes the fate of 12
    of the 24 seeds, and the number that train by 0 ... the 0/1 differences have a standard deviation of 0.72; two
    independent groups of seeds with the same fractions would give ... 0.67. Pairing buys nothing here. At this spread a
    paired t-test needs 412, 105 and 48 seeds to detect a gain of 10, 20 and 30 points ... the six-seed runs ... noise'."""
    from lrlab.stats import seeds_for_difference

    edge = c5.exercise_edge_seeds(scaling)
    n = c5.scale_seeds(c5.SCALE_FACTORS[-2])
    assert edge["seeds"] == n == edge["both"] + edge["warmup_only"] + edge["none_only"] + edge["neither"]
    changed = edge["warmup_only"] + edge["none_only"]
    net = abs(edge["warmup_only"] - edge["none_only"])
    assert changed >= n // 4 and changed >= 3 * max(net, 1)  # measured 12 changed, net 0
    assert edge["sd"] >= 0.9 * edge["sd_unpaired"]  # measured 0.72 against 0.67
    needed = [edge["needed"][e] for e in c5.EDGE_EFFECTS]
    assert needed == sorted(needed, reverse=True) and needed[-1] > 4 * 6
    assert needed[1] == seeds_for_difference(0.2, edge["sd"])


def test_ex_branch_cost():
    """ex-scaling-up-branch-cost: 'The counts agree with the formula. The chapter's three budgets cost 0.66 of three
    separate runs; 4 doubling budgets 0.63 (limit 0.6), and 10 evenly spaced ones 0.35 (limit 0.2).'"""
    table = c5.exercise_branch_cost()
    delta = c5.DECAY_FRACTION
    assert (table["counted"] == table["branched"]).all()
    for name, budgets in c5.BRANCH_FAMILIES.items():
        total = sum(budgets)
        assert table.loc[name, "ratio"] == pytest.approx(delta + (1 - delta) * max(budgets) / total)
    n = table.loc["evenly spaced", "n"]
    assert table.loc["evenly spaced", "ratio"] == pytest.approx(delta + 2 * (1 - delta) / (n + 1))
    assert (1 + delta) / 2 < table.loc["doubling", "ratio"] < (1 + delta) / 2 + 0.05
    assert table.loc["evenly spaced", "ratio"] < table.loc["doubling", "ratio"] < table.loc["the chapter's", "ratio"]


def test_ex_one_cycle():
    """ex-scaling-up-one-cycle: 'Cycled, it grows by div_factor (1 - mu_max)/(1 - mu_min) = 8.33-fold, and peaks at
    eta_peak/(1 - mu_min) = 6.67 eta_peak instead of 10 eta_peak at a fixed 0.9. So cycling compresses the rise
    threefold and takes a third off the effective peak, but the effective step still grows about eightfold'."""
    oc = c5.exercise_one_cycle()
    assert oc["rise"] == pytest.approx(oc["formula"], rel=1e-9)
    assert oc["peak"] == pytest.approx(1 / (1 - oc["base_momentum"]))
    start9, peak9, rise9 = oc["fixed"][c5.SCHED_MOMENTUM]
    assert rise9 == pytest.approx(oc["div_factor"]) and peak9 == pytest.approx(1 / (1 - c5.SCHED_MOMENTUM))
    assert rise9 / oc["rise"] == pytest.approx(3.0)
    assert oc["peak"] / peak9 == pytest.approx(2 / 3)
    assert 7.5 < oc["rise"] < 9  # 'about eightfold'
    assert oc["peak_step"] == int(np.argmax(oc["effective"]))  # the effective step peaks with the rate


def test_ex_averaging():
    """ex-scaling-up-averaging: 'Var(x_t) = sigma^2/(h^2 t^2) sum_m (1 - rho^m)^2 -> sigma^2/(h^2 t) ... Doubling gamma
    multiplies z's floor ... by 2.11 and changes E[x_t^2] at t = 500 by 1.5 % ... The Monte Carlo means of 10000 chains
    agree with both formulas (for x, within ... standard errors).' The limit sigma^2/(h^2 t) is the two rates' exact
    value within 3 %."""
    table = c5.exercise_averaging()
    for name in ("z", "x"):
        z = (table[f"E[{name}^2] (Monte Carlo)"] - table[f"E[{name}^2] (exact)"]) / table[f"{name} stderr"]
        assert np.all(np.abs(z) < 4), f"{name}: z-scores {z.tolist()}"
    g0, g1 = c5.AVG_RATES
    assert table["E[z^2] (exact)"].iloc[1] / table["E[z^2] (exact)"].iloc[0] == pytest.approx(
        (g1 * (2 - g0)) / (g0 * (2 - g1)), rel=1e-6)  # exact to within (1 - gamma h)^(2t)
    change = table["E[x^2] (exact)"].iloc[1] / table["E[x^2] (exact)"].iloc[0] - 1
    assert 0 < change < 0.02
    assert np.allclose(table["E[x^2] (exact)"], table["sigma^2/(h^2 t)"], rtol=0.03)
    # the closed form against a brute-force variance of the average: x_t = sum_j c_j xi_j
    t, lr = 50, 0.3
    rho = 1 - lr * c5.AVG_H
    coef = np.zeros(t)  # coefficient of xi_j in x_t
    for s in range(1, t + 1):
        coef[:s] += -lr * rho ** (s - 1 - np.arange(s)) / t
    assert np.sum(coef**2) * c5.AVG_SIGMA2 == pytest.approx(c5.averaged_variance(lr, t), rel=1e-12)
    # 'the transient ... costs the average about 1.5/(gamma h) of its t steps for small gamma h (the sum falls short
    # of t by 2 rho/(1 - rho) - rho^2/(1 - rho^2) for large t)'
    t = 20_000
    for lr in (0.01, 0.003):
        rho = 1 - lr * c5.AVG_H
        shortfall = t - c5.averaged_variance(lr, t) * c5.AVG_H**2 * t**2 / c5.AVG_SIGMA2
        assert shortfall == pytest.approx(2 * rho / (1 - rho) - rho**2 / (1 - rho**2), rel=1e-6)
        assert shortfall * lr * c5.AVG_H == pytest.approx(1.5, rel=0.02)
