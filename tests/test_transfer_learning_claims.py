"""Every quantitative claim of chapter 6 (book/transfer_learning.md), checked with the chapter's parameters.

The chapter and these tests read their parameters and routines from
:mod:`lrlab.chapters.transfer_learning`, so they cannot drift apart. Each test quotes the sentence of
the chapter it checks. One experiment is shared by all tests (tuning: 9 strategies x 6 head rates x 8
seeds on a validation split; report: 15 runs x 24 other seeds; all batched, about 10 CPU seconds);
marked ``slow``.

Statistics: differences are paired t-tests over the reported seeds (lrlab.stats.paired_t, 95%),
"no difference" claims are TOST equivalence tests with the chapter's margin of one accuracy point
(lrlab.stats.tost), and a "no difference detected" sentence is asserted as exactly that: the t-test is
not significant and the TOST does not establish equivalence. No assertion compares a random number
with its value on one run; the values quoted in comments are from one CPU run (24 seeds) and only
document the margins. Initial weights and minibatches come from seeded CPU generators on every device,
so a CUDA run differs from a CPU run only through floating-point rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import lrlab.chapters.transfer_learning as c6
from lrlab.fine_tuning import ULMFIT_DECAY, tasks
from lrlab.stats import paired_t

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results():
    return c6.experiment()


@pytest.fixture(scope="module")
def summ(results):
    return c6.summary(results)


@pytest.fixture(scope="module")
def comp(results):
    return c6.comparisons(results)


@pytest.fixture(scope="module")
def sweep(results):
    return c6.sweep(results)


def means(results, names, key="target_acc"):
    return {n: results[n][key].mean() for n in names}


def table_names():
    return [s.name for s in c6.strategies()]


def higher(r) -> bool:
    """A paired difference a - b that is positive with 95% confidence."""
    return r.significant and r.mean > 0


def lower(r) -> bool:
    return r.significant and r.mean < 0


# ---------------------------------------------------------------------------
# Section 1: the setting
# ---------------------------------------------------------------------------


def test_pretraining_learns_the_source_task(results, summ):
    """'Pretraining ... reaches a source test accuracy of ... % on average over the ... reported seeds
    (at least ... %).' and 'One network is pretrained per seed and reused by every strategy of that seed'."""
    assert summ["source_before_min"] > 95  # measured 97.8 .. 99.3; 5 classes: chance is 20
    before = results["uniform"]["source_before"]
    for name in c6.pretrained_runs():
        np.testing.assert_array_equal(results[name]["source_before"], before)


# ---------------------------------------------------------------------------
# Section 4: the tuning protocol
# ---------------------------------------------------------------------------


def test_tuning_runs_on_other_seeds_and_a_validation_split():
    """'Each head rate of the grid ... runs on ... tuning seeds that are never reported, training on 75 % of
    the target's training images and scoring on the held-out 25 % (the test set chooses nothing).'"""
    assert len(c6.SEEDS) >= 10 and not set(c6.SEEDS) & set(c6.TUNE_SEEDS)
    _, target = tasks(device="cpu")
    val = c6.validation_split(target)
    rows = lambda x: {tuple(r) for r in x.numpy().round(6)}  # noqa: E731
    assert len(val.y_train) + len(val.y_test) == len(target.y_train)
    assert len(val.y_test) == pytest.approx(c6.VAL_FRACTION * len(target.y_train), abs=target.n_classes)
    assert not rows(val.x_test) & rows(val.x_train)  # held out from the fit ...
    assert rows(val.x_test) <= rows(target.x_train)  # ... and taken from the training images, not the test set


def test_every_best_and_chosen_rate_is_inside_the_grid(results):
    """'For every strategy both the best rate and the chosen one lie inside the grid.'"""
    last = len(c6.PEAK_GRID) - 1
    for name, acc in results["tuning"].items():
        best = int(np.argmax(acc.mean(axis=1)))
        chosen = c6.select_peak(acc)
        assert 0 < best < last, (name, best)
        assert 0 < chosen < last, (name, chosen)
        assert chosen <= best  # the one-standard-error rule never picks a larger rate than the best
        assert results[name]["peak_lr"] == c6.PEAK_GRID[chosen]


