"""When not to needle: decline exercises (scored by score_decline, verified by the engine), needling a
decline exercise, needless declines, benchmarks, the attempt log, Session.decline and `score --decline`."""
import csv
import io
import json

import pytest

from needlesafe.app.attempt_log import append_attempt, attempt_record, read_attempts
from needlesafe.app.exercise_check import measure_reason, verify_exercise
from needlesafe.app.exercises import (
    DECLINE_REASONS,
    OTHER_REASON_SCORE,
    ExerciseError,
    builtin_exercises,
    load_exercise,
    score_attempt,
    score_decline,
)
from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.meshes.resolve import load_pack

_ENGINES = {}


def engine_for(pack):
    if pack not in _ENGINES:
        _ENGINES[pack] = ClearanceEngine(load_pack(pack))
    return _ENGINES[pack]


def shipped(stem):
    return next(p for p in builtin_exercises() if p.stem == stem)


DECLINES = [p for p in builtin_exercises() if json.loads(p.read_text()).get("decline", {}).get("expected")]
SCHEMATIC = "gluteal-decline-sciatic"


def test_decline_exercises_ship_for_every_region_with_pleura_or_a_major_nerve():
    packs = {json.loads(p.read_text())["pack"].rsplit(":", 1)[0] if p.stem.startswith("atlas-")
             else json.loads(p.read_text())["pack"].split(":")[0] for p in DECLINES}
    assert {"gluteal", "shoulder"} <= packs, packs
    for p in DECLINES:
        data = json.loads(p.read_text())
        assert data["teaching"] and data["source"] and data["decline"]["why"]
        assert set(data["decline"]["reasons"]) <= set(DECLINE_REASONS)


def test_scoring_a_decline():
    eng = engine_for("gluteal:lean")
    ex = load_exercise(shipped(SCHEMATIC), eng.scene)
    assert ex.decline_expected and ex.benchmark
    # a listed reason: full marks, with the why and the benchmark
    s = score_decline(ex, "nerve_on_path")
    assert s.passed and s.score == 100 and s.declined == "nerve_on_path"
    assert s.feedback[0].startswith("Correct: do not needle here")
    assert ex.decline["why"] in s.feedback and any("Hannah et al. 2023" in f for f in s.feedback)
    # an unlisted reason: passes with less, and the feedback names the listed reason
    s = score_decline(ex, "needle_too_long")
    assert s.passed and s.score == OTHER_REASON_SCORE < 100
    assert any(DECLINE_REASONS["nerve_on_path"].lower() in f for f in s.feedback)
    # not a reason at all
    with pytest.raises(ExerciseError, match="unknown decline reason"):
        score_decline(ex, "tired")


def test_a_needless_decline_fails_and_says_how_to_needle():
    eng = engine_for("gluteal")
    ex = load_exercise(shipped("gluteal-piriformis"), eng.scene)
    s = score_decline(ex, "nerve_on_path")
    assert not s.passed and s.score == 0 and s.declined == "nerve_on_path"
    assert "can be needled safely" in s.feedback[0]
    assert "piriformis" in s.feedback[1] and "75 mm" in s.feedback[1]
    # the score of a decline is JSON without a target distance (no needle went in); an attempt's has no 'declined'
    d = s.to_dict()
    assert d["declined"] == "nerve_on_path" and "target_distance_mm" not in d
    json.dumps(d, allow_nan=False)
    best = verify_exercise(ex, eng).best_needle
    needled = score_attempt(ex, eng.report(best)).to_dict()
    assert "declined" not in needled and needled["score"] == 100


def test_needling_a_decline_exercise_fails_whatever_the_needle_did():
    eng = engine_for("gluteal:lean")
    ex = load_exercise(shipped(SCHEMATIC), eng.scene)
    v = verify_exercise(ex, eng)
    assert v.ok and v.decline and v.best_needle is not None
    s = score_attempt(ex, eng.report(v.best_needle))
    assert s.score == 0 and not s.passed
    assert "should not be needled here" in s.feedback[0] and ex.decline["why"] in s.feedback[0]
    assert any(f.startswith("Published benchmark: Medially placed piriformis needles") for f in s.feedback)


def test_verification_measures_the_reason_and_refuses_a_site_that_can_be_needled():
    eng = engine_for("gluteal:lean")
    ex = load_exercise(shipped(SCHEMATIC), eng.scene)
    v = verify_exercise(ex, eng)
    assert v.best_score < 100 and v.approaches > 100
    # every approach that reaches the target breaks the sciatic nerve's margin
    text = v.reasons["nerve_on_path"]
    reaching = int(text.split(" of ")[1].split()[0])
    assert text.startswith(f"{reaching} of {reaching} approaches") and "sciatic_nerve" in text
    assert "decline: nerve_on_path:" in v.summary() and v.summary().endswith("verified")
    # a reason the engine does not measure here: no pleura in the gluteal region
    data = json.loads(shipped(SCHEMATIC).read_text())
    data["decline"]["reasons"] = ["pleura_in_reach_no_backstop"]
    from needlesafe.app.exercises import parse_exercise

    v = verify_exercise(parse_exercise(data, eng.scene), eng)
    assert not v.ok and any("pleura_in_reach_no_backstop is not what the engine measures" in p for p in v.problems)
    # the piriformis trigger point made a decline: an approach scores 100, so it is no decline
    data = json.loads(shipped("gluteal-piriformis").read_text())
    data["decline"] = {"expected": True, "reasons": ["nerve_on_path"], "why": "x"}
    v = verify_exercise(parse_exercise(data, engine_for("gluteal").scene), engine_for("gluteal"))
    assert not v.ok and any("scores 100/100: the site can be needled" in p for p in v.problems)
    with pytest.raises(ExerciseError):
        measure_reason("other", ex, eng, [], None)


