"""Every quantitative claim of chapter 6 (book/transfer_learning.md), checked with the chapter's parameters.

The chapter and these tests read their parameters and routines from
:mod:`lrlab.chapters.transfer_learning`, so they cannot drift apart. Each test quotes the sentence of
the chapter it checks. One experiment (5 seeds x 12 strategies, about 11 CPU
seconds) is shared by all tests; marked ``slow``.

Tolerances: the measured values quoted in the comments come from one CPU run and
one CUDA run (H200) of the same seeds. Initial weights and minibatches are drawn
from CPU generators on both devices, so the two differ only through floating-point
rounding; the largest change seen was in the warmup, gradual-unfreezing and L2-SP
rows (e.g. warmup forgetting 0.197 CPU, 0.191 CUDA).
"""

from __future__ import annotations

import numpy as np
import pytest

import lrlab.chapters.transfer_learning as c6
from lrlab.fine_tuning import ULMFIT_DECAY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results():
    return c6.experiment()


@pytest.fixture(scope="module")
def summ(results):
    return c6.summary(results)


@pytest.fixture(scope="module")
def sweep(results):
    return c6.sweep(results)


def backbone_trainers():
    """Names of the pretrained strategies that train the backbone (all but the frozen one)."""
    return [s.name for s in c6.strategies() if s.pretrained and not s.freeze_backbone]


# ---------------------------------------------------------------------------
# Section 1: the setting
# ---------------------------------------------------------------------------


def test_pretraining_learns_the_source_task(results):
    """'Pretraining ... reaches a source test accuracy of ... % on average (at least ... %).'"""
    before = results["uniform"]["source_before"]
    assert before.min() > 0.95  # measured 0.978 .. 0.989 (CPU and CUDA); 5 classes: chance is 0.2
    # the same pretrained net serves every strategy of a seed
    for s in c6.strategies():
        if s.pretrained:
            np.testing.assert_array_equal(results[s.name]["source_before"], before)


# ---------------------------------------------------------------------------
# Section 4: what each recipe buys and costs
# ---------------------------------------------------------------------------


def test_discriminative_forgets_less_than_uniform_in_every_seed(results, summ):
    """'the uniform rate forgets ... and discriminative rates only ...: less in every seed'."""
    uni, disc = results["uniform"]["forgetting"], results["discriminative"]["forgetting"]
    assert np.all(uni > disc)  # per-seed gaps 0.056 .. 0.244 (CPU = CUDA)
    assert summ["forget_uni"] > 2 * summ["forget_disc"]  # measured 0.136 vs 0.032 (4.3x)
    assert summ["z_forget_uni_disc"] > 2  # measured 2.87


def test_uniform_and_discriminative_targets_within_noise(summ):
    """'a difference within seed noise (z = ...)' between uniform and discriminative target accuracy."""
    assert abs(summ["z_target_uni_disc"]) < 2  # measured 0.44
    assert abs(summ["target_uni"] - summ["target_disc"]) < 0.02  # measured 0.961 vs 0.956


def test_frozen_backbone_forgets_exactly_nothing(results, summ):
    """'The frozen backbone forgets exactly nothing (the backbone's weights are bit-identical, distance 0)'."""
    assert summ["frozen_max_abs_forget"] == 0.0
    assert summ["frozen_max_distance"] == 0.0
    # '... and pays for it': the lowest target accuracy of the table, far below discriminative rates
    means = {s.name: results[s.name]["target_acc"].mean() for s in c6.strategies()}
    assert min(means, key=means.get) == "frozen backbone"
    assert summ["target_frozen"] < summ["target_disc"] - 0.15  # measured 0.691 vs 0.956


def test_warmup_does_not_reduce_forgetting(summ):
    """'Warmup did not help here ... forgets ..., more than without warmup on average (paired z = ...)'."""
    assert summ["forget_warm"] > summ["forget_uni"]  # measured 0.197 (CUDA 0.191) vs 0.136
    assert summ["z_forget_warm_uni"] > 1  # measured 2.23 (CUDA 2.21)
    assert summ["target_warm"] < summ["target_uni"] + 0.01  # no target gain either: 0.958 vs 0.961


def test_stlr_best_mean_target_but_within_noise(results, summ):
    """'The slanted triangular rate gives the best mean target accuracy ...; both differences from the
    uniform rate are within seed noise'."""
    means = {s.name: results[s.name]["target_acc"].mean() for s in c6.strategies()}
    assert max(means, key=means.get) == "slanted triangular"  # 0.975, next 0.961 (uniform)
    assert abs(summ["z_target_stlr_uni"]) < 2  # measured 1.23
    assert abs(summ["z_forget_stlr_uni"]) < 2  # measured -1.52


def test_stlr_keeps_backbone_closer_in_every_seed(results):
    """'What is not noise is the distance: the decaying rate keeps the backbone closer to theta_pre'."""
    gap = results["uniform"]["distance"] - results["slanted triangular"]["distance"]
    assert np.all(gap > 1.0)  # measured 1.90 .. 3.18


