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
from ..schedules import cosine_schedule, exponential_schedule, multistep_schedule, polynomial_schedule
from ..stats import proportion_difference

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
SDE_POLY_POWER = 2.0
SDE_SEEDS = 16_000
SDE_SEED = 0
SDE_RECORD_EVERY = 10  # Monte Carlo averages every 10 steps (the figure's bands)
SDE_CHECK_EVERY = 500  # ... and compared with the exact recursion every 500 steps
SDE_FWER = 1e-3  # family-wise false-alarm rate of that comparison
SDE_WRONG = 0.05  # a deliberately wrong variance, 5 % off, must fail the comparison
SDE_LAG_TOL = 0.10  # the lag formula "holds" while it is within 10 % of the exact lag
SDE_LAG_MIN = 0.01  # ... on the steps where the lag is at least 1 % (smaller lags do not matter)


def sde_schedules() -> dict:
    """The three decays from ``SDE_PEAK_LR`` to ``SDE_FLOOR_LR`` that are simulated.

    A slow geometric decay (for which the lag formula is exact), a cosine decay
    (for which it is an approximation) and a quench at ``SDE_QUENCH_STEP``.

    >>> sorted(sde_schedules())
    ['cosine decay', 'geometric decay', 'quench']
    """
    gamma = (SDE_FLOOR_LR / SDE_PEAK_LR) ** (1.0 / SDE_STEPS)
    return {
        "geometric decay": exponential_schedule(SDE_PEAK_LR, gamma=gamma),
        "cosine decay": cosine_schedule(SDE_PEAK_LR, SDE_STEPS, min_lr=SDE_FLOOR_LR),
        "quench": multistep_schedule(SDE_PEAK_LR, milestones=[SDE_QUENCH_STEP], gamma=SDE_FLOOR_LR / SDE_PEAK_LR),
    }


def sde_lag_schedules() -> dict:
    """The smooth decays on which the lag formula is tested: geometric, cosine and quadratic (polynomial, power 2).

    >>> list(sde_lag_schedules())
    ['geometric decay', 'cosine decay', 'polynomial decay']
    """
    smooth = {k: v for k, v in sde_schedules().items() if k != "quench"}
    smooth["polynomial decay"] = polynomial_schedule(SDE_PEAK_LR, SDE_STEPS, power=SDE_POLY_POWER, min_lr=SDE_FLOOR_LR)
    return smooth


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


def sde_record() -> np.ndarray:
    """Steps at which the Monte Carlo is averaged: every ``SDE_RECORD_EVERY`` steps, 0..T.

    >>> sde_record()[:3].tolist(), int(sde_record()[-1]) == SDE_STEPS
    ([0, 10, 20], True)
    """
    return np.arange(0, SDE_STEPS + 1, SDE_RECORD_EVERY)


def sde_checkpoints() -> np.ndarray:
    """Steps at which Monte Carlo and exact recursion are compared: every ``SDE_CHECK_EVERY`` steps, from it to T.

    >>> sde_checkpoints()[:2].tolist(), len(sde_checkpoints())
    ([500, 1000], 12)
    """
    return np.arange(SDE_CHECK_EVERY, SDE_STEPS + 1, SDE_CHECK_EVERY)


