"""Off-screen pictures of a pack for reviewers: `needlesafe render --pack PACK --view VIEW --out FILE.png`."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from needlesafe.meshes.io import atomic_write_bytes, check_output_path

from .camera import VIEWS, fit_distance
from .theme import NOT_MODELLED_COLOUR, RENDER_NEEDLE_COLOURS, UNMODELLED_OPACITY

ROLE_STYLE = {
    # role: (opacity, specular)
    "skin": (0.25, 0.1),
    "muscle": (1.0, 0.2),
    "nerve": (1.0, 0.4),
    "bone": (1.0, 0.3),
    "pleura": (0.6, 0.3),
    "vessel": (1.0, 0.4),
    "unmodelled": (UNMODELLED_OPACITY, 0.1),
    "other": (1.0, 0.1),
}


def to_polydata(vertices, faces):
    """A triangle mesh (vertices (n, 3) mm, faces (m, 3)) as pyvista PolyData."""
    import pyvista as pv

    f = np.asarray(faces)
    return pv.PolyData(np.asarray(vertices), np.hstack([np.full((len(f), 1), 3), f]).astype(np.int64).ravel())


def _offscreen_backend():
    """Without an X display, render through EGL (no window system needed)."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def render_scene(scene, view: str, out, size=(1280, 960), needle=None, hidden_roles=(), needles=(),
                 muscle_opacity: float = 1.0) -> Path:
    """Write a PNG of `scene` seen from `view` (posterior, lateral, superior, oblique), with `needle`
    and any further `needles` drawn (inserted part solid, the rest of the length thin)."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}")
    _offscreen_backend()
    import pyvista as pv

    pl = pv.Plotter(off_screen=True, window_size=list(size))
    pl.set_background("white")
    for s in scene.structures:
        if s.role in hidden_roles:
            continue
        opacity, specular = ROLE_STYLE[s.role]
        if s.role == "muscle":
            opacity = muscle_opacity
        pl.add_mesh(to_polydata(s.vertices, s.faces), color=s.colour, opacity=opacity, specular=specular,
                    smooth_shading=True)
    drawn = list(needles) or ([needle] if needle is not None else [])
    for k, n in enumerate(drawn):
        colour = RENDER_NEEDLE_COLOURS[k % len(RENDER_NEEDLE_COLOURS)]
        if n.depth_mm > 0:
            pl.add_mesh(pv.Line(n.entry_lps, n.tip_lps).tube(radius=0.8), color=colour)
        pl.add_mesh(pv.Line(n.tip_lps, n.end_lps), color=colour, line_width=2)
        pl.add_mesh(pv.Sphere(radius=2.0, center=n.entry_lps), color=colour)
    return _frame_and_save(pl, scene, view, f"{scene.name} — {view}", out, zoom=1.15)


def _frame_and_save(pl, scene, view: str, title: str, out, zoom: float = 1.0) -> Path:
    """Point the camera at the whole scene from `view`, caption it, write the PNG, close the plotter."""
    lo, hi = scene.bounds()
    c = (lo + hi) / 2
    r = float(np.linalg.norm(hi - lo))
    d, up = VIEWS[view]
    pl.camera_position = [tuple(c + 1.5 * r * np.asarray(d)), tuple(c), up]
    pl.reset_camera()
    # zoom in no closer than frames the whole region (a tall region would lose its ends)
    w, h = pl.window_size
    fit = fit_distance((lo, hi), d, up, pl.camera.view_angle, aspect=w / h)
    pl.camera.zoom(min(zoom, pl.camera.distance / fit))
    pl.add_text(title, font_size=10, color="black")
    out = check_output_path(out)  # refuse a directory or a path under a file before drawing
    # the picture is written exactly to `out` (never `out` + ".png"), atomically
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "view.png"
        pl.screenshot(str(png))
        pl.close()
        atomic_write_bytes(out, png.read_bytes())
    return out


def render_safety_map(scene, smap, out, needle_length_mm: float = 50.0, view: str = "posterior",
                      size=(1280, 960)) -> Path:
    """A picture of the safety map: safe depth as a heat map on the skin, with a legend in mm, and
    the danger zone (safe depth shorter than the needle) outlined in black."""
    _offscreen_backend()
    import pyvista as pv

    poly = map_polydata(scene, smap)
    pl = pv.Plotter(off_screen=True, window_size=list(size))
    pl.set_background("white")
    add_safety_map(pl, poly, needle_length_mm, smap.max_depth_mm)
    title = f"{scene.name}: safe depth ({smap.mode}), danger zone for a {needle_length_mm:.0f} mm needle"
    return _frame_and_save(pl, scene, view, title, out)




def map_polydata(scene, smap):
    """The skin as pyvista PolyData with the map as point arrays."""
    from needlesafe.geometry.safety_map import skin_of

    skin = skin_of(scene)
    poly = to_polydata(skin.vertices.copy(), skin.faces)
    poly.point_data["safe_depth_mm"] = smap.safe_depth_mm
    poly.point_data["bone_depth_mm"] = np.where(np.isfinite(smap.bone_depth_mm), smap.bone_depth_mm, -1.0)
    poly.point_data["backstop"] = smap.backstop.astype(np.uint8)
    poly.point_data["exit_mm"] = np.where(np.isfinite(smap.exit_mm), smap.exit_mm, -1.0)
    poly.point_data["not_modelled"] = smap.not_modelled.astype(np.uint8)
    poly.point_data["direction"] = smap.directions
    return poly


def danger_field(poly, needle_length_mm: float) -> np.ndarray:
    """(n,) mm per skin point of a map's PolyData: how far the needle reaches past the safe depth.
    Positive exactly where `SafetyMap.danger_zone` is true (a needle of this length stops at the
    first bone); the outline is its zero contour."""
    depth = np.asarray(poly.point_data["safe_depth_mm"], float)
    reach = np.full(len(depth), float(needle_length_mm))
    if "bone_depth_mm" in poly.point_data:  # -1 where no bone lies within the map's depth
        bone = np.asarray(poly.point_data["bone_depth_mm"], float)
        reach = np.where(bone >= 0.0, np.minimum(reach, bone), reach)
    return reach - depth


def add_safety_map(plotter, poly, needle_length_mm: float, max_depth_mm: float, name: str = "safety_map"):
    """Add the heat map (red shallow, through yellow, to blue deep; colour-blind friendly 'plasma'
    reversed would lose red=danger, so 'RdYlBu') and the danger-zone outline to a plotter. Skin
    points whose line leaves the modelled body ('not_modelled') are grey, never a safe colour, with
    their own entry under the legend. The legend stands upright at the right edge, its title above
    the bar so it never overlaps the tick labels."""
    depth = np.asarray(poly.point_data["safe_depth_mm"], float)
    if "not_modelled" in poly.point_data:
        unknown = np.asarray(poly.point_data["not_modelled"]).astype(bool)
    else:
        unknown = np.zeros(len(depth), bool)
    shown = poly.copy(deep=False)
    shown.point_data["safe depth (mm)"] = np.where(unknown, np.nan, depth)
    plotter.add_mesh(shown, scalars="safe depth (mm)", cmap="RdYlBu", clim=[0.0, max_depth_mm], name=name,
                     nan_color=NOT_MODELLED_COLOUR, smooth_shading=True, pickable=True, render=False,
                     scalar_bar_args={"title": "safe depth (mm)", "color": "black", "n_labels": 6, "fmt": "%.0f",
                                      "vertical": True, "position_x": 0.82, "position_y": 0.12, "width": 0.05,
                                      "height": 0.6, "title_font_size": 14, "label_font_size": 12,
                                      "nan_annotation": True})
    bars = plotter.scalar_bars
    if "safe depth (mm)" in bars:
        bar = bars["safe depth (mm)"]
        bar.SetNanAnnotation("not modelled")
        bar.SetDrawNanAnnotation(True)
        bar.SetTextPad(4)
        bar.SetVerticalTitleSeparation(8)
        bar.DrawBackgroundOn()  # a light card behind the legend: readable over the body too
        bar.GetBackgroundProperty().SetColor(1.0, 1.0, 1.0)
        bar.GetBackgroundProperty().SetOpacity(0.85)
        for text in (bar.GetTitleTextProperty(), bar.GetAnnotationTextProperty()):
            text.SetBackgroundColor(1.0, 1.0, 1.0)
            text.SetBackgroundOpacity(0.85)
    zone = poly.copy(deep=False)
    zone.point_data["reach_minus_safe"] = danger_field(poly, needle_length_mm)
    try:
        outline = zone.contour([0.0], scalars="reach_minus_safe")
    except Exception:  # noqa: BLE001 - no contour (no danger zone) is a valid outcome
        outline = None
    if outline is not None and outline.n_points:
        plotter.add_mesh(outline, color="black", line_width=4, name=f"{name}:outline", pickable=False, render=False)
    return plotter
