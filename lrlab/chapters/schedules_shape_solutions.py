"""Chapter 4's parameters and experiments ("The ghost in the machine: schedules shape the solution").

Imported by ``book/schedules_shape_solutions.md`` and by ``tests/test_schedules_shape_solutions_claims.py``,
so the numbers in the book and the checks of its claims cannot drift apart.

>>> SDE_PEAK_LR > SDE_FLOOR_LR > 0
True
"""

from __future__ import annotations

import numpy as np

from .. import annealing, implicit_bias, pac_bayes, sde
from ..nqm import NoisyQuadratic, rates_of
from ..schedules import exponential_schedule, multistep_schedule

# ---------------------------------------------------------------------------
# Section 1: the variance ODE, adiabatic tracking and quench
# ---------------------------------------------------------------------------
SDE_H = (1.0, 0.1)  # a stiff and a flat coordinate
SDE_SIGMA2 = 1.0
SDE_BATCH = 1
SDE_PEAK_LR = 0.02
SDE_FLOOR_LR = 0.002
SDE_STEPS = 6000
SDE_QUENCH_STEP = 1500
SDE_SEEDS = 4000
SDE_SEED = 0


def sde_schedules() -> dict:
    """The slow (geometric) decay and the quench, both from ``SDE_PEAK_LR`` to ``SDE_FLOOR_LR``.

    >>> sorted(sde_schedules())
    ['quench', 'slow decay']
    """
    gamma = (SDE_FLOOR_LR / SDE_PEAK_LR) ** (1.0 / SDE_STEPS)
    return {
        "slow decay": exponential_schedule(SDE_PEAK_LR, gamma=gamma),
        "quench": multistep_schedule(SDE_PEAK_LR, milestones=[SDE_QUENCH_STEP], gamma=SDE_FLOOR_LR / SDE_PEAK_LR),
    }


def sde_theta0() -> np.ndarray:
    """Start every coordinate at the stationary spread of the peak rate: ``theta0^2 = v_inf(peak)``."""
    return np.sqrt(sde.stationary_variance(SDE_PEAK_LR, np.array(SDE_H), SDE_SIGMA2, SDE_BATCH))


def adiabaticity(schedule, total_steps: int, h: float) -> np.ndarray:
    r"""The lag parameter :math:`\varepsilon_t = -\frac{d\ln\eta/dt}{2h\eta_t}` (finite differences).

    For :math:`\varepsilon \ll 1` the variance tracks the stationary one with a
    relative lag :math:`v/v_\infty - 1 \approx \varepsilon`.

    >>> adiabaticity([1.0, 0.5], 2, h=1.0).round(3).tolist()   # -ln(0.5) / (2 * eta)
    [0.347, 0.693]
    """
    lrs = rates_of(schedule, total_steps)
    dlog = np.gradient(np.log(lrs))
    return -dlog / (2 * h * lrs)


def sde_experiment(n_seeds: int = SDE_SEEDS, device=None) -> dict:
    """ODE, exact discrete recursion, adiabatic curve and Monte Carlo for each schedule.

    Returns
    -------
    dict
        ``{name: {"rates", "ode", "recursion", "adiabatic", "mc"}}``; arrays have
        one column per curvature in ``SDE_H``.
    """
    theta0 = sde_theta0()
    h = np.array(SDE_H)
    nqm = NoisyQuadratic(h=h, sigma2=np.full(h.shape, SDE_SIGMA2), batch_size=SDE_BATCH, theta0=theta0)
    out = {}
    for i, (name, schedule) in enumerate(sde_schedules().items()):
        rates = rates_of(schedule, SDE_STEPS)
        out[name] = {
            "rates": rates,
            "ode": sde.variance_ode(rates, h=h, sigma2=SDE_SIGMA2, batch_size=SDE_BATCH, v0=theta0**2),
            "recursion": nqm.second_moments(rates),
            "adiabatic": np.stack([sde.adiabatic_variance(rates, h=hi, sigma2=SDE_SIGMA2, batch_size=SDE_BATCH)
                                   for hi in h], axis=-1),
            "mc": sde.simulate_variance(rates, h=h, sigma2=SDE_SIGMA2, batch_size=SDE_BATCH, theta0=theta0,
                                        n_seeds=n_seeds, seed=SDE_SEED + i, device=device),
        }
    return out


