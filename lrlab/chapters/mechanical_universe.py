"""Chapter 3 ("The mechanical universe"): its parameters and experiments, in one place.

``book/mechanical_universe.md`` and ``tests/test_mechanical_universe_claims.py`` both import
this module, so the numbers the chapter shows and the numbers the tests check
come from the same code and the same parameters.

>>> H, LR
(1.0, 0.01)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import schedules as S
from .._validate import check_int
from ..damping import (
    convergence_rate,
    critical_beta,
    critical_momentum_schedule,
    critical_rate,
    damping_regime,
    measured_rate,
    polyak_optimal,
    sign_changes,
)
from ..landscapes import (
    AsymmetricDoubleWell,
    friction_kick_threshold,
    kick_threshold,
    kick_threshold_bisection,
    restart_escape_many,
    small_friction_kick_threshold,
)
from ..momentum import (
    HeavyBall,
    bowl_energy,
    energy,
    equilibrium_temperature,
    lyapunov_energy,
    run_momentum,
    simulate_thermal,
    stationary_moments,
)
from ..stats import bonferroni_z, mean_ci, paired_t

# --- the 1-D quadratic used in most sections --------------------------------
H = 1.0  #: curvature h of the 1-D bowl L = h theta^2 / 2
LR = 0.01  #: the rate of the deterministic sections
THETA0 = 1.0  #: start (at rest)

# --- section 1: continuous limit -------------------------------------------
GAMMA = 0.5  #: friction coefficient gamma = (1 - beta) / sqrt(eta) held fixed
LIMIT_RATES = (0.01, 0.0025, 0.000625)  #: each a quarter of the previous one
TAU_END = 20.0  #: continuous time simulated

# --- section 2: energy ------------------------------------------------------
ENERGY_BETAS = (1.0, 0.98, 0.95)
ENERGY_STEPS = 600
#: A false alarm rate for every statistical check of the chapter: a family of m
#: z-scores is "consistent" when all |z| < lrlab.stats.bonferroni_z(m, FALSE_ALARM).
FALSE_ALARM = 1e-3

# --- section 3: temperature -------------------------------------------------
THERMAL_BETAS = (0.0, 0.5, 0.9, 0.98)
NOISE_VAR = 1.0  #: s = sigma^2 / B
THERMAL_STEPS = 4000
BURN_IN = 1500
THERMAL_SEEDS = 1000
THERMAL_SEED = 3

# --- section 4: conventions -------------------------------------------------
CONV_BETA = 0.9
CONV_RATES = (0.05, 0.005, 0.05)  #: a drop by 10 at CONV_SWITCHES[0], a restart back up at CONV_SWITCHES[1]
CONV_SWITCHES = (40, 80)
CONV_STEPS = 120

# --- sections 5-6: double well, kicks and restarts -------------------------
WELL_A, WELL_TILT = 1.0, 0.2
KICKS = (2.0, 3.0, 5.0, 10.0)
KICK_BETAS = (1.0, 0.99, 0.95, 0.9)  #: 0.9 is the momentum of the restarts below
RESTART_PEAK, RESTART_MIN = 0.05, 0.001
RESTART_NOISE = 0.3  #: standard deviation of the gradient noise
RESTART_BETA = 0.9
CYCLE_STEPS = 200
N_CYCLES = 10
RESTART_SEEDS = 16000  #: the paired comparison of section 7 has t near 6: it holds on any random stream
RESTART_SEED = 7

# --- section 7: critical damping --------------------------------------------
DAMPING_BETAS = {"overdamped": 0.5, "critical": None, "underdamped": 0.95}  #: None: critical_beta(LR, H)
DAMPING_STEPS = 300
RATE_CHECK_PRODUCTS = (0.001, 0.01, 0.1)  #: values of eta * h
COSCHEDULE_PEAK, COSCHEDULE_MIN, COSCHEDULE_STEPS = 0.04, 0.0004, 600
POLYAK_MU, POLYAK_L, POLYAK_DIM, POLYAK_STEPS = 0.01, 1.0, 20, 600


def quadratic_grad(h=H):
    """The gradient ``theta -> h * theta`` of the bowl ``h theta^2 / 2`` (``h`` a number or an array)."""
    h = np.asarray(h, dtype=np.float64)
    return lambda theta: h * theta


def continuous_limit() -> tuple[pd.DataFrame, dict]:
    r"""Heavy ball at fixed friction :math:`\gamma`, against the ODE :math:`\ddot\theta + \gamma\dot\theta + h\theta = 0`.

    For each rate of :data:`LIMIT_RATES`, :math:`\beta = 1 - \gamma\sqrt\eta`
    and the run is plotted against :math:`\tau = t\sqrt\eta`.

    Returns
    -------
    table : pandas.DataFrame
        ``lr``, ``beta``, ``steps``, ``max_error`` (largest gap to the ODE).
    curves : dict
        ``{lr: (tau, theta)}`` and ``"ode": (tau, theta)``.
    """
    omega = np.sqrt(H - GAMMA**2 / 4)

    def ode(tau):
        return THETA0 * np.exp(-GAMMA * tau / 2) * (np.cos(omega * tau) + GAMMA / (2 * omega) * np.sin(omega * tau))

    rows, curves = [], {}
    for lr in LIMIT_RATES:
        beta = 1 - GAMMA * np.sqrt(lr)
        steps = int(round(TAU_END / np.sqrt(lr)))
        thetas, _ = run_momentum(quadratic_grad(), THETA0, lr, steps, beta)
        tau = np.arange(steps + 1) * np.sqrt(lr)
        rows.append(dict(lr=lr, beta=beta, steps=steps, max_error=float(np.abs(thetas - ode(tau)).max())))
        curves[lr] = (tau, thetas)
    tau = np.linspace(0, TAU_END, 800)
    curves["ode"] = (tau, ode(tau))
    return pd.DataFrame(rows), curves


def energy_runs() -> tuple[pd.DataFrame, dict]:
    r"""Deterministic heavy ball on the bowl for each of :data:`ENERGY_BETAS`: energy along the run.

    Returns
    -------
    table : pandas.DataFrame
        ``beta``, ``energy_start``, ``energy_end``, ``max_rel_change`` (largest
        :math:`|E_t/E_0 - 1|`), ``increases`` (steps where :math:`E` rose by more
        than 1e-12 relative), ``fitted_factor`` (per-step factor of a log-linear
        fit of :math:`E_t`).
    runs : dict
        ``{beta: (thetas, velocities, energies)}``.
    """
    rows, runs = [], {}
    for beta in ENERGY_BETAS:
        thetas, vel = run_momentum(quadratic_grad(), THETA0, LR, ENERGY_STEPS, beta)
        e = energy(0.5 * H * thetas**2, vel, LR)
        slope = np.polyfit(np.arange(len(e)), np.log(e), 1)[0]
        rows.append(
            dict(
                beta=beta,
                energy_start=e[0],
                energy_end=e[-1],
                max_rel_change=float(np.abs(e / e[0] - 1).max()),
                increases=int(np.count_nonzero(np.diff(e) > 1e-12 * e[:-1])),
                fitted_factor=float(np.exp(slope)),
            )
        )
        runs[beta] = (thetas, vel, e)
    return pd.DataFrame(rows), runs


def lyapunov_cases() -> dict:
    r"""Every constant-rate, constant-momentum run of the chapter on a bowl, plus two at :math:`\eta h = 0.1`.

    ``{name: (lr, beta, curvatures)}``: section 2's damped runs, section 4's
    rate before the switch, section 5's three regimes, its critical runs at
    every :math:`\eta h` of :data:`RATE_CHECK_PRODUCTS`, Polyak's pair on its
    spread of curvatures, and :math:`\eta h = 0.1` with :math:`\beta = 0.98`
    (outside the condition :math:`\eta h \le 2(1-\beta)`) and :math:`0.95` (inside).
    """
    cases = {f"energy, beta = {b}": (LR, b, np.array([H])) for b in ENERGY_BETAS if b < 1}
    cases["conventions, first rate"] = (CONV_RATES[0], CONV_BETA, np.array([H]))
    for name, beta in DAMPING_BETAS.items():
        cases[f"damping, {name}"] = (LR, critical_beta(LR, H) if beta is None else beta, np.array([H]))
    for x in RATE_CHECK_PRODUCTS:
        cases[f"critical, eta h = {x}"] = (x / H, critical_beta(x / H, H), np.array([H]))
    lr, beta, _ = polyak_optimal(POLYAK_MU, POLYAK_L)
    cases["Polyak's pair"] = (lr, beta, polyak_curvatures())
    cases["eta h = 0.1, beta = 0.98"] = (0.1 / H, 0.98, np.array([H]))
    cases["eta h = 0.1, beta = 0.95"] = (0.1 / H, 0.95, np.array([H]))
    return cases


def lyapunov_table() -> pd.DataFrame:
    r"""Energy :math:`E`, Lyapunov function :math:`V` and bowl energy :math:`\mathcal E` along :data:`ENERGY_STEPS` steps.

    For every run of :func:`lyapunov_cases`, started at rest at :math:`\theta_0 = 1`
    (every coordinate). A quantity "rises" at a step when it grows by more than
    1e-12 relative (rounding).

    Returns
    -------
    pandas.DataFrame
        ``run``, ``lr``, ``beta``, ``eta_h`` (rate times the largest curvature),
        ``condition`` (:math:`\eta h \le 2(1-\beta)`), ``underdamped`` (every
        curvature), ``rate`` (largest root modulus; below 1: the run converges), ``E_rises``, ``V_rises``, ``bowl_factor_err``
        (largest :math:`|\mathcal E_{t+1} - \beta\mathcal E_t| / E_t`: zero up to
        rounding if :math:`\mathcal E` falls by exactly :math:`\beta` per step).
    """
    rows = []
    for name, (lr, beta, hs) in lyapunov_cases().items():
        thetas, vel = run_momentum(quadratic_grad(hs), np.ones(len(hs)), lr, ENERGY_STEPS, beta)
        pot = 0.5 * (hs * thetas**2).sum(axis=1)
        e, v = energy(pot, vel, lr), lyapunov_energy(pot, vel, lr, beta)
        bowl = bowl_energy(thetas, vel, lr, beta, hs)

        def rises(x):
            return int(np.count_nonzero(np.diff(x) > 1e-12 * np.abs(x[:-1])))

        rows.append(
            dict(
                run=name,
                lr=lr,
                beta=beta,
                eta_h=lr * hs.max(),
                condition=bool(lr * hs.max() <= 2 * (1 - beta)),
                underdamped=all(damping_regime(lr, beta, h) == "underdamped" for h in hs),
                rate=max(convergence_rate(lr, beta, h) for h in hs),
                E_rises=rises(e),
                V_rises=rises(v),
                bowl_factor_err=float(np.max(np.abs(bowl[1:] - beta * bowl[:-1]) / e[:-1])),
            )
        )
    return pd.DataFrame(rows)


def frictionless_energy_bound(lr: float = LR, h: float = H) -> float:
    r"""Largest :math:`|E_t/E_0 - 1|` allowed at :math:`\beta = 1` by the conserved bowl energy.

    At :math:`\beta = 1`, :math:`E - \mathcal E = \frac12 h\theta v = \frac12\sqrt{\eta h}\,pq`
    with :math:`p = \sqrt h\,\theta`, :math:`q = v/\sqrt\eta`, :math:`E = (p^2+q^2)/2 \ge |pq|`,
    so :math:`|E - \mathcal E| \le \frac12\sqrt{\eta h}\,E`; from rest :math:`E_0 = \mathcal E`,
    hence :math:`E_t/E_0 \in [1/(1+s), 1/(1-s)]`, :math:`s = \frac12\sqrt{\eta h}`.

    >>> round(frictionless_energy_bound(0.01, 1.0), 4)
    0.0526
    """
    s = 0.5 * np.sqrt(lr * h)
    return float(s / (1 - s))


def temperature_table(device=None) -> pd.DataFrame:
    """Monte Carlo temperatures of noisy heavy ball for :data:`THERMAL_BETAS`, next to the formulas.

    Returns
    -------
    pandas.DataFrame
        ``beta``; ``T_formula`` (:func:`lrlab.momentum.equilibrium_temperature`);
        potential temperature :math:`h\\,E[\\theta^2]` exact and measured (with
        standard error): ``T_pot_exact``, ``T_pot_mc``, ``T_pot_se``; kinetic
        temperature :math:`E[v^2]/\\eta`: ``T_kin_exact``, ``T_kin_mc``, ``T_kin_se``;
        and ``device``.
    """
    rows = []
    for i, beta in enumerate(THERMAL_BETAS):
        theta2, v2 = stationary_moments(LR, beta, H, NOISE_VAR)
        mc = simulate_thermal(
            LR, beta, H, NOISE_VAR, THERMAL_STEPS, BURN_IN, THERMAL_SEEDS, seed=THERMAL_SEED + i, device=device
        )
        rows.append(
            dict(
                beta=beta,
                T_formula=equilibrium_temperature(LR, beta, NOISE_VAR),
                T_pot_exact=H * theta2,
                T_pot_mc=H * mc.theta2,
                T_pot_se=H * mc.theta2_stderr,
                T_kin_exact=v2 / LR,
                T_kin_mc=mc.v2 / LR,
                T_kin_se=mc.v2_stderr / LR,
                device=mc.device,
            )
        )
    return pd.DataFrame(rows)


def temperature_checks(temps: pd.DataFrame) -> dict:
    r"""The statistics behind section 3's sentences, from :func:`temperature_table`.

    Returns
    -------
    dict
        ``max_z``: largest :math:`|z|` of the measured against the exact
        temperatures (potential and kinetic, every row); ``z_crit``: the
        Bonferroni threshold for that many z-scores at :data:`FALSE_ALARM`;
        ``gain``, ``gain_hw``: the measured potential temperature at the last
        :math:`\beta` over the one at :math:`\beta = 0` with its 95% half-width
        (delta method, independent runs); ``gain_z``: its z against
        :math:`1/(1-\beta)`; ``ratio_dev``: the largest relative deviation of the
        measured :math:`T_{pot}/T_{kin}` from :math:`(1+\beta)/2`, and
        ``ratio_allow``: what noise allows for it at :data:`FALSE_ALARM`
        (:math:`z^\ast` times the sum of the two relative standard errors, valid
        whatever their correlation).
    """
    z = np.concatenate(
        [
            (temps.T_pot_mc - temps.T_pot_exact) / temps.T_pot_se,
            (temps.T_kin_mc - temps.T_kin_exact) / temps.T_kin_se,
        ]
    )
    hot, cold = temps.iloc[-1], temps.iloc[0]
    gain = hot.T_pot_mc / cold.T_pot_mc
    gain_se = gain * np.hypot(hot.T_pot_se / hot.T_pot_mc, cold.T_pot_se / cold.T_pot_mc)
    rel = temps.T_pot_se / temps.T_pot_mc + temps.T_kin_se / temps.T_kin_mc
    dev = np.abs(temps.T_pot_mc / temps.T_kin_mc / ((1 + temps.beta) / 2) - 1)
    return dict(
        max_z=float(np.abs(z).max()),
        z_crit=bonferroni_z(len(z), FALSE_ALARM),
        gain=float(gain),
        gain_hw=float(1.959964 * gain_se),
        gain_z=float((gain - 1 / (1 - hot.beta)) / gain_se),
        gain_z_crit=bonferroni_z(1, FALSE_ALARM),
        ratio_dev=float(dev.max()),
        ratio_allow=float((bonferroni_z(len(temps), FALSE_ALARM) * rel).min()),
        ratio_within=bool(np.all(dev < bonferroni_z(len(temps), FALSE_ALARM) * rel)),
    )


def convention_rates() -> np.ndarray:
    """The rate of every step of section 4: :data:`CONV_RATES` switched at :data:`CONV_SWITCHES`."""
    rates = np.full(CONV_STEPS, CONV_RATES[0])
    rates[CONV_SWITCHES[0] :] = CONV_RATES[1]
    rates[CONV_SWITCHES[1] :] = CONV_RATES[2]
    return rates


def convention_runs() -> dict:
    """Both conventions on the bowl under :func:`convention_rates` (numpy), ``{convention: (thetas, velocities)}``."""
    return {
        c: run_momentum(quadratic_grad(), THETA0, convention_rates(), CONV_STEPS, CONV_BETA, convention=c)
        for c in ("heavy_ball", "pytorch")
    }


def torch_convention_runs() -> dict:
    """The same schedule through torch: ``torch.optim.SGD(momentum)`` and :class:`lrlab.momentum.HeavyBall`.

    Returns ``{"pytorch": thetas, "heavy_ball": thetas}`` (float64 parameters).
    """
    rates = convention_rates()
    out = {}
    for name, cls in (("pytorch", torch.optim.SGD), ("heavy_ball", HeavyBall)):
        p = torch.nn.Parameter(torch.tensor([THETA0], dtype=torch.float64))
        opt = cls([p], lr=float(rates[0]), momentum=CONV_BETA)
        thetas = [THETA0]
        for t in range(CONV_STEPS):
            for group in opt.param_groups:
                group["lr"] = float(rates[t])
            opt.zero_grad()
            (0.5 * H * p**2).sum().backward()
            opt.step()
            thetas.append(p.item())
        out[name] = np.array(thetas)
    return out


def switch_table(runs: dict) -> pd.DataFrame:
    r"""At each rate switch: how much of the previous step's velocity each convention carries into the next step.

    The momentum part of the step at switch :math:`k` is the step minus its
    fresh-gradient part, :math:`\Delta\theta_{k+1} + \eta_k g_k`. Heavy ball
    carries :math:`\beta` times the previous displacement :math:`\Delta\theta_k`;
    PyTorch carries :math:`\beta\,(\eta_k/\eta_{k-1})\,\Delta\theta_k`. The
    ``carry`` columns are the momentum part divided by :math:`\beta\Delta\theta_k`.

    Returns
    -------
    pandas.DataFrame
        ``switch``, ``rate_before``, ``rate_after``, ``carry_heavy_ball``,
        ``carry_pytorch``, ``predicted_pytorch`` (:math:`\eta_k/\eta_{k-1}`).
    """
    rates = convention_rates()
    rows = []
    for k in CONV_SWITCHES:
        carry = {}
        for c, (thetas, vel) in runs.items():
            carry[c] = (vel[k + 1] + rates[k] * H * thetas[k]) / (CONV_BETA * vel[k])
        rows.append(
            dict(
                switch=k,
                rate_before=rates[k - 1],
                rate_after=rates[k],
                carry_heavy_ball=carry["heavy_ball"],
                carry_pytorch=carry["pytorch"],
                predicted_pytorch=rates[k] / rates[k - 1],
            )
        )
    return pd.DataFrame(rows)


def double_well() -> AsymmetricDoubleWell:
    """The chapter's double well (:data:`WELL_A`, :data:`WELL_TILT`)."""
    return AsymmetricDoubleWell(WELL_A, WELL_TILT)


