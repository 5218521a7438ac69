r"""A *population* of small MLPs on the digits, trained together as one batched network.

Many networks (seeds, rates or schedules) train at once: every weight tensor
carries a leading axis of members, the forward pass is a batched matrix
product, and the training loss summed over members has the members' own
gradients as its blocks (their Hessian is block-diagonal too). Each member
draws its own minibatches and follows its own rate (and momentum) schedule.
Chapter 5 (``book/scaling_up.md``) runs its experiments on it.

>>> pop = init_population(3, seed=0, device="cpu")
>>> [tuple(p.shape) for p in pop]
[(3, 64, 64), (3, 64), (3, 64, 10), (3, 10)]
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .data import digits
from .device import resolve_device

HIDDEN = 64  #: hidden width of every member
N_CLASSES = 10
SPLIT_SEED = 0  #: the digits train/test split every member sees

__all__ = [
    "HIDDEN",
    "PopulationModule",
    "batch_table",
    "evaluate",
    "forward",
    "init_population",
    "member_losses",
    "n_train",
    "top_hessian_eigenvalue",
    "train_population",
]


def data(device=None):
    """The digits split every member trains and is evaluated on (:func:`lrlab.data.digits`, ``SPLIT_SEED``)."""
    return digits(split_seed=SPLIT_SEED, device=resolve_device(device))


def n_train() -> int:
    """Number of training examples of the chapter's digits split.

    >>> n_train()
    1258
    """
    return int(data("cpu").y_train.shape[0])


def init_population(n_members: int, seed: int = 0, device=None, hidden: int = HIDDEN) -> list[torch.Tensor]:
    r"""Weights of ``n_members`` MLPs 64 -> ``hidden`` -> 10 with torch's default ``nn.Linear`` init.

    Each layer's weights and biases are uniform on :math:`\pm 1/\sqrt{\text{fan-in}}`,
    drawn from a generator seeded with ``seed`` on ``device``: member ``i`` is
    the same network whatever the population size (it is drawn ``i``-th).

    Returns
    -------
    list of torch.Tensor
        ``[W1 (P, 64, H), b1 (P, H), W2 (P, H, 10), b2 (P, 10)]``, float32.
    """
    device = resolve_device(device)
    gen = torch.Generator(device=device).manual_seed(int(seed))
    shapes = [((64, hidden), 64), ((hidden,), 64), ((hidden, N_CLASSES), hidden), ((N_CLASSES,), hidden)]
    out = []
    for shape, fan_in in shapes:
        bound = 1.0 / math.sqrt(fan_in)
        u = torch.rand((n_members, *shape), generator=gen, device=device)
        out.append((2 * u - 1) * bound)
    return out


def forward(params, x: torch.Tensor) -> torch.Tensor:
    """Logits ``(P, n, 10)`` of every member on inputs ``x``: ``(n, 64)`` shared or ``(P, n, 64)`` per member."""
    w1, b1, w2, b2 = params
    if x.dim() == 2:
        hidden = torch.relu(torch.einsum("ni,pih->pnh", x, w1) + b1[:, None, :])
    else:
        hidden = torch.relu(torch.bmm(x, w1) + b1[:, None, :])
    return torch.bmm(hidden, w2) + b2[:, None, :]


def member_losses(params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of every member, shape ``(P,)``; ``y`` is ``(n,)`` shared or ``(P, n)``."""
    logits = forward(params, x)
    p, n, c = logits.shape
    yy = y.expand(p, n) if y.dim() == 1 else y
    return torch.nn.functional.cross_entropy(logits.reshape(p * n, c), yy.reshape(p * n), reduction="none").view(p, n).mean(1)


@torch.no_grad()
def evaluate(params, x, y) -> dict:
    """Full-data loss and accuracy of every member (numpy arrays of shape ``(P,)``)."""
    logits = forward(params, x)
    p, n, c = logits.shape
    loss = torch.nn.functional.cross_entropy(logits.reshape(p * n, c), y.expand(p, n).reshape(p * n),
                                             reduction="none").view(p, n).mean(1)
    acc = (logits.argmax(-1) == y).float().mean(1)
    return {"loss": loss.double().cpu().numpy(), "acc": acc.double().cpu().numpy()}


