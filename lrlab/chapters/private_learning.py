"""Chapter 8's parameters and experiments ("Privacy-preserving learning").

Imported by ``book/private_learning.md`` and by ``tests/test_private_learning_claims.py``, so the
numbers in the book and the checks of its claims cannot drift apart.

>>> 0 < SAMPLE_RATE < 1 and DELTA < 1 / 1008   # delta below 1 / (training examples)
True
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .. import privacy
from ..data import digits
from ..device import resolve_device
from ..dp_sgd import train_dp_sgd
from ..schedules import constant_schedule, cosine_schedule, linear_schedule, multistep_schedule
from ..stats import mean_ci, mean_sd, paired_t, seeds_for_difference, tost

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
SCHEDULE_NAMES = ("constant", "cosine", "linear decay", "step")
# the same grid for every schedule, factors of sqrt(2); every schedule's best must be interior
PEAK_LRS = tuple(float(v) for v in 2.0 ** np.arange(-2, 2.01, 0.5))
LARGE_PEAK = max(PEAK_LRS)   # "a large peak rate": the grid's largest, 4x to 8x the tuned ones
VAL_FRACTION = 0.2           # of each class of the training split, held out to select the peak rates
SPLIT_SEED = 0
N_SELECT_SEEDS = 8           # seeds that select, on the validation split ...
SELECT_SEED = 1
MARGIN = 0.01                # equivalence margin: one accuracy point (see the chapter)
PILOT_SD = 2.0               # paired spread of two tuned schedules' test accuracies (points), from a pilot
POWER = 0.95                 # of the equivalence test when the true difference is zero
# ... and other seeds that report, on the test split: enough for a TOST at level 0.05 (two-sided 0.1)
N_SEEDS = seeds_for_difference(100 * MARGIN, PILOT_SD, alpha=0.1, power=POWER)
SEED = 0


def _split_indices(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation indices: ``VAL_FRACTION`` of each class, drawn with ``SPLIT_SEED``."""
    rng = np.random.default_rng(SPLIT_SEED)
    val = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        val.append(rng.permutation(idx)[:int(round(VAL_FRACTION * idx.size))])
    val = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(y.size), val), val


@functools.lru_cache(maxsize=4)
def _splits(device):
    from ..data import DigitsSplit

    d = digits(device=device)
    fit, val = _split_indices(d.y_train.cpu().numpy())
    fit_t = torch.as_tensor(fit, device=d.x_train.device)
    val_t = torch.as_tensor(val, device=d.x_train.device)
    x, y = d.x_train[fit_t], d.y_train[fit_t]
    return (DigitsSplit(x, y, d.x_train[val_t], d.y_train[val_t], d.classes),
            DigitsSplit(x, y, d.x_test, d.y_test, d.classes))


def data(device=None):
    """The reporting split: DP-SGD trains on the training split less the validation examples; tests on the test split.

    >>> d = data("cpu"); v = validation_data("cpu")
    >>> len(d.y_train), len(v.y_test), len(d.y_test)
    (1008, 250, 539)
    """
    return _splits(str(resolve_device(device)))[1]


def validation_data(device=None):
    """The selection split: the same training examples, and the validation examples (from the training split) as 'test'."""
    return _splits(str(resolve_device(device)))[0]


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


def _train(split, keys, n_seeds, seed, device):
    return train_dp_sgd(split, [make_schedule(name, lr) for name, lr in keys], STEPS, SAMPLE_RATE,
                        noise_multiplier(), MAX_NORM, hidden=HIDDEN, n_seeds=n_seeds, seed=seed, device=device)


