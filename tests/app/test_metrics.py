"""Grading metrics (app/metrics.py) against hand-computed attempt histories, the Session's feeding of
the tracker on a built-in pack, and the metrics in the log."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from needlesafe.app.metrics import AttemptTracker, ceil2, floor2, metrics_line, reference_trajectory
from needlesafe.geometry.needle import Needle

S10, C10 = math.sin(math.radians(10)), math.cos(math.radians(10))


def row(name, dist, margin, penetrated=False):
    return SimpleNamespace(name=name, shaft_distance_mm=dist, margin_mm=margin, penetrated=penetrated)


def report(nerve, vessel):
    return SimpleNamespace(structures=[row("nerve", nerve, 5.0), row("vessel", vessel, 3.0)])


def needle(depth, direction=(0.0, 0.0, 1.0), entry=(0.0, 0.0, 0.0)):
    return Needle(entry, direction, depth, 50.0, 0.3)


def tracker(**kw):
    """Start needle at the origin, target 30 mm straight in (+z): reference depth 30, tolerance 8;
    the exercise asks 6 mm from the nerve (its own margin is 5)."""
    start = needle(0.0)
    return AttemptTracker((0.0, 0.0, 30.0), 8.0, reference_trajectory(start, (0.0, 0.0, 30.0)),
                          {"nerve": 6.0, **kw})


def test_reference_is_the_start_line_to_the_target():
    entry, d, depth = reference_trajectory(needle(0.0, entry=(1.0, 2.0, 3.0)), (4.0, 6.0, 3.0))
    assert entry == [1.0, 2.0, 3.0] and d == pytest.approx([0.6, 0.8, 0.0]) and depth == pytest.approx(5.0)
    assert reference_trajectory(None, (0, 0, 0)) is None
    assert reference_trajectory(needle(0.0), (0.0, 0.0, 0.0)) is None


def test_a_redirected_attempt_through_a_margin():
    """t=0 on the skin; t=1 in to 10 mm; t=3 to 20 mm, 4 mm from the nerve (needs 6: intrusion 2);
    t=4 tilted 10 degrees (a redirection), the vessel's distance unknown (contact: intrusion 3);
    t=6 the same needle again; t=7 straight again to 31 mm (a second redirection), clear; scored at 10."""
    tr = tracker()
    tilted = (S10, 0.0, C10)
    tr.add(0.0, needle(0.0), report(12.0, 20.0))
    tr.add(1.0, needle(10.0), report(8.0, 15.0))
    tr.add(3.0, needle(20.0), report(4.0, 12.0))
    tr.add(4.0, needle(20.0, tilted), report(7.0, None))
    tr.add(6.0, needle(20.0, tilted), report(7.0, None))
    tr.add(7.0, needle(31.0), report(6.5, 9.0))
    events = [SimpleNamespace(kind="vessel_puncture"), SimpleNamespace(kind="twitch")]
    m = tr.result(10.0, events)
    # path: 10 + 10, the 10-degree chord at 20 mm (2 * 20 * sin 5deg = 3.4862), then from
    # (20 sin10, 0, 20 cos10) = (3.4730, 0, 19.6962) to (0, 0, 31): sqrt(3.4730^2 + 11.3038^2) = 11.8253
    assert m["path_mm"] == 35.32
    line = metrics_line(m)
    assert "not a first pass, 2 redirection(s), 6.00 s" in line and "depth error +1.00 mm" in line
    assert "4.00 s inside a margin (deepest 3.00 mm)" in line and metrics_line(None) == ""
    assert m == {
        "first_pass": False,  # the tip is 1 mm from the target, but after two redirections
        "redirections": 2,
        "time_s": 6.0,  # first insertion at 1 s, final position at 7 s
        "depth_error_mm": 1.0,  # 31 - 30
        "angle_error_deg": 0.0,
        "path_mm": 35.32,
        "margin_time_s": 4.0,  # inside from 3 to 7 s (the nerve, then the unknown vessel)
        "deepest_intrusion_mm": 3.0,  # the vessel's margin 3 - distance 0 (unknown)
        "near_misses": {"nerve": 4.0, "vessel": 0.0},  # the skin sample at t=0 does not count
        "events": {"twitch": 1, "vessel_puncture": 1},
    }


def test_a_first_pass_attempt_and_rounding_toward_danger():
    """Straight in to 15 then 28 mm (2 mm short: depth error -2.00), then a 3-degree tilt (no
    redirection); the nerve at 7.129 mm reads 7.12, an intrusion of 6 - 4.129 = 1.871 reads 1.88."""
    tr = tracker()
    a = math.radians(3.0)
    tr.add(100.0, needle(0.0), report(30.0, 30.0))
    tr.add(102.5, needle(15.0), report(7.129, 30.0))
    tr.add(104.0, needle(28.0), report(4.129, 30.0))
    tr.add(105.25, needle(28.0, (math.sin(a), 0.0, math.cos(a))), report(7.5, 30.0))
    m = tr.result(106.0)
    assert m["first_pass"] is True and m["redirections"] == 0
    assert m["time_s"] == 2.75  # 102.5 to 105.25
    assert m["depth_error_mm"] == -2.0 and m["angle_error_deg"] == 3.0
    assert m["near_misses"] == {"nerve": 4.12, "vessel": 30.0}
    assert m["deepest_intrusion_mm"] == 1.88
    assert m["margin_time_s"] == 1.25  # 104 to 105.25
    # 15 + 13 + the 3-degree chord at 28 mm: 2 * 28 * sin(1.5deg) = 1.46577 -> 29.47 up
    assert m["path_mm"] == ceil2(28.0 + 2 * 28.0 * math.sin(math.radians(1.5))) == 29.47
    assert m["events"] == {}


def test_rounding_helpers():
    assert floor2(2.3) == 2.3 and floor2(4.129) == 4.12 and floor2(4.1299) == 4.12
    assert ceil2(1.871) == 1.88 and ceil2(1.5) == 1.5 and ceil2(0.0) == 0.0


def test_nothing_inserted_and_a_penetration():
    tr = tracker()
    tr.add(0.0, needle(0.0), report(1.0, 1.0))  # on the skin: no time, no near miss, no margin
    m = tr.result(5.0)
    assert m["time_s"] is None and m["near_misses"] == {} and m["margin_time_s"] == 0.0 and m["path_mm"] == 0.0
    assert m["first_pass"] is False and m["depth_error_mm"] == -30.0
    tr.add(1.0, needle(5.0), SimpleNamespace(structures=[row("nerve", 0.7, 5.0, penetrated=True)]))
    m = tr.result(2.5)
    assert m["near_misses"] == {"nerve": 0.0} and m["deepest_intrusion_mm"] == 6.0 and m["margin_time_s"] == 1.5


def test_without_reference_or_target_the_errors_are_unknown():
    tr = AttemptTracker()
    tr.add(0.0, needle(10.0), None)
    m = tr.result()
    assert m["depth_error_mm"] is None and m["angle_error_deg"] is None and m["first_pass"] is False
    assert m["time_s"] == 0.0


def test_memory_does_not_grow_with_the_attempt():
    tr = tracker()
    rng = np.random.default_rng(1)
    for k in range(5000):
        tr.add(k * 0.01, needle(float(rng.uniform(0, 40))), report(float(rng.uniform(0, 20)), 10.0))
    sizes = {k: len(v) for k, v in vars(tr).items() if isinstance(v, (list, dict, tuple))}
    assert sizes["near_misses"] == 2 and max(sizes.values()) <= 5


def test_next_attempt_measures_redirections_from_the_next_needle():
    tr = tracker()
    tr.add(0.0, needle(20.0), report(10.0, 10.0))
    nxt = tr.next_attempt(1.0, needle(20.0), report(10.0, 10.0))
    nxt.add(2.0, needle(20.0, (S10, 0.0, C10)), report(10.0, 10.0))
    assert nxt.redirections == 0 and nxt.result()["time_s"] == 1.0


# ----- the Session feeds the tracker -------------------------------------------------------------------

def test_session_records_metrics_in_the_log(tmp_path, monkeypatch):
    from needlesafe.app.attempt_log import read_attempts
    from needlesafe.app.exercises import builtin_exercises
    from needlesafe.app.session import Session

    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    path = next(p for p in builtin_exercises() if p.stem == "gluteal-piriformis")
    s = Session()
    clock = iter(float(k) for k in range(1000))
    s.clock = lambda: next(clock)
    ex = s.start_exercise(path)
    start = s.needle
    ref_depth = float(np.linalg.norm(ex.target_point - start.entry_lps))
    s.set_depth(10.0)
    s.set_depth(ref_depth)
    s.set_needle(Needle(start.entry_lps, start.direction, ref_depth, start.length_mm, start.gauge_mm))
    score = s.score()
    m = s.last_metrics
    assert m["redirections"] == score.redirections == 0
    assert m["first_pass"] == score.target_reached
    assert abs(m["depth_error_mm"]) <= 0.01 + 1e-9 and m["angle_error_deg"] <= 0.01
    assert m["path_mm"] == ceil2(ref_depth) or m["path_mm"] == pytest.approx(ref_depth, abs=0.011)
    assert m["time_s"] == 1.0  # clock: start 0, depth 10 at 1, the reference depth at 2, same needle at 3
    log = s.log_attempt("Ann", score)
    recs, problems = read_attempts(log)
    assert problems == [] and recs[0]["metrics"] == m
    # the next attempt measures from its first needle: the first tilt sets it, the second counts
    axis = np.cross(start.direction, (0.0, 0.0, 1.0))
    s.tilt(axis / np.linalg.norm(axis), 10)
    assert s.tracker.redirections == s.redirections == 0
    s.tilt(axis / np.linalg.norm(axis), 10)
    assert s.tracker.redirections == s.redirections == 1
