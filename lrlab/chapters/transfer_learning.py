"""Chapter 6's parameters and experiments ("Transfer learning and fine-tuning").

Imported by ``book/transfer_learning.md`` and by ``tests/test_transfer_learning_claims.py``, so
the numbers in the book and the checks of its claims cannot drift apart.

One network is pretrained per seed on digits 0-4 and reused by every
fine-tuning run of that seed (on digits 5-9), with the same new head and the
same minibatches (common random numbers), so within a seed the strategies
differ only in their rates. Every strategy gets its own head rate, the best of
``PEAK_GRID`` by target accuracy on a validation split of the target's
training set, over ``TUNE_SEEDS``; the reported runs use other seeds
(``SEEDS``) and the target's test set. All runs of an experiment train at once
as one batched population (:func:`lrlab.fine_tuning.fine_tune_population`).

>>> [s.name for s in strategies()][:3]
['from scratch', 'uniform', 'warmup']
>>> len(SEEDS) >= 10 and not set(SEEDS) & set(TUNE_SEEDS)
True
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import numpy as np

from ..device import resolve_device
from ..fine_tuning import (ULMFIT_DECAY, Strategy, fine_tune_population, layer_groups, pretrain_population, rate_table,
                           tasks)
from ..stats import mean_ci, paired_t, seeds_for_difference, tost

# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------
WIDTHS = (64, 64)  # hidden layers of the backbone: 3 layer groups with the head
PRETRAIN_STEPS = 300
PRETRAIN_LR = 0.05
EPOCHS = 4
BATCH_SIZE = 32
MOMENTUM = 0.9
SEEDS = tuple(range(24))  # the reported runs: 80% power for the TOST of target accuracy (see MARGIN)
TUNE_SEEDS = tuple(range(100, 108))  # the runs that choose each strategy's head rate
PEAK_GRID = (0.025, 0.05, 0.1, 0.2, 0.4, 0.8)  # head rates tried for every strategy (factor 2 apart)
VAL_FRACTION = 0.25  # of each target class's training images, held out to choose the rate
VAL_SPLIT_SEED = 6
L2SP_ALPHA = 0.05
SWEEP_PEAK_LR = 0.1  # the decay sweep holds the head's rate fixed, so xi alone sets the backbone's
SWEEP_DECAYS = (1.0, 1.6, ULMFIT_DECAY, 5.0, 10.0)  # plus the frozen backbone (decay = infinity)
# Equivalence margin of the "no difference" claims: one accuracy point, fixed before the runs (2.7 of the
# target's 269 test images; a smaller gap would not change which recipe one picks). With the per-seed spread of
# target-accuracy differences of a 20-seed pilot (PILOT_SD_TARGET points, uniform minus discriminative), a
# paired TOST at this margin needs len(SEEDS) = 24 seeds for 80% power
# (lrlab.stats.seeds_for_difference(1, PILOT_SD_TARGET, alpha=0.1)).
MARGIN = 0.01
PILOT_SD_TARGET = 1.9
N_BOOT = 1000  # bootstrap resamples of the seeds for the rank correlation's interval


def strategies() -> list[Strategy]:
    """The strategies of the main table, in display order."""
    return [
        Strategy("from scratch", pretrained=False),
        Strategy("uniform"),
        Strategy("warmup", schedule="warmup"),
        Strategy("slanted triangular", schedule="stlr"),
        Strategy("discriminative", decay=ULMFIT_DECAY),
        Strategy("gradual unfreezing", gradual=True),
        Strategy("ULMFiT (discr. + STLR + gradual)", schedule="stlr", decay=ULMFIT_DECAY, gradual=True),
        Strategy("L2-SP", l2sp=L2SP_ALPHA),
        Strategy("frozen backbone", freeze_backbone=True),
    ]


def sweep_strategies() -> list[Strategy]:
    """The decay sweep at the fixed head rate ``SWEEP_PEAK_LR``: ``SWEEP_DECAYS``, then the frozen backbone."""
    return [Strategy(f"xi = {d:g}", decay=d) for d in SWEEP_DECAYS] + [
        Strategy("xi = inf", freeze_backbone=True)]


def validation_split(target):
    """The target task with ``VAL_FRACTION`` of each class's training images moved to the evaluation set.

    Training runs on the rest; ``x_test``/``y_test`` hold the validation images
    (the target's test set is not used to choose anything).

    >>> _, target = tasks(device="cpu")
    >>> val = validation_split(target)
    >>> len(val.y_train) + len(val.y_test) == len(target.y_train)
    True
    """
    rng = np.random.default_rng(VAL_SPLIT_SEED)
    y = target.y_train.cpu().numpy()
    held = [rng.permutation(np.flatnonzero(y == c))[: int(round(VAL_FRACTION * np.sum(y == c)))]
            for c in range(target.n_classes)]
    val = np.sort(np.concatenate(held))
    fit = np.setdiff1d(np.arange(len(y)), val)
    x, yy = target.x_train, target.y_train
    return replace(target, x_train=x[fit], y_train=yy[fit], x_test=x[val], y_test=yy[val])


def _run(source, target, seeds, runs, curve):
    pre = pretrain_population(source, seeds, WIDTHS, PRETRAIN_STEPS, PRETRAIN_LR, BATCH_SIZE, MOMENTUM)
    return fine_tune_population(pre, seeds, runs, source, target, epochs=EPOCHS, batch_size=BATCH_SIZE,
                                momentum=MOMENTUM, curve=curve)


def tune(device=None) -> dict:
    """Validation target accuracy of every strategy at every head rate of ``PEAK_GRID``, over ``TUNE_SEEDS``.

    Returns
    -------
    dict
        ``{strategy name: array (len(PEAK_GRID), len(TUNE_SEEDS))}``.
    """
    device = resolve_device(device)
    source, target = tasks(device=device)
    strats = strategies()
    runs = [(k, s, peak) for s in strats for peak in PEAK_GRID for k in range(len(TUNE_SEEDS))]
    res = _run(source, validation_split(target), TUNE_SEEDS, runs, curve=False)
    acc = res["target_acc"].reshape(len(strats), len(PEAK_GRID), len(TUNE_SEEDS))
    return {s.name: acc[i] for i, s in enumerate(strats)}


def select_peak(acc) -> int:
    r"""Index into ``PEAK_GRID`` of the rate chosen from validation accuracies ``acc`` (rates x tuning seeds).

    The one-standard-error rule (Breiman et al. 1984; Hastie, Tibshirani & Friedman
    2009, sec. 7.10): the *smallest* rate whose mean accuracy is within one standard
    error of the best mean, the error being that of the paired per-seed difference
    to the best rate, :math:`\bar a_j \ge \bar a_{\rm best} - s_{d_j}/\sqrt n`.
    Rates the seeds cannot tell apart resolve to the smaller one, which moves the
    backbone less; a plain argmax would pick between them by seed noise.

    >>> select_peak(np.array([[0.80, 0.82, 0.81], [0.905, 0.925, 0.915], [0.91, 0.92, 0.92], [0.5, 0.6, 0.4]]))
    1
    """
    acc = np.asarray(acc, dtype=np.float64)
    mean = acc.mean(axis=1)
    best = int(np.argmax(mean))
    for j in range(best + 1):
        d = acc[best] - acc[j]
        se = d.std(ddof=1) / np.sqrt(d.size) if j != best else 0.0
        if mean[best] - mean[j] <= se:
            return j
    return best  # pragma: no cover (j = best always qualifies)


def best_peaks(tuning: dict) -> dict:
    """Each strategy's head rate, chosen by :func:`select_peak` from its validation accuracies."""
    return {name: float(PEAK_GRID[select_peak(acc)]) for name, acc in tuning.items()}


def experiment(seeds=SEEDS, device=None) -> dict:
    """Tune every strategy's head rate, then run the main table (tuned) and the decay sweep (fixed head rate).

    Returns
    -------
    dict
        ``{run name: {"target_acc", "forgetting", "distance", "source_before", "source_after":
        float64 arrays (n_seeds,), "curve": (n_seeds, EPOCHS), "peak_lr": float}}`` for every
        strategy of :func:`strategies` and :func:`sweep_strategies`, plus ``"tuning"``
        (from :func:`tune`) and ``"device"`` (str).
    """
    device = resolve_device(device)
    tuning = tune(device)
    peaks = best_peaks(tuning)
    source, target = tasks(device=device)
    plan = [(s, peaks[s.name]) for s in strategies()] + [(s, SWEEP_PEAK_LR) for s in sweep_strategies()]
    runs = [(k, s, peak) for s, peak in plan for k in range(len(seeds))]
    res = _run(source, target, seeds, runs, curve=True)
    out = {}
    n = len(seeds)
    for i, (s, peak) in enumerate(plan):
        out[s.name] = {key: res[key][i * n:(i + 1) * n] for key in
                       ("target_acc", "forgetting", "distance", "source_before", "source_after", "curve")}
        out[s.name]["peak_lr"] = peak
    out["tuning"] = tuning
    out["device"] = str(device)
    return out


# ---------------------------------------------------------------------------
# Reading the results
# ---------------------------------------------------------------------------
SHORT = {"from scratch": "scratch", "uniform": "uni", "warmup": "warm", "slanted triangular": "stlr",
         "discriminative": "disc", "gradual unfreezing": "grad", "ULMFiT (discr. + STLR + gradual)": "ulm",
         "L2-SP": "l2sp", "frozen backbone": "frozen"}


def points(values) -> np.ndarray:
    """Accuracies (fractions) as accuracy points (percent)."""
    return 100 * np.asarray(values, dtype=np.float64)


def table(results: dict):
    """Strategy -> chosen head rate, target accuracy, forgetting (points, mean ± 95% CI) and distance.

    The forgetting of the from-scratch reference is not shown: its backbone never
    learnt the source task, so there is nothing to forget.
    """
    import pandas as pd

    rows = []
    for s in strategies():
        r = results[s.name]
        rows.append({"strategy": s.name, "head rate": f"{r['peak_lr']:g}",
                     "target acc. (%)": f"{mean_ci(points(r['target_acc'])):.1f}",
                     "after epoch 1 (%)": f"{points(r['curve'][:, 0]).mean():.1f}",
                     "forgetting (points)": f"{mean_ci(points(r['forgetting'])):.1f}" if s.pretrained else "n/a",
                     "distance ‖θ − θ_pre‖": f"{mean_ci(r['distance']):.2f}"})
    return pd.DataFrame(rows).set_index("strategy")


def sweep(results: dict) -> dict:
    """The decay sweep at head rate ``SWEEP_PEAK_LR``: arrays over ``SWEEP_DECAYS`` then the frozen backbone.

    Returns
    -------
    dict
        ``decays`` (with ``inf`` last), ``names``, and ``target_acc``, ``epoch1_acc``,
        ``forgetting``, ``distance``: arrays of shape ``(n_decays + 1, n_seeds)``.
    """
    names = [s.name for s in sweep_strategies()]
    return {
        "decays": np.array(list(SWEEP_DECAYS) + [np.inf]),
        "names": names,
        "target_acc": np.stack([results[n]["target_acc"] for n in names]),
        "epoch1_acc": np.stack([results[n]["curve"][:, 0] for n in names]),
        "forgetting": np.stack([results[n]["forgetting"] for n in names]),
        "distance": np.stack([results[n]["distance"] for n in names]),
    }


def spearman(x, y) -> float:
    """Spearman's rank correlation (average ranks for ties).

    >>> spearman([1, 2, 3], [10, 20, 15])
    0.5
    """
    from scipy.stats import spearmanr

    return float(spearmanr(np.asarray(x), np.asarray(y)).statistic)


def pretrained_runs() -> list[str]:
    """Names of every run that starts from the pretrained weights (main table and sweep)."""
    return [s.name for s in strategies() if s.pretrained] + [s.name for s in sweep_strategies()]


def ranking(results: dict) -> list[str]:
    """The strategies of the main table by mean target accuracy, best first."""
    return sorted((s.name for s in strategies()), key=lambda n: -results[n]["target_acc"].mean())


def comparisons(results: dict) -> dict:
    """The paired comparisons the chapter makes, in accuracy points (distance in its own units).

    Keys ``<quantity>_<a>_<b>`` hold :func:`lrlab.stats.paired_t` of ``a - b`` over the
    seeds; keys starting with ``eq_`` hold :func:`lrlab.stats.tost` with margin
    ``100 * MARGIN`` points. Sweep keys compare consecutive decays: ``sweep_<quantity>_<i>``
    is decay ``i`` minus decay ``i + 1`` (the last one is the frozen backbone).
    ``target_best_next`` and ``target_worst_next`` compare the best (worst) strategy of
    the table by mean target accuracy with the runner-up (the next worst), see :func:`ranking`.
    """
    def q(name, key):
        r = results[name]
        if key == "epoch1":
            return points(r["curve"][:, 0])
        return r[key] if key == "distance" else points(r[key])

    pairs = {
        "target_uni_disc": ("uniform", "discriminative", "target_acc"),
        "forget_uni_disc": ("uniform", "discriminative", "forgetting"),
        "target_warm_uni": ("warmup", "uniform", "target_acc"),
        "forget_warm_uni": ("warmup", "uniform", "forgetting"),
        "target_stlr_uni": ("slanted triangular", "uniform", "target_acc"),
        "forget_stlr_uni": ("slanted triangular", "uniform", "forgetting"),
        "epoch1_grad_uni": ("gradual unfreezing", "uniform", "epoch1"),
        "target_grad_uni": ("gradual unfreezing", "uniform", "target_acc"),
        "forget_grad_uni": ("gradual unfreezing", "uniform", "forgetting"),
        "target_ulm_uni": ("ULMFiT (discr. + STLR + gradual)", "uniform", "target_acc"),
        "forget_ulm_uni": ("ULMFiT (discr. + STLR + gradual)", "uniform", "forgetting"),
        "target_scratch_uni": ("from scratch", "uniform", "target_acc"),
        "target_l2sp_uni": ("L2-SP", "uniform", "target_acc"),
        "forget_l2sp_uni": ("L2-SP", "uniform", "forgetting"),
        "dist_l2sp_uni": ("L2-SP", "uniform", "distance"),
        "dist_stlr_grad": ("slanted triangular", "gradual unfreezing", "distance"),
    }
    out = {key: paired_t(q(a, k), q(b, k)) for key, (a, b, k) in pairs.items()}
    for key in ("target_uni_disc", "forget_uni_disc", "target_warm_uni"):
        a, b, k = pairs[key]
        out[f"eq_{key}"] = tost(q(a, k), q(b, k), margin=100 * MARGIN)
    ranked = ranking(results)
    out["target_best_next"] = paired_t(q(ranked[0], "target_acc"), q(ranked[1], "target_acc"))
    out["target_worst_next"] = paired_t(q(ranked[-1], "target_acc"), q(ranked[-2], "target_acc"))
    names = [s.name for s in sweep_strategies()]
    for i, (a, b) in enumerate(zip(names[:-1], names[1:])):
        for k, tag in (("target_acc", "target"), ("epoch1", "epoch1"), ("forgetting", "forget")):
            out[f"sweep_{tag}_{i}"] = paired_t(q(a, k), q(b, k))
    k = list(SWEEP_DECAYS).index(ULMFIT_DECAY)
    out["sweep_target_first_ulmfit"] = paired_t(q(names[0], "target_acc"), q(names[k], "target_acc"))
    out["sweep_forget_first_ulmfit"] = paired_t(q(names[0], "forgetting"), q(names[k], "forgetting"))
    return out


def rho_interval(results: dict, n_boot: int = N_BOOT, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the distance-forgetting rank correlation, resampling seeds.

    A resampled seed brings all its runs (they share a pretrained network), so the
    interval respects the pairing of runs within a seed.
    """
    names = pretrained_runs()
    dist = np.stack([results[n]["distance"] for n in names], axis=1)  # (n_seeds, n_runs)
    forget = np.stack([results[n]["forgetting"] for n in names], axis=1)
    rng = np.random.default_rng(seed)
    n = dist.shape[0]
    rhos = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        rhos.append(spearman(dist[i].ravel(), forget[i].ravel()))
    lo, hi = np.quantile(rhos, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def summary(results: dict) -> dict:
    """The measured numbers the chapter's prose quotes (see the chapter and its tests).

    Per strategy (``<key>_<short>``, see ``SHORT``): ``peak`` (chosen head rate),
    ``target``, ``forget`` (points, mean), ``target_hw``, ``forget_hw`` (95% half-widths),
    ``dist``, ``epoch1``; the source accuracy before fine-tuning; the rank correlation of
    distance and forgetting over every run from the pretrained weights.
    """
    out = {}
    for name, tag in SHORT.items():
        r = results[name]
        out[f"peak_{tag}"] = r["peak_lr"]
        ci = mean_ci(points(r["target_acc"]))
        out[f"target_{tag}"], out[f"target_hw_{tag}"] = ci.mean, ci.half_width
        ci = mean_ci(points(r["forgetting"]))
        out[f"forget_{tag}"], out[f"forget_hw_{tag}"] = ci.mean, ci.half_width
        out[f"dist_{tag}"] = float(r["distance"].mean())
        out[f"epoch1_{tag}"] = float(points(r["curve"][:, 0]).mean())
    frozen = results["frozen backbone"]
    out["source_before"] = float(points(results["uniform"]["source_before"]).mean())
    out["source_before_min"] = float(points(results["uniform"]["source_before"]).min())
    out["frozen_max_abs_forget"] = float(np.max(np.abs(frozen["forgetting"])))
    out["frozen_max_distance"] = float(np.max(frozen["distance"]))
    names = pretrained_runs()
    out["rho_distance_forgetting"] = spearman(np.concatenate([results[n]["distance"] for n in names]),
                                              np.concatenate([results[n]["forgetting"] for n in names]))
    out["n_runs_rho"] = len(names) * len(results["uniform"]["distance"])
    out["rho_low"], out["rho_high"] = rho_interval(results)
    d = points(results["uniform"]["forgetting"] - results["discriminative"]["forgetting"])
    out["seeds_tost_forget_uni_disc"] = seeds_for_difference(100 * MARGIN, float(d.std(ddof=1)), alpha=0.1)
    d = points(results["uniform"]["target_acc"] - results["discriminative"]["target_acc"])
    out["seeds_tost_target_uni_disc"] = seeds_for_difference(100 * MARGIN, float(d.std(ddof=1)), alpha=0.1)
    return out


def prose(results: dict, comp: dict | None = None) -> dict:
    """Further numbers and names the chapter's sentences quote, derived from the results and comparisons.

    Sweep: ``sweep_forget_first`` (points at xi = 1), ``sweep_target_big`` (target at the largest finite
    xi), the largest p-values of the stepwise comparisons (``sweep_p_epoch1``, ``sweep_p_forget``,
    ``sweep_p_target_drop`` for the steps beyond ULMFiT's xi) and ``sweep_cost_bound`` (the largest target
    cost from xi = 1 to 2.6 the 95% interval allows). Table: ``disc_lr0``/``disc_lr1`` (the backbone rates of
    the discriminative run), ``uni_disc_forget_bound`` (the largest forgetting difference the interval
    allows), ``forget_low_tuned``/``forget_high_tuned`` (range over the tuned fine-tunes that train the
    backbone), ``best_next_name``/``worst_next_name`` (runners-up of :func:`ranking`).
    """
    comp = comparisons(results) if comp is None else comp
    sw = sweep(results)
    steps = len(SWEEP_DECAYS)
    k = list(SWEEP_DECAYS).index(ULMFIT_DECAY)
    forget = [float(points(results[n]["forgetting"]).mean()) for n in SHORT
              if n not in ("from scratch", "frozen backbone")]
    ranked = ranking(results)
    disc = results["discriminative"]["peak_lr"]
    return {
        "sweep_forget_first": float(points(sw["forgetting"][0]).mean()),
        "sweep_decay_max": max(SWEEP_DECAYS),
        "sweep_target_big": float(points(sw["target_acc"][-2]).mean()),
        "sweep_p_epoch1": max(comp[f"sweep_epoch1_{i}"].p for i in range(steps)),
        "sweep_p_forget": max(comp[f"sweep_forget_{i}"].p for i in range(steps)),
        "sweep_p_target_drop": max(comp[f"sweep_target_{i}"].p for i in range(k, steps)),
        "sweep_cost_bound": -comp["sweep_target_first_ulmfit"].low,
        "disc_lr0": disc / ULMFIT_DECAY**2,
        "disc_lr1": disc / ULMFIT_DECAY,
        "uni_disc_forget_bound": max(abs(comp["forget_uni_disc"].low), abs(comp["forget_uni_disc"].high)),
        "forget_low_tuned": min(forget),
        "forget_high_tuned": max(forget),
        "best_next_name": ranked[1],
        "worst_next_name": ranked[-2],
    }


# ---------------------------------------------------------------------------
# Exercises (ungraded; their solutions are on the page, their claims in the claims test)
# ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def epoch_steps() -> int:
    """Fine-tuning steps per epoch on the target's full training set (full batches only)."""
    _, target = tasks(device="cpu")
    return len(target.y_train) // BATCH_SIZE


def stlr_mean_formula(total_steps: int, cut_frac: float = 0.1, ratio: float = 32) -> float:
    r"""Mean of the slanted triangular rate over steps :math:`0..T-1`, in units of :math:`\eta_{\max}`.

    With :math:`\text{cut} = \lfloor T\,\text{cut\_frac}\rfloor` the fall ends at step
    :math:`E = \text{cut}/\text{cut\_frac}` (assumed an integer, as for ``cut_frac = 0.1``, and at most
    :math:`T`), and :math:`\sum_t p(t) = E/2`, so

    .. math:: \bar\eta/\eta_{\max} = \frac{1 + \bar p\,(\text{ratio}-1)}{\text{ratio}}, \qquad \bar p = \frac{E}{2T};

    when :math:`T\,\text{cut\_frac}` is an integer, :math:`E = T` and the mean is
    :math:`(\text{ratio}+1)/(2\,\text{ratio})` whatever ``cut_frac``.

    >>> stlr_mean_formula(80), (32 + 1) / 64
    (0.515625, 0.515625)
    """
    cut = math.floor(total_steps * cut_frac)
    end = round(cut / cut_frac)
    if end > total_steps:
        raise ValueError(f"the fall of the STLR ends at step {end} > total_steps={total_steps}: the formula assumes it ends within the run")
    p_bar = end / (2 * total_steps)
    return (1 + p_bar * (ratio - 1)) / ratio


def exercise_stlr_mean(total_steps=None) -> dict:
    """Mean of :func:`lrlab.fine_tuning.slanted_triangular_schedule` (peak 1) against :func:`stlr_mean_formula`.

    ``total_steps`` defaults to the chapter's run (``EPOCHS`` epochs) and the next multiple of 10.
    Returns a DataFrame indexed by T: ``cut``, ``end`` (where the fall ends), ``mean`` (of the schedule's
    rates, peak 1) and ``formula``.
    """
    import pandas as pd

    from ..fine_tuning import slanted_triangular_schedule

    if total_steps is None:
        run = EPOCHS * epoch_steps()
        total_steps = (run, 10 * math.ceil(run / 10))
    out = {}
    for T in total_steps:
        s = slanted_triangular_schedule(1.0, T)
        cut = math.floor(T * 0.1)
        out[T] = {"cut": cut, "end": round(cut / 0.1), "mean": float(np.mean(s(np.arange(T)))),
                  "formula": stlr_mean_formula(T)}
    return pd.DataFrame.from_dict(out, orient="index").rename_axis("T")


def exercise_double_rate(results: dict) -> dict:
    """The uniform rate at its chosen head rate against the sweep's xi = 1 run (uniform at ``SWEEP_PEAK_LR``), seed by seed.

    Returns
    -------
    dict
        ``low``, ``high`` (the two head rates), ``factor`` (their ratio); ``distance``: geometric-mean
        ratio of the distances with its 95% interval (paired t on log distance: ``mean``, ``low``,
        ``high``); ``forget_low``, ``forget_high`` (points, means), ``forget_ratio`` (of the means) and
        ``forget_diff`` (paired t, points); ``target_diff`` (paired t of target accuracy, points, high - low).
    """
    lo, hi = results["uniform"], results["xi = 1"]
    r = paired_t(np.log(hi["distance"]), np.log(lo["distance"]))
    return {"low": lo["peak_lr"], "high": hi["peak_lr"], "factor": hi["peak_lr"] / lo["peak_lr"],
            "distance": {"mean": float(np.exp(r.mean)), "low": float(np.exp(r.low)), "high": float(np.exp(r.high))},
            "distance_test": r,
            "forget_low": float(points(lo["forgetting"]).mean()), "forget_high": float(points(hi["forgetting"]).mean()),
            "forget_ratio": float(hi["forgetting"].mean() / lo["forgetting"].mean()),
            "forget_diff": paired_t(points(hi["forgetting"]), points(lo["forgetting"])),
            "target_diff": paired_t(points(hi["target_acc"]), points(lo["target_acc"]))}


def backbone_budget(strategy: Strategy, peak_lr: float) -> float:
    r"""The backbone's rate budget :math:`B = \sum_{l < L-1} \sum_t \eta_l(t)` of a run (:func:`lrlab.fine_tuning.rate_table`)."""
    table = rate_table(strategy, len(WIDTHS) + 1, peak_lr, EPOCHS, epoch_steps())
    return float(table[:-1].sum())


def exercise_rate_budget(results: dict) -> dict:
    """Every run from the pretrained weights: its backbone rate budget against the distance it travelled.

    Returns
    -------
    dict
        ``table`` (DataFrame, one row per run: head rate, budget, mean distance, distance per unit of
        budget, mean forgetting), ``rho`` (Spearman's rank correlation of budget and mean distance over
        the runs), ``slope`` (of log distance on log budget, over the runs with a budget that train
        without a pull back, i.e. all but L2-SP and the frozen ones) and ``lowest`` (the run with the
        least distance per unit of budget).
    """
    import pandas as pd

    by_name = {s.name: s for s in strategies() + sweep_strategies()}
    rows = []
    for name in pretrained_runs():
        r = results[name]
        b = backbone_budget(by_name[name], r["peak_lr"])
        d = float(r["distance"].mean())
        rows.append({"run": name, "head rate": r["peak_lr"], "budget B": b, "distance": d,
                     "distance / B": d / b if b > 0 else np.nan,
                     "forgetting (points)": float(points(r["forgetting"]).mean())})
    table = pd.DataFrame(rows).set_index("run")
    free = table[(table["budget B"] > 0) & (table.index != "L2-SP")]
    slope = float(np.polyfit(np.log(free["budget B"]), np.log(free["distance"]), 1)[0])
    return {"table": table, "rho": spearman(table["budget B"], table["distance"]), "slope": slope,
            "lowest": str(table["distance / B"].idxmin())}


L2SP_CURVATURES = (0.1, 1.0, 10.0)  #: curvatures of the toy target loss, in units of alpha
L2SP_LONG = 3000  #: steps for the toy run to reach its equilibrium


def heavy_ball_l2sp(h, target, alpha: float, lr: float, momentum: float, steps: int, drift: float = 0.0) -> np.ndarray:
    r"""Heavy ball (torch's SGD convention) from :math:`\theta_{\rm pre} = 0` on :math:`\sum_i h_i(\theta_i - \theta^*_i)^2/2 + \text{drift}\cdot\theta_i` plus L2-SP.

    The gradient is :math:`h(\theta - \theta^*) + \text{drift} + \alpha\theta`; returns :math:`\theta` after ``steps`` steps.

    >>> heavy_ball_l2sp([1.0], [1.0], alpha=1.0, lr=0.1, momentum=0.0, steps=500).round(6).tolist()   # h/(h + alpha)
    [0.5]
    """
    h = np.asarray(h, dtype=np.float64)
    theta = np.zeros_like(h)
    buf = np.zeros_like(h)
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), h.shape)
    for _ in range(steps):
        g = h * (theta - target) + drift + alpha * theta
        buf = momentum * buf + g
        theta = theta - lr * buf
    return theta


