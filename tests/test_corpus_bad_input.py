"""A corpus of bad inputs, run through the command line in this process.

Every entry is (kind, area, setup, message[, rc, out]): `setup(tmp)` makes the bad file(s) and returns
(argv, name), where `name` (a path, a structure, an option) must appear in the error. The command must
end with exit code `rc` (2 unless told), `needlesafe: error:` (or, for a damaged attempt-log line, a
warning) on stderr naming `name` and containing `message`, never a traceback, a hang or a silent success.
To grow the corpus, add a row. Outcomes are classified (clear / traceback / hang / memory / silent /
unclear) so a failing row says what went wrong.

Measured on the code before the fixes (commit 65c1a87; the first 164 kinds, a 4 GB memory limit, 30 s each):
24 clear, 43 tracebacks, 7 hangs (FIFOs; `map --gauge nan`), 7 unbounded reads (MemoryError: /dev/zero,
3 GB files), 26 silent acceptances, 57 unclear (exit 2, but the message lacked the file or option, or
the problem). After the fixes: all 165 kinds clear.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from needlesafe.app.cli import main
from needlesafe.meshes.io import write_ply

from .conftest import REPO, box_mesh

BOX = box_mesh((0, 0, 0), (40, 30, 20))
EXERCISE = json.loads((REPO / "app" / "exercises" / "gluteal-piriformis.json").read_text())
TRIAGE = json.loads((REPO / "app" / "triage" / "burning-pain-back-of-leg.json").read_text())
DEEP = "[" * 2000 + "]" * 2000
HUGE = int("9" * 400)  # beyond a float; str <-> int within Python's 4300-digit limit
SPARSE = 3 * 2**30  # a sparse file this large holds no data on disk


# ----- helpers that make bad files -----------------------------------------------------------------

def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _zero(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def _sparse(path: Path) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(SPARSE)
    return path


def _json(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _document(path: Path, template, change=None, make=None) -> Path:
    """Write a deep copy of `template` with `change(copy)` applied (its return value replaces the copy
    when not None) to `path`, or let `make(path)` write the file."""
    if make is not None:
        make(path)
        return path
    data = json.loads(json.dumps(template))
    out = change(data) if change is not None else None
    return _json(path, data if out is None else out)


def _pack(tmp: Path, structures=None, meshes=None, **manifest) -> Path:
    """A one-bone pack folder with `manifest` keys changed; `meshes` maps file names to (v, f)."""
    folder = tmp / "pack"
    folder.mkdir()
    for name, (v, f) in (meshes or {"bone.ply": BOX}).items():
        write_ply(folder / name, v, f)
    data = {"format": "needlesafe-pack", "version": 1, "name": "t", "units": "mm", "frame": "LPS",
            "structures": structures or [{"name": "bone", "file": "bone.ply", "role": "bone"}]}
    data.update(manifest)
    _json(folder / "pack.json", data)
    return folder


NEEDLE = ["--entry", "0", "0", "0", "--direction", "0", "0", "1", "--depth", "5"]


def check(pack, *more):
    return ["check", "--pack", str(pack), *NEEDLE, *more]


def pack_case(**kw):
    def setup(tmp):
        folder = _pack(tmp, **kw)
        return check(folder), str(folder / "pack.json")
    return setup


def manifest_file(make):
    """The pack's manifest replaced by what `make(path)` makes."""
    def setup(tmp):
        folder = _pack(tmp)
        (folder / "pack.json").unlink()
        make(folder / "pack.json")
        return check(folder), str(folder / "pack.json")
    return setup


def mesh_file(make):
    """The pack's only mesh replaced by what `make(path)` makes."""
    def setup(tmp):
        folder = _pack(tmp)
        (folder / "bone.ply").unlink()
        make(folder / "bone.ply")
        return check(folder), str(folder)
    return setup


SCENARIO = {"format": "needlesafe-scenario", "version": 1, "pack": "default",
            "needles": [{"entry_lps": [0, 0, 0], "direction": [0, 0, 1], "depth_mm": 5, "length_mm": 50,
                         "gauge_mm": 0.3}]}


def scenario(change=None, make=None):
    """`report --scenario` of the default scenario with `change(data)` applied, or a file `make(path)` makes."""
    def setup(tmp):
        path = _document(tmp / "s.json", SCENARIO, change, make)
        return ["report", "--scenario", str(path), "--out", str(tmp / "r.html")], str(path)
    return setup


def exercise(change=None, make=None):
    """`score FILE` of the piriformis exercise with `change(data)` applied, or a file `make(path)` makes."""
    def setup(tmp):
        path = _document(tmp / "e.json", EXERCISE, change, make)
        return ["score", str(path), *NEEDLE], str(path)
    return setup


GOOD_ATTEMPT = {
    "time": "2026-01-01T10:00:00+00:00", "student": "Bo", "exercise": "gluteal-piriformis",
    "title": "Piriformis trigger point", "pack": "gluteal",
    "needle": {"entry_lps": [0.0, 0.0, 0.0], "direction": [0.0, 0.0, 1.0], "depth_mm": 5.0, "length_mm": 75.0,
               "gauge_mm": 0.3},
    "score": {"score": 40, "passed": False, "target_reached": False, "target_distance_mm": 20.0,
              "clearance_ok": True, "backstop_ok": True, "redirections": 0, "feedback": ["Target missed."]},
    "level": "safe", "safe_depth_mm": 30.0,
}


