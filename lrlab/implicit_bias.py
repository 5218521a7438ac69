r"""Implicit bias: gradient descent on separable data drifts to the hard-margin SVM direction.

For linearly separable data :math:`\{(x_n, y_n)\}`, :math:`y_n = \pm 1`, the
homogeneous logistic loss :math:`L(w) = \frac1N\sum_n \ln(1 + e^{-y_n x_n^\top w})`
has no minimiser: it keeps decreasing as :math:`\|w\| \to \infty`. Soudry,
Hoffer, Nacson, Gunasekar & Srebro (2018, *The implicit bias of gradient descent
on separable data*) show that gradient descent with a small enough constant rate
nonetheless picks a *direction*:

.. math:: w(t) = \hat w \ln t + \rho(t), \qquad \rho(t)\ \text{bounded},

where :math:`\hat w = \arg\min \{\|w\| : y_n x_n^\top w \ge 1\ \forall n\}` is the
hard-margin SVM solution of the same homogeneous problem. Hence the norm grows
like :math:`\|\hat w\|\ln t` and the angle to :math:`\hat w` closes only like
:math:`1/\ln t`. Only the *sum* of the rates matters to first order (the
direction depends on :math:`\ln\sum_{k<t}\eta_k`): a summable schedule stops at a
finite point and never reaches the SVM direction, while normalized steps
(:math:`\eta_t = \eta/\|\nabla L(w_t)\|`) make the norm grow linearly and the
angle close much faster (Nacson et al. 2019).

>>> X = np.array([[1.0, 0.2], [2.0, -1.0], [-1.0, -0.2], [-2.0, 1.0]])
>>> y = np.array([1.0, 1.0, -1.0, -1.0])
>>> w_svm = hard_margin_svm(X, y)
>>> np.round(w_svm, 4).tolist()   # only the first example is a support vector: w = x_1/|x_1|^2
[0.9615, 0.1923]
"""

from __future__ import annotations

import numpy as np
import torch

from ._validate import check_int, check_positive
from .device import resolve_device
from .nqm import rates_of

__all__ = [
    "separable_data",
    "separable_data_with_gap",
    "margin_ratios",
    "hard_margin_svm",
    "hard_margin_svm_sklearn",
    "logistic_gd",
    "logistic_gd_torch",
    "angle_to",
    "record_steps",
]


def _check_data(X, y):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[0] == 0:
        raise ValueError(f"X must have shape (n, d) and y shape (n,), got X.shape={X.shape} and y.shape={y.shape}")
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError(f"y must hold labels -1 and +1 only, got values {np.unique(y)!r}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite, got a NaN or infinite entry")
    return X, y


