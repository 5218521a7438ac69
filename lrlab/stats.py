r"""Statistics for comparisons over seeds: confidence intervals, paired t-tests, equivalence tests.

Every comparison in the book runs each method on the *same* seeds (same initial
weights, same minibatches: common random numbers), so the natural unit is the
per-seed difference :math:`d_i = a_i - b_i`, and the tests below are *paired*.
With :math:`n` seeds, mean :math:`\bar d` and sample standard deviation
:math:`s_d`, the statistic :math:`t = \bar d / (s_d/\sqrt n)` has Student's t
distribution with :math:`n - 1` degrees of freedom when the differences are
normal (Student 1908), so

- the :math:`1-\alpha` confidence interval of the mean difference is
  :math:`\bar d \pm t_{1-\alpha/2,\,n-1}\, s_d/\sqrt n` (:func:`paired_t`);
- "no difference larger than :math:`\Delta`" is shown by two one-sided tests
  (TOST, Schuirmann 1987): both :math:`H_0: \mu_d \le -\Delta` and
  :math:`H_0: \mu_d \ge \Delta` are rejected at level :math:`\alpha`, which is
  the same as the :math:`1 - 2\alpha` interval lying inside
  :math:`(-\Delta, \Delta)` (:func:`tost`). A non-significant t-test is *not*
  evidence of equality; an equivalence test with a stated margin is.

>>> a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
>>> r = paired_t(a + 0.5 + np.array([0.1, -0.1, 0.0, 0.1, -0.1]), a)
>>> round(r.mean, 3), r.significant
(0.5, True)
>>> tost(a + np.array([0.01, -0.01, 0.0, 0.01, -0.01]), a, margin=0.1).equivalent
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from ._validate import check_fraction, check_int

__all__ = [
    "MeanCI",
    "PairedTest",
    "Equivalence",
    "mean_sd",
    "mean_ci",
    "paired_t",
    "tost",
    "seeds_for_difference",
    "max_abs_z",
    "bonferroni_z",
    "wilson_interval",
    "binomial_ci",
    "proportion_difference",
]


def _sample(name: str, values, minimum: int = 2) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size < minimum:
        raise ValueError(f"{name} needs at least {minimum} values (seeds), got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains non-finite values: {x[~np.isfinite(x)][:3].tolist()} "
                         "(a diverged run? report divergence separately, before averaging)")
    return x


def _level(level: float) -> float:
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got level={level!r}")
    return level


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1) over seeds, as Python floats.

    >>> mean_sd([1.0, 2.0, 3.0])
    (2.0, 1.0)
    """
    x = _sample("values", values)
    return float(x.mean()), float(x.std(ddof=1))


@dataclass(frozen=True)
class MeanCI:
    """A mean with its t-based confidence interval: ``mean ± half_width`` at ``level``, over ``n`` seeds."""

    mean: float
    half_width: float
    n: int
    level: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def __format__(self, spec: str) -> str:
        spec = spec or ".3g"
        return f"{self.mean:{spec}} ± {self.half_width:{spec}}"


def mean_ci(values, level: float = 0.95) -> MeanCI:
    r"""Mean over seeds and the half-width of its t interval, :math:`t_{(1+\text{level})/2,\,n-1}\, s/\sqrt n`.

    >>> ci = mean_ci([1.0, 2.0, 3.0])
    >>> round(ci.half_width, 4)    # t_{0.975, 2} = 4.3027, s / sqrt(3) = 0.5774
    2.4841
    >>> f"{ci:.2f}"
    '2.00 ± 2.48'
    """
    x = _sample("values", values)
    level = _level(level)
    se = x.std(ddof=1) / np.sqrt(x.size)
    return MeanCI(float(x.mean()), float(_st.t.ppf(0.5 + level / 2, x.size - 1) * se), int(x.size), level)