def selection_experiment(device=None, n_seeds: int = N_SELECT_SEEDS):
    """Every schedule at every peak rate of ``PEAK_LRS``, on the selection seeds, scored on the validation split.

    Returns
    -------
    (pandas.DataFrame, lrlab.dp_sgd.DPRun)
        One row per (schedule, peak rate), in the run's order: ``schedule, peak_lr``,
        ``acc_mean, acc_hw`` (validation accuracy, mean and 95 % t half-width over the
        selection seeds), ``loss_mean, loss_hw`` (final training loss).
    """
    import pandas as pd

    keys = [(name, lr) for lr in PEAK_LRS for name in SCHEDULE_NAMES]
    run = _train(validation_data(device), keys, n_seeds, SELECT_SEED, device)
    rows = []
    for i, (name, lr) in enumerate(keys):
        acc, loss = mean_ci(run.test_accuracy[i]), mean_ci(run.train_loss[i])
        rows.append({"schedule": name, "peak_lr": lr, "acc_mean": acc.mean, "acc_hw": acc.half_width,
                     "loss_mean": loss.mean, "loss_hw": loss.half_width})
    return pd.DataFrame(rows), run


def select_peaks(table) -> dict:
    """``{schedule: peak rate with the best mean validation accuracy}`` (one grid, the same for all)."""
    return {name: float(table.loc[table[table.schedule == name].acc_mean.idxmax(), "peak_lr"])
            for name in SCHEDULE_NAMES}


def paired_spread(selected: dict, run) -> float:
    """Largest standard deviation over seeds of a decaying schedule's test accuracy minus the constant rate's (points)."""
    keys = report_keys(selected)
    acc = {n: 100 * run.test_accuracy[keys.index((n, selected[n]))] for n in SCHEDULE_NAMES}
    return max(float(np.std(acc[n] - acc["constant"], ddof=1)) for n in SCHEDULE_NAMES if n != "constant")


def report_keys(selected: dict) -> list:
    """The reported configurations: every schedule at its selected peak rate, then at ``LARGE_PEAK``."""
    return [(name, selected[name]) for name in SCHEDULE_NAMES] + [(name, LARGE_PEAK) for name in SCHEDULE_NAMES]


def report_experiment(selected: dict, device=None, n_seeds: int = N_SEEDS):
    """The configurations of :func:`report_keys` on the reporting seeds (not those that selected), on the test split.

    Every configuration shares seed ``s``'s initialization, Poisson batches and noise
    (common random numbers), so schedules are compared in pairs.
    """
    return _train(data(device), report_keys(selected), n_seeds, SEED, device)


def schedule_summary(selected: dict, run) -> dict:
    r"""The statistics of section 3, from the reporting runs (accuracies in points, 0-100).

    Returns
    -------
    dict
        ``acc``: ``{schedule: MeanCI}`` of the test accuracy at the selected peak rate;
        ``vs_constant``: ``{decaying schedule: (PairedTest, Equivalence)}`` of its accuracy minus
        the constant rate's, both tuned (paired t, and TOST with margin ``MARGIN``);
        ``step_vs``: ``{cosine, linear decay: PairedTest}`` of the step schedule minus each;
        ``large_gain``: ``{decaying: PairedTest}`` of its accuracy minus constant's, both at ``LARGE_PEAK``;
        ``floor_ratio``: MeanCI over seeds of the constant rate's final training loss at
        ``LARGE_PEAK`` over that at its selected peak; ``large_loss``: ``{decaying: PairedTest}``
        of the constant rate's final training loss minus the decaying one's at ``LARGE_PEAK``;
        ``drop``: ``{schedule: MeanCI}`` of the accuracy lost from the selected peak to ``LARGE_PEAK``;
        ``drop_vs``: ``{decaying: PairedTest}`` of the constant rate's drop minus the decaying one's.
    """
    keys = report_keys(selected)
    acc = {k: 100 * run.test_accuracy[i] for i, k in enumerate(keys)}
    loss = {k: run.train_loss[i] for i, k in enumerate(keys)}
    tuned = {name: acc[(name, selected[name])] for name in SCHEDULE_NAMES}
    large = {name: acc[(name, LARGE_PEAK)] for name in SCHEDULE_NAMES}
    decaying = [n for n in SCHEDULE_NAMES if n != "constant"]
    drop = {n: tuned[n] - large[n] for n in SCHEDULE_NAMES}
    const_loss_large = loss[("constant", LARGE_PEAK)]
    return {
        "acc": {n: mean_ci(tuned[n]) for n in SCHEDULE_NAMES},
        "vs_constant": {n: (paired_t(tuned[n], tuned["constant"]), tost(tuned[n], tuned["constant"], 100 * MARGIN))
                        for n in decaying},
        "step_vs": {n: paired_t(tuned["step"], tuned[n]) for n in ("cosine", "linear decay")},
        "large_acc": {n: mean_ci(large[n]) for n in SCHEDULE_NAMES},
        "large_gain": {n: paired_t(large[n], large["constant"]) for n in decaying},
        "floor_ratio": mean_ci(const_loss_large / loss[("constant", selected["constant"])]),
        "large_loss": {n: paired_t(const_loss_large, loss[(n, LARGE_PEAK)]) for n in decaying},
        "drop": {n: mean_ci(drop[n]) for n in SCHEDULE_NAMES},
        "drop_vs": {n: paired_t(drop["constant"], drop[n]) for n in decaying},
    }