def sde_experiment(n_seeds: int = SDE_SEEDS, device=None) -> dict:
    """ODE, exact discrete recursion, adiabatic curve and Monte Carlo for each schedule of :func:`sde_schedules`.

    Returns
    -------
    dict
        ``{name: {"rates", "ode", "recursion", "adiabatic", "mc"}}``; arrays have
        one column per curvature in ``SDE_H``; ``ode`` and ``recursion`` have one
        row per step 0..T, ``mc`` one row per step of :func:`sde_record`.
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
                                        n_seeds=n_seeds, seed=SDE_SEED + i, device=device, record=sde_record()),
        }
    return out


def checkpoint_z(results: dict, scale: float = 1.0) -> np.ndarray:
    r"""z-scores :math:`(\bar v_t - c\,v_t)/\mathrm{se}_t` of the Monte Carlo against ``scale`` times the exact recursion.

    At every step of :func:`sde_checkpoints`, for every schedule and coordinate:
    shape ``(n_schedules, n_checkpoints, n_coords)``. ``scale=1`` is the real
    check; ``scale=1.05`` asks whether a variance 5 % off would be caught.
    """
    checks = sde_checkpoints()
    zs = []
    for r in results.values():
        rows = np.searchsorted(r["mc"].steps, checks)
        zs.append((r["mc"].mean[rows] - scale * r["recursion"][checks]) / r["mc"].stderr[rows])
    return np.array(zs)


def quench_decay_rate(mc: sde.VarianceMC, h: float, window: int, z: float = 1.96) -> tuple[float, float]:
    r"""Decay rate of the excess :math:`\bar v_t - v_\infty(\eta_{\rm floor})` after the quench, with a conservative CI.

    The rate is :math:`\ln(e_{s_0}/e_{s_0+w})/w` between the first recorded step
    after ``SDE_QUENCH_STEP`` and ``window`` steps later; the variance ODE
    predicts :math:`2h\eta_{\rm floor}`. Half-width:
    :math:`z(\mathrm{se}_0/e_0 + \mathrm{se}_1/e_1)/w`, the delta-method standard
    error of the log ratio for the worst correlation (-1) between the two averages,
    so the interval covers at least its nominal level.

    Returns
    -------
    (rate, half_width) : tuple of float
    """
    v_floor = sde.stationary_variance(SDE_FLOOR_LR, h, SDE_SIGMA2, SDE_BATCH)
    steps = mc.steps
    i0 = int(np.searchsorted(steps, SDE_QUENCH_STEP + 1))
    i1 = int(np.searchsorted(steps, steps[i0] + window))
    col = list(SDE_H).index(h)
    ex = mc.mean[[i0, i1], col] - v_floor
    if np.any(ex <= 0):
        raise ValueError("the excess variance reached zero inside the window: shorten window")
    w = float(steps[i1] - steps[i0])
    rate = float(np.log(ex[0] / ex[1]) / w)
    half = float(z * np.sum(mc.stderr[[i0, i1], col] / ex) / w)
    return rate, half


def lag_table():
    r"""The lag formula :math:`\varepsilon_t` against the exact lag of the variance ODE, for each smooth decay.

    The exact lag is :math:`v(t)/v_\infty(\eta_{t-1}) - 1` from
    :func:`lrlab.sde.variance_ode` (piecewise exact). The formula's relative
    error :math:`|\varepsilon_t/\mathrm{lag}_t - 1|` is measured on the steps
    where the lag is at least ``SDE_LAG_MIN``.

    Returns
    -------
    pandas.DataFrame
        One row per (schedule, coordinate): ``eps_end``, ``lag_end``,
        ``max_error`` (largest relative error), ``share_ok`` (fraction of the
        compared steps within ``SDE_LAG_TOL``), ``last_ok_step`` (last step
        within it, -1 if none), ``eps_at_last_ok`` (the formula there) and
        ``last_bad_step`` (last step outside it, -1 if none).
    """
    import pandas as pd

    rows = []
    for name, schedule in sde_lag_schedules().items():
        rates = rates_of(schedule, SDE_STEPS)
        for h, v0 in zip(SDE_H, sde_theta0() ** 2):
            ode = sde.variance_ode(rates, h=h, sigma2=SDE_SIGMA2, batch_size=SDE_BATCH, v0=v0)[1:]
            lag = ode / sde.adiabatic_variance(rates, h=h, sigma2=SDE_SIGMA2, batch_size=SDE_BATCH) - 1
            eps = adiabaticity(rates, SDE_STEPS, h)
            compared = lag >= SDE_LAG_MIN
            err = np.abs(eps[compared] / lag[compared] - 1)
            good = np.flatnonzero(compared)[err <= SDE_LAG_TOL]
            bad = np.flatnonzero(compared)[err > SDE_LAG_TOL]
            last = int(good[-1]) if good.size else -1
            rows.append({"schedule": name, "h": h, "eps_end": eps[-1], "lag_end": lag[-1],
                         "max_error": float(err.max()), "share_ok": float(np.mean(err <= SDE_LAG_TOL)),
                         "last_ok_step": last, "eps_at_last_ok": float(eps[last]) if good.size else np.nan,
                         "last_bad_step": int(bad[-1]) if bad.size else -1})
    return pd.DataFrame(rows)


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
ANNEAL_RUNS = 4000  # enough for every neighbouring gain to be resolved (smallest ~7 points, CI half-width ~2)
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


def annealing_summary(table, n_runs: int = ANNEAL_RUNS) -> dict:
    r"""Gains in success between neighbouring cooling lengths, with 95 % intervals.

    Returns
    -------
    dict
        ``gains``, ``gain_low``, ``gain_high`` (Newcombe intervals, one per
        neighbouring pair); ``contrast``, ``contrast_low``, ``contrast_high``:
        the gain of the second tripling (100 to 300 steps) minus the gain of the
        last one, with a Wald 95 % interval (four independent proportions, none
        at 0 or 1).
    """
    from statistics import NormalDist

    k = np.round(table.success.to_numpy() * n_runs).astype(int)
    diffs = np.array([proportion_difference(k[i], n_runs, k[i + 1], n_runs) for i in range(len(k) - 1)])
    p = k / n_runs
    contrast = (p[2] - p[1]) - (p[-1] - p[-2])
    se = float(np.sqrt(np.sum(p[[1, 2, -2, -1]] * (1 - p[[1, 2, -2, -1]]) / n_runs)))
    z = NormalDist().inv_cdf(0.975)
    return {"gains": diffs[:, 0], "gain_low": diffs[:, 1], "gain_high": diffs[:, 2],
            "contrast": contrast, "contrast_low": contrast - z * se, "contrast_high": contrast + z * se}


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


PB_CHECK_NS = (1_000, 10_000)  # training-set sizes at which the optimum is checked against SGD itself
PB_SPACING = 1.01  # ratio of neighbouring rates in the SGD grid (1 % apart)
PB_GRID_MARGIN = 4  # grid steps beyond both candidate optima on each side
PB_CHAINS = 1000
PB_SGD_RELAXATIONS = 1700  # averaged steps per chain, in relaxation times 1/(2 h eta*) (13,000 steps at n = 10^4)
PB_BURN_IN = 200  # >= 10 relaxation times 1/(2 h eta) at every rate of the grids
PB_BOOT = 400
PB_SEED = 0


def pb_candidates(n: int) -> tuple[float, float]:
    r"""The optimal rate from the SDE's stationary variance, :math:`\eta^*`, and from the exact discrete one, :math:`\eta_d`.

    >>> a, b = pb_candidates(10_000)
    >>> round(a / b - 1, 4)   # eta* h / 2
    0.0326
    """
    lam = pb_lambda(n)
    return (pac_bayes.optimal_lr(PB_H, PB_PRIOR_VAR, lam, PB_SIGMA2, PB_BATCH),
            pac_bayes.optimal_lr_discrete(PB_H, PB_PRIOR_VAR, lam, PB_SIGMA2, PB_BATCH))


def pb_sgd_steps(n: int) -> int:
    """Averaged steps per chain: ``PB_SGD_RELAXATIONS`` relaxation times at the optimum.

    >>> pb_sgd_steps(10_000), pb_sgd_steps(1_000)
    (13017, 4125)
    """
    return int(round(PB_SGD_RELAXATIONS * sde.relaxation_time(pb_candidates(n)[0], PB_H)))


def pb_sgd_grid(n: int) -> np.ndarray:
    """Rates ``PB_SPACING`` apart around both candidate optima, with ``PB_GRID_MARGIN`` steps beyond each.

    >>> g = pb_sgd_grid(10_000)
    >>> bool(g[0] < min(pb_candidates(10_000)) and g[-1] > max(pb_candidates(10_000)))
    True
    """
    eta_star, eta_d = pb_candidates(n)
    half = int(np.ceil(np.log(eta_star / eta_d) / 2 / np.log(PB_SPACING))) + PB_GRID_MARGIN
    return np.sqrt(eta_star * eta_d) * PB_SPACING ** np.arange(-half, half + 1)


def pb_sgd_check(n: int, device=None) -> dict:
    r"""The PAC-Bayes optimum checked against SGD itself, for ``n`` training examples.

    At every rate of :func:`pb_sgd_grid`, ``PB_CHAINS`` SGD chains on the
    quadratic measure the stationary variance
    (:func:`lrlab.sde.simulate_stationary_variance`, common random numbers
    across rates); the bound is evaluated at the measured variance and the
    best grid rate is the measured optimum. Its uncertainty comes from
    ``PB_BOOT`` bootstrap resamples of the chains (the chains are independent).

    Returns
    -------
    dict
        ``grid``; ``v``, ``v_low``, ``v_high`` (mean and 95 % t interval of the
        measured variance per rate); ``v_sde``, ``v_disc`` (the two formulas);
        ``bound`` (bound at the measured variance); ``best_lr``, ``best_index``,
        ``boot_low``, ``boot_high`` (2.5 and 97.5 % bootstrap quantiles of the
        best rate); ``eta_star``, ``eta_disc``; ``z_star`` (Bonferroni threshold
        over the grid at ``SDE_FWER``); ``z_disc`` (largest
        |measured - discrete| / standard error over the grid), ``z_sde`` (the
        same against the SDE variance); ``bound_cost`` (bound at the discrete
        variance of :math:`\eta^*` minus the optimal bound: what the SDE's
        error costs).
    """
    from ..stats import bonferroni_z, mean_ci

    kw = pb_kwargs(n)
    grid = pb_sgd_grid(n)
    chains = sde.simulate_stationary_variance(grid, h=PB_H, sigma2=PB_SIGMA2, batch_size=PB_BATCH, n_chains=PB_CHAINS,
                                              n_steps=pb_sgd_steps(n), burn_in=PB_BURN_IN, seed=PB_SEED + n,
                                              device=device)
    cis = [mean_ci(chains[:, i]) for i in range(grid.size)]
    v = np.array([c.mean for c in cis])
    se = chains.std(0, ddof=1) / np.sqrt(PB_CHAINS)
    bound_of = lambda var: pac_bayes.bound_vs_variance(var, h=PB_H, prior_var=PB_PRIOR_VAR, lam=kw["lam"], n=n,
                                                       delta=PB_DELTA)
    bound = bound_of(v)
    best = int(np.argmin(bound))
    rng = np.random.default_rng(PB_SEED)
    boot = np.array([np.argmin(bound_of(chains[rng.integers(0, PB_CHAINS, PB_CHAINS)].mean(0)))
                     for _ in range(PB_BOOT)])
    eta_star, eta_d = pb_candidates(n)
    v_sde = sde.stationary_variance(grid, PB_H, PB_SIGMA2, PB_BATCH)
    v_disc = sde.discrete_stationary_variance(grid, PB_H, PB_SIGMA2, PB_BATCH)
    v_star = pac_bayes.optimal_variance(PB_H, PB_PRIOR_VAR, kw["lam"])
    return {"n": n, "grid": grid, "v": v, "v_low": np.array([c.low for c in cis]),
            "v_high": np.array([c.high for c in cis]), "v_sde": v_sde, "v_disc": v_disc, "bound": bound,
            "best_lr": float(grid[best]), "best_index": best,
            "boot_low": float(grid[int(np.percentile(boot, 2.5, method="lower"))]),
            "boot_high": float(grid[int(np.percentile(boot, 97.5, method="higher"))]),
            "eta_star": eta_star, "eta_disc": eta_d,
            "z_star": bonferroni_z(grid.size, SDE_FWER), "z_disc": float(np.max(np.abs(v - v_disc) / se)), "z_sde": float(np.max(np.abs(v - v_sde) / se)),
            "var_ratio_at_star": float(sde.discrete_stationary_variance(eta_star, PB_H, PB_SIGMA2, PB_BATCH)
                                       / sde.stationary_variance(eta_star, PB_H, PB_SIGMA2, PB_BATCH)),
            "bound_cost": float(bound_of(sde.discrete_stationary_variance(eta_star, PB_H, PB_SIGMA2, PB_BATCH))
                                - bound_of(v_star)),
            "bound_min": float(bound_of(v_star))}


# ---------------------------------------------------------------------------
# Section 4: implicit bias
# ---------------------------------------------------------------------------
IB_N = 20
IB_GAP = 2.0  # every non-support example at least twice the support vector's margin
IB_SUPPORT = (0.5, 0.25)
IB_SEED = 0
IB_STEPS = 50_000
IB_LR = 1.0  # constant rate, below the stability limit 2 / beta of the mean logistic loss
IB_NORMALIZED_LR = 0.1


def ib_data():
    """The chapter's separable data: one support vector, every other margin at least ``IB_GAP`` times larger."""
    return implicit_bias.separable_data_with_gap(n=IB_N, gap=IB_GAP, support=IB_SUPPORT, seed=IB_SEED)


