r"""Chapter 5's parameters and experiments ("Scaling up: warmup, large batches, modern schedules").

Imported by ``book/scaling_up.md`` and by ``tests/test_scaling_up_claims.py``, so the
numbers in the book and the checks of its claims cannot drift apart. The networks
are :mod:`lrlab.population`'s batched MLPs on the digits.

Compared settings share their seeds (common random numbers): seed ``i`` of every
setting starts from the same network and draws the same minibatches
(:func:`lrlab.population.batch_table`), so differences are paired over seeds
(:mod:`lrlab.stats`). Sections 3 and 4 tune every schedule's peak rate on one shared
grid on ``SELECT_SEEDS`` selection seeds and report only the selected peaks on
``SCHED_SEEDS`` other seeds; final training losses are compared as paired log
ratios (:func:`log_ratio_test`), "equivalent" is a TOST with a margin fixed here
(``RATIO_MARGIN``, ``ACC_MARGIN``), and fractions of seeds that train come with
Clopper-Pearson intervals (:func:`lrlab.stats.binomial_ci`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..population import (HIDDEN, PopulationModule, batch_table, data as _data, evaluate, init_population,
                          member_losses, n_train, top_hessian_eigenvalue, train_population)
from ..device import resolve_device
from ..stats import PairedTest, binomial_ci, mean_ci, mean_sd as summarize, paired_t, tost


def mean(x) -> float:
    """Mean over seeds as a Python float.

    >>> mean([1, 2])
    1.5
    """
    return float(np.mean(x))


def fraction_text(k: int, n: int) -> str:
    """``k of n (95% CI lo to hi %)``, with the Clopper-Pearson interval of :func:`binomial_ci`.

    >>> fraction_text(2, 8)
    '2 of 8 (95% CI 3 to 65 %)'
    """
    lo, hi = binomial_ci(k, n)
    return f"{k} of {n} (95% CI {100 * lo:.0f} to {100 * hi:.0f} %)"


def _rows(schedule, total_steps: int, n_seeds: int, length: int | None = None) -> np.ndarray:
    """``n_seeds`` copies of a schedule's rates over ``total_steps``, padded with zeros (frozen) up to ``length``."""
    rates = np.asarray(schedule(np.arange(total_steps)), dtype=np.float64)
    if length is not None and length > total_steps:
        rates = np.concatenate([rates, np.zeros(length - total_steps)])
    return np.tile(rates, (n_seeds, 1))


# ---------------------------------------------------------------------------
# Section 1: why warmup
# ---------------------------------------------------------------------------
SHARP_SEEDS = 8
SHARP_LR = 0.5  # plain SGD, batch SHARP_BATCH
SHARP_BATCH = 32
SHARP_CHECKPOINTS = (0, 25, 100, 400)
WARM_SEEDS = 10
WARM_BATCH = 32
WARM_STEPS = 400
WARMUP_STEPS = 40  # linear warmup length in sections 1's experiments (10 % of the run)
SGD_RATES = (1.0, 1.4, 2.0)
ADAM_LR = 0.3
ADAM_STEPS = 300
ADAM_TAU = 20  # exponential warmup time constant (99 % of the rate after 4.6 tau = 92 steps)
TRAINED = 0.5  # a run "trains" if its final training loss is below this (ln 10 = 2.30 at chance)


def sharpness_experiment(device=None) -> dict:
    r"""Top Hessian eigenvalue :math:`h_{\max}` of the training loss along plain-SGD runs at ``SHARP_LR``.

    Returns
    -------
    dict
        ``steps`` (the checkpoints) and ``h_max`` (array ``(n_checkpoints, SHARP_SEEDS)``).
    """
    params = init_population(SHARP_SEEDS, seed=100, device=device)
    out, done = [top_hessian_eigenvalue(params, device=device)], 0
    for k, step in enumerate(SHARP_CHECKPOINTS[1:]):
        run = train_population(np.full((SHARP_SEEDS, step - done), SHARP_LR), SHARP_BATCH, seed=100 + k,
                               device=device, params=params)
        params, done = run["params"], step
        out.append(top_hessian_eigenvalue(params, device=device))
    return {"steps": np.array(SHARP_CHECKPOINTS), "h_max": np.array(out)}


def sgd_warmup_experiment(device=None) -> dict:
    """Plain SGD at each rate of ``SGD_RATES``, without and with a linear warmup of ``WARMUP_STEPS``.

    Seed ``i`` of every setting starts from the same network and sees the same minibatches.

    Returns ``{(rate, warmup_steps): final-evaluation dict of (WARM_SEEDS,) arrays}``.
    """
    from ..schedules import constant_schedule, linear_warmup

    keys, rows = [], []
    for lr in SGD_RATES:
        for warm in (0, WARMUP_STEPS):
            keys.append((lr, warm))
            rows.append(_rows(linear_warmup(constant_schedule(lr), warm), WARM_STEPS, WARM_SEEDS))
    device = resolve_device(device)
    run = train_population(np.concatenate(rows), WARM_BATCH, device=device,
                           batches=batch_table(WARM_STEPS, WARM_SEEDS, WARM_BATCH, 200, device),
                           params=_tiled_init(len(keys), WARM_SEEDS, 201, device))
    return _split(run["final"], keys, WARM_SEEDS)


def _tiled_init(n_groups: int, n_seeds: int, seed: int, device) -> list[torch.Tensor]:
    """The same ``n_seeds`` initial networks repeated for each of ``n_groups`` settings (paired comparisons)."""
    base = init_population(n_seeds, seed=seed, device=device)
    return [p.repeat((n_groups,) + (1,) * (p.dim() - 1)) for p in base]


