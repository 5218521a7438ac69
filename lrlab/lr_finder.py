r"""The learning-rate range test ("LR finder"; Smith 2017, popularised by fastai).

Train for a short while with a rate that grows exponentially at every step,

.. math:: \eta_k = \eta_{\text{start}}\left(\frac{\eta_{\text{end}}}{\eta_{\text{start}}}\right)^{k/(K-1)},
          \qquad k = 0, \dots, K-1,

record the minibatch loss, and smooth it with a bias-corrected exponential
moving average (as fastai does),

.. math:: a_k = \beta a_{k-1} + (1-\beta)\,\ell_k, \qquad \bar\ell_k = \frac{a_k}{1-\beta^{k+1}} .

The sweep stops early once the smoothed loss exceeds ``diverge_factor`` times
its best value so far (or the loss is not finite): the rate has crossed the
edge of stability, for a quadratic of top curvature :math:`h` the limit
:math:`2/h` of chapter 1. Two suggestions are computed, both before the minimum
of the smoothed loss:

* ``"steepest"`` (the default): the rate where the smoothed loss falls
  fastest against :math:`\ln\eta`, i.e. the minimum of
  :math:`d\bar\ell/d\ln\eta` (fastai's ``steep``);
* ``"min/10"``: one tenth of the rate at the minimum of the smoothed loss
  (fastai's older ``lr_min``), a deliberately conservative rule.

The model's weights (and the optimizer's state) are restored at the end, so the
test leaves no trace on the model it probed.

>>> import torch
>>> w = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
>>> h = torch.tensor([4.0, 1.0])               # stability limit 2 / 4 = 0.5
>>> opt = torch.optim.SGD([w], lr=1.0)
>>> res = lr_range_test(lambda step: 0.5 * (h * w**2).sum(), [w], opt, start_lr=1e-3, end_lr=10.0, num_steps=100)
>>> res.diverged, bool(res.rates[-1] > 0.5), res.suggestion < 0.5, w.tolist()
(True, True, True, [1.0, 1.0])
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch

from ._validate import check_fraction, check_int, check_positive
from .schedules import exponential_schedule

__all__ = ["LRFinderResult", "lr_range_test", "smooth_losses", "suggest", "plot_lr_finder"]


@dataclass(frozen=True)
class LRFinderResult:
    """The outcome of a range test.

    Attributes
    ----------
    rates : numpy.ndarray
        The rates tried, one per step done (float64, shape ``(k,)``).
    losses : numpy.ndarray
        The raw minibatch losses at those steps.
    smoothed : numpy.ndarray
        The bias-corrected moving average of ``losses``.
    suggestion : float
        The suggested rate, by ``method``.
    method : str
        ``"steepest"`` or ``"min/10"``.
    steepest : float
        Rate of the steepest descent of the smoothed loss against ln(rate).
    min_over_10 : float
        A tenth of the rate at the smoothed minimum.
    diverged : bool
        Whether the sweep stopped because the loss blew up.
    """

    rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    method: str
    steepest: float
    min_over_10: float
    diverged: bool


def smooth_losses(losses, beta: float = 0.98) -> np.ndarray:
    r"""Bias-corrected exponential moving average :math:`a_k/(1-\beta^{k+1})`.

    >>> smooth_losses([2.0, 2.0, 2.0], beta=0.9).round(12).tolist()   # a constant stays constant
    [2.0, 2.0, 2.0]
    """
    beta = check_fraction("beta", beta, open_low=False)
    losses = np.asarray(losses, dtype=np.float64)
    out = np.empty_like(losses)
    avg = 0.0
    for k, loss in enumerate(losses):
        avg = beta * avg + (1.0 - beta) * loss
        out[k] = avg / (1.0 - beta ** (k + 1))
    return out


def suggest(rates, smoothed, method: str = "steepest", skip_start: float = 0.1) -> float:
    r"""A rate from a range test's smoothed curve: ``"steepest"`` descent or ``"min/10"``.

    Only the part of the curve up to the smoothed minimum is searched, and for
    ``"steepest"`` the first ``skip_start`` fraction of the points is skipped
    (as fastai does): the moving average rests on only a few losses there, so its
    early wiggles are noise, not descent.

    >>> rates = np.geomspace(1e-3, 1.0, 7)
    >>> suggest(rates, [5.0, 4.9, 4.0, 2.0, 1.5, 1.4, 9.0], skip_start=0)   # steepest fall: from 1e-2 on
    0.01
    >>> round(suggest(rates, [5.0, 4.9, 4.0, 2.0, 1.5, 1.4, 9.0], "min/10"), 6)
    0.031623
    """
    rates = np.asarray(rates, dtype=np.float64)
    smoothed = np.asarray(smoothed, dtype=np.float64)
    if rates.shape != smoothed.shape or rates.ndim != 1 or rates.size < 3:
        raise ValueError(f"rates and smoothed must be 1-D arrays of the same length >= 3, got shapes "
                         f"rates={rates.shape}, smoothed={smoothed.shape}")
    if method not in ("steepest", "min/10"):
        raise ValueError(f"method must be 'steepest' or 'min/10', got method={method!r}")
    skip_start = check_fraction("skip_start", skip_start, open_low=False)
    finite = np.isfinite(smoothed)
    best = int(np.argmin(np.where(finite, smoothed, np.inf)))
    if method == "min/10":
        return float(rates[best] / 10.0)
    start = min(int(np.ceil(skip_start * rates.size)), max(best - 2, 0))
    stop = max(best, start + 2)
    slope = np.gradient(smoothed[start: stop + 1], np.log(rates[start: stop + 1]))
    return float(rates[start + int(np.argmin(slope))])


def lr_range_test(
    batch_loss: Callable[[int], torch.Tensor],
    params: Iterable[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    start_lr: float = 1e-5,
    end_lr: float = 10.0,
    num_steps: int = 100,
    beta: float = 0.98,
    diverge_factor: float = 4.0,
    method: str = "steepest",
) -> LRFinderResult:
    r"""Sweep the rate exponentially from ``start_lr`` to ``end_lr``; return the curve and a suggestion.

    Parameters
    ----------
    batch_loss : callable
        ``batch_loss(step)`` returns the loss (a scalar tensor with a graph) of
        the minibatch of that step; the test calls ``backward`` on it.
    params : iterable of tensors
        The weights being trained (restored at the end), e.g. ``model.parameters()``.
    optimizer : torch.optim.Optimizer
        Any optimizer over ``params``; every group's ``lr`` is overwritten at each
        step, and its state is restored at the end.
    start_lr, end_lr : float
        The range, ``0 < start_lr < end_lr``.
    num_steps : int
        Steps of the sweep (>= 3), fewer if the loss diverges first.
    beta : float
        Smoothing factor of the moving average, in [0, 1).
    diverge_factor : float
        Stop when the smoothed loss exceeds this multiple of its best value (> 1).
    method : str
        Which suggestion fills ``suggestion``: ``"steepest"`` or ``"min/10"``.

    Returns
    -------
    LRFinderResult
    """
    start_lr = check_positive("start_lr", start_lr)
    end_lr = check_positive("end_lr", end_lr)
    if end_lr <= start_lr:
        raise ValueError(f"end_lr must be > start_lr={start_lr!r}, got end_lr={end_lr!r}")
    num_steps = check_int("num_steps", num_steps, minimum=3)
    beta = check_fraction("beta", beta, open_low=False)
    diverge_factor = check_positive("diverge_factor", diverge_factor)
    if diverge_factor <= 1:
        raise ValueError(f"diverge_factor must be > 1, got diverge_factor={diverge_factor!r}")
    if method not in ("steepest", "min/10"):
        raise ValueError(f"method must be 'steepest' or 'min/10', got method={method!r}")
    params = list(params)
    if not params:
        raise ValueError("params must hold at least one tensor, got an empty list")
    schedule = exponential_schedule(start_lr, gamma=(end_lr / start_lr) ** (1.0 / (num_steps - 1)))
    saved_params = [p.detach().clone() for p in params]
    saved_opt = copy.deepcopy(optimizer.state_dict())
    rates, losses, smoothed = [], [], []
    avg, best, diverged = 0.0, np.inf, False
    try:
        for k in range(num_steps):
            lr = float(schedule(k))
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad()
            loss = batch_loss(k)
            value = float(loss.detach())
            rates.append(lr)
            losses.append(value)
            if not np.isfinite(value):
                smoothed.append(np.inf)
                diverged = True
                break
            avg = beta * avg + (1.0 - beta) * value
            smooth = avg / (1.0 - beta ** (k + 1))
            smoothed.append(smooth)
            best = min(best, smooth)
            if k > 0 and smooth > diverge_factor * best:
                diverged = True
                break
            loss.backward()
            optimizer.step()
    finally:
        with torch.no_grad():
            for p, saved in zip(params, saved_params):
                p.copy_(saved)
        optimizer.load_state_dict(saved_opt)
    rates, losses, smoothed = (np.asarray(a, dtype=np.float64) for a in (rates, losses, smoothed))
    if rates.size < 3:
        raise ValueError(f"the loss diverged after {rates.size} steps: lower start_lr={start_lr!r}")
    steepest = suggest(rates, smoothed, "steepest")
    min_over_10 = suggest(rates, smoothed, "min/10")
    return LRFinderResult(rates, losses, smoothed, steepest if method == "steepest" else min_over_10,
                          method, steepest, min_over_10, diverged)


def plot_lr_finder(result: LRFinderResult, ax=None, limit: float | None = None, label: str | None = None):
    """Plot raw (faint dots) and smoothed (line) loss against the rate on a log axis; mark both suggestions.

    The suggestions differ by marker shape and line style as well as colour;
    ``limit`` (e.g. a measured stability limit 2/h) adds a dotted vertical line.
    Returns the axis.
    """
    import matplotlib.pyplot as plt

    from .plotting import PALETTE

    ax = ax or plt.gca()
    ok = np.isfinite(result.losses)
    ax.plot(result.rates[ok], result.losses[ok], ".", color="0.6", ms=3, label="minibatch loss")
    ax.plot(result.rates, result.smoothed, "-", color=PALETTE[0], lw=1.8, label=label or "smoothed loss")
    for value, name, marker, ls, color in (
        (result.steepest, "steepest descent", "v", "--", PALETTE[4]),
        (result.min_over_10, "minimum / 10", "s", "-.", PALETTE[5]),
    ):
        y = float(np.interp(np.log(value), np.log(result.rates), result.smoothed))
        ax.axvline(value, color=color, ls=ls, lw=1.0)
        ax.plot([value], [y], marker=marker, color=color, ms=7, ls="none", label=f"{name}: {value:.3g}")
    if limit is not None:
        ax.axvline(limit, color="0.3", ls=":", lw=1.2, label=f"stability limit: {limit:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel(r"learning rate $\eta$ (log scale)")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8)
    return ax
