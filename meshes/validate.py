"""Checks of numbers and points read from files (packs, import overrides, scenarios, exercises).

One rule for every file NeedleSafe reads: a number is a JSON/TOML int or float (not a bool, not
text), finite, and representable as a float; a point is three such numbers. A failure is raised as
the caller's error class (a `NeedleSafeError`), naming `where` and showing the bad value briefly.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import NeedleSafeError, PackError

#: A bad value's repr longer than this is shortened in messages.
SHOWN_CHARS = 40


def shown(value) -> str:
    """A bad value as a message shows it: its repr, or for a long one its length in digits (an
    integer) or its first 30 characters."""
    text = repr(value)
    if len(text) < SHOWN_CHARS:
        return text
    if isinstance(value, int):
        return f"a number of {len(text)} digits"
    return text[:30] + "..."


def finite_number(value, where: str, error: type[NeedleSafeError] = PackError) -> float:
    """`value` as a float: an int or float (not a bool), finite, not beyond a float; else `error`
    "{where}: expected a finite number, got ..."."""
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError
        return float(value)
    except (ValueError, OverflowError):  # OverflowError: an integer beyond a float
        raise error(f"{where}: expected a finite number, got {shown(value)}") from None


def finite_point(value, where: str, error: type[NeedleSafeError] = PackError,
                 expected: str = "three coordinates [x, y, z] in mm") -> np.ndarray:
    """`value` (a list or tuple of three finite numbers) as a (3,) float64 array; else `error`
    "{where}: expected {expected}" (wrong shape) or the `finite_number` message."""
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise error(f"{where}: expected {expected}")
    return np.array([finite_number(v, where, error) for v in value], dtype=np.float64)