def attempt(change=None, line=None, record=None):
    """`attempts LOG` of a log whose second line is bad (a changed copy of `record`, default a good
    attempt, or a raw `line`); the first and third lines stay readable and are listed."""
    def setup(tmp):
        path = tmp / "log.jsonl"
        bad = json.loads(json.dumps(GOOD_ATTEMPT if record is None else record))
        if change is not None:
            change(bad)
        good2 = dict(GOOD_ATTEMPT, exercise="shoulder-upper-trapezius")
        text = line if line is not None else json.dumps(bad)
        path.write_text(json.dumps(GOOD_ATTEMPT) + "\n" + text + "\n" + json.dumps(good2) + "\n")
        return ["attempts", str(path)], f"{path}: line 2"
    return setup


def log_file(make, command="attempts"):
    def setup(tmp):
        path = make(tmp / "log.jsonl")
        if command == "attempts":
            return ["attempts", str(path)], str(path)
        return ["report", "--log", str(path), "--out", str(tmp / "r.html")], str(path)
    return setup


def _src(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    write_ply(src / "hip_bone.ply", *BOX)
    write_ply(src / "sciatic_nerve.ply", *box_mesh((0, 40, 0), (5, 45, 60)))
    return src


def overrides(data=None, make=None):
    """`import` of a two-mesh folder with an override file holding `data` (or made by `make(path)`)."""
    def setup(tmp):
        src = _src(tmp)
        path = tmp / "ov.json"
        if make is not None:
            make(path)
        else:
            _json(path, data)
        return ["import", str(src), "--units", "mm", "--axes", "LPS", "--out", str(tmp / "out"),
                "--overrides", str(path)], str(path)
    return setup


def args(argv, name):
    """A command line; `{tmp}` in an argument becomes the test's folder."""
    def setup(tmp):
        return [a.replace("{tmp}", str(tmp)) for a in argv], name.replace("{tmp}", str(tmp))
    return setup


def with_files(make, argv, name):
    def setup(tmp):
        make(tmp)
        return args(argv, name)(tmp)
    return setup


def _under_file(tmp):
    (tmp / "file").write_text("x")


def _log(tmp):
    (tmp / "log.jsonl").write_text(json.dumps(GOOD_ATTEMPT) + "\n")


def _scenario_ok(tmp):
    scenario(lambda d: None)(tmp)


def _set(path: str, value):
    """A change that sets a dotted key path (list indices as digits) to `value`."""
    def change(data):
        *head, last = path.split(".")
        obj = data
        for k in head:
            obj = obj[int(k)] if isinstance(obj, list) else obj[k]
        if isinstance(obj, list):
            obj[int(last)] = value
        else:
            obj[last] = value
    return change


# a pack in millimetres with one mesh written in metres (a 60 mm nerve as 0.06)
_TINY = {"bone.ply": BOX, "nerve.ply": box_mesh((0, 0.04, 0), (0.005, 0.045, 0.06))}
_TWO = [{"name": "bone", "file": "bone.ply", "role": "bone"},
        {"name": "tiny_nerve", "file": "nerve.ply", "role": "nerve"}]


def _import_src_with(make):
    def setup(tmp):
        src = _src(tmp)
        make(src / "odd.stl")
        return ["import", str(src), "--units", "mm", "--axes", "LPS", "--out", str(tmp / "o")], str(src / "odd.stl")
    return setup


def _packs_dir(make):
    def setup(tmp):
        folder = _pack(tmp)
        (folder / "pack.json").unlink()
        make(folder / "pack.json")
        return ["packs", "--dir", str(tmp)], str(folder / "pack.json")
    return setup


def _student_log(make):
    def setup(tmp):
        (tmp / "attempts").mkdir()
        make(tmp / "attempts" / "Bo.jsonl")
        return ["score", "gluteal-piriformis", *NEEDLE, "--student", "Bo"], str(tmp / "attempts" / "Bo.jsonl")
    return setup


def triage_case(change=None, make=None):
    """`triage --case FILE --answer refer` of a shipped case with `change(data)` applied, or a file
    `make(path)` makes."""
    def setup(tmp):
        path = _document(tmp / "t.json", TRIAGE, change, make)
        return ["triage", "--case", str(path), "--answer", "refer"], str(path)
    return setup


GOOD_TRIAGE = {"kind": "triage", "time": "2026-01-01T10:00:00+00:00", "student": "Bo",
               "case": "burning-pain-back-of-leg", "title": "Burning pain", "region": "gluteal",
               "event": "nerve_contact", "answer": "refer", "correct_action": "refer",
               "score": {"score": 100, "passed": True, "verdict": "correct", "feedback": ["Correct."]}}


def triage_line(change):
    """`attempts LOG` of a log whose second line is a triage record with `change` applied; the attempts
    on the first and third lines are still listed."""
    return attempt(change, record=GOOD_TRIAGE)


def _triage_student_log(make):
    def setup(tmp):
        (tmp / "attempts").mkdir()
        make(tmp / "attempts" / "Bo.jsonl")
        return (["triage", "--case", "burning-pain-back-of-leg", "--answer", "refer", "--student", "Bo"],
                str(tmp / "attempts" / "Bo.jsonl"))
    return setup


def _toml_deep(tmp):
    folder = _pack(tmp)
    (folder / "pack.json").unlink()
    (folder / "pack.toml").write_text("a = " + DEEP)
    return check(folder), str(folder / "pack.toml")


@dataclass
class Bad:
    kind: str
    area: str
    setup: Callable
    message: str
    rc: int = 2
    out: str = ""


CORPUS = [
    # ----- pack manifests and meshes
    Bad("manifest is a FIFO", "pack", manifest_file(_fifo), "not a regular file"),
    Bad("manifest is /dev/zero", "pack", manifest_file(_zero), "not a regular file"),
    Bad("manifest is a directory", "pack", manifest_file(_dir), "not a regular file"),
    Bad("manifest is huge", "pack", manifest_file(_sparse), "too large"),
    Bad("manifest nested 2000 deep", "pack", manifest_file(lambda p: _json(p, '{"structures": ' + DEEP + "}")),
        "nested too deeply"),
    Bad("TOML manifest nested 2000 deep", "pack", _toml_deep, "nested too deeply"),
    Bad("manifest from the future", "pack", pack_case(version=2), "version 2"),
    Bad("manifest version is text", "pack", pack_case(version="1"), "version"),
    Bad("400-digit margin", "pack",
        pack_case(structures=[{"name": "bone", "file": "bone.ply", "role": "bone", "margin_mm": HUGE}]), "margin_mm"),
    Bad("400-digit landmark", "pack",
        pack_case(landmarks=[{"name": "x", "point": [HUGE, 0, 0], "bone": "bone"}]), "landmarks[0]"),
    Bad("landmarks is a number", "pack", pack_case(landmarks=5), "landmarks"),
    Bad("trigger point muscle is a list", "pack",
        pack_case(trigger_points=[{"name": "x", "point": [0, 0, 0], "muscle": ["bone"]}]), "trigger_points[0]"),
    Bad("pack name is a list", "pack", pack_case(name=["a"]), "'name'"),
    Bad("a structure in metres inside a mm pack", "pack",
        lambda tmp: (check(_pack(tmp, _TWO, _TINY)), "tiny_nerve"), "other units"),
    Bad("mesh file name holds NUL", "pack",
        pack_case(structures=[{"name": "bone", "file": "bo\0ne.ply", "role": "bone"}]), "NUL"),
    Bad("mesh is a FIFO", "pack", mesh_file(_fifo), "not a regular file"),
    Bad("mesh is a directory", "pack", mesh_file(_dir), "not a regular file"),
    Bad("mesh is a symlink to /dev/zero", "pack", mesh_file(_zero), "outside the pack folder"),
    Bad("mesh is huge", "pack", mesh_file(_sparse), "too large"),
    Bad("pack name holds NUL", "pack", args(check("a\0b")[:], "--pack"), "NUL"),
    Bad("import source holds a FIFO mesh", "pack", _import_src_with(_fifo), "not a regular file"),
    Bad("import source holds a mesh that is /dev/zero", "pack", _import_src_with(_zero), "not a regular file"),
    *[Bad(f"packs --dir with a manifest {label}", "pack", _packs_dir(make), message, rc=0, out="(unreadable manifest)")
      for label, make, message in [("nested 2000 deep", lambda p: _json(p, DEEP), "nested too deeply"),
                                   ("that is huge", _sparse, "too large"),
                                   ("that is a list", lambda p: _json(p, []), "not an object")]],
    Bad("packs --dir that is missing", "pack", args(["packs", "--dir", "{tmp}/none"], "{tmp}/none"), "not a folder"),

    # ----- scenarios (report --scenario)
    Bad("scenario is a FIFO", "scenario", scenario(make=_fifo), "not a regular file"),
    Bad("scenario is /dev/zero", "scenario", scenario(make=_zero), "not a regular file"),
    Bad("scenario is a directory", "scenario", scenario(make=_dir), "not a regular file"),
    Bad("scenario nested 2000 deep", "scenario", scenario(make=lambda p: _json(p, DEEP)), "nested too deeply"),
    Bad("scenario is a list", "scenario", scenario(lambda d: [d]), "not a NeedleSafe scenario"),
    Bad("scenario from the future", "scenario", scenario(_set("version", 2)), "version 2"),
    Bad("scenario pack is a number", "scenario", scenario(_set("pack", 7)), "'pack'"),
    Bad("scenario needles is an object", "scenario", scenario(_set("needles", {})), "'needles'"),
    Bad("scenario depth is text", "scenario", scenario(_set("needles.0.depth_mm", "5")), "depth_mm"),
    Bad("scenario depth is null", "scenario", scenario(_set("needles.0.depth_mm", None)), "depth_mm"),
    Bad("scenario depth is true", "scenario", scenario(_set("needles.0.depth_mm", True)), "depth_mm"),
    Bad("scenario depth has 400 digits", "scenario", scenario(_set("needles.0.depth_mm", HUGE)), "depth_mm"),
    Bad("scenario gauge is negative", "scenario", scenario(_set("needles.0.gauge_mm", -0.3)), "gauge"),
    Bad("scenario length is NaN", "scenario",
        scenario(make=lambda p: _json(p, json.dumps({
            "format": "needlesafe-scenario", "version": 1, "pack": "default",
            "needles": [{"entry_lps": [0, 0, 0], "direction": [0, 0, 1], "depth_mm": 5, "length_mm": float("nan")}],
        }))),
        "length"),
    Bad("scenario direction is zero", "scenario", scenario(_set("needles.0.direction", [0, 0, 0])), "direction"),
    Bad("scenario direction overflows", "scenario", scenario(_set("needles.0.direction", [0, 1e400, 0])), "direction"),
    Bad("scenario entry has two numbers", "scenario", scenario(_set("needles.0.entry_lps", [0, 0])), "entry_lps"),
    Bad("scenario entry is far away", "scenario", scenario(_set("needles.0.entry_lps", [1e300, 0, 0])), "entry"),
    Bad("scenario camera is a list", "scenario", scenario(_set("camera", [1, 2, 3])), "camera"),
    Bad("scenario is not UTF-8", "scenario", scenario(make=lambda p: p.write_bytes(b'{"pack": "\xff"}')), "UTF-8"),
    Bad("scenario is huge", "scenario", scenario(make=_sparse), "too large"),
    Bad("scenario path holds NUL", "scenario", args(["report", "--scenario", "s\0.json", "--out", "{tmp}/r.html"],
                                                    "--scenario"), "NUL"),
    Bad("scenario names no pack", "scenario", scenario(_set("pack", "no-such-pack")), "no such pack"),
    Bad("scenario pack name holds NUL", "scenario", scenario(_set("pack", "de\0fault")), "NUL"),

    # ----- exercises (score FILE)
    Bad("exercise is a JSON list", "exercise", exercise(lambda d: [d]), "not a NeedleSafe exercise"),
    Bad("exercise is a FIFO", "exercise", exercise(make=_fifo), "not a regular file"),
    Bad("exercise is /dev/zero", "exercise", exercise(make=_zero), "not a regular file"),
    Bad("exercise is a directory", "exercise", exercise(make=_dir), "not a regular file"),
    Bad("exercise nested 2000 deep", "exercise", exercise(make=lambda p: _json(p, DEEP)), "nested too deeply"),
    Bad("exercise from the future", "exercise", exercise(_set("version", 2)), "version 2"),
    Bad("exercise pack is a number", "exercise", exercise(_set("pack", 3)), "'pack'"),
    Bad("exercise pack is a list", "exercise", exercise(_set("pack", ["gluteal"])), "'pack'"),
    Bad("exercise tolerance has 400 digits", "exercise", exercise(_set("target.tolerance_mm", HUGE)), "tolerance_mm"),
    Bad("exercise length is text", "exercise", exercise(_set("needle.length_mm", "75")), "length_mm"),
    Bad("exercise length is astronomical", "exercise", exercise(_set("needle.length_mm", 1e300)), "length_mm"),
    Bad("exercise gauge is 5 mm", "exercise", exercise(_set("needle.gauge_mm", 5)), "gauge_mm"),
    Bad("exercise gauge is negative", "exercise", exercise(_set("needle.gauge_mm", -0.3)), "gauge_mm"),
    Bad("exercise target is a list", "exercise", exercise(_set("target", [1, 2, 3])), "'target'"),
    Bad("exercise target point holds true", "exercise",
        exercise(_set("target", {"structure": "piriformis", "point": [True, 0, 0]})), "target.point"),
    Bad("exercise trigger point is an object", "exercise", exercise(_set("target.trigger_point", {})), "trigger_point"),
    Bad("exercise clearance is text", "exercise", exercise(_set("constraints.clearance_mm.sciatic_nerve", "5")),
        "clearance_mm"),
    Bad("exercise redirections negative", "exercise", exercise(_set("constraints.max_redirections", -1)),
        "max_redirections"),
    Bad("exercise teaching is a number", "exercise", exercise(_set("teaching", 5)), "'teaching'"),
    Bad("exercise id is a list", "exercise", exercise(_set("id", ["x"])), "'id'"),
    Bad("exercise is not UTF-8", "exercise", exercise(make=lambda p: p.write_bytes(b'{"id": "\xff"}')), "UTF-8"),
    Bad("exercise path holds NUL", "exercise", args(["score", "e\0.json", *NEEDLE], "e"), "NUL"),
    Bad("exercise pack name holds NUL", "exercise", exercise(_set("pack", "glu\0teal")), "NUL"),
    Bad("exercise pack does not exist", "exercise", exercise(_set("pack", "no-such-pack")), "no such pack"),
    Bad("exercises --dir that is missing", "exercise", args(["exercises", "--dir", "{tmp}/none"], "{tmp}/none"),
        "not a folder"),
    # ----- decline exercises ("When not to needle") and benchmarks
    Bad("exercise decline is a list", "exercise", exercise(_set("decline", [True])), "'decline'"),
    Bad("exercise decline.expected is text", "exercise", exercise(_set("decline", {"expected": "yes"})),
        "decline.expected"),
    Bad("exercise decline reason unknown", "exercise",
        exercise(_set("decline", {"expected": True, "reasons": ["too_scary"], "why": "x"})), "too_scary"),
    Bad("exercise decline reasons is text", "exercise",
        exercise(_set("decline", {"expected": True, "reasons": "other", "why": "x"})), "decline.reasons"),
    Bad("exercise decline without a reason", "exercise",
        exercise(_set("decline", {"expected": True, "reasons": [], "why": "x"})), "at least one reason"),
    Bad("exercise decline reason twice", "exercise",
        exercise(_set("decline", {"expected": True, "reasons": ["other", "other"], "why": "x"})), "twice"),
    Bad("exercise decline without why", "exercise",
        exercise(_set("decline", {"expected": True, "reasons": ["other"]})), "decline.why"),
    Bad("exercise benchmark is a number", "exercise", exercise(_set("benchmark", 11)), "'benchmark'"),
    Bad("score --decline with an unknown reason", "exercise",
        args(["score", "gluteal-piriformis", "--decline", "bored"], "--decline"), "bored"),
    Bad("score without a needle or --decline", "exercise",
        args(["score", "gluteal-piriformis", "--depth", "5"], "--entry"), "--decline"),

    # ----- attempt logs: the damaged line is reported, the others are still listed
    *[Bad(f"attempt {field} is {label}", "attempt log", attempt(_set(field, value)), field.split(".")[-1], rc=0,
          out="shoulder-upper-trapezius")
      for field, value, label in [
          ("time", 5, "a number"), ("student", ["Bo"], "a list"), ("pack", 7, "a number"),
          ("title", {}, "an object"), ("exercise", 3, "a number"), ("level", 1, "a number"),
          ("score.score", True, "true"), ("score.score", HUGE, "400 digits"), ("score.score", 250, "250"),
          ("score.passed", "no", "text"), ("score.feedback", "good", "text"),
          ("score.target_distance_mm", "far", "text"), ("needle.depth_mm", "5", "text"),
          ("needle.direction", [0, 1e400, 0], "infinite"), ("score", [40], "a list"), ("declined", 3, "a number"),
      ]],
    Bad("attempt line nested 2000 deep", "attempt log", attempt(line=DEEP), "nested too deeply", rc=0,
        out="shoulder-upper-trapezius"),
    Bad("attempt line has a 5000-digit number", "attempt log", attempt(line='{"a": ' + "9" * 5000 + "}"), "line 2",
        rc=0, out="shoulder-upper-trapezius"),
    Bad("attempt log is a FIFO", "attempt log", log_file(_fifo), "not a regular file"),
    Bad("attempt log is /dev/zero", "attempt log", log_file(_zero), "not a regular file"),
    Bad("attempt log is a directory", "attempt log", log_file(_dir), "no *.jsonl attempt log"),
    Bad("attempt log is huge", "attempt log", log_file(_sparse), "too large"),
    Bad("attempt log path holds NUL", "attempt log", args(["attempts", "l\0.jsonl"], "l"), "NUL"),
    *[Bad(f"score --student whose log is {label}", "attempt log", _student_log(make), "not a regular file")
      for label, make in [("a FIFO", _fifo), ("a directory", _dir), ("/dev/zero", _zero)]],
    Bad("report of a log that is a FIFO", "attempt log", log_file(_fifo, "report"), "not a regular file"),
    Bad("report of a log whose pack is a number", "attempt log",
        log_file(lambda p: _json(p, json.dumps(dict(GOOD_ATTEMPT, pack=5))), "report"), "0 valid attempts"),

    # ----- triage cases (triage --case FILE) and triage lines of an attempt log
    Bad("triage case is not JSON", "triage", triage_case(make=lambda p: p.write_text("{not json")), "not valid JSON"),
    Bad("triage case is a JSON list", "triage", triage_case(lambda d: [d]), "not a NeedleSafe triage case"),
    Bad("triage case is a FIFO", "triage", triage_case(make=_fifo), "not a regular file"),
    Bad("triage case is /dev/zero", "triage", triage_case(make=_zero), "not a regular file"),
    Bad("triage case is a directory", "triage", triage_case(make=_dir), "not a regular file"),
    Bad("triage case is huge", "triage", triage_case(make=_sparse), "too large"),
    Bad("triage case nested 2000 deep", "triage", triage_case(make=lambda p: _json(p, DEEP)), "nested too deeply"),
    Bad("triage case is not UTF-8", "triage", triage_case(make=lambda p: p.write_bytes(b'{"id": "\xff"}')), "UTF-8"),
    Bad("triage case has a 5000-digit number", "triage",
        triage_case(make=lambda p: p.write_text('{"version": ' + "9" * 5000 + "}")), "not valid JSON"),
    Bad("triage case version has 400 digits", "triage", triage_case(_set("version", HUGE)), "version"),
    Bad("triage case from the future", "triage", triage_case(_set("version", 2)), "version 2"),
    Bad("triage case answer is a huge number", "triage", triage_case(_set("answer", HUGE)), "'answer'"),
    Bad("triage case answer is not an action", "triage", triage_case(_set("answer", "pray")), "'answer'"),
    Bad("triage case answer is missing", "triage", triage_case(lambda d: d.pop("answer") and None), "'answer'"),
    Bad("triage case title is a number", "triage", triage_case(_set("title", 5)), "'title'"),
    Bad("triage case title is very long", "triage", triage_case(_set("title", "x" * 5000)), "too long"),
    Bad("triage case id has spaces", "triage", triage_case(_set("id", "a case")), "'id'"),
    Bad("triage case patient is a list", "triage", triage_case(_set("patient", ["ouch"])), "'patient'"),
    Bad("triage case patient says nothing", "triage", triage_case(lambda d: d["patient"].pop("says") and None),
        "'says'"),
    Bad("triage case region is unknown", "triage", triage_case(_set("region", "atlas:elbow")), "not a region"),
    Bad("triage case region is a number", "triage", triage_case(_set("region", 7)), "'region'"),
    Bad("triage case event is unknown", "triage", triage_case(_set("event", "explosion")), "'event'"),
    Bad("triage case choices name an unknown action", "triage", triage_case(_set("choices.pray", "x")),
        "unknown action"),
    Bad("triage case red flags are text", "triage", triage_case(_set("red_flags", "fever")), "'red_flags'"),
    Bad("triage case has no sources", "triage", triage_case(_set("sources", [])), "'sources'"),
    Bad("triage case source is an object", "triage", triage_case(_set("sources", [{}])), "sources[0]"),
    Bad("triage case basis is missing", "triage", triage_case(lambda d: d.pop("basis") and None), "'basis'"),
    Bad("triage case path holds NUL", "triage", args(["triage", "--case", "t\0.json", "--answer", "refer"], "t"),
        "NUL"),
    Bad("triage case id is unknown", "triage", args(["triage", "--case", "no-such-case", "--answer", "refer"],
        "no-such-case"), "no triage case"),
    Bad("triage answer is not an action", "triage",
        args(["triage", "--case", "burning-pain-back-of-leg", "--answer", "pray"], "--answer"), "not an action"),
    Bad("triage answer without a case", "triage", args(["triage", "--answer", "refer"], "--case"), "--answer"),
    *[Bad(f"triage --student whose log is {label}", "triage", _triage_student_log(make), "not a regular file")
      for label, make in [("a FIFO", _fifo), ("a directory", _dir)]],
    *[Bad(f"triage log line {field} is {label}", "triage", triage_line(_set(field, value)), message, rc=0,
          out="shoulder-upper-trapezius")
      for field, value, label, message in [
          ("answer", "pray", "not an action", "'answer'"), ("case", 5, "a number", "'case'"),
          ("score.score", HUGE, "400 digits", "score.score"), ("score.passed", "yes", "text", "score.passed"),
          ("score.feedback", "good", "text", "score.feedback"), ("region", ["gluteal"], "a list", "'region'"),
          ("kind", "sermon", "an unknown kind", "unknown record kind"), ("kind", [1], "a list", "record kind"),
      ]],

    # ----- import override files
    Bad("overrides is a FIFO", "overrides", overrides(make=_fifo), "not a regular file"),
    Bad("overrides is /dev/zero", "overrides", overrides(make=_zero), "not a regular file"),
    Bad("overrides is a directory", "overrides", overrides(make=_dir), "not a regular file"),
    Bad("overrides nested 2000 deep", "overrides", overrides(make=lambda p: _json(p, DEEP)), "nested too deeply"),
    Bad("overrides is a list", "overrides", overrides([]), "object"),
    Bad("override margin is negative", "overrides", overrides({"margins_mm": {"nerve": -2}}), "margin"),
    Bad("override margin is NaN", "overrides", overrides(make=lambda p: _json(p, '{"margins_mm": {"nerve": NaN}}')),
        "margin"),
    Bad("override margin is text", "overrides", overrides({"margins_mm": {"nerve": "3"}}), "margin"),
    Bad("override margin has 400 digits", "overrides", overrides({"margins_mm": {"nerve": HUGE}}), "margin"),
    Bad("override margins is a list", "overrides", overrides({"margins_mm": [1]}), "margins_mm"),
    Bad("override roles is a list", "overrides", overrides({"roles": ["bone"]}), "roles"),
    Bad("override critical is text", "overrides", overrides({"critical": {"sciatic_nerve": "no"}}), "critical"),
    Bad("override landmark has two numbers", "overrides",
        overrides({"landmarks": [{"name": "x", "point": [0, 0], "bone": "hip_bone"}]}), "landmark"),
    Bad("override landmark point is text", "overrides",
        overrides({"landmarks": [{"name": "x", "point": ["a", "b", "c"]}]}), "landmark"),
    Bad("override landmarks is an object", "overrides", overrides({"landmarks": {"x": 1}}), "landmarks"),
    Bad("override name is a number", "overrides", overrides({"name": 5}), "'name'"),
    Bad("override source is a list", "overrides", overrides({"source": ["a"]}), "'source'"),

    # ----- command-line numbers
    Bad("check direction is infinite", "arguments",
        args(["check", "--pack", "default", "--entry", "0", "0", "0",
              "--direction", "0", "-1e400", "0", "--depth", "5"], "--direction"), "finite"),
    Bad("check entry is far away", "arguments",
        args(["check", "--pack", "default", "--entry", "1e300", "0", "0", "--direction", "0", "0", "1", "--depth", "5"],
             "entry"), "entry"),
    *[Bad(f"{cmd} {opt} {value}", "arguments", args(argv + [opt, value], opt), opt)
      for cmd, argv in [("check", check("default")[:-2]), ("score", ["score", "gluteal-piriformis", *NEEDLE[:-2]])]
      for opt, value in [("--depth", "nan"), ("--depth", "-1"), ("--depth", "inf")]],
    *[Bad(f"check {opt} {value}", "arguments", args(check("default") + [opt, value], opt), opt)
      for opt, value in [("--gauge", "nan"), ("--gauge", "-0.3"), ("--gauge", "inf"), ("--length", "nan"),
                         ("--length", "-50"), ("--length", "inf")]],
    *[Bad(f"map {opt} {value}", "arguments",
          args(["map", "--pack", "gluteal", "--out", "{tmp}/m.csv", opt, *value.split()], opt), opt)
      for opt, value in [("--gauge", "nan"), ("--gauge", "-0.3"), ("--gauge", "inf"), ("--length", "inf"),
                         ("--direction", "0 -inf 0"), ("--direction", "nan 0 1")]],
    Bad("check --depth of 400 digits", "arguments", args(check("default")[:-2] + ["--depth", "9" * 400], "--depth"),
        "--depth"),
    Bad("report --attempt of 5000 digits", "arguments",
        with_files(_log, ["report", "--log", "{tmp}/log.jsonl", "--attempt", "9" * 5000, "--out", "{tmp}/r.html"],
                   "--attempt"), "invalid int value"),
    Bad("score --redirections -1", "arguments",
        args(["score", "gluteal-piriformis", *NEEDLE, "--redirections", "-1"], "--redirections"), "--redirections"),
    Bad("score --student ''", "arguments", args(["score", "gluteal-piriformis", *NEEDLE, "--student", ""], "--student"),
        "--student"),
    Bad("score --student of spaces", "arguments",
        args(["score", "gluteal-piriformis", *NEEDLE, "--student", "   "], "--student"), "--student"),
    Bad("import --skin-fat nan", "arguments",
        lambda tmp: (["import", str(_src(tmp)), "--units", "mm", "--axes", "LPS", "--out", str(tmp / "o"),
                      "--skin-fat", "nan"], "--skin-fat"), "--skin-fat"),
    Bad("import --skin-fat -3", "arguments",
        lambda tmp: (["import", str(_src(tmp)), "--units", "mm", "--axes", "LPS", "--out", str(tmp / "o"),
                      "--skin-fat", "-3"], "--skin-fat"), "--skin-fat"),
    Bad("import --out SRC", "arguments",
        lambda tmp: (["import", str(_src(tmp)), "--units", "mm", "--axes", "LPS", "--out", str(tmp / "src")],
                     str(tmp / "src")), "source folder"),
    Bad("import --out a folder of other files", "output",
        lambda tmp: ((tmp / "notes").mkdir(), (tmp / "notes" / "a.txt").write_text("x"),
                     ["import", str(_src(tmp)), "--units", "mm", "--axes", "LPS", "--out", str(tmp / "notes")],
                     str(tmp / "notes"))[2:], "holds other files"),
    Bad("import --out inside SRC", "arguments",
        lambda tmp: (["import", str(_src(tmp)), "--units", "mm", "--axes", "LPS", "--out", str(tmp / "src" / "p")],
                     str(tmp / "src" / "p")), "source folder"),

    # ----- output paths
    Bad("report --out a directory", "output", with_files(lambda t: (_scenario_ok(t), _dir(t / "d.html")),
        ["report", "--scenario", "{tmp}/s.json", "--out", "{tmp}/d.html"], "{tmp}/d.html"), "is a directory"),
    Bad("report --out under a file", "output", with_files(lambda t: (_scenario_ok(t), _under_file(t)),
        ["report", "--scenario", "{tmp}/s.json", "--out", "{tmp}/file/r.html"], "{tmp}/file/r.html"), "not a folder"),
    Bad("report --out unwritable", "output", with_files(_scenario_ok,
        ["report", "--scenario", "{tmp}/s.json", "--out", "/proc/r.html"], "/proc/r.html"), "cannot write"),
    Bad("map --out a directory", "output", with_files(lambda t: _dir(t / "m.csv"),
        ["map", "--pack", "gluteal", "--out", "{tmp}/m.csv"], "{tmp}/m.csv"), "is a directory"),
    Bad("map --out under a file", "output", with_files(_under_file,
        ["map", "--pack", "gluteal", "--out", "{tmp}/file/m.csv"], "{tmp}/file/m.csv"), "not a folder"),
    Bad("map --out unwritable", "output", args(["map", "--pack", "gluteal", "--out", "/proc/m.csv"], "/proc/m.csv"),
        "cannot write"),
    Bad("render --out a directory", "output", with_files(lambda t: _dir(t / "d"),
        ["render", "--pack", "default", "--out", "{tmp}/d"], "{tmp}/d"), "is a directory"),
    Bad("render --out under a file", "output", with_files(_under_file,
        ["render", "--pack", "default", "--out", "{tmp}/file/r.png"], "{tmp}/file/r.png"), "not a folder"),
    Bad("attempts --csv a directory", "output", with_files(lambda t: (_log(t), _dir(t / "d.csv")),
        ["attempts", "{tmp}/log.jsonl", "--csv", "{tmp}/d.csv"], "{tmp}/d.csv"), "is a directory"),
    Bad("attempts --csv under a file", "output", with_files(lambda t: (_log(t), _under_file(t)),
        ["attempts", "{tmp}/log.jsonl", "--csv", "{tmp}/file/a.csv"], "{tmp}/file/a.csv"), "not a folder"),
    Bad("attempts --csv unwritable", "output", with_files(_log,
        ["attempts", "{tmp}/log.jsonl", "--csv", "/proc/a.csv"], "/proc/a.csv"), "cannot write"),
    Bad("import --out a file", "output",
        lambda tmp: (_under_file(tmp), ["import", str(_src(tmp)), "--units", "mm", "--axes", "LPS",
                                         "--out", str(tmp / "file")], str(tmp / "file"))[1:], "not a folder"),
    Bad("import --out under a file", "output",
        lambda tmp: (_under_file(tmp), ["import", str(_src(tmp)), "--units", "mm", "--axes", "LPS",
                                         "--out", str(tmp / "file" / "p")], str(tmp / "file" / "p"))[1:],
        "not a folder"),
    Bad("build-region --out a file", "output", with_files(_under_file,
        ["build-region", "gluteal", "--out", "{tmp}/file"], "{tmp}/file"), "not a folder"),
    Bad("build-region --out under a file", "output", with_files(_under_file,
        ["build-region", "gluteal", "--out", "{tmp}/file/p"], "{tmp}/file/p"), "not a folder"),
    Bad("build-region --out unwritable", "output", args(["build-region", "gluteal", "--out", "/proc/p"], "/proc/p"),
        "cannot write"),

    # ----- attempt metrics (app/metrics.py): a bad metric skips its line, the others are still listed
    Bad("attempt metrics is a list", "attempt log", attempt(_set("metrics", [1])), "metrics", rc=0,
        out="shoulder-upper-trapezius"),
    *[Bad(f"attempt metrics.{key} is {label}", "attempt log",
          attempt(lambda d, key=key, value=value: d.update(metrics={
              "first_pass": False, "redirections": 0, "time_s": 1.0, "depth_error_mm": 0.5, "angle_error_deg": 2.0,
              "path_mm": 20.0, "margin_time_s": 0.0, "deepest_intrusion_mm": 0.0, "near_misses": {}, "events": {},
              key: value})), key, rc=0, out="shoulder-upper-trapezius")
      for key, value, label in [
          ("first_pass", 1, "a number"), ("redirections", 1.5, "a fraction"), ("time_s", -3, "negative"),
          ("depth_error_mm", "deep", "text"), ("angle_error_deg", 1e400, "infinite"), ("path_mm", None, "null"),
          ("near_misses", {"sciatic_nerve": "close"}, "text"), ("events", {"twitch": -1}, "negative"),
          ("near_misses", {f"s{k}": 1.0 for k in range(10000)}, "10000 structures"),
      ]],
    Bad("attempts of a folder with a FIFO log", "attempt log",
        lambda tmp: (_fifo(_dir(tmp / "class") / "x.jsonl"),
                     (tmp / "class" / "ok.jsonl").write_text(json.dumps(GOOD_ATTEMPT) + "\n"),
                     (["attempts", str(tmp / "class")], str(tmp / "class" / "x.jsonl")))[2],
        "not a regular file", rc=0, out="gluteal-piriformis"),
]


class _Hang(BaseException):
    pass


@contextlib.contextmanager
def _bounded(seconds: int):
    """Raise _Hang in this (main) thread after `seconds`: a FIFO read or an endless /dev/zero read."""
    def on_alarm(signum, frame):
        raise _Hang()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def outcome(bad: Bad, tmp: Path, capsys) -> tuple[str, str]:
    """(clear | traceback | hang | memory | silent | unclear, detail)."""
    argv, name = bad.setup(tmp)
    capsys.readouterr()
    try:
        with _bounded(30):
            try:
                rc = main(argv)
            except SystemExit as exc:  # argparse
                rc = exc.code
    except _Hang:
        return "hang", "no answer in 30 s"
    except MemoryError:
        return "memory", "MemoryError"
    except BaseException as exc:  # noqa: BLE001 - this is what the corpus looks for
        return "traceback", f"{type(exc).__name__}: {exc}"[:300]
    out, err = capsys.readouterr()
    if rc != bad.rc:
        return ("silent" if rc == 0 else "unclear"), f"exit {rc}; stderr: {err[-300:]!r}"
    if "Traceback" in err:
        return "traceback", err[-300:]
    if bad.rc == 2 and "needlesafe: error: " not in err:
        return "unclear", f"no 'needlesafe: error:' in {err!r}"[:300]
    if bad.message not in err or name not in err:
        return "unclear", f"want {bad.message!r} and {name!r} in {err[-400:]!r}"
    if bad.out and bad.out not in out:
        return "unclear", f"want {bad.out!r} on stdout: {out[-300:]!r}"
    return "clear", ""


@pytest.mark.parametrize("bad", CORPUS, ids=[b.kind for b in CORPUS])
def test_bad_input_is_a_clear_error(bad, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path / "attempts"))
    kind, detail = outcome(bad, tmp_path, capsys)
    assert kind == "clear", f"{bad.kind}: {kind}: {detail}"


