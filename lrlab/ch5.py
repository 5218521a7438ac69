r"""Chapter 5's parameters and experiments ("Scaling up: warmup, large batches, modern schedules").

Imported by ``book/scaling_up.md`` and by ``tests/test_ch5_claims.py``, so the
numbers in the book and the checks of its claims cannot drift apart.

All experiments train a small MLP on scikit-learn's bundled digits
(:func:`lrlab.data.digits`). To fit the chapter's CPU budget, many networks
train at once as one *population*: every weight tensor carries a leading axis
of members (seeds, rates or schedules), the forward pass is a batched matrix
product, and the training loss summed over members has the members' own
gradients as its blocks (their Hessian is block-diagonal too). Each member
draws its own minibatches and follows its own rate (and momentum) schedule.

>>> pop = init_population(3, seed=0, device="cpu")
>>> [tuple(p.shape) for p in pop]
[(3, 64, 64), (3, 64), (3, 64, 10), (3, 10)]
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .data import digits
from .device import resolve_device

HIDDEN = 64
N_CLASSES = 10
SPLIT_SEED = 0

__all__ = [
    "HIDDEN",
    "init_population",
    "forward",
    "member_losses",
    "train_population",
    "top_hessian_eigenvalue",
]


# ---------------------------------------------------------------------------
# The population of MLPs
# ---------------------------------------------------------------------------


def _data(device):
    return digits(split_seed=SPLIT_SEED, device=device)


def n_train() -> int:
    """Number of training examples of the chapter's digits split.

    >>> n_train()
    1258
    """
    return int(_data("cpu").y_train.shape[0])


def init_population(n_members: int, seed: int = 0, device=None, hidden: int = HIDDEN) -> list[torch.Tensor]:
    r"""Weights of ``n_members`` MLPs 64 -> ``hidden`` -> 10 with torch's default ``nn.Linear`` init.

    Each layer's weights and biases are uniform on :math:`\pm 1/\sqrt{\text{fan-in}}`,
    drawn from a generator seeded with ``seed`` on ``device``: member ``i`` is
    the same network whatever the population size (it is drawn ``i``-th).

    Returns
    -------
    list of torch.Tensor
        ``[W1 (P, 64, H), b1 (P, H), W2 (P, H, 10), b2 (P, 10)]``, float32.
    """
    device = resolve_device(device)
    gen = torch.Generator(device=device).manual_seed(int(seed))
    shapes = [((64, hidden), 64), ((hidden,), 64), ((hidden, N_CLASSES), hidden), ((N_CLASSES,), hidden)]
    out = []
    for shape, fan_in in shapes:
        bound = 1.0 / math.sqrt(fan_in)
        u = torch.rand((n_members, *shape), generator=gen, device=device)
        out.append((2 * u - 1) * bound)
    return out


def forward(params, x: torch.Tensor) -> torch.Tensor:
    """Logits ``(P, n, 10)`` of every member on inputs ``x``: ``(n, 64)`` shared or ``(P, n, 64)`` per member."""
    w1, b1, w2, b2 = params
    if x.dim() == 2:
        hidden = torch.relu(torch.einsum("ni,pih->pnh", x, w1) + b1[:, None, :])
    else:
        hidden = torch.relu(torch.bmm(x, w1) + b1[:, None, :])
    return torch.bmm(hidden, w2) + b2[:, None, :]


def member_losses(params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of every member, shape ``(P,)``; ``y`` is ``(n,)`` shared or ``(P, n)``."""
    logits = forward(params, x)
    p, n, c = logits.shape
    yy = y.expand(p, n) if y.dim() == 1 else y
    return torch.nn.functional.cross_entropy(logits.reshape(p * n, c), yy.reshape(p * n), reduction="none").view(p, n).mean(1)


@torch.no_grad()
def evaluate(params, x, y) -> dict:
    """Full-data loss and accuracy of every member (numpy arrays of shape ``(P,)``)."""
    logits = forward(params, x)
    p, n, c = logits.shape
    loss = torch.nn.functional.cross_entropy(logits.reshape(p * n, c), y.expand(p, n).reshape(p * n),
                                             reduction="none").view(p, n).mean(1)
    acc = (logits.argmax(-1) == y).float().mean(1)
    return {"loss": loss.double().cpu().numpy(), "acc": acc.double().cpu().numpy()}


