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
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from needlesafe.geometry.needle import Needle, NeedleError
from needlesafe.meshes.io import read_regular_bytes
from needlesafe.meshes.paths import user_dir

from .exercises import MAX_LOG_BYTES, ExerciseError

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


def attempt_record(student: str, exercise: Exercise, report, score: Score, events=()) -> dict:
    """A log record of a scored attempt, with the events of its history (kind, structure, depth, message)."""
    return {
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


def read_attempts(path, kind: str = "attempt") -> tuple[list, list]:
    """All valid attempts of a log and a list of problems ("LOG: line 7: skipped (not JSON)"); bad
    lines (wrong types, deep nesting, over-long numbers) are reported, never raised, so one damaged
    line loses nothing else. The log itself must be a regular file of at most MAX_LOG_BYTES.
    Only records of `kind` are returned ("attempt": scored needles, the default; "triage": triage
    answers); valid records of the other kind are left out silently."""
    path = Path(path)
    raw = read_regular_bytes(path, MAX_LOG_BYTES, ExerciseError, "attempt log")
    attempts, problems = [], []
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
        if rec.get("kind", "attempt") == kind:
            attempts.append(rec)
    return attempts, problems


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


def csv_cell(value):
    """A CSV cell a spreadsheet will not run as a formula: text starting with =, +, -, @ (or a tab
    or carriage return) gets a leading single quote. Numbers stay numbers (-12.5 is written as
    -12.5): only text is neutralised, as only text can carry a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
