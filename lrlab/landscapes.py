r"""An asymmetric double well, barrier-crossing kicks, and warm restarts as repeated kicks.

The landscape is

.. math:: L(\theta) = \frac{a}{4}(\theta^2 - 1)^2 + c\,\theta ,

two wells near :math:`\theta = \pm 1` separated by a barrier near
:math:`\theta = c/a`; the tilt :math:`c > 0` makes the left well the deeper one.

**Kick model** (stated for :func:`kick_threshold`). The particle rests at the
bottom of the shallow well. A restart raises the rate to :math:`\eta` and the
first step meets a gradient fluctuation of size :math:`g` pointing away from
the barrier, so heavy ball starts with velocity :math:`v_1 = \eta g` towards
it. In the continuous limit (time unit :math:`\sqrt\eta`) its kinetic energy is
:math:`v_1^2/(2\eta) = \eta g^2/2`; without friction (:math:`\beta = 1`)
energy is conserved, so it crosses a barrier of height :math:`\Delta L` iff
:math:`\eta g^2 / 2 > \Delta L`, i.e. :math:`\eta > \eta^* = 2\Delta L / g^2`.
The same gradient noise delivers more energy at a larger rate: that is the
kick.

**With friction** (:math:`\beta < 1`) the ball loses energy on the way up, at
the rate :math:`dE/d\tau = -\gamma\dot\theta^2` with
:math:`\gamma = (1-\beta)/\sqrt\eta`. On its first swing it moves
monotonically towards the barrier, so the distance :math:`s` travelled can
serve as the clock: :math:`dE/ds = -\gamma\,\dot\theta = -\gamma\sqrt{2(E - U(s))}`,
with :math:`U` the loss above the shallow minimum. Integrating this backwards
from the barrier, where the slowest crossing arrives with :math:`E = \Delta L`,
gives the smallest starting energy :math:`E^\ast(\gamma)` that crosses
(:func:`kick_energy_needed`); the threshold is the root of
:math:`\eta g^2/2 = E^\ast\big((1-\beta)/\sqrt\eta\big)`
(:func:`friction_kick_threshold`), exact in the continuous limit. To first order
in :math:`\gamma`, :math:`E^\ast \approx \Delta L + \gamma I` with the action
:math:`I = \int \sqrt{2(\Delta L - U)}\, ds` (:func:`kick_action`), a cubic in
:math:`\sqrt\eta` (:func:`small_friction_kick_threshold`).

:func:`kick_threshold_bisection` measures the threshold of the discrete
run (with friction if asked), and :func:`restart_escape` runs noisy heavy ball
under a schedule for many seeds (Loshchilov & Hutter 2017, SGDR).

>>> well = AsymmetricDoubleWell(a=1.0, tilt=0.2)
>>> well.deep_min < well.barrier < well.shallow_min
True
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ._validate import check_finite, check_int, check_nonnegative, check_positive
from .device import resolve_device

__all__ = [
    "AsymmetricDoubleWell",
    "kick_threshold",
    "kick_action",
    "kick_energy_needed",
    "friction_kick_threshold",
    "small_friction_kick_threshold",
    "crosses_barrier",
    "kick_threshold_bisection",
    "EscapeResult",
    "restart_escape",
    "restart_escape_many",
]


class AsymmetricDoubleWell:
    r"""The tilted double well :math:`L(\theta) = \frac a4 (\theta^2-1)^2 + c\theta` (module docstring).

    Parameters
    ----------
    a : float
        Stiffness :math:`a > 0` (curvature :math:`\approx 2a` at the minima).
    tilt : float
        :math:`c`, with :math:`0 < c < 2a/(3\sqrt3)` so that both wells exist.

    Attributes
    ----------
    deep_min, barrier, shallow_min : float
        The three stationary points, the roots of :math:`a\theta(\theta^2 - 1) + c = 0`.

    >>> well = AsymmetricDoubleWell(a=1.0, tilt=0.2)
    >>> round(well.barrier_height, 4), round(well.depth_gap, 4)
    (0.0817, 0.3979)
    """

    def __init__(self, a: float = 1.0, tilt: float = 0.2):
        self.a = check_positive("a", a)
        self.tilt = check_positive("tilt", tilt)
        limit = 2 * self.a / (3 * math.sqrt(3))
        if self.tilt >= limit:
            raise ValueError(f"tilt must be < 2a/(3 sqrt 3) = {limit:.6g} for two wells, got tilt={tilt!r}")
        roots = np.sort(np.roots([self.a, 0.0, -self.a, self.tilt]).real)
        self.deep_min, self.barrier, self.shallow_min = (float(r) for r in roots)

    def __repr__(self) -> str:
        return f"AsymmetricDoubleWell(a={self.a!r}, tilt={self.tilt!r})"

    def loss(self, theta):
        """:math:`L(\\theta)`, on numbers, numpy arrays or torch tensors."""
        return self.a / 4 * (theta**2 - 1) ** 2 + self.tilt * theta

    def grad(self, theta):
        """:math:`L'(\\theta) = a\\theta(\\theta^2 - 1) + c`."""
        return self.a * theta * (theta**2 - 1) + self.tilt

    def curvature(self, theta):
        """:math:`L''(\\theta) = a(3\\theta^2 - 1)`."""
        return self.a * (3 * theta**2 - 1)

    @property
    def barrier_height(self) -> float:
        """:math:`\\Delta L = L(\\text{barrier}) - L(\\text{shallow minimum})`, the climb out of the shallow well."""
        return float(self.loss(self.barrier) - self.loss(self.shallow_min))

    @property
    def depth_gap(self) -> float:
        """How much deeper the deep well is: :math:`L(\\text{shallow}) - L(\\text{deep}) > 0`."""
        return float(self.loss(self.shallow_min) - self.loss(self.deep_min))


def kick_threshold(barrier_height: float, kick: float) -> float:
    r"""Smallest rate at which a gradient kick ``g`` carries a frictionless particle over ``barrier_height``.

    :math:`\eta^* = 2\Delta L / g^2` (the kick model of the module docstring).

    Parameters
    ----------
    barrier_height : float
        :math:`\Delta L > 0`.
    kick : float
        Size :math:`g > 0` of the gradient fluctuation at the restart.

    Returns
    -------
    float

    >>> kick_threshold(0.5, 2.0)
    0.25
    """
    return 2 * check_positive("barrier_height", barrier_height) / check_positive("kick", kick) ** 2


def _climb(well: AsymmetricDoubleWell):
    """The first swing's path: start, barrier, and the loss above the start along it."""
    start, end = well.shallow_min, well.barrier
    base = float(well.loss(start))
    return start, end, lambda theta: float(well.loss(theta)) - base