def test_one_standard_error_rule_picks_the_smallest_rate_within_one_error():
    """'we keep the smallest whose mean validation accuracy is within one standard error of the best'."""
    acc = np.array([[0.80, 0.82, 0.81, 0.80],     # clearly worse
                    [0.93, 0.91, 0.93, 0.91],     # within one paired se of the best
                    [0.91, 0.93, 0.92, 0.925],    # the best mean
                    [0.50, 0.60, 0.40, 0.55]])
    assert c6.select_peak(acc) == 1
    acc[1] -= 0.05  # now clearly worse than the best: the best itself is chosen
    assert c6.select_peak(acc) == 2


# ---------------------------------------------------------------------------
# Section 4: what each recipe buys and costs (each at its chosen head rate)
# ---------------------------------------------------------------------------


def test_uniform_and_discriminative_reach_the_same_target_within_one_point(comp):
    """'They reach ... % and ... %, equivalent within one point: ...'."""
    eq = comp["eq_target_uni_disc"]
    assert eq.margin == 1.0 == 100 * c6.MARGIN
    assert eq.equivalent  # TOST p = 0.01; 90% CI -0.5 to 0.7 points


def test_seeds_power_the_equivalence_test_at_the_pilot_spread():
    """'... seeds give that test 80% power at the spread of target-accuracy differences seen in a pilot run
    (standard deviation ... points per seed; at the spread measured here, ... seeds).'"""
    from lrlab.stats import seeds_for_difference

    assert seeds_for_difference(100 * c6.MARGIN, c6.PILOT_SD_TARGET, alpha=0.1) <= len(c6.SEEDS)


def test_uniform_and_discriminative_forgetting_no_difference_detected(comp, summ):
    """'a difference of ...: no difference was detected, and the experiment cannot rule out one of ...
    points. To show equivalence within one point at this spread would take about ... seeds.'"""
    assert not comp["forget_uni_disc"].significant  # p = 0.18
    assert not comp["eq_forget_uni_disc"].equivalent  # 95% CI -4.6 to 0.9 points
    assert max(abs(comp["forget_uni_disc"].low), abs(comp["forget_uni_disc"].high)) > 100 * c6.MARGIN
    assert summ["seeds_tost_forget_uni_disc"] > len(c6.SEEDS)  # 257 seeds


def test_frozen_backbone_forgets_exactly_nothing_and_learns_least(results, summ, comp):
    """'The frozen backbone forgets exactly nothing (the backbone's weights are bit-identical, distance 0.0),
    and pays for it: ... %, the lowest target accuracy of the table, ... points from the next lowest (...)'."""
    assert summ["frozen_max_abs_forget"] == 0.0
    assert summ["frozen_max_distance"] == 0.0
    assert c6.ranking(results)[-1] == "frozen backbone"
    assert lower(comp["target_worst_next"])  # -19.4 points (95% CI -21.2 to -17.7)


def test_warmup_matches_uniform_target_and_does_not_reduce_forgetting(comp):
    """'it matches the uniform rate's target accuracy within one point (...) and does not reduce forgetting:
    the paired difference is ... points.'"""
    assert comp["eq_target_warm_uni"].equivalent  # TOST p = 0.0004
    assert comp["forget_warm_uni"].high > 0  # not less forgetting: +1.7 (95% CI 0.5 to 3.0)