def separable_data(n: int = 40, spread: float = 1.2, width: float = 0.25, seed: int = 0):
    r"""A 2-D data set separable by a line through the origin, with a tilted cloud.

    The positive examples lie along the direction :math:`(1, 2)/\sqrt5` around
    :math:`(1.5, 0)` (keeping :math:`x_1 > 0.3`); the negative ones are their
    mirror images :math:`-x`. The mean of :math:`y_n x_n` (the first gradient
    step from :math:`w = 0`) then points well away from the SVM direction, which
    is set by the few examples nearest the boundary.

    Parameters
    ----------
    n : int
        Number of examples (even, >= 4).
    spread, width : float
        Standard deviations along and across the tilted direction.
    seed : int
        Seed of a private generator.

    Returns
    -------
    X : numpy.ndarray, shape (n, 2)
    y : numpy.ndarray, shape (n,)
        Labels +1 (first half) and -1.

    >>> X, y = separable_data(n=6)
    >>> X.shape, y.tolist()
    ((6, 2), [1.0, 1.0, 1.0, -1.0, -1.0, -1.0])
    """
    n = check_int("n", n, minimum=4)
    if n % 2:
        raise ValueError(f"n must be even (the data are mirrored), got n={n!r}")
    spread = check_positive("spread", spread)
    width = check_positive("width", width)
    rng = np.random.default_rng(seed)
    along = np.array([1.0, 2.0]) / np.sqrt(5.0)
    across = np.array([along[1], -along[0]])
    pos = []
    while len(pos) < n // 2:
        x = np.array([1.5, 0.0]) + rng.normal() * spread * along + rng.normal() * width * across
        if x[0] > 0.3:
            pos.append(x)
    pos = np.array(pos)
    return np.vstack([pos, -pos]), np.r_[np.ones(n // 2), -np.ones(n // 2)]


def separable_data_with_gap(n: int = 40, gap: float = 2.0, support=(0.5, 0.25), spread: float = 1.2,
                            width: float = 0.25, seed: int = 0):
    r"""Mirrored 2-D data with one support vector and every other example at least ``gap`` times as far.

    The positive examples are the point ``support`` (:math:`x_s`) and ``n/2 - 1``
    points of the tilted cloud of :func:`separable_data`, each kept only if
    :math:`x^\top x_s \ge \mathrm{gap}\,\|x_s\|^2`; the negative examples are
    their mirror images. Then :math:`\hat w = x_s/\|x_s\|^2` is feasible and no
    shorter vector is (the constraint of :math:`x_s` alone needs
    :math:`\|w\| \ge 1/\|x_s\|`), so it *is* the hard-margin SVM, with the
    single support vector :math:`x_s`, and every other margin
    :math:`y_n x_n^\top\hat w \ge \mathrm{gap}`. In the analysis of Soudry et al.
    (2018) an example of margin ratio :math:`r` contributes to the bounded
    part :math:`\rho(t)` a term that settles like :math:`t^{1-r}`, so a gap of 2
    lets the asymptotic regime appear within :math:`10^3`-:math:`10^4` steps.

    Parameters
    ----------
    n : int
        Number of examples (even, >= 4).
    gap : float
        Smallest margin ratio of the non-support examples (> 1).
    support : sequence of two floats
        The positive support vector :math:`x_s`.
    spread, width : float
        Standard deviations of the cloud along and across the direction :math:`(1, 2)/\sqrt5`.
    seed : int

    Returns
    -------
    X : numpy.ndarray, shape (n, 2)
    y : numpy.ndarray, shape (n,)

    >>> X, y = separable_data_with_gap(n=10, gap=2.0)
    >>> w = np.array([0.5, 0.25]) / 0.3125
    >>> r = margin_ratios(X, y, w)
    >>> float(r.min()), bool(np.sort(r)[2] >= 2.0)   # one support vector (twice: it is mirrored), the rest >= 2
    (1.0, True)
    """
    n = check_int("n", n, minimum=4)
    if n % 2:
        raise ValueError(f"n must be even (the data are mirrored), got n={n!r}")
    gap = float(gap)
    if not gap > 1:
        raise ValueError(f"gap must be > 1, got gap={gap!r}")
    spread = check_positive("spread", spread)
    width = check_positive("width", width)
    xs = np.asarray(support, dtype=np.float64)
    if xs.shape != (2,) or not np.all(np.isfinite(xs)) or not np.any(xs):
        raise ValueError(f"support must be a non-zero finite 2-vector, got support={support!r}")
    rng = np.random.default_rng(seed)
    along = np.array([1.0, 2.0]) / np.sqrt(5.0)
    across = np.array([along[1], -along[0]])
    pos = [xs]
    for _ in range(100_000):
        if len(pos) == n // 2:
            break
        x = np.array([1.5, 0.0]) + rng.normal() * spread * along + rng.normal() * width * across
        if x @ xs >= gap * (xs @ xs):
            pos.append(x)
    else:
        raise ValueError(f"could not draw {n // 2 - 1} points with margin ratio >= {gap}: lower gap")
    pos = np.array(pos)
    return np.vstack([pos, -pos]), np.r_[np.ones(n // 2), -np.ones(n // 2)]


def margin_ratios(X, y, w) -> np.ndarray:
    r"""Margins :math:`y_n x_n^\top w` divided by the smallest one (1 at the support vectors).

    >>> margin_ratios([[1.0, 0.0], [-3.0, 0.0]], [1.0, -1.0], [1.0, 0.0]).tolist()
    [1.0, 3.0]
    """
    X, y = _check_data(X, y)
    m = y * (X @ np.asarray(w, dtype=np.float64))
    if m.min() <= 0:
        raise ValueError("w does not separate the data")
    return m / m.min()


def hard_margin_svm(X, y) -> np.ndarray:
    r"""The homogeneous hard-margin SVM :math:`\hat w = \arg\min\{\tfrac12\|w\|^2 : y_n x_n^\top w \ge 1\}`.

    Solved by :func:`scipy.optimize.minimize` (SLSQP) with the exact gradient
    and constraint Jacobian; no intercept (the problem of :func:`logistic_gd`).

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
        Labels in {-1, +1}; the data must be separable by a hyperplane through the origin.

    Returns
    -------
    numpy.ndarray, shape (d,)
        :math:`\hat w`, with smallest margin :math:`\min_n y_n x_n^\top\hat w = 1`.

    >>> hard_margin_svm([[2.0, 0.0], [-2.0, 1.0]], [1.0, -1.0]).round(4).tolist()
    [0.5, 0.0]
    """
    from scipy.optimize import minimize

    X, y = _check_data(X, y)
    Z = y[:, None] * X
    start = np.linalg.lstsq(Z, np.ones(len(y)), rcond=None)[0]  # margins 1 in the least-squares sense
    res = minimize(
        lambda w: 0.5 * w @ w,
        x0=start,
        jac=lambda w: w,
        constraints=[{"type": "ineq", "fun": lambda w: Z @ w - 1.0, "jac": lambda w: Z}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    if not res.success or np.min(Z @ res.x) < 1 - 1e-6:
        raise ValueError(f"the data are not separable through the origin (SLSQP: {res.message})")
    return res.x


def hard_margin_svm_sklearn(X, y, C: float = 1e4) -> np.ndarray:
    """The same SVM from scikit-learn: ``LinearSVC(fit_intercept=False, loss="hinge", C=large)``.

    With no intercept and a large ``C`` the soft-margin problem is the hard-margin
    one on separable data; used to cross-check :func:`hard_margin_svm`.

    Parameters
    ----------
    X, y : array_like
    C : float
        Penalty on margin violations (large).

    Returns
    -------
    numpy.ndarray, shape (d,)

    >>> (hard_margin_svm_sklearn([[2.0, 0.0], [-2.0, 1.0]], [1.0, -1.0]).round(3) + 0.0).tolist()
    [0.5, 0.0]
    """
    from sklearn.svm import LinearSVC

    X, y = _check_data(X, y)
    C = check_positive("C", C)
    model = LinearSVC(fit_intercept=False, loss="hinge", C=C, tol=1e-10, max_iter=1_000_000)
    return model.fit(X, y).coef_[0].astype(np.float64)


def record_steps(total_steps: int, n_points: int = 80) -> np.ndarray:
    """Geometrically spaced steps ``1 .. total_steps`` (unique integers) at which runs are recorded.

    >>> record_steps(100, n_points=5).tolist()
    [1, 3, 10, 32, 100]
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    n_points = check_int("n_points", n_points, minimum=1)
    return np.unique(np.round(np.geomspace(1, total_steps, n_points)).astype(int))


def _gd_arguments(X, y, schedule, total_steps, record):
    """The checked inputs shared by :func:`logistic_gd` and :func:`logistic_gd_torch`."""
    X, y = _check_data(X, y)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    lrs = rates_of(schedule, total_steps)
    steps = record_steps(total_steps) if record is None else np.asarray(record, dtype=int)
    if steps.size == 0 or steps.min() < 1 or steps.max() > total_steps:
        raise ValueError(f"record must hold steps in 1..total_steps={total_steps}, got record={record!r}")
    return X, y, total_steps, lrs, steps


def logistic_gd(X, y, schedule, total_steps: int, *, normalize: bool = False, record=None, w0=None):
    r"""Full-batch gradient descent on the mean logistic loss, numpy version.

    :math:`w_{t+1} = w_t - \eta_t g_t` with
    :math:`g_t = -\frac1N\sum_n y_n x_n\,\sigma(-y_n x_n^\top w_t)`; with
    ``normalize=True`` the step is :math:`\eta_t g_t/\|g_t\|` (computed in the log
    domain, so it stays defined when the gradient underflows).

    Parameters
    ----------
    X, y : array_like
        Data and labels in {-1, +1}.
    schedule : Schedule or array_like
        The rates :math:`\eta_0..\eta_{T-1}`.
    total_steps : int
        :math:`T`.
    normalize : bool
        Normalized gradient descent.
    record : array_like of int, optional
        Steps (in 1..T) after which :math:`w` is stored (default :func:`record_steps`).
    w0 : array_like, optional
        Starting point (default zero).

    Returns
    -------
    steps : numpy.ndarray
    weights : numpy.ndarray, shape (len(steps), d)

    >>> X, y = separable_data(n=8)
    >>> steps, W = logistic_gd(X, y, [1.0] * 10, total_steps=10, record=[10])
    >>> W.shape
    (1, 2)
    """
    from scipy.special import expit

    X, y, total_steps, lrs, steps = _gd_arguments(X, y, schedule, total_steps, record)
    Z = y[:, None] * X
    w = np.zeros(X.shape[1]) if w0 is None else np.array(w0, dtype=np.float64)
    wanted = set(steps.tolist())
    out = {}
    for t in range(total_steps):
        margins = Z @ w
        if normalize:
            logw = -np.logaddexp(0.0, margins)  # log sigma(-margin)
            g = -(Z * np.exp(logw - logw.max())[:, None]).mean(0)
            w = w - lrs[t] * g / np.linalg.norm(g)
        else:
            w = w + lrs[t] * (Z * expit(-margins)[:, None]).mean(0)
        if t + 1 in wanted:
            out[t + 1] = w.copy()
    steps = np.array(sorted(out))
    return steps, np.array([out[s] for s in steps])


def logistic_gd_torch(X, y, schedule, total_steps: int, *, normalize: bool = False, record=None, w0=None,
                      device=None):
    """The same run as :func:`logistic_gd` with torch tensors (float64), on ``device``.

    Parameters
    ----------
    X, y, schedule, total_steps, normalize, record, w0
        As in :func:`logistic_gd`.
    device : str or torch.device, optional
        Default :func:`lrlab.device.default_device`.

    Returns
    -------
    steps : numpy.ndarray
    weights : numpy.ndarray, shape (len(steps), d)

    >>> X, y = separable_data(n=8)
    >>> _, a = logistic_gd(X, y, [1.0] * 20, 20, record=[20])
    >>> _, b = logistic_gd_torch(X, y, [1.0] * 20, 20, record=[20], device="cpu")
    >>> bool(np.allclose(a, b, rtol=1e-12))
    True
    """
    X, y, total_steps, lrs, steps = _gd_arguments(X, y, schedule, total_steps, record)
    dev = resolve_device(device)
    Z = torch.as_tensor(y[:, None] * X, dtype=torch.float64, device=dev)
    w = torch.zeros(X.shape[1], dtype=torch.float64, device=dev) if w0 is None else torch.as_tensor(
        np.array(w0, dtype=np.float64), device=dev)
    wanted = set(steps.tolist())
    out = {}
    for t in range(total_steps):
        margins = Z @ w
        if normalize:
            logw = -torch.nn.functional.softplus(margins)
            g = -(Z * torch.exp(logw - logw.max())[:, None]).mean(0)
            w = w - float(lrs[t]) * g / torch.linalg.norm(g)
        else:
            w = w + float(lrs[t]) * (Z * torch.sigmoid(-margins)[:, None]).mean(0)
        if t + 1 in wanted:
            out[t + 1] = w.detach().cpu().numpy().copy()
    steps = np.array(sorted(out))
    return steps, np.array([out[s] for s in steps])


def angle_to(weights, reference) -> np.ndarray:
    """Angle in radians between each row of ``weights`` and ``reference``.

    >>> angle_to([[1.0, 0.0], [0.0, 2.0]], [1.0, 0.0]).round(4).tolist()
    [0.0, 1.5708]
    """
    W = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    ref = np.asarray(reference, dtype=np.float64)
    norms = np.linalg.norm(W, axis=1) * np.linalg.norm(ref)
    if np.any(norms == 0):
        raise ValueError("weights and reference must be non-zero vectors, got a zero vector")
    return np.arccos(np.clip(W @ ref / norms, -1.0, 1.0))