def report_table(selected: dict, summary: dict):
    """The reported comparison as a table: per schedule, its selected peak rate, test accuracy, and the paired tests."""
    import pandas as pd

    rows = []
    for n in SCHEDULE_NAMES:
        row = {"schedule": n, "selected peak rate": f"{selected[n]:.3g}", "test accuracy (%)": f"{summary['acc'][n]:.1f}"}
        if n == "constant":
            row.update({"minus constant (95% CI)": "", "paired t p": "", f"TOST p (±{100 * MARGIN:g})": ""})
        else:
            t, e = summary["vs_constant"][n]
            row.update({"minus constant (95% CI)": f"{t.mean:+.2f} ({t.low:+.2f} to {t.high:+.2f})",
                        "paired t p": f"{t.p:.2g}", f"TOST p (±{100 * MARGIN:g})": f"{e.p:.2g}"})
        rows.append(row)
    return pd.DataFrame(rows).set_index("schedule")


def verdict(test, equivalence, unit: str = "points") -> str:
    """What a paired t-test and a TOST (same pairs) allow one to say, as a phrase for the chapter's prose.

    Equivalent and not different: a tie. Different (95 % CI excludes 0): the signed
    difference with its CI and p, and whether it stays within the margin. Neither:
    no difference detected, and the largest difference the 95 % CI cannot rule out.

    >>> from lrlab.stats import paired_t, tost
    >>> a, b = [1.0, 2.1, 2.9, 4.0, 5.1], [1.0, 2.0, 3.0, 4.0, 5.0]
    >>> verdict(paired_t(a, b), tost(a, b, 1.0))
    'ties with it: 0.02 (90% CI -0.06 to 0.10, margin ± 1.00, TOST p = 6.3e-06, n = 5) points'
    >>> c = [2.0, 3.0, 4.2, 5.1, 5.9]
    >>> verdict(paired_t(c, b), tost(c, b, 0.5))
    'is ahead: 1.04 (95% CI 0.90 to 1.18, paired t = 20.40, p = 3.4e-05, n = 5) points'
    >>> verdict(paired_t(c, b), tost(c, b, 2.0)).split("points, ")[1]
    'yet within ± 2 points (TOST p = 2.3e-05)'
    >>> d = [1.5, 1.6, 3.5, 3.4, 5.6]
    >>> verdict(paired_t(d, b), tost(d, b, 0.5))
    'shows no difference: 0.12 (95% CI -0.59 to 0.83, paired t = 0.47, p = 0.66, n = 5) points; the experiment cannot rule out a difference of 0.83 points'
    """
    margin = f"{equivalence.margin:g}"
    if equivalence.equivalent and not test.significant:
        return f"ties with it: {equivalence:.2f} {unit}"
    side = "behind" if test.mean < 0 else "ahead"
    if test.significant:
        out = f"is {side}: {test:.2f} {unit}"
        if equivalence.equivalent:
            out += f", yet within ± {margin} {unit} (TOST p = {equivalence.p:.2g})"
        return out
    worst = max(abs(test.low), abs(test.high))
    return (f"shows no difference: {test:.2f} {unit}; the experiment cannot rule out a difference of "
            f"{worst:.2g} {unit}")


