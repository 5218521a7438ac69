r"""The Dirac-GAN: the smallest two-player game that shows why GAN training cycles.

Mescheder et al. (2018, "Which training methods for GANs do actually converge?")
take data concentrated at :math:`x = 0`, a generator that puts all its mass at
:math:`\theta` and a linear discriminator :math:`D_\psi(x) = \psi x`. The GAN
objective is

.. math::

    L(\theta, \psi) = f(\psi\theta) + f(0),

which the discriminator maximises and the generator minimises. Two choices of
:math:`f` are implemented: ``"linear"``, :math:`f(t) = t` (a WGAN-like critic,
:math:`f'(0) = 1`), and ``"softplus"``, :math:`f(t) = -\log(1 + e^{-t})` (the
original GAN loss, :math:`f'(0) = 1/2`). The unique equilibrium is
:math:`(\theta, \psi) = (0, 0)`.

Gradient play with rates :math:`\eta_G, \eta_D` and :math:`c = f'(0)` is, near the equilibrium
(exactly for the linear :math:`f`), the linear map

.. math::

    \text{simultaneous:}\quad
    \begin{pmatrix}\theta'\\ \psi'\end{pmatrix} =
    \begin{pmatrix}1 & -a\\ b & 1\end{pmatrix}
    \begin{pmatrix}\theta\\ \psi\end{pmatrix},\qquad a = \eta_G c,\; b = \eta_D c .

Its eigenvalues are :math:`1 \pm i\sqrt{ab}`, of modulus :math:`\sqrt{1 + ab} > 1`:
the iterates spiral *out*. Exactly, the weighted energy
:math:`\theta^2/a + \psi^2/b` is multiplied by :math:`1 + ab` at every step (for
equal rates, :math:`\theta^2 + \psi^2` by :math:`1 + \eta^2c^2`).
Alternating updates (the generator moves first, the discriminator answers the
*new* generator) give a map of determinant 1 that preserves the modified energy

.. math::

    I(\theta, \psi) = b\,\theta^2 + a\,\psi^2 - ab\,\theta\psi ,

an ellipse when :math:`ab < 4`: the iterates cycle forever, neither growing nor
converging (a symplectic-Euler integrator of a rotation). A gradient penalty on
the discriminator (R1 of Mescheder et al. (2018): :math:`\frac{\gamma}{2}\psi^2`
here) adds damping and makes the equilibrium attractive.

All iterations are numpy, vectorised over any array of initial points.

>>> round(energy_growth_factor(0.1), 4)        # 1 + eta^2 c^2, linear f
1.01
>>> th, ps = run_dirac_gan(1.0, 0.0, np.full(100, 0.1), method="simultaneous")
>>> round(float(energy(th[-1], ps[-1])), 4) == round(1.01 ** 100, 4)
True
"""

from __future__ import annotations

import numpy as np

from ._validate import check_nonnegative, check_positive, check_rates

__all__ = [
    "F_KINDS",
    "f_prime",
    "energy",
    "simultaneous_step",
    "alternating_step",
    "extragradient_step",
    "run_dirac_gan",
    "linear_map",
    "spectral_radius",
    "energy_growth_factor",
    "amplification",
    "predicted_energy",
    "weighted_energy",
    "alternating_invariant",
]

#: The two discriminator losses: name -> f'(0).
F_KINDS = {"linear": 1.0, "softplus": 0.5}


def _check_f(f: str) -> str:
    if f not in F_KINDS:
        raise ValueError(f"f must be one of {sorted(F_KINDS)}, got f={f!r}")
    return f


def f_prime(t, f: str = "linear"):
    r"""The derivative :math:`f'(t)`: 1 for ``"linear"``, :math:`1/(1 + e^{t})` for ``"softplus"``.

    >>> float(f_prime(0.0, "softplus"))
    0.5
    """
    _check_f(f)
    t = np.asarray(t, dtype=np.float64)
    if f == "linear":
        return np.ones_like(t)
    return 0.5 * (1.0 - np.tanh(0.5 * t))  # = 1 / (1 + e^t), stable for large |t|


def energy(theta, psi):
    r"""The squared distance to the equilibrium, :math:`\theta^2 + \psi^2`.

    >>> float(energy(3.0, 4.0))
    25.0
    """
    return np.asarray(theta, dtype=np.float64) ** 2 + np.asarray(psi, dtype=np.float64) ** 2