def train_population(
    rates,
    batch_size: int,
    seed: int = 0,
    momentum=0.0,
    device=None,
    eval_every: int | None = None,
    init_seed: int | None = None,
    params=None,
    optimizer: str = "sgd",
    betas: tuple = (0.9, 0.999),
) -> dict:
    r"""Train a population with heavy-ball SGD, member ``i`` at rate ``rates[i, t]`` and momentum ``momentum[i, t]``.

    The update is PyTorch's: :math:`v \leftarrow \mu v + g`, :math:`\theta \leftarrow \theta - \eta v`
    (plain SGD for :math:`\mu = 0`). With ``optimizer="adam"`` it is Adam (Kingma & Ba 2015, with
    bias correction, :math:`\epsilon = 10^{-8}`, ``betas``; ``momentum`` is then ignored). Each member draws its own minibatches of
    ``batch_size`` examples (with replacement across steps, without inside a
    step) from a generator seeded with ``seed``.

    Parameters
    ----------
    rates : array_like, shape (P, T)
        The rate of every member at every step (rows are schedules evaluated on ``0 .. T-1``).
    batch_size : int
    seed : int
        Seed of the minibatch draws (and of the initial weights unless ``init_seed``).
    momentum : float or array_like of shape (P, T)
    eval_every : int, optional
        Record full training loss, test loss and test accuracy every so many steps (and at the end).
    init_seed : int, optional
        Seed of the initial weights (default ``seed``).
    params : list of tensors, optional
        Start from these weights instead (copied).

    Returns
    -------
    dict
        ``params`` (final weights), ``steps`` (evaluation steps), ``train_loss``,
        ``test_loss``, ``test_acc`` (arrays ``(n_evals, P)``), ``final`` (the last
        evaluation, a dict of ``(P,)`` arrays), ``diverged`` (bool ``(P,)``: a
        non-finite loss, or a final training loss above the initial one).
    """
    device = resolve_device(device)
    data = _data(device)
    rates = np.atleast_2d(np.asarray(rates, dtype=np.float64))
    n_members, total = rates.shape
    mom = np.broadcast_to(np.asarray(momentum, dtype=np.float64), rates.shape) if np.ndim(momentum) else None
    if params is None:
        params = init_population(n_members, seed=seed if init_seed is None else init_seed, device=device)
    params = [p.detach().clone().requires_grad_(True) for p in params]
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got optimizer={optimizer!r}")
    bufs = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params]
    beta1, beta2 = betas
    lr_t = torch.as_tensor(rates.T.copy(), dtype=torch.float32, device=device)  # (T, P)
    mom_t = None if mom is None else torch.as_tensor(mom.T.copy(), dtype=torch.float32, device=device)
    mu_scalar = float(momentum) if mom is None else None
    gen = torch.Generator(device=device).manual_seed(int(seed) + 7919)
    n = data.x_train.shape[0]
    x, y = data.x_train, data.y_train
    eval_steps = sorted(set(range(0, total, eval_every)) | {total}) if eval_every else [0, total]
    record = {"steps": [], "train_loss": [], "test_loss": [], "test_acc": []}

    def log(step):
        tr = evaluate(params, x, y)
        te = evaluate(params, data.x_test, data.y_test)
        record["steps"].append(step)
        record["train_loss"].append(tr["loss"])
        record["test_loss"].append(te["loss"])
        record["test_acc"].append(te["acc"])

    for t in range(total):
        if t in eval_steps:
            log(t)
        idx = torch.rand(n_members, n, generator=gen, device=device).argsort(1)[:, :batch_size]
        loss = member_losses(params, x[idx], y[idx]).sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            lr = lr_t[t]
            for p, g, b, v2 in zip(params, grads, bufs, second):
                shape = (-1,) + (1,) * (p.dim() - 1)
                if optimizer == "adam":
                    b.mul_(beta1).add_(g, alpha=1 - beta1)
                    v2.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    step_dir = (b / (1 - beta1 ** (t + 1))) / ((v2 / (1 - beta2 ** (t + 1))).sqrt() + 1e-8)
                    p.sub_(lr.view(shape) * step_dir)
                    continue
                if mom_t is not None:
                    b.mul_(mom_t[t].view(shape)).add_(g)
                elif mu_scalar:
                    b.mul_(mu_scalar).add_(g)
                else:
                    b.copy_(g)
                p.sub_(lr.view(shape) * b)
    log(total)
    out = {k: np.array(v) for k, v in record.items()}
    out["params"] = [p.detach() for p in params]
    out["final"] = {"train_loss": out["train_loss"][-1], "test_loss": out["test_loss"][-1], "test_acc": out["test_acc"][-1]}
    first = out["train_loss"][0]
    last = out["train_loss"][-1]
    out["diverged"] = ~np.isfinite(last) | (last > first)
    return out


