r"""The noisy quadratic model (NQM): SGD on a quadratic with Gaussian gradient noise.

The loss is diagonal in its eigenbasis,

.. math:: L(\theta) = \tfrac12 \sum_i h_i \theta_i^2,

and a minibatch of size :math:`B` returns the gradient
:math:`g_i = h_i \theta_i + \xi_i` with independent noise
:math:`\xi_i \sim \mathcal N(0, \sigma_i^2 / B)` (Schaul et al. 2013; Zhang et al.
2019, *Which algorithmic choices matter at which batch sizes?*). SGD with rate
:math:`\eta_t` gives :math:`\theta_{t+1} = (1 - \eta_t h_i)\theta_t - \eta_t \xi_t`,
so the second moment obeys an exact recursion, for any schedule:

.. math:: \mathbb E[\theta_i^2]_{t+1} = (1 - \eta_t h_i)^2\, \mathbb E[\theta_i^2]_t
          + \eta_t^2 \sigma_i^2 / B .

With a constant rate the fixed point is the noise floor
:math:`\mathbb E[\theta_i^2]_\infty = \eta \sigma_i^2 / (B h_i (2 - \eta h_i))`,
i.e. an expected loss of :math:`\sum_i \eta\sigma_i^2 / (2B(2 - \eta h_i))`.

>>> nqm = NoisyQuadratic(h=[1.0], sigma2=[1.0], batch_size=1, theta0=[0.0])
>>> round(nqm.noise_floor(0.1), 6)          # 0.1 / (2 * 1.9)
0.026316
>>> loss = nqm.expected_loss(constant_schedule(0.1), total_steps=500)
>>> round(float(loss[-1]), 6)
0.026316
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch

from ._validate import check_int, check_positive, check_rates
from .device import resolve_device
from .schedules import Schedule, constant_schedule

__all__ = ["NoisyQuadratic", "MonteCarloResult", "rates_of", "tune_peak_lr", "compare_schedules"]


def rates_of(schedule, total_steps: int | None = None) -> np.ndarray:
    """The rates :math:`\\eta_0, \\dots, \\eta_{T-1}` of a schedule, or an array of rates as given.

    A 2-D array holds one row of rates per run (e.g. a grid of peak rates).
    """
    if isinstance(schedule, Schedule) or callable(schedule):
        total_steps = check_int("total_steps", total_steps, minimum=1) if total_steps is not None else None
        if total_steps is None:
            raise ValueError("total_steps is required when a schedule (not an array of rates) is given")
        return np.asarray(schedule(np.arange(total_steps)), dtype=np.float64)
    lrs = np.asarray(schedule, dtype=np.float64)
    if lrs.ndim == 0 or lrs.shape[-1] == 0:
        raise ValueError(f"rates must be a non-empty array with one entry per step, got shape {lrs.shape}")
    if total_steps is not None and lrs.shape[-1] != total_steps:
        raise ValueError(f"got {lrs.shape[-1]} rates for total_steps={total_steps}")
    return check_rates(lrs)


@dataclass(frozen=True)
class MonteCarloResult:
    """Loss per step averaged over seeds: ``mean[t]`` and its standard error ``stderr[t]``."""

    mean: np.ndarray
    stderr: np.ndarray
    n_seeds: int
    device: str


class NoisyQuadratic:
    """A noisy quadratic: curvatures ``h``, per-example noise variances ``sigma2``, batch size, start.

    Parameters
    ----------
    h : array_like
        Positive curvatures :math:`h_i` (eigenvalues of the Hessian).
    sigma2 : array_like
        Per-example gradient-noise variances :math:`\\sigma_i^2` (same shape as ``h``).
    batch_size : int
        Minibatch size :math:`B`; the gradient noise variance is :math:`\\sigma_i^2/B`.
    theta0 : array_like
        The (deterministic) starting point :math:`\\theta_0`; a scalar is broadcast.
    """

    def __init__(self, h, sigma2, batch_size: int = 1, theta0=1.0):
        h = np.atleast_1d(np.asarray(h, dtype=np.float64))
        sigma2 = np.atleast_1d(np.asarray(sigma2, dtype=np.float64))
        if h.ndim != 1 or h.size == 0:
            raise ValueError(f"h must be a non-empty 1-D array of curvatures, got shape {h.shape}")
        if not np.all(np.isfinite(h)) or (h <= 0).any():
            raise ValueError(f"every curvature h_i must be finite and > 0, got min(h)={h.min()!r}")
        if sigma2.shape != h.shape:
            raise ValueError(f"sigma2 must have the shape of h {h.shape}, got {sigma2.shape}")
        if not np.all(np.isfinite(sigma2)) or (sigma2 < 0).any():
            raise ValueError(f"every noise variance sigma2_i must be finite and >= 0, got min={sigma2.min()!r}")
        self.h = h
        self.sigma2 = sigma2
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.theta0 = np.broadcast_to(np.asarray(theta0, dtype=np.float64), h.shape).copy()

    @classmethod
    def power_law(cls, dim: int = 100, h_max: float = 1.0, exponent: float = 1.0, batch_size: int = 1, theta0=1.0):
        """A spectrum :math:`h_i = h_{\\max} i^{-p}` with noise proportional to curvature (:math:`\\sigma_i^2 = h_i`).

        The gradient-noise covariance equals the Hessian, as near a minimum of a
        well-specified likelihood (Zhang et al. 2019 use the same choice).
        """
        dim = check_int("dim", dim, minimum=1)
        h_max = check_positive("h_max", h_max)
        exponent = check_positive("exponent", exponent)
        h = h_max * np.arange(1, dim + 1, dtype=np.float64) ** (-exponent)
        return cls(h=h, sigma2=h.copy(), batch_size=batch_size, theta0=theta0)

    def with_noise_scaled(self, factor: float) -> "NoisyQuadratic":
        """The same model with every noise variance :math:`\\sigma_i^2` multiplied by ``factor``.

        A deliberately misspecified model: the power of a check of the exact
        recursion against Monte Carlo is that it rejects this one.

        >>> nqm = NoisyQuadratic(h=[1.0, 0.5], sigma2=[2.0, 1.0], batch_size=4)
        >>> nqm.with_noise_scaled(1.05).sigma2.tolist(), nqm.sigma2.tolist()
        ([2.1, 1.05], [2.0, 1.0])
        """
        factor = check_positive("factor", factor)
        return NoisyQuadratic(h=self.h, sigma2=factor * self.sigma2, batch_size=self.batch_size, theta0=self.theta0)

    def __repr__(self) -> str:
        return f"NoisyQuadratic(dim={self.dim}, h_max={self.h_max:g}, h_min={self.h.min():g}, batch_size={self.batch_size})"

    @property
    def dim(self) -> int:
        return self.h.size

    @property
    def h_max(self) -> float:
        return float(self.h.max())

    @property
    def stability_limit(self) -> float:
        """The largest stable constant rate, :math:`2 / h_{\\max}`."""
        return 2.0 / self.h_max

    def loss(self, theta):
        """:math:`\\tfrac12\\sum_i h_i\\theta_i^2` over the last axis (numpy or torch)."""
        if isinstance(theta, torch.Tensor):
            return 0.5 * (torch.as_tensor(self.h, dtype=theta.dtype, device=theta.device) * theta**2).sum(-1)
        return 0.5 * (self.h * np.asarray(theta) ** 2).sum(-1)

    def noise_floor(self, lr: float) -> float:
        """Stationary expected loss under a constant rate: :math:`\\sum_i \\eta\\sigma_i^2 / (2B(2-\\eta h_i))`."""
        lr = check_positive("lr", lr)
        if lr >= self.stability_limit:
            raise ValueError(
                f"lr={lr!r} is at or beyond the stability limit 2/h_max={self.stability_limit:g}: "
                "a constant rate there has no noise floor (the loss diverges)"
            )
        return float(np.sum(lr * self.sigma2 / (2 * self.batch_size * (2 - lr * self.h))))

    def second_moments(self, schedule, total_steps: int | None = None) -> np.ndarray:
        """Exact :math:`\\mathbb E[\\theta_i^2]_t` for ``t = 0 .. T``: shape ``(..., T + 1, dim)``."""
        lrs = rates_of(schedule, total_steps)
        steps = lrs.shape[-1]
        out = np.empty(lrs.shape[:-1] + (steps + 1, self.dim))
        m = np.broadcast_to(self.theta0**2, lrs.shape[:-1] + (self.dim,)).copy()
        out[..., 0, :] = m
        noise = self.sigma2 / self.batch_size
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(steps):
                eta = lrs[..., t, None]
                m = (1 - eta * self.h) ** 2 * m + eta**2 * noise
                out[..., t + 1, :] = m
        return out

    def expected_loss(self, schedule, total_steps: int | None = None) -> np.ndarray:
        """Exact expected loss :math:`\\mathbb E[L(\\theta_t)]` for ``t = 0 .. T``: shape ``(..., T + 1)``."""
        return 0.5 * (self.second_moments(schedule, total_steps) * self.h).sum(-1)

    def simulate(
        self,
        schedule,
        total_steps: int | None = None,
        n_seeds: int = 1000,
        seed: int = 0,
        device=None,
        dtype=torch.float32,
        progress: bool = False,
    ) -> MonteCarloResult:
        """Run SGD on ``n_seeds`` independent copies at once and average the loss at every step.

        Vectorized over seeds and coordinates (one tensor of shape
        ``(n_seeds, dim)``); runs on ``device`` (default: CUDA when present).
        The particles are ``float32`` by default (sampling error dwarfs rounding);
        per-step averages are accumulated in ``float64``.
        """
        lrs = rates_of(schedule, total_steps)
        if lrs.ndim != 1:
            raise ValueError(f"simulate takes one schedule (1-D rates), got rates of shape {lrs.shape}")
        n_seeds = check_int("n_seeds", n_seeds, minimum=2)
        dev = resolve_device(device)
        gen = torch.Generator(device=dev).manual_seed(int(seed))
        h = torch.as_tensor(self.h, dtype=dtype, device=dev)
        scale = torch.as_tensor(np.sqrt(self.sigma2 / self.batch_size), dtype=dtype, device=dev)
        theta = torch.as_tensor(self.theta0, dtype=dtype, device=dev).expand(n_seeds, -1).clone()
        steps = lrs.shape[0]
        means = torch.empty(steps + 1, dtype=torch.float64, device=dev)
        sqs = torch.empty(steps + 1, dtype=torch.float64, device=dev)
        loss = 0.5 * (h * theta**2).sum(-1)
        means[0], sqs[0] = loss.mean(), (loss**2).mean()
        iterator = range(steps)
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(iterator, desc=f"NQM Monte Carlo ({n_seeds} seeds, {dev.type})", leave=False)
        half_h = 0.5 * h
        noise = torch.empty_like(theta)
        for t in iterator:
            lr = float(lrs[t])
            torch.randn(theta.shape, generator=gen, dtype=dtype, device=dev, out=noise)
            noise.mul_(scale)
            # theta <- (1 - lr h) theta - lr * noise, in place
            theta.mul_(1.0 - lr * h).sub_(noise, alpha=lr)
            loss = (theta * theta) @ half_h
            means[t + 1], sqs[t + 1] = loss.mean(), (loss * loss).mean()
        mean = means.cpu().numpy()
        var = np.maximum(sqs.cpu().numpy() - mean**2, 0.0) * n_seeds / (n_seeds - 1)
        return MonteCarloResult(mean=mean, stderr=np.sqrt(var / n_seeds), n_seeds=n_seeds, device=str(dev))


def tune_peak_lr(
    nqm: NoisyQuadratic, make_schedule: Callable[[float], Schedule], total_steps: int, lr_grid
) -> tuple[float, float, np.ndarray]:
    """Pick the peak rate on ``lr_grid`` with the lowest exact final expected loss.

    Returns ``(best_lr, best_final_loss, final_losses)``; diverging rates count as ``inf``.
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    grid = np.asarray(lr_grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"lr_grid must be a non-empty 1-D array of rates, got shape {grid.shape}")
    rates = np.stack([rates_of(make_schedule(float(lr)), total_steps) for lr in grid])
    final = nqm.expected_loss(rates)[:, -1]
    final = np.where(np.isfinite(final), final, np.inf)
    best = int(np.argmin(final))
    return float(grid[best]), float(final[best]), final


def compare_schedules(
    nqm: NoisyQuadratic,
    factories: Mapping[str, Callable[[float], Schedule]],
    total_steps: int,
    lr_grid,
):
    """Tune each schedule's peak rate on the same grid and step budget; a table sorted by final loss.

    Returns a ``pandas.DataFrame`` with one row per schedule: the tuned
    ``peak_lr`` and the exact ``final_loss`` at step ``total_steps``.
    """
    import pandas as pd

    rows = []
    for name, make in factories.items():
        lr, final, _ = tune_peak_lr(nqm, make, total_steps, lr_grid)
        rows.append({"schedule": name, "peak_lr": lr, "final_loss": final})
    table = pd.DataFrame(rows).sort_values("final_loss").reset_index(drop=True)
    return table


def constant_noise_floor_check(nqm: NoisyQuadratic, lr: float, total_steps: int) -> tuple[float, float]:
    """``(formula, exact recursion at total_steps)`` for a constant rate: they agree once transients die out."""
    return nqm.noise_floor(lr), float(nqm.expected_loss(constant_schedule(lr), total_steps)[-1])
