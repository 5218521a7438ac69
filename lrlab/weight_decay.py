r"""Weight decay and the learning rate: effective decay, cumulative shrink, L2 versus decoupled decay.

Adding :math:`\tfrac\lambda2|w|^2` to the loss (L2 regularization, Krogh & Hertz
1992) changes the SGD step to

.. math:: w_{t+1} = w_t - \eta_t(\nabla L(w_t) + \lambda w_t) = (1 - \eta_t\lambda)\, w_t - \eta_t \nabla L(w_t),

so the weights shrink by the factor :math:`1 - \eta_t\lambda` at every step: the
**effective decay** is :math:`\eta_t\lambda`, and after :math:`t` steps a weight
that the loss does not touch has shrunk by the **cumulative shrink**
:math:`\prod_{s<t}(1-\eta_s\lambda)`. The rate schedule is therefore also a
regularization schedule. *Decoupled* weight decay (Loshchilov & Hutter 2019,
*Decoupled weight decay regularization*) applies the shrink directly,
:math:`w \leftarrow (1-\eta_t\lambda) w` next to the optimizer's own step. For
SGD that is the same update (exactly, in exact arithmetic); for Adam it is not:
Adam divides the L2 gradient :math:`\lambda w` by its running RMS, so L2 moves a
weight by about :math:`\eta_t` per step whatever :math:`\lambda` is, while AdamW
shrinks it by :math:`1-\eta_t\lambda`.

>>> cumulative_shrink([0.1, 0.1, 0.05], weight_decay=2.0).round(4).tolist()
[1.0, 0.8, 0.64, 0.576]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._validate import check_int, check_nonnegative, check_positive
from .device import resolve_device
from .nqm import rates_of
from .torch_adapter import lambda_lr

__all__ = ["effective_decay", "cumulative_shrink", "DecayRun", "OPTIMIZERS", "DECAY_MODES", "train_softmax_regression"]

#: The optimizers :func:`train_softmax_regression` knows.
OPTIMIZERS = ("sgd", "adam")
#: How the decay enters: as a loss term (``"l2"``) or as a separate shrink (``"decoupled"``).
DECAY_MODES = ("l2", "decoupled")


def effective_decay(schedule, weight_decay: float, total_steps: int | None = None) -> np.ndarray:
    r"""The per-step shrink rate :math:`\eta_t\lambda` of L2 / decoupled decay under a schedule.

    Parameters
    ----------
    schedule : Schedule or array_like
        The rates :math:`\eta_0, \dots, \eta_{T-1}`.
    weight_decay : float
        :math:`\lambda \ge 0`.
    total_steps : int, optional
        Required when ``schedule`` is a function of the step.

    Returns
    -------
    numpy.ndarray, length T

    >>> effective_decay([0.1, 0.01], 1e-2).tolist()
    [0.001, 0.0001]
    >>> effective_decay([0.1], -1.0)
    Traceback (most recent call last):
    ...
    ValueError: weight_decay must be >= 0, got weight_decay=-1.0
    """
    weight_decay = check_nonnegative("weight_decay", weight_decay)
    lrs = rates_of(schedule, total_steps)
    return lrs * weight_decay


def cumulative_shrink(schedule, weight_decay: float, total_steps: int | None = None) -> np.ndarray:
    r"""The factor :math:`\prod_{s<t}(1-\eta_s\lambda)` by which decay alone has shrunk a weight, ``t = 0 .. T``.

    Parameters
    ----------
    schedule : Schedule or array_like
        The rates :math:`\eta_0, \dots, \eta_{T-1}`.
    weight_decay : float
        :math:`\lambda \ge 0`; every :math:`\eta_s\lambda` must stay below 1
        (at 1 the step zeroes the weight, beyond it flips its sign).
    total_steps : int, optional
        Required when ``schedule`` is a function of the step.

    Returns
    -------
    numpy.ndarray, length T + 1 (starts at 1)

    >>> cumulative_shrink([0.5, 0.5], weight_decay=4.0)
    Traceback (most recent call last):
    ...
    ValueError: weight_decay=4.0 makes the effective decay lr*weight_decay reach 2 >= 1 at step 0
    """
    decay = effective_decay(schedule, weight_decay, total_steps)
    if decay.ndim != 1:
        raise ValueError(f"schedule must give one rate per step, got rates of shape {decay.shape}")
    bad = np.flatnonzero(decay >= 1)
    if bad.size:
        raise ValueError(f"weight_decay={weight_decay!r} makes the effective decay lr*weight_decay reach "
                         f"{decay[bad[0]]:g} >= 1 at step {bad[0]}")
    return np.concatenate([[1.0], np.cumprod(1.0 - decay)])


@dataclass(frozen=True)
class DecayRun:
    """What :func:`train_softmax_regression` records.

    Attributes
    ----------
    weights : numpy.ndarray, shape (T + 1, features, classes)
        The weight matrix before every step and after the last.
    losses : numpy.ndarray, shape (T + 1,)
        Full-data cross-entropy (without the L2 term) at the same points.
    rates : numpy.ndarray, shape (T,)
        The rate the optimizer used at each step.
    """

    weights: np.ndarray
    losses: np.ndarray
    rates: np.ndarray

    @property
    def norms(self) -> np.ndarray:
        """Frobenius norm of the weights at every recorded point."""
        return np.sqrt((self.weights**2).sum(axis=(1, 2)))


def train_softmax_regression(inputs, labels, schedule, total_steps: int, *, optimizer: str = "sgd",
                             decay: str = "l2", weight_decay: float = 0.0, batch_size: int = 32,
                             init_std: float = 0.1, seed: int = 0, device=None,
                             dtype=torch.float64) -> DecayRun:
    r"""Softmax regression (no bias) trained by SGD or Adam with L2-in-loss or decoupled weight decay.

    The four combinations:

    * ``("sgd", "l2")``: plain SGD on :math:`L + \tfrac\lambda2|W|^2`;
    * ``("sgd", "decoupled")``: :math:`W \leftarrow (1-\eta_t\lambda)W`, then an SGD step on :math:`L`;
    * ``("adam", "l2")``: ``torch.optim.Adam`` on :math:`L + \tfrac\lambda2|W|^2`;
    * ``("adam", "decoupled")``: ``torch.optim.AdamW(weight_decay=λ)`` on :math:`L`.

    The rate of each step comes from ``schedule`` through
    :func:`lrlab.torch_adapter.lambda_lr`. Minibatches are drawn with replacement
    by a seeded generator, so two runs with the same ``seed`` see the same batches.

    Parameters
    ----------
    inputs : array_like or torch.Tensor, shape (n, features)
    labels : array_like or torch.Tensor of int, shape (n,)
    schedule : Schedule
    total_steps : int
    optimizer : {"sgd", "adam"}
    decay : {"l2", "decoupled"}
    weight_decay : float
        :math:`\lambda \ge 0`.
    batch_size : int
    init_std : float
        Standard deviation of the (seeded, Gaussian) initial weights.
    seed : int
        Seeds the initial weights and the minibatch sampler.
    device : str or torch.device, optional
        Default :func:`lrlab.device.default_device`.
    dtype : torch.dtype
        ``float64`` by default, so that equal updates give equal weights to ~1e-15.

    Returns
    -------
    DecayRun

    >>> from lrlab.schedules import constant_schedule
    >>> x, y = np.eye(3), np.array([0, 1, 2])
    >>> run = train_softmax_regression(x, y, constant_schedule(0.5), 20, weight_decay=0.1, device="cpu")
    >>> run.weights.shape, bool(run.losses[-1] < run.losses[0])
    ((21, 3, 3), True)
    >>> train_softmax_regression(x, y, constant_schedule(0.5), 5, optimizer="lbfgs")
    Traceback (most recent call last):
    ...
    ValueError: optimizer must be one of ('sgd', 'adam'), got optimizer='lbfgs'
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got optimizer={optimizer!r}")
    if decay not in DECAY_MODES:
        raise ValueError(f"decay must be one of {DECAY_MODES}, got decay={decay!r}")
    total_steps = check_int("total_steps", total_steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    weight_decay = check_nonnegative("weight_decay", weight_decay)
    init_std = check_positive("init_std", init_std)
    dev = resolve_device(device)
    x = torch.as_tensor(np.asarray(inputs) if not isinstance(inputs, torch.Tensor) else inputs, dtype=dtype, device=dev)
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels, dtype=torch.int64,
                        device=dev)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ValueError(f"inputs must have shape (n, features) and labels shape (n,), got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    classes = int(y.max()) + 1
    gen = torch.Generator().manual_seed(int(seed))
    w = (init_std * torch.randn(x.shape[1], classes, generator=gen, dtype=dtype)).to(dev).requires_grad_(True)
    l2_in_loss = decay == "l2" and weight_decay > 0
    if optimizer == "sgd":
        opt = torch.optim.SGD([w], lr=1.0)
    elif decay == "decoupled":
        opt = torch.optim.AdamW([w], lr=1.0, weight_decay=weight_decay)
    else:
        opt = torch.optim.Adam([w], lr=1.0)
    scheduler = lambda_lr(opt, schedule)
    weights = np.empty((total_steps + 1,) + tuple(w.shape))
    losses, rates = np.empty(total_steps + 1), np.empty(total_steps)

    def full_loss() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(x @ w, y))

    for step in range(total_steps):
        weights[step], losses[step] = w.detach().cpu().numpy(), full_loss()
        batch = torch.randint(x.shape[0], (batch_size,), generator=gen).to(dev)
        loss = torch.nn.functional.cross_entropy(x[batch] @ w, y[batch])
        if l2_in_loss:
            loss = loss + 0.5 * weight_decay * (w * w).sum()
        opt.zero_grad()
        loss.backward()
        lr = opt.param_groups[0]["lr"]
        rates[step] = lr
        if optimizer == "sgd" and decay == "decoupled" and weight_decay > 0:
            with torch.no_grad():
                w.mul_(1.0 - lr * weight_decay)
        opt.step()
        scheduler.step()
    weights[-1], losses[-1] = w.detach().cpu().numpy(), full_loss()
    return DecayRun(weights=weights, losses=losses, rates=rates)
