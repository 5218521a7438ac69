"""Chapter 6's parameters and experiments ("Transfer learning and fine-tuning").

Imported by ``book/transfer_learning.md`` and by ``tests/test_transfer_learning_claims.py``, so
the numbers in the book and the checks of its claims cannot drift apart.

One network is pretrained per seed on digits 0-4 and reused by every
fine-tuning strategy of that seed (on digits 5-9), so the strategies differ only
in how the rate is spread over layers and steps.

>>> [s.name for s in strategies()][:3]
['from scratch', 'uniform', 'warmup']
>>> PEAK_LR > 0 and len(SEEDS) >= 5
True
"""

from __future__ import annotations

import numpy as np

from ..device import resolve_device
from ..fine_tuning import ULMFIT_DECAY, Strategy, fine_tune, pretrain, tasks

# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------
WIDTHS = (64, 64)  # hidden layers of the backbone: 3 layer groups with the head
PRETRAIN_STEPS = 300
PRETRAIN_LR = 0.05
PEAK_LR = 0.1  # the head's rate in every strategy (the top of the layer-wise ladder)
EPOCHS = 4
BATCH_SIZE = 32
MOMENTUM = 0.9
SEEDS = (0, 1, 2, 3, 4)
L2SP_ALPHA = 0.05
SWEEP_DECAYS = (1.0, 1.6, ULMFIT_DECAY, 5.0, 10.0)  # plus the frozen backbone (decay = infinity)


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


def sweep_name(decay: float) -> str:
    """The strategy name of a point of the decay sweep (the main table's names for 1 and 2.6)."""
    if decay == 1.0:
        return "uniform"
    if decay == ULMFIT_DECAY:
        return "discriminative"
    return f"decay {decay:g}"


def sweep_strategies() -> list[Strategy]:
    """The extra runs of the decay sweep (decays not already in :func:`strategies`)."""
    return [Strategy(sweep_name(d), decay=d) for d in SWEEP_DECAYS if d not in (1.0, ULMFIT_DECAY)]


def experiment(seeds=SEEDS, device=None) -> dict:
    """Pretrain once per seed, fine-tune with every strategy (main table and sweep).

    Returns
    -------
    dict
        ``{strategy name: {"target_acc", "forgetting", "distance", "source_before",
        "source_after": float64 arrays of shape (n_seeds,), "curve": (n_seeds, EPOCHS)}}``
        plus ``"device"`` (str).
    """
    device = resolve_device(device)
    source, target = tasks(device=device)
    runs = strategies() + sweep_strategies()
    rows: dict[str, list] = {s.name: [] for s in runs}
    for seed in seeds:
        net = pretrain(source, WIDTHS, PRETRAIN_STEPS, PRETRAIN_LR, BATCH_SIZE, MOMENTUM, seed=seed)
        for s in runs:
            rows[s.name].append(fine_tune(net, s, source, target, epochs=EPOCHS, peak_lr=PEAK_LR,
                                          batch_size=BATCH_SIZE, momentum=MOMENTUM, seed=seed))
    out = {}
    for name, results in rows.items():
        out[name] = {key: np.array([r[key] for r in results], dtype=np.float64)
                     for key in ("target_acc", "forgetting", "distance", "source_before", "source_after")}
        out[name]["curve"] = np.array([r["target_curve"] for r in results], dtype=np.float64)
    out["device"] = str(device)
    return out


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1) over seeds."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1))


