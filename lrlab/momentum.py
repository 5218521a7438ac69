r"""Heavy-ball momentum as a particle: both velocity conventions, energy and temperature.

Two ways of writing SGD with momentum (chapter 1's conventions, step ``t`` from 0):

* heavy ball (Polyak 1964): :math:`v_{t+1} = \beta v_t - \eta_t g_t`, :math:`\theta_{t+1} = \theta_t + v_{t+1}`;
* PyTorch's ``SGD(momentum=beta)``: :math:`b_{t+1} = \beta b_t + g_t`, :math:`\theta_{t+1} = \theta_t - \eta_t b_{t+1}`.

With a constant rate they coincide (:math:`v_t = -\eta b_t`); when the rate
changes, PyTorch rescales the whole accumulated velocity at once. Written as
:math:`(\theta_{t+1} - 2\theta_t + \theta_{t-1}) + (1-\beta)(\theta_t - \theta_{t-1}) = -\eta\nabla L(\theta_t)`,
the heavy ball is a particle of unit mass with friction :math:`1-\beta` per
step; in the time unit :math:`\sqrt\eta` the friction coefficient is
:math:`\gamma = (1-\beta)/\sqrt\eta` and the energy is
:math:`E = L(\theta) + \lVert v \rVert^2 / (2\eta)` (:func:`energy`).

>>> thetas, velocities = run_momentum(lambda th: th, 1.0, 0.1, total_steps=3, beta=0.9)
>>> thetas.round(4).tolist()
[1.0, 0.9, 0.72, 0.486]
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import torch

from ._validate import check_finite, check_int, check_nonnegative, check_positive, check_rates
from .device import resolve_device

__all__ = [
    "CONVENTIONS",
    "rates_array",
    "run_momentum",
    "energy",
    "lyapunov_energy",
    "bowl_energy",
    "HeavyBall",
    "stationary_moments",
    "equilibrium_temperature",
    "ThermalResult",
    "simulate_thermal",
]

#: The two velocity conventions, by name.
CONVENTIONS = ("heavy_ball", "pytorch")


def _check_beta(beta, *, allow_one: bool = False) -> float:
    beta = check_finite("beta", beta)
    if not (0 <= beta < 1 or (allow_one and beta == 1)):
        bound = "1]" if allow_one else "1)"
        raise ValueError(f"beta must be in [0, {bound}, got beta={beta!r}")
    return beta


def rates_array(rates, total_steps: int) -> np.ndarray:
    """The rates :math:`\\eta_0 .. \\eta_{T-1}` as a float array, from a number, an array or a schedule.

    Parameters
    ----------
    rates : float, array_like or callable
        A constant rate, ``total_steps`` rates, or a schedule (called on ``0 .. T-1``).
    total_steps : int
        The number of steps T.

    Returns
    -------
    numpy.ndarray, shape (total_steps,)

    >>> rates_array(0.5, 3).tolist()
    [0.5, 0.5, 0.5]
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    if callable(rates):
        out = np.asarray(rates(np.arange(total_steps)), dtype=np.float64)
    elif np.ndim(rates) == 0:
        out = np.full(total_steps, check_positive("lr", rates))
    else:
        out = np.asarray(rates, dtype=np.float64)
        if out.shape != (total_steps,):
            raise ValueError(f"rates must hold total_steps={total_steps} values, got shape {out.shape}")
    return check_rates(out)