def kick_action(well: AsymmetricDoubleWell) -> float:
    r"""The action :math:`I = \int_{\text{shallow min}}^{\text{barrier}} \sqrt{2(\Delta L - U(\theta))}\,|d\theta|`.

    :math:`U` is the loss above the shallow minimum. A frictionless ball that
    just reaches the barrier has speed :math:`\sqrt{2(\Delta L - U)}`, so a
    small friction :math:`\gamma` removes :math:`\gamma I` of energy on the way.

    >>> round(kick_action(AsymmetricDoubleWell(1.0, 0.2)), 4)
    0.1682
    """
    from scipy.integrate import quad

    start, end, u = _climb(well)
    dl = well.barrier_height
    lo, hi = sorted((start, end))
    return float(quad(lambda th: math.sqrt(max(2 * (dl - u(th)), 0.0)), lo, hi, epsabs=1e-12, epsrel=1e-10)[0])


def kick_energy_needed(well: AsymmetricDoubleWell, gamma: float) -> float:
    r"""Smallest starting kinetic energy :math:`E^\ast(\gamma)` that carries the ball over the barrier (continuous limit).

    Integrates :math:`dE/ds = -\gamma\sqrt{2(E - U(s))}` (module docstring)
    backwards from the barrier, where :math:`E = \Delta L`, to the shallow minimum.

    Parameters
    ----------
    well : AsymmetricDoubleWell
    gamma : float
        Friction :math:`\gamma = (1-\beta)/\sqrt\eta \ge 0`.

    Returns
    -------
    float
        :math:`E^\ast \ge \Delta L`, with equality at :math:`\gamma = 0`.

    >>> well = AsymmetricDoubleWell(1.0, 0.2)
    >>> kick_energy_needed(well, 0.0) == well.barrier_height
    True
    >>> small = 1e-4  # first order: E* = dL + gamma I
    >>> round((kick_energy_needed(well, small) - well.barrier_height) / small / kick_action(well), 3)
    1.0
    """
    from scipy.integrate import solve_ivp

    gamma = check_nonnegative("gamma", gamma)
    dl = well.barrier_height
    if gamma == 0:
        return dl
    start, end, u = _climb(well)
    length = abs(end - start)
    sign = math.copysign(1.0, start - end)  # theta = end + sign * r, r from 0 (barrier) to length (start)

    def rhs(r, e):
        return [gamma * math.sqrt(max(2 * (e[0] - u(end + sign * r)), 0.0))]

    sol = solve_ivp(rhs, (0.0, length), [dl], rtol=1e-9, atol=1e-12)
    return float(sol.y[0, -1])


