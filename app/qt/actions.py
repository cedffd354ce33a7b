"""The window's toolbars, menus and keys, from one table each. A row names the window method it
calls, so what a button does is read in one place and tested through the window's methods."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from needlesafe.geometry.needle import NEEDLE_PRESETS
from needlesafe.meshes.habitus import DEFAULT as DEFAULT_HABITUS
from needlesafe.meshes.habitus import HABITUS_PRESETS
from needlesafe.meshes.resolve import find_packs

from ..camera import CAMERA_BUTTONS
from ..exercises import ExerciseError, builtin_exercises, load_exercise
from ..packs import ATLAS_PREFIX, named_region, region_choices
from ..session import DEFAULT_NEEDLE, needle_name
from .dialogs import ask_path


@dataclass(frozen=True)
class Act:
    """One action: `text` ("-" for a separator), the window method `slot` (called with the checked
    state when `checkable`, else with `arg` when given), the window attribute `attr` that keeps it."""

    text: str
    slot: str = ""
    attr: str = ""
    key: str = ""
    checkable: bool = False
    checked: bool = False
    tip: str = ""
    arg: object = None


SEP = Act("-")

MENUS = {
    "&File": [
        Act("Open pack…", "ask_and_open", arg="pack"), Act("Recent packs", "<submenu>", "recent_menu"), SEP,
        Act("Open scenario…", "ask_and_open", arg="scenario_open"),
        Act("Save scenario…", "ask_and_open", arg="scenario_save"), SEP,
        Act("Export image…", "ask_and_open", arg="image"), Act("Export report…", "ask_and_open", arg="report"), SEP,
        Act("Quit", "close"),
    ],
    "&View": [
        Act("Hide skin", "hide_role", "hide_skin", "Alt+S", True, arg="skin"),
        Act("Hide muscles", "hide_role", "hide_muscle", "Alt+M", True, arg="muscle"),
        Act("Show the needle through tissue", "set_xray", "xray_action", checkable=True, checked=True),
        Act("Show landmarks", "show_landmarks", "landmarks_action", checkable=True,
            tip="Bony landmarks as white dots with their names"),
        Act("Show the needle plane", "show_plane", "plane_action", "Ctrl+U", True,
            tip="The plane through the needle, as an ultrasound probe along it would show it"),
        Act("Sound on events", "patient.set_sound", "sound_action", checkable=True,
            tip="A beep when the needle enters a nerve's margin, touches a nerve or punctures a vessel or the pleura"),
    ],
    "&Exercises": [
        Act("", "<exercises>"), SEP,
        Act("Open exercise file…", "ask_and_open", arg="exercise"),
        Act("Review attempts…", "ask_and_open", arg="attempts"),
        Act("Open a class folder…", "ask_and_open", arg="class",
            tip="A folder of students' attempt logs: pass rates, common mistakes, learning curves, gradebook"), SEP,
        Act("Triage: what to do afterwards…", "patient.triage", "triage_action",
            tip="A patient's report after a session: reassure, advise and review, refer, or emergency?"),
    ],
    "&Help": [Act("Quick guide", "quick_guide", key="F1"),
              Act("Download realistic anatomy (atlas)…", "atlas_banner.download",
                  tip="Z-Anatomy meshes (13 MB, CC BY-SA 4.0), downloaded once and built into atlas regions"),
              Act("About NeedleSafe", "about")],
}

TOOLS = [
    Act("Danger shells", "overlays.show_shells", "shells_action", checkable=True,
        tip="Translucent surfaces at each danger structure's clearance margin"), SEP,
    Act("Safety map", "overlays.show_map", "map_action", checkable=True,
        tip="Heat map on the skin: the deepest safe insertion from every point"),
    Act("(map mode)", attr="map_mode"), SEP,
    Act("Pin needle", "session.pin", "pin_action",
        tip="Keep this needle on screen, with its own readout, to compare with the next"),
    Act("Clear pins", "session.clear_pins", "unpin_action"),
    Act("Presentation", "presentation.set", "present_action", "F11", True,
        tip="Full screen, large high-contrast readout, other panels hidden (F11)"),
]

# keys that work wherever the focus is in the window: (key, window method, argument per step);
# with Shift each step is 5 times as large
KEYS = [
    ("+", "session.push", 1.0), ("=", "session.push", 1.0), ("-", "session.push", -1.0),
    ("Left", "tilt_needle", ("horizontal", -1.0)), ("Right", "tilt_needle", ("horizontal", 1.0)),
    ("Up", "tilt_needle", ("vertical", 1.0)), ("Down", "tilt_needle", ("vertical", -1.0)),
]


def slot(win, name: str):
    """The window's method `name`, or a dotted path from the window ('session.push')."""
    obj = win
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _call(fn, *args):
    """A slot that ignores what the signal passes and calls `fn(*args)`."""
    return lambda *_: fn(*args)


