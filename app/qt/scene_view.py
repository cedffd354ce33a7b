"""The 3D scene: structure actors (display meshes), trigger-point and target markers, landmarks,
danger shells and the safety-map overlay, camera presets and picking.

Two render layers share one camera: layer 0 holds the anatomy; layer 1 (the overlay) is drawn over
it, for what must never hide behind tissue (markers, shells, the needle's x-ray copy, the bone
contact ring).
"""
from __future__ import annotations

import numpy as np
from vtkmodules.vtkRenderingCore import vtkActor, vtkCellPicker, vtkPolyDataMapper, vtkRenderer

from needlesafe.meshes.types import signed_volume

from .. import camera, theme
from ..display import display_mesh, scene_budgets, sphere, tube, tune_renderer, vtk_polydata
from ..render import add_safety_map, map_polydata
from .vtk_widget import make_plotter

MAP_ACTORS = ("safety_map", "safety_map:outline")


def one_sided(prepared) -> frozenset:
    """Names of the structures drawn one-sided (back faces culled): closed and wound outward, so from
    outside culling never loses a visible surface. Made once per prepared pack (without its engine:
    the first frame of a cold start comes before the engine). The translucent skin then blends one
    layer, not two; an opaque structure's hidden far side costs no fragments (a sixth of the
    gluteal frame under llvmpipe: 80 -> 67 ms, loaded machine, same run)."""
    names = prepared.views.get("one_sided")
    if names is None:
        names = frozenset(s.name for s in prepared.scene.structures
                          if s.is_closed and signed_volume(s.vertices, s.faces) > 0)
        prepared.views["one_sided"] = names
    return names


def display_meshes(prepared) -> dict:
    """Structure name -> display PolyData (decimated for drawing; the engine keeps the full
    meshes), made once per prepared pack and cached with it."""
    polys = prepared.views.get("display")
    if polys is None:
        budgets = scene_budgets(prepared.scene.structures)
        polys = {s.name: display_mesh(s.vertices, s.faces, role=s.role, max_triangles=budgets[s.name])
                 for s in prepared.scene.structures}
        prepared.views["display"] = polys
    return polys