def quench_decay_rate(ode_or_mc: np.ndarray, h: float, window: int = 600) -> float:
    r"""Fitted exponential decay rate of :math:`v(t) - v_\infty(\eta_{\rm floor})` just after the quench.

    Least squares of :math:`\ln(v - v_\infty)` on the step over ``window``
    steps after ``SDE_QUENCH_STEP``; the variance ODE predicts
    :math:`2h\eta_{\rm floor}`.
    """
    v_floor = sde.stationary_variance(SDE_FLOOR_LR, h, SDE_SIGMA2, SDE_BATCH)
    t = np.arange(SDE_QUENCH_STEP + 1, SDE_QUENCH_STEP + 1 + window)
    excess = np.asarray(ode_or_mc)[t] - v_floor
    if np.any(excess <= 0):
        raise ValueError("the excess variance reached zero inside the window: shorten window")
    return float(-np.polyfit(t, np.log(excess), 1)[0])


# ---------------------------------------------------------------------------
# Section 2: annealing on a rugged landscape
# ---------------------------------------------------------------------------
ANNEAL_CURVATURE = 1.5
ANNEAL_RIPPLE = 1.0
ANNEAL_START_LR = 0.02
ANNEAL_END_LR = 2e-4
ANNEAL_SIGMA = 16.0
ANNEAL_X0 = 3.0
ANNEAL_COOLING_STEPS = (30, 100, 300, 1000, 3000, 10000)
ANNEAL_RUNS = 1000
ANNEAL_SEED = 0


def landscape() -> annealing.RuggedLandscape:
    """The chapter's rugged landscape."""
    return annealing.RuggedLandscape(curvature=ANNEAL_CURVATURE, ripple=ANNEAL_RIPPLE)


def annealing_experiment(n_runs: int = ANNEAL_RUNS, device=None):
    """Success fraction (with 95 % Wilson intervals) for every cooling length in ``ANNEAL_COOLING_STEPS``."""
    return annealing.success_vs_cooling(
        landscape(), ANNEAL_COOLING_STEPS, start_lr=ANNEAL_START_LR, end_lr=ANNEAL_END_LR, sigma=ANNEAL_SIGMA,
        x0=ANNEAL_X0, n_runs=n_runs, seed=ANNEAL_SEED, device=device,
    )


# ---------------------------------------------------------------------------
# Section 3: PAC-Bayes
# ---------------------------------------------------------------------------
PB_H = 2.0
PB_SIGMA2 = 4.0
PB_BATCH = 32
PB_PRIOR_VAR = 1.0
PB_DELTA = 0.05
PB_N = 10_000
PB_NS = (1_000, 10_000, 100_000, 1_000_000)
PB_GRID = np.geomspace(1e-4, 1.0, 401)


def pb_lambda(n: int = PB_N, delta: float = PB_DELTA) -> float:
    r"""The :math:`\lambda` that balances :math:`\ln(1/\delta)/\lambda` and :math:`\lambda/(8n)`: :math:`\sqrt{8n\ln(1/\delta)}`.

    >>> round(pb_lambda(1000, 0.05), 2)
    154.81
    """
    return float(np.sqrt(8 * n * np.log(1 / delta)))


def pb_kwargs(n: int = PB_N) -> dict:
    """Keyword arguments of :func:`lrlab.pac_bayes.bound_vs_lr` for ``n`` examples."""
    return {"h": PB_H, "sigma2": PB_SIGMA2, "batch_size": PB_BATCH, "prior_var": PB_PRIOR_VAR,
            "lam": pb_lambda(n), "n": n, "delta": PB_DELTA}


