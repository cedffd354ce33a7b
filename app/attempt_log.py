"""The per-student attempt log (no Qt here): one JSON object a line, appended atomically, read back
line by line so a damaged line never hides the others. Scored exercise attempts ("attempt") and
triage answers ("triage", app/triage.py) share a student's log."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from needlesafe.geometry.needle import Needle, NeedleError
from needlesafe.meshes.io import read_regular_bytes
from needlesafe.meshes.paths import user_dir

from .exercises import HARMFUL_EVENTS, MAX_LOG_BYTES, ExerciseError
from .metrics import ceil2

if TYPE_CHECKING:
    from .exercises import Exercise, Score


def attempts_dir() -> Path:
    """Where attempt logs live: $NEEDLESAFE_ATTEMPTS or ~/.local/share/needlesafe/attempts."""
    return user_dir("NEEDLESAFE_ATTEMPTS", "needlesafe/attempts")


def log_path(student: str) -> Path:
    """The student's log: `attempts_dir()/NAME.jsonl` when the name is a plain file name (letters,
    digits, - and _, at most 64), else a readable slug plus a short hash of the exact name
    (`Ann_Lee-3f2a9c01d4.jsonl`), so two different names never share a log."""

    if not isinstance(student, str) or not student.strip():
        raise ExerciseError("a student name is needed to log attempts (it is empty)")
    if "\0" in student:
        raise ExerciseError("a student name cannot hold a NUL character")
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in student.strip())[:64]
    if slug != student or slug.startswith("-"):
        digest = hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        slug = f"{slug.lstrip('-')[:48]}-{digest}"
    return attempts_dir() / f"{slug}.jsonl"


def append_attempt(path, record: dict) -> None:
    """Append one attempt as one JSON line: a single O_APPEND write then fsync, so concurrent
    appends never interleave and a crash can cut at most the line being written."""

    line = (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.path.exists(path) and not path.is_file():  # a FIFO would block, a device never end
        raise ExerciseError(f"{path}: the attempt log is not a regular file")
    # O_NONBLOCK: a FIFO swapped in since the check fails at once instead of waiting for a reader
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0), 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ExerciseError(f"{path}: the attempt log is not a regular file")
        # a previous crash may have left a line without its newline: start on a fresh line
        if os.fstat(fd).st_size > 0:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def attempt_record(student: str, exercise: Exercise, report, score: Score, events=(), metrics=None) -> dict:
    """A log record of a scored attempt, with the events of its history (kind, structure, depth, message)
    and, when given, its grading metrics (app/metrics.py `AttemptTracker.result`)."""
    record = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "student": student,
        "exercise": exercise.id,
        "title": exercise.title,
        "pack": exercise.pack,
        "needle": {k: v for k, v in report.needle.to_dict().items() if k != "tip_lps"},
        "score": score.to_dict(),
        "level": report.level,
        "safe_depth_mm": report.path.safe_depth_mm,
        "events": [{"kind": e.kind, "structure": e.structure, "depth_mm": e.depth_mm, "message": e.message}
                   for e in events],
    }
    if metrics is not None:
        record["metrics"] = metrics
    if getattr(score, "declined", None):  # "do not needle here", with this reason (exercises.DECLINE_REASONS)
        record["declined"] = score.declined
    return record


#: The kinds of record an attempt log holds: a scored needle ("attempt"; old logs have no "kind")
#: and a post-procedure triage answer ("triage", written by app/triage.py).
RECORD_KINDS = ("attempt", "triage")
#: The triage actions, least to most urgent (app/triage.py scores them; the log check reads them here).
TRIAGE_ACTIONS = ("reassure", "advise_review", "refer", "emergency")


def _check_triage_record(rec: dict) -> None:
    """Raise ValueError naming the first field of a triage record with a wrong type or value."""
    for key in ("case", "answer", "correct_action"):
        if not isinstance(rec.get(key), str) or not rec[key]:
            raise ValueError(f"'{key}' must be text")
    for key in ("answer", "correct_action"):
        if rec[key] not in TRIAGE_ACTIONS:
            raise ValueError(f"'{key}' must be one of {', '.join(TRIAGE_ACTIONS)}")
    for key in ("time", "student", "title", "event"):
        if key in rec and not isinstance(rec[key], str):
            raise ValueError(f"'{key}' must be text, got {type(rec[key]).__name__}")
    if rec.get("region") is not None and not isinstance(rec["region"], str):
        raise ValueError("'region' must be text or null")
    sc = rec.get("score")
    if not isinstance(sc, dict):
        raise ValueError("'score' must be an object")
    if isinstance(sc.get("score"), bool) or not isinstance(sc.get("score"), int) or not 0 <= sc["score"] <= 100:
        raise ValueError("'score.score' must be a whole number from 0 to 100")
    if not isinstance(sc.get("passed"), bool):
        raise ValueError("'score.passed' must be true or false")
    fb = sc.get("feedback", [])
    if not isinstance(fb, list) or not all(isinstance(x, str) for x in fb):
        raise ValueError("'score.feedback' must be a list of text lines")


MAX_LOG_EVENTS = 100  # events kept in one attempt record (an attempt fires each event once)
MAX_NEAR_MISSES = 500  # structures in one record's near misses (a scene's danger structures)


def _finite(x, low=None) -> bool:
    return (not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)
            and (low is None or x >= low))


def _check_metrics(m) -> None:
    """Raise ValueError naming the first metric of a record's "metrics" with a wrong type or value
    (app/metrics.py; metrics are optional: old logs have none; unknown keys are left alone)."""
    if not isinstance(m, dict):
        raise ValueError("'metrics' must be an object")
    if "first_pass" in m and not isinstance(m["first_pass"], bool):
        raise ValueError("'metrics.first_pass' must be true or false")
    r = m.get("redirections", 0)
    if isinstance(r, bool) or not isinstance(r, int) or r < 0:
        raise ValueError("'metrics.redirections' must be a whole number from 0")
    for key, low in (("time_s", 0.0), ("depth_error_mm", None), ("angle_error_deg", 0.0)):
        if m.get(key) is not None and not _finite(m[key], low):
            raise ValueError(f"'metrics.{key}' must be a finite number{'' if low is None else ' from 0'} or null")
    for key in ("path_mm", "margin_time_s", "deepest_intrusion_mm"):
        if key in m and not _finite(m[key], 0.0):
            raise ValueError(f"'metrics.{key}' must be a finite number from 0")
    near = m.get("near_misses", {})
    if not isinstance(near, dict) or len(near) > MAX_NEAR_MISSES:
        raise ValueError(f"'metrics.near_misses' must map at most {MAX_NEAR_MISSES} structures to mm")
    for k, v in near.items():
        if not _finite(v, 0.0):
            raise ValueError(f"'metrics.near_misses.{k[:40]}' must be a finite number from 0")
    ev = m.get("events", {})
    if not isinstance(ev, dict) or len(ev) > MAX_LOG_EVENTS:
        raise ValueError(f"'metrics.events' must map at most {MAX_LOG_EVENTS} event kinds to counts")
    for k, v in ev.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"'metrics.events.{k[:40]}' must be a whole number from 0")


def _check_record(rec) -> None:
    """Raise ValueError naming the first field of an attempt record with a wrong type or value."""
    if not isinstance(rec, dict):
        raise ValueError("not an attempt record (a JSON object)")
    kind = rec.get("kind", "attempt")
    if kind not in RECORD_KINDS:
        raise ValueError(f"unknown record kind {str(kind)[:40]!r} (this NeedleSafe reads {', '.join(RECORD_KINDS)})")
    if kind == "triage":
        _check_triage_record(rec)
        return
    for key in ("exercise", "pack"):
        if not isinstance(rec.get(key), str) or not rec[key]:
            raise ValueError(f"'{key}' must be text")
    for key in ("time", "student", "title", "level"):
        if key in rec and not isinstance(rec[key], str):
            raise ValueError(f"'{key}' must be text, got {type(rec[key]).__name__}")
    number = (int, float)
    n = rec.get("needle")
    if not isinstance(n, dict):
        raise ValueError("'needle' must be an object")
    for key in ("entry_lps", "direction"):
        v = n.get(key)
        if not isinstance(v, list) or len(v) != 3 or any(isinstance(x, bool) or not isinstance(x, number) for x in v):
            raise ValueError(f"'needle.{key}' must be three numbers")
    for key in ("depth_mm", "length_mm", "gauge_mm"):
        if key in n and (isinstance(n[key], bool) or not isinstance(n[key], number)):
            raise ValueError(f"'needle.{key}' must be a number")
    try:
        Needle.from_dict(n)
    except NeedleError as exc:
        raise ValueError(f"'needle' (direction, depth_mm ...): {exc}") from None
    sc = rec.get("score")
    if not isinstance(sc, dict):
        raise ValueError("'score' must be an object")
    if isinstance(sc.get("score"), bool) or not isinstance(sc.get("score"), int) or not 0 <= sc["score"] <= 100:
        raise ValueError("'score.score' must be a whole number from 0 to 100")
    for key in ("passed", "target_reached", "clearance_ok", "backstop_ok"):
        if key in sc and not isinstance(sc[key], bool):
            raise ValueError(f"'score.{key}' must be true or false")
    if "target_distance_mm" in sc and (isinstance(sc["target_distance_mm"], bool)
                                       or not isinstance(sc["target_distance_mm"], number)):
        raise ValueError("'score.target_distance_mm' must be a number")
    if "redirections" in sc and (isinstance(sc["redirections"], bool) or not isinstance(sc["redirections"], int)):
        raise ValueError("'score.redirections' must be a whole number")
    fb = sc.get("feedback", [])
    if not isinstance(fb, list) or not all(isinstance(x, str) for x in fb):
        raise ValueError("'score.feedback' must be a list of text lines")
    sd = rec.get("safe_depth_mm")
    if sd is not None and (isinstance(sd, bool) or not isinstance(sd, number)):
        raise ValueError("'safe_depth_mm' must be a number or null")
    if rec.get("declined") is not None and not isinstance(rec["declined"], str):
        raise ValueError("'declined' must be a decline reason (text) or null")
    events = rec.get("events", [])
    if not isinstance(events, list) or len(events) > MAX_LOG_EVENTS:
        raise ValueError(f"'events' must be a list of at most {MAX_LOG_EVENTS} events")
    for k, e in enumerate(events):
        if not isinstance(e, dict) or not isinstance(e.get("kind"), str) or not isinstance(e.get("message", ""), str):
            raise ValueError(f"'events[{k}]' must be an object with a 'kind' and a 'message'")
        if e.get("structure") is not None and not isinstance(e["structure"], str):
            raise ValueError(f"'events[{k}].structure' must be text or null")
        d = e.get("depth_mm")
        if isinstance(d, bool) or not isinstance(d, number) or not math.isfinite(d):
            raise ValueError(f"'events[{k}].depth_mm' must be a finite number")
    if rec.get("metrics") is not None:
        _check_metrics(rec["metrics"])


def read_attempts(path, kind: str = "attempt") -> tuple[list, list]:
    """All valid attempts of a log and a list of problems ("LOG: line 7: skipped (not JSON)"); bad
    lines (wrong types, deep nesting, over-long numbers) are reported, never raised, so one damaged
    line loses nothing else. The log itself must be a regular file of at most MAX_LOG_BYTES.
    Only records of `kind` are returned ("attempt": scored needles, the default; "triage": triage
    answers); valid records of the other kind are left out silently."""
    by_kind, problems = _read_log(path)
    return by_kind.get(kind, []), problems


def _read_log(path) -> tuple[dict, list]:
    """({record kind: valid records}, problems) of one log, read once (see `read_attempts`)."""
    path = Path(path)
    raw = read_regular_bytes(path, MAX_LOG_BYTES, ExerciseError, "attempt log")
    by_kind: dict = {k: [] for k in RECORD_KINDS}
    problems = []
    for k, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line.decode("utf-8"))
            _check_record(rec)
        except RecursionError:
            problems.append(f"{path}: line {k}: skipped (JSON nested too deeply)")
            continue
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: line {k}: skipped ({exc})"[:500])
            continue
        by_kind[rec.get("kind", "attempt")].append(rec)
    return by_kind, problems


def summary(attempts: list) -> dict:
    """Per exercise: attempts, passes, best and mean score."""
    out = {}
    for rec in attempts:
        s = out.setdefault(rec["exercise"], {"attempts": 0, "passed": 0, "best": 0, "total": 0})
        s["attempts"] += 1
        s["passed"] += bool(rec["score"].get("passed"))
        s["best"] = max(s["best"], rec["score"]["score"])
        s["total"] += rec["score"]["score"]
    for s in out.values():
        s["mean"] = s.pop("total") / s["attempts"]
    return out


def attempts_csv(attempts: list) -> str:

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["time", "student", "exercise", "score", "passed", "target_distance_mm", "clearance_ok",
                "backstop_ok", "redirections", "level", "entry_x", "entry_y", "entry_z", "dx", "dy", "dz",
                "depth_mm"])
    for r in attempts:
        s, n = r["score"], r["needle"]
        row = [r.get("time", ""), r.get("student", ""), r["exercise"], s["score"], s.get("passed"),
               round(float(s.get("target_distance_mm", float("nan"))), 2), s.get("clearance_ok"),
               s.get("backstop_ok"), s.get("redirections"), r.get("level", ""), *n["entry_lps"], *n["direction"],
               n["depth_mm"]]
        w.writerow([csv_cell(x) for x in row])
    return buf.getvalue()


def read_logs(path) -> tuple[list, list, list]:
    """(attempts, triage answers, problems) of one log file, or of every `*.jsonl` log in a folder (a
    class: one log per student). In a folder a log that cannot be read is a problem, not an error;
    a record without a student takes its log's file name. Raises ExerciseError for a single file
    that cannot be read or a folder holding no log."""
    path = Path(path)
    if not path.is_dir():
        by_kind, problems = _read_log(path)
        return by_kind["attempt"], by_kind["triage"], problems
    logs = sorted(p for p in path.glob("*.jsonl"))
    if not logs:
        raise ExerciseError(f"{path}: a folder with no *.jsonl attempt log in it")
    attempts, answers, problems = [], [], []
    for log in logs:
        try:
            by_kind, bad = _read_log(log)
            got, tri = by_kind["attempt"], by_kind["triage"]
        except ExerciseError as exc:
            problems.append(str(exc)[:500])
            continue
        for rec in got + tri:
            if not rec.get("student"):
                rec["student"] = log.stem
        attempts += got
        answers += tri
        problems += bad
    return attempts, answers, problems


def _metric(rec, key):
    m = rec.get("metrics")
    return m.get(key) if isinstance(m, dict) else None


def _redirections(rec):
    r = _metric(rec, "redirections")
    return rec["score"].get("redirections") if r is None else r


def _counts_text(counts: dict) -> str:
    return "; ".join(f"{k}:{v}" for k, v in sorted(counts.items()))


def _mean(values, up=False):
    values = [float(v) for v in values if v is not None]
    if not values:
        return ""
    m = sum(values) / len(values)
    return ceil2(m) if up else round(m, 2)


GRADEBOOK_COLUMNS = [
    "row_type", "student", "exercise", "time",
    # one attempt ("attempt" rows)
    "score", "passed", "declined", "first_pass", "redirections", "time_s", "depth_error_mm", "angle_error_deg",
    "path_mm",
    "margin_time_s", "deepest_intrusion_mm", "near_misses", "events",
    # one student and exercise ("exercise" rows)
    "attempts", "passes", "pass_rate", "best", "mean", "first_pass_rate", "mean_redirections", "mean_time_s",
    "mean_abs_depth_error_mm", "mean_angle_error_deg", "mean_margin_time_s",
]


def gradebook_rows(records: list) -> list[dict]:
    """The gradebook: one "exercise" row per student and exercise (attempts, passes, pass rate, best
    and mean score, first-pass rate, means of redirections, time, |depth error|, angle error and
    margin time over the attempts that recorded them, events summed), then one "attempt" row per
    attempt. Rates are 0..1; errors and times are rounded up (toward danger) to 0.01."""
    groups: dict = {}
    for rec in records:
        groups.setdefault((str(rec.get("student", "")), rec["exercise"]), []).append(rec)
    rows = []
    for (student, exercise), recs in sorted(groups.items()):
        scores = [r["score"]["score"] for r in recs]
        passes = sum(1 for r in recs if r["score"].get("passed"))
        firsts = [_metric(r, "first_pass") for r in recs if _metric(r, "first_pass") is not None]
        events: dict = {}
        for r in recs:
            for k, v in (_metric(r, "events") or {}).items():
                events[k] = events.get(k, 0) + v
        depth = [_metric(r, "depth_error_mm") for r in recs]
        rows.append({
            "row_type": "exercise", "student": student, "exercise": exercise, "attempts": len(recs),
            "passes": passes, "pass_rate": round(passes / len(recs), 3), "best": max(scores),
            "mean": round(sum(scores) / len(scores), 1),
            "first_pass_rate": round(sum(map(bool, firsts)) / len(firsts), 3) if firsts else "",
            "mean_redirections": _mean(_redirections(r) for r in recs),
            "mean_time_s": _mean((_metric(r, "time_s") for r in recs), up=True),
            "mean_abs_depth_error_mm": _mean((abs(d) for d in depth if d is not None), up=True),
            "mean_angle_error_deg": _mean((_metric(r, "angle_error_deg") for r in recs), up=True),
            "mean_margin_time_s": _mean((_metric(r, "margin_time_s") for r in recs), up=True),
            "events": _counts_text(events),
        })
    for (student, exercise), recs in sorted(groups.items()):
        for r in recs:
            near = _metric(r, "near_misses") or {}
            rows.append({
                "row_type": "attempt", "student": student, "exercise": exercise, "time": r.get("time", ""),
                "score": r["score"]["score"], "passed": bool(r["score"].get("passed")),
                "declined": r.get("declined"),  # the reason of a "do not needle here", else empty
                "first_pass": _metric(r, "first_pass"), "redirections": _redirections(r),
                **{k: _metric(r, k) for k in ("time_s", "depth_error_mm", "angle_error_deg", "path_mm",
                                              "margin_time_s", "deepest_intrusion_mm")},
                "near_misses": "; ".join(f"{k}:{v:.2f}" for k, v in sorted(near.items())),
                "events": _counts_text(_metric(r, "events") or {}),
            })
    return rows


def gradebook_csv(records: list) -> str:
    """`gradebook_rows` as CSV with a header (GRADEBOOK_COLUMNS); empty cells where a value does not
    apply or was not recorded (old logs have no metrics); every cell through `csv_cell`."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(GRADEBOOK_COLUMNS)
    for row in gradebook_rows(records):
        w.writerow([csv_cell("" if row.get(c) is None else row.get(c, "")) for c in GRADEBOOK_COLUMNS])
    return buf.getvalue()