def kick_table() -> pd.DataFrame:
    r"""Kick threshold: formulas against bisection, for every kick of :data:`KICKS` and momentum of :data:`KICK_BETAS`.

    Returns
    -------
    pandas.DataFrame
        ``kick``, ``beta``; the thresholds ``frictionless`` (:math:`2\Delta L/g^2`),
        ``first_order`` (:func:`lrlab.landscapes.small_friction_kick_threshold`),
        ``with_friction`` (:func:`lrlab.landscapes.friction_kick_threshold`) and
        ``bisection`` (the discrete run); ``gamma`` (friction at the measured
        threshold); and the ratios of the measured threshold to each formula,
        ``vs_frictionless``, ``vs_first_order``, ``vs_friction``.
    """
    well = double_well()
    rows = []
    for g in KICKS:
        free = kick_threshold(well.barrier_height, g)
        for beta in KICK_BETAS:
            sim = kick_threshold_bisection(well, g, beta)
            first = small_friction_kick_threshold(well, g, beta)
            full = friction_kick_threshold(well, g, beta)
            rows.append(
                dict(
                    kick=g,
                    beta=beta,
                    frictionless=free,
                    first_order=first,
                    with_friction=full,
                    bisection=sim,
                    gamma=(1 - beta) / np.sqrt(sim),
                    vs_frictionless=sim / free,
                    vs_first_order=sim / first,
                    vs_friction=sim / full,
                )
            )
    return pd.DataFrame(rows)