def test_stlr_best_target_and_most_forgetting(results, comp, summ):
    """'The slanted triangular rate chose a larger head rate, ..., and reached the best target accuracy of the
    table, ... points above the next best (...) and ... above the uniform rate. It paid in forgetting: ...
    points, ... more than the uniform rate, and its backbone walked the furthest of the table's fine-tunes
    (... further than the next, gradual unfreezing)'."""
    assert summ["peak_stlr"] > summ["peak_uni"]  # 0.2 vs 0.05
    assert c6.ranking(results)[0] == "slanted triangular"
    assert higher(comp["target_best_next"])  # +0.9 over warmup
    assert higher(comp["target_stlr_uni"])  # +1.0 (95% CI 0.4 to 1.6)
    assert higher(comp["forget_stlr_uni"])  # +20.3 (95% CI 16.6 to 24.0)
    fine_tunes = [s.name for s in c6.strategies() if s.pretrained]
    dist = means(results, fine_tunes, "distance")
    assert sorted(dist, key=dist.get)[-2:] == ["gradual unfreezing", "slanted triangular"]
    assert higher(comp["dist_stlr_grad"])  # 8.76 vs 7.01


def test_gradual_unfreezing_loses_the_first_epoch_and_ends_lower(comp):
    """'Gradual unfreezing loses the first epoch, where it trains only the head: ... % after one epoch, ...
    points from the uniform rate. At its head rate ... it ends ... points from the uniform rate on the target
    and forgets ... points more.'"""
    gradual = {s.name: s for s in c6.strategies()}["gradual unfreezing"]
    assert gradual.plan(3, c6.EPOCHS)[0] == (2,)  # the first epoch trains the head only
    assert lower(comp["epoch1_grad_uni"])  # -14.5 points
    assert lower(comp["target_grad_uni"])  # -4.0 (95% CI -6.1 to -1.9)
    assert higher(comp["forget_grad_uni"])  # +9.2 (95% CI 6.0 to 12.5)


def test_ulmfit_ends_below_the_uniform_rate(comp):
    """'Combined with discriminative rates and STLR as in ULMFiT ... it ends ... points from the uniform rate
    ... With only ... epochs, its caution costs more than it saves'."""
    assert lower(comp["target_ulm_uni"])  # -7.3 (95% CI -8.9 to -5.7)


def test_pretraining_helped_by_less_than_three_points(comp):
    """'Pretraining helped, by less than three points. The from-scratch reference ... reaches ... %, ...
    points from the uniform fine-tune'."""
    r = comp["target_scratch_uni"]
    assert lower(r)  # -1.5 (95% CI -2.2 to -0.7)
    assert r.low > -3


# ---------------------------------------------------------------------------
# Section 5: how far the weights travel
# ---------------------------------------------------------------------------


def test_sweep_larger_backbone_rate_learns_faster_and_forgets_more(comp, sweep):
    """'Each step along the sweep (xi = 1, 1.6, 2.6, 5, 10, inf) lowers the backbone's rate, and at every step
    the accuracy after one epoch falls (paired, largest p = ...), the distance shrinks in every seed, and the
    forgetting falls (largest p = ...), from ... points at xi = 1 to zero.'"""
    assert list(sweep["decays"][:-1]) == list(c6.SWEEP_DECAYS) and np.isinf(sweep["decays"][-1])
    for i in range(len(c6.SWEEP_DECAYS)):
        assert higher(comp[f"sweep_epoch1_{i}"]), i  # largest p 3e-4
        assert higher(comp[f"sweep_forget_{i}"]), i  # largest p 2e-3
    assert np.all(np.diff(sweep["distance"], axis=0) < 0)
    assert np.all(sweep["forgetting"][-1] == 0.0)


def test_sweep_target_no_detected_change_to_ulmfit_then_drops(comp):
    """'The final target accuracy shows no detected change from xi = 1 to xi = 2.6 (...), while the forgetting
    falls by ... points; beyond xi = 2.6 it drops at every step (largest p = ...)'."""
    assert not comp["sweep_target_first_ulmfit"].significant  # -0.2 (95% CI -1.7 to 1.4)
    assert higher(comp["sweep_forget_first_ulmfit"])  # +12.0 (95% CI 7.8 to 16.2)
    k = list(c6.SWEEP_DECAYS).index(ULMFIT_DECAY)
    for i in range(k, len(c6.SWEEP_DECAYS)):
        assert higher(comp[f"sweep_target_{i}"]), i  # largest p 2e-11


