r"""Chapter 5's parameters and experiments ("Scaling up: warmup, large batches, modern schedules").

Imported by ``book/scaling_up.md`` and by ``tests/test_scaling_up_claims.py``, so the
numbers in the book and the checks of its claims cannot drift apart. The networks
are :mod:`lrlab.population`'s batched MLPs on the digits.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..population import (HIDDEN, PopulationModule, batch_table, data as _data, evaluate, init_population,
                          member_losses, n_train, top_hessian_eigenvalue, train_population)
from ..stats import mean_sd as summarize

def _rows(schedule, total_steps: int, n_seeds: int, length: int | None = None) -> np.ndarray:
    """``n_seeds`` copies of a schedule's rates over ``total_steps``, padded with zeros (frozen) up to ``length``."""
    rates = np.asarray(schedule(np.arange(total_steps)), dtype=np.float64)
    if length is not None and length > total_steps:
        rates = np.concatenate([rates, np.zeros(length - total_steps)])
    return np.tile(rates, (n_seeds, 1))


# ---------------------------------------------------------------------------
# Section 1: why warmup
# ---------------------------------------------------------------------------
SHARP_SEEDS = 4
SHARP_LR = 0.5  # plain SGD, batch SHARP_BATCH
SHARP_BATCH = 32
SHARP_CHECKPOINTS = (0, 25, 100, 400)
WARM_SEEDS = 8
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

    Returns ``{(rate, warmup_steps): final-evaluation dict of (WARM_SEEDS,) arrays}``.
    """
    from ..schedules import constant_schedule, linear_warmup

    keys, rows = [], []
    for lr in SGD_RATES:
        for warm in (0, WARMUP_STEPS):
            keys.append((lr, warm))
            rows.append(_rows(linear_warmup(constant_schedule(lr), warm), WARM_STEPS, WARM_SEEDS))
    run = train_population(np.concatenate(rows), WARM_BATCH, seed=200,
                           init_seed=201, device=device, params=_tiled_init(len(keys), WARM_SEEDS, 201, device))
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
    """Adam at ``ADAM_LR`` with each schedule of :func:`adam_warmup_schedules`, same initial networks.

    Returns ``{name: final-evaluation dict of (WARM_SEEDS,) arrays}``.
    """
    scheds = adam_warmup_schedules()
    rows = [_rows(s, ADAM_STEPS, WARM_SEEDS) for s in scheds.values()]
    run = train_population(np.concatenate(rows), WARM_BATCH, seed=300, optimizer="adam", device=device,
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
SCALE_FACTORS = (1, 2, 4, 8, 16, 24)
SCALE_WARMUP_FRACTION = 0.3
SCALE_SEEDS = 6
SCALE_EDGE_SEEDS = 24  # more seeds where the outcome depends on the seed (k = 16, 24): 6 gave flukes
SCALE_EVALS = 8


def scale_seeds(k: int) -> int:
    """Seeds run at scaling factor ``k``: ``SCALE_EDGE_SEEDS`` from k = 16 on, else ``SCALE_SEEDS``."""
    return SCALE_EDGE_SEEDS if k >= 16 else SCALE_SEEDS


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
        run = train_population(rows, batch, seed=400 + i, eval_every=every, device=device,
                               params=_tiled_init(2, seeds, 401, device))
        entry = {"lr": lr, "batch": batch, "steps": steps, "warmup_steps": warm, "seeds": seeds,
                 "samples": run["steps"] * batch}
        for j, name in enumerate(("none", "warmup")):
            sl = slice(j * seeds, (j + 1) * seeds)
            entry[name] = {"curve": run["train_loss"][:, sl],
                           "final": {key: v[sl] for key, v in run["final"].items()}}
        out[k] = entry
    return out


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
# Sections 3 and 4: schedules at equal budgets, WSD branches, schedule-free SGD
# ---------------------------------------------------------------------------
SCHED_SEEDS = 6
SCHED_BATCH = 32
SCHED_MOMENTUM = 0.9
SCHED_PEAK = 0.15
SCHED_WARMUP = 30
BUDGETS = (150, 300, 600)
DECAY_FRACTION = 0.2
SF_LRS = (1.0, 3.0)
SF_MOMENTUM = 0.9


def decay_lengths() -> list[int]:
    """WSD decay length of each budget: ``DECAY_FRACTION`` of it."""
    return [int(round(DECAY_FRACTION * b)) for b in BUDGETS]


def schedule_zoo() -> dict:
    """The schedules trained by :func:`schedule_experiment`: ``{name: (rate schedule, momentum schedule or None, budget)}``."""
    from ..scaling import one_cycle_momentum
    from ..schedules import constant_schedule, inverse_sqrt_schedule, linear_warmup, one_cycle_schedule, \
        warmup_cosine_schedule

    last = BUDGETS[-1]
    zoo = {f"cosine, T = {b}": (warmup_cosine_schedule(SCHED_PEAK, b, SCHED_WARMUP), None, b) for b in BUDGETS}
    zoo["constant"] = (linear_warmup(constant_schedule(SCHED_PEAK), SCHED_WARMUP), None, last)
    zoo["inverse sqrt"] = (inverse_sqrt_schedule(SCHED_PEAK, SCHED_WARMUP), None, last)
    zoo["one-cycle (momentum 0.95 -> 0.85 -> 0.95)"] = (one_cycle_schedule(SCHED_PEAK, last, pct_start=0.25),
                                                        one_cycle_momentum(last, pct_start=0.25), last)
    return zoo


def schedule_experiment(device=None) -> dict:
    """Momentum SGD with every schedule of :func:`schedule_zoo` (one population, shorter runs frozen by zero rates).

    Returns ``{name: {"final": dict of (SCHED_SEEDS,) arrays, "budget": int}}``; evaluation at the end
    of the longest budget equals evaluation at the end of each run, since a zero rate freezes the weights.
    """
    zoo = schedule_zoo()
    last = BUDGETS[-1]
    rates = np.concatenate([_rows(s, b, SCHED_SEEDS, last) for s, _, b in zoo.values()])
    moms = np.concatenate([np.tile(m(np.arange(last)) if m is not None else np.full(last, SCHED_MOMENTUM),
                                   (SCHED_SEEDS, 1)) for _, m, _ in zoo.values()])
    run = train_population(rates, SCHED_BATCH, seed=500, momentum=moms, device=device, eval_every=BUDGETS[0],
                           params=_tiled_init(len(zoo), SCHED_SEEDS, 501, device))
    finals = _split(run["final"], list(zoo), SCHED_SEEDS)
    out = {name: {"final": finals[name], "budget": b} for name, (_, _, b) in zoo.items()}
    # the constant run evaluated at every budget (it needs no stopping time either)
    j = list(zoo).index("constant")
    sl = slice(j * SCHED_SEEDS, (j + 1) * SCHED_SEEDS)
    steps = list(run["steps"])
    out["constant"]["by_budget"] = {b: {"train_loss": run["train_loss"][steps.index(b), sl],
                                        "test_loss": run["test_loss"][steps.index(b), sl],
                                        "test_acc": run["test_acc"][steps.index(b), sl]} for b in BUDGETS}
    return out


def wsd_branch_experiment(device=None) -> list[dict]:
    """WSD runs for every budget, branched from ONE stable momentum-SGD run (:func:`lrlab.scaling.train_wsd_branches`).

    Returns the list of :func:`train_wsd_branches` results, whose ``result`` holds the
    final evaluation dict of ``(SCHED_SEEDS,)`` arrays, plus ``steps_trained`` (the
    steps the shared run costs) in every entry.
    """
    from ..scaling import train_wsd_branches

    device = resolve_device(device)
    data = _data(device)
    model = PopulationModule(init_population(SCHED_SEEDS, seed=501, device=device))
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=SCHED_MOMENTUM)
    table = batch_table(BUDGETS[-1], SCHED_SEEDS, SCHED_BATCH, 502, device)
    counter = {"steps": 0}

    def train_step(step):
        idx = table[step]
        opt.zero_grad()
        model.losses(data.x_train[idx], data.y_train[idx]).sum().backward()
        opt.step()
        counter["steps"] += 1

    def evaluate_all():
        params = list(model.weights)
        tr = evaluate(params, data.x_train, data.y_train)
        te = evaluate(params, data.x_test, data.y_test)
        return {"train_loss": tr["loss"], "test_loss": te["loss"], "test_acc": te["acc"]}

    decays = decay_lengths()
    stable = [b - d for b, d in zip(BUDGETS, decays)]
    results = train_wsd_branches(model, opt, train_step, evaluate_all, SCHED_PEAK, stable, decays,
                                 warmup_steps=SCHED_WARMUP)
    for r in results:
        r["steps_trained"] = counter["steps"]
    return results


def schedule_free_experiment(device=None) -> dict:
    """Schedule-free SGD at each rate of ``SF_LRS`` (warmup ``SCHED_WARMUP``), evaluated at x after every budget.

    One run per rate serves all budgets: schedule-free SGD needs no stopping time.
    Returns ``{lr: {budget: final-evaluation dict of (SCHED_SEEDS,) arrays}}``.
    """
    from ..schedule_free import ScheduleFreeSGD

    device = resolve_device(device)
    data = _data(device)
    table = batch_table(BUDGETS[-1], SCHED_SEEDS, SCHED_BATCH, 502, device)
    out = {}
    for lr in SF_LRS:
        model = PopulationModule(init_population(SCHED_SEEDS, seed=501, device=device))
        opt = ScheduleFreeSGD(model.parameters(), lr=lr, momentum=SF_MOMENTUM, warmup_steps=SCHED_WARMUP)
        out[lr] = {}
        for t in range(BUDGETS[-1]):
            idx = table[t]
            opt.zero_grad()
            model.losses(data.x_train[idx], data.y_train[idx]).sum().backward()
            opt.step()
            if t + 1 in BUDGETS:
                opt.eval()
                params = list(model.weights)
                tr = evaluate(params, data.x_train, data.y_train)
                te = evaluate(params, data.x_test, data.y_test)
                out[lr][t + 1] = {"train_loss": tr["loss"], "test_loss": te["loss"], "test_acc": te["acc"]}
                opt.train()
    return out


def budget_table(zoo_runs: dict, branches: list[dict], sf_runs: dict):
    """Final training loss and test accuracy (mean ± sd over seeds) for every method and budget."""
    import pandas as pd

    rows = []

    def add(method, budget, final):
        m, s = summarize(final["train_loss"])
        a, sa = summarize(final["test_acc"])
        rows.append({"method": method, "budget": budget, "train loss": m, "train loss sd": s,
                     "test accuracy": a, "test accuracy sd": sa})

    for name, r in zoo_runs.items():
        if name == "constant":
            for b, final in r["by_budget"].items():
                add(name, b, final)
        else:
            add(name.split(",")[0] if name.startswith("cosine") else name, r["budget"], r["final"])
    for r in branches:
        add("WSD (branched)", r["total_steps"], r["result"])
    for lr, by_budget in sf_runs.items():
        for b, final in by_budget.items():
            add(f"schedule-free, lr = {lr:g}", b, final)
    return pd.DataFrame(rows).sort_values(["budget", "method"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------
# Section 5: the learning-rate range test
# ---------------------------------------------------------------------------
FINDER_SEEDS = (0, 1, 2)
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
