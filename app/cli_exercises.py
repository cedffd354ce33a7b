"""The command line's teaching commands: `exercises`, `score`, `attempts` and `report` (no Qt).
Each takes the parsed arguments and returns the exit code; errors are raised as NeedleSafeError for
`cli.main` to print."""
from __future__ import annotations

import sys
from pathlib import Path


def _exercise_path(ref: str):
    from needlesafe.app.exercises import builtin_exercises
    from needlesafe.meshes.types import PackError

    p = Path(ref)
    if p.suffix == ".json" and p.exists():
        return p
    for q in builtin_exercises():
        if q.stem == ref:
            return q
    raise PackError(f"no exercise '{ref}' (shipped: {', '.join(q.stem for q in builtin_exercises())})")


def exercises_command(args) -> int:
    from needlesafe.app.exercises import ExerciseError, builtin_exercises, load_exercise

    if args.dir and not Path(args.dir).is_dir():
        raise ExerciseError(f"{args.dir}: --dir: not a folder")
    paths = sorted(Path(args.dir).glob("*.json")) if args.dir else builtin_exercises()
    width = max((len(p.stem) for p in paths), default=0)
    for p in paths:
        try:
            e = load_exercise(p)
            mark = " [decline]" if e.decline_expected else ""  # "do not needle here" is the right answer
            print(f"{p.stem:<{width}} {e.pack:<24} {e.title}{mark}")
        except ExerciseError as exc:
            print(f"{p.stem:<{width}} INVALID: {exc}")
    return 0


