"""Post-procedure triage: the shipped cases, scoring, the attempt log, the debrief's question and
`needlesafe triage`. Bad case files and log lines are in tests/test_corpus_bad_input.py (area "triage")."""
from __future__ import annotations

import json

import pytest

from needlesafe.app.attempt_log import TRIAGE_ACTIONS, append_attempt, log_path, read_attempts
from needlesafe.app.cli import main
from needlesafe.app.exercises import builtin_exercises
from needlesafe.app.triage import (
    EVENT_KINDS,
    EVENT_SEVERITY,
    TriageError,
    builtin_cases,
    case_for_event,
    case_for_events,
    cases_for_event,
    find_case,
    load_case,
    load_cases,
    log_triage,
    parse_answer,
    parse_case,
    region_names,
    region_of_pack,
    score_triage,
    triage_record,
)

from ..test_corpus_bad_input import GOOD_ATTEMPT

#: What the issue asks the cases to cover: case id -> the right action.
REQUIRED = {
    "soreness-buttock-next-day": "reassure",
    "bruise-after-needling": "reassure",
    "vasovagal-faint-on-sitting-up": "advise_review",
    "drowsy-evening-after": "reassure",
    "tingling-ring-little-fingers": "refer",
    "foot-weak-numb-outer-side": "refer",
    "burning-pain-back-of-leg": "refer",
    "breathless-after-upper-back": "emergency",
    "pleuritic-chest-pain-mild": "refer",
    "growing-haematoma-numb-sole": "refer",
    "wrist-drop-after-upper-arm": "refer",
    "front-of-thigh-numb-knee-gives-way": "refer",
    "neck-headache-with-arm-weakness": "emergency",
}


@pytest.fixture(scope="module")
def cases():
    return load_cases()


@pytest.fixture
def attempts_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path / "attempts"))
    return tmp_path / "attempts"


# ----- the shipped cases -----------------------------------------------------------------------

@pytest.mark.parametrize("path", builtin_cases(), ids=[p.stem for p in builtin_cases()])
def test_every_shipped_case_loads(path):
    case = load_case(path)
    assert case.id == path.stem  # `--case ID` finds the file by its name
    assert case.answer in TRIAGE_ACTIONS and case.event in EVENT_KINDS
    assert case.sources and case.red_flags and case.reasoning
    teaching = any(s.startswith("Teaching case") for s in case.sources)
    # an illustrative patient says so; a case adapted from a publication cites it (and is not "teaching")
    assert teaching == (case.basis == "teaching case")
    assert all(r in region_names() for r in case.regions or ())


def test_the_cases_cover_the_issue(cases):
    by_id = {c.id: c for c in cases}
    assert len(cases) >= 12
    assert {k: by_id[k].answer for k in REQUIRED} == REQUIRED
    assert {c.answer for c in cases} == set(TRIAGE_ACTIONS)
    # each event the issue names has a case the debrief can ask; "none": reactions no event explains
    issue = {"bone_contact", "twitch", "nerve_margin", "nerve_contact", "vessel_puncture", "haematoma_compression",
             "pleura_puncture", "none"}
    assert issue <= {c.event for c in cases} <= set(EVENT_KINDS)


def test_event_kinds_are_the_engines():
    from needlesafe.geometry.events import KINDS

    assert set(EVENT_KINDS) == {*KINDS, "none"}
    assert set(EVENT_SEVERITY) == set(KINDS)  # every engine event has a place in the debrief's order


def test_published_case_reports_are_cited(cases):
    by_id = {c.id: c for c in cases}
    assert any("McManus R, Cleary M" in s for s in by_id["wrist-drop-after-upper-arm"].sources)
    assert any("Brady S" in s and "2014" in s for s in by_id["bruise-after-needling"].sources)
    assert any("pneumothorax" in s.lower() for s in by_id["breathless-after-upper-back"].sources)


# ----- scoring ---------------------------------------------------------------------------------

def test_right_answer_scores_100_and_explains(cases):
    case = find_case("breathless-after-upper-back")
    s = score_triage(case, "emergency")
    assert (s.correct, s.points, s.verdict, s.correct_action) == (True, 100, "correct", "emergency")
    text = "\n".join(s.explanation)
    assert case.reasoning in text and case.red_flags[0] in text and "Mintken" in text
    assert case.choices["emergency"] in text


