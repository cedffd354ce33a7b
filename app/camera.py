"""Camera placements in the LPS frame, as (position, focal point, view-up) triples of 3-tuples (mm).
No Qt, no VTK: the window and the off-screen renders apply them."""
from __future__ import annotations

import numpy as np

VIEWS = {
    # camera direction from the focal point (LPS) and view-up
    "posterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "anterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "lateral": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),  # from the patient's right
    "superior": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    "oblique": ((-0.55, 0.75, 0.35), (0.0, 0.0, 1.0)),
}
CAMERA_BUTTONS = ("posterior", "anterior", "lateral", "superior", "reset")  # "reset" is the oblique overview


def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def fit_distance(bounds, direction, up, view_angle_deg: float = 30.0, aspect: float = 1.0,
                 margin: float = 1.05) -> float:
    """Distance (mm) from the centre of `bounds` at which a perspective camera looking back along
    `direction` (from the focal point toward the camera) with `up`, a vertical view angle and a
    width / height `aspect`, sees every corner of the box (a tall region is framed whole)."""
    lo, hi = (np.asarray(b, float) for b in bounds)
    w = _unit(direction)
    u = _unit(np.asarray(up, float) - (np.asarray(up, float) @ w) * w)
    r = np.cross(w, u)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    rel = corners - (lo + hi) / 2
    t = np.tan(np.radians(view_angle_deg) / 2)
    need = rel @ w + margin * np.maximum(np.abs(rel @ u) / t, np.abs(rel @ r) / (t * aspect))
    return float(need.max())


def preset(bounds, view: str):
    """Camera for a preset `view` (a VIEWS key or "reset") over `bounds` ((2, 3): low, high corner):
    1.6 box diagonals away, farther when the region is too tall (or wide) to be framed whole."""
    lo, hi = (np.asarray(b, float) for b in bounds)
    c = (lo + hi) / 2
    r = float(np.linalg.norm(hi - lo))
    pos, up = VIEWS["oblique" if view == "reset" else view]
    dist = max(1.6 * r, fit_distance((lo, hi), pos, up))
    return tuple(c + dist * _unit(pos)), tuple(c), tuple(up)


def facing(bounds, target, eye_side):
    """Camera looking at `target` (3,) from the side of `eye_side` (3,), e.g. the needle's entry."""
    target = np.asarray(target, float)
    out = _unit(np.asarray(eye_side, float) - target)
    lo, hi = (np.asarray(b, float) for b in bounds)
    r = float(np.linalg.norm(hi - lo))
    up = (0.0, 0.0, 1.0) if abs(out[2]) < 0.8 else (0.0, 1.0, 0.0)
    return tuple(target + 1.2 * r * out), tuple(target), up


def beside(bounds, target, entry, degrees: float = 40.0) -> np.ndarray:
    """A point (3,) to look at `target` from: turned `degrees` off the line entry -> target toward the
    outside of the body (away from the centre of `bounds`), so that line is seen from the side."""
    target = np.asarray(target, float)
    out = _unit(np.asarray(entry, float) - target)
    side = np.cross(out, (0.0, 0.0, 1.0))
    if np.linalg.norm(side) < 1e-6:
        side = np.cross(out, (1.0, 0.0, 0.0))
    side = _unit(side)
    lo, hi = (np.asarray(b, float) for b in bounds)
    if side @ (target - (lo + hi) / 2) < 0:
        side = -side
    a = np.radians(degrees)
    return target + 100.0 * (np.cos(a) * out + np.sin(a) * side)


def camera_dict(position, focal_point, view_up) -> dict:
    """The scenario file's camera object."""
    return {"position": [float(x) for x in position], "focal_point": [float(x) for x in focal_point],
            "view_up": [float(x) for x in view_up]}