def _split(final: dict, keys, n_seeds: int) -> dict:
    return {key: {name: values[i * n_seeds:(i + 1) * n_seeds] for name, values in final.items()}
            for i, key in enumerate(keys)}


def adam_warmup_schedules() -> dict:
    """Adam at ``ADAM_LR``: no warmup, a linear warmup of ``WARMUP_STEPS`` and an exponential one (``ADAM_TAU``)."""
    from ..scaling import exponential_warmup
    from ..schedules import constant_schedule, linear_warmup

    base = constant_schedule(ADAM_LR)
    return {"no warmup": base, f"linear warmup, {WARMUP_STEPS} steps": linear_warmup(base, WARMUP_STEPS),
            f"exponential warmup, tau = {ADAM_TAU}": exponential_warmup(base, ADAM_TAU)}


def adam_warmup_experiment(device=None) -> dict:
    """Adam at ``ADAM_LR`` with each schedule of :func:`adam_warmup_schedules`, same networks and minibatches.

    Returns ``{name: final-evaluation dict of (WARM_SEEDS,) arrays}``.
    """
    scheds = adam_warmup_schedules()
    rows = [_rows(s, ADAM_STEPS, WARM_SEEDS) for s in scheds.values()]
    device = resolve_device(device)
    run = train_population(np.concatenate(rows), WARM_BATCH, optimizer="adam", device=device,
                           batches=batch_table(ADAM_STEPS, WARM_SEEDS, WARM_BATCH, 300, device),
                           params=_tiled_init(len(scheds), WARM_SEEDS, 301, device))
    return _split(run["final"], list(scheds), WARM_SEEDS)


def adam_first_step_size(device=None) -> float:
    r"""Mean of :math:`|\Delta\theta|/\eta` over all weights after Adam's first step (the sign-like step: 1).

    With bias correction, :math:`\hat m_1 / \sqrt{\hat v_1} = g/|g|`, so every weight with a
    non-zero gradient moves by the full rate, however flat its direction.
    """
    params = init_population(1, seed=301, device=device)
    run = train_population(np.full((1, 1), 1e-3), WARM_BATCH, seed=300, optimizer="adam", device=device, params=params)
    moved = torch.cat([(a - b).abs().flatten() for a, b in zip(run["params"], params)]) / 1e-3
    moved = moved[moved > 0]  # dead pixels (always 0 in the data) and dead units get no gradient
    return float(moved.mean())


# ---------------------------------------------------------------------------
# Section 2: linear scaling and warmup
# ---------------------------------------------------------------------------
SCALE_BASE_LR = 0.1
SCALE_BASE_BATCH = 16
SCALE_SAMPLES = 16 * 1600  # the sample budget of every run (about 20 epochs)
SCALE_FACTORS = (1, 4, 8, 16, 24)
SCALE_WARMUP_FRACTION = 0.3
SCALE_SEEDS = 10
SCALE_EDGE_SEEDS = 24  # more seeds at k = 16, where the outcome depends on the seed
SCALE_EVALS = 8


def scale_seeds(k: int) -> int:
    """Seeds run at scaling factor ``k``: ``SCALE_EDGE_SEEDS`` at the edge (k = 16), else ``SCALE_SEEDS``."""
    return SCALE_EDGE_SEEDS if k == SCALE_FACTORS[-2] else SCALE_SEEDS