def _check_gamma(gamma):
    return check_nonnegative("gamma", gamma)


def simultaneous_step(theta, psi, lr_g, lr_d=None, f: str = "linear", gamma: float = 0.0):
    r"""One simultaneous gradient step of both players.

    .. math::

        \theta' = \theta - \eta_G\, \psi f'(\theta\psi), \qquad
        \psi' = \psi + \eta_D\,\bigl(\theta f'(\theta\psi) - \gamma\psi\bigr).

    Parameters
    ----------
    theta, psi : float or array_like
        Generator and discriminator parameters (broadcast together).
    lr_g : float
        Generator rate :math:`\eta_G \ge 0`.
    lr_d : float, optional
        Discriminator rate :math:`\eta_D \ge 0` (default ``lr_g``; different rates = TTUR).
    f : {"linear", "softplus"}
        The loss function of the game.
    gamma : float
        Gradient-penalty weight :math:`\gamma \ge 0` on the discriminator (0: none).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The new ``theta`` and ``psi``.

    >>> [float(v) for v in simultaneous_step(1.0, 0.0, 0.5)]
    [1.0, 0.5]
    """
    lr_g = check_nonnegative("lr_g", lr_g)
    lr_d = lr_g if lr_d is None else check_nonnegative("lr_d", lr_d)
    gamma = _check_gamma(gamma)
    theta = np.asarray(theta, dtype=np.float64)
    psi = np.asarray(psi, dtype=np.float64)
    fp = f_prime(theta * psi, f)
    return theta - lr_g * psi * fp, psi + lr_d * (theta * fp - gamma * psi)


def alternating_step(theta, psi, lr_g, lr_d=None, f: str = "linear", gamma: float = 0.0):
    r"""One alternating step: the generator moves, then the discriminator answers the *new* generator.

    .. math::

        \theta' = \theta - \eta_G\, \psi f'(\theta\psi), \qquad
        \psi' = \psi + \eta_D\,\bigl(\theta' f'(\theta'\psi) - \gamma\psi\bigr).

    Arguments and returns as :func:`simultaneous_step`.

    >>> [float(v) for v in alternating_step(1.0, 0.0, 0.5)]
    [1.0, 0.5]
    >>> [float(v) for v in alternating_step(0.0, 1.0, 0.5)]
    [-0.5, 0.75]
    """
    lr_g = check_nonnegative("lr_g", lr_g)
    lr_d = lr_g if lr_d is None else check_nonnegative("lr_d", lr_d)
    gamma = _check_gamma(gamma)
    theta = np.asarray(theta, dtype=np.float64)
    psi = np.asarray(psi, dtype=np.float64)
    theta_new = theta - lr_g * psi * f_prime(theta * psi, f)
    return theta_new, psi + lr_d * (theta_new * f_prime(theta_new * psi, f) - gamma * psi)


def extragradient_step(theta, psi, lr_g, lr_d=None, f: str = "linear", gamma: float = 0.0):
    r"""One extragradient step: look ahead with a simultaneous step, then move from the *old* point.

    With :math:`z = (\theta, \psi)` and :math:`S` the simultaneous step of
    :func:`simultaneous_step` (:math:`S(z) = z - \eta\,v(z)` for the players' update field
    :math:`v`), the extragradient method (Korpelevich 1976) takes

    .. math::

        z_{1/2} = S(z), \qquad z' = z - \eta\,v(z_{1/2}) = z + \bigl(S(z_{1/2}) - z_{1/2}\bigr).

    For the linear :math:`f` and equal rates the map is :math:`(1-\eta^2) I` plus a rotation
    part :math:`\eta`, so the energy shrinks by exactly :math:`1 - \eta^2 + \eta^4` per step
    (with two rates, the weighted energy :math:`\theta^2/\eta_G + \psi^2/\eta_D` by
    :math:`(1 - \eta_G\eta_D)^2 + \eta_G\eta_D`).

    Arguments and returns as :func:`simultaneous_step`.

    >>> [float(v) for v in extragradient_step(1.0, 0.0, 0.5)]
    [0.75, 0.5]
    """
    theta = np.asarray(theta, dtype=np.float64)
    psi = np.asarray(psi, dtype=np.float64)
    th_half, ps_half = simultaneous_step(theta, psi, lr_g, lr_d, f=f, gamma=gamma)
    th_next, ps_next = simultaneous_step(th_half, ps_half, lr_g, lr_d, f=f, gamma=gamma)
    return theta + (th_next - th_half), psi + (ps_next - ps_half)


