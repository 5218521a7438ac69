"""Schedules in torch training loops, and torch's own schedulers stepped for comparison.

:func:`lambda_lr` drives any optimizer with an :class:`~lrlab.schedules.Schedule`
through ``torch.optim.lr_scheduler.LambdaLR``: after ``k`` calls of
``scheduler.step()`` the optimizer's rate is ``schedule(k)``.

>>> import torch
>>> from lrlab.schedules import cosine_schedule
>>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=123.0)
>>> sched = lambda_lr(opt, cosine_schedule(0.1, total_steps=10))
>>> [round(g["lr"], 4) for g in opt.param_groups]
[0.1]
>>> for _ in range(5):
...     opt.step(); sched.step()
>>> round(opt.param_groups[0]["lr"], 4)
0.05
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ._validate import check_int
from .schedules import Schedule

__all__ = ["lambda_lr", "torch_lr_trace"]


def lambda_lr(optimizer: torch.optim.Optimizer, schedule: Schedule) -> torch.optim.lr_scheduler.LambdaLR:
    """Return a ``LambdaLR`` that sets each parameter group's rate to ``schedule(step) * lr_scale``.

    The schedule gives absolute rates, so the optimizer's own ``lr`` is replaced.
    A parameter group may carry an ``lr_scale`` entry (default 1) to run at a
    multiple of the schedule, e.g. smaller rates for early layers.
    """
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a Schedule built by lrlab.schedules, got schedule={schedule!r}")
    for group in optimizer.param_groups:
        group["initial_lr"] = float(group.get("lr_scale", 1.0))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda step: float(schedule(step)))


def torch_lr_trace(
    make_scheduler: Callable[[torch.optim.Optimizer], object], total_steps: int, base_lr: float
) -> np.ndarray:
    """The rates a torch scheduler gives at steps ``0 .. total_steps - 1``.

    ``make_scheduler(optimizer)`` builds the scheduler on a one-parameter SGD
    optimizer whose rate is ``base_lr``; it is stepped once per optimizer step,
    as in a training loop.

    >>> trace = torch_lr_trace(lambda o: torch.optim.lr_scheduler.StepLR(o, 2, 0.5), 5, base_lr=1.0)
    >>> trace
    array([1.  , 1.  , 0.5 , 0.5 , 0.25])
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=base_lr)
    scheduler = make_scheduler(optimizer)
    out = np.empty(total_steps)
    for step in range(total_steps):
        out[step] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
    return out