def pb_table():
    """Closed-form optimal rate against the grid search, for each training-set size in ``PB_NS``."""
    import pandas as pd

    rows = []
    for n in PB_NS:
        kw = pb_kwargs(n)
        best, best_bound, _ = pac_bayes.grid_search_lr(PB_GRID, **kw)
        closed = pac_bayes.optimal_lr(PB_H, PB_PRIOR_VAR, kw["lam"], PB_SIGMA2, PB_BATCH)
        rows.append({"n": n, "lambda": kw["lam"], "v_star": pac_bayes.optimal_variance(PB_H, PB_PRIOR_VAR, kw["lam"]),
                     "eta_closed_form": closed, "eta_grid": best, "grid_vs_closed": best / closed,
                     "bound_at_eta_star": float(pac_bayes.bound_vs_lr(closed, **kw))})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Section 4: implicit bias
# ---------------------------------------------------------------------------
IB_N = 40
IB_SEED = 0
IB_STEPS = 50_000
IB_NORMALIZED_LR = 0.1


def ib_data():
    """The chapter's separable data set."""
    return implicit_bias.separable_data(n=IB_N, seed=IB_SEED)


def ib_schedules() -> dict:
    """Name -> (rates over ``IB_STEPS`` steps, normalize flag)."""
    t = np.arange(IB_STEPS, dtype=np.float64)
    return {
        "constant 1": (np.ones(IB_STEPS), False),
        "1/sqrt(t+1)": (1 / np.sqrt(t + 1), False),
        "1/(t+1)^1.5 (summable)": (1 / (t + 1) ** 1.5, False),
        "normalized": (np.full(IB_STEPS, IB_NORMALIZED_LR), True),
    }


def ib_runs(device=None, torch_backend: bool = False) -> dict:
    """Run gradient descent with every schedule of :func:`ib_schedules`: ``{name: (steps, weights)}``."""
    X, y = ib_data()
    run = implicit_bias.logistic_gd_torch if torch_backend else implicit_bias.logistic_gd
    kwargs = {"device": device} if torch_backend else {}
    return {name: run(X, y, rates, IB_STEPS, normalize=normalize, **kwargs)
            for name, (rates, normalize) in ib_schedules().items()}


def late_slope(steps, values, first_step: int) -> float:
    """Least-squares slope of ``values`` against ``ln(step)`` for ``step >= first_step``."""
    steps = np.asarray(steps)
    keep = steps >= first_step
    return float(np.polyfit(np.log(steps[keep]), np.asarray(values)[keep], 1)[0])


def log_log_slope(x, y) -> float:
    """Least-squares slope of ``ln y`` against ``ln x``."""
    return float(np.polyfit(np.log(np.asarray(x, dtype=np.float64)), np.log(np.asarray(y, dtype=np.float64)), 1)[0])


