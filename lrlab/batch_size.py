r"""Batch size and gradient noise: the noise scale, batch-size ramps, the gradient noise scale.

A minibatch of :math:`B` examples averages :math:`B` independent per-example
gradients, so the gradient noise has covariance :math:`\Sigma / B`. One SGD step
with rate :math:`\eta` moves the parameters by :math:`-\eta g`: its mean is
:math:`-\eta G` and its covariance :math:`\eta^2\Sigma/B`. Per example processed,
the drift is :math:`\eta G / B` and the injected variance :math:`\eta^2\Sigma/B^2`;
both depend on :math:`\eta` and :math:`B` only through the **noise scale**
:math:`\eta / B` (to first order in :math:`\eta`, where consecutive small steps
add up). Hence the linear scaling rule (Goyal et al. 2017): multiplying the
batch by :math:`k` and the rate by :math:`k` keeps the loss-versus-samples
curve, as long as :math:`k\eta` stays well inside the stability limit. And a
batch-size ramp with a rate that keeps :math:`\eta/B` fixed reproduces a rate
decay with fewer parameter updates (Smith et al. 2018, *Don't decay the
learning rate, increase the batch size*).

The **gradient noise scale** :math:`B_{\rm noise} = \operatorname{tr}(\Sigma)/|G|^2`
(McCandlish et al. 2018, *An empirical model of large-batch training*) is the
batch size where the noise in a minibatch gradient is as large as its signal.

>>> noise_scale(0.1, 32)
0.003125
>>> ramp = BatchRamp(batch_size=8, milestones=[10, 20], factor=4)
>>> ramp([0, 10, 25]).tolist()
[8, 32, 128]
>>> schedule = noise_matched_schedule(ramp, lr_per_example=0.01)
>>> schedule([0, 10, 25]).tolist()
[0.08, 0.32, 1.28]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ._validate import check_int, check_positive
from .device import resolve_device
from .nqm import MonteCarloResult, NoisyQuadratic, rates_of
from .schedules import Schedule

__all__ = [
    "noise_scale",
    "BatchRamp",
    "noise_matched_schedule",
    "batches_of",
    "samples_seen",
    "expected_loss_with_batches",
    "simulate_with_batches",
    "loss_at_samples",
    "gradient_noise_scale",
    "nqm_noise_scale",
    "linear_regression_noise_scale",
    "per_example_gradients",
]


def noise_scale(lr, batch_size):
    r"""The SGD noise scale :math:`g = \eta / B` (elementwise on arrays).

    Parameters
    ----------
    lr : float or array_like
        Learning rates :math:`\eta \ge 0`.
    batch_size : int or array_like
        Batch sizes :math:`B \ge 1`.

    Returns
    -------
    float or numpy.ndarray

    >>> noise_scale([0.1, 0.4], [8, 32]).tolist()
    [0.0125, 0.0125]
    >>> noise_scale(0.1, 0)
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be >= 1, got batch_size=0
    """
    lr_a = np.asarray(lr, dtype=np.float64)
    b_a = np.asarray(batch_size, dtype=np.float64)
    if np.isnan(lr_a).any() or (lr_a < 0).any():
        raise ValueError(f"lr must be >= 0, got lr={lr!r}")
    if np.isnan(b_a).any() or (b_a < 1).any():
        raise ValueError(f"batch_size must be >= 1, got batch_size={batch_size!r}")
    out = lr_a / b_a
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class BatchRamp:
    r"""A step-wise batch-size ramp: :math:`B(t) = B_0 \, k^{\#\{m_j \le t\}}`.

    The batch is multiplied by ``factor`` at each milestone, the way Smith et al.
    (2018) replace each rate decay by a batch increase.

    Parameters
    ----------
    batch_size : int
        The starting batch :math:`B_0`.
    milestones : sequence of int
        Strictly increasing steps at which the batch grows.
    factor : int
        The growth factor :math:`k \ge 1` (an integer, so that batches stay integers).

    >>> BatchRamp(4, [2], 3)(np.arange(4)).tolist()
    [4, 4, 12, 12]
    >>> BatchRamp(4, [2], 0.5)
    Traceback (most recent call last):
    ...
    ValueError: factor must be an integer, got factor=0.5
    """

    batch_size: int
    milestones: tuple
    factor: int

    def __post_init__(self):
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, minimum=1))
        object.__setattr__(self, "factor", check_int("factor", self.factor, minimum=1))
        ms = tuple(check_int(f"milestones[{i}]", m, minimum=1) for i, m in enumerate(self.milestones))
        if any(b <= a for a, b in zip(ms, ms[1:])):
            raise ValueError(f"milestones must be strictly increasing, got milestones={list(ms)!r}")
        object.__setattr__(self, "milestones", ms)

    def count(self, step):
        """How many milestones are at or before ``step`` (numpy array or torch tensor of steps)."""
        if isinstance(step, torch.Tensor):
            out = torch.zeros_like(step, dtype=torch.int64)
        else:
            step = np.asarray(step)
            if step.dtype.kind not in "iu" and not np.all(step == np.floor(step)):
                raise ValueError(f"step must be an integer count of optimizer steps, got step={step!r}")
            out = np.zeros(step.shape, dtype=np.int64)
        for m in self.milestones:
            out = out + (step >= m)
        return out

    def __call__(self, step):
        """The batch size at ``step`` (int for an int, an integer array or tensor otherwise)."""
        scalar = not isinstance(step, torch.Tensor) and np.ndim(step) == 0
        out = self.batch_size * self.factor ** self.count(step)
        return int(out) if scalar else out


def noise_matched_schedule(batch: Callable, lr_per_example: float) -> Schedule:
    r"""The rate that keeps the noise scale fixed under a batch-size schedule: :math:`\eta(t) = g\, B(t)`.

    Parameters
    ----------
    batch : callable
        ``batch(step) -> batch size`` (for example a :class:`BatchRamp`), defined
        on numpy arrays of steps.
    lr_per_example : float
        The noise scale :math:`g = \eta/B` to hold.

    Returns
    -------
    Schedule

    >>> s = noise_matched_schedule(BatchRamp(16, [100], 2), lr_per_example=0.005)
    >>> s(0), s(100)
    (0.08, 0.16)
    """
    g = check_positive("lr_per_example", lr_per_example)

    def fn(t, ops):
        if isinstance(t, torch.Tensor):
            return g * torch.as_tensor(np.asarray(batch(t.cpu().numpy().astype(np.int64)), dtype=np.float64),
                                       device=t.device)
        return g * np.asarray(batch(t.astype(np.int64)), dtype=np.float64)

    return Schedule(fn, "noise_matched_schedule", batch=batch, lr_per_example=g)


def batches_of(batch, total_steps: int) -> np.ndarray:
    """Batch sizes :math:`B_0, \\dots, B_{T-1}` of an int, a callable of the step, or an array.

    >>> batches_of(8, 3).tolist()
    [8, 8, 8]
    >>> batches_of([1, 0], 2)
    Traceback (most recent call last):
    ...
    ValueError: every batch size must be an integer >= 1, got batch=[1, 0]
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    if callable(batch):
        out = np.asarray(batch(np.arange(total_steps)))
    elif np.ndim(batch) == 0:
        out = np.full(total_steps, check_int("batch", batch, minimum=1))
    else:
        out = np.asarray(batch)
    if out.shape != (total_steps,):
        raise ValueError(f"batch must give one batch size per step ({total_steps}), got shape {out.shape}")
    if not np.all(out == np.round(out)) or (out < 1).any():
        raise ValueError(f"every batch size must be an integer >= 1, got batch={batch!r}")
    return out.astype(np.int64)