def _threshold_root(energy_needed, kick: float, beta: float) -> float:
    from scipy.optimize import brentq

    def gap(lr):
        return lr * kick**2 / 2 - energy_needed((1 - beta) / math.sqrt(lr))

    lo = hi = energy_needed(0.0) * 2 / kick**2  # no friction: the threshold is at least this
    while gap(hi) <= 0:
        hi *= 2
    return float(brentq(gap, lo, hi, xtol=1e-14, rtol=1e-10))


def friction_kick_threshold(well: AsymmetricDoubleWell, kick: float, beta: float = 1.0) -> float:
    r"""The kick threshold with friction, in the continuous limit: the root of :math:`\eta g^2/2 = E^\ast((1-\beta)/\sqrt\eta)`.

    The left side grows with :math:`\eta`, the right side shrinks (less friction
    per unit time at a larger rate), so the root is unique; at :math:`\beta = 1`
    it is :func:`kick_threshold`.

    Parameters
    ----------
    well : AsymmetricDoubleWell
    kick : float
        :math:`g > 0`.
    beta : float
        Momentum in (0, 1].

    Returns
    -------
    float

    >>> well = AsymmetricDoubleWell(1.0, 0.2)
    >>> friction_kick_threshold(well, 5.0) == kick_threshold(well.barrier_height, 5.0)
    True
    >>> friction_kick_threshold(well, 5.0, 0.9) > 3 * kick_threshold(well.barrier_height, 5.0)
    True
    """
    kick, beta = check_positive("kick", kick), _check_friction_beta(beta)
    if beta == 1:
        return kick_threshold(well.barrier_height, kick)
    return _threshold_root(lambda gamma: kick_energy_needed(well, gamma), kick, beta)


def small_friction_kick_threshold(well: AsymmetricDoubleWell, kick: float, beta: float = 1.0) -> float:
    r"""First order in the friction: the root of :math:`\eta g^2/2 = \Delta L + \gamma I`, :math:`\gamma = (1-\beta)/\sqrt\eta`.

    With :math:`u = \sqrt\eta` this is the cubic
    :math:`\frac{g^2}2 u^3 - \Delta L\, u - (1-\beta) I = 0`, which has one
    positive root. Accurate while :math:`\gamma I \ll \Delta L`.

    >>> well = AsymmetricDoubleWell(1.0, 0.2)
    >>> a, b = small_friction_kick_threshold(well, 5.0, 0.999), friction_kick_threshold(well, 5.0, 0.999)
    >>> abs(a / b - 1) < 1e-3
    True
    """
    kick, beta = check_positive("kick", kick), _check_friction_beta(beta)
    dl, action = well.barrier_height, kick_action(well)
    return _threshold_root(lambda gamma: dl + gamma * action, kick, beta)


def _check_friction_beta(beta) -> float:
    beta = check_finite("beta", beta)
    if not 0 < beta <= 1:
        raise ValueError(f"beta must be in (0, 1], got beta={beta!r}")
    return beta


