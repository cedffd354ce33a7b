"""The needle plane's frame for pictures and its ultrasound look (no Qt).

The ultrasound look (`ultrasound_image`) is a teaching imitation, not a simulation of acoustics: a
linear probe on the skin at the entry whose beams run along the needle; seeded speckle
(deterministic for a given seed); fat dark with sparse bright septa; muscle darker with bright
striations and a bright fascia at its border; a nerve bright-rimmed with dark fascicles
(honeycomb); a vessel anechoic (black) with a bright wall and brighter tissue behind it; bone a
bright surface line with a black acoustic shadow behind it; the pleura a bright line with nothing
useful below it but fading reverberations (A-lines); the needle a bright line; echoes weaken with
depth.
"""
from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np

from needlesafe.geometry.slice import PlaneSlice, Section

#: Draw order by role: later roles are drawn over earlier ones (the skin's section is the body's).
DRAW_ORDER = ("skin", "other", "muscle", "bone", "unmodelled", "vessel", "pleura", "nerve")
#: The needle plane's depth window below the needle's full length (share of it), and above the skin.
BELOW_NEEDLE = 0.25
ABOVE_SKIN_MM = 6.0
#: The ultrasound look: echo loss with depth (per mm) and the image's pixel size cap (mm).
ATTENUATION_PER_MM = 0.010


@dataclass(frozen=True)
class SliceWindow:
    """The part of the needle plane a picture shows (mm): depth from `top` (above the skin, < 0) to
    `bottom`, lateral from -half_width to +half_width."""

    top: float
    bottom: float
    half_width: float

    @property
    def extent_mm(self) -> float:
        """The half-size of the square window `cross_sections` needs to cover this one."""
        return max(abs(self.top), abs(self.bottom), self.half_width)


def window_for(needle, aspect: float) -> SliceWindow:
    """The window for `needle`: from just above the skin to a quarter of the needle's length below
    its full length; as wide as `aspect` (width / height of the drawing area) asks."""
    bottom = max(needle.length_mm, needle.depth_mm) * (1.0 + BELOW_NEEDLE)
    top = -ABOVE_SKIN_MM
    return SliceWindow(top, bottom, (bottom - top) * aspect / 2.0)


def sections_in_order(plane_slice: PlaneSlice) -> list[Section]:
    rank = {r: k for k, r in enumerate(DRAW_ORDER)}
    return sorted(plane_slice.sections, key=lambda s: rank.get(s.role, 1))


# --- the ultrasound look ------------------------------------------------------------------------

def _box(chains, window: SliceWindow, shape: tuple[int, int], pad: int) -> tuple[int, int, int, int] | None:
    """The pixel box (r0, r1, c0, c1) of the chains, `pad` pixels wider, clipped to the image; None
    when it is empty."""
    h, w = shape
    pts = [_to_pixels(q, window, shape) for q in chains if len(q)]
    if not pts:
        return None
    p = np.concatenate(pts)
    c0, r0 = np.floor(p.min(axis=0)).astype(int) - pad
    c1, r1 = np.ceil(p.max(axis=0)).astype(int) + pad + 1
    r0, r1, c0, c1 = max(r0, 0), min(r1, h), max(c0, 0), min(c1, w)
    return (r0, r1, c0, c1) if r0 < r1 and c0 < c1 else None


