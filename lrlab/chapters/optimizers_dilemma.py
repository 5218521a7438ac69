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

from .._validate import check_finite, check_int, check_nonnegative, check_positive, with_overrides
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
from ..stats import max_abs_z  # noqa: F401  (the chapter's Monte Carlo check)
from ..torch_adapter import torch_lr_trace
from ..training import full_batch_loss, tiny_mlp, tiny_regression, train_with_schedule  # noqa: F401

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
    "FLOOR_FRACTIONS",
    "FLOOR_STEPS",
    "END_FRACTION",
    "END_FRACTIONS",
    "ZOO_PEAK_LR",
    "CONSTANT",
    "TINY_STEPS",
    "TINY_PEAK_LR",
    "chapter1_nqm",
    "lr_grid",
    "stability_table",
    "mc_schedules",
    "noise_floor_table",
    "zoo",
    "previews",
    "torch_parity_table",
    "comparison_factories",
    "schedule_comparison",
    "end_value_sweep",
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
        where the shape cannot end there).

    >>> sweep = end_value_sweep(chapter1_nqm(), total_steps=200, end_fractions=(0.0, 0.1))
    >>> sweep.columns.tolist()
    ['cosine', 'linear', 'exponential']
    >>> bool(np.isnan(sweep.loc[0.0, "exponential"]))
    True
    """
    import pandas as pd

    total_steps = check_int("total_steps", total_steps, minimum=1)
    grid = lr_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    rows = {}
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
        rows[r] = {name: tune_peak_lr(nqm, make, total_steps, grid)[1] for name, make in shapes.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")[["cosine", "linear", "exponential"]]
    table.index.name = "end_fraction"
    return table
