"""Chapter 7's parameters and experiments ("Generative modeling: games and noise schedules").

Imported by ``book/generative_modeling.md`` and by ``tests/test_generative_modeling_claims.py``,
so the numbers in the book and the checks of its claims cannot drift apart.

>>> DIRAC_LR > 0 and DIFF_EMA_DECAY < 1
True
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .. import diffusion, games, gan2d, stats
from ..schedules import (constant_schedule, cosine_schedule, inverse_sqrt_schedule, linear_warmup,
                         warmup_cosine_schedule)

# ---------------------------------------------------------------------------
# Section 1: the Dirac-GAN
# ---------------------------------------------------------------------------
DIRAC_LR = 0.1
DIRAC_STEPS = 500
DIRAC_N_START = 16  # initial points on the unit circle
DIRAC_TTUR = (0.05, 0.2)  # (generator, discriminator): the same product as DIRAC_LR^2
DIRAC_GAMMA = 1.0  # gradient-penalty weight of the regularized run
DIRAC_SOFTPLUS_RADIUS = 0.05  # start of the softplus check, close to the equilibrium


def dirac_starts():
    """``DIRAC_N_START`` initial points evenly spaced on the unit circle (energy 1)."""
    angle = 2 * np.pi * np.arange(DIRAC_N_START) / DIRAC_N_START
    return np.cos(angle), np.sin(angle)


def dirac_schedules() -> dict:
    """Name -> rates of the ``DIRAC_STEPS`` steps (equal rates for both players)."""
    steps = np.arange(DIRAC_STEPS)
    return {
        "constant": constant_schedule(DIRAC_LR)(steps) * np.ones(DIRAC_STEPS),
        "cosine decay": cosine_schedule(DIRAC_LR, DIRAC_STEPS)(steps),
        "inverse sqrt": inverse_sqrt_schedule(DIRAC_LR, warmup_steps=1)(steps),
    }


def dirac_runs() -> dict:
    """Every Dirac-GAN run of section 1: ``{name: (theta, psi)}``, arrays of shape (DIRAC_STEPS + 1, DIRAC_N_START)."""
    th0, ps0 = dirac_starts()
    rates = dirac_schedules()
    const = rates["constant"]
    g, d = (np.full(DIRAC_STEPS, r) for r in DIRAC_TTUR)
    runs = {
        "simultaneous": games.run_dirac_gan(th0, ps0, const, method="simultaneous"),
        "alternating": games.run_dirac_gan(th0, ps0, const, method="alternating"),
        "simultaneous, cosine decay": games.run_dirac_gan(th0, ps0, rates["cosine decay"]),
        "simultaneous, inverse sqrt": games.run_dirac_gan(th0, ps0, rates["inverse sqrt"]),
        "simultaneous, TTUR": games.run_dirac_gan(th0, ps0, g, d, method="simultaneous"),
        "alternating, TTUR": games.run_dirac_gan(th0, ps0, g, d, method="alternating"),
        "simultaneous, gradient penalty": games.run_dirac_gan(th0, ps0, const, gamma=DIRAC_GAMMA),
        "simultaneous, softplus": games.run_dirac_gan(DIRAC_SOFTPLUS_RADIUS * th0, DIRAC_SOFTPLUS_RADIUS * ps0, const,
                                                      f="softplus"),
    }
    return runs


def per_step_factor(energies: np.ndarray) -> float:
    """Geometric-mean growth of the energy per step, over all steps and starting points."""
    e = np.asarray(energies)
    return float(np.exp(np.mean(np.log(e[-1] / e[0])) / (len(e) - 1)))


def dirac_summary(runs: dict) -> dict:
    """The measured numbers of section 1.

    Returns
    -------
    dict
        ``factor_pred``/``factor_sim`` (energy growth per step, closed form vs
        simulation), ``energy_end`` per run (mean over starts), ``alt_invariant_dev``
        (largest relative drift of the alternating invariant), ``alt_energy_min``/
        ``alt_energy_max`` (range of the alternating energy) and ``alt_energy_bound`` (the range the invariant allows), ``growth_exponent`` per
        schedule (predicted ln E_T/E_0 = sum ln(1 + eta_t^2)) and ``min_energy_ratio``
        (smallest E_{t+1}/E_t over every simultaneous schedule: never below 1),
        ``ttur_factor_pred``/``ttur_factor_sim`` (weighted energy), ``alt_ttur_invariant_dev``,
        ``alt_ttur_energy_max`` and ``alt_ttur_energy_bound`` (the largest energy the invariant allows),
        ``penalty_radius`` (closed-form spectral radius), ``penalty_factor_sim`` and ``penalty_factor_tol``
        (the relative gap that the eigenvectors' non-orthogonality allows over the run),
        ``softplus_factor_pred``/``softplus_factor_sim`` (first 100 steps).
    """
    E = {name: games.energy(*r) for name, r in runs.items()}
    out = {"factor_pred": games.energy_growth_factor(DIRAC_LR), "factor_sim": per_step_factor(E["simultaneous"])}
    out["energy_end"] = {name: float(e[-1].mean()) for name, e in E.items()}
    th, ps = runs["alternating"]
    inv = games.alternating_invariant(th, ps, DIRAC_LR)
    out["alt_invariant_dev"] = float(np.max(np.abs(inv / inv[0] - 1)))
    out["alt_energy_min"], out["alt_energy_max"] = float(E["alternating"].min()), float(E["alternating"].max())
    # on the ellipse E - a theta psi = I/a, with |theta psi| <= E/2 and a start on the unit circle:
    half = DIRAC_LR / 2
    out["alt_energy_bound"] = ((1 - half) / (1 + half), (1 + half) / (1 - half))
    rates = dirac_schedules()
    out["growth_exponent_pred"] = {k: float(np.sum(np.log1p(v**2))) for k, v in rates.items()}
    names = {"constant": "simultaneous", "cosine decay": "simultaneous, cosine decay",
             "inverse sqrt": "simultaneous, inverse sqrt"}
    out["growth_exponent_sim"] = {k: float(np.mean(np.log(E[n][-1] / E[n][0]))) for k, n in names.items()}
    out["min_energy_ratio"] = min(float(np.min(E[n][1:] / E[n][:-1])) for n in names.values())
    g, d = DIRAC_TTUR
    th, ps = runs["simultaneous, TTUR"]
    out["ttur_factor_pred"] = games.energy_growth_factor(g, d)
    out["ttur_factor_sim"] = per_step_factor(games.weighted_energy(th, ps, g, d))
    out["ttur_energy_factor_sim"] = per_step_factor(E["simultaneous, TTUR"])
    th, ps = runs["alternating, TTUR"]
    inv = games.alternating_invariant(th, ps, g, d)
    out["alt_ttur_invariant_dev"] = float(np.max(np.abs(inv / inv[0] - 1)))
    out["alt_ttur_energy_max"] = float(E["alternating, TTUR"].max())
    # the ellipse I(theta, psi) = I_0 holds energies up to I_0 / lambda_min of I's quadratic form
    a, b = g, d  # c = 1 for the linear loss
    lam_min = float(np.linalg.eigvalsh(np.array([[b, -a * b / 2], [-a * b / 2, a]]))[0])
    out["alt_ttur_energy_bound"] = float(np.max(inv[0]) / lam_min)
    out["penalty_radius"] = games.spectral_radius(games.linear_map(DIRAC_LR, gamma=DIRAC_GAMMA))
    out["penalty_factor_pred"] = out["penalty_radius"] ** 2
    out["penalty_factor_sim"] = per_step_factor(E["simultaneous, gradient penalty"])
    # E_t = |lambda|^{2t} times a factor that the eigenvectors' condition number kappa bounds within [1/kappa^2,
    # kappa^2]: over T steps the measured per-step factor may differ from |lambda|^2 by kappa^{4/T} at most
    kappa = float(np.linalg.cond(np.linalg.eig(games.linear_map(DIRAC_LR, gamma=DIRAC_GAMMA))[1]))
    out["penalty_factor_tol"] = kappa ** (4 / DIRAC_STEPS) - 1
    out["softplus_factor_pred"] = games.energy_growth_factor(DIRAC_LR, f="softplus")
    out["softplus_factor_sim"] = per_step_factor(E["simultaneous, softplus"][:101])
    out["softplus_energy_ratio"] = float(np.mean(E["simultaneous, softplus"][-1] / E["simultaneous, softplus"][0]))
    return out


# ---------------------------------------------------------------------------
# Section 3: a 2-D GAN on a ring of Gaussians
# ---------------------------------------------------------------------------
GAN_CONFIGS = {"equal rates": (1e-3, 1e-3), "TTUR": (1e-3, 4e-3)}  # (generator, discriminator) Adam rates
GAN_STEPS = 1500
GAN_SEEDS = 12
GAN_SEED = 1  # a seed stream not looked at when the rates were fixed (stream 0 was)
GAN_EVAL_EVERY = 250
GAN_EARLY_STEP = 500
GAN_MARGIN = 1 / 8  # equivalence margin for coverage: one mode of eight, the smallest change one seed shows
GAN_KW = {"hidden": 64, "batch_size": 64, "noise_dim": 4, "n_eval": 1000, "std": 0.1, "radius": 2.0, "n_modes": 8}


def gan_experiment(device=None) -> dict:
    """Train ``GAN_SEEDS`` GANs per configuration of ``GAN_CONFIGS``: ``{name: GANResult}``.

    Both configurations train in one batched run on common random numbers: seed ``i`` of each starts
    from the same generator and discriminator weights and sees the same data and latent draws.
    """
    torch.set_num_threads(1)
    lg, ld = zip(*GAN_CONFIGS.values())
    r = gan2d.train_gan(list(lg), list(ld), steps=GAN_STEPS, n_seeds=GAN_SEEDS, seed=GAN_SEED,
                        eval_every=GAN_EVAL_EVERY, device=device, **GAN_KW)
    out = {}
    for a, name in enumerate(GAN_CONFIGS):
        k = slice(a * GAN_SEEDS, (a + 1) * GAN_SEEDS)
        out[name] = dataclasses.replace(r, samples=r.samples[k], coverage=r.coverage[k], high_quality=r.high_quality[k],
                                        coverage_curve=r.coverage_curve[:, k],
                                        high_quality_curve=r.high_quality_curve[:, k])
    return out


def gan_early(result) -> np.ndarray:
    """Coverage per seed at step ``GAN_EARLY_STEP``."""
    return result.coverage_curve[int(np.flatnonzero(result.eval_steps == GAN_EARLY_STEP)[0])]


def gan_stats(results: dict) -> dict:
    """The paired comparisons of section 3 (seed i of both configurations shares its draws).

    Returns
    -------
    dict
        ``"early"``: TTUR minus equal rates, coverage at ``GAN_EARLY_STEP``; ``"end"``: equal rates minus TTUR at
        the end;
        ``"ttur_after"``: TTUR's end minus its ``GAN_EARLY_STEP`` coverage, with ``"ttur_after_tost"``;
        ``"eq_after"``: the same for equal rates; ``"hq"``: TTUR minus equal rates, high-quality fraction at
        the end (:class:`lrlab.stats.PairedTest` / :class:`lrlab.stats.Equivalence`).
    """
    eq, tt = results["equal rates"], results["TTUR"]
    return {"early": stats.paired_t(gan_early(tt), gan_early(eq)),
            "end": stats.paired_t(eq.coverage, tt.coverage),
            "ttur_after": stats.paired_t(tt.coverage, gan_early(tt)),
            "ttur_after_tost": stats.tost(tt.coverage, gan_early(tt), GAN_MARGIN),
            "eq_after": stats.paired_t(eq.coverage, gan_early(eq)),
            "hq": stats.paired_t(tt.high_quality, eq.high_quality)}


def gan_table(results: dict):
    """Coverage early and at the end, and the high-quality fraction at the end: mean ± 95% CI over seeds."""
    import pandas as pd

    rows = []
    for name, r in results.items():
        lg, ld = GAN_CONFIGS[name]
        rows.append({"config": name, "rates (G, D)": f"{lg:g}, {ld:g}",
                     f"coverage at step {GAN_EARLY_STEP}": f"{stats.mean_ci(gan_early(r)):.2f}",
                     f"coverage at step {GAN_STEPS}": f"{stats.mean_ci(r.coverage):.2f}",
                     "high-quality fraction at the end": f"{stats.mean_ci(r.high_quality):.2f}"})
    return pd.DataFrame(rows).set_index("config")


# ---------------------------------------------------------------------------
# Section 4: noise schedules
# ---------------------------------------------------------------------------
NS_T = 1000
NS_BAND = 2.0  # |log SNR| <= NS_BAND: signal and noise of comparable size
NS_PURE_NOISE = 1e-3  # alpha_bar below this: (almost) nothing of the data is left


def noise_schedules() -> dict:
    """``{name: alpha_bar}`` for t = 0..NS_T, the linear-beta and cosine schedules."""
    t = np.arange(NS_T + 1)
    return {"linear beta": diffusion.linear_alpha_bar(t, NS_T), "cosine alpha-bar": diffusion.cosine_alpha_bar(t, NS_T)}


def noise_summary() -> dict:
    """Per schedule: the step where alpha_bar = 1/2 (SNR = 1), the fraction of steps 1..T-1 in the band
    ``|log SNR| <= NS_BAND``, the fraction of steps 1..T with alpha_bar < NS_PURE_NOISE, and log SNR at
    t = 1 and t = T - 1."""
    out = {}
    for name, ab in noise_schedules().items():
        ls = diffusion.log_snr(ab[1:NS_T])
        out[name] = {"half_step": int(np.argmin(np.abs(ab - 0.5))), "band_frac": float(np.mean(np.abs(ls) <= NS_BAND)),
                     "pure_noise_frac": float(np.mean(ab[1:] < NS_PURE_NOISE)),
                     "log_snr_first": float(ls[0]), "log_snr_last": float(ls[-1])}
    return out


# ---------------------------------------------------------------------------
# Section 5: a tiny diffusion model, warmup x decay (x EMA)
# ---------------------------------------------------------------------------
DIFF_STEPS = 1000
DIFF_WARMUP = 100  # steps of linear warmup in the two warmup arms (10 % of training)
DIFF_EMA_DECAY = 0.99
DIFF_T = 100  # diffusion steps of the tiny model (cosine noise schedule)
DIFF_N_SAMPLES = 500  # samples per model (and per data reference) for the energy distance
DIFF_KW = {"hidden": 32, "batch_size": 128, "total_steps": DIFF_T, "noise_schedule": "cosine", "std": 0.1}
DIFF_ARMS = {  # name -> (warmup, cosine decay to zero)
    "constant": (False, False),
    "warmup + constant": (True, False),
    "cosine": (False, True),
    "warmup + cosine": (True, True),
}
DIFF_PEAKS = tuple(2e-3 * 2.0**k for k in range(8))  # the common peak_lr grid, 0.002 to 0.256
DIFF_SELECT_SEEDS = 3  # selection seeds per (arm, peak): the peaks are chosen on these ...
DIFF_SELECT_SEED = 100
DIFF_SEEDS = 12  # ... and the report uses other seeds
DIFF_SEED = 0
DIFF_CLIP = 3.0  # the sampler clips its predicted clean point to [-3, 3]^2 (the data lie within radius 2.5)
DIFF_MARGIN = 0.008  # equivalence margin in energy distance: about what separates two data samples of this size


def diffusion_rates(arm: str, peak_lr: float) -> np.ndarray:
    """The ``DIFF_STEPS`` rates of one arm of the factorial: optional linear warmup, then constant or cosine to 0.

    >>> r = diffusion_rates("warmup + cosine", 1.0)
    >>> float(r[0]), float(r[DIFF_WARMUP]), bool(r[-1] < 1e-4), diffusion_rates("constant", 0.5)[[0, -1]].tolist()
    (0.0, 1.0, True, [0.5, 0.5])
    """
    warm, decay = DIFF_ARMS[arm]
    steps = np.arange(DIFF_STEPS)
    if decay:
        sched = warmup_cosine_schedule(peak_lr, DIFF_STEPS, DIFF_WARMUP if warm else 0)
    else:
        sched = linear_warmup(constant_schedule(peak_lr), DIFF_WARMUP if warm else 0)
    return np.asarray(sched(steps), dtype=np.float64) * np.ones(DIFF_STEPS)


def _diffusion_scores(columns: list, n_seeds: int, seed: int, device=None, keep_samples: bool = False,
                      kinds=("raw", "ema")) -> dict:
    """Train one population per ``(arm, peak)`` column with common random numbers; energy distances per column and seed.

    Seed ``i`` of every column has the same initial weights, minibatches, sampling noise and data reference.
    Returns ``{kind: (len(columns), n_seeds)}`` for ``kind`` in ``kinds`` (``"raw"``, ``"ema"``), ``"floor"`` (two independent data samples, per seed),
    ``"result"`` and, with ``keep_samples``, ``"raw_samples"``/``"ema_samples"`` (columns, seeds, n, 2).
    """
    torch.set_num_threads(1)
    rates = np.stack([diffusion_rates(arm, peak) for arm, peak in columns], axis=1)
    res = diffusion.train_ddpm(steps=DIFF_STEPS, n_seeds=n_seeds, seed=seed, ema_decay=DIFF_EMA_DECAY, rates=rates,
                               device=device, **DIFF_KW)
    dev = torch.device(res.device)
    gen = torch.Generator(device=dev).manual_seed(seed + 1)
    data = gan2d.ring_mixture(DIFF_N_SAMPLES, std=DIFF_KW["std"], generator=gen, batch_shape=(n_seeds,))
    other = gan2d.ring_mixture(DIFF_N_SAMPLES, std=DIFF_KW["std"], generator=gen, batch_shape=(n_seeds,))
    out = {"result": res, "floor": diffusion.energy_distance(data, other)}
    k = len(columns)
    for kind in kinds:
        params = res.params if kind == "raw" else res.ema_params
        x = diffusion.sample_ddpm(params, res.sizes, res.alpha_bar, DIFF_N_SAMPLES,
                                  torch.Generator(device=dev).manual_seed(seed + 2), n_arms=k, clip_x0=DIFF_CLIP)
        out[kind] = diffusion.energy_distance(x.reshape(k, n_seeds, DIFF_N_SAMPLES, 2), data).reshape(k, n_seeds)
        if keep_samples:
            out[kind + "_samples"] = x.reshape(k, n_seeds, DIFF_N_SAMPLES, 2).cpu().numpy()
    return out


def diffusion_selection(device=None) -> dict:
    """Every arm at every peak of ``DIFF_PEAKS`` on the ``DIFF_SELECT_SEEDS`` selection seeds (last iterate).

    Returns
    -------
    dict
        ``"raw"``: ``{arm: (len(DIFF_PEAKS), DIFF_SELECT_SEEDS)}`` energy distances of the last iterate, and
        ``"best"``: ``{arm: peak}``, the peak of the lowest mean (each arm its own best; a diverged run, NaN
        weights, counts as infinitely bad).
    """
    columns = [(arm, peak) for arm in DIFF_ARMS for peak in DIFF_PEAKS]
    sc = _diffusion_scores(columns, DIFF_SELECT_SEEDS, DIFF_SELECT_SEED, device, kinds=("raw",))
    n = len(DIFF_PEAKS)
    out = {"raw": {arm: sc["raw"][i * n:(i + 1) * n] for i, arm in enumerate(DIFF_ARMS)}}
    out["best"] = {arm: DIFF_PEAKS[int(np.argmin(np.nan_to_num(v.mean(axis=1), nan=np.inf)))]
                   for arm, v in out["raw"].items()}
    return out


def diffusion_top_ratio(selection: dict) -> float:
    """Smallest, over the arms, ratio of the last iterate's mean distance at the grid's top peak to its best mean
    (selection seeds; a diverged run counts as infinitely bad)."""
    ratios = []
    for v in selection["raw"].values():
        m = np.nan_to_num(v.mean(axis=1), nan=np.inf)
        ratios.append(m[-1] / m.min())
    return float(min(ratios))


def diffusion_experiment(device=None) -> dict:
    """The factorial on the ``DIFF_SEEDS`` report seeds, each arm at the peak chosen for its last iterate on the
    selection seeds; the last iterate and the EMA of the same runs.

    Returns
    -------
    dict
        ``"selection"`` (:func:`diffusion_selection`), ``"peak"``: ``{arm: peak}``, ``"raw"``/``"ema"``:
        ``{arm: (DIFF_SEEDS,)}`` energy distances of the last iterate / its EMA, ``"samples"``:
        ``{(kind, arm): (DIFF_SEEDS, n, 2)}``, ``"rates"``: ``{arm: (DIFF_STEPS,)}``, ``"floor"`` (DIFF_SEEDS,)
        and ``"device"``.
    """
    sel = diffusion_selection(device)
    peak = dict(sel["best"])
    columns = [(arm, peak[arm]) for arm in DIFF_ARMS]
    sc = _diffusion_scores(columns, DIFF_SEEDS, DIFF_SEED, device, keep_samples=True)
    out = {"selection": sel, "peak": peak, "floor": sc["floor"], "device": sc["result"].device,
           "samples": {}, "rates": {}, "raw": {}, "ema": {}}
    for j, arm in enumerate(DIFF_ARMS):
        out["rates"][arm] = sc["result"].rates[:, j]
        for kind in ("raw", "ema"):
            out[kind][arm] = sc[kind][j]
            out["samples"][kind, arm] = sc[kind + "_samples"][j]
    return out


def diffusion_effects(diff: dict) -> dict:
    """Paired effects of warmup, of decay and of the EMA on the energy distance (negative: the factor helps).

    Returns
    -------
    dict
        ``{kind: {...}}`` for ``kind`` in ``"raw"``, ``"ema"``: ``"warmup"`` and ``"decay"`` (main effects: the
        mean of the two simple effects, per seed), ``"warmup | constant"``, ``"warmup | cosine"``,
        ``"decay | no warmup"``, ``"decay | warmup"`` and ``"interaction"`` (:class:`lrlab.stats.PairedTest`), and
        ``"tost"``: the same keys as :class:`lrlab.stats.Equivalence` with margin ``DIFF_MARGIN``;
        ``"ema_gain"``: ``{arm: PairedTest}`` of EMA minus last iterate of the same runs, ``"ema_gain_tost"``,
        ``"ema_gain_constant"`` (the same, averaged over the two constant-rate arms per seed), and
        ``"ema_vs_decay"``: the constant rate's EMA minus the cosine decay's last iterate, and ``"vs_floor"``:
        ``{(kind, arm): PairedTest}`` of each model's distance minus the data floor.
    """
    out = {}
    for kind in ("raw", "ema"):
        v = diff[kind]
        c, wc, k, wk = v["constant"], v["warmup + constant"], v["cosine"], v["warmup + cosine"]
        pairs = {"warmup | constant": (wc, c), "warmup | cosine": (wk, k), "decay | no warmup": (k, c),
                 "decay | warmup": (wk, wc), "warmup": ((wc + wk) / 2, (c + k) / 2),
                 "decay": ((k + wk) / 2, (c + wc) / 2), "interaction": (wk - k, wc - c)}
        out[kind] = {name: stats.paired_t(a, b) for name, (a, b) in pairs.items()}
        out[kind]["tost"] = {name: stats.tost(a, b, DIFF_MARGIN) for name, (a, b) in pairs.items()}
    out["ema_gain"] = {arm: stats.paired_t(diff["ema"][arm], diff["raw"][arm]) for arm in DIFF_ARMS}
    out["ema_gain_tost"] = {arm: stats.tost(diff["ema"][arm], diff["raw"][arm], DIFF_MARGIN) for arm in DIFF_ARMS}
    # the EMA's effect under a constant rate, averaged per seed over the two constant arms
    const = ("constant", "warmup + constant")
    out["ema_gain_constant"] = stats.paired_t(sum(diff["ema"][a] for a in const) / 2, sum(diff["raw"][a] for a in const) / 2)
    # is an EMA a substitute for the decay? the constant rate's EMA against the cosine decay's last iterate
    out["ema_vs_decay"] = stats.paired_t(diff["ema"]["constant"], diff["raw"]["cosine"])
    # every model against the data's own floor (same data reference per seed)
    out["vs_floor"] = {(kind, arm): stats.paired_t(diff[kind][arm], diff["floor"])
                       for kind in ("raw", "ema") for arm in DIFF_ARMS}
    return out


def diffusion_effects_table(effects: dict):
    """The paired effects of :func:`diffusion_effects` as a table of strings (difference, 95% CI, p)."""
    import pandas as pd

    names = ["warmup", "warmup | constant", "warmup | cosine", "decay", "decay | no warmup", "decay | warmup",
             "interaction"]
    rows = [{"effect": name, **{label: f"{effects[kind][name]:.4f}" for kind, label in
                                (("raw", "last iterate"), ("ema", "EMA"))}} for name in names]
    return pd.DataFrame(rows).set_index("effect")


def diffusion_table(diff: dict):
    """Selected peak and energy distance (mean ± 95% CI over the report seeds) of the last iterate and the EMA, per arm."""
    import pandas as pd

    rows = []
    for arm in DIFF_ARMS:
        row = {"rate schedule": arm, "peak_lr": f"{diff['peak'][arm]:g}"}
        for kind, label in (("raw", "last iterate"), ("ema", "EMA")):
            row[label] = f"{stats.mean_ci(diff[kind][arm]):.4f}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("rate schedule")


# ---------------------------------------------------------------------------
# Exercises (ungraded; closed forms and small simulations)
# ---------------------------------------------------------------------------
EX_ALT_RATES = (0.1, 1.0, 1.9, 2.1, 2.5)  # equal rates of the alternating Dirac-GAN (linear loss, c = 1)
EX_ALT_STEPS = 100
EX_PEN_RATES = (0.05, DIRAC_LR, 0.2, 0.5)
EX_PEN_GAMMAS = tuple(np.round(np.arange(1, 801) * 0.01, 2))  # gamma grid 0.01 .. 8
EX_PEN_SIM = (1.0, 2.0, 8.0)  # penalties simulated at DIRAC_LR
EX_EG_RATES = tuple(np.round(np.arange(1, 1201) * 0.001, 3))  # extragradient rates 0.001 .. 1.2
EX_EG_SIM = (DIRAC_LR, 0.5, 1.1)
EX_SHORT_T = (100, 1000)
EX_BANDS = (1.0, NS_BAND, 4.0)
EX_EMA_CURVATURE_RATES = (1.0, 0.1, 0.01)  # eta * h of the directions whose iterates the EMA averages
EX_EMA_CHAINS = 4000
EX_EMA_STEPS = 2000
EX_EMA_SEED = 7


def alternating_radius(ab):
    r"""Closed-form spectral radius of the alternating map: 1 for :math:`0 < ab \le 4`, else
    :math:`\bigl(ab - 2 + \sqrt{(ab-2)^2 - 4}\bigr)/2` (real eigenvalues with product 1).

    >>> alternating_radius(1.0), round(alternating_radius(6.25), 6)
    (1.0, 4.0)
    """
    ab = np.asarray(ab, dtype=np.float64)
    x = ab - 2.0
    out = np.where(ab <= 4.0, 1.0, (x + np.sqrt(np.maximum(x * x - 4.0, 0.0))) / 2.0)
    return float(out) if out.ndim == 0 else out


def exercise_alternating_limit() -> dict:
    """ex-generative-modeling-alternating-limit: alternating play is bounded iff eta_G eta_D c^2 <= 4.

    Returns
    -------
    dict
        ``table`` (per rate of ``EX_ALT_RATES``: the closed-form and the numerical spectral radius of
        the alternating map, the largest energy over ``EX_ALT_STEPS`` steps from the unit circle, and
        for rates below 2 the largest energy the invariant allows, (1 + eta/2)/(1 - eta/2)),
        ``growth`` (per rate: the measured per-step energy factor over the last half of the run),
        ``largest`` and ``bound`` (per rate).
    """
    import pandas as pd

    th0, ps0 = dirac_starts()
    rows, growth, largest, bound = [], {}, {}, {}
    for eta in EX_ALT_RATES:
        th, ps = games.run_dirac_gan(th0, ps0, np.full(EX_ALT_STEPS, eta), method="alternating")
        E = games.energy(th, ps)
        half = EX_ALT_STEPS // 2
        growth[eta] = float(np.exp(np.mean(np.log(E[-1] / E[half])) / (EX_ALT_STEPS - half)))
        largest[eta] = float(E.max())
        bound[eta] = (1 + eta / 2) / (1 - eta / 2) if eta < 2 else np.inf
        rows.append({"eta": eta, "a b": eta * eta, "radius (closed form)": alternating_radius(eta * eta),
                     "radius (eigenvalues)": games.spectral_radius(games.linear_map(eta, method="alternating")),
                     "largest energy": largest[eta], "bound (1 + eta/2)/(1 - eta/2)": bound[eta]})
    return {"table": pd.DataFrame(rows).set_index("eta"), "growth": growth, "largest": largest, "bound": bound}


def exercise_penalty_gamma() -> dict:
    """ex-generative-modeling-penalty-gamma: the penalty that converges fastest is gamma = 2 (critical damping).

    Returns
    -------
    dict
        ``table`` (per rate of ``EX_PEN_RATES``: the best gamma of ``EX_PEN_GAMMAS``, its spectral
        radius, 1 - eta, and the radii at gamma = 1 and 8), ``best`` and ``radius`` (per rate),
        ``energy_end`` (per penalty of ``EX_PEN_SIM``: mean energy after ``DIRAC_STEPS`` steps at
        ``DIRAC_LR`` from the unit circle).
    """
    import pandas as pd

    rows, best, radius = [], {}, {}
    for eta in EX_PEN_RATES:
        r = np.array([games.spectral_radius(games.linear_map(eta, gamma=g)) for g in EX_PEN_GAMMAS])
        i = int(np.argmin(r))
        best[eta], radius[eta] = EX_PEN_GAMMAS[i], float(r[i])
        rows.append({"eta": eta, "best gamma": best[eta], "its radius": radius[eta], "1 - eta": 1 - eta,
                     "radius at gamma = 1": games.spectral_radius(games.linear_map(eta, gamma=1.0)),
                     "radius at gamma = 8": games.spectral_radius(games.linear_map(eta, gamma=8.0))})
    th0, ps0 = dirac_starts()
    energy_end = {}
    for g in EX_PEN_SIM:
        th, ps = games.run_dirac_gan(th0, ps0, np.full(DIRAC_STEPS, DIRAC_LR), gamma=g)
        energy_end[g] = float(games.energy(th[-1], ps[-1]).mean())
    return {"table": pd.DataFrame(rows).set_index("eta"), "best": best, "radius": radius, "energy_end": energy_end}


def extragradient_map(lr) -> np.ndarray:
    """The 2x2 matrix of one extragradient step of the linear Dirac-GAN (equal rates): the images of the two unit vectors.

    >>> extragradient_map(0.5).tolist()
    [[0.75, -0.5], [0.5, 0.75]]
    """
    th, ps = games.extragradient_step(np.array([1.0, 0.0]), np.array([0.0, 1.0]), lr)
    return np.stack([th, ps])


def exercise_extragradient() -> dict:
    """ex-generative-modeling-extragradient: extrapolation shrinks the energy by 1 - eta^2 + eta^4 per step.

    Returns
    -------
    dict
        ``best_rate`` and ``best_factor`` (the rate of ``EX_EG_RATES`` with the smallest squared spectral
        radius, and that factor), ``max_gap`` (largest gap between the squared radius and
        1 - eta^2 + eta^4 over the grid), ``stable_max`` (largest rate of the grid with factor < 1),
        ``table`` (per rate of ``EX_EG_SIM``: closed form and measured per-step factor over
        ``DIRAC_STEPS`` steps from the unit circle, and the final mean energy), ``factor_sim``.
    """
    import pandas as pd

    rates = np.asarray(EX_EG_RATES)
    factor = np.array([games.spectral_radius(extragradient_map(r)) ** 2 for r in rates])
    closed = 1 - rates**2 + rates**4
    i = int(np.argmin(factor))
    th0, ps0 = dirac_starts()
    rows, factor_sim = [], {}
    for eta in EX_EG_SIM:
        th, ps = th0, ps0
        E0 = games.energy(th, ps)
        for _ in range(DIRAC_STEPS):
            th, ps = games.extragradient_step(th, ps, eta)
        E = games.energy(th, ps)
        factor_sim[eta] = float(np.exp(np.mean(np.log(E / E0)) / DIRAC_STEPS))
        rows.append({"eta": eta, "1 - eta^2 + eta^4": 1 - eta**2 + eta**4, "measured factor per step": factor_sim[eta],
                     f"energy after {DIRAC_STEPS} steps": float(E.mean())})
    return {"best_rate": float(rates[i]), "best_factor": float(factor[i]), "max_gap": float(np.max(np.abs(factor - closed))),
            "stable_max": float(rates[factor < 1].max()), "table": pd.DataFrame(rows).set_index("eta"),
            "factor_sim": factor_sim}


def exercise_short_chain() -> dict:
    r"""ex-generative-modeling-short-chain: the linear-beta schedule is defined per step, the cosine one in t/T.

    Returns
    -------
    dict
        ``table`` (one column per T of ``EX_SHORT_T``: the linear schedule's :math:`\bar\alpha_T`, its approximation
        :math:`e^{-T(\beta_1 + \beta_T)/2}` and log SNR at T, the same for betas scaled by 1000/T ("scaled"), and
        the cosine schedule's :math:`\bar\alpha_{T/2}`), ``alpha_bar_T`` and ``approx``, ``scaled`` (per T),
        ``cosine_gap`` (largest difference between the cosine schedule at T = 100 and at T = 1000 on
        the same fractions t/T).
    """
    import pandas as pd

    rows, ab_T, approx, scaled = [], {}, {}, {}
    for T in EX_SHORT_T:
        ab_T[T] = diffusion.linear_alpha_bar(T, T)
        approx[T] = float(np.exp(-T * (1e-4 + 0.02) / 2))
        k = 1000 / T
        scaled[T] = diffusion.linear_alpha_bar(T, T, beta_start=1e-4 * k, beta_end=0.02 * k)
        rows.append({"T": T, "linear alpha_bar_T": ab_T[T], "its approximation": approx[T],
                     "linear log SNR(T)": diffusion.log_snr(ab_T[T]),
                     "scaled alpha_bar_T": scaled[T], "scaled log SNR(T)": diffusion.log_snr(scaled[T]),
                     "cosine alpha_bar(T/2)": diffusion.cosine_alpha_bar(T // 2, T)})
    short, long_ = EX_SHORT_T
    t = np.arange(short + 1)
    gap = float(np.max(np.abs(diffusion.cosine_alpha_bar(t, short) - diffusion.cosine_alpha_bar(t * (long_ // short), long_))))
    table = pd.DataFrame(rows).set_index("T").T.rename_axis(index="quantity", columns="T")  # one column per T
    return {"table": table, "alpha_bar_T": ab_T, "approx": approx, "scaled": scaled,
            "cosine_gap": gap}


def band_fraction_closed_form(band):
    r"""Fraction of the cosine schedule's steps (offset :math:`s = 0`) with :math:`|\log\mathrm{SNR}| \le B`:
    :math:`\frac4\pi\arctan e^{B/2} - 1`.

    >>> round(band_fraction_closed_form(0.0), 12)
    0.0
    """
    return float(4 / np.pi * np.arctan(np.exp(np.asarray(band, dtype=np.float64) / 2)) - 1)


def exercise_band() -> dict:
    """ex-generative-modeling-band: the share of the cosine schedule's steps in a log-SNR band, in closed form.

    Returns
    -------
    dict
        ``table`` and ``rows`` (per band of ``EX_BANDS``: the closed form, the counted fraction of the
        steps 1..NS_T-1 with s = 0, and with the chapter's s = 0.008).
    """
    import pandas as pd

    t = np.arange(NS_T + 1)
    rows = {}
    for band in EX_BANDS:
        counted = {}
        for s in (0.0, 0.008):
            ls = diffusion.log_snr(diffusion.cosine_alpha_bar(t, NS_T, s=s)[1:NS_T])
            counted[s] = float(np.mean(np.abs(ls) <= band))
        rows[band] = {"closed form (s = 0)": band_fraction_closed_form(band), "counted, s = 0": counted[0.0],
                      "counted, s = 0.008": counted[0.008]}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("band B")
    return {"table": table, "rows": rows}


def ema_variance_ratio(decay, contraction):
    r"""Stationary variance of the EMA (decay :math:`\mu`) of an AR(1) sequence :math:`w_{t+1} = \rho w_t + \xi_t`,
    over the variance of :math:`w`: :math:`\frac{(1-\mu)(1+\mu\rho)}{(1+\mu)(1-\mu\rho)}`.

    >>> round(ema_variance_ratio(0.99, 0.0), 6)    # independent iterates: (1 - mu) / (1 + mu)
    0.005025
    """
    mu, rho = float(decay), np.asarray(contraction, dtype=np.float64)
    out = (1 - mu) * (1 + mu * rho) / ((1 + mu) * (1 - mu * rho))
    return float(out) if out.ndim == 0 else out


def exercise_ema_variance() -> dict:
    r"""ex-generative-modeling-ema-variance: how much of SGD's fluctuation an EMA of the weights removes.

    SGD at a constant rate on a quadratic of curvature :math:`h` fluctuates as
    :math:`w_{t+1} = (1-\eta h) w_t - \eta\xi_t`; ``EX_EMA_CHAINS`` independent chains per value of
    :math:`\eta h` start at the stationary law, with the EMA (:func:`lrlab.diffusion.ema_update`,
    ``DIFF_EMA_DECAY``) started at the iterate, run ``EX_EMA_STEPS`` steps; the EMA's variance is
    averaged over the chains and the second half of the steps.

    Returns
    -------
    dict
        ``table`` and ``rows`` (per :math:`\eta h` of ``EX_EMA_CURVATURE_RATES``: the exact ratio,
        its approximation :math:`1/(1 + \eta h/(1-\mu))`, the simulated ratio), ``rel_se`` (the
        simulated ratios' relative standard error, from the spread over 10 groups of chains).
    """
    import pandas as pd

    mu = DIFF_EMA_DECAY
    rho = 1 - np.asarray(EX_EMA_CURVATURE_RATES, dtype=np.float64)[:, None]  # (rates, 1)
    var_w = 1 / (1 - rho**2)  # stationary variance with unit noise (the scale eta cancels in the ratio)
    rng = np.random.default_rng(EX_EMA_SEED)
    w = rng.normal(size=(len(EX_EMA_CURVATURE_RATES), EX_EMA_CHAINS)) * np.sqrt(var_w)
    ema = w.copy()
    acc = np.zeros_like(w)
    start = EX_EMA_STEPS // 2
    for step in range(EX_EMA_STEPS):
        w = rho * w + rng.normal(size=w.shape)
        ema = diffusion.ema_update(ema, w, mu)
        if step >= start:
            acc += ema**2
    per_chain = acc / (EX_EMA_STEPS - start) / var_w  # (rates, chains)
    groups = per_chain.reshape(len(EX_EMA_CURVATURE_RATES), 10, -1).mean(axis=2)
    sim = groups.mean(axis=1)
    rel_se = groups.std(axis=1, ddof=1) / np.sqrt(10) / sim
    rows = {}
    for k, eh in enumerate(EX_EMA_CURVATURE_RATES):
        rows[eh] = {"exact": ema_variance_ratio(mu, 1 - eh), "1 / (1 + eta h / (1 - mu))": 1 / (1 + eh / (1 - mu)),
                    "simulated": float(sim[k])}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("eta h")
    return {"table": table, "rows": rows, "rel_se": {eh: float(v) for eh, v in zip(EX_EMA_CURVATURE_RATES, rel_se)}}