def scaling_experiment(device=None) -> dict:
    r"""Plain SGD at :math:`(k\eta_0, kB_0)` for each factor, same sample budget, without and with warmup.

    The warmup lasts ``SCALE_WARMUP_FRACTION`` of each run's steps (a fixed
    number of *samples*, as Goyal et al. count it in epochs).

    Returns
    -------
    dict
        ``{k: {"lr", "batch", "steps", "samples" (evaluation points), "none"/"warmup":
        {"curve" (n_evals, seeds) training loss, "final" dict}}}``.
    """
    from ..scaling import linear_scaling
    from ..schedules import constant_schedule, linear_warmup

    device = resolve_device(device)
    out = {}
    for i, k in enumerate(SCALE_FACTORS):
        batch = SCALE_BASE_BATCH * k
        lr = linear_scaling(SCALE_BASE_LR, SCALE_BASE_BATCH, batch)
        steps = SCALE_SAMPLES // batch
        warm = int(round(SCALE_WARMUP_FRACTION * steps))
        seeds = scale_seeds(k)
        rows = np.concatenate([_rows(constant_schedule(lr), steps, seeds),
                               _rows(linear_warmup(constant_schedule(lr), warm), steps, seeds)])
        every = max(1, steps // SCALE_EVALS)
        run = train_population(rows, batch, eval_every=every, device=device,
                               batches=batch_table(steps, seeds, batch, 400 + i, device),
                               params=_tiled_init(2, seeds, 401, device))
        entry = {"lr": lr, "batch": batch, "steps": steps, "warmup_steps": warm, "seeds": seeds,
                 "samples": run["steps"] * batch}
        for j, name in enumerate(("none", "warmup")):
            sl = slice(j * seeds, (j + 1) * seeds)
            entry[name] = {"curve": run["train_loss"][:, sl],
                           "final": {key: v[sl] for key, v in run["final"].items()}}
        out[k] = entry
    return out


SCALE_TOL = 0.10  #: "the rule holds": mean final training loss within 10 % of that of k = 1
CURVE_TOL = 0.20  #: curves against samples agree within 20 % over the second half of the budget


def warmup_gain_at_edge(runs: dict) -> PairedTest:
    """Paired t-test of the fraction of seeds that train (loss below ``TRAINED``), warmup minus none, at k = 16."""
    k_edge = SCALE_FACTORS[-2]
    trained = {name: (runs[k_edge][name]["final"]["train_loss"] < TRAINED).astype(float) for name in ("none", "warmup")}
    return paired_t(trained["warmup"], trained["none"])


def scaling_table(runs: dict):
    """One row per factor: rate, batch, steps, final training loss (mean and sd) and test accuracy, both warmups."""
    import pandas as pd

    rows = []
    for k, e in runs.items():
        row = {"k": k, "rate": e["lr"], "batch": e["batch"], "steps": e["steps"], "seeds": e["seeds"]}
        for name in ("none", "warmup"):
            m, s = summarize(e[name]["final"]["train_loss"])
            a, sa = summarize(e[name]["final"]["test_acc"])
            row[f"train loss ({name})"] = f"{m:.3f} ± {s:.3f}"
            row[f"test acc. ({name})"] = f"{a:.3f} ± {sa:.3f}"
            row[f"trained ({name})"] = int(np.sum(e[name]["final"]["train_loss"] < TRAINED))
        rows.append(row)
    return pd.DataFrame(rows).set_index("k")


# ---------------------------------------------------------------------------
# Sections 3 and 4: schedules at equal budgets, each at its own best peak
# ---------------------------------------------------------------------------
SCHED_BATCH = 32
SCHED_MOMENTUM = 0.9
SCHED_WARMUP = 30
BUDGETS = (150, 300, 600)
DECAY_FRACTION = 0.2
#: the shared peak grid (geometric, factor sqrt 2); every schedule is run at every peak
SCHED_PEAKS = tuple(round(0.1 * 2 ** (k / 2), 4) for k in range(-1, 7))  # 0.071 .. 0.8
SF_MOMENTUM = 0.9
#: schedule-free's z is plain SGD, momentum SGD steps about eta / (1 - mu): its grid is the shared one times 1/(1 - mu)
SF_PEAKS = tuple(round(p / (1 - SCHED_MOMENTUM), 4) for p in SCHED_PEAKS)  # 0.71 .. 8
SELECT_SEEDS = 3  #: seeds (init and batches) on which each schedule's peak is selected
SELECT_SEED = 510
SCHED_SEEDS = 12  #: other seeds on which the selected peaks are reported
REPORT_SEED = 520
METHODS = ("constant", "cosine", "WSD", "inverse sqrt", "one-cycle", "schedule-free")
ANYTIME = ("constant", "inverse sqrt", "schedule-free")  #: no stopping time: one run is evaluated at every budget
ONE_CYCLE_PCT = 0.25
ACC_MARGIN = 0.01  #: TOST margin for test accuracy: one percentage point (about 5 of the 539 test images)
#: TOST margin for training loss, as a ratio: about what one step of the peak grid costs near each optimum
RATIO_MARGIN = 1.5


def decay_lengths() -> list[int]:
    """WSD decay length of each budget: ``DECAY_FRACTION`` of it."""
    return [int(round(DECAY_FRACTION * b)) for b in BUDGETS]


def method_schedule(method: str, peak: float, budget: int):
    """Rate schedule (callable on steps) and momentum schedule (or ``None``: ``SCHED_MOMENTUM``) of one method.

    >>> rate, mom = method_schedule("WSD", 0.2, 150)
    >>> rate([0, 15, 30, 119, 150]).round(3).tolist(), mom
    ([0.0, 0.1, 0.2, 0.2, 0.0], None)
    >>> round(float(method_schedule("schedule-free", 2.0, 600)[0]([0])[0]), 4)   # gamma_t = gamma min(1, (t+1)/W)
    0.0667
    """
    from ..scaling import one_cycle_momentum
    from ..schedules import constant_schedule, inverse_sqrt_schedule, linear_warmup, one_cycle_schedule, \
        warmup_cosine_schedule, wsd_schedule

    if method == "constant":
        return linear_warmup(constant_schedule(peak), SCHED_WARMUP), None
    if method == "cosine":
        return warmup_cosine_schedule(peak, budget, SCHED_WARMUP), None
    if method == "WSD":
        return wsd_schedule(peak, budget, SCHED_WARMUP, int(round(DECAY_FRACTION * budget))), None
    if method == "inverse sqrt":
        return inverse_sqrt_schedule(peak, SCHED_WARMUP), None
    if method == "one-cycle":
        return (one_cycle_schedule(peak, budget, pct_start=ONE_CYCLE_PCT),
                one_cycle_momentum(budget, pct_start=ONE_CYCLE_PCT))
    if method == "schedule-free":  # ScheduleFreeSGD(lr=peak, warmup_steps=SCHED_WARMUP)'s rates
        return (lambda t: peak * np.minimum(1.0, (np.asarray(t, dtype=np.float64) + 1) / SCHED_WARMUP)), None
    raise ValueError(f"method must be one of {METHODS}, got method={method!r}")


def method_peaks(method: str) -> tuple:
    """The peak grid of a method: ``SF_PEAKS`` for schedule-free, ``SCHED_PEAKS`` for the others."""
    return SF_PEAKS if method == "schedule-free" else SCHED_PEAKS


def _population(n_seeds: int, init_seed: int, device):
    """Initial networks and minibatch table of one set of seeds (common random numbers across settings)."""
    return (init_population(n_seeds, seed=init_seed, device=device),
            batch_table(BUDGETS[-1], n_seeds, SCHED_BATCH, init_seed + 1, device))


def schedule_runs(cells, n_seeds: int, init_seed: int, device=None) -> dict:
    """Train every ``(method, peak)`` of ``cells`` on the same ``n_seeds`` networks and minibatches.

    Seed ``i`` of every cell starts from the same weights and sees the same minibatches
    (common random numbers). Budget-bound methods get one run per budget; the anytime
    methods (``ANYTIME``) one run of the longest budget, evaluated at every budget. Runs of
    the same length and optimizer train as one population.

    Returns
    -------
    dict
        ``{(method, budget, peak): {"train_loss", "test_loss", "test_acc"}}``, arrays ``(n_seeds,)``.
    """
    device = resolve_device(device)
    base, table = _population(n_seeds, init_seed, device)
    jobs = {}  # (optimizer, length) -> list of (method, peak)
    for method, peak in dict.fromkeys(cells):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got method={method!r}")
        opt = "schedule_free" if method == "schedule-free" else "sgd"
        for length in ((BUDGETS[-1],) if method in ANYTIME else BUDGETS):
            jobs.setdefault((opt, length), []).append((method, peak))
    out = {}
    for (opt, length), group in jobs.items():
        t = np.arange(length)
        rates, moms = [], []
        for method, peak in group:
            rate, mom = method_schedule(method, peak, length)
            rates.append(np.tile(np.asarray(rate(t), dtype=np.float64), (n_seeds, 1)))
            moms.append(np.tile(mom(t) if mom is not None else np.full(length, SCHED_MOMENTUM), (n_seeds, 1)))
        params = [p.repeat((len(group),) + (1,) * (p.dim() - 1)) for p in base]
        anytime = any(method in ANYTIME for method, _ in group)  # evaluated at every budget, else only at the end
        run = train_population(np.concatenate(rates), SCHED_BATCH, device=device, params=params, batches=table,
                               optimizer=opt, eval_every=BUDGETS[0] if anytime else None,
                               momentum=SF_MOMENTUM if opt == "schedule_free" else np.concatenate(moms))
        steps = list(run["steps"])
        for j, (method, peak) in enumerate(group):
            sl = slice(j * n_seeds, (j + 1) * n_seeds)
            for b in (BUDGETS if method in ANYTIME else (length,)):
                i = steps.index(b)
                out[(method, b, peak)] = {key: run[key][i, sl] for key in ("train_loss", "test_loss", "test_acc")}
    return out


def _log_loss(values) -> np.ndarray:
    """Natural log of final training losses; a non-finite loss (a diverged run) counts as +inf."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(v), np.log(np.where(v > 0, v, np.finfo(float).tiny)), np.inf)


def peak_selection(device=None) -> dict:
    """Every method at every peak of its grid on the ``SELECT_SEEDS`` selection seeds; the best peak per budget.

    The criterion is the mean log final training loss (the geometric mean of the loss).

    Returns
    -------
    dict
        ``runs`` (as :func:`schedule_runs`), ``score`` ``{(method, budget): array over the grid}``,
        ``best`` ``{(method, budget): peak}`` and ``index`` ``{(method, budget): grid index of the best}``.
    """
    cells = [(m, p) for m in METHODS for p in method_peaks(m)]
    runs = schedule_runs(cells, SELECT_SEEDS, SELECT_SEED, device)
    score, best, index = {}, {}, {}
    for m in METHODS:
        for b in BUDGETS:
            sc = np.array([_log_loss(runs[(m, b, p)]["train_loss"]).mean() for p in method_peaks(m)])
            score[(m, b)] = sc
            index[(m, b)] = int(np.argmin(sc))
            best[(m, b)] = method_peaks(m)[index[(m, b)]]
    return {"runs": runs, "score": score, "best": best, "index": index}


def schedule_experiment(device=None) -> dict:
    """Select each method's peak per budget (:func:`peak_selection`), then report it on ``SCHED_SEEDS`` other seeds.

    Returns
    -------
    dict
        ``selection`` (:func:`peak_selection`'s dict) and ``report``
        ``{(method, budget): {"train_loss", "test_loss", "test_acc"}}`` on the report seeds, each
        method at its own best peak for that budget.
    """
    selection = peak_selection(device)
    cells = [(m, selection["best"][(m, b)]) for m in METHODS for b in BUDGETS]
    runs = schedule_runs(cells, SCHED_SEEDS, REPORT_SEED, device)
    report = {(m, b): runs[(m, b, selection["best"][(m, b)])] for m in METHODS for b in BUDGETS}
    return {"selection": selection, "report": report}


def grid_step_costs(selection: dict) -> np.ndarray:
    """Factor by which the cheaper grid neighbour of each selected peak raises the selection loss (one per pair).

    The resolution of the tuning: differences smaller than this are below what choosing the peak on
    the grid can resolve. Requires every best peak to be interior.
    """
    out = []
    for sc in selection["score"].values():
        i = int(np.argmin(sc))
        out.append(float(np.exp(min(sc[i - 1], sc[i + 1]) - sc[i])))
    return np.array(out)


def log_ratio_test(a, b) -> PairedTest:
    r"""Paired t-test of :math:`\ln a_i - \ln b_i` (final training losses of the same seeds).

    ``exp`` of its mean and bounds is the geometric-mean ratio :math:`a/b` and its 95 % interval.

    >>> r = log_ratio_test([0.5, 1.0, 2.0, 4.0], [1.0, 2.1, 3.9, 8.0])
    >>> round(float(np.exp(r.mean)), 3), r.significant
    (0.497, True)
    """
    return paired_t(_log_loss(a), _log_loss(b))


def ratio_text(r: PairedTest) -> str:
    """A paired log-ratio test as text: ``ratio (95% CI lo to hi, paired t = .., p = .., n = ..)``.

    >>> ratio_text(log_ratio_test([0.5, 1.0, 2.0, 4.0], [1.0, 2.1, 3.9, 8.0]))
    '0.50 (95% CI 0.47 to 0.52, paired t on log loss = -45.09, p = 2.4e-05, n = 4)'
    """
    return (f"{np.exp(r.mean):.2f} (95% CI {np.exp(r.low):.2f} to {np.exp(r.high):.2f}, "
            f"paired t on log loss = {r.t:.2f}, p = {r.p:.2g}, n = {r.n})")


def compare_schedules(report: dict) -> dict:
    """The paired comparisons the chapter states, on the report seeds (each method at its own best peak).

    Returns
    -------
    dict
        ``vs_cosine[(method, budget)]``: :func:`log_ratio_test` of the method's final training loss
        against cosine's; ``wsd_vs_constant[budget]``: WSD against the constant rate;
        ``equal_loss[(method, budget)]``: TOST of the log losses against cosine's with margin
        ``ln RATIO_MARGIN``; ``equal_acc[(method, budget)]``: TOST of test accuracy against cosine's
        with margin ``ACC_MARGIN``; ``acc_vs_cosine[(method, budget)]``: paired t of test accuracy.
    """
    out = {"vs_cosine": {}, "wsd_vs_constant": {}, "equal_loss": {}, "equal_acc": {}, "acc_vs_cosine": {}}
    for b in BUDGETS:
        cos = report[("cosine", b)]
        out["wsd_vs_constant"][b] = log_ratio_test(report[("WSD", b)]["train_loss"], report[("constant", b)]["train_loss"])
        for m in METHODS:
            if m == "cosine":
                continue
            r = report[(m, b)]
            out["vs_cosine"][(m, b)] = log_ratio_test(r["train_loss"], cos["train_loss"])
            out["equal_loss"][(m, b)] = tost(_log_loss(r["train_loss"]), _log_loss(cos["train_loss"]),
                                             math.log(RATIO_MARGIN))
            out["equal_acc"][(m, b)] = tost(r["test_acc"], cos["test_acc"], ACC_MARGIN)
            out["acc_vs_cosine"][(m, b)] = paired_t(r["test_acc"], cos["test_acc"])
    return out


EQUAL_ACC_METHODS = ("WSD", "inverse sqrt", "one-cycle", "schedule-free")  #: equivalent to cosine in test accuracy


def equal_acc_loss_spread(cmp: dict) -> float:
    """Largest ratio of geometric-mean training losses among cosine and ``EQUAL_ACC_METHODS`` at the longest budget."""
    logs = [cmp["vs_cosine"][(m, BUDGETS[-1])].mean for m in EQUAL_ACC_METHODS] + [0.0]
    return float(np.exp(max(logs) - min(logs)))


def branch_comparison(branches: list[dict], report: dict, best: dict) -> dict:
    """Each WSD branch against the separately trained WSD run of its budget (same peak, same seeds).

    Only budgets whose selected WSD peak is the branches' peak (the longest budget's) are compared.
    Returns ``{budget: {"ratio": log_ratio_test, "equal": TOST on ln L with margin ln RATIO_MARGIN,
    "max_rel": largest per-seed relative difference}}``.
    """
    peak = best[("WSD", BUDGETS[-1])]
    out = {}
    for r in branches:
        b = r["total_steps"]
        if best[("WSD", b)] == peak:
            a, sep = r["result"]["train_loss"], report[("WSD", b)]["train_loss"]
            out[b] = {"ratio": log_ratio_test(a, sep), "equal": tost(_log_loss(a), _log_loss(sep), math.log(RATIO_MARGIN)),
                      "max_rel": float(np.max(np.abs(a - sep) / sep))}
    return out


def branch_experiment(peak: float, device=None) -> list[dict]:
    """WSD runs for every budget at ``peak``, branched from ONE stable momentum-SGD run on the report seeds.

    Uses :func:`lrlab.scaling.train_wsd_branches` with a torch optimizer; the report seeds' initial
    networks and minibatch table, so each branch can be compared with the separate WSD run of
    :func:`schedule_runs`. Returns its results (``result``: final evaluation dict of ``(SCHED_SEEDS,)``
    arrays) with ``steps_trained`` (the steps the whole family cost) in every entry.
    """
    from ..scaling import train_wsd_branches

    device = resolve_device(device)
    split = _data(device)
    base, table = _population(SCHED_SEEDS, REPORT_SEED, device)
    model = PopulationModule(base)
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=SCHED_MOMENTUM)
    counter = {"steps": 0}

    def train_step(step):
        idx = table[step]
        opt.zero_grad()
        model.losses(split.x_train[idx], split.y_train[idx]).sum().backward()
        opt.step()
        counter["steps"] += 1

    def evaluate_all():
        params = list(model.weights)
        tr = evaluate(params, split.x_train, split.y_train)
        te = evaluate(params, split.x_test, split.y_test)
        return {"train_loss": tr["loss"], "test_loss": te["loss"], "test_acc": te["acc"]}

    decays = decay_lengths()
    stable = [b - d for b, d in zip(BUDGETS, decays)]
    results = train_wsd_branches(model, opt, train_step, evaluate_all, peak, stable, decays,
                                 warmup_steps=SCHED_WARMUP)
    for r in results:
        r["steps_trained"] = counter["steps"]
    return results


def budget_table(report: dict, best: dict):
    """Final training loss and test accuracy (mean ± 95 % CI over the report seeds) of every method and budget."""
    import pandas as pd

    rows = []
    for (m, b), final in report.items():
        rows.append({"budget": b, "method": m, "peak": best[(m, b)],
                     "train loss": f"{mean_ci(final['train_loss']):.4f}",
                     "test accuracy": f"{mean_ci(final['test_acc']):.3f}"})
    return pd.DataFrame(rows).sort_values(["budget", "method"], kind="stable").set_index(["budget", "method"])


# ---------------------------------------------------------------------------
# Section 5: the learning-rate range test
# ---------------------------------------------------------------------------
FINDER_SEEDS = tuple(range(10))
FINDER_START = 1e-3
FINDER_END = 10.0
FINDER_STEPS = 100
FINDER_BATCH = 32


def range_test_experiment(device=None) -> list:
    """The LR range test (plain SGD, batch ``FINDER_BATCH``) on fresh digits MLPs, one per seed.

    Returns a list of :class:`lrlab.lr_finder.LRFinderResult`.
    """
    from ..lr_finder import lr_range_test

    device = resolve_device(device)
    data = _data(device)
    out = []
    for seed in FINDER_SEEDS:
        model = PopulationModule(init_population(1, seed=600 + seed, device=device))
        opt = torch.optim.SGD(model.parameters(), lr=FINDER_START)
        table = batch_table(FINDER_STEPS, 1, FINDER_BATCH, 700 + seed, device)
        out.append(lr_range_test(lambda step: model.losses(data.x_train[table[step]], data.y_train[table[step]]).sum(),
                                 model.parameters(), opt, FINDER_START, FINDER_END, FINDER_STEPS))
    return out


# ---------------------------------------------------------------------------
# Exercises (ungraded; their solutions are on the page, their claims in the claims test)
# ---------------------------------------------------------------------------
ADAM_BETAS = (0.9, 0.999)  #: torch's defaults, which the chapter's Adam runs use
BIAS_STEPS = 30  #: Adam steps run in the bias-correction exercise (the uncorrected step peaks at step 12)
BIAS_HORIZON = 5000  #: steps over which the formula is evaluated (it settles within 10 % of 1 after ~1750)
SETTLE_TOL = 0.10  #: "settled": the uncorrected step within 10 % of the rate


def adam_uncorrected_ratio(steps, beta1: float = ADAM_BETAS[0], beta2: float = ADAM_BETAS[1]) -> np.ndarray:
    r"""Adam's step over the rate for a constant gradient *without* bias correction, :math:`(1-\beta_1^t)/\sqrt{1-\beta_2^t}`.

    ``steps`` are the step numbers :math:`t = 1, 2, \dots` (after :math:`t` gradients).

    >>> adam_uncorrected_ratio([1]).round(4).tolist()      # 0.1 / sqrt(0.001)
    [3.1623]
    """
    t = np.asarray(steps, dtype=np.float64)
    return (1 - beta1**t) / np.sqrt(1 - beta2**t)


def exercise_bias_correction(steps: int = BIAS_STEPS, lr: float = 1e-3, grad: float = 0.5,
                             horizon: int = BIAS_HORIZON) -> dict:
    r"""``torch.optim.Adam`` on a linear loss (constant gradient ``grad``), with and without its bias correction.

    At every step it records the step Adam takes, :math:`|\Delta w|/\eta` (bias-corrected),
    and the step it would take without the correction, :math:`m_t/\sqrt{v_t}`, read from the
    optimizer's state (``exp_avg`` and ``exp_avg_sq`` are the uncorrected moments).

    Returns
    -------
    dict
        ``t`` (1..steps), ``corrected``, ``uncorrected`` (measured) and ``formula``
        (:func:`adam_uncorrected_ratio`); from the formula over ``horizon`` steps: ``first`` (the
        uncorrected step at t = 1), ``peak``, ``peak_step`` and ``settle_step`` (first step after the peak
        within ``SETTLE_TOL`` of 1); ``max_error`` (largest difference between measured and formula),
        ``corrected_range`` (min and max of the corrected step) and ``m_only_first`` (the first step with
        only :math:`m` corrected, :math:`1/\sqrt{1-\beta_2}`).
    """
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=lr, betas=ADAM_BETAS)
    corrected, uncorrected = np.empty(steps), np.empty(steps)
    for i in range(steps):
        before = float(w.detach())
        opt.zero_grad()
        (grad * w).sum().backward()
        opt.step()
        corrected[i] = abs(float(w.detach()) - before) / lr
        state = opt.state[w]
        uncorrected[i] = float(state["exp_avg"] / state["exp_avg_sq"].sqrt())
    t = np.arange(1, steps + 1)
    formula = adam_uncorrected_ratio(t)
    long_t = np.arange(1, horizon + 1)
    long = adam_uncorrected_ratio(long_t)
    peak = int(np.argmax(long))
    after = np.flatnonzero((long_t > long_t[peak]) & (long < 1 + SETTLE_TOL))
    if after.size == 0:
        raise ValueError(f"horizon={horizon} is too short: the uncorrected step is not yet within {SETTLE_TOL:.0%} of 1")
    return {"t": t, "corrected": corrected, "uncorrected": uncorrected, "formula": formula,
            "first": float(long[0]), "peak": float(long[peak]), "peak_step": int(long_t[peak]),
            "settle_step": int(long_t[after[0]]), "max_error": float(np.max(np.abs(uncorrected - formula))),
            "corrected_range": (float(corrected.min()), float(corrected.max())),
            "m_only_first": float(1 / np.sqrt(1 - ADAM_BETAS[1]))}


def exercise_warmup_area() -> dict:
    r"""The rate each warmup of section 1's Adam runs gives up, in steps at the peak rate: :math:`\sum_t (1 - \eta_t/\eta)`.

    Returns
    -------
    dict
        For ``"linear"`` and ``"exponential"``: ``lost`` (summed over the run), ``formula`` (discrete:
        :math:`(W+1)/2` and :math:`1/(1-e^{-1/\tau})`), ``continuous`` (:math:`W/2` and :math:`\tau`) and
        ``to_99`` (first step at 99 % of the rate or more).
    """
    scheds = list(adam_warmup_schedules().values())
    t = np.arange(ADAM_STEPS)
    out = {}
    for name, sched, formula, continuous in (
            ("linear", scheds[1], (WARMUP_STEPS + 1) / 2, WARMUP_STEPS / 2),
            ("exponential", scheds[2], 1 / (1 - math.exp(-1 / ADAM_TAU)), float(ADAM_TAU))):
        frac = np.asarray(sched(t)) / ADAM_LR
        out[name] = {"lost": float(np.sum(1 - frac)), "formula": formula, "continuous": continuous,
                     "to_99": int(np.argmax(frac >= 0.99))}
    return out


EDGE_EFFECTS = (0.1, 0.2, 0.3)  #: differences in the fraction of seeds that train, for the seed count


def exercise_edge_seeds(runs: dict, effects=EDGE_EFFECTS, power: float = 0.8) -> dict:
    r"""At the edge of the linear scaling rule (k = 16): do warmup and no warmup train the *same* seeds?

    Parameters
    ----------
    runs : dict
        :func:`scaling_experiment`'s result.

    Returns
    -------
    dict
        ``both``, ``warmup_only``, ``none_only``, ``neither`` (seed counts), ``seeds``, ``sd`` (of the
        per-seed difference of the 0/1 "trained" outcomes), ``sd_unpaired`` (the same for two independent
        groups with the measured fractions, :math:`\sqrt{p_1(1-p_1) + p_2(1-p_2)}`) and ``needed``
        ``{effect: seeds}`` for a paired t-test with the given power at level 0.05
        (:func:`lrlab.stats.seeds_for_difference`).
    """
    from ..stats import seeds_for_difference

    k_edge = SCALE_FACTORS[-2]
    warm = runs[k_edge]["warmup"]["final"]["train_loss"] < TRAINED
    none = runs[k_edge]["none"]["final"]["train_loss"] < TRAINED
    d = warm.astype(float) - none.astype(float)
    sd = float(d.std(ddof=1))
    p = np.array([warm.mean(), none.mean()])
    return {"both": int(np.sum(warm & none)), "warmup_only": int(np.sum(warm & ~none)),
            "none_only": int(np.sum(~warm & none)), "neither": int(np.sum(~warm & ~none)), "seeds": int(d.size),
            "sd": sd, "sd_unpaired": float(np.sqrt(np.sum(p * (1 - p)))),
            "needed": {e: seeds_for_difference(e, sd, power=power) for e in effects}}


#: families of WSD budgets for the branching-cost exercise
BRANCH_FAMILIES = {
    "the chapter's": BUDGETS,
    "doubling": tuple(BUDGETS[0] * 2**k for k in range(4)),
    "evenly spaced": tuple(60 * k for k in range(1, 11)),
}


def branch_costs(budgets, decay_fraction: float = DECAY_FRACTION) -> tuple[int, int]:
    r"""Steps trained for WSD runs of every budget: separately, :math:`\sum_k T_k`, and branched, :math:`\max_k S_k + \sum_k D_k`.

    :math:`D_k` = ``round(decay_fraction * T_k)`` and :math:`S_k = T_k - D_k`.

    >>> branch_costs((150, 300, 600))
    (1050, 690)
    """
    decays = [int(round(decay_fraction * b)) for b in budgets]
    return int(sum(budgets)), int(max(b - d for b, d in zip(budgets, decays)) + sum(decays))


def counted_branch_cost(budgets, decay_fraction: float = DECAY_FRACTION) -> int:
    """Steps :func:`lrlab.scaling.train_wsd_branches` actually takes for WSD runs of ``budgets`` (a stand-in model)."""
    from ..scaling import train_wsd_branches

    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=SCHED_MOMENTUM)
    counter = {"steps": 0}

    def train_step(step):
        counter["steps"] += 1

    decays = [int(round(decay_fraction * b)) for b in budgets]
    train_wsd_branches(model, opt, train_step, lambda: None, 1.0, [b - d for b, d in zip(budgets, decays)], decays,
                       warmup_steps=SCHED_WARMUP)
    return counter["steps"]


def exercise_branch_cost(families: dict = BRANCH_FAMILIES, decay_fraction: float = DECAY_FRACTION):
    r"""Cost of branched against separate WSD runs for each family of budgets, by formula and counted.

    Returns a DataFrame (one row per family): budgets, separate and branched cost (formula),
    branched cost counted by :func:`counted_branch_cost`, their ratio, and the ratio's ``limit`` for
    many budgets: :math:`(1+\delta)/2` for doubling budgets, :math:`\delta` for evenly spaced ones.
    """
    import pandas as pd

    limits = {"doubling": (1 + decay_fraction) / 2, "evenly spaced": decay_fraction}
    rows = []
    for name, budgets in families.items():
        separate, branched = branch_costs(budgets, decay_fraction)
        rows.append({"budgets": name, "n": len(budgets), "longest": max(budgets), "separate": separate,
                     "branched": branched, "counted": counted_branch_cost(budgets, decay_fraction),
                     "ratio": branched / separate, "limit": limits.get(name, np.nan)})
    return pd.DataFrame(rows).set_index("budgets")


def exercise_one_cycle(budget: int = BUDGETS[-1], fixed=(SCHED_MOMENTUM, 0.95)) -> dict:
    r"""The effective step :math:`\eta_t/(1-\mu_t)` of section 3's one-cycle (peak 1), with its cycled momentum and with fixed ones.

    Returns
    -------
    dict
        ``t``, ``rate``, ``momentum``, ``effective`` (cycled) arrays; ``start``, ``peak`` (effective step
        at step 0 and at the rate's peak), ``peak_step``, ``rise`` (``peak / start``) and ``formula``
        (``div_factor (1 - mu_max) / (1 - mu_min)``); ``fixed`` ``{mu: (start, peak, rise)}``; ``table``
        (a DataFrame of the same, peak rate 1).
    """
    import pandas as pd

    rate, mom = method_schedule("one-cycle", 1.0, budget)
    t = np.arange(budget)
    r, mu = np.asarray(rate(t)), np.asarray(mom(t))
    eff = r / (1 - mu)
    i = int(np.argmax(r))
    p = rate.params
    formula = p["div_factor"] * (1 - mom.params["max_momentum"]) / (1 - mom.params["base_momentum"])
    return {"t": t, "rate": r, "momentum": mu, "effective": eff, "start": float(eff[0]), "peak": float(eff[i]),
            "peak_step": i, "rise": float(eff[i] / eff[0]), "formula": float(formula),
            "max_momentum": mom.params["max_momentum"], "base_momentum": mom.params["base_momentum"],
            "div_factor": p["div_factor"],
            "fixed": {m: (float(r[0] / (1 - m)), float(r[i] / (1 - m)), float(r[i] / r[0])) for m in fixed},
            "table": pd.DataFrame([(float(eff[0]), float(eff[i]), float(eff[i] / eff[0]))]
                                  + [(r[0] / (1 - m), r[i] / (1 - m), r[i] / r[0]) for m in fixed],
                                  columns=["effective step at t = 0", "at the peak", "rise"],
                                  index=pd.Index(["cycled"] + [f"fixed {m:g}" for m in fixed], name="momentum"))}


AVG_RATES = (0.1, 0.2)  #: the rate gamma and twice it
AVG_STEPS = 500
AVG_CHAINS = 10_000  #: independent 1-D quadratics (one coordinate each)
AVG_H = 1.0
AVG_SIGMA2 = 1.0


def averaged_variance(lr: float, steps: int, h: float = AVG_H, sigma2: float = AVG_SIGMA2) -> float:
    r"""Exact :math:`\mathrm{Var}(x_t)` of the plain average of SGD's iterates :math:`z_1..z_t` on :math:`h\theta^2/2` from :math:`z_0 = 0`.

    .. math:: \mathrm{Var}(x_t) = \frac{\sigma^2}{h^2 t^2} \sum_{m=1}^{t} \big(1 - (1 - \gamma h)^m\big)^2
              \;\to\; \frac{\sigma^2}{h^2 t},

    with gradient noise of variance :math:`\sigma^2`; the rate :math:`\gamma` enters only the transient.

    >>> round(averaged_variance(1.0, 10), 6)     # gamma h = 1: z_m is pure noise, Var = sigma^2 / t
    0.1
    """
    m = np.arange(1, steps + 1, dtype=np.float64)
    return float(sigma2 / (h**2 * steps**2) * np.sum((1 - (1 - lr * h) ** m) ** 2))


def exercise_averaging(rates=AVG_RATES, steps: int = AVG_STEPS, n_chains: int = AVG_CHAINS, h: float = AVG_H,
                       sigma2: float = AVG_SIGMA2, seed: int = 0):
    r"""Schedule-free SGD with :math:`\beta = 0` (SGD plus its running average) on ``n_chains`` noisy 1-D quadratics.

    Every chain starts at the minimum, :math:`z_0 = 0`, and gets gradients :math:`h y_t + \xi_t`,
    :math:`\xi_t \sim \mathcal N(0, \sigma^2)`; every rate sees the same noise. After ``steps`` steps the
    Monte Carlo second moments of the SGD iterate :math:`z` and of the average :math:`x` are compared with
    the exact values: :math:`z`'s noise floor :math:`\gamma\sigma^2/(h(2-\gamma h))` (times
    :math:`1 - (1-\gamma h)^{2t}`) and :func:`averaged_variance`.

    Returns a DataFrame, one row per rate.
    """
    import pandas as pd

    from ..schedule_free import ScheduleFreeSGD

    rows = []
    for lr in rates:
        gen = torch.Generator().manual_seed(int(seed))
        w = torch.zeros(n_chains, dtype=torch.float64, requires_grad=True)
        opt = ScheduleFreeSGD([w], lr=lr, momentum=0.0)
        for _ in range(steps):
            w.grad = h * w.detach() + math.sqrt(sigma2) * torch.randn(n_chains, generator=gen, dtype=torch.float64)
            opt.step()
        z = opt.state[w]["z"].clone()
        opt.eval()  # the parameters now hold the average x
        x = w.detach().clone()
        row = {"rate": lr}
        for name, v in (("z", z), ("x", x)):
            sq = (v**2).numpy()
            row[f"E[{name}^2] (Monte Carlo)"] = float(sq.mean())
            row[f"{name} stderr"] = float(sq.std(ddof=1) / math.sqrt(n_chains))
        row["E[z^2] (exact)"] = lr * sigma2 / (h * (2 - lr * h)) * (1 - (1 - lr * h) ** (2 * steps))
        row["E[x^2] (exact)"] = averaged_variance(lr, steps, h, sigma2)
        row["sigma^2/(h^2 t)"] = sigma2 / (h**2 * steps)
        rows.append(row)
    return pd.DataFrame(rows).set_index("rate")
