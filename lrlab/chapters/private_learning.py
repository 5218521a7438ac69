"""Chapter 8's parameters and experiments ("Privacy-preserving learning").

Imported by ``book/private_learning.md`` and by ``tests/test_private_learning_claims.py``, so the
numbers in the book and the checks of its claims cannot drift apart.

>>> 0 < SAMPLE_RATE < 1 and DELTA < 1 / 1258   # delta below 1 / (training examples)
True
"""

from __future__ import annotations

import functools

import numpy as np

from .. import privacy
from ..data import digits
from ..dp_sgd import train_dp_sgd
from ..schedules import constant_schedule, cosine_schedule, linear_schedule, multistep_schedule

# ---------------------------------------------------------------------------
# Section 2: the accountant
# ---------------------------------------------------------------------------
DELTA = 1e-5
CURVE_Q = 0.05
CURVE_SIGMAS = (0.8, 1.0, 1.5, 2.0)
CURVE_STEPS = np.unique(np.geomspace(1, 10_000, 25).round().astype(int))
GRID_Q = (0.001, 0.01, 0.05, 0.2, 1.0)
GRID_SIGMAS = (0.6, 1.0, 2.0, 4.0)
GRID_STEPS = (1, 100, 10_000)


def epsilon_curves() -> dict:
    """``{sigma: epsilon after each of CURVE_STEPS}`` at ``CURVE_Q``, ``DELTA`` (RDP is linear in the steps)."""
    out = {}
    for sigma in CURVE_SIGMAS:
        per_step = privacy.sampled_gaussian_rdp(CURVE_Q, sigma, 1)
        out[sigma] = np.array([privacy.rdp_to_epsilon(t * per_step, DELTA)[0] for t in CURVE_STEPS])
    return out


def opacus_comparison(compute_rdp, get_privacy_spent):
    """Our accountant against Opacus's on the grid ``GRID_Q x GRID_SIGMAS x GRID_STEPS``.

    lrlab does not import Opacus: the caller passes its two functions,
    ``opacus.accountants.analysis.rdp.compute_rdp`` and ``get_privacy_spent``.

    Returns
    -------
    pandas.DataFrame
        One row per grid point: ``q, sigma, steps, eps_lrlab, eps_opacus, rel_diff``
        (relative difference of epsilon) and ``rdp_rel_diff`` (largest relative
        difference of the RDP over the orders).
    """
    import warnings

    import pandas as pd
    orders = list(privacy.DEFAULT_ORDERS)
    rows = []
    for q in GRID_Q:
        for sigma in GRID_SIGMAS:
            ours1 = privacy.sampled_gaussian_rdp(q, sigma, 1)
            theirs1 = np.asarray(compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=orders))
            for steps in GRID_STEPS:
                ours, theirs = steps * ours1, steps * theirs1
                with warnings.catch_warnings():  # Opacus warns when the best order is at the end of the list
                    warnings.simplefilter("ignore")
                    eps_theirs = float(get_privacy_spent(orders=orders, rdp=theirs, delta=DELTA)[0])
                eps_ours = privacy.rdp_to_epsilon(ours, DELTA)[0]
                rows.append({"q": q, "sigma": sigma, "steps": steps, "eps_lrlab": eps_ours, "eps_opacus": eps_theirs,
                             "rel_diff": abs(eps_ours / eps_theirs - 1),
                             "rdp_rel_diff": float(np.max(np.abs(ours - theirs) / theirs))})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Section 3: schedules at a fixed (epsilon, delta)
# ---------------------------------------------------------------------------
TARGET_EPS = 2.0
SAMPLE_RATE = 0.05
STEPS = 300
MAX_NORM = 1.0
HIDDEN = 16
N_SEEDS = 5
SEED = 0
PEAK_LRS = (0.25, 0.5, 1.0, 2.0)
SCHEDULE_NAMES = ("constant", "cosine", "linear decay", "step")


