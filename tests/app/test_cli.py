"""The command line: JSON and table output, and clear errors with exit code 2."""
import json
import subprocess
import sys

import pytest

from needlesafe.app.cli import main
from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.needle import Needle
from needlesafe.meshes.pack import load_pack

CHECK = ["check", "--pack", "default", "--entry", "-9", "70", "-20", "--direction", "0", "-1", "0",
         "--depth", "40", "--length", "75", "--gauge", "0.30"]


def test_check_json_equals_engine(capsys):
    assert main(CHECK + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rep = ClearanceEngine(load_pack("default")).report(Needle((-9, 70, -20), (0, -1, 0), 40, 75, 0.30))
    assert data == json.loads(rep.to_json())
    row = data["structures"][0]
    assert row["name"] == "sciatic_nerve" and row["role"] == "nerve"
    assert len(row["closest_point_needle"]) == 3 and len(row["closest_point_structure"]) == 3
    assert data["path"]["safe_depth_mm"] < 51.0
    assert data["path"]["bracketing"]["verdict"] == "danger"
    assert [h["name"] for h in data["path"]["first_hits"]] == ["skin", "gluteus_maximus", "sciatic_nerve"]


def test_check_table(capsys):
    assert main(CHECK) == 0
    out = capsys.readouterr().out
    assert "sciatic_nerve" in out and "Safe depth:" in out and "Bracketing: no bony backstop" in out
    assert "not a clinical device" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "--pack", "default", "--entry", "nan", "0", "0", "--direction", "0", "0", "1", "--depth", "5"], "finite"),
        (["check", "--pack", "default", "--entry", "0", "0", "0", "--direction", "0", "0", "0", "--depth", "5"], "zero vector"),
        (["check", "--pack", "default", "--entry", "0", "0", "0", "--direction", "0", "0", "1", "--depth", "80"], "depth"),
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
    proc = subprocess.run(
        [sys.executable, "-m", "needlesafe.app", "check", "--pack", "default", "--entry", "0", "0", "0",
         "--direction", "0", "0", "1"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "--depth" in proc.stderr


def test_packs_lists_default(capsys):
    assert main(["packs"]) == 0
    assert "default" in capsys.readouterr().out
