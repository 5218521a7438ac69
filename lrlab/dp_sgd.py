r"""DP-SGD (Abadi et al. 2016): per-example clipping, Gaussian noise, Poisson sampling.

One step of DP-SGD with sampling rate :math:`q`, clipping norm :math:`C` and noise
multiplier :math:`\sigma`, on :math:`N` training examples:

1. **Poisson sampling**: every example joins the batch :math:`B_t` independently
   with probability :math:`q` (the batch size is Binomial(:math:`N, q`), mean
   :math:`qN`, variance :math:`qN(1-q)`).
2. **Per-example gradients** :math:`g_i = \nabla_\theta \ell(\theta; x_i, y_i)`, all
   parameters flattened into one vector (:func:`per_example_grads`, with ``torch.func``:
   ``functional_call`` + ``grad`` + ``vmap``; the training loop uses the closed form
   of :func:`mlp_clipped_sum`, the same numbers without forming them).
3. **Clipping** to norm :math:`C` (flat clipping, over all parameters at once):
   :math:`\bar g_i = g_i \min(1, C/\lVert g_i\rVert)`.
4. **Noise and scaling**: :math:`\tilde g = \frac{1}{qN}\big(\sum_{i\in B_t} \bar g_i
   + \mathcal N(0, \sigma^2 C^2 I)\big)`, divided by the *expected* batch size so
   that the scale does not leak the realized one.
5. **Update** :math:`\theta \leftarrow \theta - \eta_t \tilde g` with the rate of a
   schedule from :mod:`lrlab.schedules`.

Adding or removing one example changes the clipped sum by at most :math:`C`, so each
step is a sampled Gaussian mechanism with noise multiplier :math:`\sigma`;
:mod:`lrlab.privacy` accounts for it. The rate :math:`\eta_t` acts after the noise
(post-processing) and does not enter the accounting.

>>> g = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
>>> clipped, norms = clip_per_example(g, max_norm=1.0)
>>> clipped.tolist(), norms.tolist()
([[0.6000000238418579, 0.800000011920929], [0.30000001192092896, 0.4000000059604645]], [5.0, 0.5])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from ._validate import check_fraction, check_int, check_nonnegative, check_positive, check_rates
from .device import resolve_device

__all__ = [
    "mlp",
    "init_params",
    "per_example_grads",
    "flatten_per_example",
    "clip_factors",
    "clip_per_example",
    "noisy_mean",
    "mlp_clipped_sum",
    "poisson_sample",
    "poisson_masks",
    "DPRun",
    "train_dp_sgd",
]


def mlp(n_features: int = 64, hidden: int = 32, n_classes: int = 10) -> nn.Module:
    """A one-hidden-layer tanh network (the chapter's model; its weights are set by :func:`init_params`).

    >>> sum(p.numel() for p in mlp(64, 32, 10).parameters())
    2410
    """
    n_features = check_int("n_features", n_features, minimum=1)
    hidden = check_int("hidden", hidden, minimum=0)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    if hidden == 0:
        return nn.Sequential(nn.Linear(n_features, n_classes))
    return nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, n_classes))


def init_params(model: nn.Module, n_copies: int, generator: torch.Generator, device=None) -> dict:
    r"""``n_copies`` independent initializations of ``model``'s parameters, stacked on a leading axis.

    Every weight and bias of a ``Linear`` layer with ``fan_in`` inputs is drawn from
    :math:`U(-1/\sqrt{\rm fan\_in}, 1/\sqrt{\rm fan\_in})` (torch's default scale), from
    ``generator`` only (no global random state).

    Returns
    -------
    dict
        ``{name: tensor of shape (n_copies, *param.shape)}`` (float32, on ``device``).
    """
    n_copies = check_int("n_copies", n_copies, minimum=1)
    device = resolve_device(device)
    out = {}
    for name, p in model.named_parameters():
        fan_in = p.shape[1] if p.ndim == 2 else dict(model.named_parameters())[name.replace("bias", "weight")].shape[1]
        bound = 1.0 / np.sqrt(fan_in)
        u = torch.rand((n_copies, *p.shape), generator=generator, device=generator.device, dtype=torch.float32)
        out[name] = ((2 * u - 1) * bound).to(device)
    return out


def _loss_one(model: nn.Module, params: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = functional_call(model, params, (x.unsqueeze(0),))
    return nn.functional.cross_entropy(logits, y.unsqueeze(0))


def per_example_grads(model: nn.Module, params: dict, x: torch.Tensor, y: torch.Tensor) -> dict:
    r"""Gradients of the cross-entropy of every example separately, with ``torch.func``.

    ``vmap(grad(loss))`` maps the single-example gradient over the batch: the same
    numbers as one backward pass per example, in one vectorized call.

    Parameters
    ----------
    model : torch.nn.Module
        The architecture (its own parameters are not used).
    params : dict
        ``{name: tensor}`` with the shapes of ``model``'s parameters.
    x : torch.Tensor
        Inputs, shape ``(n, n_features)``.
    y : torch.Tensor
        Integer labels, shape ``(n,)``.

    Returns
    -------
    dict
        ``{name: tensor of shape (n, *param.shape)}``.
    """
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (n, features) and y (n,), got x of shape {tuple(x.shape)} and y of shape {tuple(y.shape)}")
    one = grad(lambda p, xi, yi: _loss_one(model, p, xi, yi))
    return vmap(one, in_dims=(None, 0, 0))(params, x, y)


def flatten_per_example(grads: dict, batch_dims: int = 1) -> torch.Tensor:
    """Concatenate per-example gradients into one flat vector per example: shape ``(*batch, d)``.

    >>> flatten_per_example({"w": torch.ones(3, 2, 2), "b": torch.zeros(3, 2)}).shape
    torch.Size([3, 6])
    """
    return torch.cat([g.reshape(*g.shape[:batch_dims], -1) for g in grads.values()], dim=-1)


def clip_factors(norms: torch.Tensor, max_norm: float) -> torch.Tensor:
    r"""The clipping factors :math:`\min(1, C/\lVert g\rVert)` for given norms (1 for a zero gradient)."""
    return torch.clamp(max_norm / torch.clamp(norms, min=1e-30), max=1.0)


def clip_per_example(grads: torch.Tensor, max_norm) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Scale every row of ``grads`` to norm at most ``max_norm``: :math:`g\,\min(1, C/\lVert g\rVert)`.

    Rows already inside the ball are returned unchanged (Abadi et al. 2016, algorithm 1).

    Parameters
    ----------
    grads : torch.Tensor
        Per-example gradients, shape ``(..., n, d)`` (the last axis is the parameter vector).
    max_norm : float
        Clipping norm :math:`C > 0`.

    Returns
    -------
    clipped : torch.Tensor
        Same shape as ``grads``.
    norms : torch.Tensor
        The norms before clipping, shape ``grads.shape[:-1]``.
    """
    max_norm = check_positive("max_norm", max_norm)
    if not isinstance(grads, torch.Tensor) or grads.ndim < 2:
        raise ValueError(f"grads must be a tensor of shape (n, d), got grads of shape {tuple(getattr(grads, 'shape', ()))}")
    norms = torch.linalg.vector_norm(grads, dim=-1)
    return grads * clip_factors(norms, max_norm).unsqueeze(-1), norms


def noisy_mean(clipped_sum: torch.Tensor, noise_multiplier, max_norm, expected_batch,
               generator: torch.Generator) -> torch.Tensor:
    r"""The privatized gradient :math:`(\sum_i \bar g_i + \mathcal N(0, \sigma^2C^2 I)) / (qN)`.

    Parameters
    ----------
    clipped_sum : torch.Tensor
        Sum of the clipped per-example gradients, shape ``(..., d)``.
    noise_multiplier : float
        :math:`\sigma \ge 0` (0 gives the clipped, unnoised mean).
    max_norm : float
        :math:`C > 0`.
    expected_batch : float
        :math:`qN > 0`: the *expected* batch size, not the realized one.
    generator : torch.Generator
        Source of the noise, on the device of ``clipped_sum``.

    Returns
    -------
    torch.Tensor
        Same shape as ``clipped_sum``; each coordinate's noise has standard deviation
        :math:`\sigma C/(qN)`.
    """
    sigma = check_nonnegative("noise_multiplier", noise_multiplier)
    max_norm = check_positive("max_norm", max_norm)
    expected_batch = check_positive("expected_batch", expected_batch)
    noise = torch.randn(clipped_sum.shape, generator=generator, device=clipped_sum.device, dtype=clipped_sum.dtype)
    return (clipped_sum + sigma * max_norm * noise) / expected_batch


def mlp_clipped_sum(params: dict, x: torch.Tensor, y: torch.Tensor, max_norm, valid: torch.Tensor | None = None):
    r"""Sum of the clipped per-example gradients of the :func:`mlp`, without forming them, for many runs at once.

    For a linear layer :math:`z = Wa + b`, the gradient of one example is the outer
    product :math:`\delta a^\top` (and :math:`\delta` for the bias), with :math:`a` the
    layer's input and :math:`\delta = \partial\ell/\partial z` back-propagated through
    the network. Its squared norm is :math:`\lVert\delta\rVert^2(\lVert a\rVert^2 + 1)`,
    and the weighted sum over the batch is one matrix product,
    :math:`\sum_i w_i \delta_i a_i^\top = (w \odot \Delta)^\top A` (Goodfellow 2015,
    "Efficient per-example gradient computations"). With the clipping weights
    :math:`w_i = \min(1, C/\lVert g_i\rVert)` this is DP-SGD's clipped sum, at the cost
    of one ordinary backward pass: the same numbers as :func:`per_example_grads`
    followed by :func:`clip_per_example` and a sum (to float rounding), which
    ``tests/test_dp_sgd.py`` checks.

    Parameters
    ----------
    params : dict
        Parameters of :func:`mlp` stacked over ``R`` runs: ``{name: tensor (R, *shape)}``,
        in the model's order (weight, bias, weight, bias).
    x : torch.Tensor
        Inputs, shape ``(R, n, n_features)``.
    y : torch.Tensor
        Integer labels, shape ``(R, n)``.
    max_norm : float
        Clipping norm :math:`C > 0` (flat clipping over all parameters).
    valid : torch.Tensor, optional
        Boolean or 0/1 mask ``(R, n)``; examples with 0 are left out of the sum (padding).

    Returns
    -------
    sums : dict
        ``{name: tensor (R, *shape)}``: :math:`\sum_i \text{valid}_i\, g_i\min(1, C/\lVert g_i\rVert)`.
    norms : torch.Tensor
        Per-example gradient norms before clipping, shape ``(R, n)``.
    """
    max_norm = check_positive("max_norm", max_norm)
    names = list(params)
    if len(names) % 2 or x.ndim != 3 or y.shape != x.shape[:2]:
        raise ValueError(f"params must hold (weight, bias) pairs and x be (runs, n, features), y (runs, n); got "
                         f"{len(names)} tensors, x of shape {tuple(x.shape)}, y of shape {tuple(y.shape)}")
    layers = [(params[names[i]], params[names[i + 1]]) for i in range(0, len(names), 2)]
    inputs, a = [], x
    for j, (w, b) in enumerate(layers):
        inputs.append(a)
        z = torch.baddbmm(b.unsqueeze(1), a, w.transpose(1, 2))
        a = torch.tanh(z) if j < len(layers) - 1 else z
    delta = torch.softmax(a, dim=-1)  # d cross-entropy / d logits = softmax - one-hot
    delta = delta - nn.functional.one_hot(y, delta.shape[-1]).to(delta.dtype)
    deltas = [None] * len(layers)
    for j in range(len(layers) - 1, -1, -1):
        deltas[j] = delta
        if j:
            delta = torch.bmm(delta, layers[j][0]) * (1 - inputs[j].pow(2))  # through W_j, then tanh'
    norms = torch.sqrt(sum(d.pow(2).sum(-1) * (a_in.pow(2).sum(-1) + 1) for d, a_in in zip(deltas, inputs)))
    weights = clip_factors(norms, max_norm)
    if valid is not None:
        weights = weights * valid
    sums = {}
    for j, (d, a_in) in enumerate(zip(deltas, inputs)):
        wd = d * weights.unsqueeze(-1)
        sums[names[2 * j]] = torch.bmm(wd.transpose(1, 2), a_in)
        sums[names[2 * j + 1]] = wd.sum(1)
    return sums, norms


def poisson_masks(n_runs: int, n: int, q, generator: torch.Generator) -> torch.Tensor:
    """Boolean masks ``(n_runs, n)``: each example of each run is in with probability ``q``, independently."""
    n_runs = check_int("n_runs", n_runs, minimum=1)
    n = check_int("n", n, minimum=1)
    q = check_fraction("q", q, open_high=False)
    return torch.rand((n_runs, n), generator=generator, device=generator.device) < q


def poisson_sample(n: int, q, generator: torch.Generator) -> torch.Tensor:
    r"""Indices of a Poisson-sampled batch: each of ``range(n)`` is in with probability ``q``.

    The size is random, Binomial(:math:`n, q`): mean :math:`qn`, variance :math:`qn(1-q)`;
    it can be 0.

    >>> g = torch.Generator().manual_seed(0)
    >>> poisson_sample(10, 1.0, g).tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    return torch.nonzero(poisson_masks(1, n, q, generator)[0]).flatten()


@dataclass
class DPRun:
    """Results of :func:`train_dp_sgd`: ``K`` schedules times ``S`` seeds, ``T`` steps.

    Attributes
    ----------
    test_accuracy : numpy.ndarray
        Shape ``(K, S)``: accuracy on the test split after training.
    train_loss : numpy.ndarray
        Shape ``(K, S)``: mean cross-entropy on the whole training split after training.
    clip_fraction : numpy.ndarray
        Shape ``(K, T)``: fraction of the sampled examples (all seeds together) whose
        gradient norm exceeded ``max_norm``, at every step.
    median_norm : numpy.ndarray
        Shape ``(K, T)``: median per-example gradient norm (before clipping) at every step.
    signal_to_noise : numpy.ndarray
        Shape ``(K, T)``: mean over seeds of the squared norm of the clipped sum
        over the squared norm of the added noise.
    batch_sizes : numpy.ndarray
        Shape ``(T, S)``: realized Poisson batch sizes (shared by the schedules).
    rates : numpy.ndarray
        Shape ``(K, T)``: the schedules' rates.
    params : dict
        Final parameters, ``{name: tensor (K, S, ...)}``.
    device : str
    """

    test_accuracy: np.ndarray
    train_loss: np.ndarray
    clip_fraction: np.ndarray
    median_norm: np.ndarray
    signal_to_noise: np.ndarray
    batch_sizes: np.ndarray
    rates: np.ndarray
    params: dict
    device: str


def train_dp_sgd(data, schedules, total_steps: int, sample_rate, noise_multiplier, max_norm,
                 hidden: int = 32, n_seeds: int = 1, seed: int = 0, device=None) -> DPRun:
    r"""Train the :func:`mlp` on ``data`` with DP-SGD, for several schedules and seeds at once.

    All ``K x S`` runs go side by side as one batched computation: parameters are
    stacked on a leading axis, every run draws its Poisson batch (padded to the
    largest of the step, the padding masked out), and :func:`mlp_clipped_sum` computes
    the per-example norms and the clipped sums of all runs in one backward pass
    (per-example gradients of a linear layer are outer products; they are never
    formed). The schedules share their random
    numbers: run ``(k, s)`` has the initialization, batches and noise of seed ``s``
    whatever ``k`` (common random numbers), so schedules are compared in pairs and
    only the rates differ. All randomness comes from one ``torch.Generator`` on
    ``device`` seeded with ``seed``; CUDA draws other numbers than the CPU.

    Parameters
    ----------
    data : lrlab.data.DigitsSplit
        Training and test tensors (see :func:`lrlab.data.digits`).
    schedules : callable or sequence of callables
        Schedules from :mod:`lrlab.schedules` (``step -> rate``), evaluated at steps
        ``0 .. total_steps - 1``.
    total_steps : int
        Number of DP-SGD steps, >= 1.
    sample_rate : float
        Poisson sampling probability :math:`q` in (0, 1].
    noise_multiplier : float
        :math:`\sigma \ge 0`.
    max_norm : float
        Clipping norm :math:`C > 0`.
    hidden : int
        Hidden units of the network (0: multinomial logistic regression).
    n_seeds : int
        Runs per schedule.
    seed : int
        Seed of the generator.
    device : str or torch.device, optional

    Returns
    -------
    DPRun
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    q = check_fraction("sample_rate", sample_rate, open_high=False)
    sigma = check_nonnegative("noise_multiplier", noise_multiplier)
    max_norm = check_positive("max_norm", max_norm)
    s = check_int("n_seeds", n_seeds, minimum=1)
    seed = check_int("seed", seed)
    if callable(schedules):
        schedules = [schedules]
    schedules = list(schedules)
    if not schedules or not all(callable(f) for f in schedules):
        raise ValueError(f"schedules must be a schedule or a non-empty list of schedules, got schedules={schedules!r}")
    device = resolve_device(device)
    rates = np.stack([check_rates(np.asarray(f(np.arange(total_steps)), dtype=np.float64)) for f in schedules])
    k = len(schedules)
    rates_t = torch.as_tensor(rates, dtype=torch.float32, device=device).repeat_interleave(s, dim=0)  # (k*s, T)
    x, y = data.x_train.to(device), data.y_train.to(device)
    n = int(x.shape[0])
    model = mlp(data.n_features, hidden, data.n_classes).to(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    init = init_params(model, s, gen, device)
    params = {name: v.repeat(k, *([1] * (v.ndim - 1))) for name, v in init.items()}  # run r = i * s + j
    sizes = [int(np.prod(v.shape[1:])) for v in init.values()]
    expected = q * n
    clip_fraction = np.empty((k, total_steps))
    median_norm = np.empty((k, total_steps))
    snr = np.empty((k, total_steps))
    batch_sizes = np.empty((total_steps, s), dtype=np.int64)
    arange = torch.arange(n, device=device)
    for t in range(total_steps):
        mask = poisson_masks(s, n, q, gen)
        counts = mask.sum(dim=1)
        width = max(int(counts.max()), 1)
        # the sampled indices first (stable sort of "not in"), padded with unsampled ones
        order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices[:, :width].repeat(k, 1)
        valid = (arange[:width].unsqueeze(0) < counts.unsqueeze(1)).repeat(k, 1)  # (k*s, width)
        # flat clipping over all parameters, fused with the masked sum: sum_i g_i min(1, C/|g_i|) valid_i
        totals, norms = mlp_clipped_sum(params, x[order], y[order], max_norm, valid)
        noise = sigma * max_norm * torch.randn((s, sum(sizes)), generator=gen, device=device)
        noise = dict(zip(totals, torch.split(noise.repeat(k, 1), sizes, dim=1)))
        lr = rates_t[:, t]
        signal2 = torch.zeros(k * s, device=device)
        for name, total in totals.items():
            signal2 = signal2 + total.reshape(k * s, -1).pow(2).sum(-1)
            step = (total + noise[name].reshape(total.shape)) / expected
            params[name] = params[name] - lr.reshape(-1, *([1] * (step.ndim - 1))) * step
        batch_sizes[t] = counts.cpu().numpy()
        norms_k = norms.reshape(k, s * width)
        valid_k = valid.reshape(k, s * width)
        over = ((norms_k > max_norm) & valid_k).sum(dim=1).double() / valid_k.sum(dim=1).clamp(min=1)
        clip_fraction[:, t] = over.cpu().numpy()
        median_norm[:, t] = torch.nanmedian(torch.where(valid_k, norms_k, float("nan")), dim=1).values.cpu().numpy()
        if sigma > 0:
            noise2 = sum(v.pow(2).sum(-1) for v in noise.values())
            snr[:, t] = (signal2 / noise2).reshape(k, s).mean(dim=1).cpu().numpy()
        else:
            snr[:, t] = np.inf
    final = params
    with torch.no_grad():
        predict = vmap(lambda p, xb: functional_call(model, p, (xb,)), in_dims=(0, None))
        acc = (predict(final, data.x_test.to(device)).argmax(-1) == data.y_test.to(device)).float().mean(dim=1)
        logits = predict(final, x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.repeat(k * s), reduction="none")
        loss = loss.reshape(k * s, n).mean(dim=1)
    return DPRun(test_accuracy=acc.cpu().numpy().astype(np.float64).reshape(k, s),
                 train_loss=loss.cpu().numpy().astype(np.float64).reshape(k, s),
                 clip_fraction=clip_fraction, median_norm=median_norm, signal_to_noise=snr, batch_sizes=batch_sizes,
                 rates=rates, params={nm: v.reshape(k, s, *v.shape[1:]) for nm, v in final.items()}, device=str(device))