def crosses_barrier(
    well: AsymmetricDoubleWell, lr: float, kick: float, beta: float = 1.0, max_steps: int = 100_000
) -> bool:
    r"""Does the kicked particle get over the barrier on its first swing? (deterministic heavy ball)

    Starts at rest at the shallow minimum; step 0 uses the gradient
    :math:`L'(\theta_0) + g` signed so that the particle moves towards the
    barrier; later steps use the exact gradient, at rate ``lr`` and momentum
    ``beta``. The swing ends when the particle passes the barrier (True) or
    turns back (False).

    Parameters
    ----------
    well : AsymmetricDoubleWell
    lr : float
        The rate :math:`\eta` after the restart.
    kick : float
        :math:`g > 0`.
    beta : float
        Momentum in (0, 1]; ``1`` is frictionless.
    max_steps : int
        Safety cap; reaching it raises ``RuntimeError``.

    Returns
    -------
    bool

    >>> well = AsymmetricDoubleWell(1.0, 0.2)
    >>> crosses_barrier(well, 0.9 * kick_threshold(well.barrier_height, 5.0), 5.0)
    False
    """
    lr, kick = check_positive("lr", lr), check_positive("kick", kick)
    beta = check_finite("beta", beta)
    if not 0 < beta <= 1:
        raise ValueError(f"beta must be in (0, 1], got beta={beta!r}")
    max_steps = check_int("max_steps", max_steps, minimum=1)
    direction = math.copysign(1.0, well.barrier - well.shallow_min)  # towards the barrier
    theta = well.shallow_min
    v = -lr * (well.grad(theta) - direction * kick)
    for _ in range(max_steps):
        theta += v
        if direction * (theta - well.barrier) > 0:
            return True
        v_new = beta * v - lr * well.grad(theta)
        if direction * v_new <= 0:
            return False
        v = v_new
    raise RuntimeError(f"no decision after max_steps={max_steps}; raise it or the rate lr={lr!r}")


def kick_threshold_bisection(
    well: AsymmetricDoubleWell, kick: float, beta: float = 1.0, lo: float = 1e-6, hi: float = 1.0, rtol: float = 1e-4
) -> float:
    """The crossing threshold of :func:`crosses_barrier`, found by bisection on the rate.

    Parameters
    ----------
    well : AsymmetricDoubleWell
    kick : float
        :math:`g > 0`.
    beta : float
        Momentum in (0, 1].
    lo, hi : float
        A bracket: no crossing at ``lo``, crossing at ``hi``.
    rtol : float
        Stop when ``hi - lo < rtol * hi``.

    Returns
    -------
    float
        The midpoint of the final bracket.

    >>> well = AsymmetricDoubleWell(1.0, 0.2)
    >>> ratio = kick_threshold_bisection(well, 5.0) / kick_threshold(well.barrier_height, 5.0)
    >>> 0.95 < ratio < 1.05
    True
    """
    lo, hi, rtol = check_positive("lo", lo), check_positive("hi", hi), check_positive("rtol", rtol)
    if lo >= hi:
        raise ValueError(f"lo must be < hi={hi!r}, got lo={lo!r}")
    if crosses_barrier(well, lo, kick, beta):
        raise ValueError(f"the particle already crosses at lo={lo!r}; lower it")
    if not crosses_barrier(well, hi, kick, beta):
        raise ValueError(f"the particle does not cross at hi={hi!r}; raise it")
    while hi - lo >= rtol * hi:
        mid = 0.5 * (lo + hi)
        if crosses_barrier(well, mid, kick, beta):
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


class EscapeResult(NamedTuple):
    """Noisy heavy ball on the double well, many seeds: where the particles are."""

    deep_fraction: np.ndarray  #: fraction of seeds on the deep side of the barrier, steps 0..T
    mean_loss: np.ndarray  #: mean loss over seeds, steps 0..T
    n_seeds: int
    device: str
    deep_final: np.ndarray  #: per seed, 1.0 if it ends on the deep side (paired comparisons: same seed, same noise)

    @property
    def final(self) -> float:
        """Fraction in the deep well at the end."""
        return float(self.deep_fraction[-1])

    @property
    def final_stderr(self) -> float:
        """Binomial standard error of :attr:`final`."""
        p = self.final
        return math.sqrt(max(p * (1 - p), 1e-12) / self.n_seeds)


def restart_escape(
    well: AsymmetricDoubleWell,
    schedule,
    total_steps: int,
    beta: float,
    noise_std: float,
    n_seeds: int = 2000,
    seed: int = 0,
    device=None,
) -> EscapeResult:
    r"""Noisy heavy ball started at rest in the shallow well, vectorized over seeds (torch).

    Gradients are :math:`L'(\theta_t) + \xi_t`, :math:`\xi_t \sim \mathcal N(0, \text{noise\_std}^2)`,
    and the update is :math:`v_{t+1} = \beta v_t - \eta_t g_t`, :math:`\theta_{t+1} = \theta_t + v_{t+1}`.

    Parameters
    ----------
    well : AsymmetricDoubleWell
    schedule : callable
        Rates :math:`\eta_t` for steps ``0 .. T-1``.
    total_steps : int
    beta : float
        Momentum in [0, 1).
    noise_std : float
        Standard deviation of the gradient noise (>= 0).
    n_seeds : int
    seed : int
        Seed of a private generator. Runs with the same seed draw the same
        noise at every step whatever the schedule (common random numbers), so
        ``deep_final`` of two schedules can be compared seed by seed.
    device : str or torch.device, optional
        Default :func:`lrlab.device.default_device`.

    Returns
    -------
    EscapeResult

    >>> from lrlab.schedules import constant_schedule
    >>> r = restart_escape(AsymmetricDoubleWell(), constant_schedule(0.01), 50, 0.9, 0.0, n_seeds=4, device="cpu")
    >>> r.final
    0.0
    """
    return restart_escape_many(well, [schedule], total_steps, beta, noise_std, n_seeds, seed, device)[0]


