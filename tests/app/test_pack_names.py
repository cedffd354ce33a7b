"""Which pack the app opens without being told: the atlas gluteal region once the atlas is here."""
from __future__ import annotations

from needlesafe.app import packs
from needlesafe.meshes.atlas.fetch import atlas_present


def test_schematic_default_without_the_atlas():
    assert not atlas_present()  # the tests' data folder is empty
    assert packs.default_pack() == "default"


def test_atlas_default_with_the_atlas(atlas_data, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_DATA", str(atlas_data))
    assert atlas_present()
    assert packs.default_pack() == packs.ATLAS_DEFAULT_PACK == "atlas:gluteal:average"


def test_gui_command_without_pack_uses_the_default(monkeypatch):
    from needlesafe.app import cli
    from needlesafe.app.qt import startup

    opened = []
    monkeypatch.setattr(startup, "run", lambda pack: opened.append(pack) or 0)
    assert cli.main(["gui"]) == 0
    assert cli.main([]) == 0
    assert cli.main(["gui", "--pack", "shoulder:lean"]) == 0
    assert opened == ["default", "default", "shoulder:lean"]


def test_pack_keys_and_regions_of_named_packs():
    assert packs.pack_key("default") == "gluteal:average"
    assert packs.pack_key("shoulder") == "shoulder:average"
    assert packs.pack_key("atlas:gluteal") == "atlas:gluteal:average"
    assert packs.pack_key("atlas:gluteal:lean") == "atlas:gluteal:lean"
    assert packs.named_region("atlas:gluteal:high") == ("atlas:gluteal", "high")
    assert packs.named_region("gluteal:high") == ("gluteal", "high")
    assert packs.same_region("atlas:gluteal", "atlas:gluteal:lean")
    assert packs.same_region("gluteal", "default")
    assert not packs.same_region("gluteal", "atlas:gluteal")  # schematic and atlas bodies differ
    assert not packs.same_region("atlas:gluteal", "atlas:nowhere")


def test_region_choices_grouped_by_body_area():
    without = packs.region_choices(atlas=False)
    assert {c.key for c in without} == {"gluteal", "shoulder"}
    assert all(c.label.endswith("(schematic)") for c in without)
    choices = packs.region_choices(atlas=True)
    keys = [c.key for c in choices]
    assert "atlas:gluteal" in keys and "gluteal" in keys
    areas = [c.area for c in choices]
    assert areas == sorted(areas)  # one group per body area
    hip = [c for c in choices if c.area == choices[keys.index("atlas:gluteal")].area]
    assert hip.index(choices[keys.index("atlas:gluteal")]) < hip.index(choices[keys.index("gluteal")])
