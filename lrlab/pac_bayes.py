r"""A PAC-Bayes view of the learning rate: which stationary SGD law minimises a linear bound?

PAC-Bayes bounds (McAllester 1999; Catoni 2007) control the expected true loss
of a *randomised* predictor :math:`\theta \sim Q` by its expected training
loss plus a complexity term, the KL divergence from a prior :math:`P` fixed
before seeing the data. For a loss with values in :math:`[0, 1]`, ``n``
examples, any fixed :math:`\lambda > 0` and confidence :math:`1-\delta`, the
*linear* (Catoni-type) bound reads

.. math:: \mathbb E_Q[L] \le \mathbb E_Q[\hat L] + \frac{\mathrm{KL}(Q\,\|\,P) + \ln(1/\delta)}{\lambda}
          + \frac{\lambda}{8n} .

Take :math:`Q = \mathcal N(\hat\theta, v)` per coordinate, the stationary law of
SGD around a minimum :math:`\hat\theta` of curvature :math:`h` (variance
:math:`v = \eta\sigma^2/(2hB)`, see :mod:`lrlab.sde`), and the prior
:math:`P = \mathcal N(\mu_P, s^2)`. Then
:math:`\mathbb E_Q[\hat L] = \hat L(\hat\theta) + hv/2` and the bound is, up to
terms free of :math:`v`,

.. math:: \frac{hv}{2} + \frac{1}{2\lambda}\left(\frac{v}{s^2} - \ln v\right) ,

convex in :math:`v`, minimised at :math:`v^* = s^2/(1 + \lambda h s^2)`: the
optimal rate is :math:`\eta^* = 2hBv^*/\sigma^2`. Too small a rate makes
:math:`Q` sharp and expensive to describe (large KL); too large a rate pays in
training loss.

>>> v = optimal_variance(h=1.0, prior_var=1.0, lam=9.0)
>>> v
0.1
>>> round(optimal_lr(h=1.0, prior_var=1.0, lam=9.0, sigma2=1.0, batch_size=5), 6)
1.0
"""

from __future__ import annotations

import numpy as np

from ._validate import check_finite, check_fraction, check_int, check_positive, check_positive_array

__all__ = [
    "gaussian_kl",
    "catoni_bound",
    "bound_vs_variance",
    "bound_vs_lr",
    "optimal_variance",
    "optimal_lr",
    "optimal_lr_discrete",
    "grid_search_lr",
]


def gaussian_kl(mean_q, var_q, mean_p, var_p) -> float:
    r"""KL divergence between diagonal Gaussians, :math:`\mathrm{KL}(\mathcal N(m_q, v_q)\,\|\,\mathcal N(m_p, v_p))`.

    .. math:: \frac12 \sum_i \left[\frac{v_{q,i}}{v_{p,i}} + \frac{(m_{q,i}-m_{p,i})^2}{v_{p,i}}
              - 1 - \ln\frac{v_{q,i}}{v_{p,i}}\right]

    Parameters
    ----------
    mean_q, var_q : float or array_like
        Mean and variances of :math:`Q` (variances > 0).
    mean_p, var_p : float or array_like
        Mean and variances of :math:`P` (broadcast against ``Q``'s).

    Returns
    -------
    float
        In nats; zero exactly when the two laws are equal.

    >>> gaussian_kl(0.0, 1.0, 0.0, 1.0)
    0.0
    >>> round(gaussian_kl(1.0, 1.0, 0.0, 1.0), 6)
    0.5
    """
    var_q = check_positive_array("var_q", var_q)
    var_p = check_positive_array("var_p", var_p)
    mean_q = np.asarray(mean_q, dtype=np.float64)
    mean_p = np.asarray(mean_p, dtype=np.float64)
    if not (np.all(np.isfinite(mean_q)) and np.all(np.isfinite(mean_p))):
        raise ValueError(f"the means must be finite, got mean_q={mean_q!r}, mean_p={mean_p!r}")
    ratio = var_q / var_p
    return float(np.sum(0.5 * (ratio + (mean_q - mean_p) ** 2 / var_p - 1.0 - np.log(ratio))))