class SceneView:
    """The anatomy in a native-window plotter (`plotter`, see `vtk_widget`), with an overlay renderer (`overlay`)."""

    def __init__(self, parent, multi_samples: int = 0):
        # no auto-update timer: the view repaints when something changes
        self.plotter = make_plotter(parent, multi_samples)
        self.overlay = vtkRenderer()
        self.overlay.SetLayer(1)
        self.overlay.InteractiveOff()
        self.overlay.SetUseOIT(False)  # a plain blend for the faint needle copies: ~5 ms a frame less
        self.plotter.ren_win.SetNumberOfLayers(2)
        self.plotter.ren_win.AddRenderer(self.overlay)
        main, over = self.plotter.renderer, self.overlay  # the layers share one camera, whatever renders
        main.AddObserver("StartEvent", lambda *_: over.SetActiveCamera(main.GetActiveCamera()))
        self.plotter.add_axes()
        tune_renderer(self.plotter)
        self.scene = None
        self.actors: dict = {}  # structure name -> actor
        self.top: dict = {}  # overlay actors by name ("trigger:…", "shell:…", "landmark:…", "exercise:target")
        self.markers: dict = {}  # trigger point name -> (actor, TriggerPoint)
        self.shells: dict = {}  # structure name -> (vertices, faces) of its margin shell
        self.safety_map = None  # the map drawn now, or None

    # ----- the pack -------------------------------------------------------------------------------
    def install(self, prepared, landmarks: bool) -> None:
        """Show `prepared`'s structures and markers (everything of the previous pack goes)."""
        scene = self.scene = prepared.scene
        # the previous pack's actors go; the needle's (made once per window) stay
        for name in [n for n in self.plotter.actors if n.startswith(("structure:", "pin:", "landmarks:", *MAP_ACTORS))]:
            self.plotter.remove_actor(name, render=False)
        for actor in self.top.values():
            self.overlay.RemoveActor(actor)
        self.actors, self.top, self.markers, self.shells, self.safety_map = {}, {}, {}, {}, None
        for s, poly in ((s, display_meshes(prepared)[s.name]) for s in scene.structures):
            # the skin and the zones of what the model does not contain are seen through
            opacity = {"skin": theme.SKIN_OPACITY, "unmodelled": theme.UNMODELLED_OPACITY}.get(s.role, 1.0)
            actor = self.plotter.add_mesh(poly, color=s.colour, opacity=opacity, smooth_shading=False,
                                          name=f"structure:{s.name}", pickable=True, specular=0.2, render=False)
            actor.GetProperty().SetInterpolationToGouraud()  # the point normals made once per pack
            if s.name in one_sided(prepared):
                actor.GetProperty().BackfaceCullingOn()
            self.actors[s.name] = actor
        for tp in scene.trigger_points:  # targets are drawn in the overlay: always visible
            actor = self.top_actor(sphere(theme.TRIGGER_POINT_RADIUS_MM, tp.point),
                                   theme.TRIGGER_POINT_COLOUR, f"trigger:{tp.name}")
            actor.PickableOn()
            self.markers[tp.name] = (actor, tp)
        self.draw_landmarks(landmarks)

    def top_actor(self, mesh, colour: str, name: str, opacity: float = 1.0):
        """An actor in the overlay (drawn over the anatomy), kept under `name` (replacing its namesake)."""
        self.remove_top(name, prefix=False)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(mesh)
        actor = vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        prop.SetColor(*theme.rgb(colour))
        prop.SetOpacity(opacity)
        actor.PickableOff()
        self.overlay.AddActor(actor)
        self.top[name] = actor
        return actor

    def remove_top(self, name: str, prefix: bool = True) -> None:
        """Remove the overlay actor `name` (or, with `prefix`, every one whose name starts with it)."""
        for key in [k for k in self.top if (k.startswith(name) if prefix else k == name)]:
            self.overlay.RemoveActor(self.top.pop(key))

    def set_visible(self, name: str, on: bool) -> None:
        self.actors[name].SetVisibility(bool(on))

    def set_role_visible(self, role: str, on: bool) -> None:
        for s in self.scene.structures:
            if s.role == role:
                self.actors[s.name].SetVisibility(bool(on) and not (role == "skin" and self.safety_map is not None))

    def set_opacity(self, name: str, opacity: float) -> None:
        self.actors[name].GetProperty().SetOpacity(float(opacity))

    def opacities(self) -> dict:
        return {name: a.GetProperty().GetOpacity() for name, a in self.actors.items()}

    # ----- markers ----------------------------------------------------------------------------------
    def draw_landmarks(self, on: bool) -> None:
        """Bony landmarks as white dots with their names, in the overlay."""
        self.remove_top("landmark:")
        for name in [n for n in self.plotter.actors if n.startswith("landmarks:")]:
            self.plotter.remove_actor(name, render=False)
        if self.scene is None or not on or not self.scene.landmarks:
            return
        for lm in self.scene.landmarks:
            dot = self.top_actor(sphere(theme.LANDMARK_RADIUS_MM, lm.point), theme.LANDMARK_COLOUR,
                                 f"landmark:{lm.name}")
            dot.GetProperty().SetEdgeVisibility(False)
        pts = np.array([lm.point for lm in self.scene.landmarks], float)
        self.plotter.add_point_labels(
            pts, [lm.name.replace("_", " ") for lm in self.scene.landmarks], name="landmarks:labels",
            font_size=14, text_color="black", shape_color=theme.NOTE_BACKGROUND, shape_opacity=0.8, point_size=1,
            always_visible=True, show_points=False, render=False,
        )

    def mark_target(self, point, radius_mm: float) -> None:
        """An exercise's target: a translucent sphere in the overlay."""
        self.top_actor(sphere(radius_mm, point), theme.TARGET_COLOUR, "exercise:target",
                       opacity=theme.TARGET_OPACITY)

    def draw_pins(self, needles) -> None:
        """Pinned needles, each in its own colour: a shaft and an entry dot."""
        for name in [n for n in self.plotter.actors if n.startswith("pin:")]:
            self.plotter.remove_actor(name, render=False)
        for k, n in enumerate(needles):
            colour = theme.PIN_COLOURS[k % len(theme.PIN_COLOURS)]
            if n.depth_mm > 0:
                self.plotter.add_mesh(tube(n.entry_lps, n.tip_lps, theme.SHAFT_RADIUS_MM), color=colour,
                                      name=f"pin:{k}:shaft", pickable=False, render=False)
            self.plotter.add_mesh(sphere(theme.PIN_ENTRY_RADIUS_MM, n.entry_lps), color=colour,
                                  name=f"pin:{k}:entry", pickable=False, render=False)

    # ----- overlays: danger shells and the safety map ----------------------------------------------
    def draw_shells(self, shells: dict, visible: bool) -> None:
        self.remove_top("shell:")
        self.shells = shells
        for name, (v, f) in shells.items():
            actor = self.top_actor(vtk_polydata(v, f), self.scene.structure(name).colour, f"shell:{name}",
                                   opacity=theme.SHELL_OPACITY)
            actor.SetVisibility(visible)

    def show_shells(self, on: bool) -> None:
        for name in self.shells:
            actor = self.top.get(f"shell:{name}")
            if actor is not None:
                actor.SetVisibility(bool(on))

    def draw_map(self, smap, length_mm: float) -> None:
        """The safety map replaces the skin."""
        self.safety_map = smap
        self.set_role_visible("skin", False)
        add_safety_map(self.plotter, map_polydata(self.scene, smap), length_mm, smap.max_depth_mm)

    def remove_map(self, skin_visible: bool) -> None:
        for name in MAP_ACTORS:
            if name in self.plotter.actors:
                self.plotter.remove_actor(name, render=False)
        self.safety_map = None
        self.set_role_visible("skin", skin_visible)

    # ----- camera ------------------------------------------------------------------------------------
    def set_camera(self, placement) -> None:
        """Apply a (position, focal point, view-up) placement (see `app.camera`)."""
        self.plotter.camera_position = [tuple(placement[0]), tuple(placement[1]), tuple(placement[2])]
        self.plotter.reset_camera_clipping_range()

    def preset(self, view: str) -> None:
        if self.scene is not None:
            self.set_camera(camera.preset(self.scene.bounds(), view))

    def camera_dict(self) -> dict:
        cam = self.plotter.camera
        return camera.camera_dict(cam.GetPosition(), cam.GetFocalPoint(), cam.GetViewUp())

    def screen_axes(self) -> tuple[np.ndarray, np.ndarray]:
        """(up, right) of the camera as world directions (3,)."""
        cam = self.plotter.camera
        up = np.asarray(cam.GetViewUp(), float)
        view = np.asarray(cam.GetFocalPoint(), float) - np.asarray(cam.GetPosition(), float)
        return up, np.cross(view, up)

    # ----- picking -----------------------------------------------------------------------------------
    def to_display(self, point) -> tuple[float, float]:
        """Display pixel (x, y), origin bottom-left, of world `point` (3,)."""
        ren = self.plotter.renderer
        ren.SetWorldPoint(*point, 1.0)
        ren.WorldToDisplay()
        x, y, _ = ren.GetDisplayPoint()
        return x, y

    def pick(self, x: int, y: int, through_skin: bool = False):
        """(name, point (3,), normal (3,)) under display pixel (x, y), or None. Markers in the overlay
        come first ("trigger:NAME", the point being the trigger point's centre); with `through_skin`
        the skin is passed through to what lies under it."""
        picker = vtkCellPicker()
        picker.SetTolerance(0.0005)
        if self.markers and picker.Pick(x, y, 0, self.overlay):
            actor = picker.GetActor()
            for name, (a, tp) in self.markers.items():
                if a is actor:
                    return f"trigger:{name}", np.asarray(tp.point, float), np.array(picker.GetPickNormal())
        picker = vtkCellPicker()
        picker.SetTolerance(0.0005)
        if through_skin:
            picker.PickFromListOn()
            for name, a in self.actors.items():
                if self.scene.structure(name).role != "skin" and a.GetVisibility():
                    picker.AddPickList(a)
        if not picker.Pick(x, y, 0, self.plotter.renderer):
            return None
        actor = picker.GetActor()
        for name, a in self.actors.items():
            if a is actor:
                return name, np.array(picker.GetPickPosition()), np.array(picker.GetPickNormal())
        return None

    def render(self) -> None:
        self.plotter.render()

    def repaint(self) -> None:
        """Schedule one redraw (Qt coalesces several requests into one frame)."""
        self.plotter.update()
