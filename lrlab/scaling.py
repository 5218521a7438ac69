r"""Scaling up: the linear scaling rule, warmup variants, WSD branches and one-cycle momentum.

* :func:`linear_scaling`: Goyal et al. (2017), *Accurate, large minibatch SGD*:
  multiply the batch by :math:`k`, multiply the rate by :math:`k`
  (:math:`\eta = \eta_0 B / B_0`), keeping the noise scale :math:`\eta/B` of
  chapter 2.
* :func:`exponential_warmup` and :func:`untuned_warmup`: warmups that *multiply*
  a schedule by a factor rising from 0 to 1 (Ma & Yarats 2021, *On the adequacy
  of untuned warmup for adaptive optimization*): linear
  :math:`\omega_t = \min(1, t/W)` or exponential :math:`\omega_t = 1 - e^{-t/\tau}`,
  with the "untuned" choices :math:`W = 2/(1-\beta_2)` and :math:`\tau = 1/(1-\beta_2)`
  for Adam's :math:`\beta_2`. (:func:`lrlab.schedules.linear_warmup`, by contrast,
  *prepends* a ramp and delays the schedule.)
* :func:`wsd_branches` and :func:`train_wsd_branches`: warmup-stable-decay runs
  of several lengths that share one stable prefix, so one long plateau run serves
  every budget (Hägele et al. 2024).
* :func:`one_cycle_momentum`: the momentum that mirrors the one-cycle rate
  (Smith & Topin 2019), as ``torch.optim.lr_scheduler.OneCycleLR(cycle_momentum=True)``.

>>> linear_scaling(0.1, base_batch=32, batch=256)
0.8
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Sequence

import numpy as np

from ._validate import check_finite, check_fraction, check_int, check_min_lr, check_positive
from .schedules import Schedule, constant_schedule, cosine_schedule, join, linear_schedule, linear_warmup, \
    one_cycle_schedule

__all__ = [
    "linear_scaling",
    "exponential_warmup",
    "untuned_warmup",
    "wsd_branches",
    "train_wsd_branches",
    "one_cycle_momentum",
    "set_hyperparameters",
]


def linear_scaling(base_lr: float, base_batch: int, batch: int) -> float:
    r"""The linear scaling rule :math:`\eta = \eta_0\, B / B_0` (Goyal et al. 2017).

    It keeps :math:`\eta/B`, the noise scale of chapter 2, fixed. It holds while
    :math:`\eta h_{\max}` stays well below 2 (chapter 1's stability limit); past
    it, no rescaling helps.

    >>> linear_scaling(0.05, base_batch=16, batch=64)
    0.2
    """
    base_lr = check_positive("base_lr", base_lr)
    base_batch = check_int("base_batch", base_batch, minimum=1)
    batch = check_int("batch", batch, minimum=1)
    return base_lr * batch / base_batch


def _exp(ops, x):
    torch = getattr(ops, "torch", None)
    return torch.exp(x) if torch is not None else np.exp(x)


def exponential_warmup(schedule: Schedule, tau: float) -> Schedule:
    r"""Multiply ``schedule`` by :math:`1 - e^{-t/\tau}`: an exponential warmup with time constant ``tau``.

    .. math:: \eta(t) = \eta_{\text{base}}(t)\,\big(1 - e^{-t/\tau}\big)

    The factor is 0 at step 0, :math:`1 - e^{-1} \approx 0.63` at :math:`t = \tau`
    and within 1 % of 1 after :math:`4.6\,\tau` steps.

    >>> s = exponential_warmup(constant_schedule(1.0), tau=10)
    >>> s([0, 10, 1000]).round(4)
    array([0.    , 0.6321, 1.    ])
    """
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a Schedule built by lrlab.schedules, got schedule={schedule!r}")
    tau = check_positive("tau", tau)
    return Schedule(lambda t, ops: schedule._eval(t, ops) * (1.0 - _exp(ops, -t / tau)),
                    "exponential_warmup", schedule=schedule, tau=tau)


def untuned_warmup(schedule: Schedule, beta2: float = 0.999, kind: str = "linear") -> Schedule:
    r"""Ma & Yarats' (2021) untuned warmup for Adam with second-moment decay ``beta2``.

    ``kind="linear"``: factor :math:`\min\big(1, \tfrac{1-\beta_2}{2} t\big)`, a ramp
    of :math:`2/(1-\beta_2)` steps (2000 for :math:`\beta_2 = 0.999`);
    ``kind="exponential"``: factor :math:`1 - e^{-(1-\beta_2) t}`. Both last about
    as long as Adam's second-moment estimate needs to average over enough
    gradients to be reliable.

    >>> s = untuned_warmup(constant_schedule(1.0), beta2=0.99)   # ramp of 200 steps
    >>> s([0, 100, 200, 500]).round(9).tolist()
    [0.0, 0.5, 1.0, 1.0]
    """
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a Schedule built by lrlab.schedules, got schedule={schedule!r}")
    beta2 = check_fraction("beta2", beta2)
    if kind == "exponential":
        return exponential_warmup(schedule, tau=1.0 / (1.0 - beta2))
    if kind != "linear":
        raise ValueError(f"kind must be 'linear' or 'exponential', got kind={kind!r}")
    width = 2.0 / (1.0 - beta2)
    return Schedule(lambda t, ops: schedule._eval(t, ops) * ops.clip(t / width, None, 1.0),
                    "untuned_warmup", schedule=schedule, beta2=beta2, kind=kind)


def wsd_branches(
    peak_lr: float,
    stable_steps: Sequence[int],
    decay_lengths,
    warmup_steps: int = 0,
    min_lr: float = 0.0,
    decay: str = "linear",
) -> list[Schedule]:
    r"""WSD schedules that share one warmup + stable prefix and leave it at different steps.

    Branch :math:`k` holds ``peak_lr`` (after a linear warmup of ``warmup_steps``)
    until step :math:`S_k` = ``stable_steps[k]`` (counted from 0, warmup included),
    then decays to ``min_lr`` over :math:`D_k` = ``decay_lengths[k]`` steps
    (``"linear"`` or ``"cosine"``); its budget is :math:`S_k + D_k`. Built with
    :func:`lrlab.schedules.join`, so up to :math:`S_k` every branch equals the
    stable run, and a branch equals
    ``wsd_schedule(peak_lr, S_k + D_k, warmup_steps, D_k, min_lr, decay)``.

    Parameters
    ----------
    peak_lr : float
    stable_steps : sequence of int
        Where each branch leaves the plateau, each > ``warmup_steps``.
    decay_lengths : int or sequence of int
        Decay length of each branch (one int: the same for all).
    warmup_steps, min_lr, decay
        As for :func:`lrlab.schedules.wsd_schedule`.

    Returns
    -------
    list of Schedule
        One per branch, in the order given.

    >>> a, b = wsd_branches(1.0, stable_steps=[4, 8], decay_lengths=[2, 4])
    >>> a(range(8)).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0]
    >>> b(range(13)).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
    min_lr = check_min_lr(min_lr, peak_lr)
    stable = [check_int(f"stable_steps[{i}]", s, minimum=warmup_steps + 1) for i, s in enumerate(stable_steps)]
    if not stable:
        raise ValueError("stable_steps must hold at least one branch point, got stable_steps=[]")
    if isinstance(decay_lengths, (int, np.integer)) and not isinstance(decay_lengths, bool):
        decay_lengths = [decay_lengths] * len(stable)
    decays = [check_int(f"decay_lengths[{i}]", d, minimum=1) for i, d in enumerate(decay_lengths)]
    if len(decays) != len(stable):
        raise ValueError(f"decay_lengths must have one entry per branch ({len(stable)}), got {len(decays)}")
    shapes = {"linear": lambda d: linear_schedule(peak_lr, min_lr, d), "cosine": lambda d: cosine_schedule(peak_lr, d, min_lr)}
    if decay not in shapes:
        raise ValueError(f"decay must be one of {sorted(shapes)}, got decay={decay!r}")
    prefix = linear_warmup(constant_schedule(peak_lr), warmup_steps)
    return [join([prefix, shapes[decay](d)], [s]) for s, d in zip(stable, decays)]


