r"""A schedule in a plain torch training loop: a tiny regression task and minibatch SGD.

The loop hands the rate to torch through :func:`lrlab.torch_adapter.lambda_lr`
(``scheduler.step()`` once per optimizer step, after it). Chapter 1 shows it.
"""

from __future__ import annotations

import numpy as np
import torch

from ._validate import check_int, check_nonnegative
from .schedules import Schedule, constant_schedule  # noqa: F401  (constant_schedule: the doctests)
from .torch_adapter import lambda_lr

__all__ = ["tiny_regression", "tiny_mlp", "train_with_schedule", "full_batch_loss"]

def tiny_regression(n: int = 512, dim: int = 8, noise: float = 0.3, seed: int = 0):
    """A small synthetic regression set: ``y = sin(2 x @ w) + noise``, on CPU.

    Parameters
    ----------
    n : int
        Number of examples.
    dim : int
        Number of input features.
    noise : float
        Standard deviation of the label noise.
    seed : int
        Seed of the data (a private generator; the global one is untouched).

    Returns
    -------
    inputs : torch.Tensor, shape (n, dim)
    targets : torch.Tensor, shape (n, 1)

    >>> x, y = tiny_regression(n=16, dim=3)
    >>> tuple(x.shape), tuple(y.shape)
    ((16, 3), (16, 1))
    """
    n = check_int("n", n, minimum=1)
    dim = check_int("dim", dim, minimum=1)
    noise = check_nonnegative("noise", noise)
    gen = torch.Generator().manual_seed(int(seed))
    inputs = torch.randn(n, dim, generator=gen)
    teacher = torch.randn(dim, 1, generator=gen) / dim**0.5
    targets = torch.sin(2.0 * inputs @ teacher) + noise * torch.randn(n, 1, generator=gen)
    return inputs, targets


def tiny_mlp(dim: int = 8, width: int = 32, seed: int = 0) -> torch.nn.Module:
    """A one-hidden-layer tanh network with seeded initial weights.

    Parameters
    ----------
    dim : int
        Number of inputs.
    width : int
        Number of hidden units.
    seed : int
        Seed of the initial weights; torch's global generator is left as it was.

    Returns
    -------
    torch.nn.Sequential

    >>> tiny_mlp(dim=3, width=4)
    Sequential(
      (0): Linear(in_features=3, out_features=4, bias=True)
      (1): Tanh()
      (2): Linear(in_features=4, out_features=1, bias=True)
    )
    """
    dim = check_int("dim", dim, minimum=1)
    width = check_int("width", width, minimum=1)
    with torch.random.fork_rng(devices=[]):  # seed the initialisation without touching the global generator
        torch.manual_seed(int(seed))
        return torch.nn.Sequential(torch.nn.Linear(dim, width), torch.nn.Tanh(), torch.nn.Linear(width, 1))


def train_with_schedule(model, inputs, targets, schedule: Schedule, total_steps: int, batch_size: int = 16, seed: int = 0):
    """Minibatch SGD on mean-squared error, with the rate set by ``schedule`` at every step.

    The rate is handed to torch by :func:`lrlab.torch_adapter.lambda_lr`;
    ``scheduler.step()`` is called once per optimizer step, after it.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place.
    inputs, targets : torch.Tensor
        The training set.
    schedule : Schedule
        Gives the rate of every step.
    total_steps : int
        Number of optimizer steps T.
    batch_size : int
        Examples drawn (with replacement) per step.
    seed : int
        Seed of the minibatch sampler.

    Returns
    -------
    rates : numpy.ndarray
        The rate the optimizer used at steps ``0 .. T-1``.
    losses : numpy.ndarray
        The minibatch loss at steps ``0 .. T-1``.

    >>> x, y = tiny_regression(n=64, dim=3)
    >>> rates, losses = train_with_schedule(tiny_mlp(dim=3), x, y, constant_schedule(0.1), total_steps=5)
    >>> rates.tolist()
    [0.1, 0.1, 0.1, 0.1, 0.1]
    """
    total_steps = check_int("total_steps", total_steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise ValueError(
            f"inputs and targets must hold the same, non-zero number of examples, got {len(inputs)} and {len(targets)}"
        )
    sampler = torch.Generator().manual_seed(int(seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=float(schedule(0)))
    scheduler = lambda_lr(optimizer, schedule)  # sets the rate to schedule(0) now, schedule(k) after k steps
    rates, losses = np.empty(total_steps), np.empty(total_steps)
    for step in range(total_steps):
        batch = torch.randint(len(inputs), (batch_size,), generator=sampler)
        loss = torch.nn.functional.mse_loss(model(inputs[batch]), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        rates[step] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        losses[step] = loss.item()
    return rates, losses


def full_batch_loss(model, inputs, targets) -> float:
    """Mean-squared error of ``model`` on the whole set, without tracking gradients.

    Parameters
    ----------
    model : torch.nn.Module
    inputs, targets : torch.Tensor

    Returns
    -------
    float

    >>> x, y = tiny_regression(n=8, dim=3)
    >>> full_batch_loss(tiny_mlp(dim=3), x, y) > 0
    True
    """
    with torch.no_grad():
        return float(torch.nn.functional.mse_loss(model(inputs), targets))