def test_distance_predicts_forgetting(results, summ):
    """'Over all ... runs that started from the pretrained weights, the rank correlation between distance and
    forgetting is ... (95% bootstrap interval over seeds ... to ..., above 0.75).'"""
    assert summ["n_runs_rho"] == len(c6.pretrained_runs()) * len(c6.SEEDS)
    assert summ["rho_low"] <= summ["rho_distance_forgetting"] <= summ["rho_high"]
    assert summ["rho_low"] > 0.75  # measured 0.84 (0.88, up to 0.91)


def test_stlr_walks_furthest_and_forgets_most(results):
    """'The recipe that walks furthest, STLR at its tuned rate, is also the one that forgets most.'"""
    fine_tunes = [s.name for s in c6.strategies() if s.pretrained]
    dist, forget = means(results, fine_tunes, "distance"), means(results, fine_tunes, "forgetting")
    assert max(dist, key=dist.get) == max(forget, key=forget.get) == "slanted triangular"
    runner_up = sorted(forget, key=forget.get)[-2]
    assert higher(paired_t(results["slanted triangular"]["forgetting"], results[runner_up]["forgetting"]))


def test_l2sp_pulls_back_and_pays_on_the_target(comp):
    """'L2-SP ... pulls the backbone back: against the uniform rate, its distance changes by ..., its forgetting
    by ... points, and its target accuracy by ... points. It buys less forgetting with target accuracy'."""
    assert lower(comp["dist_l2sp_uni"])  # -1.91
    assert lower(comp["forget_l2sp_uni"])  # -5.0 (95% CI -6.5 to -3.4)
    assert lower(comp["target_l2sp_uni"])  # -1.8 (95% CI -2.6 to -1.0)


# ---------------------------------------------------------------------------
# Exercises (the solutions' claims; each test names its exercise's label)
# ---------------------------------------------------------------------------


def test_ex_stlr_mean(summ):
    """ex-transfer-learning-stlr-mean: 'the mean rate is eta_max (ratio + 1)/(2 ratio) = 0.5156 eta_max for ratio 32:
    a triangle's area depends on its base and height, not on where its apex is. With T = 76, cut = 7, so the fall ends
    at 70 ... and the mean is 0.4774 eta_max (lrlab.fine_tuning.slanted_triangular_schedule agrees with both formulas)'
    and 'Its tuning chose 0.2, so on average it trained at 1.9 times the uniform recipe's rate'."""
    from lrlab.fine_tuning import slanted_triangular_schedule

    table = c6.exercise_stlr_mean()
    assert np.allclose(table["mean"], table["formula"], rtol=0, atol=1e-12)
    run = c6.EPOCHS * c6.epoch_steps()
    assert table.index[0] == run and table.loc[run, "end"] < run
    assert table["mean"].iloc[1] == pytest.approx(33 / 64, abs=1e-12)
    for cut_frac in (0.05, 0.25, 0.5):  # 'whatever cut_frac is' (T cut_frac an integer)
        s = slanted_triangular_schedule(1.0, 80, cut_frac=cut_frac)
        assert np.mean(s(np.arange(80))) == pytest.approx(33 / 64, abs=1e-12)
    assert summ["peak_stlr"] * table.loc[run, "mean"] / summ["peak_uni"] > 1.5  # measured 1.9


def test_ex_double_rate(results):
    """ex-transfer-learning-double-rate: 'a rate 2 times larger would walk 2 times as far. The backbone walked 1.55
    times as far (... 95 % CI 1.51 to 1.60) ... The forgetting, though, went from 9.2 to 18.5 points, 2.02 times as
    much (paired difference ...): it grew faster than the distance. The target accuracy did not improve (... no gain
    detected).'"""
    d = c6.exercise_double_rate(results)
    assert d["factor"] > 1, "the uniform rate's chosen head rate must be below the sweep's for this exercise"
    assert 1 < d["distance"]["low"] and d["distance"]["high"] < d["factor"]  # further, but less than the rate says
    assert higher(d["forget_diff"])
    assert d["forget_ratio"] > d["distance"]["high"]  # 2.02 against at most 1.60
    assert not higher(d["target_diff"])  # -1.0 (95% CI -2.4 to 0.4)


