"""The trainer's state and rules, without a window (no Qt, no VTK).

A `Session` holds the open pack (scene and engine), the current needle and its report, the pinned
needles and their reports, the exercise in progress with its redirection counter, and the safety
maps computed so far. Views subscribe to its signals (psygnal, the same shape as Qt's):

- `scene_changed(prepared)`  another pack (or habitus) is open;
- `needle_changed(report)`   the current needle moved; `report.needle` is the effective needle;
- `pins_changed()`           needles were pinned or cleared;
- `exercise_changed(exercise | None)`  an exercise started or ended;
- `events_changed(new events)`  what the patient felt in this move (geometry.events), each event once
  per pass (a pass is one line: the same entry and direction).

Every rule the window applies lives here, so tests check it without a window: a needle cannot pass
through bone (the engine's effective needle), a change of angle of more than 5 degrees with the needle
in counts as a redirection during an exercise, an exercise belongs to the pack it was started on, a
pinned needle's report is computed once. The scenario file is the session's saved state.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from psygnal import Signal

from needlesafe.geometry.events import events_for, same_line
from needlesafe.geometry.needle import NEEDLE_PRESETS, Needle, NeedleError
from needlesafe.geometry.placement import aim, skin_entry, tilt
from needlesafe.geometry.report import ClearanceReport
from needlesafe.meshes.errors import NeedleSafeError, PackError
from needlesafe.meshes.io import read_json

from . import camera, readout
from .attempt_log import append_attempt, attempt_record, log_path
from .exercise_check import check_target, start_needle
from .exercises import MAX_FILE_BYTES, Exercise, ExerciseError, Score, parse_exercise, score_attempt, score_decline
from .metrics import AttemptTracker
from .packs import PreparedPack, prepare_pack, same_region
from .scenario import Scenario, load_scenario, save_scenario

FIRST_DEPTH_MM = 15.0  # a newly opened pack's needle starts this deep (or its length, if shorter)
DEFAULT_NEEDLE = "0.30x50"


def needle_size(text: str) -> tuple[float, float]:
    """(gauge_mm, length_mm) of a needle name: a preset ('0.30x50') or 'GAUGExLENGTH'. Raises NeedleError."""
    if text in NEEDLE_PRESETS:
        return NEEDLE_PRESETS[text]
    gauge, _, length = str(text).partition("x")
    try:
        return float(gauge), float(length)
    except ValueError:
        raise NeedleError(f"needle '{text}' is not GAUGExLENGTH in mm (e.g. 0.30x50)") from None


def needle_name(needle: Needle) -> str:
    """The needle box's name for `needle`'s size ('0.30x50')."""
    return f"{needle.gauge_mm:.2f}x{needle.length_mm:g}"


class Session:
    """The trainer's state and rules. `prepare` turns a pack source into a `PreparedPack` (the
    window passes the cached one; tests may pass their own)."""

    scene_changed = Signal(object)
    needle_changed = Signal(object)
    pins_changed = Signal()
    exercise_changed = Signal(object)
    events_changed = Signal(object)

    def __init__(self, prepare: Callable[[str], PreparedPack] = prepare_pack):
        self.prepare = prepare
        self.prepared: PreparedPack | None = None
        self.needle: Needle | None = None
        self.report: ClearanceReport | None = None
        self.pinned: list[Needle] = []
        self._pin_reports: list[tuple[Needle, ClearanceReport]] = []
        self.exercise: Exercise | None = None
        self.exercise_path: Path | None = None
        self.last_score: Score | None = None
        self.last_events: list = []  # the events of the attempt scored last
        self.tracker: AttemptTracker | None = None  # the grading metrics of the attempt in progress
        self.last_metrics: dict | None = None  # app/metrics.py: the metrics of the attempt scored last
        self.clock: Callable[[], float] = time.monotonic  # the tracker's seconds (tests may set their own)
        self.maps: dict = {}  # (pack key, "normal" | direction tuple) -> SafetyMap
        self.scenario_camera: dict | None = None  # the camera of the scenario opened last
        self.events: list = []  # the current pass's events (geometry.events.Event), by depth
        self.attempt_events: list = []  # an exercise attempt's events, each once, in the order they happened
        self._pass_keys: set = set()
        self._attempt_keys: set = set()

    # ----- the open pack --------------------------------------------------------------------------
    @property
    def scene(self):
        return None if self.prepared is None else self.prepared.scene

    @property
    def engine(self):
        return None if self.prepared is None else self.prepared.engine

    @property
    def pack_source(self) -> str | None:
        return None if self.prepared is None else self.prepared.key

    def open_pack(self, source, size: str = DEFAULT_NEEDLE) -> PreparedPack:
        """Open a pack (folder or built-in name) with its first needle of `size`, ending any exercise.
        Raises PackError (or NeedleError for a bad size); on error nothing changes."""
        gauge, length = needle_size(size)
        prepared = self.prepare(source)
        start = prepared.start
        prepared.engine  # noqa: B018 - made now: an engine that cannot be made changes nothing
        self.install(prepared, Needle(start.entry_lps, start.direction, min(FIRST_DEPTH_MM, length), length, gauge))
        return prepared

    def install(self, prepared: PreparedPack, needle: Needle, exercise: Exercise | None = None,
                exercise_path=None) -> None:
        """Replace the open pack with `prepared` and make `needle` current. The pins go (they were
        on the old pack); an exercise belongs to the pack it was started on."""
        self.prepared = prepared
        self.pinned, self._pin_reports = [], []
        self.needle, self.report = None, None
        self.exercise = exercise
        self.exercise_path = Path(exercise_path) if exercise_path is not None else None
        self.events, self.attempt_events, self._pass_keys, self._attempt_keys = [], [], set(), set()
        self.tracker = (AttemptTracker.for_exercise(exercise, self.exercise_start(prepared, exercise))
                        if exercise is not None else None)
        self.scene_changed.emit(prepared)
        self.pins_changed.emit()
        self.exercise_changed.emit(exercise)
        self.set_needle(needle)

    # ----- the needle -----------------------------------------------------------------------------
    def set_needle(self, needle: Needle) -> ClearanceReport:
        """Make `needle` current and compute its report. A needle cannot pass through bone: the
        current needle is the report's effective one. During an exercise the attempt's tracker
        counts the redirections (`redirections`)."""
        if self.engine is None:
            raise PackError("no pack is open")
        report = self.engine.report(needle)
        needle = report.needle
        previous = self.needle
        self.needle, self.report = needle, report
        if self.tracker is not None and self.exercise is not None:
            self.tracker.add(self.clock(), needle, report)
        new = self._update_events(previous, needle, report)
        self.needle_changed.emit(report)
        if new:
            self.events_changed.emit(new)
        return report

    def _update_events(self, previous: Needle | None, needle: Needle, report) -> list:
        """The pass's events for `needle`; returns those new to this pass (and, in an exercise,
        records those new to the attempt)."""
        ex = self.exercise
        target = ex.target_name if ex is not None else None
        margins = dict(ex.clearance_mm) if ex is not None else None
        self.events = events_for(self.engine, needle, target=target, report=report, margins=margins)
        if previous is None or not same_line(previous, needle):
            self._pass_keys = set()
        new = [e for e in self.events if e.key not in self._pass_keys]
        self._pass_keys.update(e.key for e in self.events)
        if ex is not None:
            for e in self.events:
                if e.key not in self._attempt_keys:
                    self._attempt_keys.add(e.key)
                    self.attempt_events.append(e)
        return new

    def _current(self) -> Needle:
        if self.needle is None:
            raise PackError("no pack is open")
        return self.needle

    def set_depth(self, depth_mm: float) -> ClearanceReport:
        """Push or pull to `depth_mm`, kept within 0 and the needle's length (and stopped by bone)."""
        n = self._current()
        return self.set_needle(n.at_depth(min(max(0.0, float(depth_mm)), n.length_mm)))

    def push(self, step_mm: float) -> ClearanceReport:
        return self.set_depth(self._current().depth_mm + step_mm)

    def tilt(self, axis, degrees: float) -> ClearanceReport:
        """Turn the needle about `axis` (3,) through its entry by `degrees`."""
        n = self._current()
        return self.set_needle(Needle(n.entry_lps, tilt(n.direction, axis, degrees), n.depth_mm, n.length_mm,
                                      n.gauge_mm))

    def aim_at(self, point) -> ClearanceReport:
        """Point the needle from its entry at `point` (3,), keeping its depth."""
        n = self._current()
        return self.set_needle(Needle(n.entry_lps, aim(n.entry_lps, point), n.depth_mm, n.length_mm, n.gauge_mm))

    def enter_at(self, point, normal) -> ClearanceReport:
        """Move the entry to skin `point` (3,), pointing straight in (against the outward `normal`)."""
        n = self._current()
        normal = np.asarray(normal, float)
        length = float(np.linalg.norm(normal))
        if not np.isfinite(length) or length == 0:
            raise NeedleError("the skin normal there is not defined")
        return self.set_needle(Needle(point, -normal / length, min(n.depth_mm, n.length_mm), n.length_mm,
                                      n.gauge_mm))

    def slide_entry(self, point) -> ClearanceReport:
        """Move the entry to skin `point` (3,), keeping the direction and the depth (a handle drag)."""
        n = self._current()
        return self.set_needle(Needle(point, n.direction, n.depth_mm, n.length_mm, n.gauge_mm))

    def set_size(self, size: str) -> ClearanceReport:
        """Change the needle to `size` ('0.30x50'), keeping entry and direction; depth within length."""
        gauge, length = needle_size(size)
        n = self._current()
        return self.set_needle(Needle(n.entry_lps, n.direction, min(n.depth_mm, length), length, gauge))

    # ----- pins -----------------------------------------------------------------------------------
    def pin(self) -> None:
        """Keep the current needle to compare with the next."""
        self.pinned.append(self._current())
        self.pins_changed.emit()

    def clear_pins(self) -> None:
        self.pinned, self._pin_reports = [], []
        self.pins_changed.emit()

    def set_pins(self, needles) -> None:
        self.pinned, self._pin_reports = list(needles), []
        self.pins_changed.emit()

    def pin_reports(self) -> list[tuple[Needle, ClearanceReport]]:
        """(needle, report) of every pinned needle; a pinned needle never moves, so its report is
        computed once."""
        cache = self._pin_reports
        if len(cache) > len(self.pinned) or any(a is not b for (a, _), b in zip(cache, self.pinned, strict=False)):
            cache = []
        cache = cache + [(n, self.engine.report(n)) for n in self.pinned[len(cache):]]
        self._pin_reports = cache
        return cache

    def compare_rows(self) -> list[tuple[str, list[str]]]:
        """The compare table: (level, cells) for the current needle, then each pin."""
        if self.report is None:
            return []
        needles = [("current", self.report)] + [(f"pin {k + 1}", rep) for k, (_, rep) in
                                                 enumerate(self.pin_reports())]
        return [(rep.level, readout.compare_cells(label, rep)) for label, rep in needles]

    # ----- exercises ------------------------------------------------------------------------------
    def start_exercise(self, path, pack: str | None = None) -> Exercise:
        """Open an exercise on its pack (or on `pack`, the same region in another habitus) with its
        start needle. Raises ExerciseError (a NeedleSafeError) naming the file; nothing changes then."""
        data = read_json(path, MAX_FILE_BYTES, error=ExerciseError, what="exercise")
        if not isinstance(data, dict):
            raise ExerciseError(f"{path}: an exercise file holds one JSON object")
        own = data.get("pack", "")
        if not isinstance(own, str) or not own:
            raise ExerciseError(f"{path}: 'pack' must name a pack")
        if pack is not None and not same_region(own, pack):
            raise ExerciseError(f"{path}: this exercise is on '{own}', not '{pack}'")
        try:
            prepared = self.prepare(pack or own)
        except PackError as exc:
            raise ExerciseError(f"{path}: its pack '{pack or own}' cannot be opened: {exc}") from exc
        try:
            ex = parse_exercise(data, prepared.scene, str(path))  # the file read above, not read again
            check_target(ex, prepared.engine)  # the target must be tissue in this pack: muscle, not bone or nerve
            start = self.exercise_start(prepared, ex)
        except (OSError, RecursionError) as exc:
            raise ExerciseError(f"{path}: {exc}") from exc
        self.install(prepared, start, exercise=ex, exercise_path=path)
        return ex

    @staticmethod
    def exercise_start(prepared: PreparedPack, ex: Exercise) -> Needle:
        """The exercise's first needle: on the skin along the exercise's start direction (default: from
        behind), else on the skin nearest its target; pointing at the target, not inserted."""
        start = start_needle(ex, prepared.engine)
        if start is not None:
            return start
        scene, target = prepared.scene, np.asarray(ex.target_point, float)
        skins = [s for s in scene.structures if s.role == "skin"]
        entry = None
        if skins:
            v = np.concatenate([s.vertices for s in skins])
            out = v[np.argmin(np.linalg.norm(v - target, axis=1))] - target
            if np.linalg.norm(out) > 0:
                entry = skin_entry(scene, target, from_direction=out / np.linalg.norm(out))
        if entry is None:
            entry = prepared.start.entry_lps
        return Needle(entry, aim(entry, target), 0.0, ex.needle_length_mm, ex.needle_gauge_mm)

    def exercise_camera(self):
        """The camera that faces the exercise's target from beside the start needle's line."""
        ex, n = self.exercise, self._current()
        if ex is None:
            raise ExerciseError("no exercise is in progress")
        bounds = self.scene.bounds()
        return camera.facing(bounds, ex.target_point, camera.beside(bounds, ex.target_point, n.entry_lps))

    def score(self) -> Score:
        """Score the current needle for the exercise in progress; the redirection count starts again."""
        if self.exercise is None or self.report is None:
            raise ExerciseError("no exercise is in progress")
        score = score_attempt(self.exercise, self.report, self.redirections, events=self.attempt_events)
        self.last_score = score
        self.last_events = list(self.attempt_events)
        now = self.clock()
        self.last_metrics = self.tracker.result(now, self.last_events) if self.tracker is not None else None
        self._next_attempt(now)
        return score

    def decline(self, reason: str) -> Score:
        """Decline to needle ("Do not needle here") for `reason` (an exercises.DECLINE_REASONS id): scored by
        `score_decline` and logged like an attempt (`log_attempt`); the attempt starts again."""
        if self.exercise is None or self.report is None:
            raise ExerciseError("no exercise is in progress")
        score = score_decline(self.exercise, reason)
        self.last_score, self.last_events = score, []
        self.last_metrics = None  # no needle went in: nothing to measure
        self._next_attempt(self.clock())
        return score

    def _next_attempt(self, now: float) -> None:
        """The exercise's next attempt starts from the current needle at `now` (seconds): its metrics,
        redirections and events start again."""
        if self.tracker is not None:
            self.tracker = self.tracker.next_attempt(now, self.needle, self.report)
        self.attempt_events, self._attempt_keys = [], set()

    @property
    def redirections(self) -> int:
        """Redirections of the attempt in progress: changes of angle of more than 5 degrees with the
        tip deeper than 2 mm, counted by its tracker (app/metrics.py); 0 outside an exercise."""
        return self.tracker.redirections if self.tracker is not None and self.exercise is not None else 0

    def log_attempt(self, student: str, score: Score) -> Path:
        """Append the scored attempt to `student`'s log; returns the log's path. Raises ExerciseError
        or OSError (the score stands either way). The record names the pack open (its habitus too),
        so a replay shows the attempt on the anatomy it was made on."""
        if self.exercise is None or self.report is None:
            raise ExerciseError("no exercise is in progress")
        path = log_path(student)
        record = attempt_record(student, self.exercise, self.report, score, self.last_events,
                                metrics=self.last_metrics)
        record["pack"] = self.pack_source
        append_attempt(path, record)
        return path

    def end_exercise(self) -> None:
        if self.exercise is not None:
            self.exercise, self.exercise_path, self.tracker = None, None, None
            self.exercise_changed.emit(None)

    def keeps_exercise(self, name: str) -> bool:
        """Does opening built-in `name` ('REGION:HABITUS') keep the exercise in progress? Yes for
        another habitus of the exercise's region (the exercise restarts on it), else the exercise ends."""
        ex = self.exercise
        return ex is not None and self.exercise_path is not None and same_region(ex.pack, name)

    def replay(self, record: dict) -> Needle:
        """Show an attempt's needle on its pack; raises NeedleSafeError when it cannot be replayed.
        Replaying on the exercise's own pack keeps the exercise."""
        try:
            pack = record.get("pack", "")
            if not isinstance(pack, str) or not pack:
                raise NeedleError("the attempt names no pack")
            needle = Needle.from_dict(record["needle"])
        except NeedleSafeError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise NeedleError(f"the attempt's needle is not readable: {exc}") from exc
        prepared = self.prepare(pack)
        keep = self.exercise if (prepared.key == self.pack_source and self.exercise is not None) else None
        self.install(prepared, needle, exercise=keep, exercise_path=self.exercise_path if keep else None)
        return needle

    # ----- scenarios: the session's saved state ----------------------------------------------------
    def scenario(self, camera_: dict | None = None) -> Scenario:
        return Scenario(self.pack_source, [self._current()] + list(self.pinned), camera_)

    def save_scenario(self, path, camera_: dict | None = None) -> Path:
        return save_scenario(self.scenario(camera_), path)

    def open_scenario(self, path) -> Scenario:
        """Open a scenario file: its pack, its needle and pins. Raises ScenarioError or PackError;
        nothing changes then. Returns the scenario (its camera is the view's to apply)."""
        sc = load_scenario(path)
        prepared = self.prepare(sc.pack)
        self.install(prepared, sc.needles[0])
        self.set_pins(sc.needles[1:])
        self.scenario_camera = sc.camera
        return sc

    # ----- safety maps ----------------------------------------------------------------------------
    def map_key(self, along_needle: bool) -> tuple:
        """The cache key of the safety map for the open pack: along each skin normal, or along the
        needle's direction (rounded to 1e-4)."""
        if not along_needle:
            return (self.pack_source, "normal")
        d = np.round(self._current().direction, 4)
        return (self.pack_source, tuple(float(x) for x in d))

    @staticmethod
    def map_direction(key: tuple):
        return "normal" if key[1] == "normal" else np.array(key[1])
