"""Tests of :mod:`lrlab.stats` against independent computations (scipy's own tests, simulation)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from lrlab.stats import mean_ci, paired_t, seeds_for_difference, tost


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 12), rng.normal(0.6, 1.0, 12)
    ours, ref = paired_t(a, b), st.ttest_rel(a, b)
    assert ours.t == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-10)
    lo, hi = ref.confidence_interval(0.95)
    assert (ours.low, ours.high) == pytest.approx((lo, hi), rel=1e-10)


def test_mean_ci_covers_the_true_mean_at_its_level():
    """Coverage of the t interval over many simulated experiments of 5 seeds: 95 % within sampling error."""
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(20000, 5))
    covered = np.mean([abs(mean_ci(row).mean - 3.0) <= mean_ci(row).half_width for row in x[:4000]])
    assert abs(covered - 0.95) < 4 * np.sqrt(0.95 * 0.05 / 4000)


def test_tost_rejects_at_its_level_on_the_margin():
    """With the true difference exactly on the margin, TOST claims equivalence in alpha of experiments.

    (With few seeds and a wide interval it claims it less often: TOST is conservative when underpowered,
    so the two-sided check uses enough seeds for the far side not to matter.)
    """
    rng = np.random.default_rng(2)
    n, trials, margin = 60, 4000, 0.5
    hits = sum(tost(rng.normal(margin, 1.0, n), np.zeros(n), margin).equivalent for _ in range(trials))
    assert hits / trials < 0.05 + 4 * np.sqrt(0.05 * 0.95 / trials)
    assert hits / trials > 0.05 - 4 * np.sqrt(0.05 * 0.95 / trials)  # and is not needlessly conservative


def test_tost_finds_equivalence_when_the_difference_is_small_and_well_measured():
    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 1.0, 40)
    assert tost(a + rng.normal(0.0, 0.05, 40), a, margin=0.1).equivalent
    assert not tost(a + 0.3 + rng.normal(0.0, 0.05, 40), a, margin=0.1).equivalent


def test_seeds_for_difference_gives_the_power_it_promises():
    n = seeds_for_difference(0.8, 1.0)
    rng = np.random.default_rng(4)
    power = np.mean([paired_t(rng.normal(0.8, 1.0, n), np.zeros(n)).significant for _ in range(3000)])
    assert power >= 0.8 - 4 * np.sqrt(0.16 / 3000)
    power_less = np.mean([paired_t(rng.normal(0.8, 1.0, n - 2), np.zeros(n - 2)).significant for _ in range(3000)])
    assert power_less < 0.8


@pytest.mark.parametrize("call, match", [
    (lambda: paired_t([1.0], [2.0]), "at least 2"),
    (lambda: paired_t([1.0, np.nan], [2.0, 1.0]), "non-finite"),
    (lambda: tost([1.0, 2.0], [1.0, 2.0], margin=0), "margin"),
    (lambda: mean_ci([1.0, 2.0], level=1.5), "level"),
    (lambda: seeds_for_difference(0.0, 1.0), "effect"),
])
def test_bad_input_says_what_is_wrong(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bonferroni_threshold_holds_its_false_alarm_rate_for_correlated_steps():
    """Largest |z| of 200 steps of an AR(1) path (correlation 0.9, like successive steps of one simulation)."""
    from lrlab.stats import bonferroni_z

    rng = np.random.default_rng(5)
    trials, m, rho = 20000, 200, 0.9
    z = np.empty((trials, m))
    z[:, 0] = rng.normal(size=trials)
    for k in range(1, m):
        z[:, k] = rho * z[:, k - 1] + np.sqrt(1 - rho**2) * rng.normal(size=trials)
    threshold = bonferroni_z(m, alpha=0.05)
    rate = np.mean(np.abs(z).max(1) > threshold)
    assert rate <= 0.05  # conservative under positive correlation
    assert rate > 0.005  # but not absurdly so at this correlation


def test_binomial_ci_covers_at_least_its_level_for_every_true_fraction():
    """Clopper-Pearson is exact: coverage >= 95 % computed from the binomial law itself, not simulated."""
    from lrlab.stats import binomial_ci

    n = 12
    bounds = [binomial_ci(k, n) for k in range(n + 1)]
    for p in np.linspace(0.01, 0.99, 99):
        coverage = sum(st.binom.pmf(k, n, p) for k, (lo, hi) in enumerate(bounds) if lo <= p <= hi)
        assert coverage >= 0.95 - 1e-12, (p, coverage)


def test_proportion_difference_reproduces_newcombe_and_covers():
    from lrlab.stats import proportion_difference

    d, lo, hi = proportion_difference(5, 56, 0, 29)  # Newcombe 1998, table II example (f): -0.0893 (-0.1926, 0.0381)
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (-0.0893, -0.1926, 0.0381)
    rng = np.random.default_rng(6)
    hits = [lo <= 0.1 <= hi for lo, hi in
            (proportion_difference(int(a), 80, int(b), 80)[1:] for a, b in zip(rng.binomial(80, 0.3, 3000),
                                                                               rng.binomial(80, 0.4, 3000)))]
    assert abs(np.mean(hits) - 0.95) < 4 * np.sqrt(0.05 * 0.95 / 3000)


def test_wilson_interval_is_the_one_annealing_uses():
    from lrlab import annealing, stats

    assert annealing.wilson_interval is stats.wilson_interval
