"""Argument checks shared by the factories: each error names the argument and its value."""

from __future__ import annotations

import math
import numbers


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_finite(name: str, value) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` if it is not a finite number."""
    if not _is_real(value):
        raise ValueError(f"{name} must be a real number, got {name}={value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {name}={value!r}")
    return float(value)


def check_positive(name: str, value) -> float:
    """A finite number strictly greater than zero (a learning rate, a decay factor)."""
    value = check_finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {name}={value!r}")
    return value


def check_nonnegative(name: str, value) -> float:
    """A finite number greater than or equal to zero (a floor such as ``min_lr``)."""
    value = check_finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {name}={value!r}")
    return value


def check_int(name: str, value, minimum: int = 0) -> int:
    """An integer (a step count) no smaller than ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if _is_real(value) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {name}={value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value!r}")
    return value


def check_min_lr(min_lr, peak_lr: float) -> float:
    """``0 <= min_lr <= peak_lr``."""
    min_lr = check_nonnegative("min_lr", min_lr)
    if min_lr > peak_lr:
        raise ValueError(f"min_lr must be <= peak_lr={peak_lr!r}, got min_lr={min_lr!r}")
    return min_lr


def check_fraction(name: str, value, *, open_low: bool = True, open_high: bool = True) -> float:
    """A number in the interval (0, 1), with the ends included where asked."""
    value = check_finite(name, value)
    low_ok = value > 0 if open_low else value >= 0
    high_ok = value < 1 if open_high else value <= 1
    if not (low_ok and high_ok):
        lo = "(" if open_low else "["
        hi = ")" if open_high else "]"
        raise ValueError(f"{name} must be in {lo}0, 1{hi}, got {name}={value!r}")
    return value


def check_positive_array(name: str, value):
    """A non-empty array (or scalar) of finite numbers, all > 0, as ``float64``."""
    import numpy as np

    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {name}={value!r}")
    return arr


def check_rates(rates):
    """Learning rates (last axis = step) that are all finite and >= 0; the error names the first bad one.

    >>> check_rates([0.1, float("inf")])
    Traceback (most recent call last):
    ...
    ValueError: rates must be >= 0 and finite, got rate=inf at step 1
    """
    import numpy as np

    arr = np.asarray(rates, dtype=np.float64)
    bad = ~np.isfinite(arr) | (arr < 0)
    if np.any(bad):
        index = np.argwhere(bad)[0]
        raise ValueError(f"rates must be >= 0 and finite, got rate={float(arr[tuple(index)])!r} at step {int(index[-1])}")
    return arr


def with_overrides(what: str, defaults, overrides) -> dict:
    """``defaults`` updated by ``overrides``; an unknown key is an error naming it and the known ones.

    >>> with_overrides("NQM parameter", {"dim": 10}, {"dim": 20})
    {'dim': 20}
    """
    for key, value in overrides.items():
        if key not in defaults:
            raise ValueError(f"unknown {what} {key}={value!r}; expected one of {sorted(defaults)}")
    return {**defaults, **overrides}
