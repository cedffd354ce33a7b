"""The command line: JSON and table output, and clear errors with exit code 2."""
import json
import subprocess
import sys

import numpy as np
import pytest

from needlesafe.app.cli import main
from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.needle import Needle
from needlesafe.geometry.placement import skin_entry
from needlesafe.meshes.resolve import load_pack

SCENE = load_pack("default")
# straight in from behind, over the sciatic nerve halfway between greater trochanter and ischial tuberosity
_MID = 0.5 * sum(lm.point for lm in SCENE.landmarks if lm.name in ("greater trochanter", "ischial tuberosity"))
ENTRY = skin_entry(SCENE, (-106.0, 0.0, _MID[2]))
CHECK = ["check", "--pack", "default", "--entry", *[repr(float(x)) for x in ENTRY], "--direction", "0", "-1", "0",
         "--depth", "40", "--length", "75", "--gauge", "0.30"]


def run_cli(*argv):
    """Run `needlesafe ARGV` in its own process, as a user would. Commands that draw pictures run
    this way: an off-screen VTK window left in the test process would share it with the Qt windows
    of the GUI tests."""
    return subprocess.run([sys.executable, "-m", "needlesafe.app", *map(str, argv)], capture_output=True,
                          text=True, timeout=600)


def test_check_json_equals_engine(capsys):
    assert main(CHECK + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rep = ClearanceEngine(SCENE).report(Needle(ENTRY, (0, -1, 0), 40, 75, 0.30))
    from needlesafe.app.readout import published_sentence

    assert data.pop("published") == published_sentence(rep, SCENE)  # the panel's words, beside the engine's
    assert isinstance(data.pop("events"), list)  # the engine's events: tests/app/test_cli_events.py
    assert data == json.loads(rep.to_json())
    row = data["structures"][0]
    assert row["name"] == "sciatic_nerve" and row["role"] == "nerve"
    assert len(row["closest_point_needle"]) == 3 and len(row["closest_point_structure"]) == 3
    hits = {h["name"]: h["depth_mm"] for h in data["path"]["first_hits"]}
    # the entry lies on the skin, so the skin is met at depth ~0 (or just behind the entry)
    assert hits.get("skin", 0.0) < 1e-6
    assert [n for n in hits if n != "skin"][0] == "gluteus_maximus" and "sciatic_nerve" in hits
    assert data["path"]["safe_depth_mm"] < hits["sciatic_nerve"] - 3.0
    assert data["path"]["bracketing"]["verdict"] == "danger"
    assert data["path"]["bracketing"]["structure"] == "sciatic_nerve"


def test_check_table(capsys):
    assert main(CHECK) == 0
    out = capsys.readouterr().out
    assert "sciatic_nerve" in out and "Safe depth:" in out and "Bracketing: no bony backstop" in out
    assert "not a clinical device" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "--pack", "default", "--entry", "nan", "0", "0", "--direction", "0", "0", "1", "--depth", "5"],
         "finite"),
        (["check", "--pack", "default", "--entry", "0", "0", "0", "--direction", "0", "0", "0", "--depth", "5"],
         "zero vector"),
        (["check", "--pack", "default", "--entry", "0", "0", "0", "--direction", "0", "0", "1", "--depth", "80"],
         "depth"),
        (["check", "--pack", "default", "--entry", "0", "0", "0", "--direction", "0", "0", "1", "--depth", "5",
          "--gauge", "30"], "gauge"),
        (["check", "--pack", "/no/such/pack", "--entry", "0", "0", "0", "--direction", "0", "0", "1", "--depth", "5"],
         "no such pack folder"),
        (["import", "/no/such/folder", "--units", "m", "--axes", "LSA", "--out", "/tmp/x"], "not a folder"),
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_axes_and_units(tmp_path, capsys):
    assert main(["import", str(tmp_path), "--units", "m", "--axes", "LLA", "--out", str(tmp_path / "o")]) == 2
    assert "exactly once" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["import", str(tmp_path), "--units", "inch", "--axes", "LSA", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2


def test_console_script_exit_code():
    proc = run_cli("check", "--pack", "default", "--entry", "0", "0", "0", "--direction", "0", "0", "1")
    assert proc.returncode == 2
    assert "--depth" in proc.stderr


def test_packs_lists_builtin_and_imported(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_PACKS", str(tmp_path))
    assert main(["build-region", "shoulder", "--habitus", "lean", "--out", str(tmp_path / "my_shoulder")]) == 0
    assert "shoulder-lean" in capsys.readouterr().out
    assert main(["packs"]) == 0
    out = capsys.readouterr().out
    assert "gluteal:lean" in out and "shoulder:high" in out and "default" in out
    assert "shoulder-lean" in out and str(tmp_path / "my_shoulder") in out
    # an imported pack is found by its folder name too
    assert load_pack("my_shoulder").name == "shoulder-lean"


def test_render_writes_a_picture(tmp_path, capsys):
    out = tmp_path / "g.png"
    proc = run_cli("render", "--pack", "gluteal:lean", "--view", "lateral", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    import imageio.v3 as iio

    img = iio.imread(out)[..., :3].astype(int)
    assert img.shape[0] > 100 and img.std() > 20
    yellow = (img[..., 0] > 180) & (img[..., 1] > 150) & (img[..., 2] < 110)
    assert yellow.sum() > 50  # the sciatic nerve shows through the translucent skin


def test_map_command_writes_csv_vtp_png(tmp_path, capsys):
    import csv

    out = tmp_path / "map.csv"
    assert main(["map", "--pack", "gluteal", "--out", str(out), "--length", "60"]) == 0
    assert "danger zone of a 60 mm needle" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    assert len(rows) > 1000
    # a sampled row equals `check` for the same needle
    row = rows[len(rows) // 3]
    entry = [row["x_mm"], row["y_mm"], row["z_mm"]]
    direction = [row["dx"], row["dy"], row["dz"]]
    assert main(["check", "--pack", "gluteal", "--entry", *entry, "--direction", *direction, "--depth", "0",
                 "--length", "100", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["path"]["safe_depth_mm"] == pytest.approx(float(row["safe_depth_mm"]), abs=0.01)
    assert main(["map", "--pack", "gluteal", "--direction", "0", "-1", "0", "--out", str(tmp_path / "map.vtp")]) == 0
    proc = run_cli("map", "--pack", "gluteal", "--direction", "0", "-1", "0", "--out", tmp_path / "map.png")
    assert proc.returncode == 0, proc.stderr
    for name in ("map.vtp", "map.png"):
        assert (tmp_path / name).stat().st_size > 1000
    import pyvista as pv

    poly = pv.read(tmp_path / "map.vtp")
    assert "safe_depth_mm" in poly.point_data and poly.n_points > 1000


@pytest.mark.parametrize("argv, message", [
    (["--direction", "1", "2"], "three numbers"),
    (["--direction", "up"], "three numbers"),
    (["--out", "/tmp/map.txt"], ".vtp, .csv or .png"),
    (["--length", "-5"], "positive"),
])
def test_map_command_bad_arguments(argv, message, tmp_path, capsys):
    base = ["map", "--pack", "gluteal", "--out", str(tmp_path / "m.csv")]
    assert main(base + argv) == 2
    assert message in capsys.readouterr().err


def test_exercise_commands_score_log_and_report(tmp_path, monkeypatch, capsys):
    from needlesafe.app.exercises import builtin_exercises, load_exercise

    from .test_exercises import approaches, engine_for

    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    assert main(["exercises"]) == 0
    assert "gluteal-piriformis" in capsys.readouterr().out
    eng = engine_for("gluteal")
    ex = load_exercise(next(p for p in builtin_exercises() if p.stem == "gluteal-piriformis"), eng.scene)
    nd = next(iter(approaches(ex, eng)))
    args = ["score", "gluteal-piriformis", "--entry", *map(repr, map(float, nd.entry_lps)),
            "--direction", *map(repr, map(float, nd.direction)), "--depth", repr(nd.depth_mm)]
    assert main(args + ["--student", "Bo", "--json"]) == 0
    score = json.loads(capsys.readouterr().out)
    assert score["target_reached"] and score["target_distance_mm"] < 1e-6
    assert main(args[:-2] + ["--depth", "5", "--student", "Bo"]) == 0
    assert "Target missed" in capsys.readouterr().out
    log = tmp_path / "Bo.jsonl"
    assert main(["attempts", str(log), "--csv", str(tmp_path / "bo.csv")]) == 0
    out = capsys.readouterr().out
    assert "summary gluteal-piriformis: 2 attempts" in out
    gradebook = (tmp_path / "bo.csv").read_text()  # header, Bo on the exercise, then each attempt
    assert gradebook.count("\n") == 4 and gradebook.startswith("row_type,") and gradebook.count("attempt,Bo,") == 2
    proc = run_cli("report", "--log", log, "--attempt", "1", "--out", tmp_path / "a.html")
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "a.html").read_text()
    assert "Attempt 1: Bo" in html and "<svg" in html and "data:image/png;base64," in html
    assert main(["report", "--log", str(log), "--attempt", "9", "--out", str(tmp_path / "b.html")]) == 2
    assert "2 valid attempts" in capsys.readouterr().err
    assert main(["score", "no-such-exercise", "--entry", "0", "0", "0", "--direction", "0", "0", "1",
                 "--depth", "1"]) == 2


def test_render_views_are_the_windows_camera_views():
    from needlesafe.app.cli import _parser
    from needlesafe.app.render import VIEWS

    render = _parser()._subparsers._group_actions[0].choices["render"]
    view = next(a for a in render._actions if a.dest == "view")
    assert set(view.choices) == set(VIEWS)


def test_window_table_and_report_say_the_same_words():
    """The command line's table and the HTML report carry the readout's sentences word for word."""
    from needlesafe.app import readout
    from needlesafe.app.cli import format_report
    from needlesafe.app.report_html import section_for

    eng = ClearanceEngine(load_pack("default"))
    hip = eng.scene.structure("hip_bone").vertices
    top = hip[np.argmax(hip[:, 1])] + np.array([0.0, 0.0, -3.0])
    rep = eng.report(Needle(skin_entry(eng.scene, top), (0, -1, 0), 75.0, 75.0, 0.30))
    assert rep.path.stopped_by is not None  # a needle pushed onto the hip bone
    text = format_report(rep)
    html_text = section_for(eng, "Needle", rep.needle.at_depth(75.0))
    for sentence in readout.summary_lines(rep):
        assert sentence in text
    import html as _html

    for sentence in (readout.needle_sentence(rep), readout.safe_depth_sentence(rep), readout.bracketing_sentence(rep)):
        assert _html.escape(sentence) in html_text
    assert "stopped on hip_bone at" in text


def run_fresh_listing_gui(statements: str) -> subprocess.CompletedProcess:
    """Run `statements` (which may set `rc`) in a fresh interpreter, then print 'GUI [...]': the Qt
    bindings, pyvistaqt, pyqtgraph and window modules they loaded; exits with `rc` (default 0)."""
    code = (
        "import sys\nrc = 0\n" + statements + "\n"
        "gui = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyvistaqt', 'pyqtgraph', 'superqt') "
        "or m.startswith('needlesafe.app.qt'))\n"
        "print('GUI', gui)\nsys.exit(rc)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_check_never_imports_qt_or_the_window():
    """`needlesafe check` runs on a machine without a display: it loads no Qt binding, no pyvistaqt,
    no pyqtgraph and none of the window's modules (checked in a fresh interpreter)."""
    proc = run_fresh_listing_gui(f"from needlesafe.app.cli import main\nrc = main({CHECK!r})")
    assert proc.returncode == 0, proc.stderr
    assert "GUI []" in proc.stdout and "Overall:" in proc.stdout
