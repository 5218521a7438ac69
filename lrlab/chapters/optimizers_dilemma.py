r"""Chapter 1's experiments: the parameters and the small routines that the book and its tests share.

The chapter *The optimizer's dilemma* (``book/optimizers_dilemma.md``) and the
test file ``tests/test_optimizers_dilemma_claims.py`` both import from here, so the numbers the
book shows and the numbers the tests check come from the same parameters and the
same code. Everything is a thin layer over :mod:`lrlab.nqm` and
:mod:`lrlab.schedules`; nothing here is new theory.

The chapter's model is a 20-dimensional noisy quadratic with a power-law
spectrum (:meth:`lrlab.nqm.NoisyQuadratic.power_law`):

>>> nqm = chapter1_nqm()
>>> nqm.dim, nqm.h_max, nqm.batch_size
(20, 1.0, 8)
>>> nqm.stability_limit
2.0
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import torch

from .._validate import check_finite, check_int, check_positive, with_overrides
from ..nqm import MonteCarloResult, NoisyQuadratic, compare_schedules, rates_of, tune_peak_lr
from ..schedules import (
    Schedule,
    constant_schedule,
    cosine_restarts_schedule,
    cosine_schedule,
    exponential_schedule,
    inverse_sqrt_schedule,
    linear_warmup,
    multistep_schedule,
    one_cycle_schedule,
    polynomial_schedule,
    step_schedule,
    wsd_schedule,
)
from ..stats import bonferroni_z, max_abs_z  # noqa: F401  (the chapter's Monte Carlo check)
from ..torch_adapter import torch_lr_trace

__all__ = [
    "NQM_PARAMS",
    "TOTAL_STEPS",
    "LR_GRID",
    "DILEMMA_RATES",
    "DILEMMA_EARLY_STEP",
    "STABILITY_FRACTIONS",
    "STABILITY_STEPS",
    "MC_SEEDS",
    "MC_SEED",
    "MC_PEAK_LR",
    "MC_CHECKPOINTS",
    "MC_ALPHA",
    "MC_WRONG_NOISE",
    "FLOOR_FRACTIONS",
    "FLOOR_STEPS",
    "END_FRACTION",
    "END_FRACTIONS",
    "ZOO_PEAK_LR",
    "CONSTANT",
    "TINY_STEPS",
    "TINY_PEAK_LR",
    "FAMILY_EXPONENTS",
    "FAMILY_DIMS",
    "FAMILY_BATCH_SIZES",
    "chapter1_nqm",
    "lr_grid",
    "family_grid",
    "stability_table",
    "mc_schedules",
    "bonferroni_z",
    "checkpoint_z",
    "detection_power",
    "monte_carlo_check",
    "noise_floor_table",
    "zoo",
    "previews",
    "torch_parity_table",
    "comparison_factories",
    "schedule_comparison",
    "end_value_sweep",
    "final_moment_factors",
    "family_comparison",
    "family_summary",
    "family_facts",
    "EX_GD_ACCURACY",
    "EX_FLOOR_TOLERANCE",
    "EX_SPREAD_LR",
    "EX_SPREAD_STEPS",
    "EX_BUDGETS",
    "EX_RM_FACTORS",
    "EX_WARMUPS",
    "exercise_best_gd_rate",
    "exercise_time_to_floor",
    "exercise_run_spread",
    "constant_final_loss",
    "exercise_constant_budget",
    "robbins_monro_rates",
    "exercise_robbins_monro",
    "exercise_warmup",
]

# ---------------------------------------------------------------------------
# Parameters of chapter 1 (the book and the tests read them from here)
# ---------------------------------------------------------------------------

#: The chapter's noisy quadratic: ``h_i = h_max * i**(-exponent)`` for i = 1..dim, noise ``sigma_i^2 = h_i``.
NQM_PARAMS: Mapping[str, float] = MappingProxyType(
    {"dim": 20, "h_max": 1.0, "exponent": 1.0, "batch_size": 8, "theta0": 1.0}
)
#: The step budget T of every experiment on the NQM.
TOTAL_STEPS = 1000
#: Constant rates of the speed-versus-precision figure, compared early (at this step) and at the end.
DILEMMA_RATES = (0.05, 0.2, 1.0)
DILEMMA_EARLY_STEP = 20
#: Noiseless gradient descent at these multiples of the stability limit 2/h_max ...
STABILITY_FRACTIONS = (0.5, 0.95, 1.05)
#: ... for this many steps.
STABILITY_STEPS = 100
#: Monte Carlo: independent SGD runs averaged per step, and the random seed.
MC_SEEDS = 4000
MC_SEED = 0
#: Peak rate of the two runs checked against Monte Carlo (a constant rate and a linear decay).
MC_PEAK_LR = 0.5
#: Steps at which Monte Carlo and the exact recursion are compared: every 100th step, ten per run.
MC_CHECKPOINTS = tuple(range(100, 1001, 100))
#: Family-wise false-alarm probability of every Monte Carlo check of the chapter (Bonferroni).
MC_ALPHA = 1e-3
#: The deliberately wrong recursions the check must reject: noise variance scaled by these factors.
MC_WRONG_NOISE = (0.95, 1.05)
#: Constant rates, as multiples of the stability limit, of the noise-floor table ...
FLOOR_FRACTIONS = (0.1, 0.25, 0.5, 0.9)
#: ... each run this many steps, long enough for every coordinate to forget its start.
FLOOR_STEPS = 1000
#: Where the exponential decay and the "cosine with a floor" end, as a fraction of the peak rate.
END_FRACTION = 0.01
#: End values of the sensitivity sweep, as fractions of the peak rate.
END_FRACTIONS = (0.0, 0.001, 0.01, 0.03, 0.1)
#: Peak rate used to draw the schedule zoo and to check it against torch.
ZOO_PEAK_LR = 0.1
#: Name of the constant-rate baseline in the comparison.
CONSTANT = "constant"
#: The torch example of section 7: optimizer steps and peak rate (warmup is a tenth of the steps).
TINY_STEPS = 300
TINY_PEAK_LR = 0.2
#: The family of noisy quadratics of section 6: spectrum exponents p (h_i = i^-p), dimensions, batch sizes.
FAMILY_EXPONENTS = (0.5, 1.0, 2.0)
FAMILY_DIMS = (10, 20, 100)
FAMILY_BATCH_SIZES = (1, 8, 64)
#: Grid points the family's grid adds below the lowest rate of :func:`lr_grid`, at the same spacing.
FAMILY_EXTRA_LOW = 25


def lr_grid() -> np.ndarray:
    """The grid on which every schedule's ``peak_lr`` is tuned: 60 log-spaced rates in [0.01, 1.95].

    The grid stops short of the stability limit 2/h_max = 2 of the chapter's model.

    Returns
    -------
    numpy.ndarray
        A fresh array (changing it does not change :data:`LR_GRID`).

    >>> grid = lr_grid()
    >>> grid.size, float(grid[0]), float(grid[-1])
    (60, 0.01, 1.95)
    """
    return np.geomspace(0.01, 1.95, 60)


#: The tuning grid as an immutable tuple (use :func:`lr_grid` for an array).
LR_GRID = tuple(float(x) for x in lr_grid())


def family_grid() -> np.ndarray:
    """The grid of the family comparison: :func:`lr_grid` extended downwards at the same log spacing.

    With :data:`FAMILY_EXTRA_LOW` more points below 0.01 it reaches about 0.001, so
    that the tuned constant rate of the noisiest instances is inside the grid. It
    contains every point of :func:`lr_grid`, so the chapter's own instance gets the
    same tuned peaks in both comparisons. It still stops at 1.95, below the
    stability limit 2/h_max = 2 of every instance (all have h_max = 1).

    >>> grid = family_grid()
    >>> grid.size, round(float(grid[0]), 5), float(grid[-1])
    (85, 0.00107, 1.95)
    >>> bool(np.allclose(grid[FAMILY_EXTRA_LOW:], lr_grid()))
    True
    """
    base = lr_grid()
    ratio = base[1] / base[0]
    below = base[0] * ratio ** np.arange(-FAMILY_EXTRA_LOW, 0, dtype=np.float64)
    return np.concatenate([below, base])


def chapter1_nqm(**overrides) -> NoisyQuadratic:
    """The chapter's noisy quadratic; keyword arguments override :data:`NQM_PARAMS`.

    Parameters
    ----------
    **overrides
        Any of ``dim``, ``h_max``, ``exponent``, ``batch_size``, ``theta0``.

    Returns
    -------
    NoisyQuadratic

    >>> chapter1_nqm(batch_size=1).batch_size
    1
    >>> chapter1_nqm(width=3)
    Traceback (most recent call last):
    ...
    ValueError: unknown NQM parameter width=3; expected one of ['batch_size', 'dim', 'exponent', 'h_max', 'theta0']
    """
    return NoisyQuadratic.power_law(**with_overrides("NQM parameter", NQM_PARAMS, overrides))


# ---------------------------------------------------------------------------
# Section 1: the stability limit
# ---------------------------------------------------------------------------


def stability_table(h, fractions=STABILITY_FRACTIONS, steps: int = STABILITY_STEPS, theta0=1.0):
    r"""Noiseless gradient descent on :math:`\tfrac12\sum_i h_i\theta_i^2` at multiples of :math:`2/h_{\max}`.

    Parameters
    ----------
    h : array_like
        Positive curvatures.
    fractions : sequence of float
        Rates as multiples of the stability limit :math:`2/h_{\max}`.
    steps : int
        Number of gradient-descent steps.
    theta0 : float or array_like
        Starting point.

    Returns
    -------
    table : pandas.DataFrame
        One row per rate: ``fraction``, ``lr``, ``max_contraction``
        (:math:`\max_i |1-\eta h_i|`), ``loss_start``, ``loss_end`` and ``converges``
        (whether the loss shrank).
    curves : dict
        ``{label: loss per step}`` (length ``steps + 1``), for plotting.

    >>> table, _ = stability_table([1.0, 0.1], fractions=(0.9, 1.1), steps=50)
    >>> table["converges"].tolist()
    [True, False]
    >>> table["max_contraction"].round(2).tolist()
    [0.82, 1.2]
    """
    import pandas as pd

    steps = check_int("steps", steps, minimum=1)
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    quiet = NoisyQuadratic(h=h, sigma2=np.zeros_like(h), batch_size=1, theta0=theta0)
    rows, curves = [], {}
    for fraction in fractions:
        fraction = check_positive("fraction", fraction)
        lr = fraction * quiet.stability_limit
        loss = quiet.expected_loss(constant_schedule(lr), steps)
        rows.append(
            {
                "fraction": fraction,
                "lr": lr,
                "max_contraction": float(np.max(np.abs(1.0 - lr * h))),
                "loss_start": float(loss[0]),
                "loss_end": float(loss[-1]),
                "converges": bool(loss[-1] < loss[0]),
            }
        )
        curves[rf"$\eta = {fraction:g} \times 2/h_{{\max}}$"] = loss
    return pd.DataFrame(rows), curves


# ---------------------------------------------------------------------------
# Sections 3 and 4: exact moments against Monte Carlo, the noise floor
# ---------------------------------------------------------------------------


def mc_schedules(peak_lr: float = MC_PEAK_LR, total_steps: int = TOTAL_STEPS) -> dict[str, Schedule]:
    """The two runs the chapter checks against Monte Carlo: a constant rate and a linear decay to zero.

    Parameters
    ----------
    peak_lr : float
        The constant rate, and the starting rate of the decay.
    total_steps : int
        Steps over which the linear decay reaches zero.

    Returns
    -------
    dict
        ``{"constant": Schedule, "linear decay": Schedule}``.

    >>> sorted(mc_schedules())
    ['constant', 'linear decay']
    """
    return {
        "constant": constant_schedule(peak_lr),
        "linear decay": polynomial_schedule(peak_lr, total_steps, power=1.0),
    }


def noise_floor_table(
    nqm: NoisyQuadratic,
    fractions=FLOOR_FRACTIONS,
    total_steps: int = FLOOR_STEPS,
    n_seeds: int = MC_SEEDS,
    seed: int = MC_SEED,
    device=None,
):
    r"""The constant-rate noise floor three ways: formula, exact recursion, Monte Carlo.

    For each rate :math:`\eta` (a multiple of the stability limit) the table
    holds the formula :math:`\sum_i \eta\sigma_i^2 / (2B(2-\eta h_i))`, the exact
    expected loss after ``total_steps`` steps, and the Monte Carlo average at
    the same step with its standard error and z-score.

    Parameters
    ----------
    nqm : NoisyQuadratic
    fractions : sequence of float
        Rates as multiples of ``nqm.stability_limit``; each must be in (0, 1).
    total_steps : int
        Steps run at each rate (long enough for the slowest coordinate to settle).
    n_seeds, seed, device
        Passed to :meth:`~lrlab.nqm.NoisyQuadratic.simulate`; ``n_seeds=0`` skips Monte Carlo.

    Returns
    -------
    pandas.DataFrame
        Columns ``fraction``, ``lr``, ``formula``, ``recursion``, ``rel_gap``
        (:math:`|\text{recursion}/\text{formula} - 1|`) and, with Monte Carlo,
        ``monte_carlo``, ``stderr``, ``z``; attribute ``attrs["device"]``.

    >>> table = noise_floor_table(chapter1_nqm(), fractions=(0.5,), n_seeds=0)
    >>> bool(table["rel_gap"].iloc[0] < 1e-9)
    True
    """
    import pandas as pd

    total_steps = check_int("total_steps", total_steps, minimum=1)
    n_seeds = check_int("n_seeds", n_seeds, minimum=0)
    rows, device_used = [], None
    for fraction in fractions:
        fraction = check_finite("fraction", fraction)
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be in (0, 1) (a stable constant rate), got fraction={fraction!r}")
        lr = fraction * nqm.stability_limit
        schedule = constant_schedule(lr)
        formula = nqm.noise_floor(lr)
        recursion = float(nqm.expected_loss(schedule, total_steps)[-1])
        row = {"fraction": fraction, "lr": lr, "formula": formula, "recursion": recursion,
               "rel_gap": abs(recursion / formula - 1.0)}
        if n_seeds:
            mc = nqm.simulate(schedule, total_steps, n_seeds=n_seeds, seed=seed, device=device)
            device_used = mc.device
            row.update({"monte_carlo": float(mc.mean[-1]), "stderr": float(mc.stderr[-1]),
                        "z": float((mc.mean[-1] - formula) / mc.stderr[-1])})
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["device"] = device_used
    return table


def checkpoint_z(mc: MonteCarloResult, exact, steps=MC_CHECKPOINTS) -> np.ndarray:
    r"""The z-scores :math:`(\bar L_t - \mathbb E[L_t]) / \mathrm{se}_t` of a Monte Carlo run at chosen steps.

    With :math:`n` independent seeds, :math:`\bar L_t` is a mean of :math:`n`
    i.i.d. losses, so by the central limit theorem :math:`z_t` is close to standard
    normal when ``exact`` is the true expectation. For a two-sided threshold the
    first-order (skewness) correction to the normal tail cancels, so the error of
    the tail probability is of order :math:`1/n`.

    Parameters
    ----------
    mc : MonteCarloResult
        From :meth:`lrlab.nqm.NoisyQuadratic.simulate`.
    exact : array_like
        The expected loss per step that is being checked (same length as ``mc.mean``).
    steps : sequence of int
        Steps to compare, each in ``1 .. len(mc.mean) - 1``.

    Returns
    -------
    numpy.ndarray
        One z-score per step.

    >>> from lrlab.nqm import MonteCarloResult
    >>> mc = MonteCarloResult(mean=np.array([1.0, 0.5, 0.2]), stderr=np.array([0.0, 0.1, 0.1]), n_seeds=100, device="cpu")
    >>> checkpoint_z(mc, [1.0, 0.45, 0.4], steps=(1, 2)).round(6).tolist()
    [0.5, -2.0]
    >>> checkpoint_z(mc, [1.0, 0.45, 0.4], steps=(0,))
    Traceback (most recent call last):
    ...
    ValueError: the Monte Carlo standard error is zero at step 0: nothing random to compare there
    """
    exact = np.asarray(exact, dtype=np.float64)
    if exact.shape != mc.mean.shape:
        raise ValueError(f"exact must have the shape of mc.mean {mc.mean.shape}, got exact.shape={exact.shape}")
    idx = np.asarray([check_int("step", s, minimum=0) for s in steps], dtype=int)
    if idx.size == 0 or idx.max() >= mc.mean.size:
        raise ValueError(f"steps must be a non-empty sequence within 0..{mc.mean.size - 1}, got {list(steps)}")
    for s in idx:
        if not mc.stderr[s] > 0:
            raise ValueError(f"the Monte Carlo standard error is zero at step {s}: nothing random to compare there")
    return (mc.mean[idx] - exact[idx]) / mc.stderr[idx]


def detection_power(shift, threshold: float) -> float:
    r"""A lower bound on the probability that a check with threshold ``c`` flags an error.

    If the recursion being checked is off by :math:`\delta_k` standard errors at
    checkpoint :math:`k`, then :math:`z_k \sim \mathcal N(\delta_k, 1)` and the check
    :math:`\max_k |z_k| \ge c` fires with probability at least
    :math:`\max_k \left[\Phi(|\delta_k| - c) + \Phi(-|\delta_k| - c)\right]`
    (the best single checkpoint; the others can only add to it).

    Parameters
    ----------
    shift : array_like
        :math:`\delta_k`, the error of the recursion in standard errors, per checkpoint.
    threshold : float
        The check's threshold :math:`c`.

    Returns
    -------
    float

    >>> round(detection_power([0.0], 1.96), 3), round(detection_power([1.0, 4.0], 1.96), 3)
    (0.05, 0.979)
    """
    from scipy.stats import norm

    delta = np.abs(np.asarray(shift, dtype=np.float64))
    c = check_positive("threshold", threshold)
    return float(np.max(norm.cdf(delta - c) + norm.cdf(-delta - c)))


def monte_carlo_check(
    nqm: NoisyQuadratic,
    schedules: Mapping[str, Schedule] | None = None,
    total_steps: int = TOTAL_STEPS,
    steps=MC_CHECKPOINTS,
    n_seeds: int = MC_SEEDS,
    seed: int = MC_SEED,
    alpha: float = MC_ALPHA,
    wrong_noise=MC_WRONG_NOISE,
    device=None,
):
    r"""Check the exact recursion against Monte Carlo at a few checkpoints, and show the check has power.

    For each schedule, ``n_seeds`` SGD runs are simulated once; their mean loss is
    compared at ``steps`` with (i) the exact recursion and (ii) the recursions of
    models whose noise variance is off by the factors ``wrong_noise``. The
    recursion passes when the largest of the :math:`m = ` ``len(schedules) * len(steps)``
    values of :math:`|z|` stays below :func:`lrlab.stats.bonferroni_z` ``(m, alpha)``,
    so a correct recursion fails with probability at most ``alpha``. For each wrong
    recursion, :func:`detection_power` bounds from below the probability that
    the check catches it, from its error in standard errors.

    Parameters
    ----------
    nqm : NoisyQuadratic
    schedules : mapping, optional
        ``{name: Schedule}`` (default :func:`mc_schedules`).
    total_steps : int
        Steps simulated (the checkpoints must be within them).
    steps : sequence of int
        The checkpoints.
    n_seeds, seed, device
        Passed to :meth:`~lrlab.nqm.NoisyQuadratic.simulate` (the same seed for
        every schedule: common random numbers).
    alpha : float
        Family-wise false-alarm probability of the check.
    wrong_noise : sequence of float
        Noise-variance factors of the deliberately wrong recursions.

    Returns
    -------
    runs : dict
        ``{name: (exact loss per step, MonteCarloResult)}``.
    table : pandas.DataFrame
        One row per recursion (``"exact"`` first, then ``"noise variance x f"``):
        ``max_abs_z`` over all checkpoints of all runs, ``threshold``, ``passes``,
        ``max_rel_error`` (largest :math:`|E_{\text{recursion}}/E_{\text{exact}} - 1|`
        at the checkpoints) and ``power`` (the lower bound; NaN for the exact one).
        ``attrs`` hold ``m``, ``alpha`` and ``device``.

    >>> runs, table = monte_carlo_check(chapter1_nqm(), total_steps=200, steps=(100, 200), n_seeds=200)
    >>> table["recursion"].tolist()
    ['exact', 'noise variance x0.95', 'noise variance x1.05']
    >>> table.attrs["m"], round(float(table["threshold"].iloc[0]), 2)
    (4, 3.66)
    """
    import pandas as pd

    schedules = mc_schedules(total_steps=total_steps) if schedules is None else dict(schedules)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    m = len(schedules) * len(steps)
    threshold = bonferroni_z(m, alpha)
    models = {"exact": nqm, **{f"noise variance x{f:g}": nqm.with_noise_scaled(f) for f in wrong_noise}}
    runs, z, shift, rel = {}, {k: [] for k in models}, {k: [] for k in models}, {k: [] for k in models}
    idx = np.asarray(steps, dtype=int)
    device_used = None
    for name, schedule in schedules.items():
        mc = nqm.simulate(schedule, total_steps, n_seeds=n_seeds, seed=seed, device=device)
        device_used = mc.device
        truth = nqm.expected_loss(schedule, total_steps)
        runs[name] = (truth, mc)
        for label, model in models.items():
            curve = truth if model is nqm else model.expected_loss(schedule, total_steps)
            z[label].append(checkpoint_z(mc, curve, steps))
            shift[label].append((truth[idx] - curve[idx]) / mc.stderr[idx])
            rel[label].append(np.abs(curve[idx] / truth[idx] - 1.0))
    rows = []
    for label in models:
        largest = float(np.max(np.abs(np.concatenate(z[label]))))
        rows.append({
            "recursion": label,
            "max_abs_z": largest,
            "threshold": threshold,
            "passes": largest < threshold,
            "max_rel_error": float(np.max(np.concatenate(rel[label]))),
            "power": np.nan if label == "exact" else detection_power(np.concatenate(shift[label]), threshold),
        })
    table = pd.DataFrame(rows)
    from scipy.stats import norm

    rel_se = min(float(np.min(mc.stderr[idx] / truth[idx])) for truth, mc in runs.values())
    table.attrs.update({"m": m, "alpha": alpha, "device": device_used, "min_rel_se": rel_se,
                        # relative error of the expected loss at one checkpoint caught with probability >= 0.99
                        "detectable_99": (threshold + float(norm.ppf(0.99))) * rel_se})
    return runs, table


# ---------------------------------------------------------------------------
# Section 5: the schedule zoo and torch parity
# ---------------------------------------------------------------------------


def zoo(peak_lr: float = ZOO_PEAK_LR, total_steps: int = TOTAL_STEPS) -> dict[str, dict[str, Schedule]]:
    """The schedules the chapter draws, in two panels: decays, and restarts/warmup.

    Parameters
    ----------
    peak_lr : float
        The common peak rate.
    total_steps : int
        The budget T the schedules are laid out over (at least 8).

    Returns
    -------
    dict
        ``{"decays": {name: Schedule}, "restarts and warmup": {name: Schedule}}``.

    >>> panels = zoo(peak_lr=1.0, total_steps=100)
    >>> [len(p) for p in panels.values()]
    [7, 2]
    >>> round(panels["decays"]["cosine, 1% floor"](100), 6)
    0.01
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    total_steps = check_int("total_steps", total_steps, minimum=8)
    t_ = total_steps
    floor = END_FRACTION * peak_lr
    return {
        "decays": {
            "constant": constant_schedule(peak_lr),
            "step (x0.2 every T/4)": step_schedule(peak_lr, step_size=t_ // 4, gamma=0.2),
            "multi-step (x0.1 at T/2, 3T/4)": multistep_schedule(peak_lr, [t_ // 2, 3 * t_ // 4], gamma=0.1),
            f"exponential (to {END_FRACTION:.0%})": exponential_schedule(peak_lr, gamma=END_FRACTION ** (1 / t_)),
            "polynomial (power 2)": polynomial_schedule(peak_lr, t_, power=2.0),
            "linear to zero": polynomial_schedule(peak_lr, t_, power=1.0),
            f"cosine, {END_FRACTION:.0%} floor": cosine_schedule(peak_lr, t_, min_lr=floor),
        },
        "restarts and warmup": {
            "cosine warm restarts (T_0=T/8, x2)": cosine_restarts_schedule(
                peak_lr, cycle_steps=t_ // 8, cycle_mult=2, min_lr=floor
            ),
            "linear warmup (T/10) + cosine": linear_warmup(
                cosine_schedule(peak_lr, t_ - t_ // 10, min_lr=floor), warmup_steps=t_ // 10
            ),
        },
    }


def previews(peak_lr: float = ZOO_PEAK_LR, total_steps: int = TOTAL_STEPS) -> dict[str, Schedule]:
    """Three modern schedules studied in chapter 5: one-cycle, warmup-stable-decay, inverse square root.

    Parameters
    ----------
    peak_lr : float
        The common peak rate.
    total_steps : int
        The budget T (at least 20); warmups last ``total_steps // 20`` steps.

    Returns
    -------
    dict
        ``{name: Schedule}``.

    >>> sorted(previews(1.0, 100))
    ['inverse sqrt (warmup T/20)', 'one-cycle', 'warmup-stable-decay']
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    total_steps = check_int("total_steps", total_steps, minimum=20)
    return {
        "one-cycle": one_cycle_schedule(peak_lr, total_steps),
        "warmup-stable-decay": wsd_schedule(peak_lr, total_steps, warmup_steps=total_steps // 20),
        "inverse sqrt (warmup T/20)": inverse_sqrt_schedule(peak_lr, warmup_steps=total_steps // 20),
    }


def torch_parity_table(peak_lr: float = ZOO_PEAK_LR, total_steps: int = TOTAL_STEPS):
    """Largest gap between each zoo schedule and its ``torch.optim.lr_scheduler`` twin.

    Each torch scheduler is stepped once per optimizer step for ``total_steps + 1``
    steps (so the value at ``T`` is included), through
    :func:`lrlab.torch_adapter.torch_lr_trace`.

    Parameters
    ----------
    peak_lr : float
        The base rate given to torch's optimizer and to our schedules.
    total_steps : int
        The budget T (at least 8).

    Returns
    -------
    pandas.DataFrame
        Columns ``schedule``, ``torch scheduler`` and ``max abs gap``.

    >>> table = torch_parity_table(peak_lr=1.0, total_steps=40)
    >>> bool(table["max abs gap"].max() < 1e-12)
    True
    """
    import pandas as pd

    peak_lr = check_positive("peak_lr", peak_lr)
    total_steps = check_int("total_steps", total_steps, minimum=8)
    lr_sched = torch.optim.lr_scheduler
    t_ = total_steps
    floor = END_FRACTION * peak_lr
    gamma = END_FRACTION ** (1 / t_)
    cases = [
        ("step", "StepLR", step_schedule(peak_lr, t_ // 4, 0.2), lambda o: lr_sched.StepLR(o, t_ // 4, 0.2)),
        ("multi-step", "MultiStepLR", multistep_schedule(peak_lr, [t_ // 2, 3 * t_ // 4], 0.1),
         lambda o: lr_sched.MultiStepLR(o, [t_ // 2, 3 * t_ // 4], 0.1)),
        ("exponential", "ExponentialLR", exponential_schedule(peak_lr, gamma),
         lambda o: lr_sched.ExponentialLR(o, gamma)),
        ("polynomial (power 2)", "PolynomialLR", polynomial_schedule(peak_lr, t_, power=2.0),
         lambda o: lr_sched.PolynomialLR(o, total_iters=t_, power=2.0)),
        ("cosine, floor (t <= T)", "CosineAnnealingLR", cosine_schedule(peak_lr, t_, min_lr=floor),
         lambda o: lr_sched.CosineAnnealingLR(o, T_max=t_, eta_min=floor)),
        ("cosine warm restarts", "CosineAnnealingWarmRestarts",
         cosine_restarts_schedule(peak_lr, t_ // 8, cycle_mult=2, min_lr=floor),
         lambda o: lr_sched.CosineAnnealingWarmRestarts(o, T_0=t_ // 8, T_mult=2, eta_min=floor)),
    ]
    steps = np.arange(t_ + 1)
    rows = []
    for name, torch_name, ours, make in cases:
        theirs = torch_lr_trace(make, t_ + 1, base_lr=peak_lr)
        rows.append({"schedule": name, "torch scheduler": torch_name,
                     "max abs gap": float(np.max(np.abs(ours(steps) - theirs)))})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Section 6: the schedules compared on the NQM at an equal step budget
# ---------------------------------------------------------------------------


def comparison_factories(total_steps: int = TOTAL_STEPS) -> dict[str, Callable[[float], Schedule]]:
    """The constant rate and the decaying shapes of the comparison, each as ``peak_lr -> Schedule``.

    All decays are laid out on the same budget ``total_steps``; the exponential
    decay and the floored cosine end at :data:`END_FRACTION` of their peak.

    Parameters
    ----------
    total_steps : int
        The common budget T (at least 8).

    Returns
    -------
    dict
        ``{name: factory}``, the constant rate first; each factory maps a peak rate to a Schedule.

    >>> factories = comparison_factories(100)
    >>> list(factories)[0] == CONSTANT, len(factories)
    (True, 8)
    >>> round(factories["exponential"](1.0)(100), 6)
    0.01
    """
    t_ = check_int("total_steps", total_steps, minimum=8)
    gamma = END_FRACTION ** (1 / t_)
    return {
        CONSTANT: lambda lr: constant_schedule(lr),
        "step": lambda lr: step_schedule(lr, step_size=t_ // 4, gamma=0.2),
        "multi-step": lambda lr: multistep_schedule(lr, milestones=[t_ // 2, 3 * t_ // 4], gamma=0.1),
        "exponential": lambda lr: exponential_schedule(lr, gamma=gamma),
        "polynomial (power 2)": lambda lr: polynomial_schedule(lr, t_, power=2.0),
        "linear to zero": lambda lr: polynomial_schedule(lr, t_, power=1.0),
        "cosine to zero": lambda lr: cosine_schedule(lr, t_),
        "cosine, floor": lambda lr: cosine_schedule(lr, t_, min_lr=END_FRACTION * lr),
    }


def schedule_comparison(nqm: NoisyQuadratic, total_steps: int = TOTAL_STEPS, grid=None):
    """Tune every schedule of :func:`comparison_factories` on the same grid; rank them by final loss.

    Wraps :func:`lrlab.nqm.compare_schedules` and adds, per schedule, the final
    loss relative to the constant rate's noise floor (the floor of the tuned
    constant rate), the last rate used and the average rate (both as fractions
    of the peak), and whether the tuned peak sits on the edge of the grid.

    Parameters
    ----------
    nqm : NoisyQuadratic
    total_steps : int
        The common step budget T.
    grid : array_like, optional
        Candidate peak rates (default :func:`lr_grid`).

    Returns
    -------
    table : pandas.DataFrame
        Sorted by ``final_loss``; columns ``schedule``, ``peak_lr``, ``final_loss``,
        ``vs_floor``, ``last_rate``, ``mean_rate``, ``on_grid_edge``.
    floor : float
        The noise floor of the tuned constant rate.
    curves : dict
        ``{schedule: exact expected loss per step}`` at the tuned peak rates.

    >>> table, floor, _ = schedule_comparison(chapter1_nqm(), total_steps=200)
    >>> table.columns.tolist()
    ['schedule', 'peak_lr', 'final_loss', 'vs_floor', 'last_rate', 'mean_rate', 'on_grid_edge']
    """
    grid = lr_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    factories = comparison_factories(total_steps)
    table = compare_schedules(nqm, factories, total_steps, grid)
    constant_lr = float(table.loc[table["schedule"] == CONSTANT, "peak_lr"].iloc[0])
    floor = nqm.noise_floor(constant_lr)
    shape = {name: rates_of(make(1.0), total_steps) for name, make in factories.items()}
    table["vs_floor"] = table["final_loss"] / floor
    table["last_rate"] = [shape[name][-1] for name in table["schedule"]]
    table["mean_rate"] = [shape[name].mean() for name in table["schedule"]]
    table["on_grid_edge"] = [lr in (grid.min(), grid.max()) for lr in table["peak_lr"]]
    curves = {
        row.schedule: nqm.expected_loss(factories[row.schedule](row.peak_lr), total_steps)
        for row in table.itertuples()
    }
    return table, floor, curves


def end_value_sweep(nqm: NoisyQuadratic, total_steps: int = TOTAL_STEPS, end_fractions=END_FRACTIONS, grid=None):
    r"""Tuned final loss of cosine, linear and exponential decays as a function of where they end.

    Each shape decays from its peak to ``r * peak`` at step ``total_steps``
    (``min_lr = r * peak_lr`` for cosine and linear, :math:`\gamma = r^{1/T}` for
    the exponential, which cannot reach ``r = 0``); the peak is tuned on the grid
    for every ``r``.

    Parameters
    ----------
    nqm : NoisyQuadratic
    total_steps : int
        The common budget T.
    end_fractions : sequence of float
        End values as fractions of the peak, each in [0, 1).
    grid : array_like, optional
        Candidate peak rates (default :func:`lr_grid`).

    Returns
    -------
    pandas.DataFrame
        Index ``end_fraction``; one column of tuned final losses per shape (NaN
        where the shape cannot end there); ``attrs["on_grid_edge"]`` lists the
        ``(end_fraction, shape)`` pairs whose tuned peak is on the edge of the grid.

    >>> sweep = end_value_sweep(chapter1_nqm(), total_steps=200, end_fractions=(0.0, 0.1))
    >>> sweep.columns.tolist()
    ['cosine', 'linear', 'exponential']
    >>> bool(np.isnan(sweep.loc[0.0, "exponential"]))
    True
    """
    import pandas as pd

    total_steps = check_int("total_steps", total_steps, minimum=1)
    grid = lr_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    rows, edges = {}, []
    for r in end_fractions:
        r = check_finite("end_fraction", r)
        if not 0 <= r < 1:
            raise ValueError(f"end_fraction must be in [0, 1), got end_fraction={r!r}")
        shapes = {
            "cosine": lambda lr, r=r: cosine_schedule(lr, total_steps, min_lr=r * lr),
            "linear": lambda lr, r=r: polynomial_schedule(lr, total_steps, power=1.0, min_lr=r * lr),
        }
        if r > 0:
            shapes["exponential"] = lambda lr, r=r: exponential_schedule(lr, gamma=r ** (1 / total_steps))
        tuned = {name: tune_peak_lr(nqm, make, total_steps, grid) for name, make in shapes.items()}
        rows[r] = {name: result[1] for name, result in tuned.items()}
        edges += [(r, name) for name, result in tuned.items() if result[0] in (grid.min(), grid.max())]
    table = pd.DataFrame.from_dict(rows, orient="index")[["cosine", "linear", "exponential"]]
    table.index.name = "end_fraction"
    table.attrs["on_grid_edge"] = edges
    return table


# ---------------------------------------------------------------------------
# Section 6 (continued): the comparison over a family of noisy quadratics
# ---------------------------------------------------------------------------


def final_moment_factors(rates, h) -> tuple[np.ndarray, np.ndarray]:
    r"""The exact final second moment of SGD split into its start and noise parts, for many runs at once.

    Unrolling the recursion :math:`m_{t+1} = a_t m_t + \eta_t^2 \sigma^2/B` with
    :math:`a_t = (1 - \eta_t h)^2` gives, after :math:`T` steps,

    .. math:: m_T = \theta_0^2 F + \frac{\sigma^2}{B} G, \qquad
              F = \prod_{t<T} a_t, \qquad G = \sum_{t<T} \eta_t^2 \prod_{t<u<T} a_u .

    ``F`` and ``G`` depend only on the rates and the curvature, not on the
    start, the noise or the batch size, so one pass over the steps serves every
    instance of a family that shares curvatures. Diverging runs give ``inf``.

    Parameters
    ----------
    rates : array_like
        Shape ``(..., T)``: one row of rates per run.
    h : array_like
        Curvatures, shape ``(n,)``.

    Returns
    -------
    F, G : numpy.ndarray
        Shape ``(..., n)`` each.

    >>> F, G = final_moment_factors(np.full((1, 3), 0.5), [1.0])
    >>> float(F[0, 0]), float(G[0, 0])   # a = 0.25: F = 0.25**3, G = 0.25 * (0.25 * 0.25 + 0.25) + 0.25
    (0.015625, 0.328125)
    """
    rates = rates_of(rates)
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    F = np.ones(rates.shape[:-1] + h.shape)
    G = np.zeros_like(F)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(rates.shape[-1]):
            eta = rates[..., t, None]
            a = (1.0 - eta * h) ** 2
            F *= a
            G *= a
            G += eta**2
    return F, G


def family_comparison(
    exponents=FAMILY_EXPONENTS,
    dims=FAMILY_DIMS,
    batch_sizes=FAMILY_BATCH_SIZES,
    total_steps: int = TOTAL_STEPS,
    grid=None,
):
    r"""Every schedule of :func:`comparison_factories` tuned and ranked on a family of noisy quadratics.

    The instances are :meth:`NoisyQuadratic.power_law` models (``h_max = 1``,
    :math:`\sigma_i^2 = h_i`, :math:`\theta_0 = 1`) for every combination of a
    spectrum exponent, a dimension and a batch size. For each instance every
    schedule's peak is tuned on the same grid by the exact final expected loss
    (:func:`final_moment_factors`, the recursion of the chapter: no seeds).

    Parameters
    ----------
    exponents, dims, batch_sizes : sequence
        The family: spectrum exponents :math:`p` in :math:`h_i = i^{-p}`, dimensions, batch sizes.
    total_steps : int
        The common step budget T.
    grid : array_like, optional
        Candidate peak rates (default :func:`family_grid`).

    Returns
    -------
    pandas.DataFrame
        One row per instance and schedule: ``exponent``, ``dim``, ``batch_size``,
        ``schedule``, ``peak_lr``, ``final_loss``, ``vs_best`` (final loss over
        the instance's best), ``rank`` (1 = best), ``vs_floor`` (over the noise
        floor of the instance's tuned constant rate), ``at_top``/``at_bottom``
        (tuned peak on the largest/smallest grid rate) and ``grid_gap`` (how much
        lower a parabola in :math:`\log\eta` through the best grid point and its
        neighbours reaches: an estimate of what the grid's spacing costs; NaN at an edge).

    >>> fam = family_comparison(exponents=(1.0,), dims=(20,), batch_sizes=(8,), total_steps=200)
    >>> sorted(fam.columns.tolist())[:4], len(fam)
    (['at_bottom', 'at_top', 'batch_size', 'dim'], 8)
    """
    import pandas as pd

    total_steps = check_int("total_steps", total_steps, minimum=8)
    grid = family_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    factories = comparison_factories(total_steps)
    names = list(factories)
    rates = np.stack([np.stack([rates_of(make(float(lr)), total_steps) for lr in grid]) for make in factories.values()])
    instances = [(check_positive("exponent", p), check_int("dim", d, minimum=1), check_int("batch_size", b, minimum=1))
                 for p in exponents for d in dims for b in batch_sizes]
    curvatures = np.unique(np.concatenate([np.arange(1, d + 1, dtype=np.float64) ** -p for p, d, _ in instances]))
    F, G = final_moment_factors(rates, curvatures)  # (schedules, grid, curvatures)
    log_step = np.log(grid[1] / grid[0])
    rows = []
    for p, d, b in instances:
        nqm = NoisyQuadratic.power_law(dim=d, exponent=p, batch_size=b)
        cols = np.searchsorted(curvatures, nqm.h)
        with np.errstate(over="ignore", invalid="ignore"):
            final = 0.5 * (nqm.h * (nqm.theta0**2 * F[..., cols] + nqm.sigma2 / b * G[..., cols])).sum(-1)
        final = np.where(np.isfinite(final), final, np.inf)
        best = np.argmin(final, axis=1)
        loss = final[np.arange(len(names)), best]
        order = np.argsort(loss, kind="stable")
        rank = np.empty(len(names), dtype=int)
        rank[order] = np.arange(1, len(names) + 1)
        floor = nqm.noise_floor(float(grid[best[names.index(CONSTANT)]]))
        for s, name in enumerate(names):
            k = best[s]
            gap = np.nan
            if 0 < k < grid.size - 1:
                y0, y1, y2 = final[s, k - 1], final[s, k], final[s, k + 1]
                curv = y0 - 2 * y1 + y2
                gap = float((y2 - y0) ** 2 / (8 * curv) / y1) if curv > 0 else 0.0
            rows.append({"exponent": p, "dim": d, "batch_size": b, "schedule": name,
                         "peak_lr": float(grid[k]), "final_loss": float(loss[s]),
                         "vs_best": float(loss[s] / loss.min()), "rank": int(rank[s]),
                         "vs_floor": float(loss[s] / floor), "at_top": bool(k == grid.size - 1),
                         "at_bottom": bool(k == 0), "grid_gap": gap})
    table = pd.DataFrame(rows)
    table.attrs["log_step"] = float(log_step)
    return table


def family_summary(family):
    """One row per instance of :func:`family_comparison`: the winner, the runner-up, and where cosine ranks.

    An instance is ``capped`` when some schedule's tuned peak is the largest grid
    rate, just below the stability limit: there the stability limit, not the
    tuning, sets the peak, and the ranking is a ranking under that constraint.

    Parameters
    ----------
    family : pandas.DataFrame
        From :func:`family_comparison`.

    Returns
    -------
    pandas.DataFrame
        Columns ``exponent``, ``dim``, ``batch_size``, ``winner``, ``runner_up``,
        ``margin`` (1 - best / runner-up final loss), ``cosine_rank`` (best rank of
        the two cosines among the decays), ``capped``, ``interior`` (every tuned
        peak strictly inside the grid) and ``max_grid_gap``.

    >>> fam = family_comparison(exponents=(1.0,), dims=(20,), batch_sizes=(8,), total_steps=200)
    >>> family_summary(fam)[["winner", "capped"]].values.tolist()
    [['exponential', False]]
    """
    import pandas as pd

    rows = []
    for key, inst in family.groupby(["exponent", "dim", "batch_size"], sort=True):
        inst = inst.sort_values("rank")
        decays = inst[inst.schedule != CONSTANT]
        cos_rank = int(np.argmax(decays.schedule.isin(["cosine to zero", "cosine, floor"]).to_numpy())) + 1
        rows.append({
            "exponent": key[0], "dim": key[1], "batch_size": key[2],
            "winner": inst.schedule.iloc[0], "runner_up": inst.schedule.iloc[1],
            "margin": float(1 - inst.final_loss.iloc[0] / inst.final_loss.iloc[1]),
            "cosine_rank": cos_rank,
            "capped": bool(inst.at_top.any()),
            "interior": bool(not (inst.at_top | inst.at_bottom).any()),
            "max_grid_gap": float(inst.grid_gap.max()),
        })
    return pd.DataFrame(rows)


def family_facts(family, wins=None) -> dict:
    """The numbers and lists that the chapter's prose states about the family, by name.

    Parameters
    ----------
    family : pandas.DataFrame
        From :func:`family_comparison`.
    wins : pandas.DataFrame, optional
        From :func:`family_summary` (computed when not given).

    Returns
    -------
    dict
        ``n`` instances; ``n_flat`` with exponent <= 1 and ``exp_flat`` of them
        won by the exponential decay, with margins ``exp_flat_lo``..``exp_flat_hi``;
        ``exp_steep`` (where it wins with exponent > 1) and ``exp_wins`` (count);
        ``others`` (the other winners and where, ``n_others`` of them) with largest
        margin ``others_hi``; ``n_steep_wide`` instances with p > 1 and d >= 20;
        ``capped_n``/``capped``; ``cos_best_flat`` (best rank of a cosine where
        p <= 1), ``cos_wins``/``cos_win_hi``; ``max_gap``; ``worse_n``,
        ``worse_names``, ``worse`` (decays ending at or above the tuned constant
        rate); ``below_floor_n`` (instances where all decays end below the
        constant rate's floor).

    >>> fam = family_comparison(exponents=(1.0,), dims=(20,), batch_sizes=(8,), total_steps=200)
    >>> facts = family_facts(fam)
    >>> facts["n"], facts["exp_wins"], facts["worse_n"]
    (1, 1, 0)
    """
    wins = family_summary(family) if wins is None else wins
    key = ["exponent", "dim", "batch_size"]

    def where(rows) -> str:
        return "; ".join(f"p = {r.exponent:g}, d = {r.dim}, B = {r.batch_size}" for r in rows.itertuples())

    flat = wins[wins.exponent <= 1]
    steep = wins[wins.exponent > 1]
    others = wins[wins.winner != "exponential"]
    cos_wins = wins[wins.winner.isin(["cosine to zero", "cosine, floor"])]
    decays = family[family.schedule != CONSTANT]
    const = family[family.schedule == CONSTANT].set_index(key).final_loss
    const_of = const.loc[list(zip(decays.exponent, decays.dim, decays.batch_size))].to_numpy()
    worse = decays[decays.final_loss.to_numpy() >= const_of]
    return {
        "n": len(wins),
        "n_flat": len(flat),
        "exp_flat": int((flat.winner == "exponential").sum()),
        "exp_flat_lo": float(flat.margin.min()) if len(flat) else float("nan"),
        "exp_flat_hi": float(flat.margin.max()) if len(flat) else float("nan"),
        "exp_steep": where(steep[steep.winner == "exponential"]),
        "exp_wins": int((wins.winner == "exponential").sum()),
        "others": "; ".join(f"{r.winner} for p = {r.exponent:g}, d = {r.dim}, B = {r.batch_size}"
                            for r in others.itertuples()),
        "others_hi": float(others.margin.max()) if len(others) else float("nan"),
        "n_others": len(others),
        "n_steep_wide": int(((wins.exponent > 1) & (wins.dim >= 20)).sum()),
        "capped_n": int(wins.capped.sum()),
        "capped": where(wins[wins.capped]),
        "cos_best_flat": int(flat.cosine_rank.min()) if len(flat) else 0,
        "cos_wins": len(cos_wins),
        "cos_win_hi": float(cos_wins.margin.max()) if len(cos_wins) else float("nan"),
        "max_gap": float(family.grid_gap.max()),
        "worse_n": int(worse.drop_duplicates(key).shape[0]),
        "worse_names": ", ".join(sorted(set(worse.schedule))),
        "worse": where(worse.drop_duplicates(key)),
        "below_floor_n": int((decays.groupby(key).vs_floor.max() < 1).sum()),
    }


# ---------------------------------------------------------------------------
# Exercises (the end of the chapter): one routine per exercise's solution
# ---------------------------------------------------------------------------

#: ex-optimizers-dilemma-best-gd-rate: noiseless gradient descent must shrink every coordinate by this factor.
EX_GD_ACCURACY = 1e-3
#: ex-optimizers-dilemma-time-to-floor: "at the floor" means within this relative distance of it.
EX_FLOOR_TOLERANCE = 0.01
#: ex-optimizers-dilemma-run-spread: the constant rate and the steps of the Monte Carlo run.
EX_SPREAD_LR = 1.0
EX_SPREAD_STEPS = 300
#: ex-optimizers-dilemma-constant-budget and -robbins-monro: the step budgets T compared.
EX_BUDGETS = (1000, 10000)
#: ex-optimizers-dilemma-robbins-monro: the factors a of the rates eta_t = a / (h (t + a)).
EX_RM_FACTORS = (0.25, 1.0, 2.0)
#: ex-optimizers-dilemma-warmup: linear warmups (steps) put in front of the exponential decay.
EX_WARMUPS = (0, 20, 100, 250)


def _coordinate(nqm: NoisyQuadratic, which: str) -> NoisyQuadratic:
    """The one-coordinate model of ``nqm``'s flattest (``"flat"``) or steepest (``"steep"``) coordinate."""
    i = int(np.argmin(nqm.h)) if which == "flat" else int(np.argmax(nqm.h))
    return NoisyQuadratic(h=nqm.h[i], sigma2=nqm.sigma2[i], batch_size=nqm.batch_size, theta0=nqm.theta0[i])


def exercise_best_gd_rate(nqm: NoisyQuadratic, accuracy: float = EX_GD_ACCURACY):
    r"""Noiseless gradient descent: the rate :math:`2/(h_{\min}+h_{\max})` and the steps it needs.

    For three rates (the middle of the stable range :math:`1/h_{\max}`, the
    minimizer :math:`\eta^\ast = 2/(h_{\min}+h_{\max})` of the worst contraction
    factor :math:`\rho(\eta) = \max_i|1-\eta h_i|`, and :math:`0.99 \times 2/h_{\max}`)
    the table predicts the number of steps after which every coordinate has
    shrunk by ``accuracy``, :math:`\lceil \ln(1/\text{accuracy}) / (-\ln\rho) \rceil`,
    and measures it with the noiseless recursion.

    Parameters
    ----------
    nqm : NoisyQuadratic
        Its curvatures and start are used; its noise is switched off.
    accuracy : float
        The factor, in (0, 1), by which every :math:`|\theta_i|` must shrink.

    Returns
    -------
    pandas.DataFrame
        One row per rate: ``rate`` (name), ``lr``, ``max_contraction``
        (:math:`\rho`), ``predicted_steps``, ``measured_steps`` and ``noise_floor``
        (the floor of section 4 with ``nqm``'s noise switched back on). ``attrs["grid_best"]``
        is the minimizer of :math:`\rho` on a grid of :math:`10^5` stable rates.

    >>> table = exercise_best_gd_rate(NoisyQuadratic(h=[1.0, 0.1], sigma2=[1.0, 0.1]))
    >>> table["max_contraction"].round(4).tolist()
    [0.9, 0.8182, 0.98]
    >>> (table["predicted_steps"] == table["measured_steps"]).all()
    np.True_
    """
    import pandas as pd

    accuracy = check_positive("accuracy", accuracy)
    if accuracy >= 1:
        raise ValueError(f"accuracy must be in (0, 1), got accuracy={accuracy!r}")
    h = nqm.h
    quiet = NoisyQuadratic(h=h, sigma2=np.zeros_like(h), batch_size=1, theta0=nqm.theta0)
    rates = {
        "1/h_max": 1.0 / h.max(),
        "2/(h_min + h_max)": 2.0 / (h.min() + h.max()),
        "0.99 x 2/h_max": 0.99 * quiet.stability_limit,
    }
    rows = []
    for name, lr in rates.items():
        rho = float(np.max(np.abs(1.0 - lr * h)))
        predicted = int(np.ceil(np.log(1.0 / accuracy) / -np.log(rho)))
        moments = quiet.second_moments(constant_schedule(lr), 2 * predicted)
        shrunk = np.sqrt(moments / quiet.theta0**2).max(axis=-1) <= accuracy
        rows.append({"rate": name, "lr": lr, "max_contraction": rho, "predicted_steps": predicted,
                     "measured_steps": int(np.argmax(shrunk)) if shrunk.any() else -1,
                     "noise_floor": nqm.noise_floor(lr)})
    grid = np.linspace(0.0, quiet.stability_limit, 100_001)[1:-1]
    table = pd.DataFrame(rows)
    table.attrs["grid_best"] = float(grid[np.argmin(np.max(np.abs(1.0 - grid[:, None] * h), axis=1))])
    return table


def exercise_time_to_floor(nqm: NoisyQuadratic, rates=DILEMMA_RATES, tolerance: float = EX_FLOOR_TOLERANCE,
                           total_steps: int = TOTAL_STEPS):
    r"""Steps until the flattest coordinate's second moment is within ``tolerance`` of its floor, per constant rate.

    From :math:`m_t - m^\ast = (1-\eta h)^{2t}(m_0 - m^\ast)` the first step with
    :math:`m_t \le (1 + \varepsilon) m^\ast` is
    :math:`\lceil \ln\frac{m_0 - m^\ast}{\varepsilon m^\ast} \big/ \big(-2\ln|1-\eta h|\big) \rceil`;
    the exact recursion measures it.

    Parameters
    ----------
    nqm : NoisyQuadratic
        The flattest coordinate (smallest :math:`h_i`) is used.
    rates : sequence of float
        Constant rates, each below the stability limit of that coordinate.
    tolerance : float
        :math:`\varepsilon > 0`.
    total_steps : int
        The budget :math:`T` the steps are compared with.

    Returns
    -------
    pandas.DataFrame
        One row per rate: ``lr``, ``relaxation`` (:math:`1/(2\eta h)`), ``floor``
        (:math:`m^\ast`), ``predicted_steps``, ``measured_steps``, ``within_budget``.

    >>> exercise_time_to_floor(chapter1_nqm(), rates=(1.0,))[["predicted_steps", "measured_steps"]].values.tolist()
    [[72, 72]]
    """
    import pandas as pd

    tolerance = check_positive("tolerance", tolerance)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    flat = _coordinate(nqm, "flat")
    h, m0 = float(flat.h[0]), float(flat.theta0[0] ** 2)
    rows = []
    for lr in rates:
        lr = check_positive("lr", lr)
        if lr >= flat.stability_limit:
            raise ValueError(f"lr={lr!r} is at or beyond the stability limit {flat.stability_limit:g} of the coordinate")
        floor = lr * float(flat.sigma2[0]) / (flat.batch_size * h * (2 - lr * h))
        predicted = int(np.ceil(np.log((m0 - floor) / (tolerance * floor)) / (-2 * np.log(abs(1 - lr * h)))))
        m = flat.second_moments(constant_schedule(lr), 2 * predicted)[:, 0]
        rows.append({"lr": lr, "relaxation": 1 / (2 * lr * h), "floor": floor, "predicted_steps": predicted,
                     "measured_steps": int(np.argmax(m <= (1 + tolerance) * floor)),
                     "within_budget": predicted <= total_steps})
    return pd.DataFrame(rows)


def exercise_run_spread(nqm: NoisyQuadratic, lr: float = EX_SPREAD_LR, total_steps: int = EX_SPREAD_STEPS,
                        n_seeds: int = MC_SEEDS, seed: int = MC_SEED, device=None):
    r"""How far one run's loss at the noise floor strays from the expected loss: formula against Monte Carlo.

    At the floor each :math:`\theta_i` is Gaussian with mean 0 and variance
    :math:`m_i^\ast`, so :math:`\tfrac12 h_i\theta_i^2` has mean :math:`f_i` (the
    floor of the coordinate) and variance :math:`2f_i^2`, and the loss of one run
    has standard deviation :math:`\sqrt{2\sum_i f_i^2}`. Monte Carlo gives the
    standard deviation over ``n_seeds`` runs (``stderr * sqrt(n_seeds)``) and its
    z-score against the formula, with the standard error of a sample standard
    deviation, :math:`\tfrac12\sqrt{(2 + \kappa)/n}` for excess kurtosis
    :math:`\kappa = 12\sum_i f_i^4 / (\sum_i f_i^2)^2`.

    Parameters
    ----------
    nqm : NoisyQuadratic
    lr : float
        The constant rate (below the stability limit).
    total_steps : int
        Steps run; long enough that the start is forgotten (see ``start_left``).
    n_seeds, seed, device
        Passed to :meth:`~lrlab.nqm.NoisyQuadratic.simulate`.

    Returns
    -------
    pandas.DataFrame
        One row: ``lr``, ``floor``, ``mc_mean``, ``predicted_std``, ``mc_std``,
        ``relative_spread`` (``predicted_std / floor``), ``lower_bound`` (its
        smallest possible value, :math:`\sqrt{2/d}`, reached when every coordinate
        has the same floor), ``z`` and ``start_left`` (:math:`\max_i (1-\eta h_i)^{2T}`);
        ``attrs["device"]``.

    >>> row = exercise_run_spread(chapter1_nqm(), n_seeds=500, device="cpu").iloc[0]
    >>> round(float(row.relative_spread), 3), bool(abs(row.z) < 5)
    (0.63, True)
    """
    import pandas as pd

    lr = check_positive("lr", lr)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    per_coordinate = lr * nqm.sigma2 / (2 * nqm.batch_size * (2 - lr * nqm.h))
    floor = nqm.noise_floor(lr)
    mc = nqm.simulate(constant_schedule(lr), total_steps, n_seeds=n_seeds, seed=seed, device=device)
    predicted = float(np.sqrt(2 * np.sum(per_coordinate**2)))
    measured = float(mc.stderr[-1] * np.sqrt(mc.n_seeds))
    kurtosis = 12 * np.sum(per_coordinate**4) / np.sum(per_coordinate**2) ** 2
    se = predicted * 0.5 * np.sqrt((2 + kurtosis) / mc.n_seeds)
    table = pd.DataFrame([{
        "lr": lr, "floor": floor, "mc_mean": float(mc.mean[-1]), "predicted_std": predicted, "mc_std": measured,
        "relative_spread": predicted / floor, "lower_bound": float(np.sqrt(2 / nqm.dim)),
        "z": (measured - predicted) / se,
        "start_left": float(np.max((1 - lr * nqm.h) ** (2 * total_steps))),
    }])
    table.attrs["device"] = mc.device
    return table


def constant_final_loss(nqm: NoisyQuadratic, lr, total_steps: int):
    r"""Exact :math:`\mathbb E[L_T]` of a constant rate in closed form: :math:`\sum_i \tfrac12 h_i[(1-\eta h_i)^{2T}(\theta_{0,i}^2 - m_i^\ast) + m_i^\ast]`.

    Parameters
    ----------
    nqm : NoisyQuadratic
    lr : float or array_like
        Constant rates below the stability limit (an array gives one value per rate).
    total_steps : int
        :math:`T`.

    >>> nqm = chapter1_nqm()
    >>> bool(np.isclose(constant_final_loss(nqm, 0.3, 50), nqm.expected_loss(constant_schedule(0.3), 50)[-1]))
    True
    """
    lr = np.asarray(lr, dtype=np.float64)[..., None]
    fixed = lr * nqm.sigma2 / (nqm.batch_size * nqm.h * (2 - lr * nqm.h))
    moments = (1 - lr * nqm.h) ** (2 * total_steps) * (nqm.theta0**2 - fixed) + fixed
    return 0.5 * (nqm.h * moments).sum(-1)


def exercise_constant_budget(nqm: NoisyQuadratic, budgets=EX_BUDGETS):
    r"""The best constant rate for a step budget :math:`T` on the steepest coordinate, exact and approximate.

    The exact final loss (:func:`constant_final_loss`) is minimized over
    :math:`\log\eta` (bounded scalar minimization); the approximation
    :math:`(1-\eta h)^{2T} \approx e^{-2\eta hT}`, :math:`2 - \eta h \approx 2` gives
    :math:`\eta^\ast \approx \ln(4Bh^2T\theta_0^2/\sigma^2)/(2hT)` and
    :math:`\mathbb E[L_T] \approx \sigma^2 (1 + \ln(4Bh^2T\theta_0^2/\sigma^2))/(8BhT)`.

    Parameters
    ----------
    nqm : NoisyQuadratic
        Its steepest coordinate is used.
    budgets : sequence of int
        The budgets :math:`T`.

    Returns
    -------
    pandas.DataFrame
        One row per budget: ``total_steps``, ``best_lr``, ``approx_lr``, ``best_loss``, ``approx_loss``.

    >>> table = exercise_constant_budget(chapter1_nqm(), budgets=(1000,))
    >>> round(float(table.best_lr.iloc[0]), 5), round(float(table.approx_lr.iloc[0]), 5)
    (0.00517, 0.00519)
    """
    import pandas as pd
    from scipy.optimize import minimize_scalar

    steep = _coordinate(nqm, "steep")
    h, s2, b, th2 = float(steep.h[0]), float(steep.sigma2[0]), steep.batch_size, float(steep.theta0[0] ** 2)
    rows = []
    for T in budgets:
        T = check_int("total_steps", T, minimum=1)
        best = minimize_scalar(lambda x: float(constant_final_loss(steep, np.exp(x), T)),
                               bounds=(np.log(1e-8 / h), np.log(1.99 / h)), method="bounded",
                               options={"xatol": 1e-10})
        log_term = np.log(4 * b * h**2 * T * th2 / s2)
        rows.append({"total_steps": T, "best_lr": float(np.exp(best.x)), "approx_lr": log_term / (2 * h * T),
                     "best_loss": float(best.fun), "approx_loss": s2 * (1 + log_term) / (8 * b * h * T)})
    return pd.DataFrame(rows)


def robbins_monro_rates(a: float, h: float, total_steps: int) -> np.ndarray:
    r"""The rates :math:`\eta_t = a / (h (t + a))`, ``t = 0 .. T-1``: :math:`1/h` at the start, :math:`\approx a/(ht)` later.

    >>> robbins_monro_rates(1.0, 2.0, 3).tolist()
    [0.5, 0.25, 0.16666666666666666]
    """
    a = check_positive("a", a)
    h = check_positive("h", h)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    return a / (h * (np.arange(total_steps) + a))


def exercise_robbins_monro(nqm: NoisyQuadratic, factors=EX_RM_FACTORS, total_steps: int = EX_BUDGETS[-1]):
    r"""Rates :math:`\eta_t = a/(h(t+a))` on the steepest coordinate: final loss and decay exponent, against theory.

    For :math:`a > 1/2` the expected loss behaves like
    :math:`a^2\sigma^2/(2Bh(2a-1)\,t)` (for :math:`a = 1` it equals
    :math:`\sigma^2/(2Bht)` exactly, for :math:`t \ge 1`); for :math:`a < 1/2` it
    decays like :math:`t^{-2a}`. The slope is measured between :math:`T/10` and
    :math:`T` on log-log axes.

    Parameters
    ----------
    nqm : NoisyQuadratic
        Its steepest coordinate is used.
    factors : sequence of float
        The factors :math:`a`.
    total_steps : int
        :math:`T` (at least 10).

    Returns
    -------
    pandas.DataFrame
        One row per factor: ``a``, ``final_loss``, ``predicted_loss`` (NaN for
        :math:`a \le 1/2`), ``slope``, ``predicted_slope`` (:math:`-\min(1, 2a)`),
        ``vs_constant`` (the best constant rate's final loss at the same :math:`T`,
        :func:`exercise_constant_budget`, divided by this one). ``attrs["a1_max_rel_error"]``:
        largest :math:`|\mathbb E[L_t]\,2Bht/\sigma^2 - 1|` over :math:`t \ge 1` for :math:`a = 1`
        (NaN if 1 is not among the factors).

    >>> table = exercise_robbins_monro(chapter1_nqm(), factors=(1.0,), total_steps=100)
    >>> bool(table.attrs["a1_max_rel_error"] < 1e-12)
    True
    """
    import pandas as pd

    total_steps = check_int("total_steps", total_steps, minimum=10)
    steep = _coordinate(nqm, "steep")
    h, s2, b = float(steep.h[0]), float(steep.sigma2[0]), steep.batch_size
    factors = [check_positive("a", a) for a in factors]
    losses = steep.expected_loss(np.stack([robbins_monro_rates(a, h, total_steps) for a in factors]))
    constant = float(exercise_constant_budget(nqm, budgets=(total_steps,)).best_loss.iloc[0])
    rows = []
    for a, loss in zip(factors, losses):
        rows.append({
            "a": a, "final_loss": float(loss[-1]),
            "predicted_loss": a**2 * s2 / (2 * b * h * (2 * a - 1) * total_steps) if a > 0.5 else np.nan,
            "slope": float(np.log(loss[-1] / loss[total_steps // 10]) / np.log(total_steps / (total_steps // 10))),
            "predicted_slope": -min(1.0, 2 * a), "vs_constant": constant / float(loss[-1]),
        })
    table = pd.DataFrame(rows)
    t = np.arange(1, total_steps + 1)
    table.attrs["a1_max_rel_error"] = (float(np.max(np.abs(losses[factors.index(1.0)][1:] * 2 * b * h * t / s2 - 1)))
                                       if 1.0 in factors else np.nan)
    return table


def exercise_warmup(nqm: NoisyQuadratic, warmups=EX_WARMUPS, total_steps: int = TOTAL_STEPS, grid=None):
    r"""A linear warmup in front of the exponential decay of section 6, every peak tuned: does it help on the NQM?

    With ``W`` warmup steps the schedule is :func:`~lrlab.schedules.linear_warmup`
    of an exponential decay that reaches :data:`END_FRACTION` of its peak at
    step ``total_steps`` (over the ``total_steps - W`` steps left).

    Parameters
    ----------
    nqm : NoisyQuadratic
    warmups : sequence of int
        Warmup lengths (0: no warmup, the exponential decay of section 6).
    total_steps : int
        The common budget :math:`T`.
    grid : array_like, optional
        Candidate peak rates (default :func:`lr_grid`).

    Returns
    -------
    pandas.DataFrame
        One row per warmup: ``warmup_steps``, ``peak_lr``, ``final_loss``,
        ``vs_no_warmup`` (final loss over the first row's), ``on_grid_edge``.

    >>> exercise_warmup(chapter1_nqm(), warmups=(0, 50), total_steps=200).warmup_steps.tolist()
    [0, 50]
    """
    import pandas as pd

    total_steps = check_int("total_steps", total_steps, minimum=2)
    grid = lr_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    rows = []
    for w in warmups:
        w = check_int("warmup_steps", w, minimum=0)
        if w >= total_steps:
            raise ValueError(f"warmup_steps must be below total_steps={total_steps}, got warmup_steps={w}")
        gamma = END_FRACTION ** (1 / (total_steps - w))
        make = ((lambda lr, g=gamma: exponential_schedule(lr, gamma=g)) if w == 0 else
                (lambda lr, g=gamma, w=w: linear_warmup(exponential_schedule(lr, gamma=g), warmup_steps=w)))
        lr, final, _ = tune_peak_lr(nqm, make, total_steps, grid)
        rows.append({"warmup_steps": w, "peak_lr": lr, "final_loss": final,
                     "on_grid_edge": lr in (grid.min(), grid.max())})
    table = pd.DataFrame(rows)
    table.insert(3, "vs_no_warmup", table.final_loss / table.final_loss.iloc[0])
    return table