@pytest.mark.parametrize("case_id, answer, points, verdict", [
    ("bruise-after-needling", "advise_review", 50, "over-triage"),   # one step too urgent
    ("bruise-after-needling", "refer", 25, "over-triage"),           # two steps
    ("bruise-after-needling", "emergency", 25, "over-triage"),
    ("breathless-after-upper-back", "refer", 0, "under-triage"),
    ("breathless-after-upper-back", "reassure", 0, "under-triage"),
    ("electric-shock-then-nothing", "reassure", 0, "under-triage"),
    ("electric-shock-then-nothing", "refer", 50, "over-triage"),
])
def test_wrong_answers_score_by_direction(case_id, answer, points, verdict):
    s = score_triage(find_case(case_id), answer)
    assert (s.correct, s.points, s.verdict) == (False, points, verdict)
    assert s.explanation[0].startswith("Not urgent enough" if verdict == "under-triage" else "More urgent")


def test_the_wrong_choice_and_the_right_one_are_explained():
    case = find_case("burning-pain-back-of-leg")
    s = score_triage(case, "reassure")
    assert case.choices["reassure"] in s.explanation


@pytest.mark.parametrize("typed, action", [
    ("3", "refer"), (" Refer ", "refer"), ("advise-and-review", "advise_review"), ("advise review", "advise_review"),
    ("1", "reassure"), ("EMERGENCY", "emergency"),
])
def test_answers_as_typed(typed, action):
    assert parse_answer(typed) == action


@pytest.mark.parametrize("typed", ["", "5", "pray", "call a friend", "0"])
def test_unknown_answers_are_refused(typed):
    with pytest.raises(TriageError, match="not an action"):
        score_triage(find_case("bruise-after-needling"), typed)


def test_parse_case_names_where(cases):
    data = json.loads(builtin_cases()[0].read_text())
    data["event"] = "explosion"
    with pytest.raises(TriageError, match=r"^my file: 'event'"):
        parse_case(data, "my file")


def test_region_may_be_one_name_or_any():
    data = json.loads((builtin_cases()[0]).read_text())
    data["region"] = "atlas:gluteal"
    assert parse_case(data).regions == ("atlas:gluteal",)
    data["region"] = None
    assert parse_case(data).regions is None


def test_duplicate_ids_are_refused(tmp_path):
    src = builtin_cases()[0]
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(src.read_text())
    with pytest.raises(TriageError, match="already used"):
        load_cases(sorted(tmp_path.glob("*.json")))


# ----- the attempt log -------------------------------------------------------------------------

def test_log_round_trip_beside_exercise_attempts(attempts_dir):
    case = find_case("wrist-drop-after-upper-arm")
    path = log_path("Ann Lee")
    append_attempt(path, dict(GOOD_ATTEMPT, student="Ann Lee"))  # an old-style attempt: no "kind"
    assert log_triage("Ann Lee", case, score_triage(case, "advise_review")) == path
    log_triage("Ann Lee", case, score_triage(case, "refer"))
    triage, problems = read_attempts(path, kind="triage")
    assert problems == []
    assert [(r["case"], r["answer"], r["correct_action"], r["score"]["score"], r["score"]["passed"])
            for r in triage] == [(case.id, "advise_review", "refer", 0, False), (case.id, "refer", "refer", 100, True)]
    assert triage[0]["region"] == "atlas:upper_arm" and triage[0]["event"] == "nerve_contact"
    # the exercise readers see only the exercise attempt, and no problem
    attempts, problems = read_attempts(path)
    assert problems == [] and [a["exercise"] for a in attempts] == [GOOD_ATTEMPT["exercise"]]


def test_record_holds_the_explanation():
    case = find_case("drowsy-evening-after")
    s = score_triage(case, "reassure")
    rec = triage_record("Bo", case, s)
    assert rec["kind"] == "triage" and rec["region"] is None and rec["score"]["feedback"] == s.explanation
    json.dumps(rec, allow_nan=False)


def test_attempts_command_lists_triage_answers_apart(attempts_dir, capsys):
    """An instructor sees a student's triage answers under the attempts, each with the right action,
    and a line of totals; the exercise summary counts exercise attempts only."""
    case = find_case("bruise-after-needling")
    other = find_case("breathless-after-upper-back")
    path = log_path("Bo")
    log_triage("Bo", case, score_triage(case, "reassure"))
    log_triage("Bo", other, score_triage(other, "advise_review"))
    append_attempt(path, GOOD_ATTEMPT)
    assert main(["attempts", str(path)]) == 0
    out, err = capsys.readouterr()
    assert GOOD_ATTEMPT["exercise"] in out and err == ""
    lines = out.splitlines()
    mine = next(line for line in lines if f"triage {case.id}" in line)
    assert " 100 correct (answered reassure, right: reassure)" in mine
    under = next(line for line in lines if f"triage {other.id}" in line)
    assert "   0 under-triage (answered advise_review, right: emergency)" in under
    assert "summary triage: 2 answered, 1 right" in lines
    assert f"summary {GOOD_ATTEMPT['exercise']}: 1 attempts" in out


