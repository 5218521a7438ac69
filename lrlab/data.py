"""Small real data that ships with the installed packages: scikit-learn's handwritten digits.

Nothing is downloaded: :func:`sklearn.datasets.load_digits` reads 1797 images of
8x8 pixels (values 0..16) bundled inside scikit-learn. Part II of the course
trains small networks on them (chapters 5, 6 and 8).

The split into training and test examples is fixed by ``split_seed`` and
stratified by class, so every chapter and test sees the same examples; the seeds
of the *training runs* are separate.

>>> d = digits(classes=[0, 1, 2], device="cpu")
>>> d.x_train.shape[1], d.n_classes, sorted(set(d.y_train.tolist()))
(64, 3, [0, 1, 2])
>>> len(d.y_train) + len(d.y_test)
537
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .device import resolve_device

__all__ = ["DigitsSplit", "digits", "batches"]


@dataclass(frozen=True)
class DigitsSplit:
    """Training and test tensors of a digits task.

    Attributes
    ----------
    x_train, x_test : torch.Tensor
        Float tensors of shape ``(n, 64)``: pixels scaled to [0, 1] (divided by 16).
    y_train, y_test : torch.Tensor
        Long tensors of shape ``(n,)``: labels ``0 .. n_classes - 1`` (the position of
        the digit in ``classes``, so digits 5..9 become labels 0..4 when ``relabel``).
    classes : tuple of int
        The digits kept, in label order.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[int, ...]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def digits(
    classes: Sequence[int] | None = None,
    test_fraction: float = 0.3,
    split_seed: int = 0,
    relabel: bool = True,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> DigitsSplit:
    """The bundled digits (or the digits in ``classes``), split into training and test sets.

    Parameters
    ----------
    classes : sequence of int, optional
        Digits to keep (default: all ten). With ``relabel`` (default), the label of an
        example is the index of its digit in ``classes``; otherwise the digit itself.
    test_fraction : float
        Fraction of each class held out for testing, in (0, 1).
    split_seed : int
        Seed of the (stratified) split; the same seed gives the same split everywhere.
    relabel : bool
        Map the kept digits to labels ``0 .. len(classes) - 1``.
    device : str or torch.device, optional
        Where the tensors live (default: :func:`lrlab.device.default_device`).
    dtype : torch.dtype
        Float type of the pixels.

    Returns
    -------
    DigitsSplit

    Raises
    ------
    ValueError
        If a class is not a digit 0..9, is repeated, or ``test_fraction`` is not in (0, 1).
    """
    from sklearn.datasets import load_digits

    if classes is None:
        classes = tuple(range(10))
    classes = tuple(int(c) for c in classes)
    bad = [c for c in classes if not 0 <= c <= 9]
    if bad or not classes:
        raise ValueError(f"classes must be digits 0..9, got classes={classes!r}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must not repeat a digit, got classes={classes!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got test_fraction={test_fraction!r}")
    device = resolve_device(device)

    data = load_digits()
    x, y = data.data.astype(np.float64) / 16.0, data.target.astype(np.int64)
    rng = np.random.default_rng(split_seed)
    train_idx, test_idx = [], []
    for c in classes:
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(test_fraction * len(idx)))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    train_idx = np.sort(np.concatenate(train_idx))
    test_idx = np.sort(np.concatenate(test_idx))
    lookup = np.full(10, -1, dtype=np.int64)
    lookup[list(classes)] = np.arange(len(classes)) if relabel else np.asarray(classes)

    def tensors(idx):
        return (
            torch.as_tensor(x[idx], dtype=dtype, device=device),
            torch.as_tensor(lookup[y[idx]], dtype=torch.long, device=device),
        )

    x_train, y_train = tensors(train_idx)
    x_test, y_test = tensors(test_idx)
    return DigitsSplit(x_train, y_train, x_test, y_test, classes)


def batches(n: int, batch_size: int, steps: int, generator: torch.Generator | None = None, device=None):
    """Index tensors of ``steps`` minibatches drawn from ``range(n)``, reshuffled every epoch.

    Parameters
    ----------
    n : int
        Number of examples.
    batch_size : int
        Examples per minibatch, 1..n.
    steps : int
        Number of minibatches to yield.
    generator : torch.Generator, optional
        Source of randomness (a CPU generator; seed it for reproducible runs).
    device : str or torch.device, optional
        Where the index tensors live.

    Yields
    ------
    torch.Tensor
        Long tensor of shape ``(batch_size,)``.

    >>> g = torch.Generator().manual_seed(0)
    >>> [b.tolist() for b in batches(4, 2, 3, generator=g, device="cpu")]  # doctest: +SKIP
    [[2, 0], [1, 3], [0, 3]]
    >>> sum(len(b) for b in batches(10, 3, 7, device="cpu"))
    21
    """
    if not 1 <= int(batch_size) <= int(n):
        raise ValueError(f"batch_size must be between 1 and n={n}, got batch_size={batch_size!r}")
    if int(steps) < 0:
        raise ValueError(f"steps must be >= 0, got steps={steps!r}")
    device = resolve_device(device)
    per_epoch = int(n) // int(batch_size)
    done = 0
    while done < steps:
        perm = torch.randperm(int(n), generator=generator)
        for k in range(per_epoch):
            if done >= steps:
                return
            yield perm[k * batch_size:(k + 1) * batch_size].to(device)
            done += 1