def interior(selected: dict) -> dict:
    """``{schedule: True}`` when its selected peak rate has a grid point on either side."""
    return {n: min(PEAK_LRS) < selected[n] < max(PEAK_LRS) for n in SCHEDULE_NAMES}


def clipping_summary(selected: dict, run) -> dict:
    """Clipping statistics of section 4, over the reporting runs at the selected peak rates.

    Returns
    -------
    dict
        ``first_min`` (smallest fraction clipped at step 0), ``norm_first`` (median norm at step 0),
        ``last_min``, ``last_max`` (fraction clipped at the last step), ``norm_last_min``,
        ``norm_last_max`` (median norm at the last step), and ``rows`` (the runs' indices).
    """
    keys = report_keys(selected)
    rows = [keys.index((name, selected[name])) for name in SCHEDULE_NAMES]
    frac, norm = run.clip_fraction[rows], run.median_norm[rows]
    return {"rows": rows, "first_min": float(frac[:, 0].min()), "norm_first": float(np.median(norm[:, 0])),
            "last_min": float(frac[:, -1].min()), "last_max": float(frac[:, -1].max()),
            "norm_last_min": float(norm[:, -1].min()), "norm_last_max": float(norm[:, -1].max())}


def batch_moments(run, n_train: int) -> dict:
    r"""Mean and variance of the Poisson batch sizes against Binomial(N, q), as z-scores.

    With :math:`m` independent batches, the sample mean has standard error
    :math:`\sqrt{v/m}` with :math:`v = Nq(1-q)`, and the sample variance
    :math:`\sqrt{(\mu_4 - v^2 (m-3)/(m-1))/m}`, with the binomial fourth central moment
    :math:`\mu_4 = v^2\,(3 + (1 - 6q(1-q))/v)`. For a correct sampler both z-scores are
    about standard normal.

    Returns
    -------
    dict
        ``mean, var`` (measured), ``mean_theory, var_theory``, ``z_mean, z_var``, ``m``.
    """
    sizes = np.asarray(run.batch_sizes, dtype=np.float64).ravel()
    m, q = sizes.size, SAMPLE_RATE
    mean, var = n_train * q, n_train * q * (1 - q)
    mu4 = var ** 2 * (3 + (1 - 6 * q * (1 - q)) / var)
    se_var = np.sqrt((mu4 - var ** 2 * (m - 3) / (m - 1)) / m)
    return {"mean": float(sizes.mean()), "var": float(sizes.var(ddof=1)), "mean_theory": mean, "var_theory": var,
            "z_mean": float((sizes.mean() - mean) / np.sqrt(var / m)), "z_var": float((sizes.var(ddof=1) - var) / se_var),
            "m": int(m)}


def moving_average(x, width: int = 15) -> np.ndarray:
    r"""Mean of each ``width`` consecutive values, :math:`\frac1w\sum_{j<w} x_{t+j}` (``len(x) - width + 1`` values).

    >>> moving_average([1.0, 2.0, 3.0, 4.0], width=2).tolist()
    [1.5, 2.5, 3.5]
    """
    x = np.asarray(x, dtype=np.float64)
    return np.convolve(x, np.ones(width) / width, mode="valid")


# ---------------------------------------------------------------------------
# Section 4: clipping changes the effective rate
# ---------------------------------------------------------------------------
CLIP_NORMS = (0.05, 0.1)   # both below every per-example norm met in training
CLIP_PRODUCT = 0.2         # eta * C, the same for both runs
CLIP_STEPS = 150
CLIP_SEEDS = 5


def clipping_experiment(device=None, n_seeds: int = CLIP_SEEDS) -> dict:
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