def test_ex_rate_budget(results):
    """ex-transfer-learning-rate-budget: 'Over the 14 runs the rank correlation of budget and mean distance is 0.93 ...
    The run that travels least per unit of budget is L2-SP (0.35, the next lowest 0.47): its budget is the uniform
    recipe's ... a fit of log(distance) on log B has slope 0.58, so small budgets go further per unit than large ones'."""
    budget = c6.exercise_rate_budget(results)
    table = budget["table"]
    assert len(table) == len(c6.pretrained_runs())
    steps = c6.EPOCHS * c6.epoch_steps()
    uni = results["uniform"]["peak_lr"]
    assert table.loc["uniform", "budget B"] == pytest.approx(len(c6.WIDTHS) * uni * steps)  # the sum by hand
    disc = results["discriminative"]["peak_lr"]
    assert table.loc["discriminative", "budget B"] == pytest.approx(disc * steps * (1 / ULMFIT_DECAY + ULMFIT_DECAY**-2))
    assert table.loc["L2-SP", "budget B"] == table.loc["uniform", "budget B"]
    assert budget["rho"] > 0.85  # measured 0.93
    assert budget["lowest"] == "L2-SP"
    assert budget["slope"] < 0.8  # measured 0.58: sublinear


def test_ex_layer_distances(results):
    """ex-transfer-learning-layer-distances: 'the slower layers moved much more than their rates suggest: 0.32 of the
    uniform run's distance for the first layer (rate ratio 0.148) and 0.67 for the second (0.385), in every seed ...
    Under the uniform rate the first layer moves most ... their whole-backbone distances agree with the sweep's to
    4e-07.'"""
    layers = c6.exercise_layer_distances()
    assert np.all(layers["ratio"] > 1.5 * layers["predicted"])  # every seed and layer: measured 2.1x and 1.7x
    assert np.all(layers["uniform"][:, 0] > layers["uniform"][:, 1])
    n = len(c6.LAYER_SEEDS)
    sweep_total = np.stack([results["xi = 1"]["distance"][:n], results["xi = 2.6"]["distance"][:n]])
    assert np.allclose(layers["total"], sweep_total, rtol=1e-4)
    assert np.allclose(np.sqrt((layers["uniform"] ** 2).sum(1)), layers["total"][0], rtol=1e-6)


def test_ex_l2sp(results):
    """ex-transfer-learning-l2sp: 'A toy run ... lands on h/(h + alpha) ... tau = 40 steps, about half of the 76 steps
    of a run ... L2-SP keeps tau (1 - e^{-T/tau})/T = 0.45 of the displacement. The exact heavy-ball recursion keeps
    0.53 ... On the network, L2-SP's backbone travelled 0.58 of the uniform recipe's distance at the same head rate
    (95 % CI ...): between the flat directions' 0.53 and 1'."""
    l2sp = c6.exercise_l2sp(results)
    eq = l2sp["equilibrium"]
    assert np.allclose(eq.iloc[:, 1], eq.iloc[:, 0], atol=1e-9)
    assert l2sp["tau"] == pytest.approx((1 - c6.MOMENTUM) / (l2sp["lr"] * c6.L2SP_ALPHA))
    assert 0.4 < l2sp["tau"] / l2sp["steps"] < 0.65
    T, tau = l2sp["steps"], l2sp["tau"]
    assert l2sp["drift_formula"] == pytest.approx(tau * (1 - math.exp(-T / tau)) / T)
    assert l2sp["drift_formula"] < l2sp["drift_sim"] < 1
    assert l2sp["same_rate"], "L2-SP and the uniform rate chose different head rates: restate the comparison"
    assert l2sp["drift_sim"] < l2sp["network"]["low"] and l2sp["network"]["high"] < 1  # measured 0.58 (0.57 to 0.59)