def run_momentum(
    grad: Callable, theta0, rates, total_steps: int, beta: float, convention: str = "heavy_ball", betas=None
):
    r"""Run deterministic momentum from rest, in either convention (numpy).

    Parameters
    ----------
    grad : callable
        ``grad(theta) -> gradient`` (same shape as ``theta``).
    theta0 : float or array_like
        Starting point; the particle starts at rest (:math:`v_0 = 0`, :math:`b_0 = 0`).
    rates : float, array_like or callable
        The rates :math:`\eta_t` (see :func:`rates_array`).
    total_steps : int
        Number of steps T.
    beta : float
        Momentum :math:`\beta \in [0, 1]` (``1``: no friction).
    convention : {"heavy_ball", "pytorch"}
        Which velocity is carried between steps (module docstring).
    betas : array_like, optional
        A momentum per step (overrides ``beta``), e.g. a co-schedule
        :math:`\beta_t(\eta_t)` from :mod:`lrlab.damping`.

    Returns
    -------
    thetas : numpy.ndarray, shape (T+1, ...)
        :math:`\theta_0 .. \theta_T`.
    velocities : numpy.ndarray, shape (T+1, ...)
        The displacements :math:`v_t = \theta_t - \theta_{t-1}` (:math:`v_0 = 0`),
        comparable between conventions.

    >>> th_hb, _ = run_momentum(lambda th: th, 1.0, [0.1, 0.05], 2, 0.9)
    >>> th_pt, _ = run_momentum(lambda th: th, 1.0, [0.1, 0.05], 2, 0.9, convention="pytorch")
    >>> float(th_hb[-1]), float(th_pt[-1])
    (0.765, 0.81)
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got convention={convention!r}")
    lrs = rates_array(rates, total_steps)
    if betas is None:
        bs = np.full(total_steps, _check_beta(beta, allow_one=True))
    else:
        bs = np.asarray(betas, dtype=np.float64)
        if bs.shape != (total_steps,) or np.any(bs < 0) or np.any(bs > 1):
            raise ValueError(f"betas must hold total_steps={total_steps} values in [0, 1], got betas={bs!r}")
    theta = np.array(theta0, dtype=np.float64)
    thetas = np.empty((total_steps + 1,) + theta.shape)
    velocities = np.zeros_like(thetas)
    thetas[0] = theta
    carried = np.zeros_like(theta)  # v (heavy ball) or b (pytorch)
    for t in range(total_steps):
        g = np.asarray(grad(theta), dtype=np.float64)
        if convention == "heavy_ball":
            carried = bs[t] * carried - lrs[t] * g
            step = carried
        else:
            carried = bs[t] * carried + g
            step = -lrs[t] * carried
        theta = theta + step
        thetas[t + 1] = theta
        velocities[t + 1] = step
    return thetas, velocities


def energy(potential, velocities, lr):
    r"""Mechanical energy :math:`E_t = L(\theta_t) + \lVert v_t\rVert^2 / (2\eta_t)`.

    The kinetic term is :math:`\frac12 (d\theta/d\tau)^2` in the time unit
    :math:`\tau = t\sqrt\eta` of the continuous limit.

    Parameters
    ----------
    potential : array_like, shape (T+1,)
        The loss :math:`L(\theta_t)` along the run.
    velocities : array_like, shape (T+1,) or (T+1, d)
        Displacements per step (as returned by :func:`run_momentum`).
    lr : float or array_like
        The rate giving the time unit (a number, or one per entry).

    Returns
    -------
    numpy.ndarray, shape (T+1,)

    >>> energy([1.0, 0.5], [0.0, 0.1], 0.01).tolist()
    [1.0, 1.0]
    """
    potential = np.asarray(potential, dtype=np.float64)
    vel = np.asarray(velocities, dtype=np.float64)
    lr = np.asarray(lr, dtype=np.float64)
    if np.any(lr <= 0):
        raise ValueError(f"lr must be > 0, got lr={lr!r}")
    kinetic = (vel**2).reshape(len(vel), -1).sum(axis=1) if vel.ndim > 1 else vel**2
    return potential + kinetic / (2 * lr)


def lyapunov_energy(potential, velocities, lr, beta):
    r"""The discrete heavy ball's Lyapunov function :math:`V_t = L(\theta_t) + \beta\lVert v_t\rVert^2/(2\eta)`.

    For a constant rate and momentum and any loss whose gradient is
    :math:`h`-Lipschitz (curvature at most :math:`h`), the descent lemma
    :math:`L(\theta_{t+1}) \le L(\theta_t) + \nabla L(\theta_t)\cdot v_{t+1} + \frac h2 \lVert v_{t+1}\rVert^2`
    with :math:`\eta\nabla L(\theta_t) = \beta v_t - v_{t+1}` and
    :math:`\beta\, v_t\cdot v_{t+1} \le \frac\beta2(\lVert v_t\rVert^2 + \lVert v_{t+1}\rVert^2)` give

    .. math:: V_{t+1} \le V_t - \Big(\frac{1-\beta}{\eta} - \frac h2\Big)\lVert v_{t+1}\rVert^2 ,

    so :math:`V` never rises when :math:`\eta h \le 2(1-\beta)` (the
    Lyapunov function of iPiano, Ochs et al. 2014). The energy :func:`energy`, with the
    full kinetic term, carries no such guarantee.

    Parameters
    ----------
    potential : array_like, shape (T+1,)
        :math:`L(\theta_t)` along the run.
    velocities : array_like, shape (T+1,) or (T+1, d)
        Displacements :math:`v_t = \theta_t - \theta_{t-1}` (as from :func:`run_momentum`).
    lr : float
        The constant rate :math:`\eta > 0`.
    beta : float
        The momentum in [0, 1].

    Returns
    -------
    numpy.ndarray, shape (T+1,)

    >>> lyapunov_energy([1.0, 0.5], [0.0, 0.1], 0.01, 0.5).tolist()
    [1.0, 0.75]
    """
    beta = _check_beta(beta, allow_one=True)
    lr = check_positive("lr", lr)
    potential = np.asarray(potential, dtype=np.float64)
    kinetic = energy(np.zeros_like(potential), velocities, lr)
    return potential + beta * kinetic


def bowl_energy(thetas, velocities, lr, beta, h):
    r"""An energy that heavy ball on the bowl :math:`\frac12\sum_i h_i\theta_i^2` multiplies by exactly :math:`\beta` per step.

    Per coordinate, with :math:`v_t = \theta_t - \theta_{t-1}`,

    .. math:: \mathcal E_t = \tfrac12 h\theta_t^2 + \frac{\beta v_t^2}{2\eta} + \frac{(1-\beta-\eta h)\,\theta_t v_t}{2\eta}
              = \frac{\theta_t^2 + \beta\theta_{t-1}^2 - (1+\beta-\eta h)\,\theta_t\theta_{t-1}}{2\eta} .

    Substituting :math:`\theta_{t+1} - (1+\beta-\eta h)\theta_t = -\beta\theta_{t-1}`
    gives :math:`2\eta\,\mathcal E_{t+1} = \beta\theta_t^2 - \beta\theta_{t+1}\theta_{t-1} = 2\eta\beta\,\mathcal E_t`:
    :math:`\mathcal E_{t+1} = \beta\,\mathcal E_t` exactly, at any constant
    :math:`\eta, \beta`. :math:`\mathcal E` is positive definite iff
    :math:`(1-\beta-\eta h)^2 < 4\beta\eta h`, which is the under-damped
    condition :math:`(1+\beta-\eta h)^2 < 4\beta` of :mod:`lrlab.damping`;
    with :math:`\beta = 1` it is conserved (the "shadow" energy of the
    frictionless leapfrog).

    Parameters
    ----------
    thetas, velocities : array_like, shape (T+1,) or (T+1, d)
        A constant-rate run from :func:`run_momentum`.
    lr : float
        :math:`\eta > 0`.
    beta : float
        Momentum in [0, 1].
    h : float or array_like, shape (d,)
        The curvatures.

    Returns
    -------
    numpy.ndarray, shape (T+1,)

    >>> th, v = run_momentum(lambda x: x, 1.0, 0.1, 3, 0.9)
    >>> e = bowl_energy(th, v, 0.1, 0.9, 1.0)
    >>> np.allclose(e[1:] / e[:-1], 0.9)
    True
    """
    beta = _check_beta(beta, allow_one=True)
    lr = check_positive("lr", lr)
    th = np.asarray(thetas, dtype=np.float64)
    v = np.asarray(velocities, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    per = 0.5 * h * th**2 + (beta * v**2 + (1 - beta - lr * h) * th * v) / (2 * lr)
    return per.reshape(len(per), -1).sum(axis=1) if per.ndim > 1 else per


class HeavyBall(torch.optim.Optimizer):
    r"""SGD with heavy-ball momentum in Polyak's convention (the rate inside the velocity).

    ``v <- momentum * v - lr * grad; p <- p + v``. With a constant ``lr`` it
    follows exactly the same path as ``torch.optim.SGD(momentum=momentum)``;
    when ``lr`` changes (a scheduler), only new gradients feel the new rate.

    Parameters
    ----------
    params : iterable
        Parameters (or parameter groups) to optimize.
    lr : float
        The rate :math:`\eta > 0`.
    momentum : float
        :math:`\beta \in [0, 1)`.

    >>> p = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = HeavyBall([p], lr=0.1, momentum=0.9)
    >>> for _ in range(3):
    ...     opt.zero_grad(); (0.5 * p**2).sum().backward(); opt.step()
    >>> round(p.item(), 4)
    0.486
    """

    def __init__(self, params, lr: float, momentum: float = 0.9):
        lr = check_positive("lr", lr)
        momentum = _check_beta(momentum)
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter; returns ``closure()`` when given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                v = state.get("velocity")
                if v is None:
                    v = state["velocity"] = torch.zeros_like(p)
                v.mul_(group["momentum"]).add_(p.grad, alpha=-group["lr"])
                p.add_(v)
        return loss


def stationary_moments(lr: float, beta: float, h: float, noise_var: float):
    r"""Exact stationary moments of noisy heavy ball on :math:`L = \frac12 h\theta^2`.

    With gradients :math:`h\theta_t + \xi_t`, :math:`\xi_t \sim \mathcal N(0, s)`
    (``noise_var`` :math:`s = \sigma^2/B`), the state :math:`(\theta_t, v_t)`
    is a linear Gaussian recursion whose stationary covariance solves a
    discrete Lyapunov equation; its solution is

    .. math:: \mathbb E[\theta^2] = \frac{\eta s (1+\beta)}{h (1-\beta)(2(1+\beta) - \eta h)}, \qquad
              \mathbb E[v^2] = \frac{2 \eta^2 s}{(1-\beta)(2(1+\beta) - \eta h)} .

    For :math:`\beta = 0` the first is SGD's :math:`\eta s / (h(2-\eta h))`.

    Parameters
    ----------
    lr, beta, h, noise_var : float
        Rate, momentum in [0, 1), curvature > 0, gradient-noise variance >= 0;
        the pair must be stable (:math:`0 < \eta h < 2(1+\beta)`).

    Returns
    -------
    theta2, v2 : float
        :math:`\mathbb E[\theta^2]` and :math:`\mathbb E[v^2]`.

    >>> stationary_moments(0.1, 0.0, 1.0, 1.0)[0] == 0.1 / 1.9
    True
    """
    lr, h = check_positive("lr", lr), check_positive("h", h)
    beta = _check_beta(beta)
    s = check_nonnegative("noise_var", noise_var)
    if not lr * h < 2 * (1 + beta):
        raise ValueError(f"lr * h must be < 2 (1 + beta) = {2 * (1 + beta)!r} for a stationary law, got lr * h={lr * h!r}")
    denom = (1 - beta) * (2 * (1 + beta) - lr * h)
    return lr * s * (1 + beta) / (h * denom), 2 * lr**2 * s / denom


def equilibrium_temperature(lr: float, beta: float, noise_var: float) -> float:
    r"""The temperature of heavy ball in the continuous limit, :math:`T = \eta s / (2(1-\beta))`.

    Noise heats, friction cools: at equilibrium each quadratic degree of
    freedom holds :math:`T/2` of potential and :math:`T/2` of kinetic energy
    (equipartition, to leading order in :math:`\eta h` and :math:`1-\beta`;
    :func:`stationary_moments` is exact). Momentum multiplies the temperature
    of SGD by :math:`1/(1-\beta)`: the effective rate is :math:`\eta/(1-\beta)`.

    Parameters
    ----------
    lr : float
        Rate :math:`\eta > 0`.
    beta : float
        Momentum in [0, 1).
    noise_var : float
        Gradient-noise variance :math:`s = \sigma^2/B`.

    Returns
    -------
    float

    >>> round(equilibrium_temperature(0.01, 0.9, 1.0), 12)
    0.05
    """
    lr = check_positive("lr", lr)
    beta = _check_beta(beta)
    s = check_nonnegative("noise_var", noise_var)
    return lr * s / (2 * (1 - beta))


class ThermalResult(NamedTuple):
    """Time-and-seed averages of a noisy heavy-ball run at equilibrium, with standard errors over seeds."""

    theta2: float
    theta2_stderr: float
    v2: float
    v2_stderr: float
    n_seeds: int
    device: str


def simulate_thermal(
    lr: float,
    beta: float,
    h: float,
    noise_var: float,
    total_steps: int,
    burn_in: int,
    n_seeds: int = 1000,
    seed: int = 0,
    device=None,
) -> ThermalResult:
    r"""Monte Carlo of noisy heavy ball on :math:`\frac12 h\theta^2`, vectorized over seeds (torch).

    Every seed starts at the minimum, at rest; :math:`\theta_t^2` and
    :math:`v_t^2` are averaged over steps ``burn_in .. total_steps`` in each
    seed, then over seeds (the standard error is over seeds, which are independent).

    Parameters
    ----------
    lr, beta, h, noise_var : float
        As in :func:`stationary_moments`.
    total_steps, burn_in : int
        Steps to run and steps discarded before averaging (``burn_in < total_steps``).
    n_seeds : int
        Independent runs.
    seed : int
        Seed of a private generator.
    device : str or torch.device, optional
        Default :func:`lrlab.device.default_device`.

    Returns
    -------
    ThermalResult

    >>> r = simulate_thermal(0.1, 0.5, 1.0, 1.0, total_steps=200, burn_in=50, n_seeds=200, device="cpu")
    >>> abs(r.theta2 - stationary_moments(0.1, 0.5, 1.0, 1.0)[0]) < 5 * r.theta2_stderr
    True
    """
    lr, h = check_positive("lr", lr), check_positive("h", h)
    beta = _check_beta(beta)
    s = check_nonnegative("noise_var", noise_var)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    burn_in = check_int("burn_in", burn_in, minimum=0)
    if burn_in >= total_steps:
        raise ValueError(f"burn_in must be < total_steps={total_steps}, got burn_in={burn_in}")
    n_seeds = check_int("n_seeds", n_seeds, minimum=2)
    dev = resolve_device(device)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    theta = torch.zeros(n_seeds, dtype=torch.float64, device=dev)
    v = torch.zeros_like(theta)
    acc_t, acc_v = torch.zeros_like(theta), torch.zeros_like(theta)
    scale = math.sqrt(s)
    for t in range(total_steps):
        xi = torch.randn(n_seeds, generator=gen, dtype=torch.float64, device=dev) * scale
        v = beta * v - lr * (h * theta + xi)
        theta = theta + v
        if t + 1 > burn_in:
            acc_t += theta**2
            acc_v += v**2
    n_avg = total_steps - burn_in
    per_t, per_v = (acc_t / n_avg).cpu().numpy(), (acc_v / n_avg).cpu().numpy()
    se = lambda x: float(x.std(ddof=1) / math.sqrt(n_seeds))  # noqa: E731
    return ThermalResult(float(per_t.mean()), se(per_t), float(per_v.mean()), se(per_v), n_seeds, str(dev))