# ---------------------------------------------------------------------------
# Exercises (ungraded; closed forms of the accountant, and the chapter's own runs)
# ---------------------------------------------------------------------------
EX_GAUSS_SIGMA = 4.0                      # the Gaussian mechanism (q = 1) of the closed-form exercise
EX_GAUSS_STEPS = (1, 10, 100, 1000, 10_000)
EX_DELTA_SMALL = 1e-6                     # "change delta and predict"
EX_KAPPA_Q, EX_KAPPA_SIGMA = CURVE_Q, 1.0  # the sampled mechanism whose long-run growth is predicted
EX_LONG_STEPS = tuple(int(10**k) for k in range(2, 8))  # 100 .. 10^7 steps, one per decade
EX_SNR_LAST = 50                          # steps at the end of the runs over which the ratio is averaged
EX_ORDER_TWO = ((0.001, 0.6), (0.05, 1.0), (0.05, 2.0), (0.2, 4.0), (1.0, 1.0))  # (q, sigma) checked at alpha = 2


def gaussian_epsilon_closed_form(noise_multiplier, steps, delta) -> tuple[float, float]:
    r""":math:`\min_{\alpha>1}\bigl[T\alpha/(2\sigma^2) + \ln(1/\delta)/(\alpha-1)\bigr]` in closed form, and its order.

    :math:`\varepsilon = T/(2\sigma^2) + \sqrt{2T\ln(1/\delta)}/\sigma` at
    :math:`\alpha^* = 1 + \sigma\sqrt{2\ln(1/\delta)/T}` (Mironov 2017's conversion, looser than
    the one :func:`lrlab.privacy.rdp_to_epsilon` uses).

    >>> eps, order = gaussian_epsilon_closed_form(1.0, 2, float(np.exp(-1)))
    >>> round(eps, 12), round(order, 12)
    (3.0, 2.0)
    """
    t, big_l = float(steps), float(np.log(1 / delta))
    sigma = float(noise_multiplier)
    return float(t / (2 * sigma**2) + np.sqrt(2 * t * big_l) / sigma), float(1 + sigma * np.sqrt(2 * big_l / t))


def exercise_gaussian_closed_form() -> dict:
    """ex-private-learning-closed-form: the Gaussian mechanism's epsilon by hand, against a numerical minimum and the accountant.

    Returns
    -------
    dict
        ``table`` and ``rows`` (per T of ``EX_GAUSS_STEPS`` at ``EX_GAUSS_SIGMA``, q = 1: the closed
        form and its order, the same conversion minimised on a fine grid of orders, the accountant's
        epsilon, and the accountant's epsilon at ``EX_DELTA_SMALL`` over that at ``DELTA``),
        ``crossover`` (8 sigma^2 ln(1/delta): the T where the linear term overtakes the square root),
        ``sqrt_ratio`` (sqrt(ln(1/EX_DELTA_SMALL) / ln(1/DELTA)): the predicted ratio while the
        square root dominates).
    """
    import pandas as pd

    sigma, big_l = EX_GAUSS_SIGMA, np.log(1 / DELTA)
    fine = 1 + np.geomspace(1e-4, 1e4, 400_001)
    rows = {}
    for t in EX_GAUSS_STEPS:
        closed, order = gaussian_epsilon_closed_form(sigma, t, DELTA)
        numeric = float(np.min(t * fine / (2 * sigma**2) + big_l / (fine - 1)))
        eps = privacy.epsilon(1.0, sigma, t, DELTA)
        rows[t] = {"closed form": closed, "its order": order, "numerical minimum": numeric, "accountant": eps,
                   "ratio at delta 1e-6": privacy.epsilon(1.0, sigma, t, EX_DELTA_SMALL) / eps}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("steps T")
    return {"table": table, "rows": rows, "crossover": 8 * sigma**2 * big_l,
            "sqrt_ratio": float(np.sqrt(np.log(1 / EX_DELTA_SMALL) / big_l))}


