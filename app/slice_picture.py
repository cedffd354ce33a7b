"""The needle plane as a picture (no Qt): every structure's section filled with its colour and named,
danger margins, a depth ruler from the skin, the needle, its tip and the engine's safe depth; or the
same slice as an ultrasound probe would show it (a B-mode-like greyscale image).

Drawn with matplotlib's Agg canvas (no pyplot, no window). The picture's frame is the needle plane
(geometry/slice.py): depth from the skin entry runs down the picture along the needle, which is
vertical at the centre; across runs left-right in mm from the needle. As on an ultrasound screen,
+lateral (at angle 0 the patient's superior side, the side a probe's marker points to in a
longitudinal view) is on the left; the two sides are named on the picture in patient words.

Danger margins are drawn as strokes of twice the margin's width centred on the section's outline
under its fill, so the band seen outside the section is exactly the margin wide (a band, not an
offset polygon: at sharp concave corners it is slightly wider than the margin, never narrower).

The ultrasound look is app/ultrasound.py (`ultrasound_image`).
"""
from __future__ import annotations

import io

import numpy as np

from needlesafe.geometry.slice import NeedlePlane, Section, Slicer, needle_plane, polygon_area

from . import readout
from .theme import AHEAD_COLOUR, LEVEL_COLOUR, NEEDLE_COLOUR, UNMODELLED_COLOUR
from .ultrasound import SliceWindow, sections_in_order, ultrasound_image, window_for

#: Picture size (width, height) in pixels when none is asked.
DEFAULT_SIZE = (900, 700)
SAFE_COLOUR = LEVEL_COLOUR["safe"]
UNKNOWN_COLOUR = LEVEL_COLOUR["unknown"]


# --- the picture --------------------------------------------------------------------------------

def _label_points(loop: np.ndarray, window: SliceWindow, count: int = 6) -> np.ndarray:
    """(k, 2) points well inside the loop and the window, best first (the inside grid points
    farthest from the outline and off the needle's line); empty when too little is in view."""
    from matplotlib.path import Path as MplPath

    lo = np.maximum(loop.min(axis=0), [window.top, -window.half_width])
    hi = np.minimum(loop.max(axis=0), [window.bottom, window.half_width])
    if np.any(hi - lo < 2.0):
        return np.empty((0, 2))
    g = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], 24), np.linspace(lo[1], hi[1], 24)), axis=-1).reshape(-1, 2)
    inside = MplPath(loop).contains_points(g)
    if not inside.any():
        return np.empty((0, 2))
    g = g[inside]
    # distance to the outline's vertices, and keep labels off the needle's own line
    seg = loop[np.linspace(0, len(loop) - 1, min(len(loop), 400)).astype(int)]
    d = np.min(np.linalg.norm(g[:, None, :] - seg[None, :, :], axis=2), axis=1)
    d = np.minimum(d, np.abs(g[:, 1]) * 1.5 + 1.0)
    order = np.argsort(-d, kind="stable")
    return g[order[: count * 8 : 8]] if len(order) > count else g[order]


def _title(scene, plane: NeedlePlane) -> str:
    return f"Needle plane, {scene.name} (turned {plane.angle_deg:g}° about the needle)"


