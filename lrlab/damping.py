r"""Critical damping of heavy-ball momentum on a quadratic.

On :math:`L = \frac12 h\theta^2`, heavy ball gives
:math:`\theta_{t+1} = (1 + \beta - \eta h)\theta_t - \beta\theta_{t-1}`, so
:math:`\theta_t = c_1 r_1^t + c_2 r_2^t` with :math:`r_{1,2}` the roots of the
characteristic polynomial

.. math:: r^2 - (1 + \beta - \eta h)\, r + \beta = 0 .

Complex roots (:math:`|r| = \sqrt\beta`): under-damped, the iterate oscillates;
distinct real roots: over-damped; a double root: critically damped, when
:math:`\beta = (1 - \sqrt{\eta h})^2`, with rate :math:`r = 1 - \sqrt{\eta h}`.
Polyak (1964) chose :math:`(\eta, \beta)` to minimize the worst rate over
curvatures in :math:`[\mu, L]` (:func:`polyak_optimal`).

>>> round(critical_beta(0.01, 1.0), 12)
0.81
>>> damping_regime(0.01, 0.81, 1.0)
'critical'
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import check_finite, check_int, check_positive

__all__ = [
    "REGIMES",
    "characteristic_roots",
    "convergence_rate",
    "damping_regime",
    "critical_beta",
    "critical_rate",
    "critical_momentum_schedule",
    "polyak_optimal",
    "measured_rate",
    "sign_changes",
]

#: The regimes returned by :func:`damping_regime`.
REGIMES = ("underdamped", "critical", "overdamped", "unstable")


def _check(lr, beta, h):
    lr, h = check_positive("lr", lr), check_positive("h", h)
    beta = check_finite("beta", beta)
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got beta={beta!r}")
    return lr, beta, h


def characteristic_roots(lr: float, beta: float, h: float) -> np.ndarray:
    r"""The two roots of :math:`r^2 - (1+\beta-\eta h) r + \beta = 0`, as complex numbers.

    Parameters
    ----------
    lr : float
        Rate :math:`\eta > 0`.
    beta : float
        Momentum in [0, 1).
    h : float
        Curvature > 0.

    Returns
    -------
    numpy.ndarray of complex, shape (2,)
        Sorted by decreasing modulus.

    >>> characteristic_roots(0.5, 0.0, 1.0).real.tolist()
    [0.5, 0.0]
    """
    lr, beta, h = _check(lr, beta, h)
    a = 1 + beta - lr * h
    disc = complex(a * a - 4 * beta)
    sq = disc**0.5
    roots = np.array([(a + sq) / 2, (a - sq) / 2])
    return roots[np.argsort(-np.abs(roots), kind="stable")]


def convergence_rate(lr: float, beta: float, h: float) -> float:
    r"""The asymptotic contraction per step, :math:`\max |r_i|` (below 1: convergent).

    >>> convergence_rate(0.01, 0.81, 1.0)
    0.9
    """
    return float(np.max(np.abs(characteristic_roots(lr, beta, h))))


def damping_regime(lr: float, beta: float, h: float, rtol: float = 1e-9) -> str:
    r"""Classify :math:`(\eta, \beta, h)` from the discriminant of the characteristic polynomial.

    Parameters
    ----------
    lr, beta, h : float
        As in :func:`characteristic_roots`.
    rtol : float
        A discriminant within ``rtol`` (relative to :math:`(1+\beta-\eta h)^2`,
        at least 1) of zero counts as a double root.

    Returns
    -------
    str
        One of :data:`REGIMES`; ``"unstable"`` whenever :math:`\max|r| \ge 1`.

    >>> [damping_regime(0.01, b, 1.0) for b in (0.5, 0.81, 0.95)]
    ['overdamped', 'critical', 'underdamped']
    >>> damping_regime(5.0, 0.5, 1.0)
    'unstable'
    """
    lr, beta, h = _check(lr, beta, h)
    if convergence_rate(lr, beta, h) >= 1:
        return "unstable"
    a = 1 + beta - lr * h
    disc = a * a - 4 * beta
    if abs(disc) <= rtol * max(1.0, a * a):
        return "critical"
    return "overdamped" if disc > 0 else "underdamped"


def critical_beta(lr, h: float):
    r"""The momentum that makes heavy ball critically damped, :math:`\beta = (1 - \sqrt{\eta h})^2`.

    Parameters
    ----------
    lr : float or array_like
        Rate(s) with :math:`0 < \eta h \le 1`.
    h : float
        Curvature > 0.

    Returns
    -------
    float or numpy.ndarray

    >>> critical_beta(1.0, 1.0)
    0.0
    """
    h = check_positive("h", h)
    x = np.asarray(lr, dtype=np.float64) * h
    if not np.all(np.isfinite(x)) or np.any(x <= 0) or np.any(x > 1):
        raise ValueError(f"lr * h must be in (0, 1] for critical damping, got lr={lr!r} with h={h!r}")
    out = (1 - np.sqrt(x)) ** 2
    return float(out) if np.ndim(out) == 0 else out


def critical_rate(lr, h: float):
    r"""The rate of the critically damped run, :math:`1 - \sqrt{\eta h}` (the double root).

    >>> critical_rate(0.01, 1.0)
    0.9
    """
    out = np.sqrt(critical_beta(lr, h))
    return float(out) if np.ndim(out) == 0 else out


def critical_momentum_schedule(schedule, h: float):
    r"""The co-schedule :math:`\beta_t = (1 - \sqrt{\eta_t h})^2` that keeps heavy ball critical as the rate moves.

    Parameters
    ----------
    schedule : callable
        The rate schedule :math:`\eta(t)` (any :class:`lrlab.schedules.Schedule`).
    h : float
        The curvature to damp critically.

    Returns
    -------
    callable
        ``beta(step)``: a number for a step, an array for an array of steps.

    >>> from lrlab.schedules import constant_schedule
    >>> beta = critical_momentum_schedule(constant_schedule(0.04), 1.0)
    >>> round(beta(3), 12)
    0.64
    """
    if not callable(schedule):
        raise ValueError(f"schedule must be callable (a Schedule), got schedule={schedule!r}")
    h = check_positive("h", h)

    def beta(step):
        return critical_beta(schedule(step), h)

    return beta


def polyak_optimal(mu: float, L: float):
    r"""Polyak's heavy-ball pair for curvatures in :math:`[\mu, L]`, and its rate.

    .. math:: \eta^* = \frac{4}{(\sqrt L + \sqrt\mu)^2}, \qquad
              \beta^* = \left(\frac{\sqrt L - \sqrt\mu}{\sqrt L + \sqrt\mu}\right)^2, \qquad
              \rho^* = \sqrt{\beta^*} = \frac{\sqrt\kappa - 1}{\sqrt\kappa + 1},

    with :math:`\kappa = L/\mu`: both ends of the spectrum sit exactly on the
    edge between under- and over-damping (Polyak 1964). Gradient descent's best
    rate on the same range is :math:`(\kappa - 1)/(\kappa + 1)`.

    Parameters
    ----------
    mu, L : float
        Smallest and largest curvature, :math:`0 < \mu \le L`.

    Returns
    -------
    lr, beta, rate : float

    >>> [round(x, 6) for x in polyak_optimal(1.0, 100.0)]
    [0.033058, 0.669421, 0.818182]
    """
    mu, L = check_positive("mu", mu), check_positive("L", L)
    if mu > L:
        raise ValueError(f"mu must be <= L={L!r}, got mu={mu!r}")
    sl, sm = math.sqrt(L), math.sqrt(mu)
    rate = (sl - sm) / (sl + sm)
    return 4 / (sl + sm) ** 2, rate**2, rate


def measured_rate(thetas, start: int) -> float:
    r"""The contraction per step of a run: :math:`\exp` of the fitted slope of :math:`\log\lVert x_t\rVert`.

    The state :math:`x_t = (\theta_t, \theta_{t-1})` is used, so an oscillating
    iterate that passes through zero does not spoil the fit.

    Parameters
    ----------
    thetas : array_like, shape (T+1,) or (T+1, d)
        The iterates.
    start : int
        First step of the fit (skip the transient), at least 1 and at most T-2.

    Returns
    -------
    float

    >>> round(measured_rate(0.9 ** np.arange(50), start=1), 12)
    0.9
    """
    x = np.asarray(thetas, dtype=np.float64).reshape(len(thetas), -1)
    start = check_int("start", start, minimum=1)
    if start > len(x) - 3:
        raise ValueError(f"start must be <= T - 2 = {len(x) - 3}, got start={start}")
    norms = np.sqrt((x[start:] ** 2).sum(axis=1) + (x[start - 1 : -1] ** 2).sum(axis=1))
    if np.any(norms <= 0) or not np.all(np.isfinite(norms)):
        raise ValueError("thetas must stay finite and non-zero over the fitted window")
    steps = np.arange(start, len(x))
    slope = np.polyfit(steps, np.log(norms), 1)[0]
    return float(np.exp(slope))


def sign_changes(thetas) -> int:
    """How many times a 1-D run crosses zero (overshoots the minimum).

    >>> sign_changes([1.0, 0.5, -0.2, 0.1, 0.0, 0.05])
    2
    """
    x = np.asarray(thetas, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"thetas must be 1-D, got shape {x.shape}")
    s = np.sign(x[x != 0])
    return int(np.count_nonzero(s[1:] != s[:-1]))