def restart_schedules() -> dict:
    """Section 6's schedules over the same budget: a low constant rate, warm restarts, one long cosine."""
    total = CYCLE_STEPS * N_CYCLES
    return {
        "constant low rate": S.constant_schedule(RESTART_MIN),
        f"warm restarts every {CYCLE_STEPS} steps": S.cosine_restarts_schedule(
            RESTART_PEAK, CYCLE_STEPS, min_lr=RESTART_MIN
        ),
        "one cosine, no restart": S.cosine_schedule(RESTART_PEAK, total, min_lr=RESTART_MIN),
    }


def restart_runs(device=None) -> dict:
    """:func:`lrlab.landscapes.restart_escape_many` for the schedules of :func:`restart_schedules`.

    Run ``i`` of every schedule sees the same noise (common random numbers).
    """
    well = double_well()
    total = CYCLE_STEPS * N_CYCLES
    schedules = restart_schedules()
    results = restart_escape_many(
        well,
        schedules.values(),
        total,
        RESTART_BETA,
        RESTART_NOISE,
        RESTART_SEEDS,
        seed=RESTART_SEED,
        device=device,
        track_loss=False,  # the chapter uses only where the runs are
    )
    return dict(zip(schedules, results))


def cycle_end_table(result) -> pd.DataFrame:
    r"""Deep-well fraction at the end of every cycle, next to the geometric model :math:`1 - (1-p)^n`.

    If every restart moves the same fraction :math:`p` of the particles still
    in the shallow well and none come back, :math:`n` restarts leave
    :math:`(1-p)^n` there; :math:`p` is the pooled estimate of
    :func:`escape_homogeneity`.

    Returns
    -------
    pandas.DataFrame
        ``cycles``, ``deep_fraction``, ``stderr`` (binomial), ``geometric``.
    """
    n = np.arange(1, N_CYCLES + 1)
    frac = result.deep_fraction[n * CYCLE_STEPS]
    p = escape_homogeneity(result)["p_pooled"]
    return pd.DataFrame(
        dict(
            cycles=n,
            deep_fraction=frac,
            stderr=np.sqrt(np.maximum(frac * (1 - frac), 1e-12) / result.n_seeds),
            geometric=1 - (1 - p) ** n,
        )
    )


