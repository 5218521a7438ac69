r"""SGD on a quadratic as a stochastic differential equation: the variance ODE.

On one eigen-coordinate of a quadratic (curvature :math:`h`, per-example
gradient variance :math:`\sigma^2`, batch size :math:`B`), SGD with rate
:math:`\eta_t` is :math:`\theta_{t+1} = (1-\eta_t h)\theta_t - \eta_t\xi_t` with
:math:`\xi_t \sim \mathcal N(0, \sigma^2/B)`. Counting time in steps, its
continuous limit is an Ornstein-Uhlenbeck process (Mandt, Hoffman & Blei 2017,
*Stochastic gradient descent as approximate Bayesian inference*),

.. math:: d\theta = -\eta(t) h\,\theta\,dt + \eta(t)\,\frac{\sigma}{\sqrt B}\,dW_t ,

whose second moment :math:`v(t) = \mathbb E[\theta^2]` obeys the *variance ODE*

.. math:: \frac{dv}{dt} = -2h\eta(t)\,v + \eta(t)^2 \frac{\sigma^2}{B} .

With a constant rate it relaxes, with time constant :math:`1/(2h\eta)` steps, to
the stationary variance :math:`v_\infty = \eta\sigma^2/(2hB)`, the Gibbs law
:math:`\propto e^{-L(\theta)/\tau}` of the temperature
:math:`\tau = \eta\sigma^2/(2B)`. (The discrete recursion's fixed point is
:math:`\eta\sigma^2/(hB(2-\eta h))`: the two agree to first order in
:math:`\eta h`.) When the rate changes slowly compared with the relaxation time
the variance tracks :math:`v_\infty(\eta(t))` (*adiabatic*); after a sudden drop
(*quench*) it lags behind and relaxes exponentially.

>>> round(stationary_variance(0.1, h=1.0, sigma2=1.0), 6)
0.05
>>> from lrlab.schedules import constant_schedule
>>> v = variance_ode(constant_schedule(0.1), total_steps=2000, h=1.0, sigma2=1.0, v0=0.0)
>>> round(float(v[-1]), 6)
0.05
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._validate import check_int, check_positive_array
from .device import resolve_device
from .nqm import rates_of

__all__ = [
    "temperature",
    "stationary_variance",
    "discrete_stationary_variance",
    "relaxation_time",
    "variance_ode",
    "adiabatic_variance",
    "VarianceMC",
    "simulate_variance",
    "simulate_stationary_variance",
]


def temperature(lr, sigma2, batch_size: int = 1):
    r"""The temperature of SGD, :math:`\tau = \eta\sigma^2/(2B)`.

    The stationary law of the variance ODE is the Gibbs law
    :math:`\propto \exp(-L(\theta)/\tau)` of the quadratic loss
    :math:`L = h\theta^2/2` (Mandt et al. 2017).

    Parameters
    ----------
    lr : float or array_like
        The rate :math:`\eta > 0`.
    sigma2 : float or array_like
        Per-example gradient variance :math:`\sigma^2 > 0`.
    batch_size : int
        :math:`B \ge 1`.

    Returns
    -------
    float or numpy.ndarray

    >>> temperature(0.2, sigma2=1.0, batch_size=4)
    0.025
    """
    lr = check_positive_array("lr", lr)
    sigma2 = check_positive_array("sigma2", sigma2)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    out = lr * sigma2 / (2 * batch_size)
    return float(out) if out.ndim == 0 else out


def stationary_variance(lr, h, sigma2, batch_size: int = 1):
    r"""Stationary variance of the variance ODE, :math:`v_\infty = \eta\sigma^2/(2hB) = \tau/h`.

    Parameters
    ----------
    lr : float or array_like
        The rate :math:`\eta > 0`.
    h : float or array_like
        Curvature :math:`h > 0`.
    sigma2 : float or array_like
        Per-example gradient variance.
    batch_size : int
        Batch size :math:`B`.

    Returns
    -------
    float or numpy.ndarray

    >>> stationary_variance(0.1, h=2.0, sigma2=1.0, batch_size=5)
    0.005
    """
    h = check_positive_array("h", h)
    out = np.asarray(temperature(lr, sigma2, batch_size)) / h
    return float(out) if out.ndim == 0 else out


def discrete_stationary_variance(lr, h, sigma2, batch_size: int = 1):
    r"""Fixed point of the exact SGD recursion, :math:`v_d = \eta\sigma^2/(hB(2-\eta h))`, for :math:`0 < \eta h < 2`.

    It exceeds the SDE's :math:`v_\infty` by the factor :math:`2/(2-\eta h)`,
    a relative :math:`\eta h/2` to first order.

    >>> round(discrete_stationary_variance(0.1, h=1.0, sigma2=1.0), 6)   # 0.1 / 1.9
    0.052632
    """
    lr = check_positive_array("lr", lr)
    h = check_positive_array("h", h)
    if np.any(lr * h >= 2):
        raise ValueError(f"lr * h must be below 2 (stability), got lr={lr!r}, h={h!r}")
    out = np.asarray(stationary_variance(lr, h, sigma2, batch_size)) * 2 / (2 - lr * h)
    return float(out) if out.ndim == 0 else out


def relaxation_time(lr, h):
    r"""Time constant of the variance ODE at a constant rate, :math:`1/(2h\eta)` steps.

    >>> relaxation_time(0.05, h=1.0)
    10.0
    """
    lr = check_positive_array("lr", lr)
    h = check_positive_array("h", h)
    out = 1.0 / (2 * h * lr)
    return float(out) if out.ndim == 0 else out


def variance_ode(schedule, total_steps: int | None = None, *, h, sigma2, batch_size: int = 1, v0=1.0) -> np.ndarray:
    r"""Integrate :math:`dv/dt = -2h\eta(t)v + \eta(t)^2\sigma^2/B` over ``total_steps`` unit steps.

    Within step :math:`t` the rate is held at :math:`\eta_t` (as SGD holds it), and
    the linear ODE is solved exactly there:
    :math:`v(t+1) = v_\infty(\eta_t) + (v(t) - v_\infty(\eta_t))\,e^{-2h\eta_t}`.
    There is no discretisation error, for any schedule; a zero rate freezes
    :math:`v`.

    Parameters
    ----------
    schedule : Schedule or array_like
        The schedule, or the rates :math:`\eta_0..\eta_{T-1}` (a 2-D array gives one
        row per run).
    total_steps : int, optional
        :math:`T` (required for a schedule).
    h, sigma2 : float or array_like
        Curvatures and gradient variances, broadcast against each other (one
        coordinate each).
    batch_size : int
        :math:`B`.
    v0 : float or array_like
        Starting second moment :math:`v(0) = \mathbb E[\theta_0^2]`.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., T + 1, n_coords)``, or ``(..., T + 1)`` when ``h`` and
        ``sigma2`` are scalars.

    >>> v = variance_ode([0.1, 0.0], h=1.0, sigma2=1.0, v0=1.0)
    >>> v.round(4).tolist()   # relax for one step, then frozen
    [1.0, 0.8278, 0.8278]
    """
    lrs = rates_of(schedule, total_steps)
    h_arr = check_positive_array("h", h)
    s_arr = check_positive_array("sigma2", sigma2)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    scalar = h_arr.ndim == 0 and s_arr.ndim == 0
    h_arr, s_arr = np.broadcast_arrays(np.atleast_1d(h_arr), np.atleast_1d(s_arr))
    v0 = np.asarray(v0, dtype=np.float64)
    if not np.all(np.isfinite(v0)) or np.any(v0 < 0):
        raise ValueError(f"v0 must be finite and >= 0, got v0={v0!r}")
    steps = lrs.shape[-1]
    out = np.empty(lrs.shape[:-1] + (steps + 1, h_arr.size))
    v = np.broadcast_to(v0, lrs.shape[:-1] + (h_arr.size,)).astype(np.float64)
    out[..., 0, :] = v
    for t in range(steps):
        eta = lrs[..., t, None]
        v_inf = eta * s_arr / (2 * h_arr * batch_size)
        v = v_inf + (v - v_inf) * np.exp(-2 * h_arr * eta)
        out[..., t + 1, :] = v
    return out[..., 0] if scalar else out


def adiabatic_variance(schedule, total_steps: int | None = None, *, h, sigma2, batch_size: int = 1) -> np.ndarray:
    r"""The variance an adiabatic run would have: :math:`v_\infty(\eta_{t-1})` at each step ``t = 1..T``.

    Parameters
    ----------
    schedule : Schedule or array_like
    total_steps : int, optional
    h, sigma2 : float
    batch_size : int

    Returns
    -------
    numpy.ndarray
        Shape ``(T,)``: the stationary variance of the rate used in the step
        that led to ``t``.

    >>> adiabatic_variance([0.1, 0.01], h=1.0, sigma2=1.0).tolist()
    [0.05, 0.005]
    """
    lrs = rates_of(schedule, total_steps)
    return np.asarray(stationary_variance(np.maximum(lrs, 1e-300), h, sigma2, batch_size))


@dataclass(frozen=True)
class VarianceMC:
    """Monte Carlo estimate of :math:`\\mathbb E[\\theta_t^2]` per step and coordinate, with standard errors."""

    mean: np.ndarray
    stderr: np.ndarray
    n_seeds: int
    device: str
    steps: np.ndarray | None = None


def simulate_variance(
    schedule,
    total_steps: int | None = None,
    *,
    h,
    sigma2,
    batch_size: int = 1,
    theta0=1.0,
    n_seeds: int = 4000,
    seed: int = 0,
    device=None,
    record=None,
) -> VarianceMC:
    r"""Discrete SGD, :math:`\theta_{t+1} = (1-\eta_t h)\theta_t - \eta_t\xi_t`, on ``n_seeds`` copies at once.

    Vectorized as one tensor of shape ``(n_seeds, n_coords)`` (float32 particles,
    float64 averages), on ``device`` (default :func:`lrlab.device.default_device`).

    Parameters
    ----------
    schedule : Schedule or array_like
        One schedule (1-D rates).
    total_steps : int, optional
    h, sigma2 : float or array_like
        Curvatures and gradient variances (broadcast together).
    batch_size : int
    theta0 : float or array_like
        Starting point of every copy.
    n_seeds : int
        Number of independent runs (>= 2).
    seed : int
        Seed of a private torch generator.
    device : str or torch.device, optional
    record : array_like of int, optional
        Steps (in 0..T, increasing) at which to average; default every step.
        Averaging costs as much as a step, so a sparse record halves the time.

    Returns
    -------
    VarianceMC
        ``mean`` and ``stderr`` of :math:`\theta_t^2`, shape ``(T + 1, n_coords)``,
        or ``(len(record), n_coords)`` with ``steps`` the recorded steps.

    >>> mc = simulate_variance([0.1] * 300, h=1.0, sigma2=1.0, theta0=0.0, n_seeds=20000, device="cpu")
    >>> bool(abs(mc.mean[-1, 0] - 0.1 / 1.9) < 4 * mc.stderr[-1, 0])   # the discrete fixed point
    True
    """
    lrs = rates_of(schedule, total_steps)
    if lrs.ndim != 1:
        raise ValueError(f"simulate_variance takes one schedule (1-D rates), got rates of shape {lrs.shape}")
    n_seeds = check_int("n_seeds", n_seeds, minimum=2)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    h_arr, s_arr = np.broadcast_arrays(np.atleast_1d(check_positive_array("h", h)), np.atleast_1d(check_positive_array("sigma2", sigma2)))
    dev = resolve_device(device)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    ht = torch.as_tensor(h_arr, dtype=torch.float32, device=dev)
    scale = torch.as_tensor(np.sqrt(s_arr / batch_size), dtype=torch.float32, device=dev)
    theta = torch.as_tensor(np.broadcast_to(np.asarray(theta0, dtype=np.float64), h_arr.shape).copy(),
                            dtype=torch.float32, device=dev).expand(n_seeds, -1).clone()
    steps = lrs.shape[0]
    wanted = np.arange(steps + 1) if record is None else np.asarray(record, dtype=int).ravel()
    if wanted.size == 0 or wanted.min() < 0 or wanted.max() > steps or np.any(np.diff(wanted) <= 0):
        raise ValueError(f"record must hold increasing steps in 0..{steps}, got record={record!r}")
    slot = np.full(steps + 1, -1)
    slot[wanted] = np.arange(wanted.size)
    means = torch.empty(wanted.size, h_arr.size, dtype=torch.float64, device=dev)
    sqs = torch.empty_like(means)
    sq = theta * theta

    def average(t):
        if slot[t] >= 0:
            torch.mul(theta, theta, out=sq)
            torch.mean(sq, 0, dtype=torch.float64, out=means[slot[t]])
            sq.mul_(sq)
            torch.mean(sq, 0, dtype=torch.float64, out=sqs[slot[t]])

    average(0)
    noise = torch.empty_like(theta)
    lr_t = torch.as_tensor(lrs, dtype=torch.float32, device=dev)[:, None]
    shrink = 1.0 - lr_t * ht  # (T, n_coords): the factor 1 - eta_t h of every step
    kick = -lr_t * scale  # and the noise's factor -eta_t sigma / sqrt(B)
    for t in range(steps):
        torch.randn(theta.shape, generator=gen, dtype=torch.float32, device=dev, out=noise)
        theta.mul_(shrink[t]).addcmul_(noise, kick[t])
        average(t + 1)
    mean = means.cpu().numpy()
    var = np.maximum(sqs.cpu().numpy() - mean**2, 0.0) * n_seeds / (n_seeds - 1)
    return VarianceMC(mean=mean, stderr=np.sqrt(var / n_seeds), n_seeds=n_seeds, device=str(dev),
                      steps=None if record is None else wanted)


def simulate_stationary_variance(lrs, *, h: float, sigma2: float, batch_size: int = 1, n_chains: int = 1000,
                                 n_steps: int = 10_000, burn_in: int = 200, seed: int = 0, device=None) -> np.ndarray:
    r"""Time average of :math:`\theta_t^2` of SGD at each constant rate, one value per chain: the stationary variance measured.

    Every chain starts at :math:`\theta = 0`, runs ``burn_in`` steps, then
    averages :math:`\theta_t^2` over ``n_steps`` steps. Chains are independent,
    so the mean over chains with a t interval is an honest estimate of the
    stationary variance, whatever the autocorrelation within a chain. All the
    rates share the noise :math:`\xi_t` of a chain (common random numbers), so
    differences between rates are measured far more precisely than the rates'
    own values.

    Parameters
    ----------
    lrs : array_like
        Constant rates with :math:`0 < \eta h < 2`.
    h, sigma2 : float
        Curvature and per-example gradient variance.
    batch_size : int
    n_chains, n_steps, burn_in : int
        Chains (>= 2), averaged steps (>= 1) and discarded steps per chain;
        ``burn_in`` should be several relaxation times :math:`1/(2h\eta)`.
    seed : int
    device : str or torch.device, optional

    Returns
    -------
    numpy.ndarray, shape (n_chains, len(lrs))

    >>> m = simulate_stationary_variance([0.1], h=1.0, sigma2=1.0, n_chains=200, n_steps=2000, device="cpu")
    >>> bool(abs(m.mean() - 0.1 / 1.9) < 4 * m.std() / np.sqrt(200))   # the discrete fixed point
    True
    """
    lrs = check_positive_array("lrs", lrs).ravel()
    h = float(check_positive_array("h", h))
    if np.any(lrs * h >= 2):
        raise ValueError(f"lrs * h must be below 2 (stability), got max lr {lrs.max()!r} with h={h!r}")
    sigma2 = float(check_positive_array("sigma2", sigma2))
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n_chains = check_int("n_chains", n_chains, minimum=2)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    burn_in = check_int("burn_in", burn_in, minimum=0)
    dev = resolve_device(device)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    rate = torch.as_tensor(lrs, dtype=torch.float64, device=dev)
    shrink = 1.0 - rate * h
    kick = rate * np.sqrt(sigma2 / batch_size)
    theta = torch.zeros(n_chains, lrs.size, dtype=torch.float64, device=dev)
    total = torch.zeros_like(theta)
    noise = torch.empty(n_chains, 1, dtype=torch.float32, device=dev)
    for t in range(burn_in + n_steps):
        torch.randn(noise.shape, generator=gen, dtype=torch.float32, device=dev, out=noise)
        theta.mul_(shrink).sub_(noise.double() * kick)
        if t >= burn_in:
            total.addcmul_(theta, theta)
    return (total / n_steps).cpu().numpy()
