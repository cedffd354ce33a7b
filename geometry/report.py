"""The clearance report: plain dataclasses that serialise to JSON (mm, LPS)."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from .needle import Needle
from .tolerances import FLOOR_GUARD

#: Levels, most dangerous first. "unknown" is shown as danger, never as safe.
LEVELS = ("unknown", "contact", "danger", "caution", "safe")


def format_mm(x, decimals: int = 2) -> str:
    """A distance or depth for display, rounded down (toward danger); 'unknown' when not finite."""
    if x is None or not math.isfinite(x):
        return "unknown"
    q = 10.0**decimals
    return f"{math.floor(x * q + FLOOR_GUARD) / q:.{decimals}f}"


#: The role of a zone where a danger structure the model does not contain really runs
#: (meshes/types.py ROLES): touching or entering its margin is "unknown", never contact or safe.
UNMODELLED = "unmodelled"


def level_for(shaft_distance_mm: float | None, margin_mm: float, penetrated: bool, role: str | None = None) -> str:
    """Level of one structure (its colour): contact (touching), danger (inside the margin),
    caution (inside twice the margin), safe; unknown when the distance is unknown. For an
    unmodelled zone (role "unmodelled") touching it or entering its margin is unknown: what lies
    there is not in the model."""
    if shaft_distance_mm is None or not math.isfinite(shaft_distance_mm):
        return "unknown"
    if penetrated or shaft_distance_mm <= 0.0:
        return "unknown" if role == UNMODELLED else "contact"
    if shaft_distance_mm < margin_mm:
        return "unknown" if role == UNMODELLED else "danger"
    if shaft_distance_mm < 2.0 * margin_mm:
        return "caution"
    return "safe"


def worst_level(levels) -> str:
    levels = list(levels)
    if not levels:
        return "safe"
    return min(levels, key=LEVELS.index)


@dataclass
class StructureClearance:
    """Clearance of the needle from one critical structure.

    Distances are from the needle's surface (axis distance minus the needle radius, never below 0);
    closest points are (3,) lists in mm. None means unknown. `note`, for an unmodelled zone: what
    the model does not contain and where it really runs (from the pack).
    """

    name: str
    role: str
    margin_mm: float
    shaft_distance_mm: float | None
    tip_distance_mm: float | None
    closest_point_needle: list | None
    closest_point_structure: list | None
    penetrated: bool | None
    tip_inside: bool | None
    level: str
    error: str | None = None
    note: str | None = None


@dataclass
class FirstHit:
    """Where the needle's line (entry to full length) first meets a structure."""

    name: str
    role: str
    depth_mm: float


@dataclass
class Bracketing:
    """What lies first ahead of the tip, within the needle's remaining length.

    verdict: "bone" (a bony backstop), "danger" (a critical structure), "none" or "unknown".
    backstop: the bone is reached before any critical clearance drops below its margin.
    """

    verdict: str
    structure: str | None = None
    role: str | None = None
    distance_mm: float | None = None
    depth_mm: float | None = None
    point: list | None = None
    landmark: str | None = None
    landmark_distance_mm: float | None = None
    backstop: bool = False
    message: str = ""


@dataclass
class PathReport:
    """What lies along the needle's line (depths in mm from the entry).

    safe_depth_mm: deepest insertion that keeps every critical clearance above its margin, never past
    `exit_mm`; limiting_structure names what sets it ("edge of the model" at the exit).
    bone_stop_mm: where the line first enters a bone within the needle's length (None: no bone).
    stopped_by: {"name", "depth_mm"} of that bone when the requested depth was deeper, so the
    needle rests on it; None otherwise.
    exit_mm: where the line leaves the modelled body (crosses the closed skin outward); None when it
    stays inside within the needle's length or the pack has no closed skin.
    """

    first_hits: list = field(default_factory=list)
    safe_depth_mm: float | None = None
    limiting_structure: str | None = None
    bracketing: Bracketing = field(default_factory=lambda: Bracketing("unknown"))
    bone_stop_mm: float | None = None
    stopped_by: dict | None = None
    exit_mm: float | None = None


@dataclass
class ClearanceReport:
    """Everything the engine says about one needle."""

    pack: str
    needle: Needle
    structures: list
    path: PathReport
    level: str
    errors: list = field(default_factory=list)
    requested_depth_mm: float | None = None

    def structure(self, name: str) -> StructureClearance:
        for s in self.structures:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "pack": self.pack,
            "needle": {
                **self.needle.to_dict(),
                "requested_depth_mm": (
                    self.needle.depth_mm if self.requested_depth_mm is None else self.requested_depth_mm
                ),
            },
            "level": self.level,
            "structures": [asdict(s) for s in self.structures],
            "path": {
                "first_hits": [asdict(h) for h in self.path.first_hits],
                "safe_depth_mm": self.path.safe_depth_mm,
                "limiting_structure": self.path.limiting_structure,
                "bracketing": asdict(self.path.bracketing),
                "bone_stop_mm": self.path.bone_stop_mm,
                "stopped_by": self.path.stopped_by,
                "exit_mm": self.path.exit_mm,
            },
            "errors": list(self.errors),
        }

    def to_json(self, indent=None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)
