r"""Chapter 2's experiments: the parameters and routines that the book and its tests share.

The chapter *Coupled forces: batch size and weight decay*
(``book/coupled_forces.md``) and ``tests/test_coupled_forces_claims.py`` both import from
here, so the numbers the book shows and the numbers the tests check come from
the same parameters and the same code. The routines are thin layers over
:mod:`lrlab.batch_size`, :mod:`lrlab.weight_decay` and :mod:`lrlab.nqm`.

>>> nqm = chapter2_nqm()
>>> nqm.dim, nqm.h_max, nqm.batch_size
(20, 1.0, 8)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import numpy as np
import torch

from .._validate import check_int, check_positive, with_overrides
from ..batch_size import (
    BatchRamp,
    batches_of,
    expected_loss_with_batches,
    gradient_noise_scale,
    linear_regression_noise_scale,
    loss_at_samples,
    noise_matched_schedule,
    per_example_gradients,
    samples_seen,
)
from ..nqm import NoisyQuadratic
from ..schedules import Schedule, constant_schedule, cosine_schedule, multistep_schedule
from ..weight_decay import cumulative_shrink, train_softmax_regression

__all__ = [
    "NQM_PARAMS", "BASE_LR", "BASE_BATCH", "SCALING_STEPS", "SCALE_FACTORS", "N_CHECKPOINTS",
    "RAMP_FACTOR", "PHASE_SAMPLES", "N_PHASES", "RAMP_PEAKS", "RAMP_PEAK", "MC_SEEDS", "MC_SEED",
    "LINREG_DIM", "LINREG_NOISE", "LINREG_DISTANCES", "LINREG_EXAMPLES", "LINREG_SEEDS",
    "DIGITS_LR", "DIGITS_BATCH", "DIGITS_STEPS", "DIGITS_CHECKPOINTS",
    "WD_PEAK_LR", "WD_LAMBDA", "WD_STEPS", "ADAM_LR", "ADAM_LAMBDAS",
    "chapter2_nqm", "linear_scaling", "ramp_runs", "ramp_table", "ramp_monte_carlo", "linreg_noise_scale_table",
    "digits", "dead_pixels", "digits_noise_scale", "wd_schedules", "weight_norm_runs", "adam_vs_adamw", "adam_dead_weight_gap",
]

# ---------------------------------------------------------------------------
# Parameters (the book and the tests read them from here)
# ---------------------------------------------------------------------------

#: The chapter's noisy quadratic (the same as chapter 1's): h_i = 1/i, sigma_i^2 = h_i, B = 8.
NQM_PARAMS: Mapping[str, float] = MappingProxyType(
    {"dim": 20, "h_max": 1.0, "exponent": 1.0, "batch_size": 8, "theta0": 1.0}
)
#: Linear scaling: the base run (rate, batch, steps) ...
BASE_LR = 0.01
BASE_BATCH = 8
SCALING_STEPS = 40960
#: ... and the factors k of the runs (k * BASE_LR, k * BASE_BATCH), each for SCALING_STEPS / k steps.
SCALE_FACTORS = (1, 4, 16, 64, 128, 256)
#: Curves are compared at this many equally spaced sample counts.
N_CHECKPOINTS = 40
#: Batch ramp: the batch grows by this factor (the decay divides the rate by it) ...
RAMP_FACTOR = 4
#: ... after every PHASE_SAMPLES examples, for N_PHASES phases.
PHASE_SAMPLES = 8192
N_PHASES = 3
#: Peak rates of the ramp-versus-decay table, and the one drawn in the figure.
RAMP_PEAKS = (0.01, 0.05, 0.1, 0.4, 1.0)
RAMP_PEAK = 0.1
#: Monte Carlo check of the per-step-batch recursion on the batch-ramp run: seeds and seed.
MC_SEEDS = 2000
MC_SEED = 0
#: The least-squares check of the noise-scale estimator.
LINREG_DIM = 10
LINREG_NOISE = 0.5
LINREG_DISTANCES = (0.25, 1.0, 4.0)
LINREG_EXAMPLES = 20000
LINREG_SEEDS = 5
#: Softmax regression on the digits: SGD rate, batch, steps, and where the noise scale is measured.
DIGITS_LR = 0.5
DIGITS_BATCH = 32
DIGITS_STEPS = 400
DIGITS_CHECKPOINTS = (0, 10, 25, 50, 100, 200, 400)
#: Weight decay under SGD: peak rate, lambda, steps.
WD_PEAK_LR = 0.5
WD_LAMBDA = 5e-3
WD_STEPS = 400
#: Adam versus AdamW: the (constant) rate and two values of lambda.
ADAM_LR = 0.01
ADAM_LAMBDAS = (0.01, 0.1)


def percent(v) -> str:
    """A gap as a percentage for the chapter's tables, or the word 'diverged' for a run that blew up.

    >>> percent(0.0123), percent(float("inf"))
    ('1.23%', 'diverged')
    """
    return f"{v:.2%}" if np.isfinite(v) else "diverged"


def chapter2_nqm(**overrides) -> NoisyQuadratic:
    """The chapter's noisy quadratic; keyword arguments override :data:`NQM_PARAMS`.

    >>> chapter2_nqm(batch_size=32).batch_size
    32
    >>> chapter2_nqm(depth=2)
    Traceback (most recent call last):
    ...
    ValueError: unknown NQM parameter depth=2; expected one of ['batch_size', 'dim', 'exponent', 'h_max', 'theta0']
    """
    return NoisyQuadratic.power_law(**with_overrides("NQM parameter", NQM_PARAMS, overrides))


# ---------------------------------------------------------------------------
# Section 2: the linear scaling rule
# ---------------------------------------------------------------------------


def linear_scaling(nqm: NoisyQuadratic, factors=SCALE_FACTORS, base_lr: float = BASE_LR,
                   base_batch: int = BASE_BATCH, base_steps: int = SCALING_STEPS,
                   n_checkpoints: int = N_CHECKPOINTS):
    r"""Runs :math:`(k\eta, kB)` for :math:`T/k` steps: exact loss against examples seen, and a summary table.

    Every run sees the same number of examples, ``base_batch * base_steps``.

    Parameters
    ----------
    nqm : NoisyQuadratic
        Its curvatures and noise are used; its batch size is replaced.
    factors : sequence of int
        The factors :math:`k`; each must divide ``base_steps``, and the first is the reference.
    base_lr, base_batch, base_steps
        The reference run.
    n_checkpoints : int
        Equally spaced sample counts at which the curves are compared.

    Returns
    -------
    table : pandas.DataFrame
        One row per factor: ``k``, ``lr``, ``batch``, ``steps``, ``k_lr_hmax``
        (:math:`k\eta h_{\max}`), ``final_loss``, ``final_ratio`` (to the
        reference), ``predicted_ratio`` (ratio of noise floors, NaN past the
        stability limit), ``max_gap`` (largest :math:`|L_k/L_1 - 1|` over the checkpoints,
        ``inf`` for a run that diverged) and ``diverged`` (the final loss is above the initial one).
    curves : dict
        ``{k: (samples, loss)}``.

    >>> table, _ = linear_scaling(chapter2_nqm(), factors=(1, 2), base_steps=64, n_checkpoints=4)
    >>> table["steps"].tolist()
    [64, 32]
    """
    import pandas as pd

    base_lr = check_positive("base_lr", base_lr)
    base_batch = check_int("base_batch", base_batch, minimum=1)
    base_steps = check_int("base_steps", base_steps, minimum=1)
    n_checkpoints = check_int("n_checkpoints", n_checkpoints, minimum=1)
    total = base_steps * base_batch
    checkpoints = np.linspace(total / n_checkpoints, total, n_checkpoints)
    rows, curves, reference = [], {}, None
    ref_floor = nqm.noise_floor(base_lr)
    for k in factors:
        k = check_int("factor", k, minimum=1)
        if base_steps % k:
            raise ValueError(f"every factor must divide base_steps={base_steps}, got factor={k}")
        lr, batch, steps = k * base_lr, k * base_batch, base_steps // k
        loss = expected_loss_with_batches(nqm, constant_schedule(lr), batch, steps)
        samples = samples_seen(np.full(steps, batch))
        with np.errstate(over="ignore", invalid="ignore"):
            at = loss_at_samples(samples, np.where(np.isfinite(loss), loss, np.finfo(float).max), checkpoints)
        if reference is None:
            reference = at
        stable = lr < nqm.stability_limit
        scaled = NoisyQuadratic(nqm.h, nqm.sigma2, batch_size=batch, theta0=nqm.theta0)
        rows.append({
            "k": k, "lr": lr, "batch": batch, "steps": steps, "k_lr_hmax": lr * nqm.h_max,
            "final_loss": float(loss[-1]), "final_ratio": float(loss[-1] / reference[-1]),
            "predicted_ratio": scaled.noise_floor(lr) / ref_floor if stable else np.nan,
            "max_gap": float(np.max(np.abs(at / reference - 1))) if loss[-1] < loss[0] else np.inf,
            "diverged": bool(not loss[-1] < loss[0]),
        })
        curves[k] = (samples, loss)
    return pd.DataFrame(rows), curves


# ---------------------------------------------------------------------------
# Section 3: batch ramps
# ---------------------------------------------------------------------------


def ramp_runs(peak_lr: float = RAMP_PEAK, base_batch: int = BASE_BATCH, factor: int = RAMP_FACTOR,
              phase_samples: int = PHASE_SAMPLES, n_phases: int = N_PHASES) -> dict:
    r"""Four runs that see the same examples, in ``n_phases`` phases of ``phase_samples`` each.

    * ``"decay"``: batch :math:`B_0`, rate divided by ``factor`` at each phase;
    * ``"batch ramp"``: rate :math:`\eta_0`, batch multiplied by ``factor`` at each phase
      (the same noise scale :math:`\eta/B` per phase as the decay);
    * ``"constant"``: :math:`(\eta_0, B_0)` throughout;
    * ``"noise-matched ramp"``: the batch ramp with the rate grown along, :math:`\eta = (\eta_0/B_0)\,B(t)`
      (the same noise scale as the constant run).

    Returns
    -------
    dict
        ``{name: (rate schedule, batch per step (array), total steps)}``.

    >>> runs = ramp_runs(phase_samples=64, n_phases=2)
    >>> {name: steps for name, (_, _, steps) in runs.items()}
    {'decay': 16, 'batch ramp': 10, 'constant': 16, 'noise-matched ramp': 10}
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    base_batch = check_int("base_batch", base_batch, minimum=1)
    factor = check_int("factor", factor, minimum=2)
    n_phases = check_int("n_phases", n_phases, minimum=1)
    phase_samples = check_int("phase_samples", phase_samples, minimum=1)
    if phase_samples % (base_batch * factor ** (n_phases - 1)):
        raise ValueError(f"phase_samples={phase_samples} must be a multiple of the largest batch "
                         f"{base_batch * factor ** (n_phases - 1)}")
    steps0 = phase_samples // base_batch
    decay_steps = steps0 * n_phases
    phase_steps = [phase_samples // (base_batch * factor**j) for j in range(n_phases)]
    ramp = BatchRamp(base_batch, list(np.cumsum(phase_steps)[:-1]), factor)
    ramp_steps = int(sum(phase_steps))
    decay = multistep_schedule(peak_lr, [steps0 * j for j in range(1, n_phases)], gamma=1.0 / factor)
    return {
        "decay": (decay, batches_of(base_batch, decay_steps), decay_steps),
        "batch ramp": (constant_schedule(peak_lr), batches_of(ramp, ramp_steps), ramp_steps),
        "constant": (constant_schedule(peak_lr), batches_of(base_batch, decay_steps), decay_steps),
        "noise-matched ramp": (noise_matched_schedule(ramp, peak_lr / base_batch), batches_of(ramp, ramp_steps),
                               ramp_steps),
    }


def _ramp_curves(nqm, runs):
    out = {}
    for name, (schedule, batches, steps) in runs.items():
        with np.errstate(over="ignore", invalid="ignore"):
            loss = expected_loss_with_batches(nqm, schedule, batches, steps)
        out[name] = (samples_seen(batches), loss)
    return out


def ramp_table(nqm: NoisyQuadratic, peaks=RAMP_PEAKS, n_checkpoints: int = N_CHECKPOINTS, **kwargs):
    r"""For each peak rate: updates used and the largest gaps, ramp vs decay and noise-matched ramp vs constant.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``peak_lr``, ``decay_steps``, ``ramp_steps``, ``decay_final``,
        ``ramp_final``, ``ramp_gap`` (largest :math:`|L_{\rm ramp}/L_{\rm decay}-1|`
        at equal examples), ``matched_max_lr_h`` (:math:`\eta_{\max} h_{\max}` of the noise-matched
        ramp) and ``matched_gap`` (largest :math:`|L/L_{\rm const}-1|`, inf if it diverged,
        i.e. ended above its initial loss).
    curves : dict
        ``{peak_lr: {name: (samples, loss)}}``.

    >>> table, _ = ramp_table(chapter2_nqm(), peaks=(0.1,), phase_samples=512, n_phases=2)
    >>> table[["decay_steps", "ramp_steps"]].values.tolist()
    [[128, 80]]
    """
    import pandas as pd

    rows, curves = [], {}
    for peak in peaks:
        runs = ramp_runs(peak, **kwargs)
        c = _ramp_curves(nqm, runs)
        total = c["decay"][0][-1]
        at = np.linspace(total / n_checkpoints, total, n_checkpoints)

        def read(name):
            samples, loss = c[name]
            if not np.all(np.isfinite(loss)):
                return np.full(at.shape, np.inf)
            return loss_at_samples(samples, loss, at)

        dec, ramp, const, matched = (read(n) for n in ("decay", "batch ramp", "constant", "noise-matched ramp"))
        rows.append({
            "peak_lr": peak, "decay_steps": runs["decay"][2], "ramp_steps": runs["batch ramp"][2],
            "decay_final": float(dec[-1]), "ramp_final": float(ramp[-1]),
            "ramp_gap": float(np.max(np.abs(ramp / dec - 1))),
            "matched_max_lr_h": float(np.max(runs["noise-matched ramp"][0](np.arange(runs["batch ramp"][2])))) * nqm.h_max,
            "matched_gap": float(np.max(np.abs(matched / const - 1))) if matched[-1] < c["noise-matched ramp"][1][0]
            else np.inf,
        })
        curves[peak] = c
    return pd.DataFrame(rows), curves


def ramp_monte_carlo(nqm: NoisyQuadratic, peak_lr: float = RAMP_PEAK, n_seeds: int = MC_SEEDS,
                     seed: int = MC_SEED, device=None):
    """The batch-ramp run simulated by Monte Carlo (:func:`lrlab.batch_size.simulate_with_batches`) and computed exactly.

    Returns
    -------
    mc : MonteCarloResult
    exact : numpy.ndarray
    z : float
        Largest :math:`|\\bar L_t - \\mathbb E[L_t]|/\\mathrm{se}_t` over the steps (see
        :func:`lrlab.stats.max_abs_z`).

    >>> _, _, z = ramp_monte_carlo(chapter2_nqm(), n_seeds=200, device="cpu")
    >>> bool(z < 5)
    True
    """
    from ..batch_size import simulate_with_batches
    from ..stats import max_abs_z

    schedule, batches, steps = ramp_runs(peak_lr)["batch ramp"]
    exact = expected_loss_with_batches(nqm, schedule, batches, steps)
    mc = simulate_with_batches(nqm, schedule, batches, steps, n_seeds=n_seeds, seed=seed, device=device)
    return mc, exact, max_abs_z(mc, exact)


def wrong_recursion_z(nqm: NoisyQuadratic, mc, peak_lr: float = RAMP_PEAK, noise_factor: float = 1.05) -> float:
    """Largest |z| of the same Monte Carlo against a recursion whose noise variances are ``noise_factor`` too large.

    The power of the check in :func:`ramp_monte_carlo`: a recursion 5 % off must fail it.

    >>> nqm = chapter2_nqm()
    >>> mc, _, _ = ramp_monte_carlo(nqm, n_seeds=200, device="cpu")
    >>> bool(wrong_recursion_z(nqm, mc, noise_factor=2.0) > 5)
    True
    """
    from ..batch_size import expected_loss_with_batches
    from ..stats import max_abs_z

    schedule, batches, steps = ramp_runs(peak_lr)["batch ramp"]
    return max_abs_z(mc, expected_loss_with_batches(nqm.with_noise_scaled(noise_factor), schedule, batches, steps))


# ---------------------------------------------------------------------------
# Section 4: the gradient noise scale
# ---------------------------------------------------------------------------


def _half_mse(output, target):
    return 0.5 * ((output - target) ** 2).mean()


def linreg_noise_scale_table(dim: int = LINREG_DIM, noise_std: float = LINREG_NOISE, distances=LINREG_DISTANCES,
                             n: int = LINREG_EXAMPLES, seeds: int = LINREG_SEEDS):
    r"""Estimated :math:`B_{\rm noise}` of least squares (per-example gradients by ``torch.func``) against the exact value.

    For each distance :math:`|\delta|` and each seed: draw ``n`` Gaussian inputs,
    a teacher :math:`w_\ast`, labels with noise ``noise_std``, put the model at
    :math:`w_\ast + \delta` with a random direction of :math:`\delta`, and estimate.

    Returns
    -------
    pandas.DataFrame
        ``distance``, ``exact``, ``estimate`` (mean over seeds), ``spread``
        (standard deviation over seeds), ``ci95`` (half-width of the 95 % t confidence
        interval of the mean, :func:`lrlab.stats.mean_ci`), ``rel_error``.

    >>> t = linreg_noise_scale_table(dim=2, distances=(1.0,), n=4000, seeds=2)
    >>> bool(t["rel_error"].iloc[0] < 0.1)
    True
    """
    import pandas as pd

    from ..stats import mean_ci

    n = check_int("n", n, minimum=2)
    seeds = check_int("seeds", seeds, minimum=1)
    rows = []
    for distance in distances:
        estimates = []
        for seed in range(seeds):
            gen = torch.Generator().manual_seed(seed)
            x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
            w_star = torch.randn(dim, 1, generator=gen, dtype=torch.float64)
            y = x @ w_star + noise_std * torch.randn(n, 1, generator=gen, dtype=torch.float64)
            delta = torch.randn(dim, 1, generator=gen, dtype=torch.float64)
            delta *= distance / delta.norm()
            model = torch.nn.Linear(dim, 1, bias=False).double()
            with torch.no_grad():
                model.weight.copy_((w_star + delta).T)
            estimates.append(gradient_noise_scale(per_example_gradients(model, _half_mse, x, y)))
        exact = linear_regression_noise_scale(dim, distance, noise_std)
        mean = float(np.mean(estimates))
        rows.append({"distance": distance, "exact": exact, "estimate": mean,
                     "spread": float(np.std(estimates, ddof=1)) if seeds > 1 else np.nan,
                     "ci95": mean_ci(estimates).half_width if seeds > 1 else np.nan,
                     "rel_error": abs(mean / exact - 1)})
    return pd.DataFrame(rows)


def digits():
    """scikit-learn's bundled 8x8 digits (no download): pixels scaled to [0, 1] (float64) and labels.

    >>> x, y = digits()
    >>> x.shape, float(x.max()), int(y.max())
    ((1797, 64), 1.0, 9)
    """
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x / 16.0, y


def dead_pixels(inputs) -> np.ndarray:
    """Indices of the input features that are zero in every example (the loss never touches their weights).

    >>> dead_pixels(digits()[0]).tolist()
    [0, 32, 39]
    """
    return np.flatnonzero(np.all(np.asarray(inputs) == 0, axis=0))


def digits_noise_scale(steps: int = DIGITS_STEPS, checkpoints=DIGITS_CHECKPOINTS, lr: float = DIGITS_LR,
                       batch_size: int = DIGITS_BATCH):
    r"""Train softmax regression on the digits with plain SGD; measure :math:`B_{\rm noise}` over the full set at checkpoints.

    Returns
    -------
    table : pandas.DataFrame
        ``step``, ``loss`` (full-data cross-entropy), ``noise_scale``.
    run : DecayRun

    >>> table, _ = digits_noise_scale(steps=10, checkpoints=(0, 10))
    >>> table["step"].tolist()
    [0, 10]
    """
    import pandas as pd

    x, y = digits()
    run = train_softmax_regression(x, y, constant_schedule(lr), steps, batch_size=batch_size, device="cpu")
    model = torch.nn.Linear(x.shape[1], int(y.max()) + 1, bias=False).double()
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    rows = []
    for step in checkpoints:
        step = check_int("checkpoint", step, minimum=0)
        if step > steps:
            raise ValueError(f"checkpoint={step} is past the end of the run (steps={steps})")
        with torch.no_grad():
            model.weight.copy_(torch.as_tensor(run.weights[step].T))
        grads = per_example_gradients(model, torch.nn.functional.cross_entropy, xt, yt)
        rows.append({"step": step, "loss": float(run.losses[step]), "noise_scale": gradient_noise_scale(grads)})
    return pd.DataFrame(rows), run


# ---------------------------------------------------------------------------
# Sections 5 and 6: weight decay
# ---------------------------------------------------------------------------


def wd_schedules(peak_lr: float = WD_PEAK_LR, total_steps: int = WD_STEPS) -> dict[str, Schedule]:
    """Constant, cosine to zero, and a two-step decay (x0.1 at T/2 and 3T/4), with the same peak.

    >>> sorted(wd_schedules(1.0, 8))
    ['constant', 'cosine', 'multi-step']
    """
    return {
        "constant": constant_schedule(peak_lr),
        "cosine": cosine_schedule(peak_lr, total_steps),
        "multi-step": multistep_schedule(peak_lr, [total_steps // 2, 3 * total_steps // 4], gamma=0.1),
    }


def weight_norm_runs(weight_decay: float = WD_LAMBDA, total_steps: int = WD_STEPS, peak_lr: float = WD_PEAK_LR):
    r"""SGD with L2-in-loss and with decoupled decay under each schedule of :func:`wd_schedules`, on the digits.

    Returns
    -------
    table : pandas.DataFrame
        One row per schedule: ``sum_decay`` (:math:`\sum_t\eta_t\lambda`),
        ``shrink`` (:math:`\prod_t(1-\eta_t\lambda)`), ``dead_error`` (largest
        :math:`|w_t - w_0\prod_{s<t}(1-\eta_s\lambda)|` over the dead-pixel weights and all steps),
        ``l2_vs_decoupled`` (largest weight difference of the two SGD variants),
        ``final_norm``, ``final_loss``.
    runs : dict
        ``{schedule: DecayRun}`` (the L2 runs).
    shrinks : dict
        ``{schedule: cumulative shrink, length T + 1}``.

    >>> table, _, _ = weight_norm_runs(total_steps=20)
    >>> bool(table["dead_error"].max() < 1e-12)
    True
    """
    import pandas as pd

    x, y = digits()
    dead = dead_pixels(x)
    rows, runs, shrinks = [], {}, {}
    for name, schedule in wd_schedules(peak_lr, total_steps).items():
        l2 = train_softmax_regression(x, y, schedule, total_steps, optimizer="sgd", decay="l2",
                                      weight_decay=weight_decay, device="cpu")
        dec = train_softmax_regression(x, y, schedule, total_steps, optimizer="sgd", decay="decoupled",
                                       weight_decay=weight_decay, device="cpu")
        shrink = cumulative_shrink(schedule, weight_decay, total_steps)
        predicted = l2.weights[0, dead][None] * shrink[:, None, None]
        rows.append({
            "schedule": name, "sum_decay": float(weight_decay * l2.rates.sum()), "shrink": float(shrink[-1]),
            "dead_error": float(np.max(np.abs(l2.weights[:, dead] - predicted))),
            "l2_vs_decoupled": float(np.max(np.abs(l2.weights - dec.weights))),
            "final_norm": float(l2.norms[-1]), "final_loss": float(l2.losses[-1]),
        })
        runs[name], shrinks[name] = l2, shrink
    return pd.DataFrame(rows), runs, shrinks


def adam_vs_adamw(lambdas=ADAM_LAMBDAS, lr: float = ADAM_LR, total_steps: int = WD_STEPS):
    r"""Adam with L2-in-loss against AdamW, for each :math:`\lambda`, on the digits (constant rate).

    Returns
    -------
    table : pandas.DataFrame
        One row per :math:`\lambda`: ``adam_vs_adamw`` (largest weight difference),
        ``adamw_dead_error`` (AdamW's dead-pixel weights against :math:`w_0(1-\eta\lambda)^t`),
        ``adam_first_step`` (largest :math:`\big||w_1-w_0| - \eta\big|` over the dead-pixel
        weights under Adam + L2), ``adam_dead_end`` and ``adamw_dead_end`` (mean
        :math:`|w_T|/|w_0|` of the dead-pixel weights), ``adam_loss``, ``adamw_loss``.
    runs : dict
        ``{(lambda, "adam" or "adamw"): DecayRun}``.

    >>> table, _ = adam_vs_adamw(total_steps=5)
    >>> bool(table["adamw_dead_error"].max() < 1e-12)
    True
    """
    import pandas as pd

    x, y = digits()
    dead = dead_pixels(x)
    schedule = constant_schedule(lr)
    rows, runs = [], {}
    for lam in lambdas:
        adam = train_softmax_regression(x, y, schedule, total_steps, optimizer="adam", decay="l2",
                                        weight_decay=lam, device="cpu")
        adamw = train_softmax_regression(x, y, schedule, total_steps, optimizer="adam", decay="decoupled",
                                         weight_decay=lam, device="cpu")
        shrink = cumulative_shrink(schedule, lam, total_steps)
        w0 = adam.weights[0, dead]
        rows.append({
            "weight_decay": lam,
            "adam_vs_adamw": float(np.max(np.abs(adam.weights - adamw.weights))),
            "adamw_dead_error": float(np.max(np.abs(adamw.weights[:, dead] - w0[None] * shrink[:, None, None]))),
            "adam_first_step": float(np.max(np.abs(np.abs(adam.weights[1, dead] - w0) - lr))),
            "adam_dead_end": float(np.mean(np.abs(adam.weights[-1, dead]) / np.abs(w0))),
            "adamw_dead_end": float(np.mean(np.abs(adamw.weights[-1, dead]) / np.abs(w0))),
            "adam_loss": float(adam.losses[-1]), "adamw_loss": float(adamw.losses[-1]),
        })
        runs[(lam, "adam")], runs[(lam, "adamw")] = adam, adamw
    return pd.DataFrame(rows), runs


def adam_dead_weight_gap(runs) -> float:
    r"""Largest difference between the dead-pixel weight trajectories of Adam + L2 at the first two :math:`\lambda`.

    Adam divides the L2 gradient :math:`\lambda w` by its own running RMS, so
    :math:`\lambda` cancels (up to Adam's :math:`\epsilon`) for weights that only the
    decay moves: the trajectories coincide.

    Parameters
    ----------
    runs : dict
        From :func:`adam_vs_adamw`.

    >>> _, runs = adam_vs_adamw(total_steps=5)
    >>> adam_dead_weight_gap(runs) < 1e-4
    True
    """
    lams = sorted({lam for lam, _ in runs})
    if len(lams) < 2:
        raise ValueError(f"need runs at two values of lambda, got lambdas={lams}")
    dead = dead_pixels(digits()[0])
    a, b = runs[(lams[0], "adam")].weights[:, dead], runs[(lams[1], "adam")].weights[:, dead]
    return float(np.max(np.abs(a - b)))


# ---------------------------------------------------------------------------
# Exercises (the end of the chapter): one routine per exercise's solution
# ---------------------------------------------------------------------------

#: ex-coupled-forces-floor-doubling: the floor ratios (scaled run over reference) whose k is sought ...
EX_FLOOR_RATIOS = (1.1, 2.0)
#: ... and the steps the scaled run is given to settle on its floor.
EX_SETTLE_STEPS = 2000
#: ex-coupled-forces-critical-batch: noiseless steps taken from the start at this rate, and the batches tried.
EX_GD_LR = 0.5
EX_GD_STEPS = 20
EX_BATCHES = (1, 8, 64, 1024)
#: ex-coupled-forces-naive-estimator: distance to the optimum, examples per estimate, estimates, seed.
EX_NAIVE_DISTANCE = 0.25
EX_NAIVE_EXAMPLES = 64
EX_NAIVE_SEEDS = 1000
EX_NAIVE_SEED = 0
#: ex-coupled-forces-rate-free-decay: curvature, target and lambda of the one-weight problem.
EX_DECAY_H = 1.0
EX_DECAY_TARGET = 1.0
EX_DECAY_LAMBDA = 0.05
#: ex-coupled-forces-normalized: (rate, lambda) pairs, dimension, steps, steps discarded, walkers, seed.
EX_SPHERE_SETTINGS = ((0.1, 0.01), (0.1, 0.04), (0.4, 0.01))
EX_SPHERE_DIM = 100
EX_SPHERE_STEPS = 3000
EX_SPHERE_BURN_IN = 1500
EX_SPHERE_WALKERS = 8
EX_SPHERE_SEED = 0

__all__ += [
    "EX_FLOOR_RATIOS", "EX_SETTLE_STEPS", "EX_GD_LR", "EX_GD_STEPS", "EX_BATCHES", "EX_NAIVE_DISTANCE",
    "EX_NAIVE_EXAMPLES", "EX_NAIVE_SEEDS", "EX_NAIVE_SEED", "EX_DECAY_H", "EX_DECAY_TARGET", "EX_DECAY_LAMBDA",
    "EX_SPHERE_SETTINGS", "EX_SPHERE_DIM", "EX_SPHERE_STEPS", "EX_SPHERE_BURN_IN", "EX_SPHERE_WALKERS",
    "EX_SPHERE_SEED", "floor_ratio", "exercise_floor_doubling", "exercise_critical_batch",
    "exercise_naive_noise_scale", "exercise_rate_free_decay", "exercise_normalized_weights",
]


def floor_ratio(nqm: NoisyQuadratic, k, base_lr: float = BASE_LR):
    r"""The ratio of noise floors of :math:`(k\eta, kB)` and :math:`(\eta, B)`: :math:`\sum_i\frac{\sigma_i^2}{2-k\eta h_i} \big/ \sum_i\frac{\sigma_i^2}{2-\eta h_i}`.

    Parameters
    ----------
    nqm : NoisyQuadratic
    k : float or array_like
        Scale factors with :math:`k\eta h_{\max} < 2`.
    base_lr : float
        :math:`\eta`.

    >>> float(floor_ratio(NoisyQuadratic(h=[1.0], sigma2=[1.0]), 1.0, base_lr=0.5))
    1.0
    >>> round(float(floor_ratio(NoisyQuadratic(h=[1.0], sigma2=[1.0]), 3.0, base_lr=0.5)), 6)   # 1.5 / 0.5
    3.0
    """
    k = np.asarray(k, dtype=np.float64)[..., None]
    with np.errstate(divide="ignore"):
        return (nqm.sigma2 / (2 - k * base_lr * nqm.h)).sum(-1) / (nqm.sigma2 / (2 - base_lr * nqm.h)).sum()


def exercise_floor_doubling(nqm: NoisyQuadratic, targets=EX_FLOOR_RATIOS, base_lr: float = BASE_LR,
                            settle_steps: int = EX_SETTLE_STEPS):
    r"""The scale factor :math:`k` at which :math:`(k\eta, kB)` settles ``target`` times higher than :math:`(\eta, B)`.

    For each target the table solves :func:`floor_ratio` ``= target`` for
    :math:`k` (root finding), gives the same :math:`k` for the steepest coordinate
    alone, :math:`k_1 = \big(2 - (2-\eta h_{\max})/\text{target}\big)/(\eta h_{\max})`,
    and runs the exact recursion of the scaled run at the nearest integer
    :math:`k` for ``settle_steps`` steps: its final loss over the reference floor
    must be the formula's ratio at that integer.

    Parameters
    ----------
    nqm : NoisyQuadratic
        The reference: its batch size is :math:`B`.
    targets : sequence of float
        Floor ratios, each > 1.
    base_lr : float
        :math:`\eta`.
    settle_steps : int
        Steps of the scaled run.

    Returns
    -------
    pandas.DataFrame
        One row per target: ``target``, ``k``, ``k_lr_hmax``, ``k_single``,
        ``k_int``, ``formula_ratio`` (at ``k_int``), ``recursion_ratio`` and
        ``start_left`` (:math:`\max_i(1 - k\eta h_i)^{2N}` of the scaled run: what is left of its start).

    >>> table = exercise_floor_doubling(chapter2_nqm(), targets=(2.0,))
    >>> int(table.k_int.iloc[0]), round(float(table.k_single.iloc[0]), 1)
    (150, 100.5)
    """
    import pandas as pd
    from scipy.optimize import brentq

    base_lr = check_positive("base_lr", base_lr)
    settle_steps = check_int("settle_steps", settle_steps, minimum=1)
    eh = base_lr * nqm.h_max
    k_max = 2 / eh
    reference = nqm.noise_floor(base_lr)
    rows = []
    for target in targets:
        target = check_positive("target", target)
        if target <= 1:
            raise ValueError(f"target must be > 1 (a floor higher than the reference), got target={target!r}")
        k = brentq(lambda x: float(floor_ratio(nqm, x, base_lr)) - target, 1.0, k_max * (1 - 1e-12), xtol=1e-12)
        k_int = max(1, int(round(k)))
        scaled = NoisyQuadratic(nqm.h, nqm.sigma2, batch_size=k_int * nqm.batch_size, theta0=nqm.theta0)
        final = float(scaled.expected_loss(constant_schedule(k_int * base_lr), settle_steps)[-1])
        rows.append({
            "target": target, "k": k, "k_lr_hmax": k * eh, "k_single": (2 - (2 - eh) / target) / eh, "k_int": k_int,
            "formula_ratio": float(floor_ratio(nqm, k_int, base_lr)), "recursion_ratio": final / reference,
            "start_left": float(np.max((1 - k_int * base_lr * nqm.h) ** (2 * settle_steps))),
        })
    return pd.DataFrame(rows)


def exercise_critical_batch(nqm: NoisyQuadratic, lr: float = EX_GD_LR, steps: int = EX_GD_STEPS,
                            batches=EX_BATCHES):
    r"""McCandlish's critical batch :math:`\mathcal B` and the simple noise scale of the NQM, and one SGD step checked exactly.

    At a point :math:`\theta` (deterministic) the gradient is :math:`G = h\theta`,
    the per-example covariance :math:`\Sigma = \operatorname{diag}(\sigma_i^2)` and the
    Hessian :math:`H = \operatorname{diag}(h_i)`, so
    :math:`\mathcal B = \sum_i h_i\sigma_i^2 / \sum_i h_i^3\theta_i^2` and
    :math:`B_{\rm noise} = \sum_i \sigma_i^2 / \sum_i h_i^2\theta_i^2`. On a quadratic
    the second-order expansion of the chapter is exact, so the step
    :math:`\epsilon_{\rm opt}(B) = \epsilon_{\max}/(1 + \mathcal B/B)` must lower
    the expected loss by exactly :math:`\Delta L_{\max}/(1 + \mathcal B/B)`; the
    table checks that with one step of the exact moment recursion started at :math:`\theta`.

    Parameters
    ----------
    nqm : NoisyQuadratic
    lr, steps : float, int
        The second point is :math:`\theta_0` after ``steps`` noiseless gradient-descent steps at rate ``lr``.
    batches : sequence of int
        Batch sizes of the one-step check.

    Returns
    -------
    pandas.DataFrame
        One row per point and batch size: ``point``, ``loss``, ``b_crit``,
        ``b_noise``, ``batch_size``, ``eps_opt``, ``gain`` (exact expected decrease
        of the loss, from the recursion) and ``gain_formula``.

    >>> table = exercise_critical_batch(chapter2_nqm(), batches=(8,))
    >>> table.b_crit.round(2).tolist()
    [1.33, 945.49]
    >>> bool(np.allclose(table.gain, table.gain_formula, rtol=1e-12))
    True
    """
    import pandas as pd

    from ..batch_size import nqm_noise_scale

    lr = check_positive("lr", lr)
    steps = check_int("steps", steps, minimum=0)
    h, s2 = nqm.h, nqm.sigma2
    points = {"start": nqm.theta0, f"after {steps} steps": nqm.theta0 * (1 - lr * h) ** steps}
    rows = []
    for name, theta in points.items():
        g = h * theta
        ghg = float(np.sum(h * g * g))
        b_crit = float(np.sum(h * s2)) / ghg
        eps_max = float(g @ g) / ghg
        gain_max = 0.5 * float(g @ g) ** 2 / ghg
        for b in batches:
            b = check_int("batch_size", b, minimum=1)
            eps = eps_max / (1 + b_crit / b)
            here = NoisyQuadratic(h, s2, batch_size=b, theta0=theta)
            rows.append({"point": name, "loss": float(nqm.loss(theta)), "b_crit": b_crit,
                         "b_noise": nqm_noise_scale(nqm, theta), "batch_size": b, "eps_opt": eps,
                         "gain": float(nqm.loss(theta) - here.expected_loss(np.array([eps]))[-1]),
                         "gain_formula": gain_max / (1 + b_crit / b)})
    return pd.DataFrame(rows)


def exercise_naive_noise_scale(dim: int = LINREG_DIM, noise_std: float = LINREG_NOISE,
                               distance: float = EX_NAIVE_DISTANCE, n: int = EX_NAIVE_EXAMPLES,
                               seeds: int = EX_NAIVE_SEEDS, seed: int = EX_NAIVE_SEED):
    r"""The naive noise-scale estimate :math:`\operatorname{tr}\hat\Sigma/|\bar g|^2` from ``n`` examples, against :math:`B/(1+B/n)`.

    The least-squares problem of section 4 (:func:`linreg_noise_scale_table`) at
    distance :math:`|\delta|` from the optimum; ``seeds`` independent sets of
    ``n`` examples, per-example gradients by :func:`lrlab.batch_size.per_example_gradients`
    (all sets in one call). Since :math:`\mathbb E|\bar g|^2 = |G|^2 + \operatorname{tr}\Sigma/n`,
    the ratio of the averages of :math:`\operatorname{tr}\hat\Sigma` and :math:`|\bar g|^2`
    estimates :math:`B_{\rm noise}/(1 + B_{\rm noise}/n)`, not :math:`B_{\rm noise}`.

    Returns
    -------
    pandas.DataFrame
        One row: ``n``, ``exact`` (:math:`B_{\rm noise}`), ``naive_predicted``,
        ``naive`` and ``corrected`` (ratios of the averages over the sets),
        ``g2_mean``, ``g2_predicted`` (:math:`|G|^2 + \operatorname{tr}\Sigma/n`),
        ``g2_z`` (z-score of ``g2_mean`` against it), ``g2_true`` (:math:`|G|^2`),
        ``g2_z_true`` (against :math:`|G|^2`), ``trace_mean``, ``trace_exact``,
        ``trace_z`` and ``n_for_5pct`` (the smallest :math:`n` with a naive bias below 5 %).

    >>> row = exercise_naive_noise_scale(seeds=50).iloc[0]
    >>> float(row.exact), round(float(row.naive_predicted), 2), int(row.n_for_5pct)
    (51.0, 28.38, 969)
    """
    import pandas as pd

    n = check_int("n", n, minimum=2)
    seeds = check_int("seeds", seeds, minimum=2)
    gen = torch.Generator().manual_seed(int(seed))
    w_star = torch.randn(dim, 1, generator=gen, dtype=torch.float64)
    delta = torch.randn(dim, 1, generator=gen, dtype=torch.float64)
    delta *= check_positive("distance", distance) / delta.norm()
    model = torch.nn.Linear(dim, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_((w_star + delta).T)
    x = torch.randn(seeds * n, dim, generator=gen, dtype=torch.float64)
    y = x @ w_star + noise_std * torch.randn(seeds * n, 1, generator=gen, dtype=torch.float64)
    grads = per_example_gradients(model, _half_mse, x, y).numpy().reshape(seeds, n, -1)
    mean = grads.mean(axis=1)
    g2 = (mean**2).sum(axis=1)
    trace = ((grads - mean[:, None]) ** 2).sum(axis=(1, 2)) / (n - 1)
    exact = linear_regression_noise_scale(dim, distance, noise_std)
    g2_true = distance**2
    trace_exact = exact * g2_true
    g2_pred = g2_true + trace_exact / n
    se_g2 = g2.std(ddof=1) / np.sqrt(seeds)
    return pd.DataFrame([{
        "n": n, "exact": exact, "naive_predicted": exact / (1 + exact / n),
        "naive": float(trace.mean() / g2.mean()), "corrected": float(trace.mean() / (g2.mean() - trace.mean() / n)),
        "g2_mean": float(g2.mean()), "g2_predicted": g2_pred, "g2_z": float((g2.mean() - g2_pred) / se_g2),
        "g2_true": g2_true, "g2_z_true": float((g2.mean() - g2_true) / se_g2),
        "trace_mean": float(trace.mean()), "trace_exact": trace_exact,
        "trace_z": float((trace.mean() - trace_exact) / (trace.std(ddof=1) / np.sqrt(seeds))),
        "n_for_5pct": int(np.ceil(19 * exact)),
    }])


def exercise_rate_free_decay(schedules=None, h: float = EX_DECAY_H, target: float = EX_DECAY_TARGET,
                             weight_decay: float = EX_DECAY_LAMBDA, peak_lr: float = WD_PEAK_LR,
                             total_steps: int = WD_STEPS):
    r"""One weight, loss :math:`\tfrac h2(w - w_\ast)^2`, SGD from :math:`w = 0` with decay that follows the rate or not.

    * coupled (L2, or PyTorch's ``AdamW``-style decoupled decay):
      :math:`w \leftarrow (1-\eta_t\lambda)w - \eta_t h(w - w_\ast)`, equilibrium
      :math:`h w_\ast/(h + \lambda)` whatever the rate;
    * rate-free: :math:`w \leftarrow (1-\lambda')w - \eta_t h(w - w_\ast)` with
      :math:`\lambda' = \eta_0\lambda` fixed (equal to the coupled decay at the peak),
      equilibrium :math:`\eta h w_\ast/(\eta h + \lambda')` for a constant :math:`\eta`.

    Parameters
    ----------
    schedules : mapping, optional
        ``{name: Schedule}`` (default: constant and cosine to zero at ``peak_lr``).
    h, target, weight_decay, peak_lr, total_steps
        :math:`h`, :math:`w_\ast`, :math:`\lambda`, :math:`\eta_0`, :math:`T`.

    Returns
    -------
    pandas.DataFrame
        One row per schedule and decay: ``schedule``, ``decay``, ``final_weight``,
        ``largest_weight`` and ``equilibrium`` (NaN where the rate is not constant).

    >>> table = exercise_rate_free_decay()
    >>> table.final_weight.round(3).tolist()
    [0.952, 0.952, 0.952, 0.23]
    """
    import pandas as pd

    h, lam, peak_lr = check_positive("h", h), check_positive("weight_decay", weight_decay), check_positive("peak_lr", peak_lr)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    if schedules is None:
        schedules = {"constant": constant_schedule(peak_lr), "cosine": cosine_schedule(peak_lr, total_steps)}
    rows = []
    for name, schedule in schedules.items():
        rates = np.asarray(schedule(np.arange(total_steps)), dtype=np.float64)
        constant = bool(np.all(rates == rates[0]))
        for decay in ("coupled", "rate-free"):
            w, largest = 0.0, 0.0
            for eta in rates:
                shrink = eta * lam if decay == "coupled" else peak_lr * lam
                w = (1 - shrink) * w - eta * h * (w - target)
                largest = max(largest, w)
            if decay == "coupled":
                equilibrium = h * target / (h + lam)
            else:
                equilibrium = rates[0] * h * target / (rates[0] * h + peak_lr * lam) if constant else np.nan
            rows.append({"schedule": name, "decay": decay, "final_weight": w, "largest_weight": largest,
                         "equilibrium": equilibrium})
    return pd.DataFrame(rows)


def exercise_normalized_weights(settings=EX_SPHERE_SETTINGS, dim: int = EX_SPHERE_DIM, noise_std: float = 1.0,
                                steps: int = EX_SPHERE_STEPS, burn_in: int = EX_SPHERE_BURN_IN,
                                walkers: int = EX_SPHERE_WALKERS, seed: int = EX_SPHERE_SEED):
    r"""Weight decay on scale-invariant weights: the equilibrium norm and the angular step, simulation against formulas.

    A scale-invariant loss (a layer followed by a normalization) has gradients
    orthogonal to :math:`w` whose size falls like :math:`1/|w|`. Here the gradient
    is pure noise of that kind, :math:`g = (I - \hat w\hat w^\top)\xi/|w|` with
    :math:`\xi \sim \mathcal N(0, s^2 I_d)`, and SGD with L2 decay does
    :math:`w \leftarrow (1-\eta\lambda)w - \eta g`. In equilibrium
    :math:`|w|^4 = \eta(d-1)s^2/(\lambda(2-\eta\lambda))` and the angle turned per step is
    :math:`\approx\sqrt{\eta\lambda(2-\eta\lambda)}`, which depends on
    :math:`\eta\lambda` only.

    Parameters
    ----------
    settings : sequence of (float, float)
        :math:`(\eta, \lambda)` pairs.
    dim, noise_std : int, float
        :math:`d` and :math:`s`.
    steps, burn_in : int
        Steps run, and steps discarded before averaging.
    walkers : int
        Independent runs per setting (averaged), all started at :math:`|w| = 1`.
    seed : int

    Returns
    -------
    pandas.DataFrame
        One row per setting: ``lr``, ``weight_decay``, ``norm`` (mean :math:`|w|`
        after the burn-in), ``predicted_norm``, ``angle`` (mean angle per step, in
        radians), ``predicted_angle``.

    >>> table = exercise_normalized_weights(settings=((0.1, 0.04),), steps=1000, burn_in=500, walkers=4)
    >>> bool(abs(table.norm.iloc[0] / table.predicted_norm.iloc[0] - 1) < 0.02)
    True
    """
    import pandas as pd

    dim = check_int("dim", dim, minimum=2)
    steps = check_int("steps", steps, minimum=2)
    burn_in = check_int("burn_in", burn_in, minimum=0)
    if burn_in >= steps:
        raise ValueError(f"burn_in must be below steps={steps}, got burn_in={burn_in}")
    walkers = check_int("walkers", walkers, minimum=1)
    lr = np.array([check_positive("lr", a) for a, _ in settings])[:, None, None]
    lam = np.array([check_positive("weight_decay", b) for _, b in settings])[:, None, None]
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((len(settings), walkers, dim))
    w /= np.linalg.norm(w, axis=-1, keepdims=True)
    norms, angles = [], []
    for t in range(steps):
        size = np.linalg.norm(w, axis=-1, keepdims=True)
        unit = w / size
        xi = noise_std * rng.standard_normal(w.shape)
        g = (xi - unit * (unit * xi).sum(-1, keepdims=True)) / size
        new = (1 - lr * lam) * w - lr * g
        if t >= burn_in:
            new_size = np.linalg.norm(new, axis=-1)
            cos = (new * w).sum(-1) / (new_size * size[..., 0])
            norms.append(new_size)
            angles.append(np.arccos(np.clip(cos, -1.0, 1.0)))
        w = new
    norms, angles = np.mean(norms, axis=(0, 2)), np.mean(angles, axis=(0, 2))
    rows = []
    for (a, b), norm, angle in zip(settings, norms, angles):
        rows.append({"lr": a, "weight_decay": b, "norm": float(norm),
                     "predicted_norm": (a * (dim - 1) * noise_std**2 / (b * (2 - a * b))) ** 0.25,
                     "angle": float(angle), "predicted_angle": float(np.sqrt(a * b * (2 - a * b)))})
    return pd.DataFrame(rows)
