r"""Learning-rate schedules as pure functions of the step.

A schedule is built by a factory and maps a step counter :math:`t = 0, 1, 2, \dots`
to a learning rate :math:`\eta(t)`. It has no hidden state: calling it twice with
the same step gives the same rate, and it accepts

* a Python ``int`` (returns a ``float``),
* a numpy array or list of steps (returns a ``float64`` array, vectorized),
* a torch tensor of steps (returns a ``float64`` tensor on the same device).

Steps must be non-negative integers (integral floats such as ``3.0`` are fine).
Schedules compose with :func:`join`, where each piece sees its own local step,
and :func:`linear_warmup` prepends a linear ramp.

The vocabulary is the same everywhere in the course: ``step``, ``total_steps``,
``warmup_steps``, ``peak_lr``, ``min_lr``.

>>> sched = cosine_schedule(peak_lr=0.1, total_steps=100, min_lr=0.001)
>>> sched(0)
0.1
>>> round(sched(50), 6)
0.0505
>>> sched(100) == sched(1000) == 0.001
True
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from ._validate import (
    check_fraction,
    check_int,
    check_min_lr,
    check_nonnegative,
    check_positive,
)

__all__ = [
    "Schedule",
    "constant_schedule",
    "step_schedule",
    "multistep_schedule",
    "exponential_schedule",
    "polynomial_schedule",
    "linear_schedule",
    "cosine_schedule",
    "cosine_restarts_schedule",
    "linear_warmup",
    "warmup_cosine_schedule",
    "join",
    "one_cycle_schedule",
    "wsd_schedule",
    "inverse_sqrt_schedule",
]


class _NumpyOps:
    """The handful of array operations the schedules need, for numpy."""

    cos = staticmethod(np.cos)
    sqrt = staticmethod(np.sqrt)
    log = staticmethod(np.log)
    floor = staticmethod(np.floor)
    where = staticmethod(np.where)

    @staticmethod
    def clip(x, lo=None, hi=None):
        return np.clip(x, lo, hi)

    @staticmethod
    def full_like(x, value):
        return np.full_like(x, value, dtype=np.float64)


class _TorchOps:
    """The same operations for torch tensors (imported lazily)."""

    def __init__(self):
        import torch

        self.torch = torch
        self.cos = torch.cos
        self.sqrt = torch.sqrt
        self.log = torch.log
        self.floor = torch.floor
        self.where = torch.where

    def clip(self, x, lo=None, hi=None):
        return self.torch.clamp(x, min=lo, max=hi)

    def full_like(self, x, value):
        return self.torch.full_like(x, float(value))


_NUMPY = _NumpyOps()


def _is_tensor(x) -> bool:
    torch = _torch_if_loaded()
    return torch is not None and isinstance(x, torch.Tensor)


def _torch_if_loaded():
    import sys

    return sys.modules.get("torch")


def _validate_steps(t, ops) -> None:
    """Raise ``ValueError`` for NaN, negative or non-integer steps."""
    if _is_tensor(t):
        bad_nan = bool(ops.torch.isnan(t).any())
        bad_neg = bool((t < 0).any())
        bad_int = bool((t != ops.floor(t)).any())
        first = lambda mask: t[mask].flatten()[0].item()  # noqa: E731
    else:
        bad_nan = bool(np.isnan(t).any())
        bad_neg = bool((t < 0).any())
        bad_int = bool((t != np.floor(t)).any())
        first = lambda mask: np.asarray(t)[mask].flatten()[0].item()  # noqa: E731
    if bad_nan:
        raise ValueError("step must be a number, got step=nan")
    if bad_neg:
        raise ValueError(f"step must be >= 0, got step={first(t < 0)!r}")
    if bad_int:
        raise ValueError(
            f"step must be an integer count of optimizer steps, got step={first(t != ops.floor(t))!r}"
        )


class Schedule:
    """A learning-rate schedule: a pure function from step to learning rate.

    Built by the factories in this module; call it on a step, an array of steps
    or a tensor of steps. ``name`` and ``params`` describe it (used in plots and
    in ``repr``).

    >>> s = constant_schedule(0.1)
    >>> s
    constant_schedule(peak_lr=0.1)
    >>> s([0, 1, 2])
    array([0.1, 0.1, 0.1])
    """

    __slots__ = ("_fn", "name", "params")

    def __init__(self, fn: Callable, name: str, **params):
        self._fn = fn
        self.name = name
        self.params = params

    def _eval(self, t, ops):
        """Evaluate on validated float64 steps ``t`` with array operations ``ops``."""
        return self._fn(t, ops)

    def __call__(self, step):
        if _is_tensor(step):
            torch = _torch_if_loaded()
            t = step.to(torch.float64)
            ops = _TorchOps()
            _validate_steps(t, ops)
            return self._eval(t, ops) + torch.zeros_like(t)
        scalar = np.ndim(step) == 0
        try:
            t = np.asarray(step, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"step must be an integer or an array of integers, got step={step!r}") from None
        _validate_steps(t, _NUMPY)
        out = np.asarray(self._eval(t, _NUMPY), dtype=np.float64) + np.zeros_like(t)
        return float(out) if scalar else out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


# ---------------------------------------------------------------------------
# The zoo
# ---------------------------------------------------------------------------


def constant_schedule(peak_lr: float) -> Schedule:
    r"""The same rate at every step: :math:`\eta(t) = \eta_0`.

    >>> constant_schedule(0.05)(1000)
    0.05
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    return Schedule(lambda t, ops: ops.full_like(t, peak_lr), "constant_schedule", peak_lr=peak_lr)