def samples_seen(batches) -> np.ndarray:
    """Examples processed before each step: ``[0, B_0, B_0 + B_1, ...]`` (length T + 1).

    >>> samples_seen([2, 2, 8]).tolist()
    [0, 2, 4, 12]
    """
    batches = np.asarray(batches, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(batches)])


def expected_loss_with_batches(nqm: NoisyQuadratic, schedule, batch, total_steps: int) -> np.ndarray:
    r"""Exact expected loss of SGD on the NQM when both the rate and the batch change with the step.

    The moment recursion of :mod:`lrlab.nqm` with a per-step batch size:

    .. math:: \mathbb E[\theta_i^2]_{t+1} = (1-\eta_t h_i)^2\,\mathbb E[\theta_i^2]_t + \eta_t^2\sigma_i^2/B_t .

    ``nqm.batch_size`` is ignored (``batch`` replaces it).

    Parameters
    ----------
    nqm : NoisyQuadratic
    schedule : Schedule or array_like
        The rates :math:`\eta_0..\eta_{T-1}`.
    batch : int, callable or array_like
        The batch sizes (see :func:`batches_of`).
    total_steps : int

    Returns
    -------
    numpy.ndarray
        :math:`\mathbb E[L_t]` for ``t = 0 .. T``.

    >>> nqm = NoisyQuadratic(h=[1.0], sigma2=[1.0], batch_size=4, theta0=0.0)
    >>> a = expected_loss_with_batches(nqm, [0.1] * 3, 4, 3)
    >>> bool(np.allclose(a, nqm.expected_loss([0.1] * 3)))
    True
    """
    lrs = rates_of(schedule, total_steps)
    if lrs.ndim != 1:
        raise ValueError(f"schedule must give one rate per step, got rates of shape {lrs.shape}")
    batches = batches_of(batch, total_steps)
    m = nqm.theta0**2
    out = np.empty(total_steps + 1)
    out[0] = 0.5 * np.sum(nqm.h * m)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(total_steps):
            m = (1 - lrs[t] * nqm.h) ** 2 * m + lrs[t] ** 2 * nqm.sigma2 / batches[t]
            out[t + 1] = 0.5 * np.sum(nqm.h * m)
    return out