def score_command(args) -> int:
    import json

    from needlesafe.app.attempt_log import append_attempt, attempt_record, log_path
    from needlesafe.app.exercise_check import check_target, start_needle
    from needlesafe.app.exercises import (
        DECLINE_REASONS,
        MAX_FILE_BYTES,
        ExerciseError,
        parse_exercise,
        score_attempt,
        score_decline,
    )
    from needlesafe.geometry.clearance import ClearanceEngine
    from needlesafe.geometry.needle import Needle
    from needlesafe.meshes.io import read_json
    from needlesafe.meshes.resolve import load_pack
    from needlesafe.meshes.types import PackError

    decline = getattr(args, "decline", None)
    if decline is not None and decline not in DECLINE_REASONS:
        print(f"needlesafe: error: score: --decline: unknown reason {decline!r} (one of {', '.join(DECLINE_REASONS)})",
              file=sys.stderr)
        return 2
    if decline is None and (args.entry is None or args.direction is None or args.depth is None):
        print("needlesafe: error: score: --entry, --direction and --depth are needed (or --decline REASON)",
              file=sys.stderr)
        return 2
    path = _exercise_path(args.exercise)
    try:
        data = read_json(path, MAX_FILE_BYTES, ExerciseError, "exercise")  # read once, parsed twice
        pack = parse_exercise(data, None, str(path)).pack  # the file is checked before its pack is loaded
        try:
            scene = load_pack(pack)
        except PackError as exc:
            raise ExerciseError(f"{path}: pack {pack!r}: {exc}") from None
        ex = parse_exercise(data, scene, str(path))
    except (ExerciseError, ValueError) as exc:
        print(f"needlesafe: error: {exc}", file=sys.stderr)
        return 2
    engine = ClearanceEngine(scene)
    try:
        check_target(ex, engine)
    except ExerciseError as exc:
        print(f"needlesafe: error: {path}: {exc}", file=sys.stderr)
        return 2
    if decline is not None:  # no needle goes in: the log records where it waited, on the skin
        needle = start_needle(ex, engine) or Needle(ex.target_point + (0, 0, 1), (0, 0, -1), 0.0,
                                                   ex.needle_length_mm, ex.needle_gauge_mm)
        report = engine.report(needle)
        score = score_decline(ex, decline)
    else:
        needle = Needle(args.entry, args.direction, args.depth, ex.needle_length_mm, ex.needle_gauge_mm)
        report = engine.report(needle)
        score = score_attempt(ex, report, args.redirections)
    if args.student:
        try:
            metrics = None if decline is not None else _one_needle_metrics(ex, engine, report, args)
            append_attempt(log_path(args.student), attempt_record(args.student, ex, report, score, metrics=metrics))
        except (ExerciseError, OSError) as exc:
            print(f"needlesafe: error: could not log the attempt: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(score.to_dict()))
    else:
        declined = f" (declined: {decline})" if decline is not None else ""
        print(f"{ex.title}: {score.score}/100, {'PASSED' if score.passed else 'not passed'}{declined}")
        for line in score.feedback:
            print(f"  - {line}")
    return 0


def _one_needle_metrics(ex, engine, report, args) -> dict:
    """The metrics of a needle scored on the command line: inserted straight from the skin to its
    depth at one moment (no history), with the redirections the command was told."""
    from needlesafe.app.exercise_check import start_needle
    from needlesafe.app.metrics import AttemptTracker

    tracker = AttemptTracker.for_exercise(ex, start_needle(ex, engine))
    tracker.add(0.0, report.needle.at_depth(0.0), None)
    tracker.add(0.0, report.needle, report)
    m = tracker.result(0.0)
    m["redirections"] = int(args.redirections)
    m["first_pass"] = bool(m["first_pass"] and args.redirections == 0)
    return m


def _metric_cells(a) -> str:
    """A log line's metric columns, where the attempt recorded them (old logs have none)."""
    m = a.get("metrics")
    if not isinstance(m, dict):
        return ""
    cells = [f"redir {m.get('redirections', 0)}", "first-pass" if m.get("first_pass") else ""]
    for key, label, unit in (("time_s", "time", "s"), ("depth_error_mm", "depth err", "mm"),
                             ("angle_error_deg", "angle err", "deg"), ("margin_time_s", "in margin", "s")):
        if m.get(key) is not None:
            cells.append(f"{label} {m[key]:.2f} {unit}")
    return "  " + ", ".join(c for c in cells if c)


def attempts_command(args) -> int:
    from needlesafe.app.attempt_log import gradebook_csv, read_logs, summary
    from needlesafe.app.exercises import ExerciseError
    from needlesafe.meshes.io import atomic_write_text

    try:
        attempts, answers, problems = read_logs(args.log)  # a log, or a folder of logs (a class)
    except ExerciseError as exc:
        print(f"needlesafe: error: {exc}", file=sys.stderr)
        return 2
    for a in attempts:
        s = a["score"]
        print(f"{a.get('time', ''):<26} {a.get('student', ''):<16} {a['exercise']:<28} {s['score']:>3} "
              f"{'passed' if s.get('passed') else ''}{_metric_cells(a)}"
              + (f" declined: {a['declined']}" if a.get("declined") else ""))
    by_student: dict = {}
    for a in attempts:
        by_student.setdefault(a.get("student", ""), []).append(a)
    for student, recs in sorted(by_student.items()):
        who = f" {student}" if len(by_student) > 1 else ""
        for ex_id, s in summary(recs).items():
            print(f"summary{who} {ex_id}: {s['attempts']} attempts, {s['passed']} passed, "
                  f"best {s['best']}, mean {s['mean']:.0f}")
    for a in answers:
        s = a["score"]
        print(f"{a.get('time', ''):<26} {a.get('student', ''):<16} triage {a['case']:<21} {s['score']:>3} "
              f"{s.get('verdict', 'correct' if s.get('passed') else '')} (answered {a['answer']}, "
              f"right: {a['correct_action']})")
    if answers:
        right = sum(1 for a in answers if a["score"].get("passed"))
        print(f"summary triage: {len(answers)} answered, {right} right")
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    if args.csv:
        atomic_write_text(Path(args.csv), gradebook_csv(attempts))
        print(f"wrote {args.csv}")
    return 0


def report_command(args) -> int:
    import tempfile

    from needlesafe.app.attempt_log import read_attempts
    from needlesafe.app.exercises import ExerciseError
    from needlesafe.app.render import render_scene
    from needlesafe.app.report_html import build_report, section_for
    from needlesafe.app.scenario import ScenarioError, load_scenario
    from needlesafe.geometry.clearance import ClearanceEngine
    from needlesafe.geometry.needle import Needle
    from needlesafe.meshes.io import atomic_write_text
    from needlesafe.meshes.resolve import load_pack
    from needlesafe.meshes.types import PackError

    score = None
    try:
        if args.scenario:
            sc = load_scenario(args.scenario)
            pack, needles, title = sc.pack, sc.needles, f"Scenario {Path(args.scenario).name}"
        else:
            attempts, _ = read_attempts(args.log)
            if not 1 <= args.attempt <= len(attempts):
                print(f"needlesafe: error: {args.log}: the log has {len(attempts)} valid attempts", file=sys.stderr)
                return 2
            rec = attempts[args.attempt - 1]
            pack, needles, score = rec["pack"], [Needle.from_dict(rec["needle"])], rec["score"]
            title = f"Attempt {args.attempt}: {rec.get('student', '')}, {rec.get('title', rec['exercise'])}"
    except (ScenarioError, ExerciseError) as exc:
        print(f"needlesafe: error: {exc}", file=sys.stderr)
        return 2
    try:
        scene = load_pack(pack)
    except PackError as exc:
        print(f"needlesafe: error: {args.scenario or args.log}: {exc}", file=sys.stderr)
        return 2
    engine = ClearanceEngine(scene)
    sections = [
        section_for(engine, f"Needle {k}" if len(needles) > 1 else "Needle", n, score)
        for k, n in enumerate(needles, start=1)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "view.png"
        render_scene(scene, "oblique", png, size=(960, 720), needles=needles, muscle_opacity=0.35)
        image = png.read_bytes()
    atomic_write_text(Path(args.out), build_report(title, scene.name, sections, image))
    print(f"wrote {args.out}")
    return 0