def step_schedule(peak_lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    r"""Step decay: multiply the rate by ``gamma`` every ``step_size`` steps.

    .. math:: \eta(t) = \eta_0 \, \gamma^{\lfloor t / s \rfloor}

    Same values as ``torch.optim.lr_scheduler.StepLR(step_size, gamma)``.

    >>> step_schedule(1.0, step_size=10, gamma=0.5)([0, 9, 10, 25])
    array([1.  , 1.  , 0.5 , 0.25])
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    step_size = check_int("step_size", step_size, minimum=1)
    gamma = check_positive("gamma", gamma)
    return Schedule(
        lambda t, ops: peak_lr * gamma ** ops.floor(t / step_size),
        "step_schedule",
        peak_lr=peak_lr,
        step_size=step_size,
        gamma=gamma,
    )


def multistep_schedule(peak_lr: float, milestones: Sequence[int], gamma: float = 0.1) -> Schedule:
    r"""Multi-step decay: multiply by ``gamma`` at each milestone.

    .. math:: \eta(t) = \eta_0 \, \gamma^{\#\{m_k \le t\}}

    Same values as ``torch.optim.lr_scheduler.MultiStepLR(milestones, gamma)``
    for strictly increasing milestones (torch also accepts repeated ones).

    >>> multistep_schedule(1.0, milestones=[3, 5])([0, 2, 3, 4, 5, 100])
    array([1.  , 1.  , 0.1 , 0.1 , 0.01, 0.01])
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    gamma = check_positive("gamma", gamma)
    milestones = [check_int("milestones[%d]" % i, m, minimum=1) for i, m in enumerate(milestones)]
    if any(b <= a for a, b in zip(milestones, milestones[1:])):
        raise ValueError(f"milestones must be strictly increasing, got milestones={milestones!r}")

    def fn(t, ops):
        count = ops.full_like(t, 0.0)
        for m in milestones:
            count = count + (t >= m)
        return peak_lr * gamma**count

    return Schedule(fn, "multistep_schedule", peak_lr=peak_lr, milestones=tuple(milestones), gamma=gamma)


def exponential_schedule(peak_lr: float, gamma: float) -> Schedule:
    r"""Exponential decay by a factor ``gamma`` per step: :math:`\eta(t) = \eta_0 \gamma^t`.

    Same values as ``torch.optim.lr_scheduler.ExponentialLR(gamma)``. A ``gamma``
    above 1 grows the rate (as a learning-rate range test does).

    >>> exponential_schedule(1.0, gamma=0.5)([0, 1, 3])
    array([1.   , 0.5  , 0.125])
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    gamma = check_positive("gamma", gamma)
    return Schedule(lambda t, ops: peak_lr * gamma**t, "exponential_schedule", peak_lr=peak_lr, gamma=gamma)


def polynomial_schedule(peak_lr: float, total_steps: int, power: float = 1.0, min_lr: float = 0.0) -> Schedule:
    r"""Polynomial decay from ``peak_lr`` to ``min_lr`` over ``total_steps``, then constant.

    .. math:: \eta(t) = \eta_{\min} + (\eta_0 - \eta_{\min})
              \left(1 - \frac{\min(t, T)}{T}\right)^{p}

    ``power=1`` is linear decay (to zero with the default ``min_lr``). With
    ``min_lr=0`` the values are those of ``torch.optim.lr_scheduler.PolynomialLR
    (total_iters=total_steps, power=power)``.

    >>> polynomial_schedule(1.0, total_steps=4)([0, 1, 2, 4, 9])
    array([1.  , 0.75, 0.5 , 0.  , 0.  ])
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    power = check_positive("power", power)
    min_lr = check_min_lr(min_lr, peak_lr)
    return Schedule(
        lambda t, ops: min_lr + (peak_lr - min_lr) * (1.0 - ops.clip(t, None, total_steps) / total_steps) ** power,
        "polynomial_schedule",
        peak_lr=peak_lr,
        total_steps=total_steps,
        power=power,
        min_lr=min_lr,
    )


def linear_schedule(start_lr: float, end_lr: float, total_steps: int) -> Schedule:
    r"""Straight line from ``start_lr`` (step 0) to ``end_lr`` (step ``total_steps``), then constant.

    .. math:: \eta(t) = \eta_{\text{start}} + (\eta_{\text{end}} - \eta_{\text{start}}) \min(t, T)/T

    Either end may be the larger one, so this is both a warmup ramp and a linear decay.

    >>> linear_schedule(0.0, 1.0, total_steps=4)([0, 1, 4, 8])
    array([0.  , 0.25, 1.  , 1.  ])
    """
    start_lr = check_nonnegative("start_lr", start_lr)
    end_lr = check_nonnegative("end_lr", end_lr)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    return Schedule(
        lambda t, ops: start_lr + (end_lr - start_lr) * ops.clip(t, None, total_steps) / total_steps,
        "linear_schedule",
        start_lr=start_lr,
        end_lr=end_lr,
        total_steps=total_steps,
    )


def cosine_schedule(peak_lr: float, total_steps: int, min_lr: float = 0.0) -> Schedule:
    r"""Cosine annealing from ``peak_lr`` to ``min_lr`` over ``total_steps``, then constant.

    .. math:: \eta(t) = \eta_{\min} + \frac{\eta_0 - \eta_{\min}}{2}
              \left(1 + \cos\frac{\pi \min(t, T)}{T}\right)

    Loshchilov & Hutter (2017), *SGDR: Stochastic gradient descent with warm
    restarts*. For ``t <= total_steps`` the values are those of
    ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=total_steps, eta_min=min_lr)``;
    past ``T_max`` torch keeps following the cosine back up (period ``2 T``),
    while this schedule stays at ``min_lr``.

    >>> cosine_schedule(1.0, total_steps=2)([0, 1, 2, 3])
    array([1. , 0.5, 0. , 0. ])
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    min_lr = check_min_lr(min_lr, peak_lr)
    return Schedule(
        lambda t, ops: min_lr
        + 0.5 * (peak_lr - min_lr) * (1.0 + ops.cos(math.pi * ops.clip(t, None, total_steps) / total_steps)),
        "cosine_schedule",
        peak_lr=peak_lr,
        total_steps=total_steps,
        min_lr=min_lr,
    )


def cosine_restarts_schedule(
    peak_lr: float,
    cycle_steps: int,
    cycle_mult: int = 1,
    min_lr: float = 0.0,
    peak_decay: float = 1.0,
) -> Schedule:
    r"""Cosine annealing with warm restarts (SGDR).

    Cycle :math:`n` lasts :math:`T_n = T_0 m^n` steps (``cycle_steps`` :math:`T_0`,
    ``cycle_mult`` :math:`m`, torch's ``T_mult``) and anneals from
    :math:`\eta_0 d^n` (``peak_decay`` :math:`d`) down towards ``min_lr``:

    .. math:: \eta(t) = \eta_{\min} + \frac{\eta_0 d^n - \eta_{\min}}{2}
              \left(1 + \cos\frac{\pi\, t_{\text{cur}}}{T_n}\right),

    where :math:`t_{\text{cur}}` is the step inside the current cycle.
    Loshchilov & Hutter (2017). With ``peak_decay=1`` the values are those of
    ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)``.

    >>> s = cosine_restarts_schedule(1.0, cycle_steps=2, cycle_mult=2)
    >>> s([0, 1, 2, 3, 4, 5, 6]).round(3)
    array([1.   , 0.5  , 1.   , 0.854, 0.5  , 0.146, 1.   ])
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    cycle_steps = check_int("cycle_steps", cycle_steps, minimum=1)
    cycle_mult = check_int("cycle_mult", cycle_mult, minimum=1)
    min_lr = check_min_lr(min_lr, peak_lr)
    peak_decay = check_fraction("peak_decay", peak_decay, open_high=False)

    def fn(t, ops):
        if cycle_mult == 1:
            n = ops.floor(t / cycle_steps)
        else:
            n = ops.floor(ops.log(t / cycle_steps * (cycle_mult - 1) + 1) / math.log(cycle_mult))
            # Guard the boundaries against rounding in the logarithm.
            start = lambda k: cycle_steps * (cycle_mult**k - 1) / (cycle_mult - 1)  # noqa: E731
            n = ops.where(t < start(n), n - 1, n)
            n = ops.where(t >= start(n + 1), n + 1, n)
        start_n = cycle_steps * n if cycle_mult == 1 else cycle_steps * (cycle_mult**n - 1) / (cycle_mult - 1)
        length = cycle_steps * cycle_mult**n
        top = peak_lr * peak_decay**n
        return min_lr + 0.5 * (top - min_lr) * (1.0 + ops.cos(math.pi * (t - start_n) / length))

    return Schedule(
        fn,
        "cosine_restarts_schedule",
        peak_lr=peak_lr,
        cycle_steps=cycle_steps,
        cycle_mult=cycle_mult,
        min_lr=min_lr,
        peak_decay=peak_decay,
    )


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    r"""Run ``schedules[0]`` until ``boundaries[0]``, then ``schedules[1]``, and so on.

    Each piece sees its own local step: piece :math:`k` is evaluated at
    :math:`t - b_{k-1}` (as ``optax.join_schedules``).

    >>> s = join([constant_schedule(1.0), linear_schedule(1.0, 0.0, 2)], boundaries=[3])
    >>> s([0, 2, 3, 4, 5, 9])
    array([1. , 1. , 1. , 0.5, 0. , 0. ])
    """
    schedules = list(schedules)
    if not schedules:
        raise ValueError("schedules must hold at least one schedule, got schedules=[]")
    for i, s in enumerate(schedules):
        if not isinstance(s, Schedule):
            raise ValueError(f"schedules[{i}] must be a Schedule built by lrlab.schedules, got {s!r}")
    boundaries = [check_int(f"boundaries[{i}]", b, minimum=1) for i, b in enumerate(boundaries)]
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"join needs len(boundaries) == len(schedules) - 1, got {len(boundaries)} boundaries "
            f"for {len(schedules)} schedules"
        )
    if any(b <= a for a, b in zip(boundaries, boundaries[1:])):
        raise ValueError(f"boundaries must be strictly increasing, got boundaries={boundaries!r}")

    def fn(t, ops):
        out = schedules[0]._eval(t, ops)
        for b, s in zip(boundaries, schedules[1:]):
            local = ops.clip(t - b, 0.0, None)
            out = ops.where(t >= b, s._eval(local, ops), out)
        return out

    return Schedule(fn, "join", schedules=tuple(schedules), boundaries=tuple(boundaries))


def linear_warmup(schedule: Schedule, warmup_steps: int, start_lr: float = 0.0) -> Schedule:
    r"""Prepend a linear ramp from ``start_lr`` to ``schedule(0)`` over ``warmup_steps``.

    .. math:: \eta(t) = \begin{cases}
              \eta_{\text{start}} + (\eta_{\text{base}}(0) - \eta_{\text{start}})\, t / W & t < W \\
              \eta_{\text{base}}(t - W) & t \ge W \end{cases}

    The wrapped schedule starts at its own step 0 when the warmup ends (Goyal et
    al. 2017, *Accurate, large minibatch SGD*). ``warmup_steps=0`` returns
    ``schedule`` unchanged.

    >>> linear_warmup(constant_schedule(1.0), warmup_steps=4)([0, 1, 2, 4, 10])
    array([0.  , 0.25, 0.5 , 1.  , 1.  ])
    """
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a Schedule built by lrlab.schedules, got schedule={schedule!r}")
    warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
    start_lr = check_nonnegative("start_lr", start_lr)
    if warmup_steps == 0:
        return schedule
    ramp = linear_schedule(start_lr, schedule(0), warmup_steps)
    joined = join([ramp, schedule], [warmup_steps])
    return Schedule(joined._fn, "linear_warmup", schedule=schedule, warmup_steps=warmup_steps, start_lr=start_lr)


def warmup_cosine_schedule(peak_lr: float, total_steps: int, warmup_steps: int, min_lr: float = 0.0) -> Schedule:
    r"""Linear warmup from 0 to ``peak_lr``, then cosine decay to ``min_lr``; ``total_steps`` includes the warmup.

    >>> s = warmup_cosine_schedule(1.0, total_steps=6, warmup_steps=2)
    >>> s([0, 1, 2, 4, 6])
    array([0. , 0.5, 1. , 0.5, 0. ])
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
    if warmup_steps >= total_steps:
        raise ValueError(
            f"warmup_steps must be < total_steps={total_steps}, got warmup_steps={warmup_steps}"
        )
    return linear_warmup(cosine_schedule(peak_lr, total_steps - warmup_steps, min_lr), warmup_steps)


def one_cycle_schedule(
    peak_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal: str = "cos",
    three_phase: bool = False,
) -> Schedule:
    r"""The one-cycle policy (Smith & Topin 2019, *Super-convergence*).

    Rises from :math:`\eta_0 / \text{div\_factor}` to ``peak_lr`` over the first
    ``pct_start`` of the run, then anneals to :math:`\eta_0 / (\text{div\_factor}
    \cdot \text{final\_div\_factor})` at step ``total_steps - 1`` (with
    ``three_phase``, it first comes back down to the initial rate). Each phase is a
    half cosine (``anneal="cos"``) or a straight line (``anneal="linear"``).

    Same values as ``torch.optim.lr_scheduler.OneCycleLR`` (momentum cycling
    aside) for steps ``0 .. total_steps - 1``; afterwards this schedule holds its
    final value, where torch raises an error.

    >>> s = one_cycle_schedule(1.0, total_steps=10, pct_start=0.5, div_factor=10, final_div_factor=1, anneal="linear")
    >>> s([0, 4, 9, 20])
    array([0.1, 1. , 0.1, 0.1])
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    total_steps = check_int("total_steps", total_steps, minimum=2)
    pct_start = check_fraction("pct_start", pct_start)
    div_factor = check_positive("div_factor", div_factor)
    final_div_factor = check_positive("final_div_factor", final_div_factor)
    if anneal not in ("cos", "linear"):
        raise ValueError(f"anneal must be 'cos' or 'linear', got anneal={anneal!r}")
    initial = peak_lr / div_factor
    final = initial / final_div_factor
    end1 = float(pct_start * total_steps) - 1
    if three_phase:
        phases = [(end1, initial, peak_lr), (2 * end1, peak_lr, initial), (total_steps - 1, initial, final)]
    else:
        phases = [(end1, initial, peak_lr), (total_steps - 1, peak_lr, final)]
    previous = 0.0
    for end, *_ in phases:
        if end <= previous:
            raise ValueError(
                f"pct_start={pct_start} with total_steps={total_steps} leaves a phase with no steps; "
                "raise total_steps or move pct_start away from 0 and 1"
            )
        previous = end

    def fn(t, ops):
        out = None
        # Later phases first, so that each earlier phase overrides the steps it owns.
        for k in reversed(range(len(phases))):
            end, lr_from, lr_to = phases[k]
            begin = 0.0 if k == 0 else phases[k - 1][0]
            pct = ops.clip((t - begin) / (end - begin), 0.0, 1.0)
            if anneal == "cos":
                val = lr_to + (lr_from - lr_to) / 2.0 * (ops.cos(math.pi * pct) + 1)
            else:
                val = (lr_to - lr_from) * pct + lr_from
            out = val if out is None else ops.where(t <= end, val, out)
        return out

    return Schedule(
        fn,
        "one_cycle_schedule",
        peak_lr=peak_lr,
        total_steps=total_steps,
        pct_start=pct_start,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
        anneal=anneal,
        three_phase=three_phase,
    )


def wsd_schedule(
    peak_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    decay_steps: int | None = None,
    min_lr: float = 0.0,
    decay: str = "linear",
) -> Schedule:
    r"""Warmup-stable-decay: a linear warmup, a long plateau at ``peak_lr``, a short final decay.

    The decay takes the last ``decay_steps`` steps (default: 20% of the run)
    from ``peak_lr`` to ``min_lr`` at step ``total_steps``, shaped
    ``"linear"``, ``"cosine"`` or ``"sqrt"`` (:math:`1-\sqrt{s/D}`). Hu et al.
    (2024), *MiniCPM*; Hägele et al. (2024), *Scaling laws and compute-optimal
    training beyond fixed training durations*.

    >>> s = wsd_schedule(1.0, total_steps=10, warmup_steps=2, decay_steps=4)
    >>> s([0, 1, 2, 5, 6, 8, 10])
    array([0. , 0.5, 1. , 1. , 1. , 0.5, 0. ])
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
    if decay_steps is None:
        decay_steps = max(1, round(0.2 * total_steps))
    decay_steps = check_int("decay_steps", decay_steps, minimum=1)
    min_lr = check_min_lr(min_lr, peak_lr)
    if warmup_steps > total_steps:
        raise ValueError(f"warmup_steps must be <= total_steps={total_steps}, got warmup_steps={warmup_steps}")
    if warmup_steps + decay_steps > total_steps:
        raise ValueError(
            f"warmup_steps + decay_steps must be <= total_steps={total_steps}, "
            f"got warmup_steps={warmup_steps}, decay_steps={decay_steps}"
        )
    shapes = {
        "linear": lambda: linear_schedule(peak_lr, min_lr, decay_steps),
        "cosine": lambda: cosine_schedule(peak_lr, decay_steps, min_lr),
        "sqrt": lambda: Schedule(
            lambda t, ops: min_lr
            + (peak_lr - min_lr) * (1.0 - ops.sqrt(ops.clip(t, None, decay_steps) / decay_steps)),
            "sqrt_decay",
        ),
    }
    if decay not in shapes:
        raise ValueError(f"decay must be one of {sorted(shapes)}, got decay={decay!r}")
    stable_end = total_steps - warmup_steps - decay_steps
    pieces, bounds = [constant_schedule(peak_lr)], []
    if stable_end > 0:
        pieces.append(shapes[decay]())
        bounds.append(stable_end)
    else:
        pieces = [shapes[decay]()]
    body = join(pieces, bounds)
    full = linear_warmup(body, warmup_steps)
    return Schedule(
        full._fn,
        "wsd_schedule",
        peak_lr=peak_lr,
        total_steps=total_steps,
        warmup_steps=warmup_steps,
        decay_steps=decay_steps,
        min_lr=min_lr,
        decay=decay,
    )


def inverse_sqrt_schedule(peak_lr: float, warmup_steps: int) -> Schedule:
    r"""Linear warmup to ``peak_lr``, then decay as :math:`1/\sqrt{t}`.

    .. math:: \eta(t) = \eta_0 \min\left(\frac{t}{W}, \sqrt{\frac{W}{t}}\right)

    The Transformer's schedule (Vaswani et al. 2017), written with its peak
    rate instead of :math:`d_{\text{model}}^{-1/2}`. It never reaches zero.

    >>> inverse_sqrt_schedule(1.0, warmup_steps=4)([0, 2, 4, 16])
    array([0. , 0.5, 1. , 0.5])
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    warmup_steps = check_int("warmup_steps", warmup_steps, minimum=1)
    w = float(warmup_steps)
    return Schedule(
        lambda t, ops: ops.where(
            t < w, peak_lr * t / w, peak_lr * ops.sqrt(w / ops.clip(t, w, None))
        ),
        "inverse_sqrt_schedule",
        peak_lr=peak_lr,
        warmup_steps=warmup_steps,
    )