def render_slice_png(scene, needle, angle_deg: float = 0.0, ultrasound: bool = False,
                     size: tuple[int, int] = DEFAULT_SIZE, report=None, slicer: Slicer | None = None,
                     seed: int = 0) -> bytes:
    """The needle plane picture as PNG bytes of exactly `size` (width, height) pixels.

    scene      : AnatomyScene
    needle     : Needle
    angle_deg  : the plane's turn about the needle (geometry.slice.needle_plane)
    ultrasound : draw the B-mode-like look instead of coloured sections
    report     : the engine's ClearanceReport for `needle` (None: computed here) - its safe depth and
                 its needle (clamped on a bone stop) are drawn
    slicer     : a prepared Slicer of `scene` (None: one is made)
    seed       : the ultrasound speckle's seed
    """
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MplPath
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    w_px, h_px = int(size[0]), int(size[1])
    if not (200 <= w_px <= 8000 and 200 <= h_px <= 8000):
        raise ValueError(f"picture size must be 200..8000 pixels each way, got {w_px} x {h_px}")
    if report is None:
        from needlesafe.geometry.clearance import ClearanceEngine

        report = ClearanceEngine(scene).report(needle)
    shown = report.needle if getattr(report, "needle", None) is not None else needle
    plane = needle_plane(shown, angle_deg)
    font = float(np.clip(min(w_px, h_px) / 75.0, 7.0, 12.0))

    dpi = 100.0
    fig = Figure(figsize=(w_px / dpi, h_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    # margins in pixels from the font: the title and side names above, the axis and a caption of up
    # to four lines below, the depth ruler's numbers and name on the left
    line_px = font * dpi / 72.0 * 1.3
    left, right = 4.3 * line_px / w_px, 1.0 - 0.02
    bottom_m, top_m = (4 * 0.8 * line_px + 2.3 * line_px + 6) / h_px, 1.0 - (2.2 * line_px + 10) / h_px
    ax = fig.add_axes((left, bottom_m, right - left, top_m - bottom_m))
    aspect = (right - left) * w_px / ((top_m - bottom_m) * h_px)
    win = window_for(shown, aspect)
    slicer = slicer or Slicer(scene)
    res = slicer.cross_sections(plane, win.extent_mm)
    sections = sections_in_order(res)
    # data coordinates: x = -lateral (so +lateral is on the left), y = depth (down)
    ax.set_xlim(win.half_width, -win.half_width)
    ax.set_ylim(win.bottom, win.top)
    ax.set_aspect("equal", adjustable="box")
    mm_to_pt = (right - left) * w_px / (2 * win.half_width) * 72.0 / dpi
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]

    def xy(q):  # (k, 2) (depth, lateral) -> matplotlib (x = lateral, y = depth); the axis is flipped
        return np.stack([q[:, 1], q[:, 0]], axis=1)

    if ultrasound:
        shape = (int((top_m - bottom_m) * h_px), int((right - left) * w_px))
        img = ultrasound_image(res, win, shape, needle_depth_mm=shown.depth_mm, seed=seed)
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, extent=(win.half_width, -win.half_width, win.bottom, win.top),
                  interpolation="bilinear", zorder=0)
        ax.set_facecolor("black")
        # the probe's footprint on the skin
        foot = min(win.half_width * 0.9, 25.0)
        ax.add_patch(Rectangle((-foot, win.top), 2 * foot, -win.top * 0.8, color="#707070", zorder=3))
        ax.text(0, win.top * 0.45, "linear probe", color="white", ha="center", va="center", fontsize=font * 0.8,
                zorder=4)
        text_colour, label_halo = "#ffff99", [patheffects.withStroke(linewidth=2.0, foreground="black")]
    else:
        ax.set_facecolor("#f4f4f4")
        text_colour, label_halo = "#111111", halo
        for sec in sections:
            if sec.loops:
                verts = np.concatenate([np.vstack([xy(q), xy(q[:1])]) for q in sec.loops])
                codes = np.concatenate([[MplPath.MOVETO] + [MplPath.LINETO] * (len(q) - 1) + [MplPath.CLOSEPOLY]
                                        for q in sec.loops])
                path = MplPath(verts, codes)
                if sec.critical and sec.margin_mm > 0:
                    ax.add_patch(PathPatch(path, facecolor="none", edgecolor=sec.colour, alpha=0.35,
                                           linewidth=2 * sec.margin_mm * mm_to_pt, joinstyle="round", zorder=1))
                ax.add_patch(PathPatch(path, facecolor=sec.colour, edgecolor="#333333", linewidth=0.6,
                                       alpha=0.55 if sec.role == "skin" else 1.0, zorder=2))
            for q in sec.open_chains:  # an open mesh: its outline only, dashed, never closed
                p = xy(q)
                if sec.critical and sec.margin_mm > 0:
                    ax.plot(p[:, 0], p[:, 1], color=sec.colour, alpha=0.35, linewidth=2 * sec.margin_mm * mm_to_pt,
                            solid_capstyle="round", zorder=1)
                ax.plot(p[:, 0], p[:, 1], color=sec.colour, linewidth=2.5, zorder=2)
                ax.plot(p[:, 0], p[:, 1], color="#333333", linewidth=0.8, linestyle=(0, (4, 3)), zorder=2)
    for sec in sections:
        if sec.role == "unmodelled":
            for q in sec.loops:
                p = xy(np.vstack([q, q[:1]]))
                ax.plot(p[:, 0], p[:, 1], color=UNMODELLED_COLOUR, linewidth=1.5, linestyle=":", zorder=4)

    # the needle and its marks first, then one label per structure at its largest loop in view,
    # moved inside the axes and skipped where it would overlap another (listed in the caption)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    axes_box = ax.get_window_extent(renderer)
    placed = _draw_needle(ax, shown, report, win, font, text_colour, label_halo, ultrasound, renderer)
    unlabelled = []
    for sec in sorted(sections, key=lambda s: -max([polygon_area(q) for q in s.loops] or [0.0])):
        if sec.role == "skin":
            continue
        name = readout.structure_label(sec.name)
        if sec.role == "unmodelled":
            name += " (not modelled: danger)"
        spots = [p for q in sorted(sec.loops, key=polygon_area, reverse=True) for p in _label_points(q, win)]
        for spot in spots:
            t = ax.text(spot[1], spot[0], name, fontsize=font * 0.85, ha="center", va="center", color=text_colour,
                        path_effects=label_halo, zorder=6)
            box = _inside_axes(t, ax, axes_box, renderer)
            if not any(_overlap(box, o) for o in placed):
                placed.append(box)
                break
            t.remove()
        else:
            # no room inside: beside the section with a leader line to it
            if not (spots and _label_beside(ax, sec, spots[0], name, win, font, text_colour, label_halo, placed,
                                            axes_box, renderer)):
                if any(_meets(q, win) for q in sec.loops + sec.open_chains):
                    unlabelled.append(name)

    # axes: the depth ruler on the left, mm from the needle along the bottom, the sides in words
    ax.yaxis.set_major_locator(MultipleLocator(10.0))
    ax.yaxis.set_minor_locator(MultipleLocator(5.0 if win.bottom < 150 else 10.0))
    ax.xaxis.set_major_locator(MultipleLocator(10.0 if win.half_width < 60 else 20.0))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{abs(x):g}"))
    ax.tick_params(labelsize=font * 0.85)
    ax.set_ylabel("depth from the skin (mm)", fontsize=font * 0.9)
    ax.set_xlabel("mm from the needle", fontsize=font * 0.9)
    plus, minus = plane.side_names()
    fig.text(left, top_m + 3 / h_px, f"◄ {plus}", fontsize=font, ha="left", va="bottom")
    fig.text(right, top_m + 3 / h_px, f"{minus} ►", fontsize=font, ha="right", va="bottom")
    # the title is 1.1 times the font and bold: about 1.5 times the caption font (0.8) in width
    title = _clip_text(_title(scene, plane) + (" — ultrasound look" if ultrasound else ""), w_px, font * 1.5)
    fig.text(0.5, 0.985, title, fontsize=font * 1.1, ha="center", va="top", fontweight="bold")
    lines = [readout.safe_depth_sentence(report)]
    if unlabelled:
        lines.append("Also in view: " + ", ".join(dict.fromkeys(unlabelled)))
    if res.open_structures:
        lines.append("Open meshes (outline only, dashed): " + ", ".join(
            readout.structure_label(n) for n in res.open_structures))
    lines.append("Educational model, not a clinical device. Patients vary; this model is one body.")
    caption = "\n".join(_clip_text(s, w_px, font) for s in lines)
    fig.text(0.01, 0.005, caption, fontsize=font * 0.8, ha="left", va="bottom",
             color=UNKNOWN_COLOUR if report.path.safe_depth_mm is None else "#222222")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _label_beside(ax, sec: Section, spot, name: str, win: SliceWindow, font: float, colour: str, halo, placed,
                  axes_box, renderer) -> bool:
    """Label `sec` beside its largest loop with a leader line to `spot` (depth, lateral); False when
    every place beside it overlaps another label."""
    q = max(sec.loops, key=polygon_area)
    gap = win.half_width * 0.06
    mid_d = float(np.clip(spot[0], win.top, win.bottom))
    lat_lo, lat_hi = float(q[:, 1].min()), float(q[:, 1].max())
    d_lo, d_hi = float(q[:, 0].min()), float(q[:, 0].max())
    # (depth, lateral, ha): screen right (-lateral) first, then screen left, then below, then above
    for d, lat, ha in ((mid_d + gap, lat_lo - gap, "left"), (mid_d + gap, lat_hi + gap, "right"),
                       (d_hi + gap, float(spot[1]), "center"), (d_lo - gap, float(spot[1]), "center")):
        # the leader runs to the outline's point nearest the text, a little inside
        k = int(np.argmin(np.hypot(q[:, 0] - d, q[:, 1] - lat)))
        anchor = q[k] + 0.15 * (np.asarray(spot) - q[k])
        t = ax.text(lat, d, name, fontsize=font * 0.85, ha=ha, va="center", color=colour, path_effects=halo, zorder=6)
        box = _inside_axes(t, ax, axes_box, renderer)
        where = t.get_position()
        t.remove()
        if not any(_overlap(box, o) for o in placed):
            ax.annotate(name, xy=(anchor[1], anchor[0]), xytext=where, fontsize=font * 0.85, ha=ha, va="center",
                        color=colour, path_effects=halo, zorder=6,
                        arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.8})
            placed.append(box)
            return True
    return False


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside_axes(t, ax, axes_box, renderer) -> tuple[float, float, float, float]:
    """Move text `t` (display units) so its box lies inside the axes; returns the box (of the text
    alone: an annotation's leader line may cross other things)."""
    from matplotlib.text import Text

    bb = Text.get_window_extent(t, renderer)
    dx = max(0.0, axes_box.x0 + 2 - bb.x0) - max(0.0, bb.x1 - (axes_box.x1 - 2))
    dy = max(0.0, axes_box.y0 + 2 - bb.y0) - max(0.0, bb.y1 - (axes_box.y1 - 2))
    if dx or dy:
        x, y = ax.transData.transform(t.get_position())
        t.set_position(ax.transData.inverted().transform((x + dx, y + dy)))
        bb = Text.get_window_extent(t, renderer)
    return (bb.x0 - 2, bb.y0 - 1, bb.x1 + 2, bb.y1 + 1)