#: The metrics a learning curve can show (key, label with unit), after the score.
CURVE_METRICS = (("time_s", "time (s)"), ("redirections", "redirections"), ("depth_error_mm", "depth error (mm)"),
                 ("angle_error_deg", "angle error (deg)"), ("path_mm", "path in tissue (mm)"),
                 ("margin_time_s", "time inside a margin (s)"), ("deepest_intrusion_mm", "deepest intrusion (mm)"))


def learning_curve(records: list, student: str, exercise: str, metric: str = "score") -> tuple[list, list]:
    """(attempt numbers from 1, values) of `student`'s attempts at `exercise`, in log order: the score,
    or a metric (CURVE_METRICS; attempts that did not record it are left out, keeping their number)."""
    xs, ys = [], []
    recs = [r for r in records if str(r.get("student", "")) == student and r["exercise"] == exercise]
    for k, r in enumerate(recs, start=1):
        v = r["score"]["score"] if metric == "score" else (
            _redirections(r) if metric == "redirections" else _metric(r, metric))
        if v is not None:
            xs.append(k)
            ys.append(float(v))
    return xs, ys


_GOOD_FEEDBACK = ("Target reached", "Every danger structure", "Good bracketing", "Local twitch")


def common_mistakes(records: list, n: int = 3) -> list[tuple[str, int]]:
    """The `n` most frequent mistakes of `records`: harmful event kinds ("nerve contact") and the
    failing feedback lines of attempts that did not pass, numbers replaced by '#' so the same
    mistake counts once per attempt; (text, attempts) most frequent first."""
    counts: dict = {}
    for r in records:
        seen = {str(e.get("kind", "")).replace("_", " ") for e in r.get("events", ())
                if e.get("kind") in HARMFUL_EVENTS}
        if not r["score"].get("passed"):
            for line in r["score"].get("feedback", ()):
                if not line.startswith(_GOOD_FEEDBACK) and not line.startswith("During the attempt"):
                    seen.add(re.sub(r"\d+(\.\d+)?", "#", line)[:160])
        for k in seen:
            counts[k] = counts.get(k, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def csv_cell(value):
    """A CSV cell a spreadsheet will not run as a formula: text starting with =, +, -, @ (or a tab
    or carriage return) gets a leading single quote. Numbers stay numbers (-12.5 is written as
    -12.5): only text is neutralised, as only text can carry a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
