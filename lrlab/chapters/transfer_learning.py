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

from dataclasses import replace

import numpy as np

from ..device import resolve_device
from ..fine_tuning import ULMFIT_DECAY, Strategy, fine_tune_population, pretrain_population, rate_table, tasks
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