def _toggle(fn, arg):
    return lambda on: fn(arg, on)


def _action(win, act: Act, parent) -> QtGui.QAction:
    a = QtGui.QAction(act.text, parent)
    if act.key:
        a.setShortcut(QtGui.QKeySequence(act.key))
    if act.tip:
        a.setToolTip(act.tip)
    if act.checkable:
        a.setCheckable(True)
        a.setChecked(act.checked)
        fn = slot(win, act.slot)
        a.toggled.connect(fn if act.arg is None else _toggle(fn, act.arg))
    else:
        a.triggered.connect(_call(slot(win, act.slot), *(() if act.arg is None else (act.arg,))))
    if act.attr:
        setattr(win, act.attr, a)
    return a


def build_menus(win) -> None:
    for title, acts in MENUS.items():
        menu = win.menuBar().addMenu(title)
        for act in acts:
            if act is SEP:
                menu.addSeparator()
            elif act.slot == "<submenu>":  # filled by the window (recent packs)
                setattr(win, act.attr, menu.addMenu(act.text))
            elif act.slot == "<exercises>":
                _fill_exercises(win, menu)
            else:
                menu.addAction(_action(win, act, win))


def _fill_exercises(win, menu) -> None:
    """The shipped exercises; those on atlas regions wait (disabled) until the atlas is downloaded."""
    from needlesafe.meshes.atlas.fetch import atlas_present

    atlas = None
    for path in builtin_exercises():
        try:
            ex = load_exercise(path)
        except ExerciseError:
            continue
        needs_atlas = ex.pack.startswith(ATLAS_PREFIX)
        if needs_atlas and atlas is None:
            atlas = atlas_present()
        text = ex.title + (" (download the atlas first)" if needs_atlas and not atlas else "")
        a = menu.addAction(text.replace("&", "&&"))  # shown as written, never a shortcut marker
        a.setEnabled(not needs_atlas or bool(atlas))
        a.triggered.connect(_call(win.exercises.start, path))


def _combo(items, current, tip="") -> QtWidgets.QComboBox:
    box = QtWidgets.QComboBox()
    box.addItems(list(items))
    box.setCurrentText(current)
    if tip:
        box.setToolTip(tip)
    return box


def build_toolbars(win) -> None:
    """Row 1: needle, depth, camera. Row 2: region, habitus and the instructor's tools."""
    bar = win.addToolBar("Needle")
    bar.setObjectName("needle_toolbar")
    bar.addWidget(QtWidgets.QLabel(" Needle "))
    win.preset = _combo(NEEDLE_PRESETS, DEFAULT_NEEDLE)
    win.preset.currentTextChanged.connect(win.set_size)
    bar.addWidget(win.preset)
    bar.addWidget(QtWidgets.QLabel("  Depth "))
    win.depth_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
    win.depth_slider.setMinimumWidth(240)
    bar.addWidget(win.depth_slider)
    win.depth_label = QtWidgets.QLabel("")
    bar.addWidget(win.depth_label)
    bar.addSeparator()
    for name in CAMERA_BUTTONS:
        bar.addAction(name.capitalize()).triggered.connect(_call(win.set_camera, name))
    win.addToolBarBreak(QtCore.Qt.TopToolBarArea)
    bar = win.addToolBar("Region and tools")
    bar.setObjectName("tools_toolbar")
    bar.addWidget(QtWidgets.QLabel(" Region "))
    win.region = QtWidgets.QComboBox()
    win.region.setToolTip("Regions by body area (atlas regions once the atlas is downloaded), then packs "
                          "found in the user's pack folder")
    win.region.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToContents)
    fill_regions(win)
    bar.addWidget(win.region)
    bar.addWidget(QtWidgets.QLabel(" Habitus "))
    win.habitus = _combo(HABITUS_PRESETS, DEFAULT_HABITUS)
    bar.addWidget(win.habitus)
    win.region.activated.connect(win.on_region)
    win.habitus.activated.connect(win.on_region)
    bar.addSeparator()
    for act in TOOLS:
        if act is SEP:
            bar.addSeparator()
        elif act.attr == "map_mode":
            win.map_mode = _combo(["skin normal", "needle direction"], "skin normal",
                                  "Direction of the needle at every skin point of the map")
            win.map_mode.activated.connect(lambda _i: win.map_action.isChecked() and win.overlays.show_map(True))
            bar.addWidget(win.map_mode)
        else:
            bar.addAction(_action(win, act, bar))