def ib_svm_closed_form() -> np.ndarray:
    r"""The SVM of :func:`ib_data` in closed form, :math:`\hat w = x_s/\|x_s\|^2` (see :func:`lrlab.implicit_bias.separable_data_with_gap`).

    >>> ib_svm_closed_form().tolist()
    [1.6, 0.8]
    """
    xs = np.asarray(IB_SUPPORT, dtype=np.float64)
    return xs / (xs @ xs)


def ib_clock(lr: float = IB_LR) -> float:
    r"""The rate :math:`a` of the asymptotic law :math:`y_s x_s^\top w(t) \approx \ln(a t)` for a constant rate.

    Late in training only the support vector's term is left in the gradient:
    :math:`m' \approx (\eta/N)\,k\|x_s\|^2 e^{-m}` for its margin :math:`m = y_s x_s^\top w`,
    with :math:`k = 2` copies of it in mirrored data, so
    :math:`e^{m} \approx a t` with :math:`a = 2\eta\|x_s\|^2/N`, and
    :math:`w(t) \approx \hat w\ln(a t) + \rho_\perp` with :math:`\rho_\perp \perp \hat w` converging.

    >>> round(ib_clock(), 6)   # 2 * 0.3125 / 20
    0.03125
    """
    xs = np.asarray(IB_SUPPORT, dtype=np.float64)
    return 2 * lr * float(xs @ xs) / IB_N


