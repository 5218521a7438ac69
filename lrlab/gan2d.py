r"""A small 2-D GAN on a ring of Gaussians, trained for several seeds at once.

The data are a mixture of ``n_modes`` Gaussians of standard deviation ``std``
placed evenly on a circle of radius ``radius`` (the classic benchmark of mode
collapse). The generator and the discriminator are tiny MLPs; every seed has its
own weights, stored along a leading *seed* axis and multiplied with batched
matrix products (:func:`torch.baddbmm`), so S seeds train in one loop. Adam
(Kingma & Ba 2015) acts elementwise, so one Adam over the stacked weights is
exactly S independent Adams.

Losses are the non-saturating GAN losses of Goodfellow et al. (2014), written with
:math:`\operatorname{softplus}(u) = \log(1 + e^u)` on the discriminator's logit :math:`D`:

.. math::

    L_D = \mathbb E_x\,\operatorname{softplus}(-D(x)) + \mathbb E_z\,\operatorname{softplus}(D(G(z))),\qquad
    L_G = \mathbb E_z\,\operatorname{softplus}(-D(G(z))).

Two time-scale updates (TTUR, (Heusel et al. 2017)) give the two players different rates.

Quality is measured by :func:`mode_stats`: a sample is *high quality* when it lies
within ``3 std`` of its nearest mode, and a mode is *covered* when it receives at
least ``min_share`` of its fair share :math:`1/K` of all samples as high-quality ones.

>>> centers = ring_centers(8, radius=2.0)
>>> stats = mode_stats(np.repeat(centers, 10, axis=0), centers, std=0.1)
>>> stats["coverage"], stats["high_quality"]
(1.0, 1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._validate import check_fraction, check_int, check_positive
from .device import resolve_device

__all__ = [
    "ring_centers",
    "ring_mixture",
    "mode_stats",
    "mlp_size",
    "init_mlp",
    "mlp",
    "Adam",
    "GANResult",
    "train_gan",
]


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The ``(n_modes, 2)`` centres, evenly spaced on a circle, the first at angle 0.

    >>> ring_centers(4, 1.0).round(6).tolist()
    [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [-0.0, -1.0]]
    """
    n_modes = check_int("n_modes", n_modes, minimum=1)
    radius = check_positive("radius", radius)
    angle = 2 * np.pi * np.arange(n_modes) / n_modes
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def ring_mixture(n: int, n_modes: int = 8, radius: float = 2.0, std: float = 0.1, generator=None,
                 device=None, batch_shape=()) -> torch.Tensor:
    """``n`` samples of the ring mixture (equal weights), shape ``(*batch_shape, n, 2)``, float32.

    Parameters
    ----------
    n : int
        Samples per batch entry (>= 1).
    n_modes, radius, std
        The mixture: ``n_modes`` Gaussians of standard deviation ``std`` on a circle of radius ``radius``.
    generator : torch.Generator, optional
        Source of randomness (on ``device``); seeded by the caller for reproducible data.
    device : str or torch.device, optional
    batch_shape : tuple of int
        Leading shape (e.g. ``(n_seeds,)``).

    >>> g = torch.Generator().manual_seed(0)
    >>> ring_mixture(5, generator=g, device="cpu", batch_shape=(3,)).shape
    torch.Size([3, 5, 2])
    """
    n = check_int("n", n, minimum=1)
    std = check_positive("std", std)
    device = resolve_device(device) if generator is None else generator.device
    centers = torch.as_tensor(ring_centers(n_modes, radius), dtype=torch.float32, device=device)
    shape = (*batch_shape, n)
    idx = torch.randint(0, len(centers), shape, generator=generator, device=device)
    noise = torch.randn((*shape, 2), generator=generator, device=device)
    return centers[idx] + std * noise


def mode_stats(samples, centers, std: float, min_share: float = 0.25) -> dict:
    """Mode coverage and high-quality fraction of a set of 2-D samples.

    Parameters
    ----------
    samples : array_like, shape (n, 2)
    centers : array_like, shape (K, 2)
    std : float
        Standard deviation of each mode; "high quality" means within ``3 std`` of the nearest centre.
    min_share : float
        A mode is covered when its high-quality samples are at least ``min_share / K`` of all samples.

    Returns
    -------
    dict
        ``coverage`` (fraction of modes covered), ``high_quality`` (fraction of
        high-quality samples), ``counts`` (high-quality samples per mode, int array of shape (K,)).

    >>> c = ring_centers(4, 1.0)
    >>> s = mode_stats(np.vstack([np.repeat(c[:1], 9, 0), [[5.0, 5.0]]]), c, std=0.1)
    >>> s["coverage"], s["high_quality"], s["counts"].tolist()
    (0.25, 0.9, [9, 0, 0, 0])
    """
    samples = np.asarray(samples.detach().cpu() if isinstance(samples, torch.Tensor) else samples, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    std = check_positive("std", std)
    min_share = check_fraction("min_share", min_share, open_high=False)
    if samples.ndim != 2 or samples.shape[1] != 2 or len(samples) == 0:
        raise ValueError(f"samples must have shape (n, 2) with n >= 1, got samples.shape={samples.shape}")
    dist = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=-1)
    nearest = dist.argmin(axis=1)
    good = dist[np.arange(len(samples)), nearest] <= 3 * std
    counts = np.bincount(nearest[good], minlength=len(centers))
    covered = counts >= min_share * len(samples) / len(centers)
    return {"coverage": float(covered.mean()), "high_quality": float(good.mean()), "counts": counts}