def exercise_l2sp(results: dict) -> dict:
    r"""L2-SP on a toy loss with the chapter's alpha, head rate and momentum, and the network's distances.

    Returns
    -------
    dict
        ``lr`` (L2-SP's chosen head rate, the rate of its uniform ladder), ``alpha``, ``steps`` (of a
        fine-tuning run), ``tau`` (:math:`(1-\mu)/(\eta\alpha)`, steps); ``equilibrium``: DataFrame over
        ``L2SP_CURVATURES`` (curvature, :math:`h/(h+\alpha)`, the toy run's fraction after ``L2SP_LONG``
        steps); ``drift_formula`` (:math:`\tau(1-e^{-T/\tau})/T`) and ``drift_sim`` (the same ratio from
        :func:`heavy_ball_l2sp` with and without the pull, flat direction, constant gradient);
        ``network``: the geometric-mean ratio of L2-SP's distance to the uniform rate's (same seeds) with
        its 95% interval, and ``same_rate`` (whether the two chose the same head rate).
    """
    import pandas as pd

    lr = results["L2-SP"]["peak_lr"]
    steps = EPOCHS * epoch_steps()
    tau = (1 - MOMENTUM) / (lr * L2SP_ALPHA)
    h = np.array(L2SP_CURVATURES) * L2SP_ALPHA
    reached = heavy_ball_l2sp(h, 1.0, L2SP_ALPHA, lr, MOMENTUM, L2SP_LONG)
    equilibrium = pd.DataFrame({"h / alpha": L2SP_CURVATURES, "h / (h + alpha)": h / (h + L2SP_ALPHA),
                                f"toy run, {L2SP_LONG} steps": reached}).set_index("h / alpha")
    pulled = heavy_ball_l2sp([0.0], 0.0, L2SP_ALPHA, lr, MOMENTUM, steps, drift=1.0)[0]
    free = heavy_ball_l2sp([0.0], 0.0, 0.0, lr, MOMENTUM, steps, drift=1.0)[0]
    r = paired_t(np.log(results["L2-SP"]["distance"]), np.log(results["uniform"]["distance"]))
    return {"lr": lr, "alpha": L2SP_ALPHA, "steps": steps, "tau": tau, "equilibrium": equilibrium,
            "drift_formula": tau * (1 - math.exp(-steps / tau)) / steps, "drift_sim": float(pulled / free),
            "network": {"mean": float(np.exp(r.mean)), "low": float(np.exp(r.low)), "high": float(np.exp(r.high))},
            "same_rate": results["L2-SP"]["peak_lr"] == results["uniform"]["peak_lr"]}


