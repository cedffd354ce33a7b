"""Exercises: shipped files load and are solvable; scoring on constructed attempts; the attempt log."""
import json

import numpy as np
import pytest

from needlesafe.app.exercises import (
    ExerciseError,
    append_attempt,
    attempt_record,
    attempts_csv,
    builtin_exercises,
    load_exercise,
    parse_exercise,
    read_attempts,
    score_attempt,
    summary,
)
from needlesafe.geometry.bvh import TriangleBVH
from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.needle import Needle
from needlesafe.meshes.pack import load_pack

_ENGINES = {}


def engine_for(pack):
    if pack not in _ENGINES:
        _ENGINES[pack] = ClearanceEngine(load_pack(pack))
    return _ENGINES[pack]


def approaches(ex, eng, n=400):
    """Needles from the skin to the exercise's target along n directions (Fibonacci sphere)."""
    skin = next(s for s in eng.scene.structures if s.role == "skin")
    bvh = TriangleBVH(skin.vertices, skin.faces)
    k = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * k / n)
    theta = np.pi * (1 + 5 ** 0.5) * k
    dirs = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)
    for d in dirs:
        t = bvh.ray_hits(ex.target_point, -d)[0]
        if np.isfinite(t) and 1.0 < t <= ex.needle_length_mm:
            yield Needle(ex.target_point - t * d, d, t, ex.needle_length_mm, ex.needle_gauge_mm)


EXERCISES = builtin_exercises()


def test_five_exercises_ship():
    ids = {json.loads(p.read_text())["id"] for p in EXERCISES}
    assert len(ids) == len(EXERCISES) >= 5
    assert {"gluteal-piriformis", "shoulder-upper-trapezius", "shoulder-anterior-scalene"} <= ids


@pytest.mark.parametrize("path", EXERCISES, ids=[p.stem for p in EXERCISES])
def test_exercise_is_valid_and_solvable(path):
    data = json.loads(path.read_text())
    eng = engine_for(data["pack"])
    ex = load_exercise(path, eng.scene)
    assert ex.teaching and ex.source
    needles = list(approaches(ex, eng))
    scores = [score_attempt(ex, eng.report(nd)) for nd in needles]
    assert scores, "no approach from the skin reaches the target with this needle"
    assert any(s.passed and s.score == 100 for s in scores), f"{ex.id}: no safe approach passes"
    # the danger is real: along some approach, the fully inserted needle breaks a margin
    deep = [score_attempt(ex, eng.report(nd.at_depth(nd.length_mm))) for nd in needles]
    assert any(not s.clearance_ok for s in deep), f"{ex.id}: no approach is dangerous; the exercise teaches nothing"


def test_scoring_constructed_attempts():
    path = next(p for p in EXERCISES if p.stem == "gluteal-gluteus-medius")
    eng = engine_for("gluteal")
    ex = load_exercise(path, eng.scene)
    results = [(nd, score_attempt(ex, eng.report(nd))) for nd in approaches(ex, eng)]
    safe = next(s for _, s in results if s.passed)
    assert safe.target_reached and safe.clearance_ok and safe.backstop_ok and safe.score == 100
    no_backstop = next(s for _, s in results if s.target_reached and s.clearance_ok and not s.backstop_ok)
    assert not no_backstop.passed and no_backstop.score == 90
    assert any("backstop" in f for f in no_backstop.feedback)
    # missed target: the same safe needle only half inserted
    nd = next(nd for nd, s in results if s.passed)
    missed = score_attempt(ex, eng.report(nd.at_depth(nd.depth_mm / 2)))
    assert not missed.target_reached and not missed.passed and "missed" in missed.feedback[0]
    # too many redirections costs 10 points but does not fail a safe attempt
    redirected = score_attempt(ex, eng.report(nd), redirections=ex.max_redirections + 1)
    assert redirected.passed and redirected.score == 90
    # nerve contact: aim at the sciatic nerve
    nerve = eng.scene.structure("sciatic_nerve").vertices
    target = nerve[np.argmax(nerve[:, 1])]
    entry = target + np.array([0.0, 80.0, 0.0])
    contact = score_attempt(ex, eng.report(Needle(entry, (0, -1, 0), 80.0, 100.0, 0.3)))
    assert not contact.clearance_ok and not contact.passed
    assert any("touches sciatic_nerve" in f or "from sciatic_nerve" in f for f in contact.feedback)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format": "x"}, "not a NeedleSafe exercise"),
        ({"version": 2}, "version"),
        ({"title": ""}, "'title'"),
        ({"target": {"trigger_point": "nowhere"}}, "no trigger point"),
        ({"target": {"point": [0, 0]}}, "trigger_point"),
        ({"target": {"trigger_point": "piriformis", "tolerance_mm": -1}}, "positive"),
        ({"needle": {"length_mm": "long"}}, "finite number"),
        ({"constraints": {"clearance_mm": {"no_such_nerve": 3}}}, "not a structure"),
        ({"constraints": {"backstop_required": "yes"}}, "true or false"),
        ({"constraints": {"max_redirections": 1.5}}, "whole number"),
    ],
)
def test_bad_exercises(change, message):
    data = json.loads(next(p for p in EXERCISES if p.stem == "gluteal-piriformis").read_text())
    data.update(change)
    with pytest.raises(ExerciseError, match=message):
        parse_exercise(data, engine_for("gluteal").scene)


def test_corrupt_exercise_file(tmp_path):
    p = tmp_path / "e.json"
    p.write_text("{ not json")
    with pytest.raises(ExerciseError, match="not a valid exercise"):
        load_exercise(p)


def test_attempt_log_survives_damage(tmp_path):
    path = tmp_path / "ana.jsonl"
    eng = engine_for("gluteal")
    ex = load_exercise(next(p for p in EXERCISES if p.stem == "gluteal-piriformis"), eng.scene)
    nds = list(approaches(ex, eng))[:3]
    for nd in nds[:2]:
        rep = eng.report(nd)
        append_attempt(path, attempt_record("Ana", ex, rep, score_attempt(ex, rep)))
    # a crash mid-write leaves half a line; hostile junk is appended too
    with open(path, "ab") as fh:
        fh.write(b'{"exercise": "gluteal-piriformis", "needle": {"entry_lps": [1, 2')
    rep = eng.report(nds[2])
    append_attempt(path, attempt_record("Ana", ex, rep, score_attempt(ex, rep)))
    with open(path, "ab") as fh:
        fh.write(b'["not", "an", "attempt"]\n{"exercise": "x", "needle": {"entry_lps": [NaN, 0, 0]}}\n\xff\xfe\n')
    attempts, problems = read_attempts(path)
    assert len(attempts) == 3 and len(problems) == 4
    assert [a["needle"]["depth_mm"] for a in attempts] == pytest.approx([n.depth_mm for n in nds])
    s = summary(attempts)["gluteal-piriformis"]
    assert s["attempts"] == 3 and 0 <= s["mean"] <= 100
    csv_text = attempts_csv(attempts)
    assert csv_text.count("\n") == 4 and csv_text.startswith("time,student,exercise,score")