def simulate_with_batches(nqm: NoisyQuadratic, schedule, batch, total_steps: int, n_seeds: int = 1000,
                          seed: int = 0, device=None) -> MonteCarloResult:
    """Monte Carlo of SGD on the NQM with a per-step batch: many independent runs at once (torch, vectorized).

    Each step draws the averaged gradient noise directly, :math:`\\mathcal N(0, \\sigma_i^2/B_t)`.

    Parameters
    ----------
    nqm : NoisyQuadratic
    schedule, batch, total_steps
        As in :func:`expected_loss_with_batches`.
    n_seeds : int
        Independent runs (at least 2).
    seed : int
    device : str or torch.device, optional
        Default :func:`lrlab.device.default_device`.

    Returns
    -------
    MonteCarloResult

    >>> nqm = NoisyQuadratic(h=[1.0], sigma2=[1.0], theta0=0.0)
    >>> mc = simulate_with_batches(nqm, [0.5] * 50, 1, 50, n_seeds=20000, device="cpu")
    >>> bool(abs(mc.mean[-1] - nqm.noise_floor(0.5)) < 4 * mc.stderr[-1])
    True
    """
    lrs = rates_of(schedule, total_steps)
    batches = batches_of(batch, total_steps)
    n_seeds = check_int("n_seeds", n_seeds, minimum=2)
    dev = resolve_device(device)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    h = torch.as_tensor(nqm.h, dtype=torch.float64, device=dev)
    sd = torch.as_tensor(np.sqrt(nqm.sigma2), dtype=torch.float64, device=dev)
    theta = torch.as_tensor(nqm.theta0, dtype=torch.float64, device=dev).expand(n_seeds, -1).clone()
    means, sqs = np.empty(total_steps + 1), np.empty(total_steps + 1)
    loss = 0.5 * (h * theta**2).sum(-1)
    means[0], sqs[0] = float(loss.mean()), float((loss**2).mean())
    for t in range(total_steps):
        noise = torch.randn(theta.shape, generator=gen, dtype=torch.float64, device=dev) * sd / float(batches[t]) ** 0.5
        theta = (1.0 - float(lrs[t]) * h) * theta - float(lrs[t]) * noise
        loss = 0.5 * (h * theta**2).sum(-1)
        means[t + 1], sqs[t + 1] = float(loss.mean()), float((loss**2).mean())
    var = np.maximum(sqs - means**2, 0.0) * n_seeds / (n_seeds - 1)
    return MonteCarloResult(mean=means, stderr=np.sqrt(var / n_seeds), n_seeds=n_seeds, device=str(dev))


def loss_at_samples(samples, loss, at) -> np.ndarray:
    """Loss of a run at given numbers of examples seen (linear interpolation of log-loss between steps).

    Parameters
    ----------
    samples : array_like
        Examples seen before each step (from :func:`samples_seen`), increasing.
    loss : array_like
        Loss at the same points.
    at : array_like
        Where to read the curve; must lie inside ``[samples[0], samples[-1]]``.

    >>> loss_at_samples([0, 10, 20], [1.0, 0.1, 0.01], [10, 15]).round(4).tolist()
    [0.1, 0.0316]
    """
    samples = np.asarray(samples, dtype=np.float64)
    loss = np.asarray(loss, dtype=np.float64)
    at = np.asarray(at, dtype=np.float64)
    if at.min() < samples[0] or at.max() > samples[-1]:
        raise ValueError(f"at must lie within [{samples[0]:g}, {samples[-1]:g}], got at from {at.min():g} to {at.max():g}")
    return np.exp(np.interp(at, samples, np.log(loss)))