def escape_homogeneity(result) -> dict:
    r"""Is the escape probability the same in every cycle? A :math:`\chi^2` test of homogeneity.

    Cycle :math:`n` starts with :math:`N_n` runs in the shallow well (the runs not
    on the deep side at the end of cycle :math:`n-1`) and moves :math:`k_n` of them.
    Under the geometric model (one probability :math:`p` per cycle, no return)
    the :math:`k_n` are binomial :math:`(N_n, p)` given the past, and the
    :math:`2 \times` :data:`N_CYCLES` table of moved / stayed counts has no
    association between cycle and outcome (Pearson's :math:`\chi^2` with
    ``N_CYCLES - 1`` degrees of freedom). ``p_pooled`` is the maximum-likelihood
    :math:`p = \sum k_n / \sum N_n`, with a 95% Wald half-width.

    Returns
    -------
    dict
        ``p_pooled``, ``p_pooled_hw``, ``chi2``, ``dof``, ``p_value``, ``returned``
        (largest drop of the deep fraction between cycle ends, in runs).
    """
    from scipy.stats import chi2_contingency

    n_runs = result.n_seeds
    ends = np.rint(result.deep_fraction[np.arange(N_CYCLES + 1) * CYCLE_STEPS] * n_runs).astype(int)
    at_risk = n_runs - ends[:-1]
    moved = np.diff(ends)
    table = np.stack([moved.clip(min=0), at_risk - moved.clip(min=0)])
    chi2, p_value, dof, _ = chi2_contingency(table, correction=False)
    p = moved.sum() / at_risk.sum()
    return dict(
        p_pooled=float(p),
        p_pooled_hw=float(1.959964 * np.sqrt(p * (1 - p) / at_risk.sum())),
        chi2=float(chi2),
        dof=int(dof),
        p_value=float(p_value),
        returned=int(max(0, -moved.min())),
    )


