"""Chapter 7's parameters and experiments ("Generative modeling: games and noise schedules").

Imported by ``book/generative_modeling.md`` and by ``tests/test_generative_modeling_claims.py``,
so the numbers in the book and the checks of its claims cannot drift apart.

>>> DIRAC_LR > 0 and DIFF_EMA_DECAY < 1
True
"""

from __future__ import annotations

import numpy as np
import torch

from .. import diffusion, games, gan2d
from ..schedules import constant_schedule, cosine_schedule, inverse_sqrt_schedule

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
        ``penalty_radius`` (closed-form spectral radius) and ``penalty_factor_sim``,
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
    out["penalty_radius"] = games.spectral_radius(games.linear_map(DIRAC_LR, gamma=DIRAC_GAMMA))
    out["penalty_factor_pred"] = out["penalty_radius"] ** 2
    out["penalty_factor_sim"] = per_step_factor(E["simultaneous, gradient penalty"])
    out["softplus_factor_pred"] = games.energy_growth_factor(DIRAC_LR, f="softplus")
    out["softplus_factor_sim"] = per_step_factor(E["simultaneous, softplus"][:101])
    out["softplus_energy_ratio"] = float(np.mean(E["simultaneous, softplus"][-1] / E["simultaneous, softplus"][0]))
    return out


# ---------------------------------------------------------------------------
# Section 2: a 2-D GAN on a ring of Gaussians
# ---------------------------------------------------------------------------
GAN_CONFIGS = {"equal rates": (1e-3, 1e-3), "TTUR": (1e-3, 4e-3)}  # (generator, discriminator) Adam rates
GAN_STEPS = 1500
GAN_SEEDS = 8
GAN_SEED = 0
GAN_EVAL_EVERY = 250
GAN_EARLY_STEP = 500
GAN_KW = {"hidden": 64, "batch_size": 64, "noise_dim": 4, "n_eval": 1000, "std": 0.1, "radius": 2.0, "n_modes": 8}


def gan_experiment(device=None) -> dict:
    """Train ``GAN_SEEDS`` GANs per configuration of ``GAN_CONFIGS``: ``{name: GANResult}``."""
    torch.set_num_threads(1)
    return {name: gan2d.train_gan(lg, ld, steps=GAN_STEPS, n_seeds=GAN_SEEDS, seed=GAN_SEED, eval_every=GAN_EVAL_EVERY,
                                  device=device, **GAN_KW)
            for name, (lg, ld) in GAN_CONFIGS.items()}


def gan_table(results: dict):
    """Coverage and high-quality fraction (mean and standard deviation over seeds), early and at the end."""
    import pandas as pd

    rows = []
    for name, r in results.items():
        early = int(np.flatnonzero(r.eval_steps == GAN_EARLY_STEP)[0])
        lg, ld = GAN_CONFIGS[name]
        rows.append({"config": name, "lr_G": lg, "lr_D": ld,
                     "coverage_early": r.coverage_curve[early].mean(), "coverage_early_sd": r.coverage_curve[early].std(),
                     "coverage_end": r.coverage.mean(), "coverage_end_sd": r.coverage.std(),
                     "high_quality_end": r.high_quality.mean(), "high_quality_end_sd": r.high_quality.std()})
    return pd.DataFrame(rows).set_index("config")


# ---------------------------------------------------------------------------
# Section 3: noise schedules
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
# Section 4: a tiny diffusion model, warmup and EMA
# ---------------------------------------------------------------------------
DIFF_STEPS = 1500
DIFF_SEEDS = 6
DIFF_SEED = 0
DIFF_PEAK_LR = 3e-3
DIFF_WARMUP = 100
DIFF_EMA_DECAY = 0.99
DIFF_T = 100  # diffusion steps of the tiny model (cosine noise schedule)
DIFF_N_SAMPLES = 1000
DIFF_KW = {"hidden": 64, "batch_size": 128, "total_steps": DIFF_T, "noise_schedule": "cosine", "std": 0.1}


def diffusion_experiment(device=None) -> dict:
    """Train with warmup + cosine and with a constant rate; sample raw and EMA weights; energy distances.

    Returns
    -------
    dict
        ``{"warmup + cosine" | "constant": {"result": DDPMResult, "raw": (S,), "ema": (S,)}}``
        and ``"floor"``: the energy distance between two independent data samples of the
        same size (what a perfect model would score), per seed.
    """
    torch.set_num_threads(1)
    out = {}
    for i, (name, sched) in enumerate((("warmup + cosine", "warmup_cosine"), ("constant", "constant"))):
        res = diffusion.train_ddpm(steps=DIFF_STEPS, n_seeds=DIFF_SEEDS, seed=DIFF_SEED + i, peak_lr=DIFF_PEAK_LR,
                                   warmup_steps=DIFF_WARMUP, schedule=sched, ema_decay=DIFF_EMA_DECAY, device=device,
                                   **DIFF_KW)
        dev = torch.device(res.device)
        gen = torch.Generator(device=dev).manual_seed(1000 + i)
        data = gan2d.ring_mixture(DIFF_N_SAMPLES, std=DIFF_KW["std"], generator=gen, batch_shape=(DIFF_SEEDS,))
        row = {"result": res}
        for kind, params in (("raw", res.params), ("ema", res.ema_params)):
            x = diffusion.sample_ddpm(params, res.sizes, res.alpha_bar, DIFF_N_SAMPLES, gen)
            row[kind] = diffusion.energy_distance(x, data)
            row[kind + "_samples"] = x.cpu().numpy()
        out[name] = row
    gen = torch.Generator(device=dev).manual_seed(999)
    a = gan2d.ring_mixture(DIFF_N_SAMPLES, std=DIFF_KW["std"], generator=gen, batch_shape=(DIFF_SEEDS,))
    b = gan2d.ring_mixture(DIFF_N_SAMPLES, std=DIFF_KW["std"], generator=gen, batch_shape=(DIFF_SEEDS,))
    out["floor"] = diffusion.energy_distance(a, b)
    return out


def diffusion_table(results: dict):
    """Energy distance to the data (mean and standard deviation over seeds) for every schedule and weights."""
    import pandas as pd

    rows = []
    for name in ("warmup + cosine", "constant"):
        for kind in ("raw", "ema"):
            v = results[name][kind]
            rows.append({"rate schedule": name, "weights": "EMA" if kind == "ema" else "last iterate",
                         "energy distance": v.mean(), "sd over seeds": v.std()})
    return pd.DataFrame(rows)