def restart_escape_many(
    well: AsymmetricDoubleWell,
    schedules,
    total_steps: int,
    beta: float,
    noise_std: float,
    n_seeds: int = 2000,
    seed: int = 0,
    device=None,
    track_loss: bool = True,
) -> list:
    r""":func:`restart_escape` for several schedules at once, every schedule's run ``i`` seeing the same noise.

    One tensor of shape ``(len(schedules), n_seeds)`` advances all schedules
    together; the noise :math:`\xi_t` (one draw of ``n_seeds`` per step) is
    shared by the schedules, so each result equals :func:`restart_escape` with
    the same ``seed`` (common random numbers, and one pass instead of several).
    ``track_loss=False`` skips the mean loss after step 0 (NaN there): faster.

    Returns
    -------
    list of EscapeResult
        One per schedule, in order.

    >>> from lrlab.schedules import constant_schedule
    >>> w = AsymmetricDoubleWell()
    >>> both = restart_escape_many(w, [constant_schedule(0.01), constant_schedule(0.05)], 30, 0.9, 0.3,
    ...                            n_seeds=8, seed=1, device="cpu")
    >>> one = restart_escape(w, constant_schedule(0.05), 30, 0.9, 0.3, n_seeds=8, seed=1, device="cpu")
    >>> bool(np.array_equal(both[1].mean_loss, one.mean_loss))
    True
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    beta = check_finite("beta", beta)
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got beta={beta!r}")
    noise_std = check_nonnegative("noise_std", noise_std)
    n_seeds = check_int("n_seeds", n_seeds, minimum=1)
    schedules = list(schedules)
    for schedule in schedules:
        if not callable(schedule):
            raise ValueError(f"schedule must be callable, got schedule={schedule!r}")
    k = len(schedules)
    if k == 0:
        raise ValueError("schedules must hold at least one schedule, got none")
    dev = resolve_device(device)
    rates = torch.tensor(
        np.stack([np.asarray(sch(np.arange(total_steps)), dtype=np.float64) for sch in schedules], axis=1),
        dtype=torch.float64,
        device=dev,
    )[:, :, None]  # (T, k, 1)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    theta = torch.full((k, n_seeds), well.shallow_min, dtype=torch.float64, device=dev)
    v = torch.zeros_like(theta)
    if well.deep_min < well.barrier:
        def deep(th):
            return th < well.barrier
    else:
        def deep(th):
            return th > well.barrier
    counts = torch.empty(total_steps + 1, k, dtype=torch.int64, device=dev)
    loss = torch.empty(total_steps + 1, k, dtype=torch.float64, device=dev)
    counts[0] = deep(theta).sum(dim=1)
    loss[0] = well.loss(theta).mean(dim=1)
    for t in range(total_steps):
        xi = torch.randn(n_seeds, generator=gen, dtype=torch.float64, device=dev).mul_(noise_std)
        g = well.grad(theta).add_(xi)
        v.mul_(beta).sub_(g.mul_(rates[t]))  # v <- beta v - eta_t (L'(theta) + xi)
        theta.add_(v)
        counts[t + 1] = deep(theta).sum(dim=1)
        if track_loss:
            loss[t + 1] = well.loss(theta).mean(dim=1)
    if not track_loss:
        loss[1:] = float("nan")
    final = deep(theta).double().cpu().numpy()
    frac = (counts.double() / n_seeds).cpu().numpy()
    loss = loss.cpu().numpy()
    return [EscapeResult(frac[:, j], loss[:, j], n_seeds, str(dev), final[j]) for j in range(k)]
