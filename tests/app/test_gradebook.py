"""The gradebook (app/attempt_log.py `gradebook_csv`), class folders (`read_logs`) and
`needlesafe attempts DIR --csv`, on hand-written logs: rows per student and exercise, then per attempt."""
import csv
import io
import json

import pytest

from needlesafe.app.attempt_log import common_mistakes, gradebook_csv, read_attempts, read_logs
from needlesafe.app.cli import main


def rec(student, exercise, score, passed, metrics=None, events=(), feedback=(), redirections=0):
    r = {
        "time": "2026-11-25T01:00:00+00:00", "student": student, "exercise": exercise, "title": exercise,
        "pack": "gluteal",
        "needle": {"entry_lps": [0.0, 0.0, 0.0], "direction": [0.0, 0.0, 1.0], "depth_mm": 5.0, "length_mm": 50.0,
                   "gauge_mm": 0.3},
        "score": {"score": score, "passed": passed, "redirections": redirections, "feedback": list(feedback)},
        "level": "safe", "safe_depth_mm": 30.0,
        "events": [{"kind": k, "structure": "sciatic_nerve", "depth_mm": 40.0, "message": ""} for k in events],
    }
    if student is None:
        del r["student"]
    if metrics is not None:
        r["metrics"] = metrics
    return r


def metrics(first_pass, redirections, time_s, depth, angle, margin, events=None):
    return {"first_pass": first_pass, "redirections": redirections, "time_s": time_s, "depth_error_mm": depth,
            "angle_error_deg": angle, "path_mm": 40.0, "margin_time_s": margin, "deepest_intrusion_mm": 0.5,
            "near_misses": {"sciatic_nerve": 3.25}, "events": events or {}}


ANN = [
    rec("Ann", "gluteal-piriformis", 100, True, metrics(True, 0, 12.0, -2.0, 4.0, 0.0)),
    rec("Ann", "gluteal-piriformis", 50, False, metrics(False, 3, 30.5, 6.0, 11.0, 2.5, {"nerve_contact": 1}),
        events=["nerve_contact"], feedback=["Unsafe: 1.2 mm from sciatic_nerve; keep at least 5 mm."]),
    rec("Ann", "gluteal-piriformis", 90, True),  # an old record: no metrics
]
BO = [
    rec(None, "shoulder-upper-trapezius", 40, False, metrics(False, 0, 8.0, 1.0, 2.0, 0.0),
        feedback=["Target missed: the tip is 14.2 mm from the target (allowed 8 mm)."]),
]


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_gradebook_rows_by_hand():
    got = rows(gradebook_csv(ANN))
    assert [r["row_type"] for r in got] == ["exercise", "attempt", "attempt", "attempt"]
    ex = got[0]
    assert (ex["student"], ex["exercise"], ex["attempts"], ex["passes"], ex["best"]) == \
        ("Ann", "gluteal-piriformis", "3", "2", "100")
    assert float(ex["pass_rate"]) == 0.667 and float(ex["mean"]) == 80.0
    assert float(ex["first_pass_rate"]) == 0.5  # one of the two attempts with metrics
    assert float(ex["mean_redirections"]) == 1.0  # (0 + 3 + 0) / 3: the old record's score counts
    assert float(ex["mean_time_s"]) == 21.25 and float(ex["mean_abs_depth_error_mm"]) == 4.0
    assert float(ex["mean_angle_error_deg"]) == 7.5 and float(ex["mean_margin_time_s"]) == 1.25
    assert ex["events"] == "nerve_contact:1" and ex["score"] == ""
    a2 = got[2]
    assert (a2["score"], a2["passed"], a2["first_pass"], a2["redirections"], a2["depth_error_mm"]) == \
        ("50", "False", "False", "3", "6.0")
    assert a2["near_misses"] == "sciatic_nerve:3.25" and a2["events"] == "nerve_contact:1" and a2["attempts"] == ""
    assert got[3]["time_s"] == "" and got[3]["first_pass"] == ""  # old record: blank metrics


def test_gradebook_cells_cannot_run_as_formulas():
    got = rows(gradebook_csv([rec("=HYPERLINK(1)", "gluteal-piriformis", 0, False)]))
    assert all(r["student"] == "'=HYPERLINK(1)" for r in got)


def test_common_mistakes():
    top = common_mistakes(ANN + BO)
    assert ("nerve contact", 1) in top
    assert ("Unsafe: # mm from sciatic_nerve; keep at least # mm.", 1) in top
    assert any(t.startswith("Target missed: the tip is # mm") for t, _ in top)


@pytest.fixture
def class_dir(tmp_path):
    d = tmp_path / "class"
    d.mkdir()
    (d / "Ann.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ANN))
    bo = [json.dumps(r) for r in BO]
    bad = dict(BO[0], metrics=dict(BO[0]["metrics"], time_s="long"))  # a damaged line
    triage = {"kind": "triage", "case": "burning-pain", "answer": "refer", "correct_action": "refer",
              "score": {"score": 100, "passed": True, "feedback": []}}
    (d / "Bo.jsonl").write_text("\n".join([bo[0], json.dumps(bad), json.dumps(triage)]) + "\n")
    (d / "notes.txt").write_text("not a log")
    return d


def test_a_class_folder(class_dir):
    attempts, answers, problems = read_logs(class_dir)
    assert len(attempts) == 4 and len(answers) == 1
    assert {a["student"] for a in attempts} == {"Ann", "Bo"}  # Bo's record names no student: its file does
    assert len(problems) == 1 and "Bo.jsonl: line 2" in problems[0] and "time_s" in problems[0]


def test_attempts_command_on_a_folder_writes_the_gradebook(class_dir, tmp_path, capsys):
    out = tmp_path / "grades.csv"
    assert main(["attempts", str(class_dir), "--csv", str(out)]) == 0
    text, err = capsys.readouterr()
    assert "summary Ann gluteal-piriformis: 3 attempts, 2 passed" in text
    assert "summary Bo shoulder-upper-trapezius: 1 attempts" in text
    assert "redir 3" in text and "depth err 6.00 mm" in text and "first-pass" in text
    assert "triage burning-pain" in text and "Bo.jsonl: line 2" in err
    got = rows(out.read_text())
    assert [(r["row_type"], r["student"]) for r in got if r["row_type"] == "exercise"] == \
        [("exercise", "Ann"), ("exercise", "Bo")]
    assert sum(r["row_type"] == "attempt" for r in got) == 4


def test_an_empty_folder_is_an_error(tmp_path, capsys):
    assert main(["attempts", str(tmp_path)]) == 2
    assert "no *.jsonl attempt log" in capsys.readouterr().err


@pytest.mark.parametrize("change, field", [
    (lambda m: m.update(first_pass="yes"), "first_pass"),
    (lambda m: m.update(redirections=-1), "redirections"),
    (lambda m: m.update(depth_error_mm=float("nan")), "depth_error_mm"),
    (lambda m: m.update(near_misses={"n": -1}), "near_misses"),
    (lambda m: m.update(events={"twitch": 1.5}), "events"),
    (lambda m: m.update(path_mm=True), "path_mm"),
])
def test_bad_metrics_skip_the_line(tmp_path, change, field):
    bad = json.loads(json.dumps(ANN[0]))
    change(bad["metrics"])
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(ANN[1]) + "\n" + json.dumps(bad, allow_nan=True) + "\n")
    attempts, problems = read_attempts(log)
    assert len(attempts) == 1 and len(problems) == 1 and field in problems[0]