@dataclass(frozen=True)
class PairedTest:
    """A paired t-test of ``a - b``: mean difference, its confidence interval, t, two-sided p, seeds."""

    mean: float
    low: float
    high: float
    t: float
    p: float
    n: int
    level: float

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero (two-sided p below ``1 - level``)."""
        return self.p < 1 - self.level

    def __format__(self, spec: str) -> str:
        spec = spec or ".3g"
        return (f"{self.mean:{spec}} (95% CI {self.low:{spec}} to {self.high:{spec}}, "
                f"paired t = {self.t:.2f}, p = {self.p:.2g}, n = {self.n})").replace("95%", f"{self.level:.0%}")


def paired_t(a, b, level: float = 0.95) -> PairedTest:
    r"""Paired t-test of the per-seed differences :math:`d_i = a_i - b_i` (same seeds, same batches).

    Returns the mean difference, its ``level`` confidence interval
    :math:`\bar d \pm t_{(1+\text{level})/2,\,n-1}\, s_d/\sqrt n`, the statistic
    :math:`t = \bar d\sqrt n / s_d` and its two-sided p-value (Student 1908).

    >>> r = paired_t([2.0, 3.0, 4.0, 5.0], [1.0, 2.5, 3.0, 4.5])
    >>> round(r.mean, 3), round(r.t, 3), round(r.p, 4)
    (0.75, 5.196, 0.0138)
    >>> paired_t([1.0, 2.0], [1.0])
    Traceback (most recent call last):
    ...
    ValueError: a and b must hold the same seeds (one value per seed each), got 2 and 1 values
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a and b must hold the same seeds (one value per seed each), got {a.size} and {b.size} values")
    d = _sample("a - b", a - b)
    level = _level(level)
    n = d.size
    se = d.std(ddof=1) / np.sqrt(n)
    mean = float(d.mean())
    if se == 0:
        t = 0.0 if mean == 0 else float(np.sign(mean) * np.inf)
        p = 1.0 if mean == 0 else 0.0
        return PairedTest(mean, mean, mean, t, p, n, level)
    t = mean / se
    half = float(_st.t.ppf(0.5 + level / 2, n - 1) * se)
    return PairedTest(mean, mean - half, mean + half, float(t), float(2 * _st.t.sf(abs(t), n - 1)), n, level)


@dataclass(frozen=True)
class Equivalence:
    """A paired equivalence test (TOST): is ``|mean(a - b)| < margin``?

    ``low`` and ``high`` bound the ``1 - 2 alpha`` interval of the mean difference;
    ``p`` is the larger of the two one-sided p-values.
    """

    mean: float
    low: float
    high: float
    margin: float
    p: float
    n: int
    alpha: float

    @property
    def equivalent(self) -> bool:
        """True when both one-sided tests reject: the difference is within ``± margin`` at level ``alpha``."""
        return self.p < self.alpha

    def __format__(self, spec: str) -> str:
        spec = spec or ".3g"
        return (f"{self.mean:{spec}} ({1 - 2 * self.alpha:.0%} CI {self.low:{spec}} to {self.high:{spec}}, "
                f"margin ± {self.margin:{spec}}, TOST p = {self.p:.2g}, n = {self.n})")