def order_two_kappa(q, noise_multiplier) -> float:
    r"""RDP per step and per unit order of the sampled Gaussian to second order in q: :math:`\kappa = q^2(e^{1/\sigma^2} - 1)/2`.

    At :math:`\alpha = 2` the binomial sum has three terms and
    :math:`A_2 = 1 + q^2(e^{1/\sigma^2} - 1)` exactly, so :math:`\rho(2) = \ln(1 + 2\kappa)`.

    >>> round(order_two_kappa(1.0, 1.0), 12) == round((np.e - 1) / 2, 12)
    True
    """
    return float(q**2 * np.expm1(1 / noise_multiplier**2) / 2)


def exercise_order_two() -> dict:
    r"""ex-private-learning-order-two: the exact order-2 RDP, and where epsilon leaves the square-root law.

    Returns
    -------
    dict
        ``order_two`` (per (q, sigma) of ``EX_ORDER_TWO``: ``(ln(1 + 2 kappa), accountant's rho(2))``),
        ``kappa`` and ``crossover`` (4 ln(1/delta) / kappa for ``EX_KAPPA_Q``, ``EX_KAPPA_SIGMA``),
        ``table`` (per decade of ``EX_LONG_STEPS``: the accountant's epsilon and best order, the
        log-log slope to the next decade, and the slope of the approximation
        :math:`T\kappa + 2\sqrt{T\kappa\ln(1/\delta)}` at the decade's geometric middle),
        ``slopes``, ``approx_slopes``, ``middles``.
    """
    import pandas as pd

    order_two = {}
    for q, sigma in EX_ORDER_TWO:
        order_two[(q, sigma)] = (float(np.log1p(2 * order_two_kappa(q, sigma))),
                                 float(privacy.sampled_gaussian_rdp(q, sigma, 1, orders=[2])[0]))
    kappa = order_two_kappa(EX_KAPPA_Q, EX_KAPPA_SIGMA)
    big_l = np.log(1 / DELTA)
    per_step = privacy.sampled_gaussian_rdp(EX_KAPPA_Q, EX_KAPPA_SIGMA, 1)
    steps = np.asarray(EX_LONG_STEPS, dtype=np.float64)
    eps_order = [privacy.rdp_to_epsilon(t * per_step, DELTA) for t in EX_LONG_STEPS]
    eps = np.array([e for e, _ in eps_order])
    slopes = np.diff(np.log(eps)) / np.diff(np.log(steps))
    middles = np.sqrt(steps[:-1] * steps[1:])
    x = middles * kappa
    approx_slopes = (x + np.sqrt(x * big_l)) / (x + 2 * np.sqrt(x * big_l))  # d ln eps / d ln T
    rows = {int(t): {"epsilon": e, "best order": a,
                     "slope to next decade": float(slopes[i]) if i < len(slopes) else np.nan,
                     "predicted slope": float(approx_slopes[i]) if i < len(slopes) else np.nan}
            for i, (t, (e, a)) in enumerate(zip(EX_LONG_STEPS, eps_order))}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("steps T")
    return {"order_two": order_two, "kappa": kappa, "crossover": 4 * big_l / kappa, "table": table,
            "slopes": slopes, "approx_slopes": approx_slopes, "middles": middles}


def exercise_halve_q() -> dict:
    """ex-private-learning-halve-q: the same epochs with half (or twice) the sampling rate, at the chapter's sigma.

    Returns
    -------
    dict
        ``table`` and ``rows`` (per sampling rate q/2, q, 2q with T scaled to keep the epochs
        q T: the accountant's epsilon and the approximation T kappa + 2 sqrt(T kappa ln(1/delta))),
        ``ratio`` (epsilon at q over epsilon at q/2) and ``approx_ratio``.
    """
    import pandas as pd

    sigma, big_l = noise_multiplier(), np.log(1 / DELTA)
    rows = {}
    for factor in (0.5, 1.0, 2.0):
        q, t = SAMPLE_RATE * factor, int(round(STEPS / factor))
        tk = t * order_two_kappa(q, sigma)
        rows[q] = {"steps T": t, "epochs q T": q * t, "accountant": privacy.epsilon(q, sigma, t, DELTA),
                   "approximation": tk + 2 * np.sqrt(tk * big_l)}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("sampling rate q")
    half, full = rows[SAMPLE_RATE / 2], rows[SAMPLE_RATE]
    key = "approximation"
    return {"table": table, "rows": rows, "ratio": full["accountant"] / half["accountant"],
            "approx_ratio": full[key] / half[key]}