LAYER_SEEDS = (0, 1, 2)  #: seeds of the per-layer distance exercise (the first three reported seeds)


def _net_from_population(layers, k: int):
    """Member ``k`` of a stacked population (:func:`lrlab.fine_tuning.pretrain_population`) as a :class:`TransferNet`."""
    import torch

    from ..fine_tuning import make_net

    net = make_net(int(layers[0][0].shape[2]), WIDTHS, int(layers[-1][0].shape[1]), seed=0,
                   device=layers[0][0].device)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, (w, b) in zip(linears, layers):
            lin.weight.copy_(w[k])
            lin.bias.copy_(b[k])
    return net


def layer_distances(model, pretrained) -> np.ndarray:
    r"""Per layer group of the backbone, :math:`\|\theta_l - \theta_{l,\rm pre}\|_2` (weights and bias together)."""
    import torch

    new = [m for m in model.backbone if isinstance(m, torch.nn.Linear)]
    old = [m for m in pretrained.backbone if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        return np.array([float(torch.sqrt(((a.weight - b.weight).double() ** 2).sum()
                                          + ((a.bias - b.bias).double() ** 2).sum())) for a, b in zip(new, old)])


def exercise_layer_distances(seeds=LAYER_SEEDS, peak_lr: float = SWEEP_PEAK_LR, decay: float = ULMFIT_DECAY,
                             device=None) -> dict:
    r"""Per-layer distances of a uniform and a discriminative fine-tune at the same head rate, seed by seed.

    Pretrains ``seeds`` as the chapter does, fine-tunes each with :func:`lrlab.fine_tuning.fine_tune`
    (uniform, and :math:`\xi` = ``decay``) at head rate ``peak_lr``, and measures
    :func:`layer_distances`. These runs are the sweep's :math:`\xi = 1` and :math:`\xi = 2.6` runs of
    those seeds.

    Returns
    -------
    dict
        ``uniform``, ``discriminative``: arrays ``(n_seeds, n_backbone_layers)``; ``ratio`` (their
        per-seed ratio), ``predicted`` (the rate ratio :math:`\xi^{-(L-1-l)}`), ``total`` (the whole
        backbone's distance of each run, ``(2, n_seeds)``) and ``table`` (a DataFrame of the means).
    """
    from ..fine_tuning import fine_tune

    device = resolve_device(device)
    source, target = tasks(device=device)
    pre = pretrain_population(source, seeds, WIDTHS, PRETRAIN_STEPS, PRETRAIN_LR, BATCH_SIZE, MOMENTUM)
    out = {"uniform": [], "discriminative": []}
    total = {"uniform": [], "discriminative": []}
    for k, seed in enumerate(seeds):
        net = _net_from_population(pre, k)
        for name, xi in (("uniform", 1.0), ("discriminative", decay)):
            run = fine_tune(net, Strategy(name, decay=xi), source, target, epochs=EPOCHS, peak_lr=peak_lr,
                            batch_size=BATCH_SIZE, momentum=MOMENTUM, seed=seed)
            out[name].append(layer_distances(run["model"], net))
            total[name].append(run["distance"])
    import pandas as pd

    uni, disc = np.array(out["uniform"]), np.array(out["discriminative"])
    n = uni.shape[1]
    predicted = decay ** -(n - np.arange(n))
    names = [name for name, _ in layer_groups(net)][:-1]
    table = pd.DataFrame({"uniform": uni.mean(0), f"xi = {decay:g}": disc.mean(0), "ratio": (disc / uni).mean(0),
                          "rate ratio": predicted}, index=pd.Index(names, name="layer (mean over seeds)"))
    return {"uniform": uni, "discriminative": disc, "ratio": disc / uni, "predicted": predicted,
            "total": np.array([total["uniform"], total["discriminative"]]), "table": table}
