r"""Annealing the learning rate on a rugged 1-D landscape.

The landscape is a parabola with ripples,

.. math:: L(x) = \frac{c}{2}x^2 + A\,(1 - \cos 2\pi x),

whose global minimum is :math:`x = 0`, surrounded by local minima near the
integers :math:`k` with :math:`c|k| < 2\pi A` (the one near :math:`k` lies about
:math:`ck^2/2` higher), separated by barriers of height about :math:`2A`. Noisy gradient descent,
:math:`x_{t+1} = x_t - \eta_t (L'(x_t) + \xi_t)` with
:math:`\xi_t \sim \mathcal N(0, \sigma^2)`, behaves like a particle at the
temperature :math:`\tau_t = \eta_t\sigma^2/2` (see :mod:`lrlab.sde`): hot enough
to hop over barriers early, cold enough to settle at the end. Lowering the rate
slowly is simulated annealing (Kirkpatrick, Gelatt & Vecchi 1983): the slower
the cooling, the larger the fraction of runs that end in the global basin.

>>> land = RuggedLandscape(curvature=1.5, ripple=1.0)
>>> round(land.basin_edge, 4)
0.5198
>>> float(land.loss(0.0))
0.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._validate import check_finite, check_fraction, check_int, check_positive, check_rates
from .device import resolve_device
from .stats import wilson_interval  # noqa: F401  (re-exported: the annealing success rates use it)

__all__ = ["RuggedLandscape", "geometric_cooling", "anneal", "wilson_interval", "success_vs_cooling"]


@dataclass(frozen=True)
class RuggedLandscape:
    r"""The landscape :math:`L(x) = \frac c2 x^2 + A(1-\cos 2\pi x)`.

    Parameters
    ----------
    curvature : float
        :math:`c > 0`, the slope of the funnel towards the global minimum.
    ripple : float
        :math:`A > 0`, half the height of the barriers.
    """

    curvature: float = 1.5
    ripple: float = 1.0

    def __post_init__(self):
        check_positive("curvature", self.curvature)
        check_positive("ripple", self.ripple)

    def loss(self, x):
        """:math:`L(x)`, elementwise (numpy or torch)."""
        cos = torch.cos if isinstance(x, torch.Tensor) else np.cos
        return 0.5 * self.curvature * x * x + self.ripple * (1 - cos(2 * math.pi * x))

    def grad(self, x):
        r""":math:`L'(x) = cx + 2\pi A \sin 2\pi x`, elementwise (numpy or torch)."""
        sin = torch.sin if isinstance(x, torch.Tensor) else np.sin
        return self.curvature * x + 2 * math.pi * self.ripple * sin(2 * math.pi * x)

    @property
    def basin_edge(self) -> float:
        """Half-width of the global basin: the first local maximum of :math:`L` right of 0.

        Found by bisection on :math:`L'` in (0.5, 0.75); ``inf`` when the ripples are
        too weak to make a barrier there (:math:`L'(0.75) > 0`).
        """
        lo, hi = 0.5, 0.75  # L' > 0 at 0.5; the ripple pulls L' lowest near 0.75
        if self.grad(hi) > 0:
            return math.inf
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.grad(mid) > 0 else (lo, mid)
        return 0.5 * (lo + hi)


def geometric_cooling(start_lr: float, end_lr: float, total_steps: int) -> np.ndarray:
    r"""Rates falling geometrically from ``start_lr`` (step 0) to ``end_lr`` (step T-1).

    :math:`\eta_t = \eta_0\,(\eta_{end}/\eta_0)^{t/(T-1)}`: the temperature is
    multiplied by the same factor at every step, as in Kirkpatrick et al.'s
    cooling schedule.

    >>> geometric_cooling(1.0, 0.01, 3).tolist()
    [1.0, 0.1, 0.01]
    """
    start_lr = check_positive("start_lr", start_lr)
    end_lr = check_positive("end_lr", end_lr)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    if total_steps == 1:
        return np.array([start_lr])
    return start_lr * (end_lr / start_lr) ** (np.arange(total_steps) / (total_steps - 1))


def anneal(landscape: RuggedLandscape, rates, *, sigma: float, x0: float = 3.0, n_runs: int = 2000, seed: int = 0,
           device=None) -> np.ndarray:
    r"""Run noisy gradient descent on ``n_runs`` independent particles at once; return the final positions.

    Parameters
    ----------
    landscape : RuggedLandscape
    rates : array_like
        :math:`\eta_0..\eta_{T-1}`, each >= 0.
    sigma : float
        Gradient noise standard deviation :math:`\sigma > 0`.
    x0 : float
        Common starting point.
    n_runs : int
        Number of runs (a vector of particles on ``device``).
    seed : int
        Seed of a private torch generator.
    device : str or torch.device, optional

    Returns
    -------
    numpy.ndarray, shape (n_runs,)

    >>> x = anneal(RuggedLandscape(), [0.02] * 10, sigma=1e-9, x0=0.1, n_runs=3, device="cpu")
    >>> bool(np.all(np.abs(x) < 0.1))
    True
    """
    rates = np.asarray(rates, dtype=np.float64)
    if rates.ndim != 1 or rates.size == 0:
        raise ValueError(f"rates must be a non-empty 1-D array, got rates of shape {rates.shape}")
    check_rates(rates)
    sigma = check_positive("sigma", sigma)
    x0 = check_finite("x0", x0)
    n_runs = check_int("n_runs", n_runs, minimum=1)
    dev = resolve_device(device)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    x = torch.full((n_runs,), x0, dtype=torch.float64, device=dev)
    noise = torch.empty_like(x)
    for lr in rates.tolist():
        torch.randn(x.shape, generator=gen, dtype=torch.float64, device=dev, out=noise)
        x = x - lr * (landscape.grad(x) + sigma * noise)
    return x.cpu().numpy()


def success_vs_cooling(landscape: RuggedLandscape, cooling_steps, *, start_lr: float, end_lr: float, sigma: float,
                       x0: float = 3.0, n_runs: int = 2000, seed: int = 0, device=None):
    """Fraction of runs ending in the global basin, for geometric cooling over each number of steps.

    Parameters
    ----------
    landscape : RuggedLandscape
    cooling_steps : sequence of int
        Lengths T of the cooling (larger = slower cooling).
    start_lr, end_lr : float
        First and last rate of every cooling.
    sigma, x0, n_runs, seed, device
        As in :func:`anneal` (each cooling length uses its own seed ``seed + i``).

    Returns
    -------
    pandas.DataFrame
        Columns ``cooling_steps``, ``success``, ``ci_low``, ``ci_high`` (95 % Wilson).

    >>> table = success_vs_cooling(RuggedLandscape(), [5], start_lr=0.02, end_lr=2e-4, sigma=16.0, n_runs=50)
    >>> table.columns.tolist()
    ['cooling_steps', 'success', 'ci_low', 'ci_high']
    """
    import pandas as pd

    edge = landscape.basin_edge
    rows = []
    for i, steps in enumerate(cooling_steps):
        x = anneal(landscape, geometric_cooling(start_lr, end_lr, steps), sigma=sigma, x0=x0, n_runs=n_runs,
                   seed=seed + i, device=device)
        k = int(np.sum(np.abs(x) < edge))
        low, high = wilson_interval(k, n_runs)
        rows.append({"cooling_steps": int(steps), "success": k / n_runs, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)