# ---------------------------------------------------------------------------
# Batched MLPs: one set of weights per seed, stacked along axis 0
# ---------------------------------------------------------------------------


def mlp_size(sizes) -> int:
    """Number of weights and biases of an MLP with layer sizes ``sizes``.

    >>> mlp_size([2, 3, 1])   # 2*3 + 3 + 3*1 + 1
    13
    """
    return sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))


def init_mlp(sizes, n_seeds: int, generator: torch.Generator) -> torch.Tensor:
    """Weights of ``n_seeds`` MLPs with layer sizes ``sizes``, flat: a leaf tensor of shape ``(n_seeds, mlp_size(sizes))``.

    Each layer is a weight ``(in, out)`` followed by a bias ``(out,)``, initialised
    as PyTorch's ``nn.Linear``: uniform in :math:`\\pm 1/\\sqrt{\\text{in}}`.
    One flat tensor per network keeps the optimizer to a handful of tensor operations.

    >>> init_mlp([2, 3, 1], 4, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 13])
    """
    n_seeds = check_int("n_seeds", n_seeds, minimum=1)
    chunks = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        n = fan_in * fan_out + fan_out
        chunks.append((torch.rand((n_seeds, n), generator=generator, device=generator.device) * 2 - 1) * bound)
    return torch.cat(chunks, dim=1).requires_grad_()


def mlp(flat: torch.Tensor, sizes, x: torch.Tensor, act=torch.relu) -> torch.Tensor:
    """Apply the batched MLP: ``x`` of shape (S, n, in) -> (S, n, out); ``act`` between layers, none at the end.

    >>> g = torch.Generator().manual_seed(0)
    >>> mlp(init_mlp([2, 3, 1], 4, g), [2, 3, 1], torch.zeros(4, 5, 2)).shape
    torch.Size([4, 5, 1])
    """
    off = 0
    n_layers = len(sizes) - 1
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = flat[:, off:off + fan_in * fan_out].unflatten(1, (fan_in, fan_out))
        off += fan_in * fan_out
        b = flat[:, off:off + fan_out].unsqueeze(1)
        off += fan_out
        x = torch.baddbmm(b, x, w)
        if k < n_layers - 1:
            x = act(x)
    return x


