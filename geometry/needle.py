"""The needle: entry point, direction, inserted depth, length and gauge (mm, LPS)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class NeedleError(ValueError):
    """A needle's numbers are unusable (NaN, zero direction, negative depth ...)."""


#: Common dry-needling needles, (gauge diameter mm, length mm).
PRESETS = {
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

    entry_lps : (3,) mm, where the needle pierces the skin
    direction : (3,) unit vector, normalised on construction
    depth_mm  : inserted length, 0 <= depth_mm <= length_mm
    length_mm : shaft length
    gauge_mm  : shaft diameter
    """

    entry_lps: np.ndarray
    direction: np.ndarray
    depth_mm: float
    length_mm: float = 50.0
    gauge_mm: float = 0.30

    def __post_init__(self):
        e = np.asarray(self.entry_lps, dtype=np.float64).reshape(-1)
        d = np.asarray(self.direction, dtype=np.float64).reshape(-1)
        if e.shape != (3,) or d.shape != (3,):
            raise NeedleError("entry and direction must each have three coordinates")
        if not (np.all(np.isfinite(e)) and np.all(np.isfinite(d))):
            raise NeedleError("entry and direction must be finite numbers")
        n = float(np.linalg.norm(d))
        if n < 1e-9:
            raise NeedleError("direction must not be the zero vector")
        for label, v in (("depth", self.depth_mm), ("length", self.length_mm), ("gauge", self.gauge_mm)):
            if not np.isfinite(v):
                raise NeedleError(f"{label} must be a finite number, got {v}")
        if self.length_mm <= 0:
            raise NeedleError(f"length must be positive, got {self.length_mm} mm")
        if not (0 < self.gauge_mm <= 3.0):
            raise NeedleError(f"gauge is the shaft diameter in mm (e.g. 0.30), got {self.gauge_mm}")
        if not (0 <= self.depth_mm <= self.length_mm):
            raise NeedleError(f"depth must lie in [0, length={self.length_mm}] mm, got {self.depth_mm}")
        object.__setattr__(self, "entry_lps", e)
        object.__setattr__(self, "direction", d / n)
        object.__setattr__(self, "depth_mm", float(self.depth_mm))
        object.__setattr__(self, "length_mm", float(self.length_mm))
        object.__setattr__(self, "gauge_mm", float(self.gauge_mm))

    @property
    def radius_mm(self) -> float:
        return 0.5 * self.gauge_mm

    @property
    def tip_lps(self) -> np.ndarray:
        """(3,) mm: entry + depth * direction."""
        return self.entry_lps + self.depth_mm * self.direction

    @property
    def end_lps(self) -> np.ndarray:
        """(3,) mm: where the tip would be at full insertion."""
        return self.entry_lps + self.length_mm * self.direction

    def at_depth(self, depth_mm: float) -> "Needle":
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
    def from_dict(cls, d: dict) -> "Needle":
        try:
            return cls(d["entry_lps"], d["direction"], d["depth_mm"], d.get("length_mm", 50.0), d.get("gauge_mm", 0.30))
        except (KeyError, TypeError) as exc:
            raise NeedleError(f"needle record is incomplete: {exc}") from None