def fill_regions(win) -> None:
    """The region list: a header per body area (not selectable), its regions (data: the region's
    key, 'gluteal' or 'atlas:gluteal'), then imported packs (data: the folder)."""
    box = win.region
    box.blockSignals(True)
    box.clear()
    area = None
    for choice in region_choices():
        if choice.area != area:
            area = choice.area
            box.addItem(area.capitalize())
            header = box.model().item(box.count() - 1)
            header.setEnabled(False)
            font = header.font()
            font.setBold(True)
            header.setFont(font)
        box.addItem("   " + choice.label, choice.key)
    folders = find_packs()
    if folders:
        box.insertSeparator(box.count())
    for folder in folders:
        box.addItem(folder.name, str(folder))
    box.blockSignals(False)


def region_text(win) -> str:
    """The region box's current entry as the user reads it (without the indent)."""
    return win.region.currentText().strip()


def sync_controls(win) -> None:
    """The region, habitus and needle boxes show the open pack and needle, whatever opened them."""
    boxes = (win.region, win.habitus, win.preset)
    for box in boxes:
        box.blockSignals(True)
    key = win.session.pack_source
    named = named_region(key)
    if named is not None:
        if win.region.findData(named[0]) < 0:  # an atlas region listed only now (just downloaded)
            fill_regions(win)
        win.region.setCurrentIndex(win.region.findData(named[0]))
        win.habitus.setCurrentText(named[1])
    elif win.region.findData(key) < 0:
        name = Path(key).name
        win.region.addItem(f"{name} (folder)" if win.region.findText(name) >= 0 else name, key)
        win.region.setItemData(win.region.count() - 1, key, QtCore.Qt.ToolTipRole)
    if win.region.findData(key) >= 0:
        win.region.setCurrentIndex(win.region.findData(key))
    win.habitus.setEnabled(named is not None)
    text = needle_name(win.session.needle)
    if win.preset.findText(text) < 0:
        win.preset.addItem(text)
    win.preset.setCurrentText(text)
    for box in boxes:
        box.blockSignals(False)


# what a chosen file is for: the window method that takes it
FILE_ACTIONS = {"pack": "open_pack", "scenario_open": "open_scenario", "scenario_save": "save_scenario",
                "image": "export_image", "report": "export_report", "exercise": "exercises.start",
                "attempts": "exercises.review", "class": "exercises.review"}


def ask_and_open(win, what: str) -> None:
    """A file dialog for `what` (see `dialogs.FILE_DIALOGS`), then the matching action."""
    path = ask_path(win, what)
    if path:
        slot(win, FILE_ACTIONS[what])(path)


def build_keys(win) -> list:
    shortcuts = []
    for key, name, arg in KEYS:
        for prefix, factor in (("", 1.0), ("Shift+", 5.0)):
            sc = QtGui.QShortcut(QtGui.QKeySequence(prefix + key), win)
            sc.setContext(QtCore.Qt.WindowShortcut)
            args = (arg[0], factor * arg[1]) if isinstance(arg, tuple) else (factor * arg,)
            sc.activated.connect(_call(slot(win, name), *args))
            shortcuts.append(sc)
    return shortcuts
