"""The needle: skin entry point, direction, inserted depth, length and gauge (mm, LPS).

`gauge_mm` is always the shaft's diameter in millimetres (0.30 for a "0.30x50" needle), never a
Birmingham/Stubs gauge number; the radius used by every clearance is half of it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from needlesafe.meshes.errors import NeedleSafeError

from .tolerances import MIN_DIRECTION


class NeedleError(NeedleSafeError):
    """A needle's numbers are unusable (NaN, zero direction, negative depth ...)."""


#: Limits that keep every later product and square finite: entry coordinates (mm) and needle length (mm);
#: MAX_GAUGE_MM bounds `gauge_mm`, the shaft diameter (mm).
MAX_COORD_MM = 1e6
MAX_LENGTH_MM = 1000.0
MAX_GAUGE_MM = 3.0


def _real(value, label: str) -> float:
    """`value` as a finite float; bools, text, None and numbers beyond a float are NeedleErrors."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise NeedleError(f"{label} must be a number, got {value!r}"[:200])
    try:
        x = float(value)
    except OverflowError:
        raise NeedleError(f"{label} must be a finite number, got an integer of {len(str(value))} digits") from None
    if not np.isfinite(x):
        raise NeedleError(f"{label} must be a finite number, got {value}")
    return x



#: Common dry-needling needles by name: (gauge_mm = shaft diameter in mm, length_mm).
NEEDLE_PRESETS = {
    "0.25x25": (0.25, 25.0),
    "0.30x40": (0.30, 40.0),
    "0.30x50": (0.30, 50.0),
    "0.30x60": (0.30, 60.0),
    "0.30x75": (0.30, 75.0),
    "0.30x100": (0.30, 100.0),
}


@dataclass(frozen=True)
class Needle:
    """A straight needle inserted from `entry` along `direction`.

    entry_lps : (3,) mm, where the needle pierces the skin (the only "entry")
    direction : (3,) unit vector, normalised on construction
    depth_mm  : inserted length, 0 <= depth_mm <= length_mm
    length_mm : shaft length, mm
    gauge_mm  : shaft diameter, mm (not a gauge number); `radius_mm` is half of it

    entry_lps and direction accept any three numbers and are stored as float64 arrays.
    """

    entry_lps: np.ndarray
    direction: np.ndarray
    depth_mm: float
    length_mm: float = 50.0
    gauge_mm: float = 0.30

    def __post_init__(self):
        try:
            e = np.asarray(self.entry_lps, dtype=np.float64).reshape(-1)
            d = np.asarray(self.direction, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError, OverflowError):
            raise NeedleError("entry and direction must each be three numbers") from None
        if e.shape != (3,) or d.shape != (3,):
            raise NeedleError("entry and direction must each have three coordinates")
        if not (np.all(np.isfinite(e)) and np.all(np.isfinite(d))):
            raise NeedleError("entry and direction must be finite numbers")
        if np.max(np.abs(e)) > MAX_COORD_MM:
            raise NeedleError(f"entry must lie within {MAX_COORD_MM:g} mm of the origin, got {e.tolist()}")
        # a direction such as (0, 1e200, 0) overflows the norm (and read as the zero vector once, so a
        # needle through a nerve read SAFE); (0, 1e-200, 0) underflows: both are refused, not guessed
        big = float(np.max(np.abs(d)))
        if big > MAX_COORD_MM:
            raise NeedleError(f"direction components must lie within ±{MAX_COORD_MM:g}, got {d.tolist()}")
        if big < MIN_DIRECTION:
            raise NeedleError(f"direction must not be (nearly) the zero vector, got {d.tolist()}")
        d = d / big
        d = d / float(np.linalg.norm(d))
        depth = _real(self.depth_mm, "depth")
        length = _real(self.length_mm, "length")
        gauge = _real(self.gauge_mm, "gauge")
        if not (0 < length <= MAX_LENGTH_MM):
            raise NeedleError(f"length must be positive and at most {MAX_LENGTH_MM:g} mm, got {length} mm")
        if not (0 < gauge <= MAX_GAUGE_MM):
            raise NeedleError(f"gauge is the shaft diameter in mm (e.g. 0.30), got {gauge}")
        if not (0 <= depth <= length):
            raise NeedleError(f"depth must lie in [0, length={length}] mm, got {depth}")
        object.__setattr__(self, "entry_lps", e)
        object.__setattr__(self, "direction", d)
        object.__setattr__(self, "depth_mm", depth)
        object.__setattr__(self, "length_mm", length)
        object.__setattr__(self, "gauge_mm", gauge)

    @property
    def radius_mm(self) -> float:
        """Shaft radius, mm: half of `gauge_mm` (the diameter)."""
        return 0.5 * self.gauge_mm

    @property
    def tip_lps(self) -> np.ndarray:
        """(3,) mm: entry + depth * direction."""
        return self.entry_lps + self.depth_mm * self.direction

    @property
    def end_lps(self) -> np.ndarray:
        """(3,) mm: where the tip would be at full insertion."""
        return self.entry_lps + self.length_mm * self.direction

    def at_depth(self, depth_mm: float) -> Needle:
        return Needle(self.entry_lps, self.direction, depth_mm, self.length_mm, self.gauge_mm)

    def to_dict(self) -> dict:
        return {
            "entry_lps": [float(x) for x in self.entry_lps],
            "direction": [float(x) for x in self.direction],
            "depth_mm": self.depth_mm,
            "length_mm": self.length_mm,
            "gauge_mm": self.gauge_mm,
            "tip_lps": [float(x) for x in self.tip_lps],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Needle:
        try:
            return cls(d["entry_lps"], d["direction"], d["depth_mm"], d.get("length_mm", 50.0), d.get("gauge_mm", 0.30))
        except (KeyError, TypeError) as exc:
            raise NeedleError(f"needle record is incomplete: {exc}") from None