def ib_summary(runs: dict, w_svm: np.ndarray) -> dict:
    """The measured numbers of section 4, from the runs of :func:`ib_runs` and the SVM solution.

    Returns
    -------
    dict
        ``angle_100``, ``angle_1000``, ``angle_end`` (constant rate, radians);
        ``angle_exponent`` (slope of ln angle on ln ln t over the last decade,
        the asymptotic theory says -1); ``norm_slope`` (slope of the norm on ln t
        over the last decade) and ``svm_norm``; ``collapse_gap`` (largest
        relative gap between the 1/sqrt(t+1) run and the constant run at equal
        sums of rates >= 10); ``summable_norm_change`` (relative change of the
        norm over the last decade) and ``summable_angle_end``;
        ``normalized_angle_end``, ``normalized_exponent`` (slope of ln angle on ln t
        over the last decade) and ``normalized_norm_ratio`` (norm / (eta T)).
    """
    out = {"svm_norm": float(np.linalg.norm(w_svm))}
    first = IB_STEPS // 10
    steps, W = runs["constant 1"]
    angle = implicit_bias.angle_to(W, w_svm)
    norm = np.linalg.norm(W, axis=1)
    at = lambda t: float(angle[np.argmin(np.abs(steps - t))])
    late = steps >= first
    out.update(angle_100=at(100), angle_1000=at(1000), angle_end=float(angle[-1]),
               angle_exponent=log_log_slope(np.log(steps[late]), angle[late]),
               norm_slope=late_slope(steps, norm, first), norm_end=float(norm[-1]))
    # only the sum of the rates matters: compare at equal sum S_t = sum_{k<t} eta_k
    s_steps, s_W = runs["1/sqrt(t+1)"]
    rates = ib_schedules()["1/sqrt(t+1)"][0]
    sums = np.cumsum(rates)[s_steps - 1]
    ok = sums >= 10
    const_angle_at_sum = np.interp(np.log(sums[ok]), np.log(steps), angle)  # constant rate 1: S_t = t
    s_angle = implicit_bias.angle_to(s_W[ok], w_svm)
    out["collapse_gap"] = float(np.max(np.abs(s_angle / const_angle_at_sum - 1)))
    out["sqrt_angle_end"] = float(s_angle[-1])
    steps_s, W_s = runs["1/(t+1)^1.5 (summable)"]
    norm_s = np.linalg.norm(W_s, axis=1)
    out["summable_norm_change"] = float(norm_s[-1] / norm_s[np.argmin(np.abs(steps_s - first))] - 1)
    out["summable_angle_end"] = float(implicit_bias.angle_to(W_s[-1:], w_svm)[0])
    steps_n, W_n = runs["normalized"]
    angle_n = implicit_bias.angle_to(W_n, w_svm)
    late_n = steps_n >= first
    out["normalized_angle_end"] = float(angle_n[-1])
    out["normalized_exponent"] = log_log_slope(steps_n[late_n], angle_n[late_n])
    out["normalized_norm_ratio"] = float(np.linalg.norm(W_n[-1]) / (IB_NORMALIZED_LR * IB_STEPS))
    return out


def sde_summary(results: dict) -> dict:
    """The measured numbers of section 1, from :func:`sde_experiment`.

    Returns
    -------
    dict
        ``max_z`` (largest |Monte Carlo - exact recursion| / standard error over
        both schedules, coordinates and steps >= 1); ``max_ode_gap`` (largest
        relative gap between the ODE and the recursion); ``lag_end`` and
        ``eps_end`` (relative lag of the slow decay at the last step, and the
        predicted epsilon, per coordinate); ``decay_mc`` and ``decay_pred``
        (fitted and predicted post-quench relaxation rates, per coordinate);
        ``quench_lag_end`` (relative lag at the end of the quench run, per coordinate).
    """
    h = np.array(SDE_H)
    z = max(float(np.max(np.abs(r["mc"].mean[1:] - r["recursion"][1:]) / r["mc"].stderr[1:])) for r in results.values())
    gap = max(float(np.max(np.abs(r["ode"] / r["recursion"] - 1))) for r in results.values())
    slow, quench = results["slow decay"], results["quench"]
    lag = slow["ode"][1:] / slow["adiabatic"] - 1
    eps = np.array([adiabaticity(slow["rates"], SDE_STEPS, hi)[-1] for hi in h])
    windows = [int(min(600, 2 * sde.relaxation_time(SDE_FLOOR_LR, hi))) for hi in h]
    decay_mc = np.array([quench_decay_rate(quench["mc"].mean[:, j], hi, window=w)
                         for j, (hi, w) in enumerate(zip(h, windows))])
    return {"max_z": z, "max_ode_gap": gap, "lag_end": lag[-1], "eps_end": eps, "decay_mc": decay_mc,
            "decay_pred": 2 * h * SDE_FLOOR_LR, "quench_lag_end": quench["ode"][-1] / quench["adiabatic"][-1] - 1}
