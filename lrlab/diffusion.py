r"""Diffusion noise schedules as siblings of rate schedules, and a tiny 2-D diffusion model.

A denoising diffusion model (Ho et al. 2020) corrupts data in ``total_steps`` steps,

.. math::

    q(x_t \mid x_{t-1}) = \mathcal N\bigl(\sqrt{1-\beta_t}\,x_{t-1},\, \beta_t I\bigr),\qquad
    q(x_t \mid x_0) = \mathcal N\bigl(\sqrt{\bar\alpha_t}\,x_0,\, (1-\bar\alpha_t) I\bigr),\qquad
    \bar\alpha_t = \prod_{s=1}^{t} (1-\beta_s),

and learns to undo one step at a time. The *noise schedule* :math:`\beta_t` (or
:math:`\bar\alpha_t`) is a pure function of the step, like a learning-rate
schedule, and it decides where the model spends its steps. Two are implemented:

* the **linear** :math:`\beta_t` of Ho et al. (2020), from ``beta_start`` to ``beta_end``;
* the **cosine** :math:`\bar\alpha_t = f(t)/f(0)`, :math:`f(t) = \cos^2\bigl(\frac{t/T + s}{1+s}\frac\pi2\bigr)`
  of Nichol & Dhariwal (2021).

Their signal-to-noise ratio :math:`\mathrm{SNR}(t) = \bar\alpha_t / (1-\bar\alpha_t)`
is the natural clock: the cosine schedule makes :math:`\log\mathrm{SNR}` fall
almost linearly in :math:`t`, the linear one destroys the signal early.

Schedules accept an ``int`` (return a ``float``), a numpy array (``float64``
array) or a torch tensor (``float64`` tensor on its device), like
:mod:`lrlab.schedules`.

The tiny model (:func:`train_ddpm`) is a batched MLP noise predictor with a
time embedding, trained with a warmup + cosine rate and an exponential moving
average (EMA) of its weights, for several seeds at once; :func:`energy_distance`
measures its samples against the data.

>>> t = np.array([0, 500, 1000])
>>> linear_alpha_bar(t, 1000).round(4).tolist()
[1.0, 0.0786, 0.0]
>>> cosine_alpha_bar(t, 1000).round(4).tolist()
[1.0, 0.4938, 0.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._validate import check_fraction, check_int, check_positive
from .device import resolve_device
from .gan2d import Adam, init_mlp, mlp, ring_mixture
from .schedules import constant_schedule, warmup_cosine_schedule

__all__ = [
    "linear_beta",
    "linear_alpha_bar",
    "cosine_alpha_bar",
    "cosine_beta",
    "snr",
    "log_snr",
    "betas_from_alpha_bar",
    "q_sample",
    "energy_distance",
    "ema_update",
    "time_embedding",
    "DDPMResult",
    "train_ddpm",
    "sample_ddpm",
]


# ---------------------------------------------------------------------------
# Schedules: pure functions of the step
# ---------------------------------------------------------------------------


def _steps(step, total_steps: int, low: int):
    """Validate steps in [low, total_steps]; return (array-like of float64, back-converter)."""
    if isinstance(step, torch.Tensor):
        s = step.to(torch.float64)
        bad = (s < low) | (s > total_steps) | (s != torch.floor(s))
        if bool(bad.any()):
            raise ValueError(f"step must be integers in [{low}, {total_steps}], got step={step.tolist()!r}")
        return s.cpu().numpy(), lambda out: torch.as_tensor(out, dtype=torch.float64, device=step.device)
    s = np.asarray(step, dtype=np.float64)
    if np.any((s < low) | (s > total_steps) | (s != np.floor(s))) or not np.all(np.isfinite(s)):
        raise ValueError(f"step must be integers in [{low}, {total_steps}], got step={step!r}")
    scalar = s.ndim == 0
    return s, (lambda out: float(out)) if scalar else (lambda out: np.asarray(out, dtype=np.float64))


def _check_betas(beta_start, beta_end):
    beta_start = check_fraction("beta_start", beta_start)
    beta_end = check_fraction("beta_end", beta_end)
    if beta_end < beta_start:
        raise ValueError(f"beta_end must be >= beta_start={beta_start!r}, got beta_end={beta_end!r}")
    return beta_start, beta_end


def linear_beta(step, total_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02):
    r"""The linear schedule of Ho et al. (2020): :math:`\beta_t = \beta_1 + (\beta_T - \beta_1)\frac{t-1}{T-1}`, :math:`t = 1..T`.

    >>> linear_beta([1, 1000], 1000).tolist()
    [0.0001, 0.02]
    """
    total_steps = check_int("total_steps", total_steps, minimum=2)
    beta_start, beta_end = _check_betas(beta_start, beta_end)
    s, back = _steps(step, total_steps, low=1)
    return back(beta_start + (beta_end - beta_start) * (s - 1) / (total_steps - 1))


def linear_alpha_bar(step, total_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02):
    r""":math:`\bar\alpha_t = \prod_{s=1}^t (1 - \beta_s)` for the linear :math:`\beta`, :math:`t = 0..T` (:math:`\bar\alpha_0 = 1`).

    >>> linear_alpha_bar(2, 2, beta_start=0.1, beta_end=0.5)   # 0.9 * 0.5
    0.45
    """
    total_steps = check_int("total_steps", total_steps, minimum=2)
    beta_start, beta_end = _check_betas(beta_start, beta_end)
    s, back = _steps(step, total_steps, low=0)
    betas = beta_start + (beta_end - beta_start) * np.arange(total_steps) / (total_steps - 1)
    table = np.concatenate([[1.0], np.cumprod(1.0 - betas)])
    return back(table[s.astype(np.int64)])


def cosine_alpha_bar(step, total_steps: int, s: float = 0.008):
    r"""The cosine schedule of Nichol & Dhariwal (2021): :math:`\bar\alpha_t = f(t)/f(0)`, :math:`f(t) = \cos^2\!\bigl(\frac{t/T + s}{1 + s}\cdot\frac\pi2\bigr)`.

    The small offset ``s`` keeps :math:`\beta_t` from being tiny near :math:`t = 0`.

    >>> round(cosine_alpha_bar(50, 100, s=0.0), 12)    # cos^2(pi/4)
    0.5
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    s_off = check_positive("s", s) if s != 0 else 0.0
    t, back = _steps(step, total_steps, low=0)

    def f(u):
        return np.cos((u / total_steps + s_off) / (1 + s_off) * np.pi / 2) ** 2

    return back(np.clip(f(t) / f(0.0), 0.0, 1.0))


