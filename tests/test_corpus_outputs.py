"""Writes that are never half-done: stale temporaries cleaned, packs swapped in whole, CSV cells that
cannot run as formulas, one log per student name, write failures reported with their path."""
from __future__ import annotations

import csv
import errno
import io
import json
import os
import time

import numpy as np
import pytest

from needlesafe.app.attempt_log import attempts_csv, log_path
from needlesafe.app.cli import main
from needlesafe.meshes.io import (
    TMP_PREFIX,
    OutputPathError,
    atomic_write_text,
    write_ply,
)
from needlesafe.meshes.pack import write_pack
from needlesafe.meshes.resolve import load_pack

from .conftest import box_mesh, scene_of, structure
from .test_corpus_bad_input import GOOD_ATTEMPT

BOX = box_mesh((0, 0, 0), (40, 30, 20))


def _age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_a_killed_saves_leftovers_are_cleaned_on_the_next_save(tmp_path):
    stale = tmp_path / f"{TMP_PREFIX}s.json.abc123.tmp"
    stale.write_text("half a scenario")
    _age(stale, 3600)
    stale_dir = tmp_path / f"{TMP_PREFIX}pack.xyz"
    stale_dir.mkdir()
    (stale_dir / "a.ply").write_text("x")
    _age(stale_dir, 3600)
    live = tmp_path / f"{TMP_PREFIX}other.json.def456.tmp"  # another save in progress right now
    live.write_text("")
    mine = tmp_path / ".hidden-user-file"
    mine.write_text("keep")
    _age(mine, 3600)
    atomic_write_text(tmp_path / "s.json", "{}")
    assert (tmp_path / "s.json").read_text() == "{}"
    assert not stale.exists() and not stale_dir.exists()
    assert live.exists() and mine.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX) and p != live]


def _scene(size):
    return scene_of(structure("bone", "bone", box_mesh((0, 0, 0), (size, 30, 20))),
                    structure("nerve", "nerve", box_mesh((0, 40, 0), (5, 45, 60))))


def test_an_interrupted_rewrite_leaves_the_old_pack_whole(tmp_path, monkeypatch):
    from needlesafe.meshes import pack

    out = tmp_path / "p"
    write_pack(_scene(40), out)
    calls = []

    def killed_after_one(path, v, f):
        calls.append(path)
        if len(calls) > 1:
            raise KeyboardInterrupt  # as a kill or Ctrl-C in the middle of the meshes
        write_ply(path, v, f)

    monkeypatch.setattr(pack, "write_ply", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        write_pack(_scene(80), out)
    monkeypatch.undo()
    again = load_pack(out)
    assert np.ptp(again.structure("bone").vertices, axis=0)[0] == 40  # the old pack, not a mix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # nothing left beside it
    write_pack(_scene(80), out)
    assert np.ptp(load_pack(out).structure("bone").vertices, axis=0)[0] == 80


def test_a_pack_is_never_written_over_a_folder_of_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputPathError, match="holds other files"):
        write_pack(_scene(40), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_reimport_into_the_same_pack_replaces_it(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    write_ply(src / "hip_bone.ply", *BOX)
    write_ply(src / "sciatic_nerve.ply", *box_mesh((0, 40, 0), (5, 45, 60)))
    argv = ["import", str(src), "--units", "mm", "--axes", "LPS", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    (src / "sciatic_nerve.ply").unlink()
    write_ply(src / "gluteus_medius.ply", *box_mesh((0, 0, 30), (40, 30, 60)))
    assert main(argv) == 0
    names = {s.name for s in load_pack(tmp_path / "out").structures}
    assert names == {"hip_bone", "gluteus_medius"}
    assert not (tmp_path / "out" / "sciatic_nerve.ply").exists()


def test_csv_cells_cannot_run_as_formulas():
    recs = []
    for k, student in enumerate(["=HYPERLINK(\"http://x\")", "+1+1", "-2-2", "@SUM(A1)", "Bo", "\tTab"]):
        rec = json.loads(json.dumps(GOOD_ATTEMPT))
        rec["student"] = student
        rec["needle"]["entry_lps"] = [-12.5, 3.0, float(k)]
        recs.append(rec)
    rows = list(csv.DictReader(io.StringIO(attempts_csv(recs))))
    assert [r["student"] for r in rows] == ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-2-2", "'@SUM(A1)", "Bo", "'\tTab"]
    # numbers stay numbers: a negative coordinate is written as itself
    assert {r["entry_x"] for r in rows} == {"-12.5"}


def test_safety_map_csv_neutralises_structure_names(tmp_path):
    from types import SimpleNamespace

    from needlesafe.app.safety_export import write_map

    smap = SimpleNamespace(points=np.zeros((2, 3)), directions=np.tile([0.0, 0.0, 1.0], (2, 1)),
                           limiting=np.array([0, -1]), critical_names=["=cmd|' /C calc'!A0"],
                           bone_depth_mm=np.array([np.inf, 4.0]), exit_mm=np.array([np.inf, 9.0]),
                           safe_depth_mm=np.array([-0.0, 3.0]), backstop=np.array([0, 1]),
                           not_modelled=np.array([False, False]))
    write_map(None, smap, tmp_path / "m.csv")
    rows = list(csv.DictReader((tmp_path / "m.csv").open()))
    assert rows[0]["limiting_structure"] == "'=cmd|' /C calc'!A0" and rows[1]["limiting_structure"] == ""


def test_student_names_never_share_a_log(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    names = ["Bo", "bo", "Ann Lee", "Ann_Lee", "Ann  Lee", "Ann/Lee", "Ann Lee ", "../etc/x", "-rf", "José",
             "李雷", "李 雷", "?", "??", "x" * 64, "x" * 65, "x" * 64 + "y"]
    paths = [log_path(n) for n in names]
    assert len(set(paths)) == len(names)
    assert all(p.parent == tmp_path and p.suffix == ".jsonl" and not p.name.startswith("-") for p in paths)
    assert log_path("Bo").name == "Bo.jsonl" and log_path("Ann_Lee").name == "Ann_Lee.jsonl"
    assert log_path("Ann Lee").name.startswith("Ann_Lee-")


def test_a_write_that_fails_late_is_reported_with_its_path(tmp_path, monkeypatch, capsys):
    import needlesafe.meshes.io as mio

    (tmp_path / "log.jsonl").write_text(json.dumps(GOOD_ATTEMPT) + "\n")

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(mio, "atomic_write_bytes", full_disk)
    out = tmp_path / "a.csv"
    assert main(["attempts", str(tmp_path / "log.jsonl"), "--csv", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"needlesafe: error: {out}: cannot write: No space left on device" in err and "Traceback" not in err


def test_real_atlas_packs_pass_the_scale_check(real_packs):
    for region in ("gluteal", "shoulder"):
        scene = load_pack(real_packs[region])
        assert len(scene.structures) > 20


def test_render_writes_exactly_the_path_it_names(tmp_path):
    from .app.test_cli import run_cli

    out = tmp_path / "picture"  # no suffix: written as is, never as picture.png
    proc = run_cli("render", "--pack", "default", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wrote {out}"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not (tmp_path / "picture.png").exists()