def final_fraction_ci(result):
    """Mean ± 95% CI (:func:`lrlab.stats.mean_ci`) of the per-run deep-well indicator at the end."""
    return mean_ci(result.deep_final)


def cosine_vs_restarts(escape: dict):
    """Paired t-test (:func:`lrlab.stats.paired_t`) of the one long cosine against warm restarts, run by run.

    Every schedule's run ``i`` draws the same noise (same seed), so the per-run
    difference of the end-of-run indicators is the paired unit.
    """
    names = list(escape)
    return paired_t(escape["one cosine, no restart"].deep_final, escape[names[1]].deep_final)


def damping_runs() -> tuple[pd.DataFrame, dict]:
    """Over-, critically and under-damped heavy ball at :data:`LR` on the bowl.

    Returns
    -------
    table : pandas.DataFrame
        ``regime`` (the name), ``beta``, ``classified`` (:func:`lrlab.damping.damping_regime`),
        ``predicted_rate`` (largest root modulus), ``measured_rate``, ``sign_changes``.
    runs : dict
        ``{name: (thetas, velocities)}``.
    """
    rows, runs = [], {}
    for name, beta in DAMPING_BETAS.items():
        beta = critical_beta(LR, H) if beta is None else beta
        thetas, vel = run_momentum(quadratic_grad(), THETA0, LR, DAMPING_STEPS, beta)
        runs[name] = (thetas, vel)
        rows.append(
            dict(
                regime=name,
                beta=beta,
                classified=damping_regime(LR, beta, H),
                predicted_rate=convergence_rate(LR, beta, H),
                measured_rate=measured_rate(thetas, DAMPING_STEPS // 2),
                sign_changes=sign_changes(thetas),
            )
        )
    return pd.DataFrame(rows), runs


def critical_rate_table() -> pd.DataFrame:
    r"""Critically damped runs for each :math:`\eta h` of :data:`RATE_CHECK_PRODUCTS`, rate vs :math:`1-\sqrt{\eta h}`.

    Each run lasts :math:`60/\sqrt{\eta h}` steps; the rate is fitted on its second half.

    Returns
    -------
    pandas.DataFrame
        ``eta_h``, ``beta``, ``steps``, ``predicted``, ``measured``, ``rel_error``.
    """
    rows = []
    for x in RATE_CHECK_PRODUCTS:
        beta = critical_beta(x / H, H)
        steps = int(round(60 / np.sqrt(x)))
        thetas, _ = run_momentum(quadratic_grad(), THETA0, x / H, steps, beta)
        pred = critical_rate(x / H, H)
        meas = measured_rate(thetas, steps // 2)
        rows.append(dict(eta_h=x, beta=beta, steps=steps, predicted=pred, measured=meas, rel_error=meas / pred - 1))
    return pd.DataFrame(rows)


def coschedule_runs() -> tuple[pd.DataFrame, dict]:
    r"""A cosine rate decay with three momenta: fixed critical for the first rate, for the last, and the co-schedule.

    Returns
    -------
    table : pandas.DataFrame
        ``momentum``, ``sign_changes``, ``final_distance`` (:math:`|\theta_T|`),
        ``critical_steps`` (steps classified critical).
    runs : dict
        ``{momentum: (rates, betas, thetas)}``.
    """
    sched = S.cosine_schedule(COSCHEDULE_PEAK, COSCHEDULE_STEPS, min_lr=COSCHEDULE_MIN)
    steps = np.arange(COSCHEDULE_STEPS)
    rates = sched(steps)
    choices = {
        "fixed, critical for the first rate": np.full(COSCHEDULE_STEPS, critical_beta(COSCHEDULE_PEAK, H)),
        "fixed, critical for the last rate": np.full(COSCHEDULE_STEPS, critical_beta(COSCHEDULE_MIN, H)),
        "co-schedule beta_t(eta_t)": critical_momentum_schedule(sched, H)(steps),
    }
    rows, runs = [], {}
    for name, betas in choices.items():
        thetas, _ = run_momentum(quadratic_grad(), THETA0, rates, COSCHEDULE_STEPS, 0.0, betas=betas)
        crit = sum(damping_regime(r, b, H, rtol=1e-9) == "critical" for r, b in zip(rates, betas))
        rows.append(
            dict(momentum=name, sign_changes=sign_changes(thetas), final_distance=abs(thetas[-1]), critical_steps=crit)
        )
        runs[name] = (rates, betas, thetas)
    return pd.DataFrame(rows), runs


def polyak_curvatures() -> np.ndarray:
    """:data:`POLYAK_DIM` curvatures spread geometrically over [:data:`POLYAK_MU`, :data:`POLYAK_L`]."""
    return np.geomspace(POLYAK_MU, POLYAK_L, POLYAK_DIM)


def polyak_table() -> pd.DataFrame:
    """Polyak's heavy ball and the best gradient descent on the spread of curvatures: predicted vs measured rate.

    Returns
    -------
    pandas.DataFrame
        ``method``, ``lr``, ``beta``, ``predicted``, ``measured``.
    """
    hs = polyak_curvatures()
    lr, beta, rate = polyak_optimal(POLYAK_MU, POLYAK_L)
    kappa = POLYAK_L / POLYAK_MU
    gd_lr = 2 / (POLYAK_MU + POLYAK_L)
    rows = []
    for method, (eta, b, pred) in {
        "heavy ball, Polyak's pair": (lr, beta, rate),
        "gradient descent, best rate": (gd_lr, 0.0, (kappa - 1) / (kappa + 1)),
    }.items():
        thetas, _ = run_momentum(quadratic_grad(hs), np.ones(POLYAK_DIM), eta, POLYAK_STEPS, b)
        rows.append(dict(method=method, lr=eta, beta=b, predicted=pred, measured=measured_rate(thetas, POLYAK_STEPS // 2)))
    return pd.DataFrame(rows)


def worst_rate_grid(n: int = 121) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Worst-case rate :math:`\max_{h \in [\mu, L]} \max|r|` on a grid of :math:`(\eta, \beta)`.

    The worst case over an interval sits at its ends, so only :math:`\mu` and
    :math:`L` are evaluated.

    Parameters
    ----------
    n : int
        Grid points per axis (rates geometric around Polyak's, momenta linear in [0, 0.99]).

    Returns
    -------
    lrs, betas : numpy.ndarray
    worst : numpy.ndarray, shape (n, n)
        ``worst[i, j]`` for ``lrs[i]``, ``betas[j]`` (1 or more: not convergent).

    >>> lrs, betas, worst = worst_rate_grid(5)
    >>> worst.shape
    (5, 5)
    """
    n = check_int("n", n, minimum=2)
    lr_star = polyak_optimal(POLYAK_MU, POLYAK_L)[0]
    lrs = lr_star * np.geomspace(0.25, 4.0, n)
    betas = np.linspace(0.0, 0.99, n)
    worst = np.array(
        [[max(convergence_rate(e, b, POLYAK_MU), convergence_rate(e, b, POLYAK_L)) for b in betas] for e in lrs]
    )
    return lrs, betas, worst



# ---------------------------------------------------------------------------
# Exercises (the folded solutions at the end of the chapter)
# ---------------------------------------------------------------------------

# --- ex-mechanical-universe-keep-friction: halve the rate, keep gamma ----------
KF_LR, KF_BETA = 0.01, 0.9  #: the run whose rate is halved (gamma = (1 - beta) / sqrt(eta) = 1)

# --- ex-mechanical-universe-lyapunov-sharp: is eta h <= 2 (1 - beta) sharp? ---
LS_BETAS = (0.5, 0.9, 0.98)
LS_RTOL = 1e-6  #: relative width of the bisection's final bracket

# --- ex-mechanical-universe-hot-rate: the temperature at eta h = 1 ------------
HOT_LR, HOT_BETA = 1.0, 0.5  #: eta h = 1, well inside the stability limit 2 (1 + beta) = 3
HOT_STEPS, HOT_BURN_IN, HOT_SEEDS, HOT_SEED = 2000, 200, 2000, 21

# --- ex-mechanical-universe-misjudged-mu: Polyak's pair for a wrong mu ---------
MU_FACTORS = (1.0, 0.1, 10.0)  #: mu guessed right, ten times too small, ten times too large


def damped_oscillator(tau, gamma: float, h: float = H, theta0: float = THETA0):
    r"""The solution of :math:`\ddot\theta + \gamma\dot\theta + h\theta = 0` from rest at ``theta0`` (under-damped, :math:`\gamma < 2\sqrt h`).

    >>> float(damped_oscillator(0.0, 1.0))
    1.0
    """
    if not 0 <= gamma < 2 * np.sqrt(h):
        raise ValueError(f"gamma must be in [0, 2 sqrt(h)) = [0, {2 * np.sqrt(h)!r}), got gamma={gamma!r}")
    omega = np.sqrt(h - gamma**2 / 4)
    tau = np.asarray(tau, dtype=np.float64)
    return theta0 * np.exp(-gamma * tau / 2) * (np.cos(omega * tau) + gamma / (2 * omega) * np.sin(omega * tau))


def exercise_keep_friction() -> pd.DataFrame:
    r"""Halve the rate of a run at :data:`KF_LR`, :data:`KF_BETA`: keep :math:`\beta`, or keep :math:`\gamma`.

    Every run is compared, in the time :math:`\tau = t\sqrt\eta`, with the
    oscillator of the original friction :math:`\gamma = (1-\beta)/\sqrt\eta`
    over :math:`\tau \in [0,` :data:`TAU_END` :math:`]`.

    Returns
    -------
    pandas.DataFrame
        ``run``, ``lr``, ``beta``, ``gamma``, ``max_gap`` (largest :math:`|\theta_t - \theta(\tau)|`
        to the original oscillator).
    """
    gamma = (1 - KF_BETA) / np.sqrt(KF_LR)
    half = KF_LR / 2
    runs = {
        "original": (KF_LR, KF_BETA),
        "half rate, same beta": (half, KF_BETA),
        "half rate, same gamma": (half, 1 - gamma * np.sqrt(half)),
    }
    rows = []
    for name, (lr, beta) in runs.items():
        steps = int(round(TAU_END / np.sqrt(lr)))
        thetas, _ = run_momentum(quadratic_grad(), THETA0, lr, steps, beta)
        tau = np.arange(steps + 1) * np.sqrt(lr)
        gap = float(np.abs(thetas - damped_oscillator(tau, gamma)).max())
        rows.append(dict(run=name, lr=lr, beta=beta, gamma=(1 - beta) / np.sqrt(lr), max_gap=gap))
    return pd.DataFrame(rows)


def lyapunov_rises(lr: float, beta: float, h: float = H, steps: int = ENERGY_STEPS) -> bool:
    r"""Does :math:`V_t = L + \beta v^2/(2\eta)` rise (by more than 1e-12 relative) in ``steps`` steps from rest at :math:`\theta_0 = 1`?"""
    thetas, vel = run_momentum(quadratic_grad(h), THETA0, lr, steps, beta)
    v = lyapunov_energy(0.5 * h * thetas**2, vel, lr, beta)
    return bool(np.any(np.diff(v) > 1e-12 * np.abs(v[:-1])))


def lyapunov_step_identity_error(lr: float, beta: float, h: float = H, steps: int = ENERGY_STEPS) -> float:
    r"""Largest gap between :math:`V_{t+1} - V_t` and the bowl's exact one-step change, relative to :math:`V_t`.

    On :math:`L = \frac12 h\theta^2`,
    :math:`V_{t+1} - V_t = -\frac{\beta}{2\eta}(v_{t+1} - v_t)^2 - \big(\frac{1-\beta}\eta - \frac h2\big) v_{t+1}^2`.
    """
    thetas, vel = run_momentum(quadratic_grad(h), THETA0, lr, steps, beta)
    v = lyapunov_energy(0.5 * h * thetas**2, vel, lr, beta)
    change = -beta / (2 * lr) * np.diff(vel) ** 2 - ((1 - beta) / lr - h / 2) * vel[1:] ** 2
    keep = v[:-1] > 1e-250  # far from underflow
    return float(np.max(np.abs(np.diff(v) - change)[keep] / v[:-1][keep]))


def exercise_lyapunov_sharp() -> pd.DataFrame:
    r"""For each momentum of :data:`LS_BETAS`: the smallest :math:`\eta h` at which :math:`V` rises, by bisection.

    The bracket is :math:`[\frac12, 1.1] \times 2(1-\beta)`, checked at both ends;
    bisection stops when it is narrower than :data:`LS_RTOL` relative.

    Returns
    -------
    pandas.DataFrame
        ``beta``, ``bound`` (:math:`2(1-\beta)`), ``first_rise`` (the upper end of the final
        bracket), ``excess`` (``first_rise / bound - 1``), ``identity_error``
        (:func:`lyapunov_step_identity_error` at ``first_rise``).
    """
    rows = []
    for beta in LS_BETAS:
        bound = 2 * (1 - beta)
        lo, hi = 0.5 * bound / H, 1.1 * bound / H
        if lyapunov_rises(lo, beta) or not lyapunov_rises(hi, beta):
            raise RuntimeError(f"the bracket [{lo!r}, {hi!r}] does not hold the first rise of V at beta={beta!r}")
        while hi - lo > LS_RTOL * hi:
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if lyapunov_rises(mid, beta) else (mid, hi)
        rows.append(dict(beta=beta, bound=bound, first_rise=hi * H, excess=hi * H / bound - 1,
                         identity_error=lyapunov_step_identity_error(hi, beta)))
    return pd.DataFrame(rows)


def exercise_hot_rate(device=None) -> pd.DataFrame:
    r"""Temperatures of noisy heavy ball at :math:`\eta h` = 1 (:data:`HOT_LR`, :data:`HOT_BETA`): formula, exact, Monte Carlo.

    Returns
    -------
    pandas.DataFrame
        One row per temperature (``potential`` :math:`h\,E[\theta^2]`, ``kinetic``
        :math:`E[v^2]/\eta`): ``formula`` (:math:`\eta s/(2(1-\beta))`), ``exact``
        (:func:`lrlab.momentum.stationary_moments`), ``measured``, ``stderr``, ``z_exact``,
        ``z_formula`` (measured minus each, in standard errors), ``z_crit`` (Bonferroni
        threshold for the two ``z_exact`` at :data:`FALSE_ALARM`) and ``device``.
    """
    theta2, v2 = stationary_moments(HOT_LR, HOT_BETA, H, NOISE_VAR)
    mc = simulate_thermal(HOT_LR, HOT_BETA, H, NOISE_VAR, HOT_STEPS, HOT_BURN_IN, HOT_SEEDS, seed=HOT_SEED,
                          device=device)
    formula = equilibrium_temperature(HOT_LR, HOT_BETA, NOISE_VAR)
    rows = []
    for name, exact, measured, se in (("potential", H * theta2, H * mc.theta2, H * mc.theta2_stderr),
                                      ("kinetic", v2 / HOT_LR, mc.v2 / HOT_LR, mc.v2_stderr / HOT_LR)):
        rows.append(dict(temperature=name, formula=formula, exact=exact, measured=measured, stderr=se,
                         z_exact=(measured - exact) / se, z_formula=(measured - formula) / se,
                         z_crit=bonferroni_z(2, FALSE_ALARM), device=mc.device))
    return pd.DataFrame(rows)


def exercise_swing_period() -> pd.Series:
    r"""The under-damped run of section 5: its angle per step, period and zero crossings, predicted and counted.

    The roots are :math:`\sqrt\beta e^{\pm i\varphi}` with :math:`\cos\varphi = (1+\beta-\eta h)/(2\sqrt\beta)`;
    a run crosses zero twice per period :math:`2\pi/\varphi`, about :math:`T\varphi/\pi` times in
    :math:`T` steps. The continuous limit turns :math:`\varphi` into :math:`\omega\sqrt\eta`,
    :math:`\omega = \sqrt{h - \gamma^2/4}`.

    Returns
    -------
    pandas.Series
        ``lr``, ``beta``, ``phi``, ``period``, ``predicted_crossings``, ``measured_crossings``,
        ``phi_continuous``.
    """
    beta = DAMPING_BETAS["underdamped"]
    phi = float(np.arccos((1 + beta - LR * H) / (2 * np.sqrt(beta))))
    thetas, _ = run_momentum(quadratic_grad(), THETA0, LR, DAMPING_STEPS, beta)
    gamma = (1 - beta) / np.sqrt(LR)
    return pd.Series(dict(lr=LR, beta=beta, phi=phi, period=2 * np.pi / phi,
                          predicted_crossings=DAMPING_STEPS * phi / np.pi,
                          measured_crossings=sign_changes(thetas),
                          phi_continuous=float(np.sqrt(H - gamma**2 / 4) * np.sqrt(LR))))


def run_nesterov(grad, theta0, lr: float, total_steps: int, beta: float) -> np.ndarray:
    r"""Nesterov's momentum from rest: :math:`y_t = \theta_t + \beta(\theta_t - \theta_{t-1})`, :math:`\theta_{t+1} = y_t - \eta\nabla L(y_t)`.

    Returns :math:`\theta_0 .. \theta_T` (shape ``(T+1, ...)``); :math:`\theta_{-1} = \theta_0`.

    >>> run_nesterov(lambda th: th, 1.0, 0.5, 2, 0.5).tolist()
    [1.0, 0.5, 0.125]
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    theta = np.array(theta0, dtype=np.float64)
    thetas = np.empty((total_steps + 1,) + theta.shape)
    thetas[0] = previous = theta
    for t in range(total_steps):
        y = thetas[t] + beta * (thetas[t] - previous)
        previous = thetas[t]
        thetas[t + 1] = y - lr * np.asarray(grad(y), dtype=np.float64)
    return thetas


def nesterov_critical_beta(lr, h: float = H):
    r"""The momentum that makes Nesterov's method critically damped on the bowl: :math:`(1-\sqrt{\eta h})^2/(1-\eta h)`.

    >>> round(float(nesterov_critical_beta(0.01)), 6)
    0.818182
    """
    x = np.asarray(lr, dtype=np.float64) * h
    if np.any(x <= 0) or np.any(x >= 1):
        raise ValueError(f"lr * h must be in (0, 1), got lr={lr!r} with h={h!r}")
    return (1 - np.sqrt(x)) ** 2 / (1 - x)


def exercise_nesterov() -> pd.DataFrame:
    r"""Critically damped Nesterov runs at each :math:`\eta h` of :data:`RATE_CHECK_PRODUCTS`, as :func:`critical_rate_table`.

    Returns
    -------
    pandas.DataFrame
        ``eta_h``, ``beta_heavy_ball`` (:math:`(1-\sqrt{\eta h})^2`), ``beta_nesterov``,
        ``discriminant`` of :math:`r^2 - (1-\eta h)(1+\beta) r + (1-\eta h)\beta`,
        ``predicted`` (:math:`1-\sqrt{\eta h}`), ``measured``, ``rel_error``, ``sign_changes``
        and ``heavy_ball_regime`` (heavy ball's regime at Nesterov's critical momentum).
    """
    rows = []
    for x in RATE_CHECK_PRODUCTS:
        lr = x / H
        beta = float(nesterov_critical_beta(lr))
        steps = int(round(60 / np.sqrt(x)))
        thetas = run_nesterov(quadratic_grad(), THETA0, lr, steps, beta)
        q = 1 - x
        pred = 1 - np.sqrt(x)
        meas = measured_rate(thetas, steps // 2)
        rows.append(dict(eta_h=x, beta_heavy_ball=critical_beta(lr, H), beta_nesterov=beta,
                         discriminant=(q * (1 + beta)) ** 2 - 4 * q * beta, predicted=pred, measured=meas,
                         rel_error=meas / pred - 1, sign_changes=sign_changes(thetas),
                         heavy_ball_regime=damping_regime(lr, beta, H)))
    return pd.DataFrame(rows)


def exercise_misjudged_mu() -> pd.DataFrame:
    r"""Polyak's pair tuned for :math:`\mu_g = f\mu` (:data:`MU_FACTORS`), run on the true curvatures :func:`polyak_curvatures`.

    The slowdown is the number of steps to a given precision relative to the
    right pair, :math:`\ln\rho^*/\ln\rho`. For large :math:`\kappa` it is about
    :math:`1/\sqrt f` when :math:`f < 1` (every curvature under-damped, rate
    :math:`\sqrt{\beta_g}`) and :math:`2\sqrt f` when :math:`f > 1` (the flattest
    curvature over-damped, slow root :math:`\approx 1 - \eta\mu/(1-\beta) = 1 - \mu/\sqrt{L\mu_g}`).

    Returns
    -------
    pandas.DataFrame
        ``factor``, ``mu_guess``, ``lr``, ``beta``, ``regime_at_mu`` (at the true :math:`\mu`),
        ``worst_rate`` (largest root modulus over the curvatures), ``measured`` (fitted on
        the second half of :data:`POLYAK_STEPS` steps), ``slowdown``, ``predicted_slowdown``.
    """
    hs = polyak_curvatures()
    best = polyak_optimal(POLYAK_MU, POLYAK_L)[2]
    rows = []
    for f in MU_FACTORS:
        lr, beta, _ = polyak_optimal(f * POLYAK_MU, POLYAK_L)
        worst = max(convergence_rate(lr, beta, h) for h in hs)
        thetas, _ = run_momentum(quadratic_grad(hs), np.ones(POLYAK_DIM), lr, POLYAK_STEPS, beta)
        rows.append(dict(factor=f, mu_guess=f * POLYAK_MU, lr=lr, beta=beta,
                         regime_at_mu=damping_regime(lr, beta, POLYAK_MU), worst_rate=worst,
                         measured=measured_rate(thetas, POLYAK_STEPS // 2), slowdown=np.log(best) / np.log(worst),
                         predicted_slowdown=1.0 if f == 1 else (1 / np.sqrt(f) if f < 1 else 2 * np.sqrt(f))))
    return pd.DataFrame(rows)