def betas_from_alpha_bar(alpha_bar, max_beta: float = 0.999) -> np.ndarray:
    r"""The per-step :math:`\beta_t = 1 - \bar\alpha_t/\bar\alpha_{t-1}`, clipped at ``max_beta``, from :math:`\bar\alpha_0, \dots, \bar\alpha_T`.

    >>> betas_from_alpha_bar([1.0, 0.9, 0.45]).round(6).tolist()
    [0.1, 0.5]
    """
    ab = np.asarray(alpha_bar, dtype=np.float64)
    if ab.ndim != 1 or len(ab) < 2 or np.any(ab < 0) or np.any(ab > 1) or np.any(np.diff(ab) > 0):
        raise ValueError(f"alpha_bar must be a non-increasing 1-D array in [0, 1] of length >= 2, got alpha_bar={alpha_bar!r}")
    max_beta = check_fraction("max_beta", max_beta, open_high=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = 1.0 - ab[1:] / ab[:-1]
    return np.minimum(np.nan_to_num(beta, nan=1.0), max_beta)


def cosine_beta(step, total_steps: int, s: float = 0.008, max_beta: float = 0.999):
    r"""The cosine schedule's :math:`\beta_t = \min(1 - \bar\alpha_t/\bar\alpha_{t-1}, \beta_{\max})`, :math:`t = 1..T`.

    >>> float(cosine_beta(100, 100))    # the last step is clipped
    0.999
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    t, back = _steps(step, total_steps, low=1)
    table = betas_from_alpha_bar(cosine_alpha_bar(np.arange(total_steps + 1), total_steps, s), max_beta)
    return back(table[t.astype(np.int64) - 1])


def snr(alpha_bar):
    r"""Signal-to-noise ratio :math:`\bar\alpha/(1-\bar\alpha)` (inf at :math:`\bar\alpha = 1`).

    >>> snr(0.5), snr(0.8)
    (1.0, 4.000000000000001)
    """
    if isinstance(alpha_bar, torch.Tensor):
        return alpha_bar / (1 - alpha_bar)
    ab = np.asarray(alpha_bar, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = ab / (1.0 - ab)
    return float(out) if out.ndim == 0 else out


def log_snr(alpha_bar):
    r""":math:`\log\mathrm{SNR} = \log\bar\alpha - \log(1-\bar\alpha)` (computed without forming the ratio).

    >>> round(log_snr(0.5), 12)
    0.0
    """
    if isinstance(alpha_bar, torch.Tensor):
        return torch.log(alpha_bar) - torch.log1p(-alpha_bar)
    ab = np.asarray(alpha_bar, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = np.log(ab) - np.log1p(-ab)
    return float(out) if out.ndim == 0 else out


def q_sample(x0, alpha_bar_t, noise):
    r"""Forward noising: :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`.

    ``alpha_bar_t`` broadcasts against ``x0`` (e.g. shape ``(n, 1)`` for ``x0`` of
    shape ``(n, d)``); works for numpy arrays and torch tensors.

    >>> q_sample(np.array([2.0]), 0.64, np.array([1.0]))
    array([2.2])
    """
    if isinstance(x0, torch.Tensor):
        ab = torch.as_tensor(alpha_bar_t, dtype=x0.dtype, device=x0.device)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    ab = np.asarray(alpha_bar_t, dtype=np.float64)
    if np.any(ab < 0) or np.any(ab > 1):
        raise ValueError(f"alpha_bar_t must be in [0, 1], got alpha_bar_t={alpha_bar_t!r}")
    return np.sqrt(ab) * np.asarray(x0, dtype=np.float64) + np.sqrt(1 - ab) * np.asarray(noise, dtype=np.float64)


# ---------------------------------------------------------------------------
# Energy distance and EMA
# ---------------------------------------------------------------------------


def energy_distance(x, y):
    r"""The (squared) energy distance :math:`2\,\mathbb E|X-Y| - \mathbb E|X-X'| - \mathbb E|Y-Y'|` between two samples.

    V-statistics (all pairs, the diagonal included), so it is exactly 0 for two
    identical samples and is :math:`\ge 0` ((Székely & Rizzo 2013)); it is 0 in the
    population limit only for equal laws. For point masses at :math:`a` and
    :math:`b` it is :math:`2|a-b|`.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (..., n, d)
    y : array_like or torch.Tensor, shape (..., m, d)
        Leading axes broadcast (e.g. one distance per seed).

    Returns
    -------
    float or numpy.ndarray
        One value per leading index (float64).

    >>> energy_distance([[0.0]], [[3.0]])
    6.0
    >>> energy_distance([[0.0], [1.0]], [[0.0], [1.0]])
    0.0
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64, device=x.device)
    if x.ndim < 2 or y.ndim < 2 or x.shape[-1] != y.shape[-1] or x.shape[-2] == 0 or y.shape[-2] == 0:
        raise ValueError(f"x and y must have shapes (..., n, d) and (..., m, d) with n, m >= 1, got "
                         f"x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}")
    if x.ndim == 2 and y.ndim == 2:
        x, y = x[None], y[None]
        squeeze = True
    else:
        squeeze = False
    lead = torch.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    xx = torch.cdist(x, x).mean(dim=(-2, -1))  # each sample's own term once, broadcast below
    yy = torch.cdist(y, y).mean(dim=(-2, -1))
    xy = torch.cdist(x.expand(*lead, *x.shape[-2:]), y.expand(*lead, *y.shape[-2:])).mean(dim=(-2, -1))
    out = (2 * xy - xx - yy).clamp_min(0.0).cpu().numpy()
    return float(out[0]) if squeeze else out


def ema_update(ema, params, decay: float):
    r"""One step of the exponential moving average of weights: :math:`\bar p \leftarrow \mu\,\bar p + (1-\mu)\,p`.

    A pure function: returns a new value and leaves ``ema`` unchanged. ``ema`` and
    ``params`` may be numbers, numpy arrays, torch tensors, or lists / tuples /
    dicts of those (same structure). The EMA is iterate averaging
    (Polyak & Juditsky 1992) with a forgetting horizon of about :math:`1/(1-\mu)` steps.

    >>> ema_update(1.0, 3.0, 0.75)
    1.5
    >>> ema_update({"w": 0.0}, {"w": 1.0}, 0.9)
    {'w': 0.09999999999999998}
    """
    decay = check_fraction("decay", decay, open_low=False, open_high=False)
    if isinstance(ema, dict):
        if set(ema) != set(params):
            raise ValueError(f"ema and params must have the same keys, got {sorted(ema)} and {sorted(params)}")
        return {k: ema_update(ema[k], params[k], decay) for k in ema}
    if isinstance(ema, (list, tuple)):
        if len(ema) != len(params):
            raise ValueError(f"ema and params must have the same length, got {len(ema)} and {len(params)}")
        return type(ema)(ema_update(e, p, decay) for e, p in zip(ema, params))
    if isinstance(ema, torch.Tensor):
        return torch.lerp(params.detach().to(ema.dtype), ema, decay)  # params + decay (ema - params)
    return decay * ema + (1.0 - decay) * params


# ---------------------------------------------------------------------------
# The tiny 2-D DDPM
# ---------------------------------------------------------------------------

#: Frequencies of the sinusoidal time embedding.
N_FREQS = 4


def time_embedding(t_frac: torch.Tensor) -> torch.Tensor:
    r"""Features of the diffusion time :math:`u = t/T \in [0, 1]`: :math:`(u, \sin 2^k\pi u, \cos 2^k\pi u)_{k<4}`, shape ``(..., 9)``.

    >>> time_embedding(torch.zeros(3)).shape
    torch.Size([3, 9])
    """
    freqs = (2.0 ** torch.arange(N_FREQS, device=t_frac.device, dtype=t_frac.dtype)) * math.pi
    ang = t_frac[..., None] * freqs
    return torch.cat([t_frac[..., None], torch.sin(ang), torch.cos(ang)], dim=-1)


def _denoiser_sizes(hidden: int) -> list[int]:
    return [2 + 1 + 2 * N_FREQS, hidden, hidden, 2]


def _features(x, t, total_steps):
    return torch.cat([x, time_embedding(t.to(x.dtype) / total_steps)], dim=-1)


def _predict_noise(flat, sizes, x, t, total_steps, n_arms: int = 1):
    """The noise predicted by every network; with ``n_arms > 1``, ``x`` and ``t`` hold one batch per seed,
    shared by the arms (the features are computed once and repeated)."""
    feats = _features(x, t, total_steps)
    if n_arms > 1:
        feats = feats.repeat(n_arms, 1, 1)
    return mlp(flat, sizes, feats, torch.nn.functional.silu)


@dataclass
class DDPMResult:
    """Output of :func:`train_ddpm`: the trained (raw) and EMA weights per seed, and the schedules used."""

    params: torch.Tensor  # (S, P): the last iterate
    ema_params: torch.Tensor  # (S, P): the EMA of the iterates
    sizes: list
    alpha_bar: np.ndarray  # (T + 1,)
    betas: np.ndarray  # (T,)
    rates: np.ndarray  # (steps,) or (steps, n_arms): the learning rate used at each step
    losses: np.ndarray  # (steps, n_arms * n_seeds): the loss of every network at every step
    device: str
    n_arms: int = 1  # networks are arm-major: network a * (S // n_arms) + i is seed i of arm a


def train_ddpm(steps: int = 1500, n_seeds: int = 4, seed: int = 0, peak_lr: float = 3e-3, warmup_steps: int = 100,
               min_lr: float = 0.0, schedule: str = "warmup_cosine", ema_decay: float = 0.99, total_steps: int = 100,
               noise_schedule: str = "cosine", batch_size: int = 128, hidden: int = 64, std: float = 0.1,
               device=None, rates=None) -> DDPMResult:
    r"""Train ``n_seeds`` tiny DDPM noise predictors on the ring mixture (:func:`lrlab.gan2d.ring_mixture`).

    The loss is the simple :math:`\varepsilon`-prediction loss of Ho et al. (2020),
    :math:`\mathbb E_{t, x_0, \varepsilon}\|\varepsilon - \hat\varepsilon(x_t, t)\|^2`
    with :math:`t` uniform in :math:`1..T`. Adam (:class:`lrlab.gan2d.Adam`) with
    the rate ``schedule``: ``"warmup_cosine"``
    (:func:`lrlab.schedules.warmup_cosine_schedule` from 0 to ``peak_lr`` and down
    to ``min_lr``) or ``"constant"`` (``peak_lr`` throughout). An EMA with decay
    ``ema_decay`` follows the weights (:func:`ema_update`).

    With ``rates`` of shape ``(steps, n_arms)``, one population of ``n_seeds``
    networks is trained per column (per *arm*), and the arms share everything
    random: seed ``i`` of every arm starts from the same initial weights and sees
    the same minibatches, diffusion times and noise draws (common random numbers),
    so two arms differ only by their rates and a paired comparison over seeds
    measures the effect of the rates alone.

    Parameters
    ----------
    noise_schedule : {"cosine", "linear"}
        :func:`cosine_alpha_bar`, or :func:`linear_alpha_bar` with :math:`\beta` from
        :math:`10^{-4}\cdot 1000/T` to :math:`0.02\cdot 1000/T` (the scaling of
        (Nichol & Dhariwal 2021) for other numbers of diffusion steps).
    rates : array_like, shape (steps,) or (steps, n_arms), optional
        The rate of every step (of every arm); overrides ``schedule``, ``peak_lr``,
        ``warmup_steps`` and ``min_lr``.

    Returns
    -------
    DDPMResult
        ``params``/``ema_params`` of shape ``(n_arms * n_seeds, P)``, arm-major.

    >>> res = train_ddpm(steps=3, n_seeds=2, hidden=4, batch_size=8, total_steps=10, device="cpu",
    ...                  rates=np.array([[0.0, 1e-2]] * 3))
    >>> res.params.shape[0], res.n_arms
    (4, 2)
    >>> bool(torch.equal(res.params[0], res.params[1])), bool(torch.equal(res.params[0], res.params[2]))
    (False, False)
    >>> bool(torch.equal(res.params[:2], res.ema_params[:2]))    # a zero rate leaves arm 0 at its start
    True
    """
    steps = check_int("steps", steps, minimum=1)
    total_steps = check_int("total_steps", total_steps, minimum=2)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    ema_decay = check_fraction("ema_decay", ema_decay, open_low=False, open_high=False)
    if noise_schedule == "cosine":
        alpha_bar = cosine_alpha_bar(np.arange(total_steps + 1), total_steps)
    elif noise_schedule == "linear":
        scale = 1000 / total_steps
        alpha_bar = linear_alpha_bar(np.arange(total_steps + 1), total_steps, 1e-4 * scale, min(0.02 * scale, 0.999))
    else:
        raise ValueError(f"noise_schedule must be 'cosine' or 'linear', got noise_schedule={noise_schedule!r}")
    if rates is not None:
        rates = np.asarray(rates, dtype=np.float64)
        if rates.ndim == 1:
            rates = rates[:, None]
        if rates.ndim != 2 or rates.shape[0] != steps or rates.shape[1] < 1 or not np.all(np.isfinite(rates)) \
                or np.any(rates < 0):
            raise ValueError(f"rates must be finite, >= 0, of shape (steps,) or (steps, n_arms) with steps={steps}, "
                             f"got rates of shape {rates.shape}")
    elif schedule == "warmup_cosine":
        rates = warmup_cosine_schedule(peak_lr, total_steps=steps, warmup_steps=warmup_steps, min_lr=min_lr)
    elif schedule == "constant":
        rates = constant_schedule(peak_lr)
    else:
        raise ValueError(f"schedule must be 'warmup_cosine' or 'constant', got schedule={schedule!r}")
    arm_rates = None
    if not isinstance(rates, np.ndarray):  # a schedule: one arm, rates as plain floats
        rates = np.asarray(rates(np.arange(steps)), dtype=np.float64)
        n_arms = 1
    else:
        n_arms = rates.shape[1]
        rates = rates[:, 0] if n_arms == 1 else rates
    # clip beta_t at 0.999 and rebuild alpha_bar from the clipped betas, as Nichol & Dhariwal do
    alpha_bar = np.concatenate([[1.0], np.cumprod(1.0 - betas_from_alpha_bar(alpha_bar))])
    dev = resolve_device(device)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    sizes = _denoiser_sizes(hidden)
    params = init_mlp(sizes, n_seeds, gen)
    if n_arms > 1:  # the same initial weights for seed i of every arm
        params = params.detach().repeat(n_arms, 1).requires_grad_()
        arm_rates = torch.as_tensor(rates, dtype=torch.float32, device=dev).repeat_interleave(n_seeds, dim=1)[..., None]
    ema = params.detach().clone()
    opt = Adam(params)
    ab = torch.as_tensor(alpha_bar, dtype=torch.float32, device=dev)
    losses = torch.empty((steps, n_arms * n_seeds), device=dev)
    for k in range(steps):
        x0 = ring_mixture(batch_size, std=std, generator=gen, batch_shape=(n_seeds,))
        t = torch.randint(1, total_steps + 1, (n_seeds, batch_size), generator=gen, device=dev)
        eps = torch.randn(x0.shape, generator=gen, device=dev)
        xt = q_sample(x0, ab[t][..., None], eps)
        # with arms, seed i of every arm sees this same minibatch, times and noise
        pred = _predict_noise(params, sizes, xt, t, total_steps, n_arms)
        loss = ((pred.view(n_arms, n_seeds, batch_size, 2) - eps).square().sum(-1).mean(-1)).reshape(-1)
        opt.step(torch.autograd.grad(loss.sum(), params)[0], float(rates[k]) if arm_rates is None else arm_rates[k])
        with torch.no_grad():
            ema.lerp_(params, 1.0 - ema_decay)  # ema <- decay * ema + (1 - decay) * params, as ema_update
        losses[k] = loss.detach()
    return DDPMResult(params=params.detach(), ema_params=ema, sizes=sizes, alpha_bar=alpha_bar,
                      betas=betas_from_alpha_bar(alpha_bar), rates=rates, losses=losses.cpu().numpy(),
                      device=str(dev), n_arms=n_arms)


@torch.no_grad()
def sample_ddpm(flat: torch.Tensor, sizes, alpha_bar, n: int, generator: torch.Generator,
                n_arms: int = 1, clip_x0: float | None = None) -> torch.Tensor:
    r"""Ancestral sampling (Ho et al. 2020) from the noise predictors ``flat`` (one per seed): shape ``(S, n, 2)``.

    From :math:`x_T \sim \mathcal N(0, I)`, for :math:`t = T, \dots, 1`,

    .. math::

        x_{t-1} = \frac{1}{\sqrt{1-\beta_t}}\Bigl(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\hat\varepsilon(x_t, t)\Bigr)
        + \tilde\sigma_t z,\qquad \tilde\sigma_t^2 = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t,

    with :math:`\beta_t = 1 - \bar\alpha_t/\bar\alpha_{t-1}` and no noise at the last step.

    With ``clip_x0 = c`` the step is taken, as in Ho et al.'s code (``clip_denoised``), through
    the predicted clean point :math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}`
    clipped to :math:`[-c, c]` per coordinate, and the posterior mean
    :math:`\frac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1-\bar\alpha_t}\hat x_0 + \frac{\sqrt{1-\beta_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}x_t`
    (the same step when nothing is clipped). It keeps the first steps, where
    :math:`\beta_t` is close to 1 and :math:`1/\sqrt{1-\beta_t}` multiplies any error of
    :math:`\hat\varepsilon`, from throwing samples far outside the data.
    With ``n_arms > 1`` the networks are arm-major (as :func:`train_ddpm` returns them)
    and network ``i`` of every arm gets the same :math:`x_T` and the same noise ``z``
    (common random numbers).
    """
    n = check_int("n", n, minimum=1)
    n_arms = check_int("n_arms", n_arms, minimum=1)
    if flat.shape[0] % n_arms:
        raise ValueError(f"n_arms must divide the number of networks {flat.shape[0]}, got n_arms={n_arms}")

    def draw(shape):
        z = torch.randn((shape[0] // n_arms, *shape[1:]), generator=generator, device=dev)
        return z.repeat(n_arms, 1, 1) if n_arms > 1 else z

    alpha_bar = np.asarray(alpha_bar, dtype=np.float64)
    total_steps = len(alpha_bar) - 1
    betas = 1.0 - alpha_bar[1:] / np.maximum(alpha_bar[:-1], 1e-300)
    dev = flat.device
    x = draw((flat.shape[0], n, 2))
    for t in range(total_steps, 0, -1):
        beta, ab, ab_prev = betas[t - 1], alpha_bar[t], alpha_bar[t - 1]
        tt = torch.full((flat.shape[0], n), t, device=dev)
        eps = _predict_noise(flat, sizes, x, tt, total_steps)
        if clip_x0 is None:
            x = (x - beta / math.sqrt(1.0 - ab) * eps) / math.sqrt(1.0 - beta)
        else:
            x0 = ((x - math.sqrt(1.0 - ab) * eps) / math.sqrt(ab)).clamp(-clip_x0, clip_x0)
            x = (math.sqrt(ab_prev) * beta / (1.0 - ab)) * x0 + (math.sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab)) * x
        if t > 1:
            sigma = math.sqrt((1.0 - ab_prev) / (1.0 - ab) * beta)
            x = x + sigma * draw(x.shape)
    return x