def run_dirac_gan(theta0, psi0, lrs_g, lrs_d=None, method: str = "simultaneous", f: str = "linear",
                  gamma: float = 0.0):
    r"""Iterate the Dirac-GAN from many initial points at once.

    Parameters
    ----------
    theta0, psi0 : float or array_like
        Initial points (broadcast together; any shape ``S``).
    lrs_g : array_like, shape (T,)
        Generator rate at each step (e.g. ``schedule(np.arange(T))``), all >= 0.
    lrs_d : array_like, shape (T,), optional
        Discriminator rates (default ``lrs_g``).
    method : {"simultaneous", "alternating"}
    f : {"linear", "softplus"}
    gamma : float
        Gradient-penalty weight on the discriminator.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``theta`` and ``psi`` of shape ``(T + 1, *S)``; row 0 is the initial point.

    >>> th, ps = run_dirac_gan([1.0, 2.0], 0.0, [0.1, 0.1], method="alternating")
    >>> th.shape
    (3, 2)
    """
    if method not in ("simultaneous", "alternating"):
        raise ValueError(f"method must be 'simultaneous' or 'alternating', got method={method!r}")
    _check_f(f)
    lrs_g = check_rates(np.atleast_1d(lrs_g))
    lrs_d = lrs_g if lrs_d is None else check_rates(np.atleast_1d(lrs_d))
    if lrs_g.ndim != 1 or lrs_d.shape != lrs_g.shape:
        raise ValueError(f"lrs_g and lrs_d must be 1-D of the same length, got shapes lrs_g={lrs_g.shape}, "
                         f"lrs_d={lrs_d.shape}")
    step = simultaneous_step if method == "simultaneous" else alternating_step
    theta, psi = np.broadcast_arrays(np.asarray(theta0, dtype=np.float64), np.asarray(psi0, dtype=np.float64))
    thetas = np.empty((len(lrs_g) + 1, *theta.shape))
    psis = np.empty_like(thetas)
    thetas[0], psis[0] = theta, psi
    for k, (eg, ed) in enumerate(zip(lrs_g.tolist(), lrs_d.tolist())):
        theta, psi = step(theta, psi, eg, ed, f=f, gamma=gamma)
        thetas[k + 1], psis[k + 1] = theta, psi
    return thetas, psis


def linear_map(lr_g, lr_d=None, method: str = "simultaneous", f: str = "linear", gamma: float = 0.0) -> np.ndarray:
    r"""The 2x2 matrix of one step near the equilibrium (exact for the linear :math:`f`).

    With :math:`a = \eta_G c`, :math:`b = \eta_D c`, :math:`g = \eta_D\gamma`:
    simultaneous :math:`\begin{pmatrix}1 & -a\\ b & 1-g\end{pmatrix}`, alternating
    :math:`\begin{pmatrix}1 & -a\\ b & 1-g-ab\end{pmatrix}`.

    >>> linear_map(0.5, method="alternating").tolist()
    [[1.0, -0.5], [0.5, 0.75]]
    """
    if method not in ("simultaneous", "alternating"):
        raise ValueError(f"method must be 'simultaneous' or 'alternating', got method={method!r}")
    _check_f(f)
    lr_g = check_positive("lr_g", lr_g)
    lr_d = lr_g if lr_d is None else check_positive("lr_d", lr_d)
    a, b, g = lr_g * F_KINDS[f], lr_d * F_KINDS[f], lr_d * _check_gamma(gamma)
    return np.array([[1.0, -a], [b, 1.0 - g - (a * b if method == "alternating" else 0.0)]])


def spectral_radius(matrix) -> float:
    """Largest eigenvalue modulus: the per-step amplification of the slowest-decaying (or fastest-growing) mode.

    >>> round(spectral_radius(linear_map(0.1)), 6)     # sqrt(1 + 0.01)
    1.004988
    """
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(matrix, dtype=np.float64)))))