def _raster(loops, window: SliceWindow, shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """Within `box` (r0, r1, c0, c1): bool, inside the loops (even-odd: a loop inside another is a hole)."""
    from PIL import Image, ImageDraw

    r0, r1, c0, c1 = box
    mask = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    for q in loops:
        if len(q) < 3:
            continue
        px = _to_pixels(q, window, shape) - [c0, r0]
        img = Image.new("1", (c1 - c0, r1 - r0), 0)
        ImageDraw.Draw(img).polygon([tuple(p) for p in px.tolist()], fill=1)
        mask ^= np.asarray(img, dtype=bool)
    return mask


def _outline(chains, window: SliceWindow, shape: tuple[int, int], box: tuple[int, int, int, int], width_px: int,
             closed: bool) -> np.ndarray:
    """Within `box`: bool, the chains drawn as lines `width_px` wide."""
    from PIL import Image, ImageDraw

    r0, r1, c0, c1 = box
    img = Image.new("1", (c1 - c0, r1 - r0), 0)
    draw = ImageDraw.Draw(img)
    for q in chains:
        if len(q) < 2:
            continue
        px = [tuple(p) for p in (_to_pixels(q, window, shape) - [c0, r0]).tolist()]
        draw.line(px + ([px[0]] if closed else []), fill=1, width=max(1, width_px))
    return np.asarray(img, dtype=bool)


def _to_pixels(q: np.ndarray, window: SliceWindow, shape: tuple[int, int]) -> np.ndarray:
    """(k, 2) (depth, lateral) mm -> (k, 2) (column, row) pixels; +lateral on the left."""
    h, w = shape
    col = (window.half_width - q[:, 1]) / (2.0 * window.half_width) * w
    row = (q[:, 0] - window.top) / (window.bottom - window.top) * h
    return np.stack([col, row], axis=1)


def _blur(a: np.ndarray, ry: int, rx: int) -> np.ndarray:
    """Box blur of half-sizes (ry, rx) pixels (edges replicated)."""
    out = a
    for axis, r in ((0, ry), (1, rx)):
        if r <= 0:
            continue
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis)
        hi = np.take(c, np.arange(2 * r + 1, c.shape[axis]), axis=axis)
        lo = np.take(c, np.arange(0, c.shape[axis] - 2 * r - 1), axis=axis)
        out = (hi - lo) / (2 * r + 1)
    return out


@functools.lru_cache(maxsize=4)
def _noise(h: int, w: int, seed: int) -> dict[str, np.ndarray]:
    """The image's noise fields for one size and seed, made once (read-only): the speckle, and the
    textures' fields (fat septa, muscle fibre phase, nerve fascicles). Anchored to the screen, so
    the texture does not flicker as the needle moves."""
    rng = np.random.default_rng(seed)
    fields = {
        "speckle": _blur(np.hypot(rng.standard_normal((h, w)), rng.standard_normal((h, w))), 0, 1) / 1.25,
        "septa": _blur(rng.standard_normal((h, w)), 1, 12),
        "phase": _blur(rng.standard_normal((h, w)), 6, 6) * 8.0,
        "blobs": _blur(rng.standard_normal((h, w)), 2, 2),
    }
    for a in fields.values():
        a.flags.writeable = False
    return fields


def _seed_of(name: str, seed: int) -> int:
    return (zlib.crc32(name.encode("utf-8")) ^ (seed * 2654435761)) & 0xFFFFFFFF