def paired_z(a, b) -> float:
    """Mean of the per-seed differences ``a - b`` over its standard error (paired, same pretrained net)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    se = d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean() / se) if se > 0 else float(np.sign(d.mean()) * np.inf)


def table(results: dict):
    """Strategy -> target accuracy, forgetting and distance (mean and sd over seeds), in percent / raw.

    The forgetting of the from-scratch reference is ``NaN``: its backbone never
    learnt the source task, so there is nothing to forget.
    """
    import pandas as pd

    rows = []
    for s in strategies():
        r = results[s.name]
        ta, ta_sd = mean_sd(r["target_acc"])
        fo, fo_sd = mean_sd(r["forgetting"]) if s.pretrained else (np.nan, np.nan)
        di, di_sd = mean_sd(r["distance"])
        rows.append({"strategy": s.name, "target acc. (%)": f"{100 * ta:.1f} ± {100 * ta_sd:.1f}",
                     "after epoch 1 (%)": f"{100 * r['curve'][:, 0].mean():.1f}",
                     "forgetting (points)": "n/a" if np.isnan(fo) else f"{100 * fo:.1f} ± {100 * fo_sd:.1f}",
                     "distance ‖θ − θ_pre‖": f"{di:.2f} ± {di_sd:.2f}"})
    return pd.DataFrame(rows).set_index("strategy")


def sweep(results: dict) -> dict:
    """The decay sweep: arrays over ``SWEEP_DECAYS`` followed by the frozen backbone (decay infinity).

    Returns
    -------
    dict
        ``decays`` (with ``inf`` last), ``target_acc``, ``epoch1_acc``, ``forgetting``, ``distance``:
        arrays of shape ``(n_decays + 1, n_seeds)``.
    """
    names = [sweep_name(d) for d in SWEEP_DECAYS] + ["frozen backbone"]
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


def summary(results: dict) -> dict:
    """The measured numbers the chapter's prose quotes (see the chapter and its tests).

    Keys: per-strategy means (``<key>_<short>``), paired z-scores of the comparisons
    made in the text, the rank correlation of distance and forgetting over every
    fine-tuned (pretrained) run, and the source accuracy before fine-tuning.
    """
    short = {"uniform": "uni", "warmup": "warm", "slanted triangular": "stlr", "discriminative": "disc",
             "gradual unfreezing": "grad", "ULMFiT (discr. + STLR + gradual)": "ulm", "L2-SP": "l2sp",
             "frozen backbone": "frozen", "from scratch": "scratch"}
    out = {}
    for name, tag in short.items():
        r = results[name]
        out[f"target_{tag}"], out[f"target_sd_{tag}"] = mean_sd(r["target_acc"])
        out[f"forget_{tag}"], out[f"forget_sd_{tag}"] = mean_sd(r["forgetting"])
        out[f"dist_{tag}"] = float(r["distance"].mean())
        out[f"epoch1_{tag}"] = float(r["curve"][:, 0].mean())
    uni, disc, frozen = results["uniform"], results["discriminative"], results["frozen backbone"]
    out["source_before"] = float(uni["source_before"].mean())
    out["source_before_min"] = float(uni["source_before"].min())
    out["z_forget_uni_disc"] = paired_z(uni["forgetting"], disc["forgetting"])
    out["z_target_uni_disc"] = paired_z(uni["target_acc"], disc["target_acc"])
    out["z_forget_warm_uni"] = paired_z(results["warmup"]["forgetting"], uni["forgetting"])
    out["z_target_stlr_uni"] = paired_z(results["slanted triangular"]["target_acc"], uni["target_acc"])
    out["z_forget_stlr_uni"] = paired_z(results["slanted triangular"]["forgetting"], uni["forgetting"])
    out["z_forget_grad_uni"] = paired_z(results["gradual unfreezing"]["forgetting"], uni["forgetting"])
    out["z_target_scratch_uni"] = paired_z(results["from scratch"]["target_acc"], uni["target_acc"])
    out["z_target_l2sp_disc"] = paired_z(results["L2-SP"]["target_acc"], disc["target_acc"])
    out["z_forget_l2sp_disc"] = paired_z(results["L2-SP"]["forgetting"], disc["forgetting"])
    out["frozen_max_abs_forget"] = float(np.max(np.abs(frozen["forgetting"])))
    out["frozen_max_distance"] = float(np.max(frozen["distance"]))
    pretrained = [s.name for s in strategies() if s.pretrained] + [s.name for s in sweep_strategies()]
    out["rho_distance_forgetting"] = spearman(np.concatenate([results[n]["distance"] for n in pretrained]),
                                              np.concatenate([results[n]["forgetting"] for n in pretrained]))
    out["n_runs_rho"] = len(pretrained) * len(uni["distance"])
    return out