class Adam:
    r"""Adam (Kingma & Ba 2015) on one flat parameter tensor, elementwise, with the rate given at each step.

    .. math::

        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
        p \leftarrow p - \eta_t\,\frac{m/(1-\beta_1^t)}{\sqrt{v/(1-\beta_2^t)} + \epsilon}.

    The same update as ``torch.optim.Adam`` (``tests/test_gan2d.py`` checks it), in five
    tensor operations; it also spares the one-off import cost of ``torch.optim``'s first step.
    """

    def __init__(self, param: torch.Tensor, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param = param
        self.beta1, self.beta2 = (check_fraction("beta", b, open_low=False) for b in betas)
        self.eps = check_positive("eps", eps)
        self.m = torch.zeros_like(param, requires_grad=False)
        self.v = torch.zeros_like(param, requires_grad=False)
        self.t = 0

    @torch.no_grad()
    def step(self, grad: torch.Tensor, lr) -> None:
        """Apply one update with gradient ``grad`` (the shape of the parameter) and rate ``lr``.

        ``lr`` is a number, or a tensor that broadcasts against the parameter (e.g. shape
        ``(S, 1)``: one rate per network of a stacked population).
        """
        g = grad
        self.t += 1
        self.m.mul_(self.beta1).add_(g, alpha=1 - self.beta1)
        self.v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
        denom = (self.v / (1 - self.beta2**self.t)).sqrt_().add_(self.eps)
        if isinstance(lr, torch.Tensor):
            self.param.addcdiv_(self.m * (-lr / (1 - self.beta1**self.t)), denom)
        else:
            self.param.addcdiv_(self.m, denom, value=-lr / (1 - self.beta1**self.t))


@dataclass
class GANResult:
    """Output of :func:`train_gan`: final samples per seed and the statistics of :func:`mode_stats`."""

    samples: np.ndarray  # (S, n_eval, 2), at the end
    coverage: np.ndarray  # (S,), at the end
    high_quality: np.ndarray  # (S,), at the end
    eval_steps: np.ndarray  # (C,): the steps at which the generator was evaluated (the last is ``steps``)
    coverage_curve: np.ndarray  # (C, S)
    high_quality_curve: np.ndarray  # (C, S)
    device: str


def train_gan(lr_g, lr_d, steps: int = 2000, n_seeds: int = 4, seed: int = 0, batch_size: int = 128,
              hidden: int = 64, noise_dim: int = 4, betas=(0.5, 0.999), n_modes: int = 8, radius: float = 2.0,
              std: float = 0.1, n_eval: int = 2000, min_share: float = 0.25, eval_every: int | None = None,
              device=None) -> GANResult:
    """Train ``n_seeds`` tiny GANs on the ring mixture with Adam; rates ``lr_g`` (generator) and ``lr_d`` (discriminator).

    One discriminator step and one generator step per iteration (simultaneous
    data, alternating updates, as in most GAN code). Each seed has its own
    initial weights and data stream; all seeds share one ``torch.Generator``
    seeded with ``seed``. With ``eval_every``, the generator is also evaluated
    (``n_eval`` samples per seed) every ``eval_every`` steps.

    With sequences ``lr_g`` and ``lr_d`` (one pair of rates per *arm*, equal
    lengths), ``n_seeds`` GANs are trained per arm, arm-major, on common random
    numbers: seed ``i`` of every arm starts from the same weights and sees the
    same data, latent and evaluation draws (the draws of a single-arm run with
    the same ``seed``), so the arms differ only by their rates.

    Returns
    -------
    GANResult
        ``n_eval`` generator samples per seed and their coverage / high-quality
        fractions, at the end and at every evaluation; with arms, the seed axis
        holds ``n_arms * n_seeds`` runs, arm-major.

    >>> r = train_gan([1e-3, 1e-3], [1e-3, 4e-3], steps=2, n_seeds=2, hidden=4, batch_size=8, n_eval=20, device="cpu")
    >>> r.samples.shape
    (4, 20, 2)
    """
    multi = np.ndim(lr_g) > 0 or np.ndim(lr_d) > 0
    lr_g = [check_positive("lr_g", v) for v in np.atleast_1d(lr_g).tolist()]
    lr_d = [check_positive("lr_d", v) for v in np.atleast_1d(lr_d).tolist()]
    if len(lr_g) != len(lr_d):
        raise ValueError(f"lr_g and lr_d must have the same length, got {len(lr_g)} and {len(lr_d)}")
    n_arms = len(lr_g)
    steps = check_int("steps", steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    dev = resolve_device(device)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    g_sizes, d_sizes = [noise_dim, hidden, hidden, 2], [2, hidden, hidden, 1]
    G, D = init_mlp(g_sizes, n_seeds, gen), init_mlp(d_sizes, n_seeds, gen)

    def arms(x):  # seed i's draws for seed i of every arm
        return x.repeat(n_arms, *([1] * (x.ndim - 1))) if n_arms > 1 else x

    if multi:
        G, D = arms(G.detach()).requires_grad_(), arms(D.detach()).requires_grad_()
        lr_g, lr_d = (torch.tensor(v, dtype=G.dtype, device=dev).repeat_interleave(n_seeds)[:, None] for v in (lr_g, lr_d))
    else:
        lr_g, lr_d = lr_g[0], lr_d[0]
    opt_g, opt_d = Adam(G, betas=betas), Adam(D, betas=betas)
    act = torch.nn.functional.leaky_relu
    softplus = torch.nn.functional.softplus
    centers = ring_centers(n_modes, radius)
    eval_every = steps if eval_every is None else check_int("eval_every", eval_every, minimum=1)
    eval_steps, curves = [], []

    def evaluate():
        with torch.no_grad():
            z = arms(torch.randn((n_seeds, n_eval, noise_dim), generator=gen, device=dev))
            samples = mlp(G, g_sizes, z, act).double().cpu().numpy()
        return samples, [mode_stats(s, centers, std, min_share) for s in samples]

    for step in range(1, steps + 1):
        real = arms(ring_mixture(batch_size, n_modes, radius, std, generator=gen, batch_shape=(n_seeds,)))
        z = arms(torch.randn((n_seeds, batch_size, noise_dim), generator=gen, device=dev))
        fake = mlp(G, g_sizes, z, act)
        logits = mlp(D, d_sizes, torch.cat([real, fake.detach()], dim=1), act)  # one pass over real and fake
        loss_d = (softplus(-logits[:, :batch_size]).mean(dim=(1, 2)) + softplus(logits[:, batch_size:]).mean(dim=(1, 2))).sum()
        opt_d.step(torch.autograd.grad(loss_d, D)[0], lr_d)
        loss_g = softplus(-mlp(D, d_sizes, fake, act)).mean(dim=(1, 2)).sum()
        opt_g.step(torch.autograd.grad(loss_g, G)[0], lr_g)  # the discriminator's gradient is not computed
        if step % eval_every == 0 or step == steps:
            samples, stats = evaluate()
            eval_steps.append(step)
            curves.append([[s["coverage"] for s in stats], [s["high_quality"] for s in stats]])
    curves = np.array(curves)  # (C, 2, S)
    return GANResult(samples=samples, coverage=curves[-1, 0], high_quality=curves[-1, 1],
                     eval_steps=np.array(eval_steps), coverage_curve=curves[:, 0], high_quality_curve=curves[:, 1],
                     device=str(dev))
