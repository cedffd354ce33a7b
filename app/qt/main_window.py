"""The NeedleSafe window: it only wires. The state and the rules are the session's; the views draw
what the session says; the panels read it; actions, interaction, overlays and presentation mode each
live in their own module."""
from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from .. import camera, readout
from ..packs import prepare_pack
from ..session import Session, needle_name
from . import dialogs
from .actions import ask_and_open, build_keys, build_menus, build_toolbars, sync_controls
from .atlas_banner import AtlasBanner
from .dialogs import busy
from .docks import build_docks
from .exercise_flow import ExerciseFlow
from .exports import export_image, export_report
from .interaction import Interaction
from .needle_view import NeedleView
from .overlays import Overlays
from .patient import PatientView
from .presentation import Presentation
from .readouts import Readouts
from .scene_view import SceneView
from .vtk_widget import composite_grab
from .workers import Latest


class MainWindow(QtWidgets.QMainWindow):
    """Main window over one session. Every number shown comes from `ClearanceEngine.report`."""

    needle_changed = QtCore.Signal(object)

    def __init__(self, pack="default", multi_samples: int = 0, staged: bool = False):
        """`staged`: draw the region's anatomy first and open it fully in `finish_start`, after the
        first frame (the app's cold start; numba's kernels load with the engine, about a second)."""
        super().__init__()
        self.setWindowTitle("NeedleSafe")
        self.resize(1280, 800)
        self.session = Session()
        self._controls_show = None  # (pack key, needle name) the toolbar boxes show
        self.settings = QtCore.QSettings("NeedleSafe", "NeedleSafe")
        self.statusBar().setSizeGripEnabled(False)  # made now: the 3D view keeps its size on the first message
        self.scene_view = SceneView(self, multi_samples)
        self.plotter = self.scene_view.plotter
        self.setCentralWidget(self.plotter.interactor)
        self.needle_view = NeedleView(self.plotter, self.scene_view.overlay)
        build_docks(self)
        self.readouts = Readouts(self)
        self.overlays = Overlays(self)
        self.presentation = Presentation(self)
        self.interaction = Interaction(self)
        self.exercises = ExerciseFlow(self)
        self.patient = PatientView(self, self.patient_panel)
        build_toolbars(self)
        self.atlas_banner = AtlasBanner.install(self)
        build_menus(self)
        self._keys = build_keys(self)
        self.slider = Latest(lambda v: self.session.set_depth(v / 10.0), self)  # while dragged, only the latest value
        self.depth_slider.valueChanged.connect(self._on_slider)
        self.depth_slider.sliderPressed.connect(lambda: self.readouts.set_live(True))
        self.depth_slider.sliderReleased.connect(lambda: self.readouts.set_live(False))
        self._fill_recent()
        s = self.session
        s.scene_changed.connect(self._on_scene)
        s.needle_changed.connect(self._on_needle)
        s.pins_changed.connect(self._on_pins)
        s.exercise_changed.connect(self._on_exercise)
        self._pending = pack if staged and self._preview(pack) else None
        if self._pending is None and not self.open_pack(pack) and pack != "default":
            self.open_pack("default")
        self.hint = dialogs.FirstHint.maybe(self.plotter.interactor, self.settings)

    # ----- what the session holds, read by tests and the benches -------------------------------------
    needle = property(lambda self: self.session.needle)
    report = property(lambda self: self.session.report)
    scene = property(lambda self: self.session.scene)
    engine = property(lambda self: self.session.engine)
    exercise = property(lambda self: self.session.exercise)
    pinned = property(lambda self: self.session.pinned)
    redirections = property(lambda self: self.session.redirections)
    safety_map = property(lambda self: self.scene_view.safety_map)
    hover_text = property(lambda self: self.interaction.hover_text)

    def attempt(self, what: str, fn, *args) -> bool:
        """Run a session action; an unusable input becomes one dialog (`what`: the reason) and the
        session stays as it was. The one place where errors meet the user."""
        with busy():
            try:
                fn(*args)
                return True
            except dialogs.USER_ERRORS as exc:
                self.error(f"{what}:\n{exc}")
                return False

    # ----- session events -> views ---------------------------------------------------------------------
    def _on_scene(self, prepared) -> None:
        self.scene_view.install(prepared, self.landmarks_action.isChecked())
        self.overlays.on_scene(prepared)
        self.layers.fill(prepared.scene, self.scene_view.opacities())
        self.setWindowTitle(f"NeedleSafe — {prepared.scene.name}")
        self._remember_pack(prepared.key)

    def _on_needle(self, report) -> None:
        n = report.needle
        self.readouts.show(report)
        self.depth_slider.blockSignals(True)
        self.depth_slider.setRange(0, int(round(n.length_mm * 10)))
        self.depth_slider.setValue(int(round(n.depth_mm * 10)))
        self.depth_slider.blockSignals(False)
        self.depth_label.setText(readout.depth_label(report))
        stop = readout.firm_stop_message(report)
        if stop:
            self.statusBar().showMessage(stop, 5000)
        self.needle_view.update(n, report, self.xray_action.isChecked())
        shown = (self.session.pack_source, needle_name(n))
        if shown != self._controls_show:  # the boxes follow a new pack or needle size, not every move
            self._controls_show = shown
            sync_controls(self)
        self.redraw()
        self.needle_changed.emit(report)

    def _on_pins(self) -> None:
        self.scene_view.draw_pins(self.session.pinned)
        self.compare.show_rows(self.session.compare_rows())
        self.compare_dock.setVisible(bool(self.session.pinned) and not self.presentation.active)
        self.redraw()

    def _on_exercise(self, ex) -> None:
        if ex is None:
            self.exercise_dock.hide()
            return
        self.scene_view.mark_target(ex.target_point, max(2.0, ex.tolerance_mm / 2))
        self.exercise_panel.show_exercise(ex)
        self.exercise_dock.show()
        self.exercise_dock.raise_()

    def _preview(self, pack) -> bool:
        """Draw `pack`'s anatomy before its engine exists; the panel says the clearance is not known
        yet. False (nothing drawn) when the pack cannot be read: `open_pack` then says why."""
        try:
            prepared = prepare_pack(pack)
        except dialogs.USER_ERRORS:
            return False
        self.scene_view.install(prepared, self.landmarks_action.isChecked())
        self.layers.fill(prepared.scene, self.scene_view.opacities())
        self.setWindowTitle(f"NeedleSafe — {prepared.scene.name}")
        self.set_camera("reset")
        self.panel.show_preparing()
        return True

    def finish_start(self) -> None:
        """Open the pack a staged start has drawn (engine, first needle, every panel)."""
        pack, self._pending = self._pending, None
        if pack is not None:
            with busy():
                if not self.open_pack(pack) and pack != "default":
                    self.open_pack("default")

    # ----- user actions (toolbar, menus, keys, tests) ----------------------------------------------------
    def open_pack(self, pack) -> bool:
        """Open a pack (folder or built-in name); on failure a dialog, and the current one stays."""
        ok = self.attempt("Cannot open pack", self.session.open_pack, pack, self.preset.currentText())
        if ok:
            self.set_camera("reset")
        return ok

    def on_region(self, _index=None) -> None:
        """The region (with the habitus) or imported pack chosen in the toolbar. During an exercise,
        another habitus of its region keeps the exercise."""
        data = self.region.currentData()
        folder = data if data and Path(data).is_absolute() else None
        name = folder or f"{data}:{self.habitus.currentText()}"
        if not folder and self.session.keeps_exercise(name):
            ok = self.exercises.start(self.session.exercise_path, pack=name)
        else:
            ok = self.open_pack(name)
        if not ok:
            sync_controls(self)  # the boxes go back to the pack still open

    def tilt_needle(self, screen_axis: str, degrees: float) -> None:
        """Tilt about the camera's up ('horizontal' keys) or right ('vertical' keys) axis."""
        up, right = self.scene_view.screen_axes()
        self.session.tilt(up if screen_axis == "horizontal" else right, degrees)

    def _on_slider(self, value: int) -> None:
        if self.depth_slider.isSliderDown():
            self.slider.submit(value)
        else:
            self.session.set_depth(value / 10.0)

    def set_size(self, text: str) -> None:
        if self.attempt("Cannot use this needle", self.session.set_size, text):
            self.overlays.redraw_map()  # the danger zone depends on the needle's length

    def set_camera(self, view: str) -> None:
        self.scene_view.preset(view)
        self.redraw()

    def face(self, target, eye_side) -> None:
        """Point the camera at `target` from the side of `eye_side` (e.g. the entry on the skin)."""
        self.scene_view.set_camera(camera.facing(self.scene.bounds(), target, eye_side))
        self.redraw()

    def hide_role(self, role: str, hidden: bool) -> None:
        self.scene_view.set_role_visible(role, not hidden)
        self.redraw()

    def set_xray(self, on: bool) -> None:
        self.needle_view.set_xray(on)
        self.redraw()

    def show_landmarks(self, on: bool) -> None:
        self.scene_view.draw_landmarks(on)
        self.redraw()

    def save_scenario(self, path) -> bool:
        ok = self.attempt("Could not save the scenario", self.session.save_scenario, path,
                          self.scene_view.camera_dict())
        if ok:
            self.statusBar().showMessage(f"Saved {path}", 3000)
        return ok

    def open_scenario(self, path) -> bool:
        """Load a scenario (pack, needles, camera); a bad file gives a dialog and changes nothing."""
        if not self.attempt("Cannot open the scenario", self.session.open_scenario, path):
            return False
        cam = self.session.scenario_camera
        if cam:
            self.scene_view.set_camera((cam["position"], cam["focal_point"], cam["view_up"]))
        else:
            self.scene_view.preset("reset")
        self.redraw()
        return True

    def _remember_pack(self, source: str) -> None:
        recent = [p for p in (self.settings.value("recent_packs") or []) if p != source]
        self.settings.setValue("recent_packs", [source] + recent[:7])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for source in self.settings.value("recent_packs") or []:
            self.recent_menu.addAction(str(source).replace("&", "&&")).triggered.connect(
                lambda _=False, p=source: self.open_pack(p))

    def quick_guide(self):
        self._guide = dialogs.quick_guide(self)
        return self._guide

    def about(self) -> None:
        dialogs.about(self)

    def dismiss_hint(self) -> None:
        """The first-start hint goes and does not come back."""
        if self.hint is not None:
            self.hint.dismiss()
            self.hint = None
        self.settings.setValue("hint_seen", True)

    ask_and_open = ask_and_open  # a file dialog for a menu entry, then its action
    export_image = export_image
    export_report = export_report

    def redraw(self) -> None:
        """Schedule one redraw of the 3D view."""
        self.scene_view.repaint()

    def error(self, message: str) -> None:
        dialogs.error(self, message)

    def grab(self, *args):  # noqa: D102 - QWidget.grab with the 3D view's pixels (a native window)
        return composite_grab(self, self.plotter) if not args else super().grab(*args)

    def closeEvent(self, event):  # noqa: N802 - Qt override
        self.overlays.stop()  # a QThread destroyed while it runs aborts the whole process
        self.atlas_banner.stop()
        self.plotter.close()
        super().closeEvent(event)
