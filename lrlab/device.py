"""Where tensors live: CPU by default, CUDA when present.

``LRLAB_DEVICE`` overrides the choice (e.g. ``LRLAB_DEVICE=cpu`` on a GPU machine
to reproduce the CPU numbers).

>>> default_device().type in ("cpu", "cuda")
True
"""

from __future__ import annotations

import os

import torch

__all__ = ["default_device", "resolve_device"]


def default_device() -> torch.device:
    """``cuda`` when a GPU is visible to torch, else ``cpu`` (``LRLAB_DEVICE`` wins if set)."""
    wanted = os.environ.get("LRLAB_DEVICE")
    if wanted:
        return resolve_device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device=None) -> torch.device:
    """Turn ``None``, a string or a ``torch.device`` into a usable ``torch.device``.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got device={device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was asked for but torch sees no CUDA GPU here; use device='cpu' "
            "or leave device=None to pick automatically"
        )
    return dev