def set_hyperparameters(optimizer, lr: float | None = None, momentum: float | None = None) -> None:
    """Set every parameter group's ``lr`` and/or momentum (``momentum`` for SGD, ``betas[0]`` for Adam-like).

    >>> import torch
    >>> opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    >>> set_hyperparameters(opt, lr=0.5, momentum=0.8); opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][0]
    (0.5, 0.8)
    """
    for group in optimizer.param_groups:
        if lr is not None:
            group["lr"] = float(lr)
        if momentum is not None:
            if "betas" in group:
                group["betas"] = (float(momentum), group["betas"][1])
            elif "momentum" in group:
                group["momentum"] = float(momentum)
            else:
                raise ValueError(f"this optimizer has no momentum to set, got momentum={momentum!r}")


def train_wsd_branches(
    model,
    optimizer,
    train_step: Callable[[int], object],
    evaluate: Callable[[], object],
    peak_lr: float,
    stable_steps: Sequence[int],
    decay_lengths,
    warmup_steps: int = 0,
    min_lr: float = 0.0,
    decay: str = "linear",
) -> list[dict]:
    r"""Train ONE stable run and branch a decay from a checkpoint at each ``stable_steps`` point.

    The stable run goes to ``max(stable_steps)``. At each branch point the model
    and optimizer states are copied (a fork), the branch's decay runs for its
    ``decay_lengths`` steps, ``evaluate()`` records the result, and the fork is
    restored so the stable run continues untouched. The cost is
    :math:`\max_k S_k + \sum_k D_k` steps instead of :math:`\sum_k (S_k + D_k)` for
    independent runs.

    Parameters
    ----------
    model : torch.nn.Module
        Whose ``state_dict`` is forked (anything with ``state_dict``/``load_state_dict``).
    optimizer : torch.optim.Optimizer
        Its rate is set to the branch's schedule before each step.
    train_step : callable
        ``train_step(step)`` does one optimizer step (forward, backward,
        ``optimizer.step()``) on the minibatch of global step ``step``. Draw the
        minibatch from the step number (e.g. a pre-drawn index table): then every
        branch equals an independent full WSD run exactly.
    evaluate : callable
        ``evaluate()`` returns the branch's result (any object) at its end.
    peak_lr, stable_steps, decay_lengths, warmup_steps, min_lr, decay
        As for :func:`wsd_branches`.

    Returns
    -------
    list of dict
        One per branch, in the order given: ``stable_steps``, ``total_steps``,
        ``schedule`` and ``result`` (what ``evaluate`` returned).
    """
    schedules = wsd_branches(peak_lr, stable_steps, decay_lengths, warmup_steps, min_lr, decay)
    stable = [int(s) for s in stable_steps]
    decays = [decay_lengths] * len(stable) if np.ndim(decay_lengths) == 0 else list(decay_lengths)
    totals = [s + int(d) for s, d in zip(stable, decays)]
    order = sorted(range(len(stable)), key=lambda i: stable[i])
    results: list[dict | None] = [None] * len(stable)
    step = 0
    trunk = schedules[order[-1]]  # any branch: they agree before their own branch point
    for i in order:
        while step < stable[i]:
            set_hyperparameters(optimizer, lr=trunk(step))
            train_step(step)
            step += 1
        model_state = copy.deepcopy(model.state_dict())
        opt_state = copy.deepcopy(optimizer.state_dict())
        for s in range(stable[i], totals[i]):
            set_hyperparameters(optimizer, lr=schedules[i](s))
            train_step(s)
        results[i] = {"stable_steps": stable[i], "total_steps": totals[i], "schedule": schedules[i],
                      "result": evaluate()}
        model.load_state_dict(model_state)
        optimizer.load_state_dict(opt_state)
    return results