def tost(a, b, margin: float, alpha: float = 0.05) -> Equivalence:
    r"""Paired two one-sided tests (Schuirmann 1987) of :math:`|\mu_{a-b}| < \Delta` with :math:`\Delta` = ``margin``.

    :math:`p = \max(p_-, p_+)` with :math:`p_- = P(T \ge (\bar d + \Delta)/\mathrm{se})`
    and :math:`p_+ = P(T \le (\bar d - \Delta)/\mathrm{se})`, :math:`T \sim t_{n-1}`;
    equivalence at level :math:`\alpha` is :math:`p < \alpha`, i.e. the
    :math:`1 - 2\alpha` interval inside :math:`(-\Delta, \Delta)`. State the
    margin in the units of the measurement and choose it before looking.

    >>> r = tost([1.00, 2.02, 2.99, 4.01], [1.0, 2.0, 3.0, 4.0], margin=0.05)
    >>> r.equivalent, round(r.p, 4)
    (True, 0.003)
    >>> tost([1.0, 2.5, 2.0, 4.8], [1.0, 2.0, 3.0, 4.0], margin=0.05).equivalent
    False
    """
    margin = float(margin)
    if not margin > 0 or not np.isfinite(margin):
        raise ValueError(f"margin must be a positive number in the measurement's units, got margin={margin!r}")
    alpha = float(alpha)
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got alpha={alpha!r}")
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a and b must hold the same seeds (one value per seed each), got {a.size} and {b.size} values")
    d = _sample("a - b", a - b)
    n = d.size
    mean = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(n))
    if se == 0:
        p = 0.0 if abs(mean) < margin else 1.0
        return Equivalence(mean, mean, mean, margin, p, n, alpha)
    p_lower = float(_st.t.sf((mean + margin) / se, n - 1))   # H0: mu <= -margin
    p_upper = float(_st.t.cdf((mean - margin) / se, n - 1))  # H0: mu >= +margin
    half = float(_st.t.ppf(1 - alpha, n - 1) * se)
    return Equivalence(mean, mean - half, mean + half, margin, max(p_lower, p_upper), n, alpha)


def seeds_for_difference(effect: float, sd: float, alpha: float = 0.05, power: float = 0.8) -> int:
    r"""Seeds a paired t-test needs to detect a mean difference ``effect`` with per-seed sd ``sd``.

    Smallest :math:`n \ge 3` with power at least ``power`` at two-sided level
    ``alpha``, from the noncentral t distribution (noncentrality
    :math:`\sqrt n\,\text{effect}/\text{sd}`). For an equivalence test with
    margin :math:`\Delta` and a true difference near zero, ``effect = margin``
    with ``alpha`` one-sided doubled gives about the seeds TOST needs.

    >>> seeds_for_difference(1.0, 1.0)     # one standard deviation: the textbook n = 10
    10
    """
    effect, sd = abs(float(effect)), float(sd)
    if not effect > 0 or not sd > 0:
        raise ValueError(f"effect and sd must be positive, got effect={effect!r}, sd={sd!r}")
    for n in range(3, 100_000):
        crit = _st.t.ppf(1 - alpha / 2, n - 1)
        nc = np.sqrt(n) * effect / sd
        if _st.nct.sf(crit, n - 1, nc) + _st.nct.cdf(-crit, n - 1, nc) >= power:
            return n
    raise ValueError(f"more than 100000 seeds needed for effect={effect} with sd={sd}")


def max_abs_z(mc: MonteCarloResult, exact) -> float:
    r"""Largest :math:`|\bar L_t - \mathbb E[L_t]| / \mathrm{se}_t` over the steps where the Monte Carlo varies.

    Steps with zero standard error (the deterministic start) are skipped. For
    a correct recursion the z-scores are standard normal at every step, so over
    a thousand steps the largest is typically about 3 and rarely above 4.

    Parameters
    ----------
    mc : MonteCarloResult
        From :meth:`lrlab.nqm.NoisyQuadratic.simulate`.
    exact : array_like
        The exact expected loss per step, same length as ``mc.mean``.

    Returns
    -------
    float

    >>> from lrlab.nqm import MonteCarloResult
    >>> mc = MonteCarloResult(mean=np.array([1.0, 0.5, 0.2]), stderr=np.array([0.0, 0.1, 0.1]), n_seeds=100, device="cpu")
    >>> round(max_abs_z(mc, [1.0, 0.45, 0.4]), 6)
    2.0
    """
    exact = np.asarray(exact, dtype=np.float64)
    if exact.shape != mc.mean.shape:
        raise ValueError(f"exact must have the shape of mc.mean {mc.mean.shape}, got exact.shape={exact.shape}")
    varies = mc.stderr > 0
    if not varies.any():
        raise ValueError("mc.stderr is zero at every step: nothing random to compare")
    return float(np.max(np.abs(mc.mean[varies] - exact[varies]) / mc.stderr[varies]))