def catoni_bound(expected_train_loss, kl, lam, n: int, delta: float = 0.05):
    r"""The linear PAC-Bayes bound :math:`\mathbb E_Q\hat L + (\mathrm{KL} + \ln(1/\delta))/\lambda + \lambda/(8n)`.

    Valid for a loss with values in [0, 1] and a :math:`\lambda > 0` chosen
    before seeing the data (Catoni 2007, with Hoeffding's lemma for the
    exponential moment).

    Parameters
    ----------
    expected_train_loss : float or array_like
        :math:`\mathbb E_Q[\hat L]`.
    kl : float or array_like
        :math:`\mathrm{KL}(Q\|P) \ge 0`.
    lam : float
        :math:`\lambda > 0`.
    n : int
        Number of training examples.
    delta : float
        Confidence parameter in (0, 1).

    Returns
    -------
    float or numpy.ndarray

    >>> round(catoni_bound(0.1, kl=2.0, lam=100.0, n=1000, delta=0.05), 5)
    0.16246
    """
    lam = check_positive("lam", lam)
    n = check_int("n", n, minimum=1)
    delta = check_fraction("delta", delta)
    kl = np.asarray(kl, dtype=np.float64)
    if np.any(kl < 0):
        raise ValueError(f"kl must be >= 0, got kl={kl!r}")
    out = np.asarray(expected_train_loss, dtype=np.float64) + (kl + np.log(1 / delta)) / lam + lam / (8 * n)
    return float(out) if out.ndim == 0 else out


def bound_vs_variance(var, *, h, prior_var, lam, n: int, delta: float = 0.05, train_loss_at_min: float = 0.0,
                      offset: float = 0.0):
    r"""The linear bound for :math:`Q = \mathcal N(\hat\theta, v)` on a quadratic, as a function of :math:`v`.

    :math:`\mathbb E_Q\hat L = \hat L(\hat\theta) + hv/2` and
    :math:`\mathrm{KL} = \frac12[v/s^2 + d^2/s^2 - 1 - \ln(v/s^2)]`, where
    :math:`d = \hat\theta - \mu_P` is ``offset``.

    Parameters
    ----------
    var : float or array_like
        Posterior variances :math:`v > 0` (one bound per value).
    h : float
        Curvature at the minimum.
    prior_var : float
        Prior variance :math:`s^2`.
    lam : float
    n : int
    delta : float
    train_loss_at_min : float
        :math:`\hat L(\hat\theta)`.
    offset : float
        Distance :math:`d` from the prior mean to the minimum.

    Returns
    -------
    float or numpy.ndarray

    >>> b = bound_vs_variance([0.05, 0.1, 0.2], h=1.0, prior_var=1.0, lam=9.0, n=100)
    >>> int(np.argmin(b))    # v* = 1 / (1 + 9) = 0.1
    1
    """
    var = check_positive_array("var", var)
    h = check_positive("h", h)
    prior_var = check_positive("prior_var", prior_var)
    offset = check_finite("offset", offset)
    ratio = var / prior_var
    kl = 0.5 * (ratio + offset**2 / prior_var - 1.0 - np.log(ratio))
    return catoni_bound(train_loss_at_min + 0.5 * h * var, kl, lam, n, delta)


def bound_vs_lr(lr, *, h, sigma2, batch_size: int = 1, **bound_kwargs):
    r"""The bound of :func:`bound_vs_variance` at the SGD stationary variance :math:`v = \eta\sigma^2/(2hB)`.

    Parameters
    ----------
    lr : float or array_like
        Rates :math:`\eta > 0`.
    h, sigma2 : float
        Curvature and per-example gradient variance.
    batch_size : int
    **bound_kwargs
        ``prior_var``, ``lam``, ``n`` and optionally ``delta``, ``train_loss_at_min``, ``offset``.

    Returns
    -------
    float or numpy.ndarray

    >>> round(bound_vs_lr(1.0, h=1.0, sigma2=1.0, batch_size=5, prior_var=1.0, lam=9.0, n=100), 4)
    0.472
    """
    lr = check_positive_array("lr", lr)
    sigma2 = check_positive("sigma2", sigma2)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    h = check_positive("h", h)
    return bound_vs_variance(lr * sigma2 / (2 * h * batch_size), h=h, **bound_kwargs)