def test_corpus_size():
    kinds = [b.kind for b in CORPUS]
    assert len(set(kinds)) == len(kinds) >= 60
    assert {b.area for b in CORPUS} == {"pack", "scenario", "exercise", "attempt log", "overrides", "arguments",
                                        "output", "triage"}


# ----- numbers that overflow or underflow never reach geometry -----------------------------------------

@pytest.mark.parametrize("scale", ["1e200", "1e-200", "1e300", "1e7"])
def test_huge_or_tiny_direction_is_refused(scale, capsys):
    """(0, -1e200, 0) once normalised to the zero vector and a needle through the sciatic nerve read SAFE."""
    from .app.test_cli import CHECK

    argv = list(CHECK)
    k = argv.index("--direction")
    argv[k + 1: k + 4] = ["0", "-" + scale, "0"]
    assert main(argv + ["--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "needlesafe: error:" in err and "direction" in err


def test_direction_within_bounds_is_normalised(capsys):
    from .app.test_cli import CHECK

    assert main(CHECK + ["--json"]) == 0
    want = json.loads(capsys.readouterr().out)
    argv = list(CHECK)
    k = argv.index("--direction")
    argv[k + 1: k + 4] = ["0", "-1e5", "0"]
    assert main(argv + ["--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["needle"]["direction"] == pytest.approx([0.0, -1.0, 0.0])
    assert got["level"] == want["level"] and got["structures"] == want["structures"]


def test_render_out_directory_writes_nothing(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    assert main(["render", "--pack", "default", "--out", str(tmp_path / "d")]) == 2
    out, err = capsys.readouterr()
    assert "is a directory" in err and "wrote" not in out
    assert not (tmp_path / "d.png").exists() and not any((tmp_path / "d").iterdir())


def test_numpy_scalars_are_numbers():
    """Validation accepts numpy numbers where plain ones are accepted (the window passes them)."""
    from needlesafe.geometry.needle import Needle

    n = Needle(np.zeros(3), np.array([0.0, 0.0, 2.0]), np.float64(5.0), np.float32(50.0), np.float64(0.3))
    assert n.depth_mm == 5.0 and list(n.direction) == [0.0, 0.0, 1.0]