def bonferroni_z(m: int, alpha: float = 1e-3) -> float:
    r"""Threshold for the largest of ``m`` standard-normal |z|-scores at family-wise false-alarm rate ``alpha``.

    :math:`z^\ast = \Phi^{-1}(1 - \alpha / (2m))`: by the union bound, the
    probability that any of ``m`` z-scores exceeds it under the null is at most
    ``alpha``, whatever their correlation (Bonferroni; conservative when the
    scores are positively correlated, as those of successive steps of one
    simulation are). Use it with :func:`max_abs_z` over ``m`` compared steps.

    >>> round(bonferroni_z(1000), 2)
    4.89
    >>> round(bonferroni_z(1, alpha=0.05), 2)
    1.96
    """
    m = int(m)
    if m < 1:
        raise ValueError(f"m must be a positive number of comparisons, got m={m!r}")
    alpha = float(alpha)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got alpha={alpha!r}")
    return float(_st.norm.isf(alpha / (2 * m)))


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    r"""Wilson score interval for a binomial proportion.

    .. math:: \frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}{1 + z^2/n}

    Parameters
    ----------
    successes, trials : int
        :math:`0 \le k \le n`, :math:`n \ge 1`.
    confidence : float
        Coverage in (0, 1).

    Returns
    -------
    (low, high) : tuple of float

    >>> [round(v, 4) for v in wilson_interval(50, 100)]
    [0.4038, 0.5962]
    """
    trials = check_int("trials", trials, minimum=1)
    successes = check_int("successes", successes, minimum=0)
    if successes > trials:
        raise ValueError(f"successes must be <= trials={trials}, got successes={successes}")
    confidence = check_fraction("confidence", confidence)
    z = float(_st.norm.ppf(0.5 + confidence / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends, free of rounding
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def binomial_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    r"""Clopper-Pearson interval for a fraction :math:`k/n` (e.g. of seeds that train).

    Exact: :math:`[B_{\alpha/2}(k, n-k+1),\ B_{1-\alpha/2}(k+1, n-k)]` with :math:`B_q(a, b)` the
    Beta quantile (Clopper & Pearson 1934); it covers the true fraction with probability at least ``level``.

    >>> [round(v, 3) for v in binomial_ci(2, 8)]
    [0.032, 0.651]
    >>> binomial_ci(0, 10)[0], round(binomial_ci(0, 10)[1], 3)
    (0.0, 0.308)
    """
    n = check_int("n", n, minimum=1)
    k = check_int("k", k, minimum=0)
    if k > n:
        raise ValueError(f"k must be <= n={n}, got k={k}")
    alpha = 1 - _level(level)
    lo = 0.0 if k == 0 else float(_st.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(_st.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def proportion_difference(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    r"""Difference :math:`\hat p_2 - \hat p_1` of two independent proportions with Newcombe's 95 % interval.

    Newcombe (1998, *Interval estimation for the difference between independent
    proportions*, method 10): with Wilson intervals :math:`(l_i, u_i)`,
    :math:`[d - \sqrt{(\hat p_2 - l_2)^2 + (u_1 - \hat p_1)^2},\ d + \sqrt{(u_2 - \hat p_2)^2 + (\hat p_1 - l_1)^2}]`.
    Unlike the Wald interval it stays valid when a proportion is 0.

    >>> [round(v, 4) for v in proportion_difference(48, 80, 56, 70)]   # Newcombe's example (a)
    [0.2, 0.0524, 0.3339]
    """
    l1, u1 = wilson_interval(k1, n1)
    l2, u2 = wilson_interval(k2, n2)
    p1, p2 = k1 / n1, k2 / n2
    d = p2 - p1
    return d, d - float(np.hypot(p2 - l2, u1 - p1)), d + float(np.hypot(u2 - p2, p1 - l1))