def optimal_variance(h, prior_var, lam) -> float:
    r"""Closed-form minimiser of the linear bound over :math:`v`: :math:`v^* = s^2/(1 + \lambda h s^2)`.

    Setting the derivative :math:`h/2 + (1/s^2 - 1/v)/(2\lambda)` to zero gives
    :math:`1/v^* = 1/s^2 + \lambda h`: the posterior precision is the prior's
    plus :math:`\lambda` times the curvature, as for a Bayesian posterior at
    "sample size" :math:`\lambda`.

    Parameters
    ----------
    h : float
        Curvature > 0.
    prior_var : float
        :math:`s^2 > 0`.
    lam : float
        :math:`\lambda > 0`.

    Returns
    -------
    float

    >>> optimal_variance(h=2.0, prior_var=0.5, lam=4.0)
    0.1
    """
    h = check_positive("h", h)
    prior_var = check_positive("prior_var", prior_var)
    lam = check_positive("lam", lam)
    return prior_var / (1.0 + lam * h * prior_var)


def optimal_lr(h, prior_var, lam, sigma2, batch_size: int = 1) -> float:
    r"""The rate whose stationary SGD variance is :math:`v^*`: :math:`\eta^* = 2hBv^*/\sigma^2`.

    Parameters
    ----------
    h, prior_var, lam : float
        As in :func:`optimal_variance`.
    sigma2 : float
        Per-example gradient variance > 0.
    batch_size : int
        :math:`B`.

    Returns
    -------
    float

    >>> optimal_lr(h=2.0, prior_var=0.5, lam=4.0, sigma2=0.4, batch_size=1)
    1.0
    """
    sigma2 = check_positive("sigma2", sigma2)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    return 2.0 * h * batch_size * optimal_variance(h, prior_var, lam) / sigma2


def optimal_lr_discrete(h, prior_var, lam, sigma2, batch_size: int = 1) -> float:
    r"""The rate whose *discrete* SGD stationary variance :math:`\eta\sigma^2/(hB(2-\eta h))` is :math:`v^*`.

    Solving :math:`\eta\sigma^2/(hB(2-\eta h)) = v^*` gives
    :math:`\eta_d = \eta^*/(1 + \eta^* h/2)`, with :math:`\eta^*` from
    :func:`optimal_lr` (the SDE's stationary variance): the SDE overestimates
    the best rate by the relative :math:`\eta^* h/2`.

    >>> round(optimal_lr_discrete(h=2.0, prior_var=0.5, lam=4.0, sigma2=0.4), 6)   # 1 / (1 + 1)
    0.5
    """
    eta = optimal_lr(h, prior_var, lam, sigma2, batch_size)
    return eta / (1.0 + eta * h / 2)


def grid_search_lr(lr_grid, *, h, sigma2, batch_size: int = 1, **bound_kwargs):
    """Evaluate :func:`bound_vs_lr` on a grid and return the best rate.

    Parameters
    ----------
    lr_grid : array_like
        Candidate rates > 0.
    h, sigma2, batch_size, **bound_kwargs
        As in :func:`bound_vs_lr`.

    Returns
    -------
    best_lr : float
    best_bound : float
    bounds : numpy.ndarray
        The bound at every grid rate.

    >>> grid = np.geomspace(0.1, 10, 201)
    >>> best, _, _ = grid_search_lr(grid, h=1.0, sigma2=1.0, batch_size=5, prior_var=1.0, lam=9.0, n=100)
    >>> round(best, 3)
    1.0
    """
    grid = check_positive_array("lr_grid", lr_grid).ravel()
    bounds = np.atleast_1d(bound_vs_lr(grid, h=h, sigma2=sigma2, batch_size=batch_size, **bound_kwargs))
    i = int(np.argmin(bounds))
    return float(grid[i]), float(bounds[i]), bounds
