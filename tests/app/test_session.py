"""The session's rules, without a window: the needle (bone stop, clamps, moves), redirections, pins,
exercises and their log, replays, scenarios, safety-map keys, and the camera and readout helpers the
session uses. No Qt is imported here; the last test checks that the session's modules import none.

Prepared packs are cached by app/packs.py, so each test's fresh Session opens its pack at once after
the first time (the built-in gluteal, shoulder and gluteal:lean packs only: within the cache's four).
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from needlesafe.app import camera, readout
from needlesafe.app.attempt_log import read_attempts
from needlesafe.app.exercises import ExerciseError, builtin_exercises
from needlesafe.app.packs import prepare_pack
from needlesafe.app.scenario import ScenarioError
from needlesafe.app.session import FIRST_DEPTH_MM, Session, needle_name, needle_size
from needlesafe.geometry.needle import Needle, NeedleError
from needlesafe.geometry.report import format_mm
from needlesafe.geometry.safety_map import SafetyMap
from needlesafe.meshes.errors import NeedleSafeError, PackError

EXERCISES = {p.stem: p for p in builtin_exercises()}
PIRIFORMIS = EXERCISES["gluteal-piriformis"]


def degrees(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0))))


def across(direction) -> np.ndarray:
    """A unit axis perpendicular to `direction`, to tilt about."""
    k = np.cross(direction, (0.0, 0.0, 1.0))
    if np.linalg.norm(k) < 1e-6:
        k = np.cross(direction, (1.0, 0.0, 0.0))
    return k / np.linalg.norm(k)


def same_needle(a: Needle, b: Needle) -> bool:
    return (np.allclose(a.entry_lps, b.entry_lps, atol=1e-9) and np.allclose(a.direction, b.direction, atol=1e-12)
            and a.depth_mm == pytest.approx(b.depth_mm, abs=1e-9) and a.length_mm == b.length_mm
            and a.gauge_mm == b.gauge_mm)


class Events:
    """Every signal a session emits, in order: (name, payload)."""

    def __init__(self, session: Session):
        self.log = []
        session.scene_changed.connect(lambda prepared: self.log.append(("scene", prepared)))
        session.pins_changed.connect(lambda: self.log.append(("pins", None)))
        session.exercise_changed.connect(lambda ex: self.log.append(("exercise", ex)))
        session.needle_changed.connect(lambda report: self.log.append(("needle", report)))

    @property
    def names(self):
        return [name for name, _ in self.log]


def snapshot(s: Session) -> tuple:
    return (s.prepared, s.needle, s.report, list(s.pinned), s.exercise, s.exercise_path, s.redirections,
            s.scenario_camera, s.last_score)


def assert_unchanged(s: Session, before: tuple, events: Events) -> None:
    after = snapshot(s)
    assert all(a is b or a == b for a, b in zip(before, after, strict=True)), (before, after)
    assert all(a is b for a, b in zip(before[3], after[3], strict=True))
    assert events.log == []


@pytest.fixture
def session() -> Session:
    s = Session()
    s.open_pack("gluteal")
    return s


@pytest.fixture
def in_exercise() -> Session:
    s = Session()
    s.start_exercise(PIRIFORMIS)
    return s


def bone_stopped(s: Session):
    """The gluteal start needle, 100 mm long and pushed fully in: hip_bone stops it short."""
    s.set_size("0.30x100")
    return s.set_depth(100.0)


# ----- the open pack ----------------------------------------------------------------------------------

@pytest.mark.parametrize("size, depth", [("0.30x50", 15.0), ("0.25x25", 15.0), ("0.30x10", 10.0), ("0.35x12.5", 12.5)])
def test_open_pack_first_needle_and_signal_order(size, depth):
    s = Session()
    events = Events(s)
    prepared = s.open_pack("gluteal", size)
    gauge, length = needle_size(size)
    assert depth == min(FIRST_DEPTH_MM, length)
    n = s.needle
    assert (n.depth_mm, n.length_mm, n.gauge_mm) == (depth, length, gauge)
    assert np.allclose(n.entry_lps, prepared.start.entry_lps) and np.allclose(n.direction, prepared.start.direction)
    assert s.prepared is prepared and s.pack_source == "gluteal:average"
    assert s.scene is prepared.scene and s.engine is prepared.engine
    assert events.names == ["scene", "pins", "exercise", "needle"]
    assert events.log[0][1] is prepared and events.log[2][1] is None
    report = events.log[3][1]
    assert report is s.report and report.needle is s.needle
    # an alias opens the same cached pack
    assert s.open_pack("default").key == "gluteal:average" and s.prepared is prepared


@pytest.mark.parametrize("source, size, error", [
    ("nowhere", "0.30x50", PackError),
    ("gluteal:obese", "0.30x50", PackError),
    ("/nonexistent/needlesafe/pack", "0.30x50", PackError),
    ("shoulder", "0.30x9999", NeedleError),  # longer than any needle
    ("shoulder", "thin", NeedleError),
])
def test_a_pack_that_cannot_open_changes_nothing(session, source, size, error):
    session.pin()
    before, events = snapshot(session), Events(session)
    with pytest.raises(error):
        session.open_pack(source, size)
    assert_unchanged(session, before, events)


def test_nothing_moves_without_a_pack():
    s = Session()
    for move in (lambda: s.set_depth(10), lambda: s.push(1), lambda: s.pin(), lambda: s.set_size("0.30x50"),
                 lambda: s.set_needle(Needle((0, 0, 0), (0, 1, 0), 1.0))):
        with pytest.raises(PackError):
            move()
    assert s.needle is None and s.report is None and s.compare_rows() == []


# ----- the needle --------------------------------------------------------------------------------------

def test_needle_cannot_pass_through_bone(session):
    events = Events(session)
    report = bone_stopped(session)
    stop = report.path.stopped_by
    assert stop is not None and stop["name"] == "hip_bone"
    assert session.needle is report.needle and session.report is report
    assert session.needle.depth_mm == pytest.approx(stop["depth_mm"]) and session.needle.depth_mm < 100.0
    assert report.requested_depth_mm == 100.0
    assert events.log[-1] == ("needle", report)
    # set_needle with a deeper needle: the current needle is the effective one, not the asked-for one
    asked = session.needle.at_depth(95.0)
    report = session.set_needle(asked)
    assert session.needle is report.needle and session.needle.depth_mm == pytest.approx(stop["depth_mm"])
    assert events.log[-1][1].needle is session.needle
    # pushing on bone does not go deeper
    session.push(5.0)
    assert session.needle.depth_mm == pytest.approx(stop["depth_mm"])


def test_set_depth_and_push_keep_within_the_needle(session):
    assert session.set_depth(-5.0).needle.depth_mm == 0.0
    session.set_depth(15.0)
    assert session.push(-7.0).needle.depth_mm == pytest.approx(8.0)
    assert session.push(-100.0).needle.depth_mm == 0.0
    # pointing out of the body (posterior, no bone on that line): full length at most
    entry = session.needle.entry_lps
    session.set_needle(Needle(entry, (0.0, 1.0, 0.0), 0.0, 50.0, 0.30))
    assert session.set_depth(1e6).needle.depth_mm == 50.0
    assert session.push(10.0).needle.depth_mm == 50.0


def test_tilt_aim_enter_and_slide(session):
    n0 = session.needle
    axis = across(n0.direction)
    n = session.tilt(axis, 10.0).needle
    assert degrees(n.direction, n0.direction) == pytest.approx(10.0, abs=1e-6)
    assert np.allclose(n.entry_lps, n0.entry_lps) and n.depth_mm == n0.depth_mm
    assert abs(np.dot(n.direction, axis)) < 1e-9  # turned about the axis

    target = n0.entry_lps + np.array([10.0, -40.0, 5.0])
    n = session.aim_at(target).needle
    assert np.allclose(n.direction, (target - n0.entry_lps) / np.linalg.norm(target - n0.entry_lps))
    assert np.allclose(n.entry_lps, n0.entry_lps) and n.depth_mm == n0.depth_mm

    point = n0.entry_lps + np.array([6.0, 0.0, -4.0])
    n = session.enter_at(point, (0.0, 2.0, 0.0)).needle  # outward normal, not unit
    assert np.allclose(n.entry_lps, point) and np.allclose(n.direction, (0.0, -1.0, 0.0))
    assert n.depth_mm == n0.depth_mm and n.length_mm == n0.length_mm

    session.tilt(across(n.direction), 20.0)
    d = session.needle.direction
    point2 = point + np.array([-3.0, 0.0, 8.0])
    n = session.slide_entry(point2).needle
    assert np.allclose(n.entry_lps, point2) and np.allclose(n.direction, d) and n.depth_mm == n0.depth_mm


@pytest.mark.parametrize("move", [
    lambda s: s.enter_at(s.needle.entry_lps, (0.0, 0.0, 0.0)),
    lambda s: s.enter_at(s.needle.entry_lps, (0.0, float("nan"), 0.0)),
    lambda s: s.enter_at((float("nan"), 0.0, 0.0), (0.0, 1.0, 0.0)),
    lambda s: s.aim_at(s.needle.entry_lps),
    lambda s: s.slide_entry((1e9, 0.0, 0.0)),
    lambda s: s.set_size("abc"),
    lambda s: s.set_size("0.30x"),
    lambda s: s.set_size("0x50"),
    lambda s: s.set_size("nanx50"),
    lambda s: s.set_size("0.30x-5"),
], ids=["zero-normal", "nan-normal", "nan-point", "aim-at-entry", "far-entry", "abc", "no-length", "zero-gauge",
        "nan-gauge", "negative-length"])
def test_a_refused_move_changes_nothing(session, move):
    session.set_depth(12.0)
    before, events = snapshot(session), Events(session)
    with pytest.raises(NeedleError):
        move(session)
    assert_unchanged(session, before, events)


def test_set_size_keeps_entry_and_direction(session):
    session.tilt(across(session.needle.direction), 7.0)
    n0 = session.set_depth(30.0).needle
    n = session.set_size("0.25x25").needle
    assert (n.gauge_mm, n.length_mm, n.depth_mm) == (0.25, 25.0, 25.0)  # depth within the new length
    assert np.allclose(n.entry_lps, n0.entry_lps) and np.allclose(n.direction, n0.direction)
    n = session.set_size("0.30x75").needle
    assert (n.gauge_mm, n.length_mm, n.depth_mm) == (0.30, 75.0, 25.0)  # a longer needle keeps its depth
    n = session.set_size("0.35x60").needle
    assert (n.gauge_mm, n.length_mm) == (0.35, 60.0) and needle_name(n) == "0.35x60"
    assert np.allclose(n.entry_lps, n0.entry_lps) and np.allclose(n.direction, n0.direction)
    assert needle_size("0.30x50") == (0.30, 50.0) and needle_name(Needle((0, 0, 0), (0, 1, 0), 0, 50, 0.3)) == "0.30x50"


# ----- redirections --------------------------------------------------------------------------------------

def test_redirections_count_angle_changes_with_the_needle_in(in_exercise):
    s = in_exercise
    assert s.redirections == 0 and s.needle.depth_mm == 0.0
    s.tilt(across(s.needle.direction), 30.0)  # aiming before the first insertion is free
    s.set_depth(10.0)  # the first needle in sets the reference
    assert s.redirections == 0
    axis = across(s.needle.direction)
    s.tilt(axis, 4.0)  # 4 degrees: not a redirection
    assert s.redirections == 0
    s.tilt(axis, 4.0)  # 8 degrees from the reference: one
    assert s.redirections == 1
    s.tilt(axis, 10.0)
    assert s.redirections == 2
    s.push(5.0)  # in and out along the same line: none
    s.push(-3.0)
    assert s.redirections == 2
    # withdrawn to 2 mm or less, changes of angle do not count ...
    s.set_depth(2.0)
    s.tilt(axis, 20.0)
    s.set_depth(1.0)
    s.tilt(axis, -40.0)
    assert s.redirections == 2
    # ... until the needle goes in again along the new line (20 degrees off the last reference): one more
    s.set_depth(10.0)
    assert s.redirections == 3
    score = s.score()  # the score takes the count, which starts again
    assert score.redirections == 3 and s.redirections == 0
    s.tilt(axis, 10.0)  # the first needle in after the score sets the reference again
    assert s.redirections == 0
    s.tilt(axis, 10.0)
    assert s.redirections == 1


def test_nothing_counts_outside_an_exercise(session):
    session.set_depth(10.0)
    axis = across(session.needle.direction)
    for _ in range(3):
        session.tilt(axis, 20.0)
    assert session.exercise is None and session.redirections == 0


# ----- pins ----------------------------------------------------------------------------------------------

def test_pins_and_their_reports(session, monkeypatch):
    engine = session.engine
    calls = []
    real_report = engine.report
    monkeypatch.setattr(engine, "report", lambda n: calls.append(n) or real_report(n))
    events = Events(session)
    first = session.needle
    session.pin()
    assert events.names == ["pins"] and session.pinned == [first]
    reps = session.pin_reports()
    assert len(reps) == 1 and reps[0][0] is first and len(calls) == 1
    assert reps[0][1].needle is first or same_needle(reps[0][1].needle, first)
    again = session.pin_reports()
    assert again[0][1] is reps[0][1] and len(calls) == 1  # computed once
    session.set_depth(25.0)
    calls.clear()
    session.pin()
    reps2 = session.pin_reports()
    assert len(reps2) == 2 and reps2[0][1] is reps[0][1] and len(calls) == 1  # only the new pin
    assert reps2[1][0] is session.needle

    rows = session.compare_rows()
    assert len(rows) == 3
    assert rows[0] == (session.report.level, readout.compare_cells("current", session.report))
    for k, (level, cells) in enumerate(rows[1:]):
        assert level == reps2[k][1].level and cells == readout.compare_cells(f"pin {k + 1}", reps2[k][1])
    assert [cells[0].split(":")[0] for _, cells in rows] == ["current", "pin 1", "pin 2"]
    assert all(len(cells) == len(readout.COMPARE_HEADERS) for _, cells in rows)
    assert rows[0][1][0] == "current: 0.30×50, 25.0 mm in" and rows[1][1][0] == "pin 1: 0.30×50, 15.0 mm in"

    events.log.clear()
    session.clear_pins()
    assert events.names == ["pins"] and session.pinned == [] and session.pin_reports() == []
    assert len(session.compare_rows()) == 1

    calls.clear()
    a, b = first, first.at_depth(5.0)
    session.set_pins([a, b])
    assert events.names == ["pins", "pins"] and session.pinned == [a, b]
    assert [n for n, _ in session.pin_reports()] == [a, b] and len(calls) == 2
    session.pin_reports()
    assert len(calls) == 2


def test_another_pack_clears_the_pins(session):
    session.pin()
    session.pin_reports()
    events = Events(session)
    session.open_pack("shoulder")
    assert session.pinned == [] and session.pin_reports() == [] and len(session.compare_rows()) == 1
    assert "pins" in events.names


# ----- exercises -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("stem", ["gluteal-piriformis", "shoulder-upper-trapezius", "shoulder-anterior-scalene"])
def test_start_exercise_opens_its_pack_with_the_start_needle(stem):
    path = EXERCISES[stem]
    s = Session()
    events = Events(s)
    ex = s.start_exercise(path)
    region = ex.pack.partition(":")[0]
    assert s.exercise is ex and s.exercise_path == Path(path) and s.pack_source == f"{region}:average"
    assert events.names == ["scene", "pins", "exercise", "needle"] and events.log[2][1] is ex
    tp = next(t for t in s.scene.trigger_points if t.name == ex.target_name)
    assert np.allclose(ex.target_point, tp.point)
    n = s.needle
    assert n.depth_mm == 0.0 and (n.length_mm, n.gauge_mm) == (ex.needle_length_mm, ex.needle_gauge_mm)
    to_target = ex.target_point - n.entry_lps
    assert degrees(n.direction, to_target / np.linalg.norm(to_target)) < 1e-6  # aimed at the target
    # on the skin: the line back from the target leaves the body right at the entry
    assert s.engine.distance_to_skin(ex.target_point, -n.direction) == pytest.approx(np.linalg.norm(to_target),
                                                                                      abs=1e-6)
    if ex.start_direction != (0.0, -1.0, 0.0):
        d = np.asarray(ex.start_direction, float)
        assert np.allclose(n.direction, d / np.linalg.norm(d))
    other = "shoulder" if region == "gluteal" else "gluteal"
    assert s.keeps_exercise(f"{region}:lean") and s.keeps_exercise(region)
    assert not s.keeps_exercise(f"{other}:average") and not s.keeps_exercise(other)
    # the exercise camera looks at the target
    position, focal, _ = s.exercise_camera()
    assert np.allclose(focal, ex.target_point) and np.linalg.norm(np.subtract(position, focal)) > 0


def test_keeps_exercise_is_false_without_one(session):
    assert not session.keeps_exercise("gluteal:lean") and not Session().keeps_exercise("gluteal")


def test_start_exercise_on_another_habitus():
    s = Session()
    ex = s.start_exercise(PIRIFORMIS, pack="gluteal:lean")
    assert s.pack_source == "gluteal:lean" and ex.pack == "gluteal" and s.exercise is ex
    tp = next(t for t in s.scene.trigger_points if t.name == ex.target_name)
    assert np.allclose(ex.target_point, tp.point)  # the lean habitus's own target
    assert s.keeps_exercise("gluteal:high") and s.keeps_exercise("gluteal:average")
    to_target = ex.target_point - s.needle.entry_lps
    assert s.needle.depth_mm == 0.0 and degrees(s.needle.direction, to_target / np.linalg.norm(to_target)) < 1e-6


def _broken(tmp_path, change):
    data = json.loads(PIRIFORMIS.read_text())
    if callable(change):
        text = change(data)
    else:
        data.update(change)
        text = json.dumps(data)
    p = tmp_path / "broken.json"
    p.write_text(text)
    return p


@pytest.mark.parametrize("change, pack, message", [
    (lambda d: "{ not json", None, "broken.json"),
    (lambda d: json.dumps([d]), None, "one JSON object"),
    (lambda d: json.dumps({k: v for k, v in d.items() if k != "pack"}), None, "'pack' must name a pack"),
    ({"pack": "nowhere"}, None, "cannot be opened"),
    ({"pack": "gluteal:obese"}, None, "cannot be opened"),
    ({"target": {"trigger_point": "nowhere"}}, None, "no trigger point"),
    ({"format": "something-else"}, None, "not a NeedleSafe exercise"),
    ({}, "shoulder", "not 'shoulder'"),
    ({}, "shoulder:lean", "not 'shoulder:lean'"),
    ({}, "nowhere", "not 'nowhere'"),
], ids=["bad-json", "a-list", "no-pack", "unknown-pack", "unknown-habitus", "unknown-target", "wrong-format",
        "other-region", "other-region-habitus", "unknown-pack-argument"])
def test_a_broken_exercise_changes_nothing(in_exercise, tmp_path, change, pack, message):
    s = in_exercise
    s.set_depth(10.0)
    s.pin()
    before, events = snapshot(s), Events(s)
    with pytest.raises(ExerciseError, match=message):
        s.start_exercise(_broken(tmp_path, change), pack=pack)
    assert_unchanged(s, before, events)


def test_a_missing_exercise_file_changes_nothing(session, tmp_path):
    before, events = snapshot(session), Events(session)
    with pytest.raises(ExerciseError):
        session.start_exercise(tmp_path / "absent.json")
    assert_unchanged(session, before, events)


def test_score_and_log_attempts(in_exercise, tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    s = in_exercise
    s.set_depth(20.0)
    score = s.score()
    assert s.last_score is score and 0 <= score.score <= 100
    path = s.log_attempt("Ana", score)
    assert path == tmp_path / "Ana.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["student"] == "Ana" and rec["exercise"] == s.exercise.id and rec["pack"] == "gluteal:average"
    assert rec["score"] == json.loads(json.dumps(score.to_dict()))
    assert same_needle(Needle.from_dict(rec["needle"]), s.needle) and rec["level"] == s.report.level
    s.push(5.0)
    s.log_attempt("Ana", s.score())
    attempts, problems = read_attempts(path)
    assert len(path.read_text().splitlines()) == 2 and len(attempts) == 2 and problems == []
    assert attempts[1]["needle"]["depth_mm"] == pytest.approx(25.0)
    with pytest.raises(ExerciseError):
        s.log_attempt("  ", score)


def test_score_and_log_need_an_exercise(session, tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    with pytest.raises(ExerciseError):
        session.score()
    with pytest.raises(ExerciseError):  # not an AttributeError from the missing exercise
        session.log_attempt("Ana", None)
    assert list(tmp_path.iterdir()) == []


def test_end_exercise(in_exercise):
    s = in_exercise
    events = Events(s)
    s.end_exercise()
    assert events.log == [("exercise", None)]
    assert s.exercise is None and s.exercise_path is None and not s.keeps_exercise("gluteal")
    s.end_exercise()  # nothing in progress: no signal
    assert events.log == [("exercise", None)]
    with pytest.raises(ExerciseError):
        s.score()


# ----- replaying an attempt -------------------------------------------------------------------------------

def _record(s: Session, pack: str, needle: Needle) -> dict:
    return {"exercise": "gluteal-piriformis", "pack": pack,
            "needle": {k: v for k, v in needle.to_dict().items() if k != "tip_lps"}}


def test_replay_on_the_exercise_pack_keeps_the_exercise(in_exercise, tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    s = in_exercise
    ex, ex_path = s.exercise, s.exercise_path
    s.set_depth(20.0)
    attempted = s.needle
    rec = json.loads(s.log_attempt("Ana", s.score()).read_text())
    s.tilt(across(s.needle.direction), 15.0)
    events = Events(s)
    needle = s.replay(rec)
    assert same_needle(needle, attempted) and same_needle(s.needle, attempted)
    assert s.exercise is ex and s.exercise_path == ex_path and s.pack_source == "gluteal:average"
    assert events.names == ["scene", "pins", "exercise", "needle"] and events.log[2][1] is ex


def test_an_attempt_on_another_habitus_replays_on_it(tmp_path, monkeypatch):
    """The log names the habitus the attempt was made on: a lean attempt replays on the lean body
    (not the exercise file's default habitus) and keeps the exercise."""
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    s = Session()
    ex = s.start_exercise(PIRIFORMIS, pack="gluteal:lean")
    s.set_depth(20.0)
    attempted = s.needle
    rec = json.loads(s.log_attempt("Ana", s.score()).read_text())
    assert rec["pack"] == "gluteal:lean"
    s.push(-10.0)
    s.replay(rec)
    assert s.pack_source == "gluteal:lean" and s.exercise is ex and same_needle(s.needle, attempted)
    fresh = Session()
    fresh.replay(rec)
    assert fresh.pack_source == "gluteal:lean" and fresh.exercise is None and same_needle(fresh.needle, attempted)


def test_replay_on_another_pack_ends_the_exercise(in_exercise):
    s = in_exercise
    other = prepare_pack("shoulder").start
    events = Events(s)
    s.replay(_record(s, "shoulder", other))
    assert s.exercise is None and s.exercise_path is None and s.pack_source == "shoulder:average"
    assert ("exercise", None) in events.log and same_needle(s.needle, s.report.needle)


@pytest.mark.parametrize("change, error", [
    ({"pack": None}, NeedleError),
    ({"pack": ""}, NeedleError),
    ({"pack": 3}, NeedleError),
    ({"needle": None}, NeedleError),
    ({"needle": "x"}, NeedleError),
    ({"needle": {"entry_lps": [0, 0, 0]}}, NeedleError),
    ({"needle": {"entry_lps": [float("nan"), 0, 0], "direction": [0, -1, 0], "depth_mm": 5}}, NeedleError),
    ({"needle": {"entry_lps": [0, 0, 0], "direction": [0, 0, 0], "depth_mm": 5}}, NeedleError),
    ({"needle": {"entry_lps": [0, 0, 0], "direction": [0, -1, 0], "depth_mm": 80, "length_mm": 50}}, NeedleError),
    ({"pack": "nowhere"}, PackError),
], ids=["no-pack", "empty-pack", "number-pack", "no-needle", "text-needle", "incomplete", "nan-entry",
        "zero-direction", "deeper-than-long", "unknown-pack"])
def test_a_record_that_cannot_be_replayed_changes_nothing(in_exercise, change, error):
    s = in_exercise
    rec = _record(s, "gluteal", s.needle)
    rec.update(change)
    if change.get("pack", 0) is None:
        del rec["pack"]
    before, events = snapshot(s), Events(s)
    with pytest.raises(error) as info:
        s.replay(rec)
    assert isinstance(info.value, NeedleSafeError)
    assert_unchanged(s, before, events)


def test_replay_refuses_a_record_that_is_not_an_object(session):
    before, events = snapshot(session), Events(session)
    with pytest.raises(NeedleSafeError):
        session.replay(["gluteal"])
    assert_unchanged(session, before, events)


# ----- scenarios -------------------------------------------------------------------------------------------

def test_scenario_round_trip(tmp_path):
    s = Session()
    s.open_pack("gluteal:lean", "0.30x60")
    s.set_depth(20.0)
    s.pin()
    s.tilt(across(s.needle.direction), 12.0)
    s.pin()
    s.push(6.0)
    cam = camera.camera_dict(*camera.preset(s.scene.bounds(), "posterior"))
    path = s.save_scenario(tmp_path / "lesson.json", cam)

    fresh = Session()
    events = Events(fresh)
    sc = fresh.open_scenario(path)
    assert fresh.pack_source == "gluteal:lean" == sc.pack
    assert same_needle(fresh.needle, s.needle) and fresh.report.needle is fresh.needle
    assert len(fresh.pinned) == 2 and all(same_needle(a, b) for a, b in zip(fresh.pinned, s.pinned, strict=True))
    assert fresh.scenario_camera == cam and sc.camera == cam
    assert events.names[:4] == ["scene", "pins", "exercise", "needle"] and events.names[-1] == "pins"
    assert [n for n, _ in fresh.pin_reports()] == fresh.pinned
    # without a camera
    fresh.save_scenario(tmp_path / "plain.json")
    again = Session()
    again.open_scenario(tmp_path / "plain.json")
    assert again.scenario_camera is None and same_needle(again.needle, fresh.needle)


@pytest.mark.parametrize("text, error", [
    ("{", ScenarioError),
    ('{"format": "needlesafe-scenario", "version": 2, "pack": "gluteal", "needles": []}', ScenarioError),
    ('{"format": "needlesafe-scenario", "version": 1, "pack": "gluteal", "needles": []}', ScenarioError),
    ('{"format": "needlesafe-scenario", "version": 1, "pack": "gluteal", '
     '"needles": [{"entry_lps": [0, 0, 0], "direction": [0, 0, 0], "depth_mm": 1}]}', ScenarioError),
    ('{"format": "needlesafe-scenario", "version": 1, "pack": "gluteal", '
     '"needles": [{"entry_lps": [0, 0, 0], "direction": [0, -1, 0], "depth_mm": 1}], "camera": {"position": 1}}',
     ScenarioError),
    ('{"format": "needlesafe-scenario", "version": 1, "pack": "nowhere", '
     '"needles": [{"entry_lps": [0, 0, 0], "direction": [0, -1, 0], "depth_mm": 1}]}', PackError),
], ids=["bad-json", "version", "no-needles", "zero-direction", "bad-camera", "unknown-pack"])
def test_a_corrupt_scenario_changes_nothing(session, tmp_path, text, error):
    session.pin()
    session.scenario_camera = {"position": [1.0, 2.0, 3.0], "focal_point": [0.0, 0.0, 0.0], "view_up": [0, 0, 1]}
    p = tmp_path / "bad.json"
    p.write_text(text)
    before, events = snapshot(session), Events(session)
    with pytest.raises(error):
        session.open_scenario(p)
    assert_unchanged(session, before, events)


# ----- safety-map keys ---------------------------------------------------------------------------------------

def test_map_keys(session):
    assert session.map_key(False) == ("gluteal:average", "normal")
    assert session.map_direction(session.map_key(False)) == "normal"
    key = session.map_key(True)
    assert key[0] == "gluteal:average" and key[1] == tuple(np.round(session.needle.direction, 4))
    assert all(type(x) is float for x in key[1]) and hash(key) is not None
    assert np.array_equal(session.map_direction(key), np.array(key[1]))
    # the start needle points straight anterior: a hair's tilt rounds to the same key, ten degrees do not
    assert np.allclose(session.needle.direction, (0.0, -1.0, 0.0))
    session.tilt((1.0, 0.0, 0.0), 0.001)
    assert session.map_key(True) == key
    session.tilt((1.0, 0.0, 0.0), 10.0)
    moved = session.map_key(True)
    assert moved != key and moved[1] == tuple(np.round(session.needle.direction, 4))
    assert session.map_key(False) == ("gluteal:average", "normal")  # along the normals: one map per pack
    session.open_pack("shoulder")
    assert session.map_key(False) == ("shoulder:average", "normal")


# ----- camera placements ----------------------------------------------------------------------------------------

BOUNDS = np.array([[-100.0, -50.0, 0.0], [100.0, 150.0, 300.0]])
CENTRE = BOUNDS.mean(axis=0)


def unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("view", [*camera.VIEWS, "reset"])
def test_preset_looks_along_its_view(view):
    position, focal, up = camera.preset(BOUNDS, view)
    along, view_up = camera.VIEWS["oblique" if view == "reset" else view]
    assert np.allclose(focal, CENTRE)
    assert np.allclose(unit(np.subtract(position, focal)), unit(along))
    assert np.linalg.norm(np.subtract(position, focal)) > np.linalg.norm(BOUNDS[1] - BOUNDS[0])  # outside the box
    assert tuple(up) == tuple(view_up)
    assert set(camera.CAMERA_BUTTONS) <= set(camera.VIEWS) | {"reset"}


def test_facing_puts_the_camera_on_the_eye_side():
    target = np.array([20.0, 30.0, 100.0])
    eye = target + np.array([0.0, 80.0, 10.0])
    position, focal, up = camera.facing(BOUNDS, target, eye)
    assert np.allclose(focal, target)
    assert np.allclose(unit(np.subtract(position, target)), unit(eye - target))
    assert np.dot(np.subtract(position, target), eye - target) > 0
    assert up == (0.0, 0.0, 1.0)
    _, _, up = camera.facing(BOUNDS, target, target + (0.0, 0.0, 50.0))  # from straight above: y is up
    assert up == (0.0, 1.0, 0.0)
    assert camera.camera_dict(*camera.facing(BOUNDS, target, eye))["focal_point"] == [20.0, 30.0, 100.0]


@pytest.mark.parametrize("target, entry", [
    ((60.0, 50.0, 150.0), (60.0, 120.0, 150.0)),  # right of centre, entered from behind
    ((-60.0, 50.0, 150.0), (-60.0, 120.0, 150.0)),  # left of centre
    ((60.0, 50.0, 150.0), (80.0, 110.0, 170.0)),  # an oblique line
    ((60.0, 50.0, 150.0), (60.0, 50.0, 250.0)),  # from straight above
])
def test_beside_is_40_degrees_off_the_line_on_the_outside(target, entry):
    target, entry = np.asarray(target), np.asarray(entry)
    eye = camera.beside(BOUNDS, target, entry)
    out = unit(entry - target)
    assert degrees(unit(eye - target), out) == pytest.approx(40.0, abs=1e-9)
    assert np.linalg.norm(eye - target) == pytest.approx(100.0)
    side = (eye - target) - np.dot(eye - target, out) * out  # the turn, off the line
    assert np.dot(side, target - CENTRE) >= 0  # toward the outside of the body, never into it
    if abs(out[2]) < 0.9:
        assert np.dot(side, target - CENTRE) > 0
    assert degrees(unit(camera.beside(BOUNDS, target, entry, 25.0) - target), out) == pytest.approx(25.0, abs=1e-9)


# ----- readout sentences -------------------------------------------------------------------------------------------

def test_depth_label_and_firm_stop(session):
    free = session.report
    assert free.path.stopped_by is None
    assert readout.depth_label(free) == " 15.0 / 50 mm "
    assert readout.firm_stop_message(free) is None
    assert "firm stop" not in readout.needle_sentence(free)
    stopped = bone_stopped(session)
    depth = stopped.needle.depth_mm
    assert readout.depth_label(stopped) == f" {format_mm(depth, 1)} / 100 mm (bone) "
    assert readout.firm_stop_message(stopped) == "firm stop: hip bone"
    assert "firm stop: stopped on hip_bone" in readout.needle_sentence(stopped)
    assert "asked for 100 mm" in readout.needle_sentence(stopped)


def test_hover_text(session):
    scene = session.scene
    assert readout.hover_text(scene, "trigger:piriformis") == "piriformis trigger point (click to aim)"
    assert readout.hover_text(scene, "landmark:PSIS") == "landmark: PSIS"
    assert readout.hover_text(scene, "sciatic_nerve") == "sciatic nerve (nerve, danger structure)"
    assert readout.hover_text(scene, "hip_bone") == "hip bone (bone)"
    assert readout.hover_text(scene, "gluteus_maximus") == "gluteus maximus (muscle)"


def test_map_summary_counts():
    n = 1234
    safe = np.full(n, 80.0)
    bone = np.full(n, np.inf)
    exit_mm = np.full(n, np.inf)
    safe[:10] = 20.0  # a margin at 20 mm: unsafe for 50 mm
    bone[10:20], safe[10:20] = 30.0, 40.0  # bone at 30 mm before the margin at 40 mm: safe (the needle stops)
    safe[20:1020] = 100.0
    exit_mm[1020:1025], safe[1020:1025] = 5.0, 5.0  # the line leaves the body at 5 mm: not modelled, unsafe
    smap = SafetyMap("test", "normal", np.zeros((n, 3)), np.zeros((n, 3)), safe, bone, np.full(n, -1), [], 100.0,
                     0.15, exit_mm)
    assert int(smap.danger_zone(50.0).sum()) == 15 and int(smap.not_modelled.sum()) == 5
    assert readout.map_summary(smap, 50.0) == (
        "Safety map: 15 of 1,234 skin points are unsafe for a 50 mm needle (outlined); 5 not modelled (grey)")
    assert readout.map_summary(smap, 90.0).startswith("Safety map: 224 of 1,234")  # the 80 mm margins too


# ----- layers ---------------------------------------------------------------------------------------------------------

def test_the_session_imports_no_qt_and_no_vtk():
    code = ("import sys\n"
            "import needlesafe.app.session, needlesafe.app.packs, needlesafe.app.camera, needlesafe.app.readout\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in\n"
            "             ('PySide6', 'PyQt5', 'PyQt6', 'qtpy', 'pyvistaqt', 'pyqtgraph', 'superqt', 'vtk',\n"
            "              'vtkmodules', 'pyvista'))\n"
            "print(' '.join(bad))\n"
            "assert 'needlesafe.app.session' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"the session's modules import {done.stdout.strip()}"


def test_prepared_pack_makes_its_engine_on_first_use_and_a_failure_changes_nothing(monkeypatch):
    """A prepared pack is its scene; the engine (numba's kernels) comes when first asked for, so the
    window can draw the anatomy first. An engine that cannot be made is a PackError naming the pack,
    and the session keeps the pack it had."""
    from needlesafe.app import packs
    from needlesafe.geometry import clearance

    packs.forget_prepared()
    prepared = prepare_pack("gluteal")
    assert not prepared.engine_ready and prepared.scene.structures
    s = Session()
    s.open_pack("shoulder")
    before = (s.prepared, s.needle, s.report)

    def broken(*_a, **_k):
        raise ValueError("index could not be built")

    monkeypatch.setattr(clearance, "ClearanceEngine", broken)
    with pytest.raises(PackError, match="gluteal.*index could not be built"):
        s.open_pack("gluteal")
    assert (s.prepared, s.needle, s.report) == before and not prepared.engine_ready
    monkeypatch.undo()
    s.open_pack("gluteal")
    assert prepared.engine_ready and s.engine is prepared.engine and s.report is not None


def test_events_fire_once_per_pass_and_a_nerve_contact_fails_the_attempt():
    """The session computes the patient's responses with each move: each event once per pass (the
    same line), new ones signalled; in an exercise the attempt keeps its whole history, so a nerve
    touched and then withdrawn from still fails the attempt, with the event in the log record."""
    from needlesafe.app.attempt_log import attempt_record
    from needlesafe.app.exercises import builtin_exercises

    path = next(p for p in builtin_exercises() if p.name == "gluteal-gluteus-medius.json")
    s = Session()
    ex = s.start_exercise(path)
    fired = []
    s.events_changed.connect(fired.append)
    from needlesafe.app.exercise_check import mistake_needle

    mistake = mistake_needle(ex, s.engine)
    s.set_needle(mistake)
    kinds = [e.kind for e in s.events]
    assert "nerve_contact" in kinds and fired and fired[-1] == s.events
    depths = [e.depth_mm for e in s.events]
    assert depths == sorted(depths)
    fired.clear()
    s.set_needle(mistake)  # the same needle again: nothing new on this pass
    assert fired == []
    back = mistake.at_depth(5.0)  # pulled back clear of the nerve on the same line
    s.set_needle(back)
    assert "nerve_contact" not in [e.kind for e in s.events]
    assert "nerve_contact" in [e.kind for e in s.attempt_events]
    score = s.score()
    assert not score.passed and not score.clearance_ok and "nerve_contact" in score.harmed
    assert any("sciatic" in line and "nerve contact" in line for line in score.feedback)
    record = attempt_record("ann", ex, s.report, score, s.last_events)
    assert [e["kind"] for e in record["events"]] == [e.kind for e in s.last_events]
    assert s.attempt_events == []  # the next attempt starts afresh


def test_a_twitch_is_credited_and_a_harmless_history_keeps_the_score():
    """Scoring with events: a twitch is credited in the feedback; a nerve margin (felt, not harmful)
    costs nothing beyond the clearance rule; a pleura puncture anywhere in the history fails."""
    from needlesafe.app.exercises import score_attempt
    from needlesafe.geometry.events import Event

    path = next(p for p in builtin_exercises() if p.name == "gluteal-gluteus-medius.json")
    s = Session()
    ex = s.start_exercise(path)
    s.set_needle(s.needle.at_depth(0.0))
    base = score_attempt(ex, s.report, 0)
    twitch = Event("twitch", "gluteus_medius", 30.0, "A local twitch.")
    margin = Event("nerve_margin", "sciatic_nerve", 40.0, "A sharp, electric sensation.")
    pleura = Event("pleura_puncture", "pleura", 41.0, "No pain now.")
    credited = score_attempt(ex, s.report, 0, events=[twitch, margin])
    assert credited.twitch and not base.twitch and credited.score == base.score
    assert any("twitch" in line for line in credited.feedback) and credited.harmed == []
    hurt = score_attempt(ex, s.report, 0, events=[twitch, pleura])
    assert not hurt.passed and not hurt.clearance_ok and hurt.harmed == ["pleura_puncture"]
    assert any("41.0 mm" in line and "pleura puncture" in line for line in hurt.feedback)