def _draw_needle(ax, shown, report, win: SliceWindow, font: float, text_colour: str, label_halo, ultrasound: bool,
                 renderer) -> list[tuple[float, float, float, float]]:
    """The needle (the shaft to the tip, the length still ahead dashed), its tip, the engine's safe
    depth (or UNKNOWN), the skin line and a tick every 10 mm along the needle. Returns the display
    boxes labels must avoid."""
    from matplotlib import patheffects

    axes_box = ax.get_window_extent(renderer)
    depth = shown.depth_mm
    ax.plot([0, 0], [0, depth], color=NEEDLE_COLOUR, linewidth=2.2, solid_capstyle="butt", zorder=7,
            path_effects=[patheffects.withStroke(linewidth=4.0, foreground="white")])
    if shown.length_mm > depth:
        ax.plot([0, 0], [depth, shown.length_mm], color="white" if ultrasound else AHEAD_COLOUR, linewidth=1.0,
                linestyle=(0, (3, 3)), zorder=7)
    ax.plot([0], [depth], marker="v", markersize=font * 0.9, color="#D55E00", markeredgecolor="black", zorder=8)
    boxes = []
    # the needle's own strip (with its ruler ticks)
    x0, y0 = ax.transData.transform((win.half_width * 0.03, 0.0))
    x1, y1 = ax.transData.transform((-win.half_width * 0.03, max(shown.length_mm, depth)))
    boxes.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    t = ax.text(-win.half_width * 0.03, depth, f"tip {readout.format_mm(depth)} mm", fontsize=font * 0.9,
                color=text_colour, ha="left", va="center", path_effects=label_halo, zorder=8)
    boxes.append(_inside_axes(t, ax, axes_box, renderer))
    safe = report.path.safe_depth_mm
    bar = win.half_width * 0.12
    if safe is not None:
        ax.plot([-bar, bar], [safe, safe], color=SAFE_COLOUR, linewidth=3.0, zorder=7,
                path_effects=[patheffects.withStroke(linewidth=5.0, foreground="white")])
        t = ax.text(bar * 1.1, safe, f"safe depth {readout.format_mm(safe)} mm", fontsize=font * 0.9,
                    color=SAFE_COLOUR, ha="right", va="center", fontweight="bold",
                    path_effects=[patheffects.withStroke(linewidth=2.5, foreground="black" if ultrasound else "white")],
                    zorder=8)
    else:
        t = ax.text(bar * 1.1, min(depth, win.bottom) / 2, "safe depth UNKNOWN:\ntreat as danger", fontsize=font * 0.9,
                    color=UNKNOWN_COLOUR, ha="right", va="center", fontweight="bold",
                    path_effects=[patheffects.withStroke(linewidth=2.5, foreground="black" if ultrasound else "white")],
                    zorder=8)
    boxes.append(_inside_axes(t, ax, axes_box, renderer))
    stop = report.path.bone_stop_mm
    if stop is not None and stop <= win.bottom:
        ax.plot([-bar * 0.6, bar * 0.6], [stop, stop], color="black", linewidth=2.0, zorder=7,
                path_effects=[patheffects.withStroke(linewidth=4.0, foreground="white")])
        t = ax.text(-bar * 0.7, stop, f"bone stop {readout.format_mm(stop)} mm", fontsize=font * 0.85,
                    color=text_colour, ha="left", va="center", path_effects=label_halo, zorder=8)
        boxes.append(_inside_axes(t, ax, axes_box, renderer))
    ax.axhline(0.0, color="#bbbbbb" if ultrasound else "#888888", linewidth=0.8, linestyle=":", zorder=5)
    tick = win.half_width * 0.02
    for d in np.arange(10.0, win.bottom, 10.0):
        ax.plot([-tick, tick], [d, d], color=text_colour, linewidth=0.8, zorder=7)
    return boxes


def _meets(q: np.ndarray, win: SliceWindow) -> bool:
    return bool(q[:, 0].max() >= win.top and q[:, 0].min() <= win.bottom
                and q[:, 1].max() >= -win.half_width and q[:, 1].min() <= win.half_width)


def _clip_text(s: str, w_px: int, font: float) -> str:
    """`s` cut to what fits the picture's width at `font` points (about 0.55 em per character)."""
    most = max(20, int(w_px / (font * 0.8 * 0.55 * 100 / 72)))
    return s if len(s) <= most else s[: most - 1] + "…"