def train_population(
    rates,
    batch_size: int,
    seed: int = 0,
    momentum=0.0,
    device=None,
    eval_every: int | None = None,
    init_seed: int | None = None,
    params=None,
    optimizer: str = "sgd",
    betas: tuple = (0.9, 0.999),
    batches: torch.Tensor | None = None,
) -> dict:
    r"""Train a population with heavy-ball SGD, member ``i`` at rate ``rates[i, t]`` and momentum ``momentum[i, t]``.

    The update is PyTorch's: :math:`v \leftarrow \mu v + g`, :math:`\theta \leftarrow \theta - \eta v`
    (plain SGD for :math:`\mu = 0`). With ``optimizer="adam"`` it is Adam (Kingma & Ba 2015, with
    bias correction, :math:`\epsilon = 10^{-8}`, ``betas``; ``momentum`` is then ignored). With
    ``optimizer="schedule_free"`` it is schedule-free SGD (Defazio et al. 2024), the recursion of
    :class:`lrlab.schedule_free.ScheduleFreeSGD` with ``rates[i, t]`` as :math:`\gamma_t` (warmup
    included) and the scalar ``momentum`` as the interpolation :math:`\beta`; it is evaluated at
    the average :math:`x`, and ``params`` returns :math:`y`. Each member draws its own minibatches of
    ``batch_size`` examples (with replacement across steps, without inside a
    step) from a generator seeded with ``seed``.

    Parameters
    ----------
    rates : array_like, shape (P, T)
        The rate of every member at every step (rows are schedules evaluated on ``0 .. T-1``).
    batch_size : int
    seed : int
        Seed of the minibatch draws (and of the initial weights unless ``init_seed``).
    momentum : float or array_like of shape (P, T)
    eval_every : int, optional
        Record full training loss, test loss and test accuracy every so many steps (and at the end).
    init_seed : int, optional
        Seed of the initial weights (default ``seed``).
    params : list of tensors, optional
        Start from these weights instead (copied).
    optimizer : {"sgd", "adam"}
    betas : tuple of float
        Adam's :math:`(\beta_1, \beta_2)`.
    batches : torch.Tensor, optional
        Minibatch indices ``(T, S, batch_size)`` (e.g. from :func:`batch_table`) with ``P`` a
        multiple of ``S``: member ``i`` uses ``batches[t, i % S]`` and ``seed`` draws nothing.
        With members laid out as groups of ``S`` seeds (one group per setting), seed ``i``
        of every group sees the same minibatches: common random numbers for paired comparisons.

    Returns
    -------
    dict
        ``params`` (final weights), ``steps`` (evaluation steps), ``train_loss``,
        ``test_loss``, ``test_acc`` (arrays ``(n_evals, P)``), ``final`` (the last
        evaluation, a dict of ``(P,)`` arrays), ``diverged`` (bool ``(P,)``: a
        non-finite loss, or a final training loss above the initial one); for schedule-free
        also ``average`` (the final :math:`x`).
    """
    device = resolve_device(device)
    split = data(device)
    rates = np.atleast_2d(np.asarray(rates, dtype=np.float64))
    n_members, total = rates.shape
    mom = np.broadcast_to(np.asarray(momentum, dtype=np.float64), rates.shape) if np.ndim(momentum) else None
    if params is None:
        params = init_population(n_members, seed=seed if init_seed is None else init_seed, device=device)
    params = [p.detach().clone().requires_grad_(True) for p in params]
    if optimizer not in ("sgd", "adam", "schedule_free"):
        raise ValueError(f"optimizer must be 'sgd', 'adam' or 'schedule_free', got optimizer={optimizer!r}")
    bufs = [torch.zeros_like(p) for p in params]  # momentum buffers; z for schedule-free
    second = [torch.zeros_like(p) for p in params]  # Adam's second moments; x for schedule-free
    if optimizer == "schedule_free":
        if np.ndim(momentum) or not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"schedule-free needs one interpolation momentum in [0, 1], got momentum={momentum!r}")
        bufs = [p.detach().clone() for p in params]
        second = [p.detach().clone() for p in params]
        weights = np.maximum.accumulate(rates, axis=1) ** 2  # gamma_max,t^2 (the reference implementation's)
        with np.errstate(invalid="ignore", divide="ignore"):
            avg = np.nan_to_num(weights / np.cumsum(weights, axis=1))  # c_{t+1}; 0 while every rate so far is 0
        avg_t = torch.as_tensor(avg.T.copy(), dtype=torch.float32, device=device)
    beta1, beta2 = betas
    lr_t = torch.as_tensor(rates.T.copy(), dtype=torch.float32, device=device)  # (T, P)
    mom_t = None if mom is None else torch.as_tensor(mom.T.copy(), dtype=torch.float32, device=device)
    mu_scalar = float(momentum) if mom is None else None
    gen = torch.Generator(device=device).manual_seed(int(seed) + 7919)
    n = split.x_train.shape[0]
    if batches is not None:
        batches = torch.as_tensor(batches, device=device)
        if batches.dim() != 3 or batches.shape[0] < total or n_members % batches.shape[1] or \
                batches.shape[2] != batch_size:
            raise ValueError(f"batches must have shape (>= {total}, S, {batch_size}) with S dividing {n_members} "
                             f"members, got batches.shape={tuple(batches.shape)}")
        groups = n_members // batches.shape[1]
    x, y = split.x_train, split.y_train
    eval_steps = sorted(set(range(0, total, eval_every)) | {total}) if eval_every else [0, total]
    record = {"steps": [], "train_loss": [], "test_loss": [], "test_acc": []}

    def log(step):
        point = second if optimizer == "schedule_free" else params  # schedule-free is evaluated at x
        tr = evaluate(point, x, y)
        te = evaluate(point, split.x_test, split.y_test)
        record["steps"].append(step)
        record["train_loss"].append(tr["loss"])
        record["test_loss"].append(te["loss"])
        record["test_acc"].append(te["acc"])

    for t in range(total):
        if t in eval_steps:
            log(t)
        if batches is None:
            idx = torch.rand(n_members, n, generator=gen, device=device).argsort(1)[:, :batch_size]
        else:
            idx = batches[t].repeat(groups, 1)
        loss = member_losses(params, x[idx], y[idx]).sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            lr = lr_t[t]
            for p, g, b, v2 in zip(params, grads, bufs, second):
                shape = (-1,) + (1,) * (p.dim() - 1)
                if optimizer == "schedule_free":
                    beta = float(momentum)
                    b.sub_(lr.view(shape) * g)  # z_{t+1} = z_t - gamma_t g(y_t)
                    v2.lerp_(b, avg_t[t].view(shape))  # x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}
                    p.copy_(torch.lerp(b, v2, beta))  # y_{t+1} = (1 - beta) z_{t+1} + beta x_{t+1}
                    continue
                if optimizer == "adam":
                    b.mul_(beta1).add_(g, alpha=1 - beta1)
                    v2.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    step_dir = (b / (1 - beta1 ** (t + 1))) / ((v2 / (1 - beta2 ** (t + 1))).sqrt() + 1e-8)
                    p.sub_(lr.view(shape) * step_dir)
                    continue
                if mom_t is not None:
                    b.mul_(mom_t[t].view(shape)).add_(g)
                elif mu_scalar:
                    b.mul_(mu_scalar).add_(g)
                else:
                    b.copy_(g)
                p.sub_(lr.view(shape) * b)
    log(total)
    out = {k: np.array(v) for k, v in record.items()}
    out["params"] = [p.detach() for p in params]
    if optimizer == "schedule_free":
        out["average"] = [v.detach() for v in second]
    out["final"] = {"train_loss": out["train_loss"][-1], "test_loss": out["test_loss"][-1], "test_acc": out["test_acc"][-1]}
    first = out["train_loss"][0]
    last = out["train_loss"][-1]
    out["diverged"] = ~np.isfinite(last) | (last > first)
    return out