def gradient_noise_scale(per_example_grads) -> float:
    r"""The simple gradient noise scale :math:`B_{\rm noise} = \operatorname{tr}(\Sigma) / |G|^2`.

    :math:`G` is the mean of the per-example gradients and :math:`\Sigma` their
    covariance (McCandlish et al. 2018, eq. 2.8). With :math:`n` examples the
    estimate uses the unbiased :math:`\operatorname{tr}\hat\Sigma` (divisor
    :math:`n-1`) and :math:`|\bar g|^2 - \operatorname{tr}\hat\Sigma/n` for
    :math:`|G|^2`, which removes the bias of :math:`|\bar g|^2` in expectation.

    Parameters
    ----------
    per_example_grads : array_like or torch.Tensor, shape (n, p)
        One flattened gradient per example, ``n >= 2``.

    Returns
    -------
    float

    >>> g = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 1.0], [2.0, -1.0]])   # mean (2, 0)
    >>> round(gradient_noise_scale(g), 6)   # tr(Sigma) = 4/3, |G|^2 = 4 - 1/3
    0.363636
    """
    g = per_example_grads
    if isinstance(g, torch.Tensor):
        g = g.detach().to("cpu", torch.float64).numpy()
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] < 2:
        raise ValueError(f"per_example_grads must have shape (n >= 2, p), got shape {g.shape}")
    n = g.shape[0]
    mean = g.mean(0)
    trace = float(((g - mean) ** 2).sum() / (n - 1))
    g2 = float(mean @ mean) - trace / n
    if g2 <= 0:
        raise ValueError(f"the estimated |G|^2={g2:.3g} is not positive: too few examples for this noise level")
    return trace / g2


def nqm_noise_scale(nqm: NoisyQuadratic, theta) -> float:
    r"""Exact :math:`B_{\rm noise}` of the NQM at ``theta``: :math:`\sum_i\sigma_i^2 / \sum_i h_i^2\theta_i^2`.

    >>> nqm_noise_scale(NoisyQuadratic(h=[2.0], sigma2=[8.0]), [1.0])
    2.0
    """
    theta = np.broadcast_to(np.asarray(theta, dtype=np.float64), nqm.h.shape)
    signal = float(np.sum(nqm.h**2 * theta**2))
    if signal <= 0:
        raise ValueError("theta is at the minimum (G = 0): the noise scale is infinite there")
    return float(nqm.sigma2.sum() / signal)


def linear_regression_noise_scale(dim: int, distance: float, noise_std: float) -> float:
    r"""Exact :math:`B_{\rm noise}` of least squares with Gaussian inputs, :math:`d + 1 + d s^2/|\delta|^2`.

    Model: :math:`x \sim \mathcal N(0, I_d)`, :math:`y = x^\top w_\ast + \epsilon`,
    :math:`\epsilon\sim\mathcal N(0, s^2)`, per-example loss
    :math:`\tfrac12 (x^\top w - y)^2`, evaluated at :math:`w = w_\ast + \delta`.
    Then :math:`G = \delta` and, by the Gaussian fourth moment
    :math:`\mathbb E[xx^\top (x^\top\delta)^2] = |\delta|^2 I + 2\delta\delta^\top`,
    :math:`\Sigma = (|\delta|^2 + s^2) I + \delta\delta^\top`.

    Parameters
    ----------
    dim : int
        :math:`d`.
    distance : float
        :math:`|\delta| > 0`.
    noise_std : float
        :math:`s \ge 0`.

    >>> linear_regression_noise_scale(10, 1.0, 0.0)
    11.0
    """
    dim = check_int("dim", dim, minimum=1)
    distance = check_positive("distance", distance)
    if not np.isfinite(noise_std) or noise_std < 0:
        raise ValueError(f"noise_std must be >= 0, got noise_std={noise_std!r}")
    return float(dim + 1 + dim * noise_std**2 / distance**2)


def per_example_gradients(model: torch.nn.Module, loss_fn: Callable, inputs, targets) -> torch.Tensor:
    """Flattened gradient of ``loss_fn(model(x_i), y_i)`` for every example, with ``torch.func`` (vmap of grad).

    Parameters
    ----------
    model : torch.nn.Module
    loss_fn : callable
        ``loss_fn(output, target) -> scalar`` for a batch (mean reduction);
        it is called on batches of one example.
    inputs, targets : torch.Tensor
        ``n`` examples.

    Returns
    -------
    torch.Tensor, shape (n, number of parameters)

    >>> lin = torch.nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[1.0, 0.0]]))
    >>> x = torch.tensor([[1.0, 2.0], [0.0, 1.0]]); y = torch.zeros(2, 1)
    >>> mse = lambda out, tgt: 0.5 * ((out - tgt) ** 2).mean()
    >>> per_example_gradients(lin, mse, x, y)   # (w.x) x
    tensor([[1., 2.],
            [0., 0.]])
    """
    from torch.func import functional_call, grad, vmap

    if len(inputs) != len(targets) or len(inputs) == 0:
        raise ValueError(f"inputs and targets must hold the same, non-zero number of examples, "
                         f"got {len(inputs)} and {len(targets)}")
    params = {k: v.detach() for k, v in model.named_parameters()}

    def one(p, x, y):
        out = functional_call(model, p, (x.unsqueeze(0),))
        return loss_fn(out, y.unsqueeze(0))

    grads = vmap(grad(one), in_dims=(None, 0, 0))(params, inputs, targets)
    return torch.cat([g.reshape(len(inputs), -1) for g in grads.values()], dim=1)