def data(device=None):
    """All ten digits, the course's fixed split."""
    return digits(device=device)


@functools.lru_cache(maxsize=1)
def noise_multiplier() -> float:
    """The sigma that spends exactly ``TARGET_EPS`` (at ``DELTA``) in ``STEPS`` steps at ``SAMPLE_RATE``."""
    return privacy.noise_for_epsilon(TARGET_EPS, DELTA, SAMPLE_RATE, STEPS)


def make_schedule(name: str, peak_lr: float, total_steps: int = STEPS):
    """One of ``SCHEDULE_NAMES`` from ``lrlab.schedules``; "step" divides the rate by 10 at 50 % and 75 %.

    >>> make_schedule("step", 1.0, 100)([0, 50, 75]).round(6).tolist()
    [1.0, 0.1, 0.01]
    """
    if name == "constant":
        return constant_schedule(peak_lr)
    if name == "cosine":
        return cosine_schedule(peak_lr, total_steps)
    if name == "linear decay":
        return linear_schedule(peak_lr, 0.0, total_steps)
    if name == "step":
        return multistep_schedule(peak_lr, milestones=[total_steps // 2, 3 * total_steps // 4], gamma=0.1)
    raise ValueError(f"name must be one of {SCHEDULE_NAMES}, got name={name!r}")


def schedule_experiment(device=None, n_seeds: int = N_SEEDS):
    """DP-SGD with every schedule of ``SCHEDULE_NAMES`` at every peak rate of ``PEAK_LRS``, at (TARGET_EPS, DELTA).

    Returns
    -------
    (pandas.DataFrame, lrlab.dp_sgd.DPRun)
        The table has one row per (schedule, peak rate): ``schedule, peak_lr, acc_mean,
        acc_std`` (test accuracy over seeds, std with ddof=1), ``loss_mean``, ``loss_std``
        (final training loss); the run holds everything else (rows in the table's order).
    """
    import pandas as pd

    keys = [(name, lr) for lr in PEAK_LRS for name in SCHEDULE_NAMES]
    run = train_dp_sgd(data(device), [make_schedule(name, lr) for name, lr in keys], STEPS, SAMPLE_RATE,
                       noise_multiplier(), MAX_NORM, hidden=HIDDEN, n_seeds=n_seeds, seed=SEED, device=device)
    rows = []
    for i, (name, lr) in enumerate(keys):
        acc, loss = run.test_accuracy[i], run.train_loss[i]
        rows.append({"schedule": name, "peak_lr": lr, "acc_mean": acc.mean(), "acc_std": acc.std(ddof=1),
                     "loss_mean": loss.mean(), "loss_std": loss.std(ddof=1)})
    return pd.DataFrame(rows), run


def schedule_summary(table, run) -> dict:
    """The numbers of section 2.

    Returns
    -------
    dict
        ``best`` (``{schedule: (peak_lr, acc_mean, acc_std)}`` at its best peak rate);
        ``top_peak_gain`` (at the largest peak rate: mean over seeds of the paired accuracy
        gain of the best decaying schedule over constant, and its standard error);
        ``best_gap`` (best decaying schedule's best accuracy minus constant's best, in
        accuracy, and the pooled standard error of that difference);
        ``floor_ratio`` (constant rate: final training loss at the largest peak rate over the lowest
        final loss of the constant rates);
        ``drop_at_top`` (``{schedule: best accuracy - accuracy at the largest peak rate}``).
    """
    best = {}
    for name in SCHEDULE_NAMES:
        sub = table[table.schedule == name]
        row = sub.loc[sub.acc_mean.idxmax()]
        best[name] = (float(row.peak_lr), float(row.acc_mean), float(row.acc_std))
    decaying = [n for n in SCHEDULE_NAMES if n != "constant"]
    top = max(PEAK_LRS)
    index = {(r.schedule, r.peak_lr): i for i, r in enumerate(table.itertuples())}
    const_top = run.test_accuracy[index[("constant", top)]]
    gains = {n: run.test_accuracy[index[(n, top)]] - const_top for n in decaying}
    best_decay_top = max(decaying, key=lambda n: gains[n].mean())
    g = gains[best_decay_top]
    best_decay = max(decaying, key=lambda n: best[n][1])
    gap = best[best_decay][1] - best["constant"][1]
    se = np.sqrt((best[best_decay][2] ** 2 + best["constant"][2] ** 2) / run.test_accuracy.shape[1])
    loss = table[table.schedule == "constant"].set_index("peak_lr").loss_mean
    return {"best": best, "best_decaying": best_decay, "best_decaying_top": best_decay_top,
            "top_peak_gain": (float(g.mean()), float(g.std(ddof=1) / np.sqrt(len(g)))),
            "top_peak_gain_min": float(min(gains[n].mean() for n in decaying)),
            "best_gap": (float(gap), float(se)), "floor_ratio": float(loss[top] / loss.min()),
            "drop_at_top": {n: best[n][1] - float(table[(table.schedule == n) & (table.peak_lr == top)].acc_mean.iloc[0])
                            for n in SCHEDULE_NAMES}}


def clipping_summary(table, run, summary) -> dict:
    """Clipping statistics of section 4, over the tuned runs (each schedule at its best peak rate).

    Returns
    -------
    dict
        ``first_min`` (smallest fraction clipped at step 0), ``norm_first`` (median norm at step 0),
        ``last_min``, ``last_max`` (fraction clipped at the last step), ``norm_last_min``,
        ``norm_last_max`` (median norm at the last step), and ``rows`` (the runs' indices).
    """
    index = {(r.schedule, r.peak_lr): i for i, r in enumerate(table.itertuples())}
    rows = [index[(name, summary["best"][name][0])] for name in SCHEDULE_NAMES]
    frac, norm = run.clip_fraction[rows], run.median_norm[rows]
    return {"rows": rows, "first_min": float(frac[:, 0].min()), "norm_first": float(np.median(norm[:, 0])),
            "last_min": float(frac[:, -1].min()), "last_max": float(frac[:, -1].max()),
            "norm_last_min": float(norm[:, -1].min()), "norm_last_max": float(norm[:, -1].max())}


# ---------------------------------------------------------------------------
# Section 4: clipping changes the effective rate
# ---------------------------------------------------------------------------
CLIP_NORMS = (0.05, 0.1)   # both below every per-example norm met in training
CLIP_PRODUCT = 0.2         # eta * C, the same for both runs
CLIP_STEPS = 150


def clipping_experiment(device=None, n_seeds: int = N_SEEDS) -> dict:
    r"""Two runs with the same :math:`\eta C` and the same random numbers, one per ``CLIP_NORMS``.

    When every per-example gradient is clipped, the update
    :math:`\eta(\sum_i C u_i + \sigma C\xi)/(qN)` depends on :math:`\eta C` only, so the
    two trajectories coincide.

    Returns
    -------
    dict
        ``{C: DPRun}``, plus ``"max_param_diff"`` (largest absolute difference of the final
        parameters between the two runs) and ``"min_clip_fraction"`` (smallest fraction clipped
        over both runs and all steps).
    """
    d = data(device)
    sigma = noise_multiplier()
    runs = {}
    for c in CLIP_NORMS:
        runs[c] = train_dp_sgd(d, [constant_schedule(CLIP_PRODUCT / c)], CLIP_STEPS, SAMPLE_RATE, sigma, c,
                               hidden=HIDDEN, n_seeds=n_seeds, seed=SEED, device=device)
    a, b = (runs[c].params for c in CLIP_NORMS)
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    scale = max(float(a[k].abs().max()) for k in a)
    runs["max_param_diff"] = diff
    runs["param_scale"] = scale
    runs["min_clip_fraction"] = float(min(runs[c].clip_fraction.min() for c in CLIP_NORMS))
    return runs