def energy_growth_factor(lr_g, lr_d=None, f: str = "linear"):
    r"""Per-step growth of the (weighted) energy under simultaneous updates: :math:`1 + \eta_G\eta_D f'(0)^2`.

    Exact for the linear :math:`f` (for equal rates, :math:`\theta^2 + \psi^2` itself
    grows by this factor; for unequal ones the weighted energy
    :math:`\theta^2/\eta_G + \psi^2/\eta_D` does); the linearisation at the
    equilibrium for the softplus :math:`f`. Works on arrays of rates.

    >>> energy_growth_factor(0.2, f="softplus")   # 1 + 0.04 / 4
    1.01
    """
    _check_f(f)
    lr_g = np.asarray(check_rates(lr_g))
    lr_d = lr_g if lr_d is None else np.asarray(check_rates(lr_d))
    out = 1.0 + lr_g * lr_d * F_KINDS[f] ** 2
    return float(out) if out.ndim == 0 else out


def amplification(lr_g, lr_d=None, f: str = "linear"):
    r"""Modulus of the eigenvalues of the simultaneous map, :math:`|\lambda| = \sqrt{1 + \eta_G\eta_D f'(0)^2}`.

    >>> round(float(amplification(0.1)), 6)
    1.004988
    """
    return np.sqrt(energy_growth_factor(lr_g, lr_d, f))


def predicted_energy(energy0, lrs_g, lrs_d=None, f: str = "linear"):
    r"""Energy after each step of simultaneous play with a rate schedule: :math:`E_0\prod_{k<t}(1 + \eta_{G,k}\eta_{D,k}c^2)`.

    With equal rates this is the energy :math:`\theta^2 + \psi^2` (exact for the
    linear :math:`f`). The product stays bounded iff :math:`\sum_k \eta_k^2 < \infty`,
    but it never decreases: rate decay slows the spiral, it does not reverse it.

    Returns
    -------
    numpy.ndarray, shape (T + 1,) (times the shape of ``energy0``)

    >>> predicted_energy(1.0, [0.1, 0.1]).round(4).tolist()
    [1.0, 1.01, 1.0201]
    """
    factors = np.atleast_1d(energy_growth_factor(np.atleast_1d(lrs_g), None if lrs_d is None else np.atleast_1d(lrs_d), f))
    cum = np.concatenate([[1.0], np.cumprod(factors)])
    e0 = np.asarray(energy0, dtype=np.float64)
    return cum.reshape(-1, *([1] * e0.ndim)) * e0


def weighted_energy(theta, psi, lr_g, lr_d=None):
    r"""The energy that simultaneous TTUR play multiplies by :math:`1 + \eta_G\eta_D c^2`: :math:`\theta^2/\eta_G + \psi^2/\eta_D`.

    >>> float(weighted_energy(1.0, 1.0, 0.5, 0.25))
    6.0
    """
    lr_g = check_positive("lr_g", lr_g)
    lr_d = lr_g if lr_d is None else check_positive("lr_d", lr_d)
    return np.asarray(theta, dtype=np.float64) ** 2 / lr_g + np.asarray(psi, dtype=np.float64) ** 2 / lr_d


def alternating_invariant(theta, psi, lr_g, lr_d=None, f: str = "linear"):
    r"""The quadratic form conserved by alternating play (linear :math:`f`): :math:`b\theta^2 + a\psi^2 - ab\,\theta\psi`.

    With :math:`a = \eta_G c` and :math:`b = \eta_D c`. For the softplus :math:`f`
    it is conserved only to the order of the linearisation near the equilibrium.

    >>> th, ps = alternating_step(0.3, -0.7, 0.4, 0.9)
    >>> bool(np.isclose(alternating_invariant(th, ps, 0.4, 0.9), alternating_invariant(0.3, -0.7, 0.4, 0.9)))
    True
    """
    _check_f(f)
    lr_g = check_positive("lr_g", lr_g)
    lr_d = lr_g if lr_d is None else check_positive("lr_d", lr_d)
    a, b = lr_g * F_KINDS[f], lr_d * F_KINDS[f]
    theta = np.asarray(theta, dtype=np.float64)
    psi = np.asarray(psi, dtype=np.float64)
    return b * theta**2 + a * psi**2 - a * b * theta * psi