# ----- the debrief's question ------------------------------------------------------------------

@pytest.mark.parametrize("kind, pack, structure, want", [
    ("pleura_puncture", "atlas:interscapular:lean", "pleura", "breathless-after-upper-back"),
    ("pleura_puncture", "shoulder:average", "pleura", "breathless-after-upper-back"),
    ("nerve_contact", "atlas:upper_arm:average", "ulnar_nerve_r", "tingling-ring-little-fingers"),
    ("nerve_contact", "atlas:upper_arm:high", "radial_nerve_r", "wrist-drop-after-upper-arm"),
    ("nerve_contact", "atlas:upper_arm", "median_nerve_r", "numb-patch-spreading"),  # no median case: the general one
    ("nerve_contact", "gluteal:lean", "sciatic_nerve", "burning-pain-back-of-leg"),  # built-in and atlas share it
    ("nerve_contact", "atlas:gluteal:average", "sciatic_nerve_r", "burning-pain-back-of-leg"),
    ("nerve_contact", "atlas:posterior_knee_calf:lean", "common_fibular_nerve_r", "foot-weak-numb-outer-side"),
    ("nerve_contact", "atlas:anterior_hip:average", "femoral_nerve_r", "front-of-thigh-numb-knee-gives-way"),
    ("nerve_contact", "atlas:posterior_neck:average", "spinal_dura", "neck-headache-with-arm-weakness"),
    ("nerve_margin", "gluteal:average", "sciatic_nerve", "electric-shock-then-nothing"),
    ("haematoma_compression", "atlas:posterior_knee_calf:average", "tibial_nerve_r", "growing-haematoma-numb-sole"),
    ("vessel_puncture", "shoulder:lean", "subclavian_artery", "bruise-after-needling"),
    ("twitch", "gluteal:high", "piriformis", "soreness-buttock-next-day"),
    ("bone_contact", "atlas:scapula:average", "scapula", "sore-spot-over-shoulder-blade"),
])
def test_case_for_event(cases, kind, pack, structure, want):
    assert case_for_event(kind, pack, structure, cases).id == want


def test_no_case_for_an_unlinked_event(cases):
    assert case_for_event("twitch", "atlas:lumbar:average", "multifidus", cases) is None
    assert case_for_event("bone_contact", "gluteal:average", "femur", cases) is None
    assert case_for_event("nerve_margin", "atlas:upper_arm", "ulnar_nerve_r", cases) is None


def test_both_pleura_cases_are_offered(cases):
    ids = [c.id for c in cases_for_event("pleura_puncture", "atlas:neck_shoulder:lean", None, cases)]
    assert ids == ["breathless-after-upper-back", "pleuritic-chest-pain-mild"]


def test_case_for_events_asks_about_the_most_serious(cases):
    events = [{"kind": "twitch", "structure": "piriformis"}, {"kind": "nerve_margin", "structure": "sciatic_nerve"},
              {"kind": "nerve_contact", "structure": "sciatic_nerve"}]
    assert case_for_events(events, "gluteal:average", cases).id == "burning-pain-back-of-leg"

    class Event:  # the engine's events are objects with the same fields
        def __init__(self, kind, structure):
            self.kind, self.structure = kind, structure

    assert case_for_events([Event("twitch", "piriformis")], "atlas:gluteal:lean", cases).id == \
        "soreness-buttock-next-day"
    assert case_for_events([], "gluteal", cases) is None


@pytest.mark.parametrize("pack, region", [("atlas:gluteal:lean", "atlas:gluteal"), ("shoulder:high", "shoulder"),
                                          ("gluteal", "gluteal"), ("atlas:upper_arm", "atlas:upper_arm"),
                                          ("my-pack", "my-pack"), ("default", "gluteal")])
def test_region_of_pack(pack, region):
    assert region_of_pack(pack) == region


# ----- the command line ------------------------------------------------------------------------