def one_cycle_momentum(
    total_steps: int,
    pct_start: float = 0.3,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    anneal: str = "cos",
    three_phase: bool = False,
) -> Schedule:
    r"""The momentum of the one-cycle policy: the mirror image of :func:`lrlab.schedules.one_cycle_schedule`.

    While the rate rises, the momentum falls from ``max_momentum`` to
    ``base_momentum``; while the rate anneals, it rises back (with
    ``three_phase``, it stays at ``max_momentum`` in the last phase). Smith &
    Topin (2019): a high rate with high momentum is too much; cycling them in
    opposition keeps the effective step :math:`\eta/(1-\mu)` in check. Same values
    as the momentum of ``torch.optim.lr_scheduler.OneCycleLR(cycle_momentum=True)``
    for steps ``0 .. total_steps - 1``.

    >>> m = one_cycle_momentum(10, pct_start=0.5, anneal="linear")
    >>> m([0, 4, 9]).round(3).tolist()
    [0.95, 0.85, 0.95]
    """
    total_steps = check_int("total_steps", total_steps, minimum=2)
    pct_start = check_fraction("pct_start", pct_start)
    base_momentum = check_finite("base_momentum", base_momentum)
    max_momentum = check_finite("max_momentum", max_momentum)
    if not 0.0 <= base_momentum <= max_momentum < 1.0:
        raise ValueError(f"need 0 <= base_momentum <= max_momentum < 1, got base_momentum={base_momentum!r}, "
                         f"max_momentum={max_momentum!r}")
    if anneal not in ("cos", "linear"):
        raise ValueError(f"anneal must be 'cos' or 'linear', got anneal={anneal!r}")
    # reuse the rate's phase checks (raises for phases with no steps)
    one_cycle_schedule(1.0, total_steps, pct_start=pct_start, anneal=anneal, three_phase=three_phase)
    end1 = float(pct_start * total_steps) - 1
    if three_phase:
        phases = [(end1, max_momentum, base_momentum), (2 * end1, base_momentum, max_momentum),
                  (total_steps - 1, max_momentum, max_momentum)]
    else:
        phases = [(end1, max_momentum, base_momentum), (total_steps - 1, base_momentum, max_momentum)]

    def fn(t, ops):
        out = None
        for k in reversed(range(len(phases))):
            end, m_from, m_to = phases[k]
            begin = 0.0 if k == 0 else phases[k - 1][0]
            pct = ops.clip((t - begin) / (end - begin), 0.0, 1.0)
            if anneal == "cos":
                val = m_to + (m_from - m_to) / 2.0 * (ops.cos(math.pi * pct) + 1)
            else:
                val = (m_to - m_from) * pct + m_from
            out = val if out is None else ops.where(t <= end, val, out)
        return out

    return Schedule(fn, "one_cycle_momentum", total_steps=total_steps, pct_start=pct_start,
                    base_momentum=base_momentum, max_momentum=max_momentum, anneal=anneal, three_phase=three_phase)