def ultrasound_image(plane_slice: PlaneSlice, window: SliceWindow, shape: tuple[int, int],
                     needle_depth_mm: float | None = None, seed: int = 0) -> np.ndarray:
    """The slice as a B-mode-like image (module docstring).

    plane_slice     : PlaneSlice covering `window`
    window          : SliceWindow shown
    shape           : (h, w) pixels
    needle_depth_mm : the inserted depth, drawn as a bright line (None: no needle)
    seed            : the speckle's seed; the same inputs and seed give the same image
    returns         : (h, w) uint8 greyscale
    """
    h, w = shape
    noise = _noise(int(h), int(w), int(seed))
    mm_per_px = (window.bottom - window.top) / h
    depth = window.top + (np.arange(h) + 0.5) * mm_per_px                 # (h,) mm
    lateral = window.half_width - (np.arange(w) + 0.5) * (2 * window.half_width / w)
    dd, ll = np.meshgrid(depth, lateral, indexing="ij")
    # speckle: Rayleigh noise, grains a little longer across than along the beam
    speckle = noise["speckle"]
    echo = np.zeros((h, w))
    px = max(1, int(round(0.8 / mm_per_px)))  # bright interfaces about 0.8 mm thick
    bright = np.zeros((h, w))
    shadow_from = np.full(w, h)   # per column: the first row of an acoustic shadow
    pleura_from = np.full(w, h)   # per column: the first row of the pleural line
    enhance = np.zeros((h, w), dtype=bool)
    for sec in sections_in_order(plane_slice):
        box = _box(sec.loops + sec.open_chains, window, shape, px + 1)
        if box is None:
            continue
        r0, r1, c0, c1 = box
        bh, bw = r1 - r0, c1 - c0
        inside = _raster(sec.loops, window, shape, box)
        r = np.random.default_rng(_seed_of(sec.name, seed))
        if sec.role == "skin":
            # subcutaneous fat: dark, sparse bright septa roughly parallel to the skin
            septa = noise["septa"][r0:r1, c0:c1]
            tex = 0.22 + 0.35 * (septa > 0.45)
        elif sec.role in ("muscle", "other", "unmodelled"):
            tilt = np.radians(r.uniform(-20, 20))
            phase = noise["phase"][r0:r1, c0:c1]
            sd, sl = dd[r0:r1, c0:c1], ll[r0:r1, c0:c1]
            stripes = np.sin(2 * np.pi * (sd * np.cos(tilt) + sl * np.sin(tilt)) / 2.2 + phase)
            tex = 0.26 + 0.30 * (stripes > 0.75)
        elif sec.role == "nerve":
            blobs = noise["blobs"][r0:r1, c0:c1]
            tex = np.where(blobs > 0.15, 0.12, 0.75)          # dark fascicles in bright epineurium
        elif sec.role == "vessel":
            tex = np.full((bh, bw), 0.02)                        # anechoic blood
            enhance[r0:r1, c0:c1] |= inside
        elif sec.role == "bone":
            tex = np.full((bh, bw), 0.05)
        else:  # pleura / lung
            tex = np.full((bh, bw), 0.1)
        echo[r0:r1, c0:c1] = np.where(inside, tex, echo[r0:r1, c0:c1])
        edge = (_outline(sec.loops, window, shape, box, px, True)
                | _outline(sec.open_chains, window, shape, box, px, False))
        if sec.role in ("skin", "muscle", "nerve", "vessel", "other"):
            sub = bright[r0:r1, c0:c1]
            bright[r0:r1, c0:c1] = np.maximum(sub, edge * (0.85 if sec.role != "vessel" else 0.7))
        if sec.role in ("bone", "pleura"):
            solid = inside | edge
            first = np.where(solid.any(axis=0), solid.argmax(axis=0) + r0, h)
            target = shadow_from if sec.role == "bone" else pleura_from
            target[c0:c1] = np.minimum(target[c0:c1], first)
    # posterior acoustic enhancement below vessels: brighter tissue behind the blood
    if enhance.any():
        behind = np.cumsum(enhance, axis=0) > 0
        echo = np.where(behind & ~enhance, echo * 1.35, echo)
    # echoes weaken with depth (a time-gain compensation leaves some of it); specular lines (bone,
    # pleura, needle) weaken less
    att = np.exp(-ATTENUATION_PER_MM * np.clip(dd, 0, None))
    img = (echo * speckle + bright * (0.6 + 0.4 * speckle)) * att
    rows = np.arange(h)[:, None]
    # the pleural line, and below it only fading reverberations of it (A-lines) in grey noise
    has_pleura = pleura_from < h
    if has_pleura.any():
        below = rows > pleura_from[None, :]
        line_depth = np.where(has_pleura, depth[np.minimum(pleura_from, h - 1)], np.inf)
        a_lines = np.zeros((h, w))
        for k in (2, 3, 4):
            # a reverberation at k times the pleura's depth below the skin
            target = (k * np.maximum(line_depth, 1.0) - window.top) / mm_per_px
            a_lines += (np.abs(rows - target[None, :]) <= px / 2) * (0.5 / k)
        img = np.where(below, (0.08 * speckle + a_lines * (0.5 + 0.5 * speckle)) * att, img)
        line = (rows >= pleura_from[None, :]) & (rows < pleura_from[None, :] + px)
        img = np.where(line, (0.95 + 0.05 * speckle) * np.sqrt(att), img)
    # bone: a bright surface line and a black acoustic shadow behind it
    has_bone = shadow_from < h
    if has_bone.any():
        line = (rows >= shadow_from[None, :]) & (rows < shadow_from[None, :] + px)
        behind = rows >= shadow_from[None, :] + px
        img = np.where(behind, 0.006 * speckle, img)
        img = np.where(line, np.sqrt(att), img)
    # the needle: a bright line along the shaft (lateral 0), down to the tip; a bone shadow hides it
    if needle_depth_mm is not None and needle_depth_mm > 0:
        centre = (np.abs(lateral) <= max(0.35, mm_per_px))[None, :]
        shaft = (dd >= 0) & (dd <= needle_depth_mm) & centre & (rows < shadow_from[None, :])
        img = np.where(shaft, 0.95 * np.sqrt(att), img)
    img = np.where(dd < 0, 0.0, img)  # nothing above the skin
    img = np.clip(img, 0.0, 1.0) ** 0.8
    return (img * 255).astype(np.uint8)