def test_gradual_unfreezing_first_epoch_is_the_frozen_backbone(results, summ):
    """'it trains only the head there, exactly like the frozen backbone ... no better than the uniform rate'."""
    np.testing.assert_array_equal(results["gradual unfreezing"]["curve"][:, 0], results["frozen backbone"]["curve"][:, 0])
    assert summ["z_forget_grad_uni"] > -2  # not significantly less forgetting: measured 0.37 (CUDA 0.72)
    assert summ["target_grad"] < summ["target_uni"]  # measured 0.922 (CUDA 0.919) vs 0.961


def test_ulmfit_combination_forgets_almost_nothing_but_learns_slowest(results, summ):
    """'Combined ... as in ULMFiT it forgets almost nothing (...) but is the slowest learner (...)'."""
    assert summ["forget_ulm"] < 0.01  # measured 0.003 (one accuracy point = 0.01)
    means = {name: results[name]["target_acc"].mean() for name in backbone_trainers()}
    assert min(means, key=means.get) == "ULMFiT (discr. + STLR + gradual)"  # 0.838, next 0.903 (L2-SP)


def test_pretraining_helps_little_at_this_data_size(summ):
    """'The from-scratch reference reaches ... against ... for the uniform fine-tune, within seed noise'."""
    assert abs(summ["z_target_scratch_uni"]) < 2  # measured -1.10


# ---------------------------------------------------------------------------
# Section 5: the rate as temperature
# ---------------------------------------------------------------------------


def test_sweep_larger_backbone_rate_learns_faster_and_forgets_more(sweep):
    """'Along the sweep the mean target accuracy after one epoch falls ..., the distance shrinks in every
    seed, and the mean forgetting falls ... to zero.'"""
    assert list(sweep["decays"][:-1]) == list(c6.SWEEP_DECAYS) and np.isinf(sweep["decays"][-1])
    epoch1 = sweep["epoch1_acc"].mean(axis=1)
    assert np.all(np.diff(epoch1) < 0), epoch1  # measured 0.785, 0.750, 0.698, 0.609, 0.562, 0.530
    assert np.all(np.diff(sweep["distance"], axis=0) < 0)  # every seed: smallest step 0.33
    forget = sweep["forgetting"].mean(axis=1)
    assert np.all(np.diff(forget) < 0), forget  # measured 0.136, 0.059, 0.032, 0.011, 0.009, 0
    assert forget[-1] == 0.0


def test_sweep_target_flat_then_drops(sweep):
    """'The final target accuracy is flat up to xi = 2.6 and then drops'."""
    target = sweep["target_acc"].mean(axis=1)
    k = list(c6.SWEEP_DECAYS).index(ULMFIT_DECAY)
    flat = target[: k + 1]
    assert flat.max() - flat.min() < 0.02  # measured 0.961, 0.956, 0.956
    assert np.all(np.diff(target[k:]) < -0.02)  # measured 0.956, 0.900, 0.822, 0.691
    assert np.all(sweep["target_acc"][k + 1] < sweep["target_acc"][k])  # xi = 5 below 2.6 in every seed


def test_distance_predicts_forgetting(results, summ):
    """'Over all ... fine-tuning runs, the rank correlation between distance and forgetting is ...'."""
    assert summ["n_runs_rho"] == (len(backbone_trainers()) + 1 + len(c6.sweep_strategies())) * len(c6.SEEDS)
    assert summ["rho_distance_forgetting"] > 0.8  # measured 0.935 (CUDA 0.936)


def test_constant_rate_recipes_walk_furthest(summ):
    """'The recipes that keep a full constant rate on the backbone for most of the run (uniform, warmup,
    gradual unfreezing) walk furthest; the decaying STLR walks less'."""
    far = min(summ["dist_uni"], summ["dist_warm"], summ["dist_grad"])  # 7.03
    near = max(summ["dist_stlr"], summ["dist_l2sp"], summ["dist_disc"], summ["dist_ulm"], summ["dist_frozen"])
    assert far > near + 1.0  # measured 7.03 vs 4.83


def test_l2sp_as_close_as_discriminative_but_worse_target(results, summ):
    """'L2-SP pulls the backbone as close to theta_pre as discriminative rates do, but reaches a lower
    target accuracy (..., paired z = ...) and forgets no less (... a difference within seed noise)'."""
    assert np.all(results["L2-SP"]["distance"] < results["uniform"]["distance"] / 1.8)  # 3.1-3.3 vs 6.6-8.2
    assert summ["dist_l2sp"] == pytest.approx(summ["dist_disc"], rel=0.2)  # measured 3.22 vs 3.10
    assert summ["target_l2sp"] < summ["target_disc"]  # measured 0.908 (CUDA 0.903) vs 0.956
    assert summ["z_target_l2sp_disc"] < -1.5  # measured -2.01 (CUDA -2.28)
    assert summ["forget_l2sp"] >= summ["forget_disc"] - 0.005  # 'no less': measured 0.050 vs 0.032
    assert abs(summ["z_forget_l2sp_disc"]) < 2  # within noise: measured 0.77 (CUDA 1.00)