def test_cli_list(capsys):
    assert main(["triage", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(builtin_cases()) and out[0].split()[:2] == ["breathless-after-upper-back", "emergency"]
    assert main(["triage", "--list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in data] == [p.stem for p in builtin_cases()]


def test_cli_scores_explains_and_logs(attempts_dir, capsys):
    assert main(["triage", "--case", "foot-weak-numb-outer-side", "--answer", "advise_review", "--student", "Bo"]) == 0
    out, err = capsys.readouterr()
    assert "0/100, under-triage" in out and "common fibular" in out and "Sato M" in out and err == ""
    assert f"logged to {log_path('Bo')}" in out
    triage, _ = read_attempts(log_path("Bo"), kind="triage")
    assert [(r["case"], r["answer"]) for r in triage] == [("foot-weak-numb-outer-side", "advise_review")]


def test_cli_json(attempts_dir, capsys):
    assert main(["triage", "--case", "bruise-after-needling", "--answer", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["case"]["id"] == "bruise-after-needling" and data["case"]["regions"] is None
    assert data["score"] | {"explanation": None} == {
        "case": "bruise-after-needling", "answer": "advise_review", "correct_action": "reassure", "correct": False,
        "points": 50, "verdict": "over-triage", "explanation": None}
    assert not attempts_dir.exists()  # no --student: nothing logged


def test_cli_case_file(tmp_path, capsys):
    data = json.loads(builtin_cases()[0].read_text())
    data["id"] = "my-own-case"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    assert main(["triage", "--case", str(path), "--answer", data["answer"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["score"]["points"] == 100


def test_cli_without_an_answer_off_a_terminal_is_an_error(capsys):
    assert main(["triage", "--case", "drowsy-evening-after"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "needlesafe: error: --case drowsy-evening-after: no answer: give --answer" in err


def test_cli_asks_on_a_terminal(monkeypatch, attempts_dir, capsys):
    typed = iter(["maybe", "4"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    assert main(["triage", "--case", "neck-headache-with-arm-weakness", "--student", "Cy"]) == 0
    out = capsys.readouterr().out
    assert out.index("What do you do?") < out.index("not an action") < out.index("100/100, correct")
    assert read_attempts(log_path("Cy"), kind="triage")[0][0]["answer"] == "emergency"


def test_cli_end_of_input_scores_nothing(monkeypatch, attempts_dir, capsys):
    def eof(prompt=""):
        raise EOFError

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", eof)
    assert main(["triage", "--student", "Di"]) == 1  # a random case, no answer
    assert "nothing scored" in capsys.readouterr().out and not log_path("Di").exists()


def test_triage_never_imports_qt():
    """`needlesafe triage` runs without a display: no Qt binding and none of the window's modules
    (checked in a fresh interpreter)."""
    from .test_cli import run_fresh_listing_gui

    argv = ["triage", "--case", "bruise-after-needling", "--answer", "reassure"]
    proc = run_fresh_listing_gui(f"from needlesafe.app.cli import main\nrc = main({argv!r})")
    assert proc.returncode == 0, proc.stderr
    assert "GUI []" in proc.stdout and "100/100, correct" in proc.stdout


BUILTIN_EXERCISES = [p for p in builtin_exercises() if not p.stem.startswith("atlas-")]


@pytest.mark.parametrize("path", BUILTIN_EXERCISES, ids=[p.stem for p in BUILTIN_EXERCISES])
def test_the_debrief_asks_about_the_classic_mistake(path, cases):
    """Each built-in exercise's classic mistake, replayed by the engine, causes events; the debrief's
    question is a case about the most serious of them, in that region (for a nerve: that nerve)."""
    from needlesafe.app.exercise_check import mistake_needle
    from needlesafe.app.exercises import load_exercise
    from needlesafe.geometry.clearance import ClearanceEngine
    from needlesafe.geometry.events import events_along
    from needlesafe.meshes.resolve import load_pack

    ex = load_exercise(path)
    pack = f"{ex.pack}:{ex.classic_mistake['habitus']}" if ex.classic_mistake.get("habitus") else ex.pack
    scene = load_pack(pack)
    ex = load_exercise(path, scene)
    engine = ClearanceEngine(scene)
    events = events_along(engine, [mistake_needle(ex, engine)], target=ex.target_name, margins=ex.clearance_mm)
    case = case_for_events(events, pack, cases)
    assert case is not None, [(e.kind, e.structure) for e in events]
    worst = next(k for k in EVENT_SEVERITY if any(e.kind == k for e in events))
    assert case.event == worst and region_of_pack(pack) in case.regions
    if case.structure:
        assert any(case.structure in (e.structure or "") for e in events if e.kind == worst)
