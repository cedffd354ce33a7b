"""An unmodelled zone said in words: the panel, the HTML report and `needlesafe check` read the same
sentence from app/readout.py ("UNKNOWN — treat as danger: the … is not in this model; …")."""
import json

import numpy as np
import pytest

from needlesafe.app import readout
from needlesafe.app.cli import main
from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.needle import Needle
from needlesafe.meshes.atlas.build import capsule
from needlesafe.meshes.pack import write_pack
from needlesafe.meshes.resolve import load_pack
from needlesafe.meshes.types import DEFAULT_COLOUR, AnatomyScene, Structure

from ..conftest import box_mesh, structure

ZONE = "unmodelled_superior_gluteal_vessels_r"
NOTE = ("the superior gluteal artery and vein are not in this model; they leave the pelvis above piriformis "
        "at the upper margin of the greater sciatic notch")


def zone_scene():
    """A capsule zone (radius 5, margin 2) along x at y = z = 0, in a skin box, with the pack's note."""
    v, f = capsule((-50.0, 0.0, 0.0), (50.0, 0.0, 0.0), 5.0)
    zone = Structure(ZONE, "unmodelled", v, f, DEFAULT_COLOUR["unmodelled"], True, 2.0)
    skin = structure("skin", "skin", box_mesh((-150, -150, -150), (150, 60, 150)))
    return AnatomyScene("zone-test", [skin, zone], [], {"unmodelled": {ZONE: {"note": NOTE, "source": "test"}}})


@pytest.fixture(scope="module")
def engine():
    return ClearanceEngine(zone_scene())


def down(depth):
    return Needle((0.0, 40.0, 0.0), (0.0, -1.0, 0.0), depth, 60.0, 0.3)


def test_unknown_sentence_names_what_is_not_modelled_and_where(engine):
    rep = engine.report(down(33.5))  # 1.35 mm from the zone: inside its 2 mm margin
    assert rep.level == "unknown"
    text = readout.safe_depth_sentence(rep)
    assert text.startswith("UNKNOWN — treat as danger: " + NOTE)
    assert "the marked zone: unmodelled superior gluteal vessels (right)" in text
    assert "Safe depth: 32.8" in text and f"(limited by {ZONE})" in text  # the zone's margin ends it
    assert readout.overall_sentence(rep) == "Overall: UNKNOWN"
    row = rep.structure(ZONE)
    assert readout.structure_cells(row)[-1] == "UNKNOWN"
    # through the zone: said the same way, the needle in it
    assert "the needle is in it" in readout.safe_depth_sentence(engine.report(down(45.0)))


def test_clear_of_the_zone_reads_as_usual(engine):
    rep = engine.report(down(15.0))
    assert rep.level == "safe"
    text = readout.safe_depth_sentence(rep)
    assert not text.startswith("UNKNOWN") and f"limited by {ZONE}" in text
    assert readout.unknown_reasons(rep) == []


def test_a_vessel_drawn_as_several_zones_is_said_once():
    scene = zone_scene()
    v, f = capsule((-50.0, 0.0, 0.0), (-50.0, 0.0, 40.0), 5.0)
    scene.structures.append(Structure(ZONE + "_2", "unmodelled", v, f, "#cc79a7", True, 2.0))
    scene.metadata["unmodelled"][ZONE + "_2"] = {"note": NOTE, "source": "test"}
    rep = ClearanceEngine(scene).report(Needle((-50.0, 40.0, 0.0), (0.0, -1.0, 0.0), 40.0, 60.0, 0.3))
    assert [r.level for r in rep.structures] == ["unknown", "unknown"]
    assert len(readout.unknown_reasons(rep)) == 1


def test_hover_says_not_modelled():
    assert "not modelled" in readout.hover_text(zone_scene(), ZONE)


def test_check_command_shows_the_same_sentence(tmp_path, capsys):
    folder = tmp_path / "zone-pack"
    write_pack(zone_scene(), folder)
    scene = load_pack(str(folder))
    assert scene.structure(ZONE).role == "unmodelled" and scene.metadata["unmodelled"][ZONE]["note"] == NOTE
    argv = ["check", "--pack", str(folder), "--entry", "0", "40", "0", "--direction", "0", "-1", "0",
            "--depth", "33.5", "--length", "60", "--gauge", "0.3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rep = ClearanceEngine(scene).report(down(33.5))
    assert readout.safe_depth_sentence(rep) in out.splitlines()
    assert "UNKNOWN — treat as danger: " + NOTE in out
    assert main(argv + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    row = next(r for r in data["structures"] if r["name"] == ZONE)
    assert (row["role"], row["level"], row["note"]) == ("unmodelled", "unknown", NOTE)
    assert data["level"] == "unknown" and np.isclose(data["path"]["safe_depth_mm"], rep.path.safe_depth_mm)
