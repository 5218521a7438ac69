r"""Privacy accounting for DP-SGD: the Rényi DP of the sampled Gaussian mechanism.

One step of DP-SGD adds Gaussian noise of standard deviation :math:`\sigma C` to a
sum of per-example gradients clipped to norm :math:`C`, each example taken
independently with probability :math:`q` (Poisson sampling). This is the
*sampled Gaussian mechanism* with noise multiplier :math:`\sigma`. Its privacy
is tracked in Rényi differential privacy (RDP, Mironov 2017): a mechanism is
:math:`(\alpha, \rho)`-RDP when the Rényi divergence of order :math:`\alpha`
between its output laws on neighbouring data sets is at most :math:`\rho`.

* Without sampling (:math:`q = 1`) the Gaussian mechanism is
  :math:`(\alpha, \alpha / (2\sigma^2))`-RDP for every :math:`\alpha > 1`.
* With sampling, Mironov, Talwar & Zhang (2019, section 3.3) give
  :math:`\rho(\alpha) = \frac{1}{\alpha - 1}\ln A_\alpha`; for integer orders

  .. math::

     A_\alpha = \sum_{k=0}^{\alpha} \binom{\alpha}{k} (1-q)^{\alpha-k} q^k
     \exp\!\Big(\frac{k^2 - k}{2\sigma^2}\Big),

  and for fractional orders a two-sided series with Gaussian tails
  (:func:`log_a_fractional`).
* RDP composes by addition: :math:`T` steps give :math:`T\rho(\alpha)`.
* Conversion to :math:`(\varepsilon, \delta)`-DP (Balle et al. 2020, theorem 21,
  the conversion Opacus 1.x uses):

  .. math::

     \varepsilon = \min_\alpha \Big[ T\rho(\alpha) - \frac{\ln\delta + \ln\alpha}{\alpha - 1}
     + \ln\frac{\alpha - 1}{\alpha} \Big].

The learning rate appears nowhere: DP-SGD releases noisy clipped gradients, and
whatever the optimizer does with them (any rate, any schedule) is
post-processing, which cannot weaken the guarantee.

>>> round(epsilon(q=1.0, noise_multiplier=1.0, steps=1, delta=1e-5), 3)
4.729
>>> sigma = noise_for_epsilon(2.0, delta=1e-5, q=0.05, steps=300)
>>> round(epsilon(0.05, sigma, 300, 1e-5), 6)
2.0

No third-party privacy library is imported here; ``tests/test_privacy.py``
compares these numbers with Opacus's accountant.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ._validate import check_fraction, check_int, check_positive

__all__ = [
    "DEFAULT_ORDERS",
    "gaussian_rdp",
    "log_a_integer",
    "log_a_fractional",
    "sampled_gaussian_rdp",
    "rdp_to_epsilon",
    "epsilon",
    "noise_for_epsilon",
]

#: The orders Opacus's ``RDPAccountant`` uses by default: 1.1, 1.2, ..., 10.9 and 12, ..., 63.
DEFAULT_ORDERS = tuple([1 + k / 10.0 for k in range(1, 100)] + list(range(12, 64)))


def _check_orders(orders) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(orders, dtype=np.float64))
    if arr.size == 0 or arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr <= 1):
        raise ValueError(f"orders must be finite numbers > 1, got orders={orders!r}")
    return arr


def gaussian_rdp(noise_multiplier, orders=DEFAULT_ORDERS) -> np.ndarray:
    r"""RDP of the Gaussian mechanism (sensitivity 1, noise :math:`\sigma`): :math:`\alpha/(2\sigma^2)`.

    Mironov (2017), proposition 7.

    >>> gaussian_rdp(2.0, orders=[2, 8]).tolist()
    [0.25, 1.0]
    """
    sigma = check_positive("noise_multiplier", noise_multiplier)
    alpha = _check_orders(orders)
    return alpha / (2.0 * sigma**2)


def log_a_integer(q: float, sigma: float, alpha: int) -> float:
    r""":math:`\ln A_\alpha` for an integer order, by the finite binomial sum (in log space).

    >>> round(log_a_integer(0.5, 1.0, 2), 6) == round(math.log(0.25 + 0.5 + 0.25 * math.e), 6)
    True
    """
    k = np.arange(alpha + 1, dtype=np.float64)
    log_binom = special.gammaln(alpha + 1) - special.gammaln(k + 1) - special.gammaln(alpha - k + 1)
    terms = log_binom + k * math.log(q) + (alpha - k) * math.log1p(-q) + (k * k - k) / (2.0 * sigma**2)
    return float(special.logsumexp(terms))


def log_a_fractional(q: float, sigma: float, alpha, tail: float = -30.0):
    r""":math:`\ln A_\alpha` for fractional orders (Mironov, Talwar & Zhang 2019, section 3.3).

    With :math:`z_0 = \sigma^2\ln(1/q - 1) + \tfrac12`,
    :math:`A_\alpha = \sum_{k\ge0} \binom{\alpha}{k}\big[q^k(1-q)^{\alpha-k} e^{(k^2-k)/(2\sigma^2)}
    \tfrac12\operatorname{erfc}\tfrac{k - z_0}{\sqrt2\sigma}
    + q^{\alpha-k}(1-q)^{k} e^{((\alpha-k)^2-(\alpha-k))/(2\sigma^2)}
    \tfrac12\operatorname{erfc}\tfrac{z_0 - (\alpha-k)}{\sqrt2\sigma}\big]`,
    where the generalized binomial coefficient changes sign for :math:`k > \alpha`. The
    series is summed for many orders at once (arrays of shape ``(orders, terms)``, with more
    terms only for the orders that need them) and
    cut, for each order, after its first term below :math:`e^{\rm tail}` in both halves
    (the stopping rule of Mironov et al.'s reference code, also Opacus's); the terms that
    follow decay like :math:`k^{-(\alpha+1)}`, so the cut changes :math:`\ln A_\alpha` by
    about :math:`10^{-10}` for ``tail = -30``.

    Parameters
    ----------
    q, sigma : float
        Sampling rate in (0, 1) and noise multiplier > 0.
    alpha : float or array_like
        Orders > 1 (integers are allowed too: the series then agrees with
        :func:`log_a_integer`).

    Returns
    -------
    float or numpy.ndarray
        :math:`\ln A_\alpha`, with the shape of ``alpha``.

    >>> round(log_a_fractional(0.3, 1.5, 3.0), 10) == round(log_a_integer(0.3, 1.5, 3), 10)
    True
    """
    alphas = np.asarray(alpha, dtype=np.float64)
    flat = alphas.reshape(-1)
    out = np.empty_like(flat)
    pending = np.arange(flat.size)
    n_terms = 64
    while pending.size:
        done, out[pending] = _log_a_series(q, sigma, flat[pending], n_terms, tail, last=n_terms >= 1 << 22)
        pending = pending[~done]
        n_terms *= 4  # small orders have slowly decaying tails: only they go on, with more terms
    return float(out[0]) if alphas.ndim == 0 else out.reshape(alphas.shape)


def _log_a_series(q, sigma, alphas, n_terms, tail, last):
    """The series of :func:`log_a_fractional` over ``n_terms`` terms: ``(done, values)`` per order."""
    a = alphas.reshape(-1, 1)
    z0 = sigma**2 * math.log(1.0 / q - 1.0) + 0.5
    k = np.arange(n_terms, dtype=np.float64)[None, :]
    # generalized binomial coefficient in log space: |Gamma| via gammaln, its sign via gammasgn
    log_coef = special.gammaln(a + 1) - special.gammaln(k + 1) - special.gammaln(a - k + 1)
    sign = special.gammasgn(a + 1) * special.gammasgn(a - k + 1)
    sign = np.where(a == np.round(a), np.where(k <= a, 1.0, 0.0), sign)  # integer order: finite sum
    j = a - k
    # 1/2 erfc(x / (sqrt 2 sigma)) = Phi(-x / sigma), in log space for the far tails
    s0 = (log_coef + k * math.log(q) + j * math.log1p(-q) + (k * k - k) / (2 * sigma**2)
          + special.log_ndtr(-(k - z0) / sigma))
    s1 = (log_coef + j * math.log(q) + k * math.log1p(-q) + (j * j - j) / (2 * sigma**2)
          + special.log_ndtr(-(z0 - j) / sigma))
    small = np.where(sign != 0, np.maximum(s0, s1), -np.inf) < tail
    done = small.any(axis=1) | last
    # cut each order's series after its first term below e^tail (the rest decays like k^-(alpha+1))
    first = np.where(small.any(axis=1), np.argmax(small, axis=1), n_terms - 1)
    inside = (np.arange(n_terms)[None, :] <= first[:, None]) & (sign != 0)
    s0, s1 = np.where(inside, s0, -np.inf), np.where(inside, s1, -np.inf)
    logs = np.concatenate([s0, s1], axis=1)
    signs = np.concatenate([sign, sign], axis=1)
    value, out_sign = special.logsumexp(logs, b=signs, axis=1, return_sign=True)
    if np.any(out_sign[done] <= 0):  # cannot happen for a valid (q, sigma, alpha): A_alpha >= 1
        raise ArithmeticError(f"A_alpha came out non-positive for q={q}, sigma={sigma}, alpha={alphas[done]}")
    return done, value


def sampled_gaussian_rdp(q, noise_multiplier, steps=1, orders=DEFAULT_ORDERS) -> np.ndarray:
    r"""RDP of ``steps`` compositions of the sampled Gaussian mechanism, one value per order.

    Parameters
    ----------
    q : float
        Sampling probability of each example, in (0, 1].
    noise_multiplier : float
        :math:`\sigma > 0`: the noise's standard deviation over the clipping norm.
    steps : int
        Number of steps :math:`T \ge 0` (RDP adds up over steps).
    orders : sequence of float
        Rényi orders :math:`\alpha > 1` (default :data:`DEFAULT_ORDERS`, Opacus's).

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(len(orders),)``: :math:`T\rho(\alpha)`.

    >>> sampled_gaussian_rdp(1.0, 2.0, steps=3, orders=[2]).tolist()   # q = 1: 3 alpha / (2 sigma^2)
    [0.75]
    """
    q = check_fraction("q", q, open_high=False)
    sigma = check_positive("noise_multiplier", noise_multiplier)
    steps = check_int("steps", steps, minimum=0)
    alpha = _check_orders(orders)
    if q == 1.0:
        return steps * alpha / (2.0 * sigma**2)
    out = np.empty_like(alpha)
    integer = alpha == np.round(alpha)
    for i in np.flatnonzero(integer):
        out[i] = log_a_integer(q, sigma, int(alpha[i]))
    if np.any(~integer):
        out[~integer] = log_a_fractional(q, sigma, alpha[~integer])
    return steps * out / (alpha - 1.0)


def rdp_to_epsilon(rdp, delta, orders=DEFAULT_ORDERS) -> tuple[float, float]:
    r"""Best :math:`\varepsilon` over the orders, for a given :math:`\delta` (Balle et al. 2020, theorem 21).

    :math:`\varepsilon(\alpha) = \rho(\alpha) - (\ln\delta + \ln\alpha)/(\alpha-1) + \ln((\alpha-1)/\alpha)`.

    Returns
    -------
    (float, float)
        The smallest :math:`\varepsilon` and the order that gives it.

    >>> eps, order = rdp_to_epsilon([1.0, 2.0], 1e-5, orders=[2, 3])
    >>> round(eps, 4), order
    (6.8017, 3.0)
    """
    delta = check_fraction("delta", delta)
    alpha = _check_orders(orders)
    rdp = np.atleast_1d(np.asarray(rdp, dtype=np.float64))
    if rdp.shape != alpha.shape:
        raise ValueError(f"rdp must have one value per order ({alpha.size}), got rdp of shape {rdp.shape}")
    if np.any(rdp < 0) or np.any(np.isnan(rdp)):
        raise ValueError(f"rdp must be >= 0, got rdp={rdp!r}")
    eps = rdp - (math.log(delta) + np.log(alpha)) / (alpha - 1.0) + np.log((alpha - 1.0) / alpha)
    best = int(np.argmin(eps))
    return float(max(eps[best], 0.0)), float(alpha[best])


def epsilon(q, noise_multiplier, steps, delta, orders=DEFAULT_ORDERS) -> float:
    r""":math:`\varepsilon` of ``steps`` DP-SGD steps with sampling rate ``q`` and noise ``noise_multiplier``.

    No learning rate: the rate only post-processes the privatized gradients.

    >>> epsilon(0.01, 1.0, 1000, 1e-5) < epsilon(0.01, 1.0, 2000, 1e-5)
    True
    """
    return rdp_to_epsilon(sampled_gaussian_rdp(q, noise_multiplier, steps, orders), delta, orders)[0]


def noise_for_epsilon(target_eps, delta, q, steps, orders=DEFAULT_ORDERS, rtol: float = 1e-7) -> float:
    r"""The smallest noise multiplier whose :math:`\varepsilon` is at most ``target_eps``, by bisection.

    :math:`\varepsilon` decreases as :math:`\sigma` grows, so the bracket is widened
    geometrically until it holds the target and then halved (in :math:`\ln\sigma`)
    until its ends agree to ``rtol``. The upper end is returned, so
    ``epsilon(q, sigma, steps, delta) <= target_eps`` always holds.

    Parameters
    ----------
    target_eps : float
        Privacy budget :math:`\varepsilon > 0`.
    delta : float
        In (0, 1).
    q : float
        Sampling rate in (0, 1].
    steps : int
        Number of DP-SGD steps, >= 1.

    Returns
    -------
    float

    >>> sigma = noise_for_epsilon(1.0, 1e-5, q=1.0, steps=1)
    >>> epsilon(1.0, sigma, 1, 1e-5) <= 1.0 < epsilon(1.0, 0.999 * sigma, 1, 1e-5)
    True
    """
    target = check_positive("target_eps", target_eps)
    check_fraction("delta", delta)
    check_fraction("q", q, open_high=False)
    steps = check_int("steps", steps, minimum=1)
    rtol = check_positive("rtol", rtol)
    eps = lambda s: epsilon(q, s, steps, delta, orders)  # noqa: E731
    lo, hi = 0.5, 1.0
    while eps(hi) > target:
        lo, hi = hi, hi * 2.0
        if hi > 1e6:
            raise ValueError(f"target_eps={target_eps!r} needs a noise multiplier above 1e6; is it too small?")
    while eps(lo) <= target:
        lo, hi = lo / 2.0, lo
        if lo < 1e-3:
            return hi  # the orders cannot certify less noise; this is enough
    while hi / lo - 1.0 > rtol:
        mid = math.sqrt(lo * hi)
        if eps(mid) > target:
            lo = mid
        else:
            hi = mid
    return float(hi)