def top_hessian_eigenvalue(params, iters: int = 20, seed: int = 0, device=None) -> np.ndarray:
    r"""Largest Hessian eigenvalue :math:`h_{\max}` of every member's full training loss, by power iteration.

    Each iteration is one Hessian-vector product (double backward) for all
    members at once; the estimate is the Rayleigh quotient :math:`v^\top H v`
    of the unit vector :math:`v` after ``iters`` iterations. Chapter 1's
    stability limit for plain SGD at that point is :math:`2/h_{\max}`.
    """
    device = resolve_device(device)
    split = data(device)
    params = [p.detach().clone().requires_grad_(True) for p in params]
    gen = torch.Generator(device=device).manual_seed(int(seed))
    loss = member_losses(params, split.x_train, split.y_train).sum()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    v = [torch.randn(p.shape, generator=gen, device=device) for p in params]

    def normalize(vs):
        norm = torch.sqrt(sum((u.flatten(1) ** 2).sum(1) for u in vs))
        return [u / norm.view((-1,) + (1,) * (u.dim() - 1)) for u in vs]

    v = normalize(v)
    eig = None
    for _ in range(iters):
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
        eig = sum((a * b).flatten(1).sum(1) for a, b in zip(v, hv))
        v = normalize([h.detach() for h in hv])
    return eig.detach().double().cpu().numpy()


class PopulationModule(torch.nn.Module):
    """The population's weights as a module, so that torch optimizers and state dicts apply."""

    def __init__(self, params):
        super().__init__()
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(p.detach().clone()) for p in params])

    def losses(self, x, y):
        return member_losses(list(self.weights), x, y)


def batch_table(steps: int, n_members: int, batch: int, seed: int, device=None) -> torch.Tensor:
    """Minibatch indices of every step, ``(steps, n_members, batch)``: step ``t`` always gets the same batch.

    Each row holds ``batch`` distinct training examples (without replacement inside a step).

    >>> t = batch_table(5, 2, 8, seed=0, device="cpu")
    >>> tuple(t.shape), all(len(set(row.tolist())) == 8 for row in t.reshape(-1, 8))
    ((5, 2, 8), True)
    """
    device = resolve_device(device)
    n = data(device).x_train.shape[0]
    gen = torch.Generator(device=device).manual_seed(int(seed))
    return torch.rand(steps, n_members, n, generator=gen, device=device).argsort(-1)[..., :batch]