def ib_schedules() -> dict:
    """Name -> (rates over ``IB_STEPS`` steps, normalize flag)."""
    t = np.arange(IB_STEPS, dtype=np.float64)
    return {
        "constant 1": (np.full(IB_STEPS, IB_LR), False),
        "1/sqrt(t+1)": (IB_LR / np.sqrt(t + 1), False),
        "1/(t+1)^1.5 (summable)": (IB_LR / (t + 1) ** 1.5, False),
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
    r"""The measured numbers of section 4, from the runs of :func:`ib_runs` and the SVM solution.

    Returns
    -------
    dict
        ``angle_100``, ``angle_1000``, ``angle_end`` (constant rate, radians);
        ``angle_exponent`` (slope of ln angle on :math:`\ln\ln(at)` over the last
        decade, the asymptotic theory says -1) and ``naive_exponent`` (the same
        on :math:`\ln\ln t`, ignoring the clock :math:`a`); ``asym_gap_decade``,
        ``asym_gap_end`` (angle / asymptotic angle
        :math:`\arctan(|\rho_\perp(T)|/(\|\hat w\|\ln(at))) - 1` at T/10 and T);
        ``margin_gap_end`` (:math:`y_s x_s^\top w(T) - \ln(aT)`);
        ``perp_change`` (relative change of :math:`|\rho_\perp|` over the last decade);
        ``norm_slope`` (slope of the norm on ln t over the last decade) and
        ``svm_norm``; ``collapse_gap`` (largest relative gap between the
        1/sqrt(t+1) run and the constant run at equal sums of rates >= 10);
        ``summable_norm_change`` and ``summable_angle_end``;
        ``normalized_angle_end``, ``normalized_exponent`` (slope of ln angle on
        ln t over the last decade) and ``normalized_norm_ratio`` (norm / (eta T)).
    """
    out = {"svm_norm": float(np.linalg.norm(w_svm))}
    first = IB_STEPS // 10
    a = ib_clock()
    u = w_svm / np.linalg.norm(w_svm)
    steps, W = runs["constant 1"]
    angle = implicit_bias.angle_to(W, w_svm)
    norm = np.linalg.norm(W, axis=1)
    perp = np.linalg.norm(W - (W @ u)[:, None] * u, axis=1)
    at = lambda t: int(np.argmin(np.abs(steps - t)))
    late = steps >= first
    asym = np.arctan(perp[-1] / (out["svm_norm"] * np.log(a * steps[[at(first), -1]])))
    out.update(angle_100=float(angle[at(100)]), angle_1000=float(angle[at(1000)]), angle_end=float(angle[-1]),
               angle_exponent=log_log_slope(np.log(a * steps[late]), angle[late]),
               naive_exponent=log_log_slope(np.log(steps[late]), angle[late]),
               asym_gap_decade=float(angle[at(first)] / asym[0] - 1), asym_gap_end=float(angle[-1] / asym[1] - 1),
               margin_gap_end=float(W[-1] @ np.asarray(IB_SUPPORT) - np.log(a * steps[-1])),
               perp_end=float(perp[-1]), perp_change=float(abs(perp[-1] / perp[at(first)] - 1)),
               norm_slope=late_slope(steps, norm, first), norm_end=float(norm[-1]))
    # only the sum of the rates matters: compare at equal sum S_t = sum_{k<t} eta_k
    s_steps, s_W = runs["1/sqrt(t+1)"]
    rates = ib_schedules()["1/sqrt(t+1)"][0]
    sums = np.cumsum(rates)[s_steps - 1]
    ok = sums >= 10
    const_angle_at_sum = np.interp(np.log(sums[ok] / IB_LR), np.log(steps), angle)  # constant rate: S_t = IB_LR t
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


def ib_old_data_gap() -> float:
    """Margin ratio of the second-closest distinct example in the earlier mirrored data (``separable_data(40)``)."""
    X, y = implicit_bias.separable_data(n=40, seed=0)
    r = np.unique(np.round(implicit_bias.margin_ratios(X, y, implicit_bias.hard_margin_svm(X, y)), 10))
    return float(r[1])


def sde_summary(results: dict) -> dict:
    r"""The measured numbers of section 1, from :func:`sde_experiment`.

    Returns
    -------
    dict
        ``max_z`` (largest |Monte Carlo - exact recursion| / standard error over
        the schedules, coordinates and checkpoints of :func:`checkpoint_z`),
        ``n_compared`` and ``z_star`` (the Bonferroni threshold at family-wise
        rate ``SDE_FWER``); ``wrong_z_high``/``wrong_z_low`` (the same largest |z|
        against a variance ``SDE_WRONG`` too high / too low); ``max_ode_gap``
        (largest relative gap between the ODE and the recursion); ``lag_end``
        and ``eps_end`` (exact ODE lag and formula at the last step of the
        geometric decay, per coordinate); ``mc_lag_end``/``mc_lag_hw`` (per
        schedule: Monte Carlo lag :math:`\bar v_T/v_\infty(\eta_{T-1}) - 1` at the
        last step and its 95 % half-width, per coordinate);
        ``decay_mc``/``decay_mc_hw`` and ``decay_pred`` (post-quench relaxation
        rates, per coordinate); ``quench_lag_end``.
    """
    from ..stats import bonferroni_z

    h = np.array(SDE_H)
    z = checkpoint_z(results)
    z_star = bonferroni_z(z.size, SDE_FWER)
    gap = max(float(np.max(np.abs(r["ode"] / r["recursion"] - 1))) for r in results.values())
    geo, quench = results["geometric decay"], results["quench"]
    lag = geo["ode"][1:] / geo["adiabatic"] - 1
    eps = np.array([adiabaticity(geo["rates"], SDE_STEPS, hi)[-1] for hi in h])
    windows = [int(min(600, 2 * sde.relaxation_time(SDE_FLOOR_LR, hi))) for hi in h]
    decay = np.array([quench_decay_rate(quench["mc"], hi, window=w) for hi, w in zip(h, windows)])
    return {"max_z": float(np.max(np.abs(z))), "n_compared": int(z.size), "z_star": z_star,
            "wrong_z_high": float(np.max(np.abs(checkpoint_z(results, 1 + SDE_WRONG)))),
            "wrong_z_low": float(np.max(np.abs(checkpoint_z(results, 1 - SDE_WRONG)))),
            "max_ode_gap": gap, "lag_end": lag[-1], "eps_end": eps,
            "mc_lag_end": {k: r["mc"].mean[-1] / r["adiabatic"][-1] - 1 for k, r in results.items()},
            "mc_lag_hw": {k: 1.96 * r["mc"].stderr[-1] / r["adiabatic"][-1] for k, r in results.items()},
            "decay_mc": decay[:, 0], "decay_mc_hw": decay[:, 1], "decay_pred": 2 * h * SDE_FLOOR_LR,
            "quench_lag_end": quench["ode"][-1] / quench["adiabatic"][-1] - 1}


# ---------------------------------------------------------------------------
# Exercises (the folded solutions at the end of the chapter)
# ---------------------------------------------------------------------------
IT_KS = (0.004, 0.02, 0.06)  # inverse-time decays eta0 / (1 + k t): eps0 = k / (2 h eta0) = 0.1, 0.5, 1.5
IT_CHECKS = (1_000, 10_000, 100_000)  # steps at which their lag is read
CD_TOL = 0.10  # the cool-down is long enough when the final variance is within 10 % of its floor
SR_CASES = {"h = 2 alone": (PB_H,), "h = 2 and h = 0.1": (PB_H, 0.1), "h = 2 and h = 0.001": (PB_H, 0.001)}
SR_GRID = np.geomspace(1e-3, 0.1, 2001)  # rates 0.23 % apart
SC_FACTOR = 4  # rates divided by 4, noise standard deviation multiplied by 2: the same temperatures
SC_STEPS = 300  # the cooling length of the chapter's table that is rescaled
SC_SEED = 100
HA_STEPS = 2_000  # steps of the continuation that halves the angle


def variance_at(rates, steps, *, h: float, sigma2: float, batch_size: int = 1, v0: float = 1.0) -> np.ndarray:
    r"""The solution of :func:`lrlab.sde.variance_ode` at the given steps only, without a loop over steps.

    With :math:`a_t = e^{-2h\eta_t}` and :math:`b_t = v_\infty(\eta_t)(1 - a_t)`, the exact
    step :math:`v_{t+1} = a_t v_t + b_t` gives
    :math:`v_c = e^{\Lambda_c} v_0 + \sum_{s<c} b_s e^{\Lambda_c - \Lambda_{s+1}}`,
    :math:`\Lambda_c = \sum_{s<c}\ln a_s`; every exponent is at most 0, so nothing overflows.

    Parameters
    ----------
    rates : array_like, shape (T,)
        :math:`\eta_0..\eta_{T-1}`.
    steps : array_like of int
        Steps in 0..T.
    h, sigma2, batch_size, v0
        As in :func:`lrlab.sde.variance_ode` (one coordinate).

    Returns
    -------
    numpy.ndarray, shape (len(steps),)

    >>> variance_at([0.1, 0.0], [0, 1, 2], h=1.0, sigma2=1.0).round(4).tolist()
    [1.0, 0.8278, 0.8278]
    """
    lrs = np.asarray(rates, dtype=np.float64)
    if lrs.ndim != 1 or np.any(lrs < 0) or not np.all(np.isfinite(lrs)):
        raise ValueError(f"rates must be a 1-D array of finite rates >= 0, got rates of shape {lrs.shape}")
    steps = np.asarray(steps, dtype=int)
    if np.any(steps < 0) or np.any(steps > lrs.size):
        raise ValueError(f"steps must lie in 0..T={lrs.size}, got steps={steps!r}")
    log_a = -2 * h * lrs
    big_lambda = np.concatenate([[0.0], np.cumsum(log_a)])
    b = lrs * sigma2 / (2 * h * batch_size) * -np.expm1(log_a)
    return np.array([np.exp(big_lambda[c]) * v0 + np.sum(b[:c] * np.exp(big_lambda[c] - big_lambda[1 : c + 1]))
                     for c in steps])


def inverse_time_rates(k: float, total_steps: int, peak_lr: float = SDE_PEAK_LR) -> np.ndarray:
    r"""The inverse-time decay :math:`\eta_t = \eta_0/(1 + kt)`, :math:`t = 0..T-1`.

    >>> inverse_time_rates(1.0, 3, peak_lr=1.0).tolist()
    [1.0, 0.5, 0.3333333333333333]
    """
    return peak_lr / (1 + k * np.arange(total_steps))


def exercise_inverse_time():
    r"""The lag of the stiff coordinate under :math:`\eta_0/(1+kt)` for each :math:`k` of ``IT_KS``.

    The lag formula gives the constant :math:`\varepsilon_0 = k/(2h\eta_0)`; the variance
    ODE solved exactly for this schedule gives
    :math:`v/v_\infty - 1 = \varepsilon_0/(1-\varepsilon_0) + C(1+kt)^{1 - 1/\varepsilon_0}`:
    the lag tends to the offset :math:`\varepsilon_0/(1-\varepsilon_0)` when
    :math:`\varepsilon_0 < 1` and grows without bound when :math:`\varepsilon_0 > 1`.

    Returns
    -------
    pandas.DataFrame
        ``k``, ``eps_formula`` (:math:`\varepsilon_0`), ``offset``
        (:math:`\varepsilon_0/(1-\varepsilon_0)`), ``lag_<t>`` for every step of ``IT_CHECKS``
        (:math:`v_t/v_\infty(\eta_{t-1}) - 1` from the variance ODE), and ``transient_ratio``
        (lag minus offset at the last check over the same at the one before) with
        ``transient_ratio_predicted`` (:math:`((1+kt_2)/(1+kt_1))^{1-1/\varepsilon_0}`); both NaN
        where the predicted ratio is below 1e-3 (the transient has died out).
    """
    import pandas as pd

    h = SDE_H[0]
    last = max(IT_CHECKS)
    rows = []
    for k in IT_KS:
        rates = inverse_time_rates(k, last)
        eps0 = k / (2 * h * SDE_PEAK_LR)
        offset = eps0 / (1 - eps0)
        v = variance_at(rates, IT_CHECKS, h=h, sigma2=SDE_SIGMA2, batch_size=SDE_BATCH,
                        v0=sde.stationary_variance(SDE_PEAK_LR, h, SDE_SIGMA2, SDE_BATCH))
        lag = v / sde.stationary_variance(rates[np.asarray(IT_CHECKS) - 1], h, SDE_SIGMA2, SDE_BATCH) - 1
        t1, t2 = IT_CHECKS[-2:]
        row = {"k": k, "eps_formula": eps0, "offset": offset}
        row.update({f"lag_{t}": float(x) for t, x in zip(IT_CHECKS, lag)})
        predicted = float(((1 + k * t2) / (1 + k * t1)) ** (1 - 1 / eps0))
        # below 1e-3 the transient has died out under the O(eta) gap between the ODE held step by step and its
        # continuous solution, which is what lag - offset then measures
        row["transient_ratio"] = float((lag[-1] - offset) / (lag[-2] - offset)) if predicted > 1e-3 else np.nan
        row["transient_ratio_predicted"] = predicted if predicted > 1e-3 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def cosine_final_lag(total_steps: int, h: float) -> float:
    r"""The variance at the end of section 1's cosine decay over ``total_steps`` steps, relative to its floor, minus 1.

    From the stationary spread of ``SDE_PEAK_LR``; the floor is :math:`v_\infty` of ``SDE_FLOOR_LR``.
    """
    rates = cosine_schedule(SDE_PEAK_LR, total_steps, min_lr=SDE_FLOOR_LR)(np.arange(total_steps))
    v = variance_at(rates, [total_steps], h=h, sigma2=SDE_SIGMA2, batch_size=SDE_BATCH,
                    v0=sde.stationary_variance(SDE_PEAK_LR, h, SDE_SIGMA2, SDE_BATCH))[0]
    return float(v / sde.stationary_variance(SDE_FLOOR_LR, h, SDE_SIGMA2, SDE_BATCH) - 1)


def shortest_cooldown(h: float, tol: float = CD_TOL) -> int:
    """The fewest steps of the cosine decay after which :func:`cosine_final_lag` is at most ``tol``.

    Doubling from one relaxation time at the floor, then bisection (the final lag falls as the decay lengthens).
    """
    hi = int(np.ceil(sde.relaxation_time(SDE_FLOOR_LR, h)))
    while cosine_final_lag(hi, h) > tol:
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if cosine_final_lag(mid, h) <= tol else (mid, hi)
    return hi


def exercise_cooldown():
    r"""For each coordinate of ``SDE_H``: how long the cosine decay must be for the variance to end within ``CD_TOL`` of its floor.

    Returns
    -------
    pandas.DataFrame
        ``h``, ``tau_floor`` (:math:`1/(2h\eta_{\min})`), ``steps_needed``, ``in_tau``
        (``steps_needed / tau_floor``), ``rule_of_thumb`` (:math:`\pi\sqrt{(\eta_0/\eta_{\min} - 1)/(2\,\mathrm{tol})}`,
        in relaxation times), ``formula_at_end`` (the lag formula :func:`adiabaticity` at the
        last step of that decay), ``lag_before`` (:func:`cosine_final_lag` one step shorter)
        and ``lag_chapter`` (the final lag of the chapter's ``SDE_STEPS``-step cosine).
    """
    import pandas as pd

    rule = np.pi * np.sqrt((SDE_PEAK_LR / SDE_FLOOR_LR - 1) / (2 * CD_TOL))
    rows = []
    for h in SDE_H:
        n = shortest_cooldown(h)
        tau = sde.relaxation_time(SDE_FLOOR_LR, h)
        eps = adiabaticity(cosine_schedule(SDE_PEAK_LR, n, min_lr=SDE_FLOOR_LR), n, h)
        rows.append({"h": h, "tau_floor": tau, "steps_needed": n, "in_tau": n / tau, "rule_of_thumb": rule,
                     "formula_at_end": float(eps[-1]), "lag_before": cosine_final_lag(n - 1, h),
                     "lag_chapter": cosine_final_lag(SDE_STEPS, h)})
    return pd.DataFrame(rows)


def shared_optimal_lr(hs, prior_var: float, lam: float, sigma2: float, batch_size: int = 1) -> float:
    r"""The one rate that minimises the linear bound summed over directions of curvatures ``hs``.

    With :math:`v_i = \eta\sigma^2/(2h_iB)` in every direction,
    :math:`\eta^* = \frac{2B}{\sigma^2}\big/\big(\lambda + \overline{h^{-1}}/s^2\big)`, where
    :math:`\overline{h^{-1}}` is the mean of :math:`1/h_i`; for one direction this is
    :func:`lrlab.pac_bayes.optimal_lr`.

    >>> round(shared_optimal_lr([2.0], 1.0, 9.0, 4.0, 32) / pac_bayes.optimal_lr(2.0, 1.0, 9.0, 4.0, 32), 12)
    1.0
    """
    hs = np.asarray(hs, dtype=np.float64)
    return float(2 * batch_size / sigma2 / (lam + np.mean(1 / hs) / prior_var))


def shared_bound(lrs, hs, *, prior_var: float, lam: float, n: int, delta: float, sigma2: float,
                 batch_size: int = 1) -> np.ndarray:
    r"""The linear bound of :func:`lrlab.pac_bayes.catoni_bound` for a Gaussian cloud over several directions.

    Direction :math:`i` has curvature :math:`h_i` and variance :math:`v_i = \eta\sigma^2/(2h_iB)`; the
    expected training loss :math:`\sum_i h_iv_i/2` and the KL to :math:`\mathcal N(\hat\theta, s^2 I)`
    add over directions.
    """
    lrs = np.atleast_1d(np.asarray(lrs, dtype=np.float64))
    hs = np.asarray(hs, dtype=np.float64)
    v = lrs[:, None] * sigma2 / (2 * hs[None, :] * batch_size)
    ratio = v / prior_var
    kl = 0.5 * np.sum(ratio - 1 - np.log(ratio), axis=1)
    return pac_bayes.catoni_bound(0.5 * np.sum(hs * v, axis=1), kl, lam, n, delta)


def exercise_shared_rate():
    r"""One rate for the chapter's direction :math:`h` = ``PB_H`` alone and with a second, flatter one (``SR_CASES``).

    Returns
    -------
    pandas.DataFrame
        ``case``, ``closed_form`` (:func:`shared_optimal_lr`), ``grid_best`` (the smallest
        :func:`shared_bound` on ``SR_GRID``), ``grid_over_closed``, ``vs_alone`` (closed form
        over the one-direction rate).
    """
    import pandas as pd

    lam = pb_lambda(PB_N)
    kw = dict(prior_var=PB_PRIOR_VAR, lam=lam, sigma2=PB_SIGMA2, batch_size=PB_BATCH)
    alone = pac_bayes.optimal_lr(PB_H, PB_PRIOR_VAR, lam, PB_SIGMA2, PB_BATCH)
    rows = []
    for name, hs in SR_CASES.items():
        closed = shared_optimal_lr(hs, **kw)
        bounds = shared_bound(SR_GRID, hs, n=PB_N, delta=PB_DELTA, **kw)
        best = float(SR_GRID[np.argmin(bounds)])
        rows.append({"case": name, "closed_form": closed, "grid_best": best, "grid_over_closed": best / closed,
                     "vs_alone": closed / alone})
    return pd.DataFrame(rows)


def exercise_slow_clock(device=None):
    r"""Section 2's annealing with the rates divided by ``SC_FACTOR`` and the noise multiplied by its square root.

    The temperature :math:`\eta_t\sigma^2/2` of every step is unchanged; the time
    :math:`\sum_t\eta_t` covered by the cooling shrinks by ``SC_FACTOR`` unless it takes
    ``SC_FACTOR`` times more steps. Runs: the chapter's ``SC_STEPS``-step cooling (its own seed,
    so the chapter's table value), the chapter's rates over ``SC_STEPS / SC_FACTOR`` steps, and
    the rescaled cooling over ``SC_STEPS`` and ``SC_FACTOR * SC_STEPS`` steps.

    Returns
    -------
    table : pandas.DataFrame
        ``run``, ``steps``, ``start_lr``, ``sigma``, ``time`` (:math:`\sum_t\eta_t`), ``successes``,
        ``success``, ``ci_low``, ``ci_high`` (95 % Wilson).
    pairs : pandas.DataFrame
        ``runs`` compared (same time covered), ``difference`` (second minus first) and its 95 %
        Newcombe interval ``low``, ``high``.
    """
    import pandas as pd

    from ..stats import wilson_interval

    land = landscape()
    short = SC_STEPS // SC_FACTOR
    runs = [("chapter", SC_STEPS, 1.0, ANNEAL_SEED + ANNEAL_COOLING_STEPS.index(SC_STEPS)),
            ("chapter's rates, fewer steps", short, 1.0, SC_SEED),
            ("rescaled, same steps", SC_STEPS, SC_FACTOR, SC_SEED + 1),
            ("rescaled, more steps", SC_FACTOR * SC_STEPS, SC_FACTOR, SC_SEED + 2)]
    rows = []
    for name, steps, f, seed in runs:
        rates = annealing.geometric_cooling(ANNEAL_START_LR / f, ANNEAL_END_LR / f, steps)
        x = annealing.anneal(land, rates, sigma=ANNEAL_SIGMA * np.sqrt(f), x0=ANNEAL_X0, n_runs=ANNEAL_RUNS,
                             seed=seed, device=device)
        k = int(np.sum(np.abs(x) < land.basin_edge))
        low, high = wilson_interval(k, ANNEAL_RUNS)
        rows.append({"run": name, "steps": steps, "start_lr": ANNEAL_START_LR / f, "sigma": ANNEAL_SIGMA * np.sqrt(f),
                     "time": float(rates.sum()), "successes": k, "success": k / ANNEAL_RUNS, "ci_low": low,
                     "ci_high": high})
    table = pd.DataFrame(rows)
    pairs = []
    for a, b in ((0, 3), (1, 2)):
        d, low, high = proportion_difference(rows[a]["successes"], ANNEAL_RUNS, rows[b]["successes"], ANNEAL_RUNS)
        pairs.append({"runs": f"{rows[b]['run']} vs {rows[a]['run']}", "difference": d, "low": low, "high": high})
    return table, pd.DataFrame(pairs)


def logistic_max_curvature(X, y, w) -> float:
    r"""The largest eigenvalue of the Hessian of the mean logistic loss at ``w``: :math:`\frac1N\sum_n \sigma_n(1-\sigma_n)x_nx_n^\top`.

    >>> X, y = ib_data()
    >>> round(float(logistic_max_curvature(X, y, np.zeros(2)) / np.linalg.eigvalsh(X.T @ X / len(X)).max()), 12)
    0.25
    """
    from scipy.special import expit

    X = np.asarray(X, dtype=np.float64)
    s = expit(np.asarray(y) * (X @ np.asarray(w, dtype=np.float64)))
    return float(np.linalg.eigvalsh((X.T * (s * (1 - s))) @ X / len(X)).max())


def exercise_halve_angle(runs: dict):
    r"""Continue the constant-rate run of :func:`ib_runs` for ``HA_STEPS`` steps at the rate that halves its angle.

    Only the sum of the rates :math:`S` matters, and the law :eq:`eq-angle-law` with
    :math:`e^m \approx a_1 S` (:math:`a_1` = ``ib_clock(1.0)``) halves the angle when
    :math:`\ln(a_1 S') = 2\ln(a_1 S_T)`, that is :math:`S' = a_1 S_T^2`.

    Returns
    -------
    pandas.Series
        ``angle_T``, ``sum_T`` (:math:`S_T`), ``target_sum`` (:math:`S'`), ``rate`` (constant rate of
        the continuation), ``curvature`` (largest curvature of the loss at :math:`w_T`),
        ``rate_times_curvature``, ``angle_after``, ``ratio`` (``angle_T / angle_after``).
    """
    import pandas as pd

    X, y = ib_data()
    w_svm = ib_svm_closed_form()
    _, W = runs["constant 1"]
    w_end = W[-1]
    sum_t = IB_LR * IB_STEPS
    target = ib_clock(1.0) * sum_t**2
    rate = (target - sum_t) / HA_STEPS
    _, W2 = implicit_bias.logistic_gd(X, y, np.full(HA_STEPS, rate), HA_STEPS, record=[HA_STEPS], w0=w_end)
    angle_t = float(implicit_bias.angle_to(w_end, w_svm)[0])
    angle_after = float(implicit_bias.angle_to(W2[-1], w_svm)[0])
    curvature = logistic_max_curvature(X, y, w_end)
    return pd.Series({"angle_T": angle_t, "sum_T": sum_t, "target_sum": target, "rate": rate,
                      "curvature": curvature, "rate_times_curvature": rate * curvature,
                      "angle_after": angle_after, "ratio": angle_t / angle_after})