def top_hessian_eigenvalue(params, iters: int = 20, seed: int = 0, device=None) -> np.ndarray:
    r"""Largest Hessian eigenvalue :math:`h_{\max}` of every member's full training loss, by power iteration.

    Each iteration is one Hessian-vector product (double backward) for all
    members at once; the estimate is the Rayleigh quotient :math:`v^\top H v`
    of the unit vector :math:`v` after ``iters`` iterations. Chapter 1's
    stability limit for plain SGD at that point is :math:`2/h_{\max}`.
    """
    device = resolve_device(device)
    data = _data(device)
    params = [p.detach().clone().requires_grad_(True) for p in params]
    gen = torch.Generator(device=device).manual_seed(int(seed))
    loss = member_losses(params, data.x_train, data.y_train).sum()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    v = [torch.randn(p.shape, generator=gen, device=device) for p in params]

    def normalize(vs):
        norm = torch.sqrt(sum((u.flatten(1) ** 2).sum(1) for u in vs))
        return [u / norm.view((-1,) + (1,) * (u.dim() - 1)) for u in vs]

    v = normalize(v)
    eig = None
    for _ in range(iters):
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
        eig = sum((a * b).flatten(1).sum(1) for a, b in zip(v, hv))
        v = normalize([h.detach() for h in hv])
    return eig.detach().double().cpu().numpy()


def summarize(values, axis=-1) -> tuple[float, float]:
    """Mean and sample standard deviation over seeds (the last axis), as Python floats."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean(axis)), float(values.std(axis, ddof=1))


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
    from .schedules import constant_schedule, linear_warmup

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
    from .scaling import exponential_warmup
    from .schedules import constant_schedule, linear_warmup

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
    from .scaling import linear_scaling
    from .schedules import constant_schedule, linear_warmup

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
    from .scaling import one_cycle_momentum
    from .schedules import constant_schedule, inverse_sqrt_schedule, linear_warmup, one_cycle_schedule, \
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


class _Population(torch.nn.Module):
    """The population's weights as a module, so that torch optimizers and state dicts apply."""

    def __init__(self, params):
        super().__init__()
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(p.detach().clone()) for p in params])

    def losses(self, x, y):
        return member_losses(list(self.weights), x, y)


def _batch_table(steps: int, n_members: int, batch: int, seed: int, device) -> torch.Tensor:
    """Minibatch indices of every step, ``(steps, n_members, batch)``: step ``t`` always gets the same batch."""
    data = _data(device)
    gen = torch.Generator(device=device).manual_seed(int(seed))
    n = data.x_train.shape[0]
    return torch.rand(steps, n_members, n, generator=gen, device=device).argsort(-1)[..., :batch]


def wsd_branch_experiment(device=None) -> list[dict]:
    """WSD runs for every budget, branched from ONE stable momentum-SGD run (:func:`lrlab.scaling.train_wsd_branches`).

    Returns the list of :func:`train_wsd_branches` results, whose ``result`` holds the
    final evaluation dict of ``(SCHED_SEEDS,)`` arrays, plus ``steps_trained`` (the
    steps the shared run costs) in every entry.
    """
    from .scaling import train_wsd_branches

    device = resolve_device(device)
    data = _data(device)
    model = _Population(init_population(SCHED_SEEDS, seed=501, device=device))
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=SCHED_MOMENTUM)
    table = _batch_table(BUDGETS[-1], SCHED_SEEDS, SCHED_BATCH, 502, device)
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
    from .schedule_free import ScheduleFreeSGD

    device = resolve_device(device)
    data = _data(device)
    table = _batch_table(BUDGETS[-1], SCHED_SEEDS, SCHED_BATCH, 502, device)
    out = {}
    for lr in SF_LRS:
        model = _Population(init_population(SCHED_SEEDS, seed=501, device=device))
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
    from .lr_finder import lr_range_test

    device = resolve_device(device)
    data = _data(device)
    out = []
    for seed in FINDER_SEEDS:
        model = _Population(init_population(1, seed=600 + seed, device=device))
        opt = torch.optim.SGD(model.parameters(), lr=FINDER_START)
        table = _batch_table(FINDER_STEPS, 1, FINDER_BATCH, 700 + seed, device)
        out.append(lr_range_test(lambda step: model.losses(data.x_train[table[step]], data.y_train[table[step]]).sum(),
                                 model.parameters(), opt, FINDER_START, FINDER_END, FINDER_STEPS))
    return out