def exercise_tuning_cost() -> dict:
    """ex-private-learning-tuning-cost: the privacy of the chapter's peak-rate selection, had it trained on private data.

    Every selection run (``len(PEAK_LRS) x len(SCHEDULE_NAMES) x N_SELECT_SEEDS``) and one final run are
    DP-SGD runs of ``STEPS`` steps on the same examples at the chapter's sigma; RDP adds over all their steps.

    Returns
    -------
    dict
        ``runs``, ``steps``, ``epsilon`` (all runs together, at ``DELTA``), ``sqrt_runs`` (the factor
        the square-root law would predict), ``sigma`` (the chapter's) and ``sigma_all`` (the noise that
        keeps all the runs within ``TARGET_EPS``), ``epsilon_all`` (what it spends), ``crossover``
        (4 ln(1/delta) / kappa at the chapter's q and sigma: where the linear growth takes over).
    """
    runs = len(PEAK_LRS) * len(SCHEDULE_NAMES) * N_SELECT_SEEDS + 1
    steps = runs * STEPS
    sigma = noise_multiplier()
    sigma_all = privacy.noise_for_epsilon(TARGET_EPS, DELTA, SAMPLE_RATE, steps)
    return {"runs": runs, "steps": steps, "epsilon": privacy.epsilon(SAMPLE_RATE, sigma, steps, DELTA),
            "sqrt_runs": float(np.sqrt(runs)), "sigma": sigma, "sigma_all": sigma_all,
            "epsilon_all": privacy.epsilon(SAMPLE_RATE, sigma_all, steps, DELTA),
            "crossover": 4 * np.log(1 / DELTA) / order_two_kappa(SAMPLE_RATE, sigma)}


def exercise_snr(run) -> dict:
    r"""ex-private-learning-snr: the signal-to-noise ratio of DP-SGD's gradient against two reference points.

    With :math:`d` parameters the noise has :math:`\mathbb E\lVert\xi\rVert^2 = d\sigma^2C^2`; a batch
    of :math:`qN` gradients clipped to norm :math:`C` sums to :math:`(qN)^2C^2` if they are aligned
    and :math:`qN\,C^2` if they are orthogonal.

    Parameters
    ----------
    run : lrlab.dp_sgd.DPRun
        The reporting runs of section 3 (:func:`report_experiment`).

    Returns
    -------
    dict
        ``d``, ``batch`` (qN), ``aligned`` and ``orthogonal`` (the two reference ratios), ``first`` (the measured ratio at
        step 0, the same for every configuration: they share their initialization and first batch),
        ``first_clipped`` (the smallest fraction clipped at step 0), ``cosine`` (the mean cosine between
        two clipped gradients of a batch at step 0 that ``first`` implies), ``last_max`` (largest mean
        over the last ``EX_SNR_LAST`` steps of a configuration's ratio), ``max`` (largest ratio of any
        configuration at any step), ``first_spread`` (largest minus smallest ratio at step 0 over the
        configurations).
    """
    d = int(sum(v.shape[2:].numel() for v in run.params.values()))
    sigma, n = noise_multiplier(), SAMPLE_RATE * len(data().y_train)
    noise = d * sigma**2
    first = float(np.mean(run.signal_to_noise[:, 0]))
    return {"d": d, "batch": n, "aligned": n**2 / noise, "orthogonal": n / noise, "first": first,
            "first_clipped": float(run.clip_fraction[:, 0].min()),
            "cosine": (first * noise / n - 1) / (n - 1),
            "last_max": float(run.signal_to_noise[:, -EX_SNR_LAST:].mean(axis=1).max()),
            "max": float(np.max(run.signal_to_noise)),
            "first_spread": float(np.ptp(run.signal_to_noise[:, 0]))}