def test_pleura_reason_is_measured_along_the_best_approach():
    eng = engine_for("shoulder:lean")
    ex = load_exercise(shipped("shoulder-decline-pleura"), eng.scene)
    v = verify_exercise(ex, eng)
    assert v.ok, v.summary()
    text = v.reasons["pleura_in_reach_no_backstop"]
    depth = float(text.split(" mm deep")[0].split()[-1])
    assert depth <= ex.needle_length_mm and "no bone before it" in text
    # along that approach the needle pushed to its length reaches the pleura: nothing stops it
    full = eng.report(v.best_needle.at_depth(ex.needle_length_mm))
    assert full.path.stopped_by is None and full.structure("pleura").penetrated
    # "the needle is long enough to reach a danger structure": the same line, any danger structure
    from needlesafe.app.exercise_check import approaches

    tried = [(nd, eng.report(nd), None) for nd in list(approaches(ex, eng))[:20]]
    holds, text = measure_reason("needle_too_long", ex, eng, tried, v.best_needle)
    assert holds and text.startswith("pleura ") and "within the 50 mm needle" in text
    # a 30 mm needle along the same line reaches nothing
    short = v.best_needle.__class__(v.best_needle.entry_lps, v.best_needle.direction, 0.0, 30.0, 0.3)
    holds, text = measure_reason("needle_too_long", ex, eng, tried, short)
    assert not holds and "the 30 mm needle reaches no" in text


def test_a_decline_is_logged_like_an_attempt(tmp_path):
    eng = engine_for("gluteal:lean")
    ex = load_exercise(shipped(SCHEMATIC), eng.scene)
    from needlesafe.app.exercise_check import start_needle

    rep = eng.report(start_needle(ex, eng))
    path = tmp_path / "ana.jsonl"
    append_attempt(path, attempt_record("Ana", ex, rep, score_decline(ex, "nerve_on_path")))
    append_attempt(path, attempt_record("Ana", ex, rep, score_attempt(ex, rep)))
    attempts, problems = read_attempts(path)
    assert problems == [] and len(attempts) == 2
    assert attempts[0]["declined"] == "nerve_on_path" and attempts[0]["score"]["score"] == 100
    assert "declined" not in attempts[1]
    # the gradebook's attempt rows say which was a decline, and why
    from needlesafe.app.attempt_log import gradebook_csv

    rows = [r for r in csv.DictReader(io.StringIO(gradebook_csv(attempts))) if r["row_type"] == "attempt"]
    assert [r["declined"] for r in rows] == ["nerve_on_path", ""]


def test_session_decline(tmp_path, monkeypatch):
    from needlesafe.app.session import Session

    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    s = Session()
    s.start_exercise(shipped(SCHEMATIC))
    s.push(10.0)
    score = s.decline("danger_margin_on_path")
    assert score.passed and score.score == 100 and s.last_score is score
    assert s.redirections == 0 and s.attempt_events == []
    path = s.log_attempt("Ana", score)
    rec = read_attempts(path)[0][0]
    assert rec["declined"] == "danger_margin_on_path" and rec["exercise"] == SCHEMATIC
    s.end_exercise()
    with pytest.raises(ExerciseError):
        s.decline("other")


def test_score_command_declines(tmp_path, monkeypatch, capsys):
    from needlesafe.app.cli import main

    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    assert main(["score", SCHEMATIC, "--decline", "nerve_on_path", "--json", "--student", "Bo"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["score"] == 100 and out["passed"] and out["declined"] == "nerve_on_path"
    assert read_attempts(tmp_path / "Bo.jsonl")[0][0]["declined"] == "nerve_on_path"
    assert main(["attempts", str(tmp_path / "Bo.jsonl")]) == 0
    assert "declined: nerve_on_path" in capsys.readouterr().out
    assert main(["score", "gluteal-piriformis", "--decline", "other"]) == 0
    text = capsys.readouterr().out
    assert "0/100, not passed (declined: other)" in text and "can be needled safely" in text
    assert main(["exercises"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(SCHEMATIC) and line.endswith("[decline]") for line in lines)
    assert not any(line.startswith("gluteal-piriformis") and "[decline]" in line for line in lines)


def test_published_benchmarks_are_shown_in_the_feedback():
    eng = engine_for("gluteal")
    ex = load_exercise(shipped("gluteal-piriformis"), eng.scene)
    assert "11 of 14" in ex.benchmark and "0 of 14" in ex.benchmark and "Hannah et al. 2023" in ex.benchmark
    best = verify_exercise(ex, eng).best_needle
    s = score_attempt(ex, eng.report(best))
    assert s.feedback[-1] == f"Published benchmark: {ex.benchmark}"
    up = load_exercise(shipped("shoulder-upper-trapezius"), engine_for("shoulder").scene)
    assert "Kearns et al. 2022" in up.benchmark
